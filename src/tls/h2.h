/* tls/h2.h: the HTTP/2 transport (type=3): one long-lived POST stream on one
 * HTTP/2 connection, framed by nghttp2.
 *
 *   user --read/write bytes--> xprt_h2 --DATA frames of stream 1--> inner (tcp or tls)
 *
 * The client opens the connection (h2c prior knowledge over TCP, or TLS with
 * ALPN h2) with one request, POST <path>, and writes at once: no round trip
 * waits for the answer. The server answers 200 and both ends then stream DATA
 * frames until each sends END_STREAM (shutdown_wr: a half-close). This is the
 * shape of a gRPC bidirectional stream, which HTTP/2 reverse proxies forward
 * (nginx's grpc_pass); RFC 8441's extended CONNECT is not used, few proxies
 * forward it. One stream per connection: the pool's connections are HTTP/2
 * connections (multiplexing many streams over one is a later step).
 *
 * Flow control: each end opens a window of PN_H2_WINDOW bytes (stream and
 * connection) and gives it back as its reader consumes, so what a transport
 * buffers is bounded by it. A request on another path is answered 404, another
 * method 405, a second stream is refused (RST_STREAM), HTTP/1 bytes on the
 * port get an HTTP/1.1 400 page; nghttp2's own checks (bad preface, SETTINGS
 * flood, flow-control violations) end the connection; each with a log line.
 *
 * Like the WebSocket transport it keeps the socket's fd for readiness (x->fd,
 * owned by the inner transport), is no zero-copy transport, and pending()
 * counts what it decoded ahead of the socket. Reads pump the socket and flush
 * nghttp2's output (SETTINGS and PING acknowledgements, WINDOW_UPDATE); a
 * write whose frames are not all on the socket yet returns PN_AGAIN and the
 * next call, with the same bytes, completes it (as TLS does). */
#ifndef PN_TLS_H2_H
#define PN_TLS_H2_H

#include "core/xprt.h"
#include "tls/tls.h"

#include <stddef.h>
#include <stdint.h>

#define PN_H2_WINDOW (1024 * 1024)  /* per stream and per connection */
#define PN_H2_CHUNK (64 * 1024)     /* the most one write hands to nghttp2 */
#define PN_H2_CONN_WINDOW (16 * 1024 * 1024)   /* mux: the connection's receive window */
#define PN_H2_MAX_STREAMS 4096      /* mux: concurrent streams a server takes */
#define PN_H2_IDLE_MS 60000         /* mux: a server connection without stream ends */

/** Client side over <inner> (owned from now on, connected, its TLS done):
 *  submit the connection preface and POST <path> for <authority> (scheme
 *  https when <https>). Never NULL. */
pn_xprt_t *pn_h2_xprt_client(pn_xprt_t *inner, const char *path, const char *authority,
                             int https);
/** Server side over <inner> (owned from now on): a connection that must open
 *  with one POST on <path> (borrowed, outliving the transport). Never NULL;
 *  usable once pn_h2_xprt_accept() said PN_OK. */
pn_xprt_t *pn_h2_xprt_server(pn_xprt_t *inner, const char *path);
/** Server side: read until the request's head came and judge it. PN_OK when it
 *  is the tunnel's (200 answered), PN_AGAIN (x->want set), PN_ERR with x->err
 *  when the connection failed or the request was refused (answered 400, 404
 *  or 405 first, best effort). */
int pn_h2_xprt_accept(pn_xprt_t *x);
/** 1 when <x> is an HTTP/2 transport. */
int pn_h2_xprt_is(const pn_xprt_t *x);

/** Client TLS: offer ALPN "h2" on <ssl>; PN_OK or PN_ERR. */
int pn_h2_alpn_offer(SSL *ssl);
/** 1 when the handshake on <ssl> chose ALPN "h2". */
int pn_h2_alpn_chosen(SSL *ssl);

#endif
