/* modes/proxy_udp.c: SOCKS5 UDP ASSOCIATE (RFC 1928 §7). The association
 * lives as long as its TCP connection: a UDP socket on the address the user
 * reached takes the user's datagrams (only from the user's IP; the first
 * one fixes its port), each with the header RSV FRAG ATYP DST.ADDR DST.PORT;
 * the payload goes out whole from one socket per address family, and each
 * answer comes back whole with the header of the address it came from.
 *
 *   user --[hdr|data]--> fd --data--> ofd[family] --> destination
 *   user <--[hdr|data]-- fd <--data-- ofd[family] <-- destination
 *
 * The sending half (proxy_udp_assoc_send, the outbound sockets, names) also
 * serves the Shadowsocks UDP relay (modes/proxy_ss_udp.c), whose answers are
 * sealed instead (the reply hook).
 *
 * Names are resolved without blocking; one datagram waits for its name, a
 * second one for another name meanwhile is dropped. With via=, datagrams go
 * through nodes instead (modes/proxy_udp_via.c), names resolved there. */
#include "core/log.h"
#include "core/mem.h"
#include "modes/proxy_priv.h"
#include "net/sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define DGRAM_MAX 65536

struct passoc {
    pconn_t *c;                 /* borrowed: the connection that owns it */
    int fd;                     /* owned: the user's side (SOCKS5), or -1 */
    ev_io_t *io;                /* owned */
    proxy_udp_reply_fn reply;   /* answers the user */
    void *ctx;                  /* borrowed: its argument */
    int ofd[2];                 /* owned: outbound sockets, IPv4 and IPv6, or -1 */
    ev_io_t *oio[2];            /* owned */
    pn_addr_t user;             /* where the user sends from, once known */
    int has_user;
    char name[256];             /* the last name resolved, and its address */
    pn_addr_t name_addr;
    pn_dns_req_t *dns;          /* owned: the pending resolution */
    char pend_name[256];        /* the datagram that waits for it */
    uint16_t pend_port;
    uint8_t *pend;              /* owned */
    size_t pend_len;
    pn_list_t vias;             /* via=: the tunnel UDP sessions, one per destination */
};

/* One datagram at a time, in and out: callbacks never nest on the loop. */
static uint8_t dgram[DGRAM_MAX];

/* Same IP, ignoring the IPv4-mapped form. */
static int
same_ip(const pn_addr_t *a, const pn_addr_t *b)
{
    char x[INET6_ADDRSTRLEN], y[INET6_ADDRSTRLEN];
    pn_addr_ip(a, x);
    pn_addr_ip(b, y);
    const char *px = strncmp(x, "::ffff:", 7) == 0 ? x + 7 : x;
    const char *py = strncmp(y, "::ffff:", 7) == 0 ? y + 7 : y;
    return strcmp(px, py) == 0;
}

static void on_out(int fd, int ready, void *arg);

static void
send_out(struct passoc *a, const pn_addr_t *dst, const uint8_t *d, size_t n)
{
    pconn_t *c = a->c;
    if (!proxy_dest_allowed(c->p, dst)) {
        c->u->refused++;
        return;
    }
    if (c->u->limit != NULL && !pn_bucket_take_all(c->u->limit, n, pn_now_us())) {
        c->p->in.stats.udp_drops++;
        return;
    }
    int f = dst->ss.ss_family == AF_INET6;
    if (a->ofd[f] == -1) {
        a->ofd[f] = socket(f ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (a->ofd[f] == -1) {
            c->p->in.stats.udp_drops++;
            return;
        }
        a->oio[f] = ev_io_new(c->p->in.loop, a->ofd[f], on_out, a);
        ev_io_set(a->oio[f], EV_RD);
    }
    if (sendto(a->ofd[f], d, n, 0, (const struct sockaddr *)&dst->ss, dst->len) == -1) {
        c->p->in.stats.udp_drops++;
        return;
    }
    c->u->up += n;
}

static void
on_resolved(const pn_addr_t *addr, const char *err, void *arg)
{
    struct passoc *a = arg;
    a->dns = NULL;
    if (addr != NULL) {
        snprintf(a->name, sizeof(a->name), "%s", a->pend_name);
        a->name_addr = *addr;
        pn_addr_t dst = *addr;
        pn_addr_set_port(&dst, a->pend_port);
        send_out(a, &dst, a->pend, a->pend_len);
    } else {
        a->c->p->in.stats.udp_drops++;
    }
    xfree(a->pend);
}

void
proxy_udp_assoc_send(struct passoc *a, const socks_dest_t *d, const uint8_t *pl, size_t plen)
{
    if (a->c->p->via != NULL) {
        proxy_udp_via_send(a->c, &a->vias, a->reply, a->ctx, d, pl, plen);
    } else if (d->atyp != SOCKS_ATYP_NAME) {
        send_out(a, &d->addr, pl, plen);
    } else if (strcmp(d->host, a->name) == 0) {
        pn_addr_t dst = a->name_addr;
        pn_addr_set_port(&dst, d->port);
        send_out(a, &dst, pl, plen);
    } else if (a->dns == NULL && a->pend == NULL) {
        char port[8];
        snprintf(a->pend_name, sizeof(a->pend_name), "%s", d->host);
        a->pend_port = d->port;
        a->pend = xmalloc(plen ? plen : 1);
        memcpy(a->pend, pl, plen);
        a->pend_len = plen;
        snprintf(port, sizeof(port), "%u", d->port);
        pn_dns_req_t *r = pn_dns_resolve(a->c->p->dns, d->host, port, on_resolved, a);
        if (r != NULL)
            a->dns = r;
    } else {
        a->c->p->in.stats.udp_drops++;
    }
}

/* SOCKS5's answer: RSV RSV FRAG, the address, the datagram, to the user. */
static void
socks_reply(void *ctx, const uint8_t *hdr, size_t hl, const uint8_t *d, size_t n)
{
    struct passoc *a = ctx;
    static const uint8_t rsv[3];
    struct iovec iov[3] = { { (void *)rsv, 3 }, { (void *)hdr, hl }, { (void *)d, n } };
    struct msghdr m = { .msg_name = &a->user.ss, .msg_namelen = a->user.len, .msg_iov = iov,
                        .msg_iovlen = 3 };
    if (sendmsg(a->fd, &m, MSG_NOSIGNAL) == -1)
        a->c->p->in.stats.udp_drops++;
}

/* A datagram from the user: check, strip the header, send on. */
static void
on_user(int fd, int ready, void *arg)
{
    struct passoc *a = arg;
    for (int burst = 0; burst < 64; burst++) {
        pn_addr_t from = { .len = sizeof(from.ss) };
        ssize_t n = recvfrom(fd, dgram, sizeof(dgram), 0, (struct sockaddr *)&from.ss, &from.len);
        if (n < 0)
            return;
        if (!same_ip(&from, &a->c->peer) || (a->has_user && !pn_addr_equal(&from, &a->user))) {
            a->c->p->in.stats.udp_drops++;
            continue;
        }
        a->user = from;
        a->has_user = 1;
        socks_dest_t d;
        int k = socks_parse_udp(dgram, (size_t)n, &d);
        if (k < 0) {
            a->c->p->in.stats.udp_drops++;
            continue;
        }
        proxy_udp_assoc_send(a, &d, dgram + k, (size_t)n - (size_t)k);
    }
}

/* An answer from a destination: to the user with its address. */
static void
on_out(int fd, int ready, void *arg)
{
    struct passoc *a = arg;
    for (int burst = 0; burst < 64; burst++) {
        pn_addr_t from = { .len = sizeof(from.ss) };
        uint8_t hdr[32];
        ssize_t n = recvfrom(fd, dgram, sizeof(dgram), 0, (struct sockaddr *)&from.ss, &from.len);
        if (n < 0)
            return;
        if (!a->has_user)
            continue;
        pconn_t *c = a->c;
        if (c->u->limit != NULL && !pn_bucket_take_all(c->u->limit, (uint64_t)n, pn_now_us())) {
            c->p->in.stats.udp_drops++;
            continue;
        }
        a->reply(a->ctx, hdr, socks_write_addr(hdr, &from), dgram, (size_t)n);
        c->u->down += (uint64_t)n;
    }
}

/* The TCP connection: its end ends the association; bytes on it are ignored. */
static void
on_tcp(pn_xprt_t *x, int ready, void *arg)
{
    pconn_t *c = arg;
    uint8_t b[512];
    ssize_t n = x->ops->read(x, b, sizeof(b));
    if (n == PN_AGAIN) {
        pn_xprt_watch(x, c->p->in.loop, x->want, on_tcp, c);
        return;
    }
    if (n <= 0)
        pconn_free(c);
}

int
proxy_udp_start(pconn_t *c)
{
    char err[PN_ERR_LEN];
    pn_addr_t bind_at = c->local, bnd = { .len = sizeof(bnd.ss) };
    pn_addr_set_port(&bind_at, 0);
    int fd = pn_listen_udp(&bind_at, err);
    if (fd == -1) {
        log_warn("proxy: udp associate: %s", err);
        return PN_ERR;
    }
    if (getsockname(fd, (struct sockaddr *)&bnd.ss, &bnd.len) == -1) {
        pn_close(fd);
        return PN_ERR;
    }
    uint8_t rep[32];
    size_t rl = socks_write_reply(rep, SOCKS_REP_OK, &bnd);
    if (c->x->ops->write(c->x, rep, rl) != (ssize_t)rl) {
        pn_close(fd);
        return PN_ERR;
    }
    struct passoc *a = proxy_udp_assoc_new(c, socks_reply, NULL);
    a->ctx = a;
    a->fd = fd;
    a->has_user = 0;            /* until its first datagram fixes the user's port */
    a->io = ev_io_new(c->p->in.loop, fd, on_user, a);
    ev_io_set(a->io, EV_RD);
    c->udp = a;
    c->udp_free = proxy_udp_free;
    c->st = PC_UDP;
    c->p->in.stats.udps++;
    xfree(c->buf);
    c->n = 0;
    pn_xprt_watch(c->x, c->p->in.loop, EV_RD, on_tcp, c);
    return PN_OK;
}

struct passoc *
proxy_udp_assoc_new(pconn_t *c, proxy_udp_reply_fn reply, void *ctx)
{
    struct passoc *a = xcalloc(sizeof(*a));
    a->c = c;
    a->fd = -1;
    a->ofd[0] = a->ofd[1] = -1;
    a->reply = reply;
    a->ctx = ctx;
    a->has_user = 1;            /* answers are taken from the start (SOCKS5: reset below) */
    pn_list_init(&a->vias);
    return a;
}

void
proxy_udp_free(void *arg)
{
    struct passoc *a = arg;
    if (a == NULL)
        return;
    proxy_udp_via_close(&a->vias);
    pn_dns_cancel(a->dns);
    ev_io_free(a->io);
    pn_close(a->fd);
    for (int f = 0; f < 2; f++) {
        ev_io_free(a->oio[f]);
        pn_close(a->ofd[f]);
    }
    free(a->pend);
    free(a);
}
