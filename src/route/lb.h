/* route/lb.h: a target set and the choice of target per connection (pure).
 *
 *   LB_ROUND_ROBIN (lbs=0)  each connection takes the next target; a failed
 *                           dial moves on to the next one.
 *   LB_LATENCY     (lbs=1)  stick to the target with the lowest probed connect
 *                           time; a failure or a better probe re-pins.
 *   LB_FAILOVER    (lbs=2)  stick to the first target that works; once the
 *                           fallback interval has passed on a backup, try the
 *                           primary again.
 *
 * The functions here only decide; route/dial.c dials and reports back. */
#ifndef PN_ROUTE_LB_H
#define PN_ROUTE_LB_H

#include "net/addr.h"

#include <stddef.h>
#include <stdint.h>

enum lb_policy {
    LB_ROUND_ROBIN = 0,
    LB_LATENCY = 1,
    LB_FAILOVER = 2,
};

#define LB_RTT_UNKNOWN UINT64_MAX

typedef struct lb_target {
    char *host;             /* owned; as written in the URL */
    char *port;             /* owned */
    pn_addr_t addr;         /* resolved at start-up */
    uint64_t rtt_ms;        /* last probe's connect time, LB_RTT_UNKNOWN if none or failed */
    int down;               /* 1 after a failed dial or probe, until one succeeds */
    uint64_t dials, fails;  /* counters */
} lb_target_t;

typedef struct lb_set {
    lb_target_t *t;         /* owned array of <n> targets */
    size_t n;
    enum lb_policy policy;
    size_t cursor;          /* round robin: next index to hand out */
    size_t pinned;          /* latency and failover: the target in use */
    uint64_t pinned_at;     /* failover: when a backup was pinned, ms */
    uint64_t fallback_ms;   /* failover: how long to stay on a backup */
} lb_set_t;

/** Initialise <s> for <policy> over <n> zero-filled targets the caller then fills. */
void lb_init(lb_set_t *s, enum lb_policy policy, size_t n, uint64_t fallback_ms);
/** Free what <s> owns. */
void lb_clear(lb_set_t *s);
/** Return the index of the target a new connection should dial first at <now_ms>. */
size_t lb_pick(lb_set_t *s, uint64_t now_ms);
/** Return the index to try after target <failed> failed, or (size_t)-1 when all
 *  <attempts> so far (counting the failed one) cover the set. */
size_t lb_next(lb_set_t *s, size_t failed, size_t attempts);
/** Record the outcome of a dial to target <i> (<ok> nonzero on success) at <now_ms>. */
void lb_report(lb_set_t *s, size_t i, int ok, uint64_t now_ms);
/** Record a latency probe of target <i>: <ok> and its connect time <rtt_ms>; the
 *  latency policy re-pins to the best target that is up. */
void lb_probe(lb_set_t *s, size_t i, int ok, uint64_t rtt_ms);

#endif
