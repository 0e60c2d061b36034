/* core/ev.c: core/ev.h over libevent 2.1.
 *
 * An ev_io holds two persistent libevent events, one per direction, so that
 * changing the mask is an event_add/event_del on one of them and never a
 * re-assignment; libevent's epoll backend merges them into one registration. */
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define EV_DISPATCH_MAX 64          /* callbacks run between two polls, at most */

struct ev_loop {
    struct event_base *base;        /* owned */
};

struct ev_io {
    struct event *rd, *wr;          /* owned; persistent, added per mask */
    int mask;                       /* EV_RD|EV_WR currently armed */
    int fd;
    ev_io_cb cb;
    void *ctx;                      /* borrowed */
};

struct ev_timer {
    struct event *ev;               /* owned */
    ev_timer_cb cb;
    void *ctx;                      /* borrowed */
};

struct ev_defer {
    struct event *ev;               /* owned */
    ev_defer_cb cb;
    void *ctx;                      /* borrowed */
};

/* libevent's own diagnostics (evdns: "nameserver ... has failed") go to our
 * log, not to stderr. */
static void
on_libevent_log(int severity, const char *msg)
{
    if (severity >= EVENT_LOG_WARN)
        log_warn("libevent: %s", msg);
    else
        log_debug("libevent: %s", msg);
}

ev_loop_t *
ev_loop_new(void)
{
    ev_loop_t *loop = xcalloc(sizeof(*loop));
    event_set_log_callback(on_libevent_log);
    struct event_config *cfg = event_config_new();
    /* Monotonic timers, and no lock: a loop belongs to one thread. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    /* Poll for I/O and run due timers after every EV_DISPATCH_MAX callbacks:
     * without it, an event that activates itself again (a deferred step with
     * work left) runs before anything else for as long as it keeps doing so,
     * and a control channel's heartbeats starve behind a busy relay. */
    event_config_set_max_dispatch_interval(cfg, NULL, EV_DISPATCH_MAX, 0);
    loop->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (loop->base == NULL) {
        fprintf(stderr, "postern: cannot create the event loop\n");
        abort();
    }
    return loop;
}

void
ev_loop_free_(ev_loop_t *loop)
{
    if (loop == NULL)
        return;
    event_base_free(loop->base);
    free(loop);
}

int
ev_loop_run(ev_loop_t *loop)
{
    return event_base_dispatch(loop->base) < 0 ? -1 : 0;
}

void
ev_loop_stop(ev_loop_t *loop)
{
    event_base_loopbreak(loop->base);
}

void *
ev_loop_base(ev_loop_t *loop)
{
    return loop->base;
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
    ev_io_t *io = arg;
    int ready = ((what & EV_READ) ? EV_RD : 0) | ((what & EV_WRITE) ? EV_WR : 0);
    io->cb((int)fd, ready, io->ctx);
}

ev_io_t *
ev_io_new(ev_loop_t *loop, int fd, ev_io_cb cb, void *ctx)
{
    ev_io_t *io = xcalloc(sizeof(*io));
    io->fd = fd;
    io->cb = cb;
    io->ctx = ctx;
    io->rd = event_new(loop->base, fd, EV_READ | EV_PERSIST, on_io, io);
    io->wr = event_new(loop->base, fd, EV_WRITE | EV_PERSIST, on_io, io);
    if (io->rd == NULL || io->wr == NULL) {
        fprintf(stderr, "postern: cannot create an I/O event\n");
        abort();
    }
    return io;
}

void
ev_io_set(ev_io_t *io, int mask)
{
    int diff = io->mask ^ mask;
    if (diff & EV_RD) {
        if (mask & EV_RD)
            event_add(io->rd, NULL);
        else
            event_del(io->rd);
    }
    if (diff & EV_WR) {
        if (mask & EV_WR)
            event_add(io->wr, NULL);
        else
            event_del(io->wr);
    }
    io->mask = mask;
}

int
ev_io_mask(const ev_io_t *io)
{
    return io->mask;
}

void
ev_io_free_(ev_io_t *io)
{
    if (io == NULL)
        return;
    event_free(io->rd);
    event_free(io->wr);
    free(io);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    ev_timer_t *t = arg;
    long next = t->cb(t, t->ctx);
    /* A callback may free its own timer, but then it must return STOP: <t> is
     * touched again only when the callback asked to be re-armed. */
    if (next >= 0)
        ev_timer_arm(t, (uint64_t)next);
}

ev_timer_t *
ev_timer_new(ev_loop_t *loop, ev_timer_cb cb, void *ctx)
{
    ev_timer_t *t = xcalloc(sizeof(*t));
    t->cb = cb;
    t->ctx = ctx;
    t->ev = evtimer_new(loop->base, on_timer, t);
    if (t->ev == NULL) {
        fprintf(stderr, "postern: cannot create a timer\n");
        abort();
    }
    return t;
}

void
ev_timer_arm(ev_timer_t *t, uint64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(t->ev, &tv);
}

void
ev_timer_disarm(ev_timer_t *t)
{
    if (evtimer_pending(t->ev, NULL))   /* most disarms find none: no event_del then */
        evtimer_del(t->ev);
}

void
ev_timer_free_(ev_timer_t *t)
{
    if (t == NULL)
        return;
    event_free(t->ev);
    free(t);
}

static void
on_defer(evutil_socket_t fd, short what, void *arg)
{
    ev_defer_t *d = arg;
    d->cb(d->ctx);
}

ev_defer_t *
ev_defer_new(ev_loop_t *loop, ev_defer_cb cb, void *ctx)
{
    ev_defer_t *d = xcalloc(sizeof(*d));
    d->cb = cb;
    d->ctx = ctx;
    d->ev = event_new(loop->base, -1, 0, on_defer, d);
    if (d->ev == NULL) {
        fprintf(stderr, "postern: cannot create an event\n");
        abort();
    }
    return d;
}

void
ev_defer_schedule(ev_defer_t *d)
{
    /* libevent merges activations of an event that is already active. */
    event_active(d->ev, 0, 0);
}

void
ev_defer_free_(ev_defer_t *d)
{
    if (d == NULL)
        return;
    event_free(d->ev);
    free(d);
}

ev_defer_t *
ev_signal_new(ev_loop_t *loop, int signum, ev_defer_cb cb, void *ctx)
{
    ev_defer_t *d = xcalloc(sizeof(*d));
    d->cb = cb;
    d->ctx = ctx;
    d->ev = evsignal_new(loop->base, signum, on_defer, d);
    if (d->ev == NULL || evsignal_add(d->ev, NULL) != 0) {
        fprintf(stderr, "postern: cannot watch signal %d\n", signum);
        abort();
    }
    return d;
}

uint64_t
pn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
