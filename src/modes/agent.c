/* modes/agent.c: a hub's client (agent://, docs/hub.md §2).
 *
 * The agent is a tunnel client (modes/client.c) whose flow is always reverse:
 * same control channel, pool and reconnection. On top, through the client's
 * hooks, it owns the routes it publishes:
 *
 *   session up   -> ROUTE_ADD for every route (the port it was given before, if any)
 *   ROUTE_OK     -> registered (port / full host name logged)
 *   ROUTE_FAIL   -> refused, reason logged; asked again at the next session or reload
 *                   (UNAVAILABLE: a clustered hub cannot decide yet: asked again in 1 s)
 *   TCP/UDP(id, route) -> dial that route's local service, relay
 *   probe result -> ROUTE_STATE online/offline when it changes
 *   SIGHUP       -> re-read config=: unchanged routes stay, removed ones ROUTE_DEL,
 *                   new ones ROUTE_ADD
 *
 * Route ids are never reused within a process, so a signal in flight for a
 * withdrawn route can never reach the route that replaced it. */
#include "modes/modes.h"
#include "core/log.h"
#include "core/mem.h"
#include "modes/client.h"
#include "modes/common.h"
#include "conf/hubconf.h"
#include "net/dns.h"
#include "route/dial.h"
#include "route/probe.h"
#include "tunnel/auth.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#define PROBE_TIMEOUT_MS 2000   /* a probe with no answer by then fails */

struct aroute {
    pn_list_t node;             /* in agent.routes */
    struct agent *ag;           /* back pointer */
    pn_conf_route_t spec;       /* owned */
    int from_file;              /* came from config= (reloadable) */
    uint32_t id;                /* on the wire; unique in the process */
    lb_set_t set;               /* the local service; owned */
    int state;                  /* ROUTE_* below */
    uint16_t given_port;        /* the port the hub gave last (asked for again) */
    int online;                 /* the probe's verdict (1 without a probe) */
    int was_online;             /* its probe succeeded once: "again" makes sense */
    route_probe_t *probe;       /* owned while one runs */
    ev_timer_t *probe_timer;    /* owned; NULL without a probe */
    uint64_t probe_fails;       /* consecutive failed probes */
    char probe_why[128];        /* the last failed probe's reason, "" before one */
    char refused_why[128];      /* the hub's reason when ROUTE_REFUSED */
    int retry;                  /* refused UNAVAILABLE: asked again by agent.retry */
};

enum { ROUTE_IDLE = 0, ROUTE_ASKED, ROUTE_REGISTERED, ROUTE_REFUSED };

struct agent {
    const pn_config_t *cfg;     /* borrowed */
    pn_client_t *cl;            /* borrowed, set by the start hook */
    tun_ctrl_t *ctrl;           /* borrowed: the session's, NULL between sessions */
    pn_list_t routes;           /* struct aroute, each owned */
    uint32_t next_id;
    ev_timer_t *retry;          /* owned: routes refused UNAVAILABLE are asked again */
};

#define RETRY_UNAVAILABLE_MS 1000

static void route_probe_now(struct aroute *r);

/* The agent's side of its STATE (docs/master.md "States"): degraded while a
 * route is refused by the hub or offline (its probe fails); the client
 * (pn_client_degraded) adds it to the session's own state. */
static void
agent_health(struct agent *ag)
{
    char issue[PN_INSTANCE_REASON_MAX] = "";
    size_t bad = 0;
    for (pn_list_t *p = ag->routes.next; p != &ag->routes; p = p->next) {
        struct aroute *r = pn_container_of(p, struct aroute, node);
        if (r->state != ROUTE_REFUSED && r->online)
            continue;
        if (bad++ > 0)
            continue;
        if (r->state == ROUTE_REFUSED)
            snprintf(issue, sizeof(issue), "route %s refused: %s", r->spec.name, r->refused_why);
        else if (r->probe_why[0] != '\0')
            snprintf(issue, sizeof(issue), "route %s offline: probe failed: %s", r->spec.name,
                     r->probe_why);
        else
            snprintf(issue, sizeof(issue), "route %s offline: waiting for its first probe",
                     r->spec.name);
    }
    if (bad > 1) {
        size_t len = strlen(issue);
        snprintf(issue + len, sizeof(issue) - len, " (and %zu more)", bad - 1);
    }
    if (ag->cl != NULL)
        pn_client_degraded(ag->cl, issue);
}

static const char *
route_label(const struct aroute *r)
{
    return r->spec.name;
}

static void
send_route(struct agent *ag, uint8_t type, const pn_frame_route_t *m)
{
    uint8_t p[4096];
    size_t n = pn_frame_route_encode(type, m, p, sizeof(p));
    if (ag->ctrl != NULL && n > 0)
        tun_ctrl_send(ag->ctrl, type, p, n);
}

static void
route_register(struct aroute *r)
{
    struct agent *ag = r->ag;
    pn_frame_route_t m;
    if (ag->ctrl == NULL)
        return;
    memset(&m, 0, sizeof(m));
    m.id = r->id;
    m.type = (uint8_t)r->spec.type;
    m.port = r->given_port ? r->given_port : r->spec.port;
    if (r->spec.host != NULL)
        snprintf(m.host, sizeof(m.host), "%s", r->spec.host);
    if (r->spec.group != NULL)
        snprintf(m.group, sizeof(m.group), "%s", r->spec.group);
    if (r->spec.group_key != NULL)
        snprintf(m.group_key, sizeof(m.group_key), "%s", r->spec.group_key);
    m.online = (uint8_t)r->online;
    snprintf(m.path, sizeof(m.path), "%s", r->spec.path ? r->spec.path : "");
    snprintf(m.host_header, sizeof(m.host_header), "%s", r->spec.host_header ? r->spec.host_header : "");
    snprintf(m.auth, sizeof(m.auth), "%s", r->spec.auth ? r->spec.auth : "");
    snprintf(m.allow, sizeof(m.allow), "%s", r->spec.allow ? r->spec.allow : "");
    m.redirect = (uint8_t)r->spec.redirect;
    m.h2c = (uint8_t)r->spec.h2c;
    send_route(ag, PN_FT_ROUTE_ADD, &m);
    memset(m.group_key, 0, sizeof(m.group_key));
    r->state = ROUTE_ASKED;
}

static void
route_withdraw(struct aroute *r)
{
    pn_frame_route_t m;
    if (r->state != ROUTE_ASKED && r->state != ROUTE_REGISTERED)
        return;
    memset(&m, 0, sizeof(m));
    m.id = r->id;
    send_route(r->ag, PN_FT_ROUTE_DEL, &m);
    r->state = ROUTE_IDLE;
}

static void
route_free(struct aroute *r)
{
    pn_list_del(&r->node);
    route_probe_cancel(r->probe);
    ev_timer_free(r->probe_timer);
    lb_clear(&r->set);
    pn_conf_route_clear(&r->spec);
    free(r);
}

static void
on_probe_done(int ok, const char *why, void *arg)
{
    struct aroute *r = arg;
    r->probe = NULL;
    r->probe_fails = ok ? 0 : r->probe_fails + 1;
    if (!ok)
        snprintf(r->probe_why, sizeof(r->probe_why), "%s", why);
    if (ok == r->online) {
        agent_health(r->ag);
        return;
    }
    r->online = ok;
    if (ok)
        log_info("agent: route %s online: its service answers%s", route_label(r),
                 r->was_online ? " again" : "");
    else
        log_warn("agent: route %s offline: probe failed: %s", route_label(r), why);
    r->was_online |= ok;
    if (r->state == ROUTE_REGISTERED || r->state == ROUTE_ASKED) {
        pn_frame_route_t m;
        memset(&m, 0, sizeof(m));
        m.id = r->id;
        m.online = (uint8_t)ok;
        send_route(r->ag, PN_FT_ROUTE_STATE, &m);
    }
    agent_health(r->ag);
}

static void
route_probe_now(struct aroute *r)
{
    pn_instance_t *in = pn_client_instance(r->ag->cl);
    /* Not the interval: a short interval on a busy machine would make a slow
     * answer look like a dead service. A probe still running skips its turn. */
    uint64_t timeout = PROBE_TIMEOUT_MS;
    if (r->probe != NULL)
        return;
    r->probe = route_probe_start(in->loop, &r->set.t[0].addr, r->spec.host,
                                 r->spec.probe == PN_PROBE_HTTP ? r->spec.probe_path : NULL,
                                 timeout, on_probe_done, r);
}

static long
on_probe_timer(ev_timer_t *t, void *arg)
{
    struct aroute *r = arg;
    route_probe_now(r);
    return (long)r->spec.probe_ms;
}

/* A route of <spec> (copied), its local service resolved now; NULL with <err>. */
static struct aroute *
route_new(struct agent *ag, const pn_conf_route_t *spec, int from_file, char *err)
{
    struct aroute *r = xcalloc(sizeof(*r));
    char sub[PN_ERR_LEN];
    r->ag = ag;
    pn_conf_route_copy(&r->spec, spec);
    r->from_file = from_file;
    lb_init(&r->set, LB_ROUND_ROBIN, 1, 0);
    r->set.t[0].host = xstrdup(spec->local_host);
    r->set.t[0].port = xstrdup(spec->local_port);
    if (pn_addr_resolve(spec->local_host, spec->local_port, 0, &r->set.t[0].addr, sub) != PN_OK) {
        pn_err_set(err, "route %s: local address: %s", spec->name, sub);
        lb_clear(&r->set);
        pn_conf_route_clear(&r->spec);
        free(r);
        return NULL;
    }
    r->id = ++ag->next_id;
    r->online = spec->probe == PN_PROBE_NONE;
    pn_list_add(&ag->routes, &r->node);
    return r;
}

/* Start probing <r> (once the loop exists): at once, then every interval. */
static void
route_start(struct aroute *r)
{
    pn_instance_t *in = pn_client_instance(r->ag->cl);
    if (r->spec.probe == PN_PROBE_NONE || r->probe_timer != NULL)
        return;
    r->probe_timer = ev_timer_new(in->loop, on_probe_timer, r);
    ev_timer_arm(r->probe_timer, r->spec.probe_ms);
    route_probe_now(r);
}

static struct aroute *
route_find(struct agent *ag, uint32_t id)
{
    for (pn_list_t *p = ag->routes.next; p != &ag->routes; p = p->next) {
        struct aroute *r = pn_container_of(p, struct aroute, node);
        if (r->id == id)
            return r;
    }
    return NULL;
}

/* ---- reload ---------------------------------------------------------------- */

static void
agent_reload(struct agent *ag)
{
    char err[PN_ERR_LEN];
    pn_conf_route_t *specs = NULL;
    size_t n = 0, kept = 0, added = 0, removed = 0;
    if (ag->cfg->routes_file == NULL) {
        log_info("agent: SIGHUP: no config= file to re-read");
        return;
    }
    if (pn_routes_load(ag->cfg->routes_file, &specs, &n, err) != PN_OK) {
        log_error("agent: reload failed, routes unchanged: %s", err);
        return;
    }
    char *matched = xcalloc(n + 1);
    for (pn_list_t *p = ag->routes.next, *next; p != &ag->routes; p = next) {
        struct aroute *r = pn_container_of(p, struct aroute, node);
        next = p->next;
        if (!r->from_file)
            continue;
        size_t i;
        for (i = 0; i < n; i++)
            if (!matched[i] && pn_conf_route_equal(&specs[i], &r->spec))
                break;
        if (i < n) {
            matched[i] = 1;
            kept++;
            continue;
        }
        log_info("agent: route %s withdrawn (no longer in %s)", route_label(r),
                 ag->cfg->routes_file);
        route_withdraw(r);
        route_free(r);
        removed++;
    }
    for (size_t i = 0; i < n; i++) {
        if (matched[i])
            continue;
        struct aroute *r = route_new(ag, &specs[i], 1, err);
        if (r == NULL) {
            log_error("agent: %s", err);
            continue;
        }
        route_start(r);
        route_register(r);
        added++;
    }
    /* Routes refused before get another chance with each reload. */
    for (pn_list_t *p = ag->routes.next; p != &ag->routes; p = p->next) {
        struct aroute *r = pn_container_of(p, struct aroute, node);
        if (r->state == ROUTE_REFUSED)
            route_register(r);
    }
    log_info("agent: reloaded %s: %zu routes kept, %zu added, %zu withdrawn",
             ag->cfg->routes_file, kept, added, removed);
    agent_health(ag);
    free(matched);
    pn_routes_free(specs, n);
}

static void
on_hup(pn_instance_t *in, void *arg)
{
    struct agent *ag = arg;
    agent_reload(ag);
    pn_client_reload(ag->cl);
}

/* ---- client hooks ---------------------------------------------------------- */

/* The hub could not decide (its cluster registry was unreachable): ask again. */
static long
on_retry(ev_timer_t *t, void *arg)
{
    struct agent *ag = arg;
    (void)t;
    for (pn_list_t *p = ag->routes.next; p != &ag->routes; p = p->next) {
        struct aroute *r = pn_container_of(p, struct aroute, node);
        if (r->state == ROUTE_REFUSED && r->retry) {
            r->retry = 0;
            route_register(r);
        }
    }
    return EV_TIMER_STOP;
}

static void
hook_start(pn_client_t *cl, void *ctx)
{
    struct agent *ag = ctx;
    ag->cl = cl;
    ag->retry = ev_timer_new(pn_client_instance(cl)->loop, on_retry, ag);
    pn_client_instance(cl)->reload = on_hup;
    pn_client_instance(cl)->reload_ctx = ag;
    for (pn_list_t *p = ag->routes.next; p != &ag->routes; p = p->next)
        route_start(pn_container_of(p, struct aroute, node));
    agent_health(ag);
}

static void
hook_ready(pn_client_t *cl, tun_ctrl_t *ctrl, void *ctx)
{
    struct agent *ag = ctx;
    ag->ctrl = ctrl;
    for (pn_list_t *p = ag->routes.next; p != &ag->routes; p = p->next)
        route_register(pn_container_of(p, struct aroute, node));
}

static void
hook_ended(pn_client_t *cl, void *ctx)
{
    struct agent *ag = ctx;
    ag->ctrl = NULL;
    for (pn_list_t *p = ag->routes.next; p != &ag->routes; p = p->next) {
        struct aroute *r = pn_container_of(p, struct aroute, node);
        if (r->state != ROUTE_REFUSED)
            r->state = ROUTE_IDLE;
    }
}

static int
hook_frame(pn_client_t *cl, const pn_frame_t *f, void *ctx)
{
    struct agent *ag = ctx;
    pn_frame_route_t m;
    const char *why;
    if ((f->type != PN_FT_ROUTE_OK && f->type != PN_FT_ROUTE_FAIL) ||
        pn_frame_route_decode(f->type, f->payload, f->len, &m, &why) != PN_OK)
        return PN_ERR;
    struct aroute *r = route_find(ag, m.id);
    if (r == NULL || r->state != ROUTE_ASKED)
        return PN_OK;           /* withdrawn meanwhile: the hub's answer is moot */
    if (f->type == PN_FT_ROUTE_FAIL) {
        r->state = ROUTE_REFUSED;
        if (m.code == PN_RF_TAKEN && r->given_port != 0 && r->given_port != r->spec.port) {
            /* The port we had is someone else's now: take any next time. */
            r->given_port = 0;
            route_register(r);
            return PN_OK;
        }
        char said[sizeof(r->refused_why)];
        snprintf(said, sizeof(said), "%.20s: %.100s", pn_frame_route_fail_name(m.code), m.reason);
        if (m.code != PN_RF_UNAVAILABLE || strcmp(said, r->refused_why) != 0)   /* once per outage */
            log_error("agent: route %s refused (%s): %s", route_label(r),
                      pn_frame_route_fail_name(m.code), m.reason);
        if (m.code == PN_RF_UNAVAILABLE && ag->retry != NULL) {
            r->retry = 1;
            ev_timer_arm(ag->retry, RETRY_UNAVAILABLE_MS);
        }
        memcpy(r->refused_why, said, sizeof(said));
        agent_health(ag);
        return PN_OK;
    }
    r->state = ROUTE_REGISTERED;
    r->refused_why[0] = '\0';
    agent_health(ag);
    if (r->spec.type == PN_RT_TCP || r->spec.type == PN_RT_UDP) {
        r->given_port = m.port;
        log_info("agent: route %s registered on the hub's port %u%s", route_label(r),
                 (unsigned)m.port, r->online ? "" : " (offline until its probe succeeds)");
    } else {
        log_info("agent: route %s registered as %s%s", route_label(r), m.host,
                 r->online ? "" : " (offline until its probe succeeds)");
    }
    return PN_OK;
}

static void
hook_exit(pn_client_t *cl, uint32_t route, uint8_t type, pn_xprt_t *data, const pn_addr_t *src,
          const pn_addr_t *dst, void *ctx)
{
    struct agent *ag = ctx;
    struct pn_mode_side *sd = pn_client_side(cl);
    char err[PN_ERR_LEN];
    struct aroute *r = route_find(ag, route);
    int want = (type == PN_FT_UDP) ? PN_RT_UDP : -1;
    if (r == NULL || (want == PN_RT_UDP) != (r->spec.type == PN_RT_UDP)) {
        log_debug("agent: an exchange for a route we do not hold (%u)", (unsigned)route);
        pn_xprt_free(data);
        return;
    }
    if (!pn_links_admit(&sd->sess.links)) {
        pn_xprt_free(data);
        return;
    }
    if (type == PN_FT_TCP) {
        pn_link_info_t info = { .src = *src, .dst = *dst, .set = &r->set };
        pn_link_dial(&sd->sess.links, data, &info);
        return;
    }
    int fd = route_dial_udp(&r->set, sd->src, err);
    if (fd == -1) {
        pn_client_instance(cl)->stats.dial_fail++;
        log_warn("agent: route %s: udp: %s", route_label(r), err);
        pn_xprt_free(data);
        return;
    }
    udp_sess_new_stream(sd->udp, data, fd, NULL, 0);
}

static void
hook_stop(pn_client_t *cl, void *ctx)
{
    struct agent *ag = ctx;
    ev_timer_free(ag->retry);
    for (pn_list_t *p = ag->routes.next; p != &ag->routes; p = p->next) {
        struct aroute *r = pn_container_of(p, struct aroute, node);
        route_probe_cancel(r->probe);
        r->probe = NULL;
        ev_timer_free(r->probe_timer);
    }
}

int
pn_agent_run(const pn_config_t *cfg)
{
    struct agent ag;
    char err[PN_ERR_LEN], id[TUN_HUB_ID_LEN + 1];
    uint8_t psk[TUN_PSK_LEN];
    pn_conf_route_t *specs = NULL;
    size_t n = 0;
    int rc = PN_EXIT_USAGE;

    memset(&ag, 0, sizeof(ag));
    ag.cfg = cfg;
    pn_list_init(&ag.routes);
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (route_new(&ag, &cfg->routes[i], 0, err) == NULL)
            goto usage;
    if (cfg->routes_file != NULL) {
        if (pn_routes_load(cfg->routes_file, &specs, &n, err) != PN_OK)
            goto usage;
        for (size_t i = 0; i < n; i++)
            if (route_new(&ag, &specs[i], 1, err) == NULL)
                goto usage;
    }
    tun_hub_psk(cfg->key, psk);
    tun_hub_identity(cfg->key, id);
    pn_tls_ctx_t *ctx = pn_tls_psk_client_new(psk, sizeof(psk), id, err);
    memset(psk, 0, sizeof(psk));
    if (ctx == NULL)
        goto usage;
    pn_client_hooks_t h = {
        .ctx = &ag, .start = hook_start, .ready = hook_ready, .ended = hook_ended,
        .frame = hook_frame, .exit = hook_exit, .stop = hook_stop,
    };
    rc = pn_client_run_hooked(cfg, ctx, &h);
    goto out;
usage:
    pn_fail(PN_EXIT_USAGE, err);
out:
    while (!pn_list_empty(&ag.routes)) {
        struct aroute *r = pn_container_of(ag.routes.next, struct aroute, node);
        r->probe = NULL;        /* cancelled by hook_stop with the loop */
        r->probe_timer = NULL;
        route_free(r);
    }
    pn_routes_free(specs, n);
    return rc;
}
