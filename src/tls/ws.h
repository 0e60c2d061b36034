/* tls/ws.h: the WebSocket transport (RFC 6455 framing by wslay) and the
 * handshake's keys (SHA-1 and base64 from OpenSSL).
 *
 *   user --read/write bytes--> xprt_ws --binary frames--> inner (tcp or tls)
 *
 * Each write becomes one binary frame (at most PN_WS_FRAME_OUT bytes of
 * payload; masked on the client side); reads return the payloads of binary
 * and continuation frames as one stream of bytes (decoded by tls/ws_frame.h,
 * as many frames per read as the bytes already read hold). A ping is answered with a
 * pong; a close frame reads as end of stream; shutdown_wr sends a close frame
 * and keeps reading (the peer's close frame ends its side), so half-close
 * crosses proxies that end the whole connection on a FIN. A text frame, an
 * unknown opcode, reserved bits, a frame larger than PN_WS_FRAME_MAX, an
 * unmasked frame from a client or a masked one from a server close that
 * connection (PN_ERR, a log line).
 *
 * Like TLS, the transport keeps the socket's fd for readiness (x->fd, owned by
 * the inner transport) and is no zero-copy transport: splice never sees it;
 * pending() counts the bytes decoded or buffered ahead of the socket. */
#ifndef PN_TLS_WS_H
#define PN_TLS_WS_H

#include "core/xprt.h"
#include "tls/tls.h"

#include <stddef.h>
#include <stdint.h>

#define PN_WS_FRAME_OUT (64 * 1024)     /* the largest frame this end sends */
#define PN_WS_FRAME_MAX (1024 * 1024)   /* the largest frame this end accepts */

/** Wrap <inner> (owned from now on) after the opening handshake: <server>
 *  side or client side, with the <npre> bytes <pre> (copied) already read
 *  past the head coming first. Never NULL. */
pn_xprt_t *pn_ws_xprt_new(pn_xprt_t *inner, int server, const uint8_t *pre, size_t npre);
/** 1 when <x> is a WebSocket transport. */
int pn_ws_xprt_is(const pn_xprt_t *x);

/** A fresh Sec-WebSocket-Key (base64 of 16 random bytes) into <out> (25 bytes
 *  with the NUL); 0 or -1. */
int pn_ws_new_key(char out[25]);
/** The Sec-WebSocket-Accept for <key> into <out> (29 bytes with the NUL). */
void pn_ws_accept(const char *key, char out[29]);

/** Wrap <inner> (owned from now on, e.g. a WebSocket) and <ssl> (owned) in a
 *  TLS transport whose records travel through <inner>'s read and write: the
 *  control channel's PSK handshake inside a WebSocket. Never NULL. */
pn_xprt_t *pn_tls_xprt_wrap(pn_xprt_t *inner, SSL *ssl);

#endif
