/* tests/unit/testutil.h: header-only helpers for unit tests: a seeded
 * pseudo-random mix, and running a real event loop (core/ev.h) until a
 * condition holds or a deadline passes. Each test program includes it on its
 * own; nothing is linked. */
#ifndef PN_TESTS_UNIT_TESTUTIL_H
#define PN_TESTS_UNIT_TESTUTIL_H

#include "core/ev.h"

#include <stdint.h>

/* splitmix64's finaliser: spreads sequential numbers over 64 bits (a bijection). */
static inline uint64_t
tu_mix(uint64_t i)
{
    i += 0x9E3779B97F4A7C15ULL;
    i = (i ^ (i >> 30)) * 0xBF58476D1CE4E5B9ULL;
    i = (i ^ (i >> 27)) * 0x94D049BB133111EBULL;
    return i ^ (i >> 31);
}

typedef int (*tu_pred)(void *ctx);

struct tu_wait {
    ev_loop_t *loop;
    tu_pred pred;
    void *ctx;
    uint64_t deadline;
    int met;
};

static inline long
tu_poll(ev_timer_t *tm, void *arg)
{
    struct tu_wait *w = arg;
    if (w->pred != NULL && w->pred(w->ctx)) {
        w->met = 1;
        ev_loop_stop(w->loop);
        return EV_TIMER_STOP;
    }
    if (pn_now_ms() >= w->deadline) {
        ev_loop_stop(w->loop);
        return EV_TIMER_STOP;
    }
    return 1;
}

/* Run <loop> until <pred>(<ctx>) holds (return 1; checked every ms) or <ms>
 * pass (return 0). With a NULL <pred>, just run the loop for <ms>. */
static inline int
tu_run_until(ev_loop_t *loop, tu_pred pred, void *ctx, uint64_t ms)
{
    struct tu_wait w = {loop, pred, ctx, pn_now_ms() + ms, 0};
    if (pred != NULL && pred(ctx))
        return 1;
    ev_timer_t *tm = ev_timer_new(loop, tu_poll, &w);
    ev_timer_arm(tm, 1);
    ev_loop_run(loop);
    ev_timer_free(tm);
    return w.met;
}

#endif
