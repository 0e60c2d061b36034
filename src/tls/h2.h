/* tls/h2.h: the HTTP/2 transport (type=3): its sizes and the ALPN helpers.
 * The transport itself is the multiplexed connection of tls/h2_mux.h: many
 * long-lived POST streams over one HTTP/2 connection, each a pn_xprt_t.
 *
 *   user --read/write bytes--> stream --DATA frames of its stream--> inner (tcp or tls)
 *
 * A stream's request goes with its first bytes: no round trip waits for the
 * answer. The server answers 200 and both ends then stream DATA frames until
 * each sends END_STREAM (shutdown_wr: a half-close). This is the shape of a
 * gRPC bidirectional stream, which HTTP/2 reverse proxies forward (nginx's
 * grpc_pass); RFC 8441's extended CONNECT is not used, few proxies forward it.
 *
 * Flow control: each end opens a window of PN_H2_WINDOW bytes per stream and
 * PN_H2_CONN_WINDOW per connection and gives them back as its reader
 * consumes, so what a connection buffers is bounded by them. */
#ifndef PN_TLS_H2_H
#define PN_TLS_H2_H

#include "core/xprt.h"
#include "tls/tls.h"

#include <stddef.h>
#include <stdint.h>

#define PN_H2_WINDOW (1024 * 1024)  /* per stream */
#define PN_H2_CHUNK (64 * 1024)     /* the most one write hands to nghttp2 */
#define PN_H2_CONN_WINDOW (16 * 1024 * 1024)   /* the connection's receive window */
#define PN_H2_MAX_STREAMS 4096      /* concurrent streams a server takes */
#define PN_H2_IDLE_MS 60000         /* a server connection without stream ends */

/** Client TLS: offer ALPN "h2" on <ssl>; PN_OK or PN_ERR. */
int pn_h2_alpn_offer(SSL *ssl);
/** 1 when the handshake on <ssl> chose ALPN "h2". */
int pn_h2_alpn_chosen(SSL *ssl);

#endif
