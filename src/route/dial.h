/* route/dial.h: asynchronous dials to a target set, with failover across its
 * targets in the order the set's policy gives, and the latency prober. */
#ifndef PN_ROUTE_DIAL_H
#define PN_ROUTE_DIAL_H

#include "core/ev.h"
#include "route/lb.h"

typedef struct route_dial route_dial_t;
typedef struct route_prober route_prober_t;

/** Called once per dial: a connected non-blocking <fd> (owned by the callee from
 *  now on) and the index of the <target> that answered, or fd -1 and <err> when
 *  every target failed. The dial object is freed after the callback returns. */
typedef void (*route_dial_cb)(int fd, size_t target, const char *err, void *ctx);

/** Start dialing a target of <set> (borrowed, must outlive the dial), binding to
 *  <src> when non-NULL (borrowed, copied) and giving each attempt <timeout_ms>.
 *  The callback never runs before this returns. Never NULL. */
route_dial_t *route_dial_start(ev_loop_t *loop, lb_set_t *set, const pn_addr_t *src,
                               uint64_t timeout_ms, route_dial_cb cb, void *ctx);
/** Abandon <d> without calling its callback; closes its socket. NULL is a no-op. */
void route_dial_cancel(route_dial_t *d);

/** Make a UDP socket connected to a target of <set>, in the order its policy
 *  gives, bound to <src> when non-NULL. Return the fd, or -1 with <err> when
 *  no target can be connected (a UDP connect fails only locally). */
int route_dial_udp(lb_set_t *set, const pn_addr_t *src, char *err);

/** Probe every target of <set> by TCP connect now and then every <interval_ms>,
 *  feeding lb_probe(). Never NULL. */
route_prober_t *route_prober_new(ev_loop_t *loop, lb_set_t *set, const pn_addr_t *src,
                                 uint64_t interval_ms, uint64_t timeout_ms);
/** Stop probing and free <p>. NULL is a no-op. */
void route_prober_free_(route_prober_t *p);
#define route_prober_free(p) do { route_prober_free_(p); (p) = NULL; } while (0)

#endif
