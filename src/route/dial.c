/* route/dial.c: the async dialer and the latency prober. */
#include "route/dial.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"

#include <string.h>

struct route_dial {
    ev_loop_t *loop;            /* borrowed */
    lb_set_t *set;              /* borrowed */
    pn_addr_t src;              /* copy of the source address */
    int has_src;
    uint64_t timeout_ms;
    route_dial_cb cb;
    void *ctx;                  /* borrowed */
    size_t target;              /* index being tried */
    size_t attempts;            /* targets tried so far, this one included */
    uint64_t started;           /* ms, for the latency policy's view */
    int fd;                     /* owned while connecting, -1 otherwise */
    ev_io_t *io;                /* owned; watches <fd> for writability */
    ev_timer_t *timer;          /* owned; the attempt's timeout */
    ev_defer_t *fail;           /* owned; reports a failure that happened inline */
    char err[PN_ERR_LEN];
};

static void dial_attempt(route_dial_t *d);

static void
dial_release(route_dial_t *d)
{
    ev_io_free(d->io);
    pn_close(d->fd);
    d->fd = -1;
}

static void
dial_free(route_dial_t *d)
{
    dial_release(d);
    ev_timer_free(d->timer);
    ev_defer_free(d->fail);
    free(d);
}

void
route_dial_cancel(route_dial_t *d)
{
    if (d != NULL)
        dial_free(d);
}

static void
dial_finish(route_dial_t *d, int fd)
{
    route_dial_cb cb = d->cb;
    void *ctx = d->ctx;
    size_t target = d->target;
    char err[PN_ERR_LEN];
    memcpy(err, d->err, sizeof(err));
    d->fd = -1;                 /* ownership of <fd> moves to the callback */
    dial_free(d);
    cb(fd, target, fd == -1 ? err : NULL, ctx);
}

static void
on_inline_fail(void *arg)
{
    dial_finish(arg, -1);
}

/* The current attempt failed: tell the policy and move to the next target, or
 * give up when each has had its chance. */
static void
dial_next(route_dial_t *d)
{
    dial_release(d);
    ev_timer_disarm(d->timer);
    lb_report(d->set, d->target, 0, pn_now_ms());
    size_t next = lb_next(d->set, d->target, d->attempts);
    if (next == (size_t)-1) {
        ev_defer_schedule(d->fail);
        return;
    }
    d->target = next;
    dial_attempt(d);
}

static void
on_connect(int fd, int ready, void *arg)
{
    route_dial_t *d = arg;
    char s[PN_ADDRSTRLEN];
    int e = pn_sock_error(fd);
    if (e != 0) {
        pn_err_set(d->err, "connect %s: %s", pn_addr_str(&d->set->t[d->target].addr, s),
                   strerror(e));
        log_debug("dial: %s", d->err);
        dial_next(d);
        return;
    }
    ev_io_free(d->io);
    ev_timer_disarm(d->timer);
    lb_report(d->set, d->target, 1, pn_now_ms());
    dial_finish(d, fd);
}

static long
on_timeout(ev_timer_t *t, void *arg)
{
    route_dial_t *d = arg;
    char s[PN_ADDRSTRLEN];
    pn_err_set(d->err, "connect %s: timed out", pn_addr_str(&d->set->t[d->target].addr, s));
    log_debug("dial: %s", d->err);
    dial_next(d);
    return EV_TIMER_STOP;
}

/* A target whose name has not resolved yet has no address to dial. */
static int
dial_unresolved(const lb_target_t *t, char *err)
{
    return pn_err_set(err, "connect %s:%s: the name does not resolve yet", t->host, t->port);
}

static int
dial_target_tcp(const lb_target_t *t, const pn_addr_t *src, char *err)
{
    if (t->addr.ss.ss_family == 0) {
        dial_unresolved(t, err);
        return -1;
    }
    return pn_dial_tcp(&t->addr, src, err);
}

static void
dial_attempt(route_dial_t *d)
{
    for (;;) {
        d->attempts++;
        d->fd = dial_target_tcp(&d->set->t[d->target], d->has_src ? &d->src : NULL, d->err);
        if (d->fd != -1)
            break;
        log_debug("dial: %s", d->err);
        lb_report(d->set, d->target, 0, pn_now_ms());
        size_t next = lb_next(d->set, d->target, d->attempts);
        if (next == (size_t)-1) {
            /* Never call back from inside route_dial_start(): defer. */
            ev_defer_schedule(d->fail);
            return;
        }
        d->target = next;
    }
    d->io = ev_io_new(d->loop, d->fd, on_connect, d);
    ev_io_set(d->io, EV_WR);
    ev_timer_arm(d->timer, d->timeout_ms);
}

route_dial_t *
route_dial_start(ev_loop_t *loop, lb_set_t *set, const pn_addr_t *src, uint64_t timeout_ms,
                 route_dial_cb cb, void *ctx)
{
    route_dial_t *d = xcalloc(sizeof(*d));
    d->loop = loop;
    d->set = set;
    if (src != NULL) {
        d->src = *src;
        d->has_src = 1;
    }
    d->timeout_ms = timeout_ms;
    d->cb = cb;
    d->ctx = ctx;
    d->fd = -1;
    d->timer = ev_timer_new(loop, on_timeout, d);
    d->fail = ev_defer_new(loop, on_inline_fail, d);
    d->started = pn_now_ms();
    d->target = lb_pick(set, d->started);
    dial_attempt(d);
    return d;
}

int
route_dial_udp(lb_set_t *set, const pn_addr_t *src, char *err)
{
    size_t i = lb_pick(set, pn_now_ms());
    for (size_t attempts = 1;; attempts++) {
        int fd = set->t[i].addr.ss.ss_family == 0 ? dial_unresolved(&set->t[i], err)
                                                  : pn_dial_udp(&set->t[i].addr, src, err);
        lb_report(set, i, fd != -1, pn_now_ms());
        if (fd != -1)
            return fd;
        i = lb_next(set, i, attempts);
        if (i == (size_t)-1)
            return -1;
    }
}

/* The prober keeps one probe slot per target; a probe still running when the
 * next round starts is simply left to finish. */
struct probe {
    struct route_prober *p;     /* back pointer */
    size_t i;                   /* target index */
    int fd;                     /* owned while probing, -1 otherwise */
    ev_io_t *io;                /* owned */
    uint64_t started;           /* ms */
};

struct route_prober {
    ev_loop_t *loop;            /* borrowed */
    lb_set_t *set;              /* borrowed */
    pn_addr_t src;
    int has_src;
    uint64_t interval_ms, timeout_ms;
    ev_timer_t *timer;          /* owned: rounds and timeouts */
    struct probe *probes;       /* owned array, one per target */
};

static void
probe_end(struct probe *pr, int ok)
{
    uint64_t rtt = pn_now_ms() - pr->started;
    ev_io_free(pr->io);
    pn_close(pr->fd);
    pr->fd = -1;
    lb_probe(pr->p->set, pr->i, ok, rtt);
}

static void
on_probe(int fd, int ready, void *arg)
{
    probe_end(arg, pn_sock_error(fd) == 0);
}

static long
on_probe_round(ev_timer_t *t, void *arg)
{
    route_prober_t *p = arg;
    uint64_t now = pn_now_ms();
    for (size_t i = 0; i < p->set->n; i++) {
        struct probe *pr = &p->probes[i];
        if (pr->fd != -1) {
            if (now - pr->started < p->timeout_ms)
                continue;
            probe_end(pr, 0);
        }
        pr->started = now;
        pr->fd = pn_dial_tcp(&p->set->t[i].addr, p->has_src ? &p->src : NULL, NULL);
        if (pr->fd == -1) {
            lb_probe(p->set, i, 0, 0);
            continue;
        }
        pr->io = ev_io_new(p->loop, pr->fd, on_probe, pr);
        ev_io_set(pr->io, EV_WR);
    }
    return (long)p->interval_ms;
}

route_prober_t *
route_prober_new(ev_loop_t *loop, lb_set_t *set, const pn_addr_t *src, uint64_t interval_ms,
                 uint64_t timeout_ms)
{
    route_prober_t *p = xcalloc(sizeof(*p));
    p->loop = loop;
    p->set = set;
    if (src != NULL) {
        p->src = *src;
        p->has_src = 1;
    }
    p->interval_ms = interval_ms;
    p->timeout_ms = timeout_ms;
    p->probes = xcalloc(set->n * sizeof(*p->probes));
    for (size_t i = 0; i < set->n; i++) {
        p->probes[i].p = p;
        p->probes[i].i = i;
        p->probes[i].fd = -1;
    }
    p->timer = ev_timer_new(loop, on_probe_round, p);
    ev_timer_arm(p->timer, 0);
    return p;
}

void
route_prober_free_(route_prober_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->set->n; i++) {
        ev_io_free(p->probes[i].io);
        pn_close(p->probes[i].fd);
    }
    free(p->probes);
    ev_timer_free(p->timer);
    free(p);
}
