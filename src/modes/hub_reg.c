/* modes/hub_reg.c: the in-process route registry (hub_reg_mem_new, see
 * hub_reg.h): routes by port, host or group; their members, one per agent
 * that registered it; a route's listener; routes held for their account
 * after their agents left. Answers every call at once. */
#include "modes/hub_reg.h"
#include "modes/hub_rules.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"
#include "route/http.h"
#include "tls/digest.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MEM_WATCH_MAX 4

typedef struct mem_reg {
    hub_reg_t base;
    hub_reg_env_t env;
    pn_list_t routes;           /* struct hroute, owned */
    struct hroute **tab;        /* owned: <routes> by type and port or host, <nb> chains */
    size_t nb, n;
    struct {
        hub_reg_watch_cb cb;
        void *arg;
    } watch[MEM_WATCH_MAX];
    size_t nwatch;
} mem_reg_t;

static void
mem_tell(mem_reg_t *g, hub_reg_event_t ev, struct hroute *r, struct hmember *m)
{
    for (size_t i = 0; i < g->nwatch; i++)
        g->watch[i].cb(ev, r, m, g->watch[i].arg);
}

/* The hash of a route's key: its type and port (tcp, udp) or host (http, https). */
static size_t
route_hash(uint8_t type, uint16_t port, const char *host)
{
    uint64_t h = 1469598103934665603ULL ^ type;     /* FNV-1a */
    h = (h ^ port) * 1099511628211ULL;
    for (; host != NULL && *host; host++)
        h = (h ^ (unsigned char)*host) * 1099511628211ULL;
    return (size_t)h;
}

static size_t
route_slot(const mem_reg_t *g, const struct hroute *r)
{
    return route_hash(r->type, r->port, r->port ? NULL : r->host) & (g->nb - 1);
}

/* Index <r> (its port or host set), the table doubling as it fills. */
static void
index_add(mem_reg_t *g, struct hroute *r)
{
    if (g->n >= g->nb) {
        size_t onb = g->nb;
        struct hroute **old = g->tab;
        g->nb = onb ? onb * 2 : 64;
        g->tab = xcalloc(g->nb * sizeof(*g->tab));
        for (size_t i = 0; i < onb; i++) {
            for (struct hroute *q = old[i], *nx; q != NULL; q = nx) {
                nx = q->hnext;
                size_t k = route_slot(g, q);
                q->hnext = g->tab[k];
                g->tab[k] = q;
            }
        }
        free(old);
    }
    size_t k = route_slot(g, r);
    r->hnext = g->tab[k];
    g->tab[k] = r;
    g->n++;
}

static void
index_del(mem_reg_t *g, struct hroute *r)
{
    if (g->nb == 0)
        return;
    for (struct hroute **p = &g->tab[route_slot(g, r)]; *p != NULL; p = &(*p)->hnext) {
        if (*p == r) {
            *p = r->hnext;
            g->n--;
            return;
        }
    }
}

static struct hroute *
mem_by_host(hub_reg_t *base, uint8_t type, const char *host)
{
    mem_reg_t *g = (mem_reg_t *)base;
    if (g->nb == 0)
        return NULL;
    for (struct hroute *r = g->tab[route_hash(type, 0, host) & (g->nb - 1)]; r; r = r->hnext)
        if (r->type == type && r->port == 0 && strcmp(r->host, host) == 0)
            return r;
    return NULL;
}

static struct hroute *
mem_by_port(hub_reg_t *base, uint8_t type, uint16_t port)
{
    mem_reg_t *g = (mem_reg_t *)base;
    if (g->nb == 0 || port == 0)
        return NULL;
    for (struct hroute *r = g->tab[route_hash(type, port, NULL) & (g->nb - 1)]; r; r = r->hnext)
        if (r->type == type && r->port == port)
            return r;
    return NULL;
}

static struct hroute *
mem_by_group(hub_reg_t *base, uint8_t type, const char *group)
{
    mem_reg_t *g = (mem_reg_t *)base;
    for (pn_list_t *p = g->routes.next; p != &g->routes; p = p->next) {
        struct hroute *r = pn_container_of(p, struct hroute, node);
        if (r->type == type && r->group[0] != '\0' && strcmp(r->group, group) == 0)
            return r;
    }
    return NULL;
}

static struct hmember *
mem_pick(hub_reg_t *base, struct hroute *r)
{
    (void)base;
    pn_list_t *start = r->cursor ? r->cursor : &r->members;
    pn_list_t *p = start;
    for (size_t i = 0; i <= r->nmembers; i++) {
        p = p->next;
        if (p == &r->members)
            continue;
        struct hmember *m = pn_container_of(p, struct hmember, rnode);
        if (m->online && !m->sess->ending && m->sess->t.ctrl != NULL) {
            r->cursor = p;
            return m;
        }
    }
    return NULL;
}

static void
route_free(mem_reg_t *g, struct hroute *r)
{
    /* Whoever watches (exchanges counting it, the HTTP router) lets go of it. */
    mem_tell(g, HUB_REG_GONE, r, NULL);
    index_del(g, r);
    pn_list_del(&r->node);
    pn_entry_free(r->entry);
    udp_table_free(r->utable);
    udp_group_free(r->udp);
    hub_rules_free(r);
    if (r->type == PN_RT_TCP || r->type == PN_RT_UDP)
        log_info("hub: port %u (%s) closed", (unsigned)r->port, pn_conf_route_type_name(r->type));
    free(r);
}

/* Free <m>. A route left without members is freed too when <hold> is 0 (the
 * agent withdrew it), else held for its account (the agent is gone). */
static void
member_free(mem_reg_t *g, struct hmember *m, int hold)
{
    struct hroute *r = m->route;
    mem_tell(g, HUB_REG_DEL, r, m);
    if (r->cursor == &m->rnode)
        r->cursor = m->rnode.prev == &r->members ? NULL : m->rnode.prev;
    pn_list_del(&m->rnode);
    pn_list_del(&m->snode);
    r->nmembers--;
    m->sess->acct->nroutes--;
    free(m);
    if (r->nmembers > 0)
        return;
    /* Kept for its account a while (POSTERN_HUB_HOLD): an agent that reconnects
     * finds its port or host again, and users meanwhile get "not connected"
     * (502) rather than "no such route" (404). Swept by on_tick. */
    r->orphan_ms = pn_now_ms();
    r->cursor = NULL;
    if (!hold || g->env.cfg->hub_hold_ms == 0 || (g->env.stopping && *g->env.stopping))
        route_free(g, r);
}

static void
mem_release(hub_reg_t *base, struct hmember *m)
{
    member_free((mem_reg_t *)base, m, 0);
}

static void
mem_release_sess(hub_reg_t *base, struct hsess *s, int hold)
{
    while (!pn_list_empty(&s->members))
        member_free((mem_reg_t *)base, pn_container_of(s->members.next, struct hmember, snode),
                    hold);
}

static struct hmember *
mem_member(hub_reg_t *base, struct hsess *s, uint32_t id)
{
    (void)base;
    for (pn_list_t *p = s->members.next; p != &s->members; p = p->next) {
        struct hmember *m = pn_container_of(p, struct hmember, snode);
        if (m->id == id)
            return m;
    }
    return NULL;
}

/* Open the listener of a new tcp/udp route on <port>; 0, or -1 when the port is in use. */
static int
route_listen(mem_reg_t *g, struct hroute *r, uint16_t port, char *err)
{
    pn_addr_t a = g->env.public_addr;
    pn_addr_set_port(&a, port);
    if (r->type == PN_RT_TCP) {
        int fd = pn_listen_tcp(&a, 1024, NULL, err);
        if (fd == -1)
            return -1;
        r->entry = pn_entry_new(g->env.loop, fd, NULL, g->env.cfg->handshake_ms, g->env.tcp_user, r);
        pn_gate_live_on(pn_entry_gate(r->entry));       /* live connections per source */
    } else {
        int fd = pn_listen_udp(&a, err);
        if (fd == -1)
            return -1;
        r->utable = udp_table_new(g->env.loop, fd, r->udp, g->env.udp_peer, r);
    }
    r->port = port;
    return 0;
}

/* A new route of <acct> named <host> ("" for tcp, udp), its name allocated with it. */
static struct hroute *
route_new(mem_reg_t *g, uint8_t type, struct hacct *acct, const char *host)
{
    size_t n = strlen(host) + 1;
    struct hroute *r = xcalloc(sizeof(*r) + n);
    memcpy(r->host, host, n);
    r->hub = g->env.hub;
    r->type = type;
    r->acct = acct;
    pn_list_init(&r->members);
    if (type == PN_RT_UDP) {
        udp_counters_t c = {
            .rx = &acct->st.udp_rx, .tx = &acct->st.udp_tx, .sessions = &acct->st.udps,
            .drops = &acct->st.udp_drops, .limit = acct->mbps ? &acct->bw : NULL,
        };
        r->udp = udp_group_new(g->env.loop, g->env.cfg->udp_idle_ms, &c);
    }
    return r;
}

/* Tell <cb> that claim <m> of <s> is refused with <code> and a reason made
 * from <fmt> (cut to the frame's reason size); return PN_OK. */
int
hub_reg_refuse(struct hsess *s, const pn_frame_route_t *m, hub_reg_claim_cb cb, void *arg, uint16_t code,
       const char *fmt, ...)
{
    char reason[sizeof(((pn_frame_route_t *)0)->reason)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    cb(s, m, NULL, code, reason, arg);
    return PN_OK;
}

/* The full host name of an http/https route asked as <asked>: the domain=
 * added to a name without a dot, lower case, into <host>; PN_ERR when it is
 * not a valid host name (<host> still holds it, for the message). */
int
hub_reg_host_name(const pn_config_t *cfg, const char *asked, char host[PN_ROUTE_HOST_MAX + 1])
{
    size_t hl = strlen(asked);
    if (strchr(asked, '.') == NULL && cfg->domain != NULL &&
        hl + 1 + strlen(cfg->domain) < PN_ROUTE_HOST_MAX + 1) {
        memcpy(host, asked, hl);
        host[hl] = '.';
        memcpy(host + hl + 1, cfg->domain, strlen(cfg->domain) + 1);
    } else {
        snprintf(host, PN_ROUTE_HOST_MAX + 1, "%s", asked);
    }
    for (char *c = host; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return pn_http_host_valid(host) ? PN_OK : PN_ERR;
}

/* Free <r>, a route of the memory registry <base> that has no member left
 * (held for its account): another hub took it over. Its watchers hear GONE. */
void
hub_reg_mem_drop(hub_reg_t *base, struct hroute *r)
{
    if (r->nmembers == 0)
        route_free((mem_reg_t *)base, r);
}

/* Group key check: <r> has a key equal to <key> (constant time on the hashes). */
static int
gkey_match(const struct hroute *r, const char *key)
{
    uint8_t d[32];
    if (!r->has_gkey || key[0] == '\0')
        return 0;
    pn_sha256((const uint8_t *)key, strlen(key), d);
    return pn_memeq_ct(d, r->gkey, sizeof(d)) == 0;
}

/* Nonzero when <r> has no member left and is held for <a>, whose agent takes it back. */
static int
held_for(const struct hroute *r, const struct hacct *a)
{
    return r->nmembers == 0 && r->acct == a;
}

/* A free port for a new route of <type> that <a> may take, or 0. */
static uint16_t
port_assign(mem_reg_t *g, uint8_t type, const struct hacct *a, struct hroute *r, char *err)
{
    for (uint32_t p = g->env.cfg->ports_lo; p <= g->env.cfg->ports_hi; p++) {
        if (!pn_account_port_ok(&a->allow, (uint16_t)p) ||
            mem_by_port(&g->base, type, (uint16_t)p) != NULL)
            continue;
        if (route_listen(g, r, (uint16_t)p, err) == 0)
            return (uint16_t)p;
    }
    return 0;
}

/* The claim, answered before it returns; PN_OK. */
static int
claim(hub_reg_t *base, struct hsess *s, const pn_frame_route_t *m, hub_reg_claim_cb cb, void *arg)
{
    mem_reg_t *g = (mem_reg_t *)base;
    const pn_config_t *cfg = g->env.cfg;
    struct hacct *a = s->acct;
    struct hroute *r = NULL;
    char host[PN_ROUTE_HOST_MAX + 1], err[PN_ERR_LEN];
    char key[PN_ROUTE_HOST_MAX + PN_ROUTE_PATH_MAX + 1];
    int created = 0;

    if (mem_member(base, s, m->id) != NULL)
        return hub_reg_refuse(s, m, cb, arg, PN_RF_EXISTS, "route id %u is already registered",
                      (unsigned)m->id);
    if (a->max_routes != 0 && a->nroutes + a->routes_elsewhere >= a->max_routes)
        return hub_reg_refuse(s, m, cb, arg, PN_RF_LIMIT, "the account has its %u routes already%s",
                      (unsigned)a->max_routes,
                      a->routes_elsewhere ? " (counted on every hub of the cluster)" : "");
    if (m->type == PN_RT_TCP || m->type == PN_RT_UDP) {
        const char *tn = pn_conf_route_type_name(m->type);
        if (cfg->ports_lo == 0)
            return hub_reg_refuse(s, m, cb, arg, PN_RF_INVALID, "this hub publishes no ports (ports=)");
        if (m->group[0] != '\0' && (r = mem_by_group(base, m->type, m->group)) != NULL) {
            if (!held_for(r, a) && !gkey_match(r, m->group_key))
                return hub_reg_refuse(s, m, cb, arg, PN_RF_TAKEN, "group %s exists with another group key",
                              m->group);
        } else if (m->port != 0) {
            if (m->port < cfg->ports_lo || m->port > cfg->ports_hi)
                return hub_reg_refuse(s, m, cb, arg, PN_RF_DENIED, "port %u is outside the hub's range %u-%u",
                              (unsigned)m->port, (unsigned)cfg->ports_lo,
                              (unsigned)cfg->ports_hi);
            if (!pn_account_port_ok(&a->allow, m->port))
                return hub_reg_refuse(s, m, cb, arg, PN_RF_DENIED, "port %u is not allowed for the account",
                              (unsigned)m->port);
            r = mem_by_port(base, m->type, m->port);
            if (r != NULL && !held_for(r, a) &&
                !(r->group[0] == '\0' && m->group[0] == '\0' && gkey_match(r, m->group_key)))
                return hub_reg_refuse(s, m, cb, arg, PN_RF_TAKEN, "%s port %u is taken", tn, (unsigned)m->port);
            if (r == NULL) {
                r = route_new(g, m->type, a, "");
                if (route_listen(g, r, m->port, err) != 0) {
                    udp_group_free(r->udp);
                    free(r);
                    return hub_reg_refuse(s, m, cb, arg, PN_RF_TAKEN, "%s port %u is in use on the hub", tn,
                                  (unsigned)m->port);
                }
                created = 1;
            }
        } else {
            r = route_new(g, m->type, a, "");
            if (port_assign(g, m->type, a, r, err) == 0) {
                udp_group_free(r->udp);
                free(r);
                return hub_reg_refuse(s, m, cb, arg, PN_RF_TAKEN, "no free %s port left for the account", tn);
            }
            created = 1;
        }
        if (created && m->group[0] != '\0')
            snprintf(r->group, sizeof(r->group), "%s", m->group);
    } else if (m->type == PN_RT_HTTP || m->type == PN_RT_HTTPS) {
        /* An http route is served on http=, and on https= with certs= (terminated). */
        if ((m->type == PN_RT_HTTP ? cfg->http_listen == NULL && cfg->certs_dir == NULL
                                   : cfg->https_listen == NULL))
            return hub_reg_refuse(s, m, cb, arg, PN_RF_INVALID, "this hub has no %s listener (%s=)",
                          pn_conf_route_type_name(m->type), pn_conf_route_type_name(m->type));
        if (m->host[0] == '\0')
            return hub_reg_refuse(s, m, cb, arg, PN_RF_INVALID, "an %s route needs a host",
                          pn_conf_route_type_name(m->type));
        if (hub_reg_host_name(cfg, m->host, host) != PN_OK)
            return hub_reg_refuse(s, m, cb, arg, PN_RF_INVALID, "\"%s\" is not a valid host name", host);
        if (!pn_account_host_ok(&a->allow, host))
            return hub_reg_refuse(s, m, cb, arg, PN_RF_DENIED, "host %s is not allowed for the account", host);
        /* http path routes are keyed "<host><path>" (modes/hub_rules.h). */
        if (hub_rules_key(host, m, key, sizeof(key), err) != PN_OK)
            return hub_reg_refuse(s, m, cb, arg, PN_RF_INVALID, "%s", err);
        r = mem_by_host(base, m->type, key);
        if (r != NULL && !held_for(r, a) && !gkey_match(r, m->group_key))
            return hub_reg_refuse(s, m, cb, arg, PN_RF_TAKEN, "host %s is taken", key);
        if (r != NULL && r->nmembers > 0 && !hub_rules_same(r, m))
            return hub_reg_refuse(s, m, cb, arg, PN_RF_TAKEN, "host %s has other rules (path, "
                          "host_header, auth, allow, redirect, proto must be the same)", key);
        if (r == NULL) {
            r = route_new(g, m->type, a, key);
            created = 1;
        }
        if ((created || r->nmembers == 0) && hub_rules_set(r, m, err) != PN_OK) {
            if (created)
                free(r);
            return hub_reg_refuse(s, m, cb, arg, PN_RF_INVALID, "%s", err);
        }
    } else {
        return hub_reg_refuse(s, m, cb, arg, PN_RF_INVALID, "unknown route type %u", (unsigned)m->type);
    }
    if (created || r->nmembers == 0) {
        /* New, or held and taken back by its account: the key is the new one. */
        r->has_gkey = 0;
        r->orphan_ms = 0;
        r->acct = a;
        if (m->group_key[0] != '\0') {
            pn_sha256((const uint8_t *)m->group_key, strlen(m->group_key), r->gkey);
            r->has_gkey = 1;
        }
    }
    if (created) {
        pn_list_add(&g->routes, &r->node);
        index_add(g, r);
    }
    struct hmember *mb = xcalloc(sizeof(*mb));
    mb->route = r;
    mb->sess = s;
    mb->id = m->id;
    mb->online = m->online;
    pn_list_add(&r->members, &mb->rnode);
    pn_list_add(&s->members, &mb->snode);
    r->nmembers++;
    a->nroutes++;

    if (r->port != 0)
        log_info("hub: account %s: %s port %u %s (%zu members)", a->name,
                 pn_conf_route_type_name(r->type), (unsigned)r->port, created ? "opened" : "joined",
                 r->nmembers);
    else
        log_info("hub: account %s: %s host %s %s (%zu members)", a->name,
                 pn_conf_route_type_name(r->type), r->host, created ? "registered" : "joined",
                 r->nmembers);
    mem_tell(g, HUB_REG_ADD, r, mb);
    cb(s, m, mb, 0, NULL, arg);
    return PN_OK;
}

static void
mem_claim(hub_reg_t *base, struct hsess *s, const pn_frame_route_t *m, hub_reg_claim_cb cb,
          void *arg)
{
    (void)claim(base, s, m, cb, arg);
}

static void
mem_each(hub_reg_t *base, hub_reg_each_cb cb, void *arg)
{
    mem_reg_t *g = (mem_reg_t *)base;
    for (pn_list_t *p = g->routes.next, *n; p != &g->routes; p = n) {
        n = p->next;
        if (cb(pn_container_of(p, struct hroute, node), arg) != 0)
            return;
    }
}

/* Nothing to keep alive here: the claims live as long as this process. */
static void
mem_refresh(hub_reg_t *base, uint64_t now_ms)
{
    mem_reg_t *g = (mem_reg_t *)base;
    for (pn_list_t *p = g->routes.next, *n; p != &g->routes; p = n) {
        struct hroute *r = pn_container_of(p, struct hroute, node);
        n = p->next;
        if (r->nmembers == 0 && now_ms - r->orphan_ms >= g->env.cfg->hub_hold_ms)
            route_free(g, r);
    }
}

static int
mem_watch(hub_reg_t *base, hub_reg_watch_cb cb, void *arg)
{
    mem_reg_t *g = (mem_reg_t *)base;
    if (g->nwatch == MEM_WATCH_MAX)
        return PN_ERR;
    g->watch[g->nwatch].cb = cb;
    g->watch[g->nwatch].arg = arg;
    g->nwatch++;
    return PN_OK;
}

/* Members first (a session's list lets go of them), then the routes. */
static void
mem_free(hub_reg_t *base)
{
    mem_reg_t *g = (mem_reg_t *)base;
    while (!pn_list_empty(&g->routes)) {
        struct hroute *r = pn_container_of(g->routes.next, struct hroute, node);
        if (r->nmembers == 0)
            route_free(g, r);   /* held */
        else                    /* its last member frees it */
            member_free(g, pn_container_of(r->members.next, struct hmember, rnode), 0);
    }
    free(g->tab);
    free(g);
}

static const hub_reg_ops_t mem_ops = {
    .name = "memory",
    .claim = mem_claim,
    .release = mem_release,
    .release_sess = mem_release_sess,
    .by_port = mem_by_port,
    .by_host = mem_by_host,
    .by_group = mem_by_group,
    .member = mem_member,
    .pick = mem_pick,
    .each = mem_each,
    .refresh = mem_refresh,
    .watch = mem_watch,
    .free = mem_free,
};

hub_reg_t *
hub_reg_mem_new(const hub_reg_env_t *env)
{
    mem_reg_t *g = xcalloc(sizeof(*g));
    g->base.ops = &mem_ops;
    g->env = *env;
    pn_list_init(&g->routes);
    return &g->base;
}
