/* net/stall.c: net/stall.h, one list by last progress and one timer. */
#include "net/stall.h"
#include "core/log.h"
#include "core/mem.h"

#include <stdlib.h>

struct pn_stall {
    uint64_t timeout_ms;
    pn_list_t ents;             /* pn_stall_ent_t, least recent progress first */
    ev_timer_t *timer;          /* owned: armed for the head */
    const char *who;            /* the last noted entry's */
    pn_ratelim_t log;
    uint64_t killed;
};

static long
on_timer(ev_timer_t *t, void *arg)
{
    pn_stall_t *d = arg;
    uint64_t held, now = pn_now_ms();
    while (!pn_list_empty(&d->ents)) {
        pn_stall_ent_t *e = pn_container_of(d->ents.next, pn_stall_ent_t, node);
        if (e->since_ms + d->timeout_ms > now)
            return (long)(e->since_ms + d->timeout_ms - now);
        pn_stall_del(d, e);
        d->killed++;
        if (pn_ratelim_pass(&d->log, now, &held))
            log_warn("%s: %s read nothing of what was sent to it for %llu ms: closing (%llu "
                     "more closed so since the last note)", d->who, e->peer ? e->peer : "a peer",
                     (unsigned long long)d->timeout_ms, (unsigned long long)held);
        if (e->kill != NULL)
            e->kill(e->arg);
    }
    return EV_TIMER_STOP;
}

pn_stall_t *
pn_stall_new(ev_loop_t *loop, uint64_t timeout_ms)
{
    pn_stall_t *d = xcalloc(sizeof(*d));
    d->timeout_ms = timeout_ms;
    pn_list_init(&d->ents);
    d->timer = ev_timer_new(loop, on_timer, d);
    d->log.interval_ms = 1000;
    d->who = "listener";
    return d;
}

void
pn_stall_free_(pn_stall_t *d)
{
    if (d == NULL)
        return;
    while (!pn_list_empty(&d->ents))
        pn_stall_del(d, pn_container_of(d->ents.next, pn_stall_ent_t, node));
    ev_timer_free(d->timer);
    free(d);
}

void
pn_stall_note(pn_stall_t *d, pn_stall_ent_t *e, size_t pending, int moved, const char *who,
              void (*kill)(void *arg), void *arg)
{
    if (pending == 0 || d->timeout_ms == 0) {
        pn_stall_del(d, e);
        return;
    }
    if (e->in && !moved)
        return;                 /* the clock runs on */
    pn_stall_del(d, e);
    e->since_ms = pn_now_ms();
    e->kill = kill;
    e->arg = arg;
    e->in = 1;
    d->who = who;
    int was_empty = pn_list_empty(&d->ents);
    pn_list_add(&d->ents, &e->node);
    if (was_empty)
        ev_timer_arm(d->timer, d->timeout_ms);
}

void
pn_stall_del(pn_stall_t *d, pn_stall_ent_t *e)
{
    if (!e->in)
        return;
    pn_list_del(&e->node);
    e->in = 0;
}

uint64_t
pn_stall_killed(const pn_stall_t *d)
{
    return d->killed;
}
