/* modes/tunnel.h: pieces the tunnel server and client share. */
#ifndef PN_MODES_TUNNEL_H
#define PN_MODES_TUNNEL_H

#include "core/ev.h"
#include "core/list.h"
#include "core/stats.h"
#include "core/xprt.h"
#include "tunnel/ctrl.h"
#include "tunnel/pool.h"

#include <stdint.h>

/* A user connection waiting for a pooled data connection, at most the pool
 * wait; owned by its list. */
struct tun_waiter {
    pn_list_t node;             /* in the mode's waiters list */
    pn_xprt_t *x;               /* owned */
    ev_timer_t *timer;          /* owned: the wait's deadline */
};

/** Queue <x> (owned from now on) on <list> for at most <ms>. */
void tun_waiter_add(ev_loop_t *loop, pn_list_t *list, pn_xprt_t *x, uint64_t ms);
/** Pop the oldest waiter's connection (owned by the caller), or NULL. */
pn_xprt_t *tun_waiter_pop(pn_list_t *list);
/** Close every waiter of <list>. */
void tun_waiters_clear(pn_list_t *list);

/** Once per interval, on either end: when more than half of the <takes> of
 *  pooled connections failed (<fails>), the pooled connections are stale on
 *  one side: flush ours and tell the peer to flush its own. Reset both counts.
 *  <who> prefixes the log line. */
void tun_pool_check(tun_ctrl_t *ctrl, tun_pool_t *pool, uint64_t *takes, uint64_t *fails,
                    const char *who);
/** Set the POOL and PING gauges of <st> from the session's <pool> and <ctrl>
 *  (either may be NULL between sessions). */
void tun_stats_refresh(pn_stats_t *st, const tun_pool_t *pool, const tun_ctrl_t *ctrl);

/** Exponential backoff with jitter: return the delay to wait now, in ms, from
 *  *<cur> (doubled for next time, capped at <max>). */
uint64_t tun_backoff_next(uint64_t *cur, uint64_t max);

#endif
