/* route/lb.c: target choice per policy (pure: decides, never dials). */
#include "route/lb.h"
#include "core/mem.h"

#include <string.h>

void
lb_init(lb_set_t *s, enum lb_policy policy, size_t n, uint64_t fallback_ms)
{
    memset(s, 0, sizeof(*s));
    s->policy = policy;
    s->n = n;
    s->t = xcalloc(n * sizeof(*s->t));
    for (size_t i = 0; i < n; i++)
        s->t[i].rtt_ms = LB_RTT_UNKNOWN;
    s->fallback_ms = fallback_ms;
}

void
lb_clear(lb_set_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        xfree(s->t[i].host);
        xfree(s->t[i].port);
    }
    xfree(s->t);
    s->n = 0;
}

/* The best target for the latency policy: the lowest known RTT among targets
 * that are up; with no probe yet, the first target that is up; with all down,
 * keep the current pin (a dial will tell). */
static size_t
best_latency(const lb_set_t *s)
{
    size_t best = (size_t)-1;
    for (size_t i = 0; i < s->n; i++) {
        if (s->t[i].down)
            continue;
        if (best == (size_t)-1 || s->t[i].rtt_ms < s->t[best].rtt_ms)
            best = i;
    }
    return best == (size_t)-1 ? s->pinned : best;
}

size_t
lb_pick(lb_set_t *s, uint64_t now_ms)
{
    if (s->n <= 1)
        return 0;
    switch (s->policy) {
    case LB_ROUND_ROBIN: {
        size_t i = s->cursor % s->n;
        s->cursor = (i + 1) % s->n;
        return i;
    }
    case LB_LATENCY:
        return s->pinned;
    case LB_FAILOVER:
        /* On a backup for longer than the fallback interval: try the primary;
         * lb_report() re-pins to it when the dial succeeds. */
        if (s->pinned != 0 && now_ms - s->pinned_at >= s->fallback_ms)
            return 0;
        return s->pinned;
    }
    return 0;
}

size_t
lb_next(lb_set_t *s, size_t failed, size_t attempts)
{
    if (attempts >= s->n)
        return (size_t)-1;
    if (s->policy == LB_LATENCY) {
        /* The failed target is marked down by lb_report(): the next best is
         * whatever remains up, else simply the next index. */
        size_t b = best_latency(s);
        if (b != failed && !s->t[b].down)
            return b;
    }
    return (failed + 1) % s->n;
}

void
lb_report(lb_set_t *s, size_t i, int ok, uint64_t now_ms)
{
    if (i >= s->n)
        return;
    lb_target_t *t = &s->t[i];
    t->dials++;
    if (!ok) {
        t->fails++;
        t->down = 1;
        /* A failed retry of the primary starts a new fallback interval, so
         * connections do not each pay for a dial to a primary that is down. */
        if (s->policy == LB_FAILOVER && i == 0 && s->pinned != 0)
            s->pinned_at = now_ms;
        if (s->policy == LB_LATENCY && s->pinned == i)
            s->pinned = best_latency(s);
        return;
    }
    t->down = 0;
    if (s->policy == LB_FAILOVER && s->pinned != i) {
        /* Re-pin on success only: a dial that fell through to a backup moves
         * us there; a successful retry of the primary moves us back. */
        s->pinned = i;
        s->pinned_at = now_ms;
    } else if (s->policy == LB_LATENCY && s->t[s->pinned].down) {
        s->pinned = i;
    }
}

void
lb_probe(lb_set_t *s, size_t i, int ok, uint64_t rtt_ms)
{
    if (i >= s->n)
        return;
    s->t[i].down = !ok;
    s->t[i].rtt_ms = ok ? rtt_ms : LB_RTT_UNKNOWN;
    if (s->policy == LB_LATENCY)
        s->pinned = best_latency(s);
}
