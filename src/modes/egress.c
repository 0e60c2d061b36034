/* modes/egress.c: the tunnel end that dials the destination a signal names
 * (TARGET, docs/protocol.md §5.2) instead of its fixed targets: only with
 * egress=1, names resolved without blocking, internal destinations refused
 * unless allow= lists them; TCP (a connection) or UDP (a connected socket and
 * the datagrams of one session, length-framed, §6.4). Every TARGET exchange is answered on its data connection by a RESULT frame
 * (§6.5) before any relayed byte: OK, or why not (then the connection ends).
 *
 *   signal TCP(id, TARGET host:port) --> pn_mode_side_exit_to --> resolve
 *       --> allowed? --> connect (under the dial deadline) --> RESULT(OK) + relay
 *   signal UDP(id, TARGET) --> resolve --> allowed? --> connected UDP socket
 *       --> RESULT(OK) written --> UDP session (relay/udp.h, STREAM -> CONN)
 *       \--refused / failed--> RESULT(code, reason), end of writing, close
 *                              when the sender does (or the handshake deadline) */
#include "modes/egress.h"
#include "conf/users.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/dns.h"
#include "net/sock.h"
#include "tunnel/frame.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct pn_mode_egress {
    int on;                     /* egress=1 (else only refusals are answered) */
    pn_dns_t *dns;              /* owned, with <on>: resolves destinations */
    pn_cidr_t *allow;           /* owned: internal networks allowed (allow=) */
    size_t nallow;
    pn_list_t pending;          /* struct egx resolving, connecting or telling a refusal */
    pn_ratelim_t note;          /* refusal lines, once a second */
};

/* One exchange on its way to its destination, or telling why it is not. */
struct egx {
    pn_list_t node;             /* in pn_mode_egress.pending */
    struct pn_mode_side *sd;    /* borrowed */
    pn_xprt_t *data;            /* owned: the tunnel's data channel */
    pn_addr_t src, dst;         /* the user, and what it reached (PROXY) */
    char host[PN_TARGET_HOST_MAX + 1];
    char port[6];
    pn_dns_req_t *dns;          /* owned: pending resolution */
    int fd;                     /* owned: connecting socket, or -1 */
    ev_io_t *io;                /* owned */
    ev_timer_t *deadline;       /* owned: resolve + connect, then the refusal's telling */
    int udp;                    /* a UDP exchange */
    int telling;                /* writing the RESULT: 1 a refusal (then waiting for the
                                 * close), 2 a UDP session's OK (then its datagrams) */
    uint8_t res[PN_RESULT_MAX]; /* the RESULT frame */
    size_t res_len, res_off;
};

int
pn_mode_egress_setup(struct pn_mode_side *sd, const pn_config_t *cfg, char *err)
{
    struct pn_mode_egress *e = xcalloc(sizeof(*e));
    pn_list_init(&e->pending);
    e->note.interval_ms = 1000;
    sd->egress = e;             /* refusals are answered even without egress=1 */
    if (!cfg->egress)
        return PN_OK;
    if (cfg->allow != NULL && pn_cidr_list_parse(cfg->allow, &e->allow, &e->nallow, err) != PN_OK)
        return PN_ERR;          /* egress stays off; pn_mode_egress_free frees <e> */
    e->dns = pn_dns_new(sd->in->loop, cfg->dns_server, err);
    if (e->dns == NULL)
        return PN_ERR;
    e->on = 1;
    log_info("%s: egress on: dials the destinations the peer names (%zu internal network(s) allowed)",
             sd->name, e->nallow);
    return PN_OK;
}

static void
egx_free(struct egx *g)
{
    pn_list_del(&g->node);
    pn_dns_cancel(g->dns);
    ev_io_free(g->io);
    if (g->fd != -1)
        close(g->fd);
    ev_timer_free(g->deadline);
    pn_xprt_free(g->data);
    free(g);
}

void
pn_mode_egress_free(struct pn_mode_side *sd)
{
    struct pn_mode_egress *e = sd->egress;
    if (e == NULL)
        return;
    while (!pn_list_empty(&e->pending))
        egx_free(pn_container_of(e->pending.next, struct egx, node));
    pn_dns_free(e->dns);
    free(e->allow);
    free(e);
    sd->egress = NULL;
}

int
pn_mode_dest_allowed(const pn_cidr_t *allow, size_t nallow, const pn_addr_t *a)
{
    uint8_t ip[16];
    if (a->ss.ss_family == AF_INET) {
        memset(ip, 0, 10);
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    } else if (a->ss.ss_family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
    } else {
        return 0;
    }
    return !pn_ip_is_internal(ip) || pn_cidr_match(allow, nallow, ip);
}

/* The refusal's RESULT goes out, then the writing side ends; the connection
 * closes when the sender closes it (it has read the answer), on an error, or
 * at the deadline. Bytes the sender still sends are read and dropped. */
/* Write the RESULT; then a UDP session starts (telling == 2), or a refusal
 * ends the writing side and the connection closes when the sender closes it
 * (it has read the answer), on an error, or at the deadline. Bytes the sender
 * still sends meanwhile are read and dropped. */
static void
on_tell(pn_xprt_t *x, int ready, void *arg)
{
    struct egx *g = arg;
    uint8_t sink[512];
    while (g->res_off < g->res_len) {
        ssize_t w = x->ops->write(x, g->res + g->res_off, g->res_len - g->res_off);
        if (w == PN_AGAIN) {
            pn_xprt_watch(x, g->sd->in->loop, x->want, on_tell, g);
            return;
        }
        if (w < 0) {
            egx_free(g);
            return;
        }
        g->res_off += (size_t)w;
        if (g->res_off < g->res_len || g->telling == 2)
            continue;
        if (x->ops->shutdown_wr(x) == PN_ERR) {
            egx_free(g);
            return;
        }
    }
    if (g->telling == 2) {
        struct pn_mode_side *sd = g->sd;
        pn_xprt_t *data = g->data;
        int fd = g->fd;
        g->data = NULL;
        g->fd = -1;
        egx_free(g);
        pn_xprt_unwatch(data);
        udp_sess_new_stream(sd->udp, data, fd, NULL, 0);
        return;
    }
    for (;;) {
        ssize_t r = x->ops->read(x, sink, sizeof(sink));
        if (r == PN_AGAIN) {
            pn_xprt_watch(x, g->sd->in->loop, x->want, on_tell, g);
            return;
        }
        if (r <= 0) {
            egx_free(g);
            return;
        }
    }
}

static long
on_deadline(ev_timer_t *t, void *arg);

/* Refuse the exchange on <data> (owned) to <host>:<port> with the RESULT
 * <code> and <why>, counted and logged (at most a line a second). */
static void
refuse(struct pn_mode_side *sd, struct egx *g, pn_xprt_t *data, const char *host, const char *port,
       uint8_t code, const char *why)
{
    static pn_ratelim_t off_note = { .interval_ms = 1000 };
    struct pn_mode_egress *e = sd->egress;
    pn_ratelim_t *r = e != NULL ? &e->note : &off_note;
    uint64_t held;
    sd->in->stats.refused++;
    if (!pn_ratelim_pass(r, pn_now_ms(), &held))
        ;                       /* counted, told with the next line */
    else if (held == 0)
        log_warn("%s: egress: exchange to %s:%s refused: %s", sd->name, host, port, why);
    else
        log_warn("%s: egress: exchange to %s:%s refused: %s (and %llu more since the last line)",
                 sd->name, host, port, why, (unsigned long long)held);
    if (e == NULL) {            /* no state (set-up failed): the channel just closes */
        pn_xprt_free(data);
        return;
    }
    if (g == NULL) {
        g = xcalloc(sizeof(*g));
        g->sd = sd;
        g->fd = -1;
        pn_list_add(&e->pending, &g->node);
        g->deadline = ev_timer_new(sd->in->loop, on_deadline, g);
    }
    pn_dns_cancel(g->dns);
    g->dns = NULL;
    ev_io_free(g->io);
    if (g->fd != -1)
        close(g->fd);
    g->fd = -1;
    g->data = data;
    g->telling = 1;
    g->res_len = pn_result_encode(code, why, g->res, sizeof(g->res));
    g->res_off = 0;
    ev_timer_arm(g->deadline, sd->in->cfg->handshake_ms);
    on_tell(g->data, EV_WR, g);
}

static void
fail(struct egx *g, uint8_t code, const char *why)
{
    pn_xprt_t *data = g->data;
    g->data = NULL;
    refuse(g->sd, g, data, g->host, g->port, code, why);
}

static uint8_t
errno_code(int e)
{
    return e == ECONNREFUSED ? PN_RC_REFUSED : e == EHOSTUNREACH ? PN_RC_HOST_UNREACH
         : e == ETIMEDOUT ? PN_RC_TIMEOUT : PN_RC_NET_UNREACH;
}

static void
on_connect(int fd, int ready, void *arg)
{
    struct egx *g = arg;
    int e = pn_sock_error(fd);
    if (e != 0) {
        g->sd->in->stats.dial_fail++;
        fail(g, errno_code(e), strerror(e));
        return;
    }
    /* RESULT(OK) goes to the sender before the destination's first byte. */
    uint8_t ok[PN_RESULT_MAX];
    pn_link_info_t info = { .src = g->src, .dst = g->dst, .back = ok,
                            .back_len = pn_result_encode(PN_RC_OK, NULL, ok, sizeof(ok)) };
    pn_xprt_t *data = g->data, *exit_ = pn_raw_xprt_new(g->fd);
    struct pn_mode_side *sd = g->sd;
    g->data = NULL;
    g->fd = -1;
    egx_free(g);
    pn_link_pair(&sd->sess.links, data, exit_, &info);
}

static void
on_resolved(const pn_addr_t *a, const char *err, void *arg)
{
    struct egx *g = arg;
    char e[PN_ERR_LEN];
    g->dns = NULL;
    if (a == NULL) {
        fail(g, PN_RC_HOST_UNREACH, err != NULL ? err : "name not resolved");
        return;
    }
    if (!pn_mode_dest_allowed(g->sd->egress->allow, g->sd->egress->nallow, a)) {
        fail(g, PN_RC_NOT_ALLOWED, "destination is internal (not in allow=)");
        return;
    }
    g->fd = g->udp ? pn_dial_udp(a, g->sd->src, e) : pn_dial_tcp(a, g->sd->src, e);
    if (g->fd == -1) {
        int en = errno;
        g->sd->in->stats.dial_fail++;
        fail(g, errno_code(en), e);
        return;
    }
    if (g->udp) {               /* connected at once: say so, then the datagrams */
        g->telling = 2;
        g->res_len = pn_result_encode(PN_RC_OK, NULL, g->res, sizeof(g->res));
        ev_timer_arm(g->deadline, g->sd->in->cfg->handshake_ms);
        on_tell(g->data, EV_WR, g);
        return;
    }
    g->io = ev_io_new(g->sd->in->loop, g->fd, on_connect, g);
    ev_io_set(g->io, EV_WR);
}

static long
on_deadline(ev_timer_t *t, void *arg)
{
    struct egx *g = arg;
    if (g->telling) {           /* the RESULT could not be written (or not read) in time */
        egx_free(g);
        return EV_TIMER_STOP;
    }
    g->sd->in->stats.dial_fail++;
    fail(g, PN_RC_TIMEOUT, "timed out");
    return EV_TIMER_STOP;
}

void
pn_mode_side_exit_to(struct pn_mode_side *sd, uint8_t type, pn_xprt_t *data, const pn_addr_t *src,
                     const pn_addr_t *dst, const char *host, uint16_t port)
{
    char ps[6];
    if (host == NULL || host[0] == '\0') {
        pn_mode_side_exit(sd, type, data, src, dst);
        return;
    }
    snprintf(ps, sizeof(ps), "%u", port);
    if (sd->draining) {
        pn_mode_side_exit(sd, type, data, src, dst);        /* refused there */
        return;
    }
    if (sd->egress == NULL || !sd->egress->on) {
        refuse(sd, NULL, data, host, ps, PN_RC_NOT_ALLOWED, "this end was not started with egress=1");
        return;
    }
    if (!pn_links_admit(&sd->sess.links)) {
        pn_xprt_free(data);
        return;
    }
    struct egx *g = xcalloc(sizeof(*g));
    g->sd = sd;
    g->data = data;
    g->src = *src;
    g->dst = *dst;
    g->fd = -1;
    g->udp = type == PN_FT_UDP;
    snprintf(g->host, sizeof(g->host), "%s", host);
    memcpy(g->port, ps, sizeof(ps));
    pn_list_add(&sd->egress->pending, &g->node);
    g->deadline = ev_timer_new(sd->in->loop, on_deadline, g);
    ev_timer_arm(g->deadline, sd->in->cfg->dial_timeout_ms);
    /* IPv6 literals travel without brackets; the resolver takes them as they are. */
    pn_dns_req_t *r = pn_dns_resolve(sd->egress->dns, g->host, g->port, on_resolved, g);
    if (r != NULL)              /* else answered inside the call: <g> may be gone */
        g->dns = r;
}
