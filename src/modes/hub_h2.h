/* modes/hub_h2.h: the hub's terminated TLS connections after their handshake
 * (hub_tls.c) when the user chose HTTP/2 (ALPN h2): one nghttp2 server session
 * per connection; each stream becomes an HTTP/1.x exchange of the HTTP router
 * (hub_http.c) through an in-memory transport pair (core/xprt_mem.h), so a
 * stream is routed, limited and answered (pages included) as an HTTP/1.1
 * request on http= would be. docs/hub.md §1.2. */
#ifndef PN_MODES_HUB_H2_H
#define PN_MODES_HUB_H2_H

#include "modes/hub_types.h"

/** Serve the TLS connection <x> (handshake done, ALPN h2; owned from now on). */
void hub_h2_user(struct hub *h, pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local);
/** The hub drains: GOAWAY to every connection; each closes once its streams end. */
void hub_h2_drain(struct hub *h);
/** HTTP/2 connections open. */
size_t hub_h2_count(const struct hub *h);
/** Close every HTTP/2 connection (the hub stops). */
void hub_h2_close_all(struct hub *h);

/** A terminated TLS connection of the https= port, its ClientHello read
 *  (<pre>, <len> bytes) and <ssl> made for its name: run the handshake within
 *  the https= port's deadline, then serve it as HTTP/2 (ALPN h2) or HTTP/1.1.
 *  Owns <x> (the TCP transport) and <ssl> from now on. */
void hub_tls_user(struct hub *h, pn_xprt_t *x, SSL *ssl, const uint8_t *pre, size_t len,
                  const pn_addr_t *peer, const pn_addr_t *local);
/** Close every connection still in its handshake (the hub drains or stops). */
void hub_tls_close_all(struct hub *h);
/** Connections in their handshake. */
size_t hub_tls_count(const struct hub *h);

#endif
