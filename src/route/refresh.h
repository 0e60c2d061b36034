/* route/refresh.h: the DNS cache of a target set (dns=<ttl>): every target
 * given by name is resolved again each <ttl> in the background; when its
 * address changed, new connections go to the new one. Connections never wait
 * for DNS: they use the address cached in the set. */
#ifndef PN_ROUTE_REFRESH_H
#define PN_ROUTE_REFRESH_H

#include "core/ev.h"
#include "net/dns.h"
#include "route/lb.h"

typedef struct route_refresh route_refresh_t;

/** Refresh the named targets of <set> (borrowed) through <dns> (borrowed) every
 *  <ttl_ms>. Return NULL when no target is a name (nothing to do). */
route_refresh_t *route_refresh_new(ev_loop_t *loop, pn_dns_t *dns, lb_set_t *set, uint64_t ttl_ms);
/** Resolve every name again now (SIGHUP), then go on every <ttl_ms>. NULL is a no-op. */
void route_refresh_now(route_refresh_t *r);
/** Stop and free <r>. NULL is a no-op. */
void route_refresh_free_(route_refresh_t *r);
#define route_refresh_free(p) do { route_refresh_free_(p); (p) = NULL; } while (0)

#endif
