/* tls/quic_path.c: a client connection follows its preferred local address
 * (docs/internals/quic.md "Migration"):
 *
 *   NETLINK_ROUTE (addresses, routes, links changed) --100 ms quiet--> check:
 *   a fresh UDP socket connected to the server; its local address (the
 *   kernel's preferred source now) is not the connection's?
 *     --> ngtcp2_conn_initiate_migration on that socket's path: PATH_CHALLENGE
 *         from it, the old path carrying everything else meanwhile
 *     --> validated: the connection moves to it, the old socket is closed;
 *         failed (no answer in about 3 PTOs): the new socket goes, the
 *         connection stays where it was
 *
 * The netlink messages are not read, only counted as "something changed": no
 * parser of their contents. The watch is a client's only (a server follows
 * its peers by Connection ID), one socket per connection (a process keeps one
 * QUIC connection per tunnel). */
#include "core/log.h"
#include "core/mem.h"
#include "tls/quic_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PATH_QUIET_MS 100           /* changes come in bursts: check once they stop */
#define PATH_RETRY_MS 1000          /* a check while a validation runs waits this long */
#define PATH_NL_READS 64            /* netlink messages drained per wakeup */

/* The socket being validated is the connection's q->pfd (its local address
 * q->plocal), for the pump (pn_quic_held_fd); q->pllen > 0 while there is one. */
struct pn_quic_path {
    pn_quic_conn_t *q;              /* borrowed: the owner */
    const pn_quic_path_ops_t *ops;  /* static: its socket, its move (quic_dial.c) */
    int nl;                         /* owned: the NETLINK_ROUTE socket, or -1 */
    ev_io_t *nlio;                  /* owned */
    ev_timer_t *check;              /* owned: the check after changes, the outcome */
    ev_io_t *io;                    /* owned: the reads of q->pfd */
    int result;                     /* 1 validated, -1 failed, 0 pending */
};

static int
same_addr(const struct sockaddr *a, socklen_t alen, const struct sockaddr_storage *b,
          socklen_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* "<address> udp port <port>" of <ss> into <buf>. */
static const char *
where(const struct sockaddr_storage *ss, char *buf, size_t n)
{
    char a[INET6_ADDRSTRLEN] = "?";
    unsigned port;
    if (ss->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, a, sizeof(a));
        port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, a, sizeof(a));
        port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    }
    snprintf(buf, n, "%s udp port %u", a, port);
    return buf;
}

/* The socket being validated, if any, goes (the connection stays where it is). */
static void
probe_drop(struct pn_quic_path *p)
{
    ev_io_free(p->io);
    if (p->q->pllen > 0)
        close(p->q->pfd);
    p->q->pllen = 0;
    p->result = 0;
}

/* A datagram on the new path: ngtcp2 is told it came to that socket's address.
 * (q->local names the current path to pn_quic_input; it is that of the
 * socket read, for the time of the call.) */
static void
on_probe_pkt(void *ctx, const uint8_t *pkt, size_t n, const struct sockaddr *from, socklen_t flen)
{
    struct pn_quic_path *p = ctx;
    pn_quic_conn_t *q = p->q;
    struct sockaddr_storage cur = q->local;
    socklen_t clen = q->llen;
    q->local = q->plocal;
    q->llen = q->pllen;
    pn_quic_input(q, pkt, n, from, flen);
    q->local = cur;
    q->llen = clen;
}

static void
on_probe_io(int fd, int ready, void *arg)
{
    struct pn_quic_path *p = arg;
    pn_quic_conn_t *q = p->q;
    q->refs++;
    if (ready & EV_RD)
        pn_quic_recv(fd, QUIC_PKTS_TURN, on_probe_pkt, p);
    if (ready & EV_WR) {
        if (p->io != NULL)
            ev_io_set(p->io, EV_RD);
        pn_quic_schedule(q);
    }
    pn_quic_unref(q);
}

/* Is the kernel's preferred source towards the server another address than
 * the connection's? Then validate a path from it. */
static void
check(struct pn_quic_path *p)
{
    pn_quic_conn_t *q = p->q;
    char err[PN_ERR_LEN], a[INET6_ADDRSTRLEN + 24], b[INET6_ADDRSTRLEN + 24];
    struct sockaddr_storage local;
    socklen_t llen;
    if (q->fault != NULL || q->c == NULL || !q->handshake_done)
        return;
    int fd = p->ops->socket((struct sockaddr *)&q->remote, q->rlen, &local, &llen, err);
    if (fd == -1)
        return;                 /* no route at all now: a refused send moves it later */
    if (pn_quic_same_host(&q->local, (struct sockaddr *)&local)) {
        close(fd);
        return;
    }
    ngtcp2_path path = {
        { (ngtcp2_sockaddr *)&local, llen }, { (ngtcp2_sockaddr *)&q->remote, q->rlen }, NULL,
    };
    int rv = ngtcp2_conn_initiate_migration(q->c, &path, pn_quic_now());
    if (rv != 0) {
        log_warn("quic: a new local address (%s) but the connection cannot move: %s",
                 where(&local, a, sizeof(a)), ngtcp2_strerror(rv));
        close(fd);
        return;
    }
    q->pfd = fd;
    q->plocal = local;
    q->pllen = llen;
    p->result = 0;
    p->io = ev_io_new(q->loop, fd, on_probe_io, p);
    ev_io_set(p->io, EV_RD);
    log_info("quic: the preferred local address towards the server is now %s (was %s): "
             "validating the new path", where(&local, a, sizeof(a)), where(&q->local, b, sizeof(b)));
    pn_quic_schedule(q);
}

static long
on_check(ev_timer_t *t, void *arg)
{
    struct pn_quic_path *p = arg;
    pn_quic_conn_t *q = p->q;
    char a[INET6_ADDRSTRLEN + 24];
    if (q->fault != NULL) {
        probe_drop(p);
        return EV_TIMER_STOP;
    }
    if (q->pllen > 0 && p->result > 0) {
        struct sockaddr_storage local = q->plocal;
        socklen_t llen = q->pllen;
        log_info("quic: the connection moved to udp port %u from %s (path validated)",
                 ntohs(local.ss_family == AF_INET ? ((struct sockaddr_in *)&local)->sin_port
                                                  : ((struct sockaddr_in6 *)&local)->sin6_port),
                 where(&local, a, sizeof(a)));
        ev_io_free(p->io);
        q->pllen = 0;
        p->result = 0;
        p->ops->adopt(q, q->pfd, &local, llen);
        return PATH_QUIET_MS;   /* look again: the address may have changed meanwhile */
    }
    if (q->pllen > 0 && p->result < 0) {
        log_warn("quic: the new path from %s did not validate: the connection stays on its "
                 "address", where(&q->plocal, a, sizeof(a)));
        probe_drop(p);
        return EV_TIMER_STOP;
    }
    if (q->pllen > 0)
        return PATH_RETRY_MS;   /* a validation runs: its outcome first */
    check(p);
    return EV_TIMER_STOP;
}

static void
on_netlink(int fd, int ready, void *arg)
{
    struct pn_quic_path *p = arg;
    char buf[8192];
    int changed = 0;
    for (int i = 0; i < PATH_NL_READS; i++) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0 || (n == -1 && errno == ENOBUFS))
            changed = 1;        /* ENOBUFS: messages lost, something changed */
        else if (n == -1 && errno == EINTR)
            continue;
        else
            break;
    }
    if (changed)
        ev_timer_arm(p->check, PATH_QUIET_MS);  /* during a validation: after its outcome */
}

static void
path_free(pn_quic_conn_t *q)
{
    struct pn_quic_path *p = q->path;
    probe_drop(p);
    ev_io_free(p->nlio);
    if (p->nl != -1)
        close(p->nl);
    ev_timer_free(p->check);
    free(p);
    q->path = NULL;
}

void
pn_quic_path_watch(pn_quic_conn_t *q, const pn_quic_path_ops_t *ops)
{
    struct pn_quic_path *p = xcalloc(sizeof(*p));
    p->q = q;
    p->ops = ops;
    p->check = ev_timer_new(q->loop, on_check, p);
    p->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct sockaddr_nl sa = {
        .nl_family = AF_NETLINK,
        .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
                     RTMGRP_IPV6_ROUTE,
    };
    if (p->nl != -1 && bind(p->nl, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        close(p->nl);
        p->nl = -1;
    }
    if (p->nl == -1)
        log_debug("quic: no netlink watch of local addresses (%s): only a refused send or "
                  "SIGHUP moves the connection", strerror(errno));
    else {
        p->nlio = ev_io_new(q->loop, p->nl, on_netlink, p);
        ev_io_set(p->nlio, EV_RD);
    }
    q->path = p;
    q->path_free = path_free;
}

void
pn_quic_path_cancel(pn_quic_conn_t *q)
{
    if (q->path != NULL)
        probe_drop(q->path);
}

int
pn_quic_cb_path_validation(ngtcp2_conn *c, uint32_t flags, const ngtcp2_path *path,
                           ngtcp2_path_validation_result res, void *ud)
{
    pn_quic_conn_t *q = ud;
    struct pn_quic_path *p = q->path;
    if (p == NULL || q->pllen == 0 ||
        !same_addr((const struct sockaddr *)path->local.addr, path->local.addrlen, &q->plocal,
                   q->pllen))
        return 0;               /* a server's check of its peer, or an old probe */
    p->result = res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS ? 1 : -1;
    ev_timer_arm(p->check, 0);  /* settled outside ngtcp2 */
    return 0;
}
