/* tests/unit/testutil.h: header-only helpers for unit tests: a seeded
 * pseudo-random mix, reading a transport until it settles, and running a real event loop (core/ev.h) until a
 * condition holds or a deadline passes. Each test program includes it on its
 * own; nothing is linked. */
#ifndef PN_TESTS_UNIT_TESTUTIL_H
#define PN_TESTS_UNIT_TESTUTIL_H

#include "core/ev.h"
#include "core/xprt.h"

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

/* Read at <x> until something other than PN_AGAIN comes back (at most 100
 * calls: for transports whose bytes are already on their way). */
static inline ssize_t
tu_read_settled(pn_xprt_t *x, void *buf, size_t len)
{
    ssize_t r = PN_AGAIN;
    for (int i = 0; i < 100 && r == PN_AGAIN; i++)
        r = x->ops->read(x, buf, len);
    return r;
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

/* Define, for a fixture type <T> with a <loop> field, pred_fn (a predicate
 * on the fixture) and run_until(t, pred, ms): run the loop until <pred> holds
 * (1) or <ms> pass (0); a NULL <pred> runs it for <ms>. */
#define TU_DEFINE_RUN_UNTIL(T)                                              \
    typedef int (*pred_fn)(T *t);                                           \
    struct tu_tramp { T *t; pred_fn pred; };                                \
    static int tu_tramp_call(void *arg)                                     \
    {                                                                       \
        struct tu_tramp *tr = arg;                                          \
        return tr->pred(tr->t);                                             \
    }                                                                       \
    static int run_until(T *t, pred_fn pred, uint64_t ms)                   \
    {                                                                       \
        struct tu_tramp tr = {t, pred};                                     \
        return tu_run_until(t->loop, pred ? tu_tramp_call : NULL, &tr, ms); \
    }

#endif
