/* modes/egress.c: the tunnel end that dials the destination a signal names
 * (TARGET, docs/protocol.md §5.2) instead of its fixed targets: only with
 * egress=1, names resolved without blocking, internal destinations refused
 * unless allow= lists them, TCP only (a UDP exchange with a TARGET is refused).
 *
 *   signal TCP(id, TARGET host:port) --> pn_mode_side_exit_to --> resolve
 *       --> allowed? --> connect (under the dial deadline) --> link: relay */
#include "modes/egress.h"
#include "conf/users.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/dns.h"
#include "net/sock.h"
#include "tunnel/frame.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct pn_mode_egress {
    pn_dns_t *dns;              /* owned */
    pn_cidr_t *allow;           /* owned: internal networks allowed (allow=) */
    size_t nallow;
    pn_list_t pending;          /* struct egx resolving or connecting */
    pn_ratelim_t note;          /* refusal lines, once a second */
};

/* One exchange on its way to its destination. */
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
    ev_timer_t *deadline;       /* owned: resolve + connect */
};

int
pn_mode_egress_setup(struct pn_mode_side *sd, const pn_config_t *cfg, char *err)
{
    if (!cfg->egress)
        return PN_OK;
    struct pn_mode_egress *e = xcalloc(sizeof(*e));
    pn_list_init(&e->pending);
    e->note.interval_ms = 1000;
    if (cfg->allow != NULL && pn_cidr_list_parse(cfg->allow, &e->allow, &e->nallow, err) != PN_OK) {
        free(e);
        return PN_ERR;
    }
    e->dns = pn_dns_new(sd->in->loop, cfg->dns_server, err);
    if (e->dns == NULL) {
        free(e->allow);
        free(e);
        return PN_ERR;
    }
    sd->egress = e;
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

/* Refuse the exchange: its data channel closes, which the user's side sees. */
static void
refuse(struct pn_mode_side *sd, pn_xprt_t *data, const char *host, const char *port, const char *why)
{
    static pn_ratelim_t off_note = { .interval_ms = 1000 };
    pn_ratelim_t *r = sd->egress != NULL ? &sd->egress->note : &off_note;
    uint64_t held;
    sd->in->stats.refused++;
    if (!pn_ratelim_pass(r, pn_now_ms(), &held))
        ;                       /* counted, told with the next line */
    else if (held == 0)
        log_warn("%s: egress: exchange to %s:%s refused: %s", sd->name, host, port, why);
    else
        log_warn("%s: egress: exchange to %s:%s refused: %s (and %llu more since the last line)",
                 sd->name, host, port, why, (unsigned long long)held);
    pn_xprt_free(data);
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

static void
fail(struct egx *g, const char *why)
{
    pn_xprt_t *data = g->data;
    g->data = NULL;
    refuse(g->sd, data, g->host, g->port, why);
    egx_free(g);
}

static void
on_connect(int fd, int ready, void *arg)
{
    struct egx *g = arg;
    int e = pn_sock_error(fd);
    if (e != 0) {
        g->sd->in->stats.dial_fail++;
        fail(g, strerror(e));
        return;
    }
    pn_link_info_t info = { .src = g->src, .dst = g->dst };
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
        fail(g, err != NULL ? err : "name not resolved");
        return;
    }
    if (!pn_mode_dest_allowed(g->sd->egress->allow, g->sd->egress->nallow, a)) {
        fail(g, "destination is internal (not in allow=)");
        return;
    }
    g->fd = pn_dial_tcp(a, g->sd->src, e);
    if (g->fd == -1) {
        g->sd->in->stats.dial_fail++;
        fail(g, e);
        return;
    }
    g->io = ev_io_new(g->sd->in->loop, g->fd, on_connect, g);
    ev_io_set(g->io, EV_WR);
}

static long
on_deadline(ev_timer_t *t, void *arg)
{
    struct egx *g = arg;
    g->sd->in->stats.dial_fail++;
    fail(g, "timed out");
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
    if (sd->egress == NULL) {
        refuse(sd, data, host, ps, "this end was not started with egress=1");
        return;
    }
    if (type != PN_FT_TCP) {
        refuse(sd, data, host, ps, "UDP to a named destination is not supported");
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
