/* net/xprt_raw.c: the plain TCP transport. */
#include "core/xprt.h"
#include "core/ev.h"
#include "core/mem.h"
#include "net/sock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t
raw_read(pn_xprt_t *x, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(x->fd, buf, len, 0);
        if (n >= 0) {
            x->drained = (size_t)n < len;   /* a stream's recv is short only when emptied */
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            x->want = EV_RD;
            return PN_AGAIN;
        }
        x->err = strerror(errno);
        return PN_ERR;
    }
}

static ssize_t
raw_write(pn_xprt_t *x, const void *buf, size_t len)
{
    for (;;) {
        ssize_t n = send(x->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            x->want = EV_WR;
            return PN_AGAIN;
        }
        x->err = strerror(errno);
        return PN_ERR;
    }
}

static int
raw_shutdown_wr(pn_xprt_t *x)
{
    if (shutdown(x->fd, SHUT_WR) == -1 && errno != ENOTCONN) {
        x->err = strerror(errno);
        return PN_ERR;
    }
    return PN_OK;
}

static size_t
raw_pending(pn_xprt_t *x)
{
    return 0;
}

static void
raw_free(pn_xprt_t *x)
{
    pn_close(x->fd);
    free(x);
}

static const struct pn_xprt_ops raw_ops = {
    .name = "tcp",
    .zero_copy = 1,
    .split_ready = 1,
    .read = raw_read,
    .write = raw_write,
    .shutdown_wr = raw_shutdown_wr,
    .pending = raw_pending,
    .watch = pn_xprt_fd_watch,
    .peek = pn_xprt_fd_peek,
    .free = raw_free,
};

pn_xprt_t *
pn_raw_xprt_new(int fd)
{
    pn_xprt_t *x = xcalloc(sizeof(*x));
    x->ops = &raw_ops;
    x->fd = fd;
    return x;
}
