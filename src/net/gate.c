/* net/gate.c: net/gate.h over net/admit.h, one deadline timer and one
 * back-off timer. */
#include "net/gate.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
#define FREE_ON_EMFILE 4        /* unfinished connections ended when out of descriptors */
#define LIVE_TRACKED_MAX 16384  /* live connections counted per listener (beyond: not counted) */

struct pn_gate {
    ev_loop_t *loop;            /* borrowed */
    pn_gate_opts_t o;           /* o.who points at who[] */
    char who[64];
    pn_admit_t adm;
    ev_timer_t *deadline;       /* owned: armed for the oldest entry */
    ev_timer_t *backoff;        /* owned: accept paused until it fires */
    uint64_t backoff_ms;        /* the next pause */
    void (*resume)(void *arg);
    void *resume_arg;
    pn_ratelim_t full_log, accept_log, live_log;
    pn_gate_stats_t st;
    uint32_t live_per_src;      /* live connections per source; 0: not capped */
    pn_admit_t live;            /* made on the first live connection (live.tab) */
};

/* A live connection's entry, freed with its transport. */
struct live {
    pn_admit_ent_t ent;
    pn_gate_t *g;
};

static uint32_t
env_u32(const char *name, uint32_t dflt)
{
    const char *v = getenv(name);
    char *end;
    if (v == NULL || *v == '\0')
        return dflt;
    unsigned long n = strtoul(v, &end, 10);
    return *end == '\0' && n > 0 && n < 1000000 ? (uint32_t)n : dflt;
}

static uint32_t
default_max(void)
{
    uint64_t n = pn_sock_nofile() / 4;
    return n < 16 ? 16 : n > 4096 ? 4096 : (uint32_t)n;
}

/* End <e>, already out of the table. */
static void
end_one(pn_admit_ent_t *e)
{
    if (e->kill != NULL)
        e->kill(e->arg);
}

static void
arm_deadline(pn_gate_t *g, uint64_t now)
{
    pn_admit_ent_t *e = pn_admit_oldest(&g->adm);
    if (e == NULL)
        return;
    uint64_t due = e->since_ms + g->o.deadline_ms;
    ev_timer_arm(g->deadline, due > now ? due - now : 0);
}

static long
on_deadline(ev_timer_t *t, void *arg)
{
    pn_gate_t *g = arg;
    uint64_t now = pn_now_ms();
    pn_admit_ent_t *e;
    while ((e = pn_admit_oldest(&g->adm)) != NULL && e->since_ms + g->o.deadline_ms <= now) {
        pn_admit_del(&g->adm, e);
        g->st.expired++;
        end_one(e);
    }
    e = pn_admit_oldest(&g->adm);
    return e == NULL ? EV_TIMER_STOP : (long)(e->since_ms + g->o.deadline_ms - now);
}

static long
on_backoff(ev_timer_t *t, void *arg)
{
    pn_gate_t *g = arg;
    void (*resume)(void *) = g->resume;
    g->resume = NULL;
    if (resume != NULL)
        resume(g->resume_arg);
    return EV_TIMER_STOP;
}

pn_gate_t *
pn_gate_new(ev_loop_t *loop, const pn_gate_opts_t *o)
{
    pn_gate_t *g = xcalloc(sizeof(*g));
    g->loop = loop;
    g->o = *o;
    snprintf(g->who, sizeof(g->who), "%s", o->who ? o->who : "listener");
    g->o.who = g->who;
    uint32_t max = env_u32("POSTERN_GATE_MAX", o->max ? o->max : default_max());
    uint32_t per = o->per_src ? o->per_src : max / 8 < 8 ? 8 : max / 8;
    pn_admit_init(&g->adm, max, env_u32("POSTERN_GATE_PER_SRC", per));
    g->deadline = ev_timer_new(loop, on_deadline, g);
    g->backoff = ev_timer_new(loop, on_backoff, g);
    g->backoff_ms = BACKOFF_MIN_MS;
    g->full_log.interval_ms = 1000;
    g->accept_log.interval_ms = 1000;
    g->live_log.interval_ms = 1000;
    return g;
}

void
pn_gate_free_(pn_gate_t *g)
{
    if (g == NULL)
        return;
    pn_admit_clear(&g->adm);
    if (g->live.tab != NULL)
        pn_admit_clear(&g->live);       /* their transports free their entries */
    ev_timer_free(g->deadline);
    ev_timer_free(g->backoff);
    free(g);
}

void
pn_gate_enter(pn_gate_t *g, pn_admit_ent_t *e, const pn_addr_t *src, void (*kill)(void *arg),
              void *arg)
{
    char s[INET6_ADDRSTRLEN];
    uint64_t held, now = pn_now_ms();
    pn_admit_ent_t *v;
    pn_gate_leave(g, e);
    while ((v = pn_admit_victim(&g->adm, src)) != NULL) {
        if (g->adm.count >= g->adm.max && pn_ratelim_pass(&g->full_log, now, &held))
            log_warn("%s: %u connections have not finished their head (the cap): closing the "
                     "oldest of the source holding the most (%llu more closed since the last "
                     "note)", g->o.who, g->adm.count, (unsigned long long)held);
        else if (g->adm.count < g->adm.max && pn_ratelim_pass(&g->full_log, now, &held))
            log_warn("%s: %s has %u connections that have not finished their head (the cap): "
                     "closing its oldest (%llu more closed since the last note)", g->o.who,
                     pn_addr_ip(src, s), pn_admit_held(&g->adm, src), (unsigned long long)held);
        pn_admit_del(&g->adm, v);
        g->st.evicted++;
        end_one(v);
    }
    e->kill = kill;
    e->arg = arg;
    int was_empty = pn_admit_oldest(&g->adm) == NULL;
    if (pn_admit_add(&g->adm, e, src, now) == PN_OK && was_empty)
        arm_deadline(g, now);
}

void
pn_gate_leave(pn_gate_t *g, pn_admit_ent_t *e)
{
    pn_admit_del(&g->adm, e);
}

int
pn_gate_holds(const pn_admit_ent_t *e)
{
    return e->src != NULL;
}

int
pn_gate_accept_failed(pn_gate_t *g, int err, void (*resume)(void *arg), void *arg)
{
    uint64_t held, now = pn_now_ms();
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:                 /* a firewall refused that one */
    case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN: case ENONET:
    case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
        return 0;               /* accept(2): pending network errors, treat like EAGAIN */
    default:
        break;
    }
    int freed = 0;
    if (err == EMFILE || err == ENFILE) {
        /* The oldest unfinished are the likeliest to be slow on purpose. */
        pn_admit_ent_t *v;
        while (freed < FREE_ON_EMFILE && (v = pn_admit_oldest(&g->adm)) != NULL) {
            pn_admit_del(&g->adm, v);
            g->st.evicted++;
            freed++;
            end_one(v);
        }
    }
    g->st.pauses++;
    if (pn_ratelim_pass(&g->accept_log, now, &held))
        log_warn("%s: accept: %s; pausing accepts for %llu ms, closed %d unfinished "
                 "connections (%llu more pauses since the last note)", g->o.who, strerror(err),
                 (unsigned long long)g->backoff_ms, freed, (unsigned long long)held);
    g->resume = resume;
    g->resume_arg = arg;
    ev_timer_arm(g->backoff, g->backoff_ms);
    g->backoff_ms = g->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : g->backoff_ms * 2;
    return 1;
}

void
pn_gate_accept_ok(pn_gate_t *g)
{
    g->backoff_ms = BACKOFF_MIN_MS;
}

void
pn_gate_live_on(pn_gate_t *g)
{
    uint64_t n = pn_sock_nofile() / 4;
    const char *v = getenv("POSTERN_LIVE_PER_SRC");
    char *end;
    if (v != NULL && *v != '\0') {
        unsigned long m = strtoul(v, &end, 10);
        if (*end == '\0' && m < 1000000) {
            g->live_per_src = (uint32_t)m;
            return;
        }
    }
    g->live_per_src = n < 64 ? 64 : n > 1000000 ? 1000000 : (uint32_t)n;
}

static void
live_free(void *arg)
{
    struct live *l = arg;
    if (pn_gate_holds(&l->ent))         /* not when the gate went first */
        pn_admit_del(&l->g->live, &l->ent);
    free(l);
}

int
pn_gate_live(pn_gate_t *g, pn_xprt_t *x, const pn_addr_t *src)
{
    char s[INET6_ADDRSTRLEN];
    uint64_t held, now;
    if (g->live_per_src == 0)
        return PN_OK;
    if (g->live.tab == NULL) {
        uint64_t n = pn_sock_nofile();
        pn_admit_init(&g->live, n > LIVE_TRACKED_MAX ? LIVE_TRACKED_MAX : (uint32_t)n,
                      g->live_per_src);
    }
    uint32_t n = pn_admit_held(&g->live, src);
    if (n >= g->live_per_src) {
        g->st.refused_live++;
        now = pn_now_ms();
        if (pn_ratelim_pass(&g->live_log, now, &held))
            log_warn("%s: %s has %u connections open (the cap, POSTERN_LIVE_PER_SRC): refusing "
                     "more from it (%llu more refused since the last note)", g->o.who,
                     pn_addr_ip(src, s), n, (unsigned long long)held);
        return PN_ERR;
    }
    struct live *l = xcalloc(sizeof(*l));
    l->g = g;
    if (pn_admit_add(&g->live, &l->ent, src, pn_now_ms()) != PN_OK) {
        free(l);                /* the table is full: this one is not counted */
        return PN_OK;
    }
    x->on_free = live_free;
    x->on_free_arg = l;
    return PN_OK;
}

void
pn_gate_stats(const pn_gate_t *g, pn_gate_stats_t *out)
{
    *out = g->st;
}
