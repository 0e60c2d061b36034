/* modes/single.c: the single-end forwarder (client:// with no server).
 *
 *   TCP: user --accept--> entry (TLS termination when tls>=1) --dial (lbs)--> target
 *                          \______________ link: dial, then relay _____________/
 *   UDP: user --datagram--> table (a session per user address) --socket (lbs)--> target
 */
#include "modes/modes.h"
#include "core/log.h"
#include "modes/common.h"
#include "relay/entry.h"
#include "modes/instance.h"
#include "relay/link.h"
#include "net/sock.h"
#include "relay/udp.h"
#include "route/proxy.h"
#include "route/dial.h"

#include <string.h>

struct single {
    pn_instance_t in;
    lb_set_t set;               /* owned */
    pn_addr_t src;              /* dial source */
    int has_src;
    pn_tls_ctx_t *tls;          /* owned or NULL */
    pn_entry_t *entry;          /* owned; NULL with notcp=1 */
    udp_group_t *udp;           /* owned; NULL with noudp=1 */
    udp_table_t *table;         /* owned; the UDP listener */
    route_prober_t *prober;     /* owned; lbs=1 only */
    pn_links_t links;           /* every user exchange */
};

static void
on_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    struct single *sg = arg;
    if (!pn_links_admit(&sg->links)) {
        pn_xprt_free(x);
        return;
    }
    pn_link_info_t info = { .src = *peer, .dst = *local, .user = 1 };
    pn_link_dial(&sg->links, x, &info);
}

/* A datagram from a new user address: a session with its own socket to a
 * target, chosen by the policy. */
static void
on_udp_peer(udp_table_t *t, const pn_addr_t *peer, const uint8_t *d, size_t len, void *arg)
{
    struct single *sg = arg;
    char err[PN_ERR_LEN];
    if (!pn_links_admit(&sg->links)) {
        sg->in.stats.udp_drops++;
        return;
    }
    int fd = route_dial_udp(&sg->set, sg->links.src, err);
    if (fd == -1) {
        sg->in.stats.dial_fail++;
        log_warn("single-end: udp: %s", err);
        return;
    }
    uint8_t hdr[PN_PROXY_MAX];
    udp_sess_t *s = udp_sess_new_peer(t, peer, fd, NULL);
    udp_sess_set_header(s, hdr, pn_mode_udp_proxy_header(sg->in.cfg->proxy, peer, udp_table_local(t), hdr));
    udp_sess_from_entry(s, d, len);
}

static void
single_stop(pn_instance_t *in, void *arg)
{
    struct single *sg = arg;
    udp_table_free(sg->table);
    udp_group_free(sg->udp);
    pn_entry_free(sg->entry);
    route_prober_free(sg->prober);
    pn_links_close_all(&sg->links);
}

/* Graceful shutdown: no new TCP users (the listener closes); open TCP links go
 * on. The UDP table holds the sessions as well as the listening socket, so UDP
 * is served until the final stop. */
static void
single_drain(pn_instance_t *in, void *arg)
{
    struct single *sg = arg;
    pn_entry_free(sg->entry);
    route_prober_free(sg->prober);
}

/* Before each report: the STATE (docs/master.md "States"). A target is down
 * after a failed dial or probe, until one succeeds; degraded while all are. */
static void
single_refresh(pn_instance_t *in, void *arg)
{
    struct single *sg = arg;
    size_t down = 0;
    for (size_t i = 0; i < sg->set.n; i++)
        down += sg->set.t[i].down != 0;
    if (sg->set.n > 0 && down == sg->set.n)
        pn_instance_state(in, "degraded", "every target down (%zu of %zu)", down, sg->set.n);
    else if (down > 0)
        pn_instance_state(in, "connected", "serving; %zu of %zu targets down", down, sg->set.n);
    else
        pn_instance_state(in, "connected", "serving %zu target(s)", sg->set.n);
}

static size_t
single_busy(pn_instance_t *in, void *arg)
{
    struct single *sg = arg;
    return sg->links.n;
}

int
pn_single_run(const pn_config_t *cfg)
{
    struct single sg;
    char err[PN_ERR_LEN], s[PN_ADDRSTRLEN];
    pn_addr_t listen_addr;
    int rc = PN_EXIT_USAGE;

    memset(&sg, 0, sizeof(sg));
    if (pn_addr_resolve(cfg->host, cfg->port, 1, &listen_addr, err) != PN_OK) {
        char sub[PN_ERR_LEN];
        memcpy(sub, err, sizeof(sub));
        pn_err_set(err, "listen: %s", sub);
        return pn_fail(PN_EXIT_USAGE, err);
    }
    if (pn_targets_resolve(cfg, &sg.set, err) != PN_OK)
        return pn_fail(PN_EXIT_USAGE, err);
    if (pn_targets_check_loop(&sg.set, &listen_addr, err) != PN_OK ||
        pn_mode_dial_source(cfg, &sg.src, &sg.has_src, err) != PN_OK ||
        pn_mode_tls_server(cfg, &sg.tls, err) != PN_OK) {
        pn_fail(PN_EXIT_USAGE, err);
        goto out;
    }
    int lfd = -1, ufd = -1;
    if (!cfg->notcp && (lfd = pn_listen_tcp(&listen_addr, 4096, NULL, err)) == -1) {
        rc = pn_fail(PN_EXIT_RUNTIME, err);
        goto out;
    }
    if (!cfg->noudp && (ufd = pn_listen_udp(&listen_addr, err)) == -1) {
        pn_close(lfd);
        rc = pn_fail(PN_EXIT_RUNTIME, err);
        goto out;
    }

    pn_instance_init(&sg.in, cfg, 1);
    sg.in.stop = single_stop;
    sg.in.stop_ctx = &sg;
    sg.in.drain = single_drain;
    sg.in.busy = single_busy;
    sg.in.refresh = single_refresh;
    pn_instance_links(&sg.in, &sg.links, "single-end");
    sg.links.set = &sg.set;
    sg.links.src = sg.has_src ? &sg.src : NULL;
    if (lfd != -1) {
        sg.entry = pn_entry_new(sg.in.loop, lfd, sg.tls, cfg->handshake_ms, on_user, &sg);
        pn_gate_live_on(pn_entry_gate(sg.entry));       /* live connections per source */
    }
    if (ufd != -1) {
        sg.udp = pn_instance_udp_group(&sg.in);
        sg.table = udp_table_new(sg.in.loop, ufd, sg.udp, on_udp_peer, &sg);
    }
    pn_instance_dns(&sg.in, &sg.set);
    if (cfg->lbs == LB_LATENCY && sg.set.n > 1)
        sg.prober = route_prober_new(sg.in.loop, &sg.set, sg.links.src, cfg->report_ms,
                                     cfg->dial_timeout_ms);
    log_info("single-end: listening on %s (%s%s%s, tls=%d), %zu target(s), lbs=%d",
             pn_addr_str(&listen_addr, s), cfg->notcp ? "" : "tcp", cfg->notcp || cfg->noudp ? "" : "+",
             cfg->noudp ? "" : "udp", cfg->tls, sg.set.n, (int)cfg->lbs);
    for (size_t i = 0; i < sg.set.n; i++)
        log_info("single-end: target %zu: %s", i, pn_addr_str(&sg.set.t[i].addr, s));
    single_refresh(&sg.in, &sg);
    rc = pn_instance_run(&sg.in);
    single_stop(&sg.in, &sg);
    log_info("single-end: stopped");
    pn_instance_clear(&sg.in);
out:
    pn_tls_ctx_free(sg.tls);
    lb_clear(&sg.set);
    return rc;
}
