/* core/xprt.c: what every transport shares: the subscription (one subscriber,
 * its mask), and the two ways of serving it, an ev_io on the socket of an fd
 * transport, or a deferred wake for a transport without fd. */
#include "core/xprt.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define TRAIN_MAX (65536 - 320)     /* pn_xprt_fd_train: a GSO packet's payload, about */

/* Drop the watchers made for the loop of the current subscription. Never
 * called from the watchers' own callbacks except through pn_xprt_free(),
 * which their callbacks may call: neither ev.c nor on_wake touches a watcher
 * after its callback returns. */
static void
watch_release(pn_xprt_t *x)
{
    ev_io_free(x->io);
    ev_defer_free(x->wake);
}

void
pn_xprt_watch(pn_xprt_t *x, ev_loop_t *loop, int mask, pn_xprt_ready_cb cb, void *arg)
{
    struct pn_xprt_sub *s = &x->sub;
    if (mask == 0) {
        cb = NULL;
        arg = NULL;
    }
    /* The relay calls this after every step: unchanged costs nothing. */
    if (s->mask == mask && s->cb == cb && s->arg == arg && s->loop == loop)
        return;
    if (s->loop != loop && s->loop != NULL && loop != NULL)
        watch_release(x);   /* watchers belong to a loop: made again on the new one */
    if (loop != NULL)
        s->loop = loop;
    s->cb = cb;
    s->arg = arg;
    s->mask = mask;
    x->ops->watch(x);
}

void
pn_xprt_unwatch(pn_xprt_t *x)
{
    if (x != NULL)
        pn_xprt_watch(x, x->sub.loop, 0, NULL, NULL);
}

int
pn_xprt_peek(pn_xprt_t *x)
{
    return x->ops->peek(x);
}

void
pn_xprt_free_(pn_xprt_t *x)
{
    if (x == NULL)
        return;
    /* Before ops->free closes the fd: the ev_io leaves epoll on a live fd. */
    watch_release(x);
    if (x->on_free != NULL)
        x->on_free(x->on_free_arg);
    x->ops->free(x);
}

/* --- transports with a socket ----------------------------------------- */

static void
on_fd_ready(int fd, int ready, void *arg)
{
    pn_xprt_t *x = arg;
    /* Both directions may fire in one turn: the first callback may have
     * narrowed the mask or stopped the watch since. */
    ready &= x->sub.mask;
    if (ready != 0)
        x->sub.cb(x, ready, x->sub.arg);
}

void
pn_xprt_fd_watch(pn_xprt_t *x)
{
    if (x->io == NULL) {
        if (x->sub.mask == 0)
            return;
        x->io = ev_io_new(x->sub.loop, x->fd, on_fd_ready, x);
    }
    ev_io_set(x->io, x->sub.mask);
}

int
pn_xprt_fd_peek(pn_xprt_t *x)
{
    char b;
    ssize_t n = recv(x->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        return 1;
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return PN_AGAIN;
    return 0;
}

size_t
pn_xprt_fd_train(int fd)
{
    int mss = 0;
    socklen_t ml = sizeof(mss);
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &ml) != 0 || mss <= 0)
        return 0;
    return (size_t)mss >= TRAIN_MAX ? (size_t)mss : TRAIN_MAX / (size_t)mss * (size_t)mss;
}

size_t
pn_xprt_train_get(pn_xprt_train_t *t, int fd)
{
    if (t->age++ % PN_XPRT_TRAIN_EVERY == 0)   /* the first call, then every 64th */
        t->seg = pn_xprt_fd_train(fd);
    return t->seg;
}

/* --- transports without fd --------------------------------------------- */

/* The deferred wake: tell the subscriber what is ready now. Level-triggered:
 * while something it waits for is ready, come back after the other ready
 * events; scheduled before the callback, which may free <x> (and this
 * event with it), and found idle then if the callback took everything. */
static void
on_wake(void *arg)
{
    pn_xprt_t *x = arg;
    if (x->sub.cb == NULL)
        return;
    int ready = x->ops->ready(x) & x->sub.mask;
    if (ready == 0)
        return;
    ev_defer_schedule(x->wake);
    x->sub.cb(x, ready, x->sub.arg);
}

void
pn_xprt_wake_watch(pn_xprt_t *x)
{
    if (x->sub.mask == 0)
        return;             /* a wake already scheduled finds no one and stops */
    if (x->wake == NULL)
        x->wake = ev_defer_new(x->sub.loop, on_wake, x);
    if (x->ops->ready(x) & x->sub.mask)
        ev_defer_schedule(x->wake);
}

void
pn_xprt_wake(pn_xprt_t *x)
{
    if (x->sub.mask != 0 && x->wake != NULL)
        ev_defer_schedule(x->wake);
}

/* Read from <t> into <buf> (<cap>, <*len> held): 1 read, 0 nothing now, -1 end or error. */
int
pn_xprt_pull(pn_xprt_t *t, uint8_t *buf, size_t cap, size_t *len, int *want)
{
    if (*len >= cap)
        return 0;
    ssize_t n = t->ops->read(t, buf + *len, cap - *len);
    if (n == PN_AGAIN) {
        *want = t->want;
        return 0;
    }
    *want = 0;
    if (n <= 0)
        return -1;
    *len += (size_t)n;
    return 1;
}

/* Write the first <n> bytes at <buf> to <t>: bytes written (>= 0) or -1. */
ssize_t
pn_xprt_push(pn_xprt_t *t, const uint8_t *buf, size_t n, int *want)
{
    if (n == 0)
        return 0;
    ssize_t w = t->ops->write(t, buf, n);
    if (w == PN_AGAIN) {
        *want = t->want;
        return 0;
    }
    *want = 0;
    return w < 0 ? -1 : w;
}
