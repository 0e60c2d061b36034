/* tunnel/ws_head.h: the HTTP/1.1 heads of a WebSocket opening handshake
 * (RFC 6455 section 4), parsed strictly and bounded (pure: bytes in, a result
 * out; no socket, no allocation).
 *
 *   client --GET <path> HTTP/1.1, Upgrade: websocket, Sec-WebSocket-Key--> server
 *   client <--HTTP/1.1 101, Sec-WebSocket-Accept = b64(SHA-1(key + GUID))-- server
 *
 * A head ends at the first CRLF CRLF; it may not exceed TUN_WS_HEAD_MAX bytes,
 * a line may not exceed TUN_WS_LINE_MAX, nor the header count TUN_WS_HDRS_MAX.
 * Bare LF, obsolete line folding, control bytes and header names outside the
 * token set are refused. */
#ifndef PN_TUNNEL_WS_HEAD_H
#define PN_TUNNEL_WS_HEAD_H

#include <stddef.h>
#include <stdint.h>

#define TUN_WS_HEAD_MAX 8192
#define TUN_WS_LINE_MAX 4096
#define TUN_WS_HDRS_MAX 64
#define TUN_WS_KEY_LEN 24           /* base64 of 16 bytes */
#define TUN_WS_ACCEPT_LEN 28        /* base64 of a SHA-1 */

typedef struct tun_ws_req {
    size_t used;                    /* PN_OK: bytes of the head, CRLF CRLF included */
    int status;                     /* PN_ERR: the answer, 400, 404, 405 or 426 */
    const char *why;                /* PN_ERR: static text for the log */
    char key[TUN_WS_KEY_LEN + 1];   /* PN_OK: Sec-WebSocket-Key, NUL-terminated */
} tun_ws_req_t;

/** Parse the request head at the start of <buf> (<len> bytes) as an upgrade to
 *  a WebSocket on <path> (the request target up to '?' must equal it).
 *  PN_OK with <r> filled; PN_AGAIN when the head is incomplete and may still fit;
 *  PN_ERR with r->status and r->why (a plain HTTP request without Upgrade is a
 *  400, another path 404, another method 405, another version 426). */
int tun_ws_req_parse(const uint8_t *buf, size_t len, const char *path, tun_ws_req_t *r);

/** Parse the response head at the start of <buf> (<len> bytes): a 101 with
 *  Upgrade: websocket, Connection: upgrade and Sec-WebSocket-Accept equal to
 *  <accept> (TUN_WS_ACCEPT_LEN characters). PN_OK with *<used> the head's
 *  size; PN_AGAIN while incomplete; PN_ERR with *<why> static, and *<status>
 *  the status code when the status line parsed (else 0). */
int tun_ws_resp_parse(const uint8_t *buf, size_t len, const char *accept, size_t *used,
                      int *status, const char **why);

#endif
