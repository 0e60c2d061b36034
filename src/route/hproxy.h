/* route/hproxy.h: the request head an HTTP proxy receives (pure, no I/O):
 * "CONNECT host:port" or an absolute-URI request ("GET http://host/path"),
 * with its Proxy-Authorization: Basic credentials, for the proxy entrance
 * (modes/proxy.c) and its fuzzer.
 *
 * Strict: CRLF line ends only, a token method, one space between the parts,
 * HTTP/1.0 or HTTP/1.1, "name: value" header lines without folding, no
 * control byte; the head is at most HPROXY_HEAD_MAX bytes. */
#ifndef PN_ROUTE_HPROXY_H
#define PN_ROUTE_HPROXY_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

#define HPROXY_HEAD_MAX 16384       /* request line and headers, CRLFCRLF included */
#define HPROXY_OUT_MAX (HPROXY_HEAD_MAX + 384) /* the rewritten head of an absolute-URI request */

typedef struct hproxy_req {
    int connect;                /* 1 for CONNECT, 0 for an absolute-URI request */
    char host[256];             /* without brackets */
    uint16_t port;
    int has_auth;               /* Proxy-Authorization: Basic was given (user/pass below) */
    char user[256], pass[256];  /* the credentials, NUL-terminated (secrets) */
    size_t head_len;            /* bytes of the head in the input, CRLFCRLF included */
} hproxy_req_t;

/** Parse the head at the start of <p> (<n> bytes received so far) into <r>.
 *  For an absolute-URI request also write into <out> (HPROXY_OUT_MAX bytes)
 *  the head to send to the origin: origin-form target, Proxy-Authorization,
 *  Proxy-Connection, Connection and Keep-Alive dropped, a Host header when
 *  there was none, "Connection: close" (one request per connection), with
 *  its length in *<out_len>. PN_OK, PN_AGAIN (no end of head yet, fewer than
 *  HPROXY_HEAD_MAX bytes) or PN_ERR (malformed or too long: answer 400). */
int hproxy_parse(const uint8_t *p, size_t n, hproxy_req_t *r, uint8_t *out, size_t *out_len);

/** Decode the base64 <in> (<n> bytes, padded) into <out> (<cap> bytes, a NUL
 *  added); the decoded length or -1 when malformed, too long, or with a NUL. */
int hproxy_b64_decode(const char *in, size_t n, char *out, size_t cap);

#endif
