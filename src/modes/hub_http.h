/* modes/hub_http.h: the hub's HTTP router (hub_http.c): one state machine
 * per user connection, request by request, routed by Host. */
#ifndef PN_MODES_HUB_HTTP_H
#define PN_MODES_HUB_HTTP_H

#include "modes/hub_types.h"

enum {
    HUB_HTTP_TLS = 1,           /* TLS terminated by the hub: X-Forwarded-Proto: https */
    HUB_HTTP_STREAM = 2,        /* an HTTP/2 stream (hub_h2.c), its head written whole: no gate */
    HUB_HTTP_H2C = 4,           /* that stream goes through as HTTP/2: after the route's verdict,
                                 * "101" and the rewritten head, then a relay (docs/hub.md §1.2) */
};
/** Serve an HTTP user's connection <x> (owned from now on): from the http=
 *  port (<flags> 0), a connection of the https= port whose TLS the hub
 *  terminates (HUB_HTTP_TLS: the https= port's gate), or one stream of an
 *  HTTP/2 connection (HUB_HTTP_TLS | HUB_HTTP_STREAM). */
void hub_http_user(struct hub *h, pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local,
                   int flags);
/** Close every HTTP exchange bound to <s> (its session ends). */
void hub_http_session_end(struct hsess *s);
/** Forget <r> (being freed): exchanges on it end, none points at it. */
void hub_http_route_gone(struct hub *h, struct hroute *r);
/** The hub drains: connections between requests (or reading a head) close
 *  now, the others after their response; none is left in the http port's
 *  gate, so the port may close. */
void hub_http_drain(struct hub *h);
/** HTTP connections open. */
size_t hub_http_count(const struct hub *h);
/** Close every HTTP connection (the hub stops). */
void hub_http_close_all(struct hub *h);

#endif
