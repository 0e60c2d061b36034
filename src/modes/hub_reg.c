/* modes/hub_reg.c: the hub's route registry, kept in this process (see
 * hub_reg.h): routes by port, host or group; their members, one per agent
 * that registered it; a route's listener; routes held for their account
 * after their agents left. */
#include "modes/hub_reg.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"
#include "route/http.h"
#include "tls/digest.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct hroute *
hub_reg_lookup_host(struct hub *h, uint8_t type, const char *host)
{
    for (pn_list_t *p = h->routes.next; p != &h->routes; p = p->next) {
        struct hroute *r = pn_container_of(p, struct hroute, node);
        if (r->type == type && strcmp(r->host, host) == 0)
            return r;
    }
    return NULL;
}

struct hroute *
hub_reg_lookup_port(struct hub *h, uint8_t type, uint16_t port)
{
    for (pn_list_t *p = h->routes.next; p != &h->routes; p = p->next) {
        struct hroute *r = pn_container_of(p, struct hroute, node);
        if (r->type == type && r->port == port)
            return r;
    }
    return NULL;
}

struct hroute *
hub_reg_lookup_group(struct hub *h, uint8_t type, const char *group)
{
    for (pn_list_t *p = h->routes.next; p != &h->routes; p = p->next) {
        struct hroute *r = pn_container_of(p, struct hroute, node);
        if (r->type == type && r->group[0] != '\0' && strcmp(r->group, group) == 0)
            return r;
    }
    return NULL;
}

struct hmember *
hub_pick(struct hroute *r)
{
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

int
hub_signal(struct hmember *m, uint8_t type, const uint8_t *id, const pn_addr_t *src,
           const pn_addr_t *dst)
{
    return tun_sess_signal(&m->sess->t, type, id, src, dst, m->id);
}

static void
route_free(struct hroute *r)
{
    struct hub *h = r->hub;
    /* Whoever watches (exchanges counting it, the HTTP router) lets go of it. */
    if (h->reg_gone != NULL)
        h->reg_gone(h, r);
    pn_list_del(&r->node);
    pn_entry_free(r->entry);
    udp_table_free(r->utable);
    udp_group_free(r->udp);
    if (r->type == PN_RT_TCP || r->type == PN_RT_UDP)
        log_info("hub: port %u (%s) closed", (unsigned)r->port, pn_route_type_name(r->type));
    free(r);
}

/* Free <m>. A route left without members is freed too when <hold> is 0 (the
 * agent withdrew it), else held for its account (the agent is gone). */
void
hub_reg_release(struct hmember *m, int hold)
{
    struct hroute *r = m->route;
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
    if (!hold || r->hub->cfg->hub_hold_ms == 0 || r->hub->in.stopping)
        route_free(r);
}

struct hmember *
hub_member(struct hsess *s, uint32_t id)
{
    for (pn_list_t *p = s->members.next; p != &s->members; p = p->next) {
        struct hmember *m = pn_container_of(p, struct hmember, snode);
        if (m->id == id)
            return m;
    }
    return NULL;
}

/* Open the listener of a new tcp/udp route on <port>; 0, or -1 when the port is in use. */
static int
route_listen(struct hroute *r, uint16_t port, char *err)
{
    struct hub *h = r->hub;
    pn_addr_t a = h->public_addr;
    pn_addr_set_port(&a, port);
    if (r->type == PN_RT_TCP) {
        int fd = pn_listen_tcp(&a, 1024, NULL, err);
        if (fd == -1)
            return -1;
        r->entry = pn_entry_new(h->in.loop, fd, NULL, h->cfg->handshake_ms, h->reg_tcp_user, r);
    } else {
        int fd = pn_listen_udp(&a, err);
        if (fd == -1)
            return -1;
        r->utable = udp_table_new(h->in.loop, fd, r->udp, h->reg_udp_peer, r);
    }
    r->port = port;
    return 0;
}

static struct hroute *
route_new(struct hub *h, uint8_t type, struct hacct *acct)
{
    struct hroute *r = xcalloc(sizeof(*r));
    r->hub = h;
    r->type = type;
    r->acct = acct;
    pn_list_init(&r->members);
    if (type == PN_RT_UDP) {
        udp_counters_t c = {
            .rx = &acct->st.udp_rx, .tx = &acct->st.udp_tx, .sessions = &acct->st.udps,
            .drops = &acct->st.udp_drops, .limit = acct->mbps ? &acct->bw : NULL,
        };
        r->udp = udp_group_new(h->in.loop, h->cfg->udp_idle_ms, &c);
    }
    return r;
}

static int
route_fail(struct hsess *s, uint32_t id, uint16_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
route_fail(struct hsess *s, uint32_t id, uint16_t code, const char *fmt, ...)
{
    pn_route_msg_t m;
    uint8_t p[512];
    va_list ap;
    memset(&m, 0, sizeof(m));
    m.id = id;
    m.code = code;
    va_start(ap, fmt);
    vsnprintf(m.reason, sizeof(m.reason), fmt, ap);
    va_end(ap);
    log_info("hub: account %s: route refused (%s): %s", s->acct->name, pn_route_fail_name(code),
             m.reason);
    if (code == PN_RF_LIMIT || code == PN_RF_DENIED)
        s->acct->refused_routes++;
    size_t n = pn_route_encode(PN_FT_ROUTE_FAIL, &m, p, sizeof(p));
    if (n > 0)
        tun_ctrl_send(s->t.ctrl, PN_FT_ROUTE_FAIL, p, n);
    return PN_OK;
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
port_assign(struct hub *h, uint8_t type, const struct hacct *a, struct hroute *r, char *err)
{
    for (uint32_t p = h->cfg->ports_lo; p <= h->cfg->ports_hi; p++) {
        if (!pn_account_port_ok(&a->allow, (uint16_t)p) || hub_reg_lookup_port(h, type, (uint16_t)p) != NULL)
            continue;
        if (route_listen(r, (uint16_t)p, err) == 0)
            return (uint16_t)p;
    }
    return 0;
}

int
hub_reg_claim(struct hsess *s, const pn_route_msg_t *m)
{
    struct hub *h = s->hub;
    struct hacct *a = s->acct;
    struct hroute *r = NULL;
    char host[PN_ROUTE_HOST_MAX + 1], err[PN_ERR_LEN];
    int created = 0;

    if (hub_member(s, m->id) != NULL)
        return route_fail(s, m->id, PN_RF_EXISTS, "route id %u is already registered",
                          (unsigned)m->id);
    if (a->max_routes != 0 && a->nroutes >= a->max_routes)
        return route_fail(s, m->id, PN_RF_LIMIT, "the account has its %u routes already",
                          (unsigned)a->max_routes);
    if (m->type == PN_RT_TCP || m->type == PN_RT_UDP) {
        const char *tn = pn_route_type_name(m->type);
        if (h->cfg->ports_lo == 0)
            return route_fail(s, m->id, PN_RF_INVALID, "this hub publishes no ports (ports=)");
        if (m->group[0] != '\0' && (r = hub_reg_lookup_group(h, m->type, m->group)) != NULL) {
            if (!held_for(r, a) && !gkey_match(r, m->group_key))
                return route_fail(s, m->id, PN_RF_TAKEN, "group %s exists with another group key",
                                  m->group);
        } else if (m->port != 0) {
            if (m->port < h->cfg->ports_lo || m->port > h->cfg->ports_hi)
                return route_fail(s, m->id, PN_RF_DENIED, "port %u is outside the hub's range %u-%u",
                                  (unsigned)m->port, (unsigned)h->cfg->ports_lo,
                                  (unsigned)h->cfg->ports_hi);
            if (!pn_account_port_ok(&a->allow, m->port))
                return route_fail(s, m->id, PN_RF_DENIED, "port %u is not allowed for the account",
                                  (unsigned)m->port);
            r = hub_reg_lookup_port(h, m->type, m->port);
            if (r != NULL && !held_for(r, a) &&
                !(r->group[0] == '\0' && m->group[0] == '\0' && gkey_match(r, m->group_key)))
                return route_fail(s, m->id, PN_RF_TAKEN, "%s port %u is taken", tn, (unsigned)m->port);
            if (r == NULL) {
                r = route_new(h, m->type, a);
                if (route_listen(r, m->port, err) != 0) {
                    udp_group_free(r->udp);
                    free(r);
                    return route_fail(s, m->id, PN_RF_TAKEN, "%s port %u is in use on the hub", tn,
                                      (unsigned)m->port);
                }
                created = 1;
            }
        } else {
            r = route_new(h, m->type, a);
            if (port_assign(h, m->type, a, r, err) == 0) {
                udp_group_free(r->udp);
                free(r);
                return route_fail(s, m->id, PN_RF_TAKEN, "no free %s port left for the account", tn);
            }
            created = 1;
        }
        if (created && m->group[0] != '\0')
            snprintf(r->group, sizeof(r->group), "%s", m->group);
    } else if (m->type == PN_RT_HTTP || m->type == PN_RT_HTTPS) {
        if ((m->type == PN_RT_HTTP ? h->http_entry : h->https_entry) == NULL)
            return route_fail(s, m->id, PN_RF_INVALID, "this hub has no %s listener (%s=)",
                              pn_route_type_name(m->type), pn_route_type_name(m->type));
        if (m->host[0] == '\0')
            return route_fail(s, m->id, PN_RF_INVALID, "an %s route needs a host",
                              pn_route_type_name(m->type));
        size_t hl = strlen(m->host);
        if (strchr(m->host, '.') == NULL && h->cfg->domain != NULL &&
            hl + 1 + strlen(h->cfg->domain) < sizeof(host)) {
            memcpy(host, m->host, hl);
            host[hl] = '.';
            memcpy(host + hl + 1, h->cfg->domain, strlen(h->cfg->domain) + 1);
        } else {
            snprintf(host, sizeof(host), "%s", m->host);
        }
        for (char *c = host; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        if (!pn_http_host_valid(host))
            return route_fail(s, m->id, PN_RF_INVALID, "\"%s\" is not a valid host name", host);
        if (!pn_account_host_ok(&a->allow, host))
            return route_fail(s, m->id, PN_RF_DENIED, "host %s is not allowed for the account", host);
        r = hub_reg_lookup_host(h, m->type, host);
        if (r != NULL && !held_for(r, a) && !gkey_match(r, m->group_key))
            return route_fail(s, m->id, PN_RF_TAKEN, "host %s is taken", host);
        if (r == NULL) {
            r = route_new(h, m->type, a);
            snprintf(r->host, sizeof(r->host), "%s", host);
            created = 1;
        }
    } else {
        return route_fail(s, m->id, PN_RF_INVALID, "unknown route type %u", (unsigned)m->type);
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
    if (created)
        pn_list_add(&h->routes, &r->node);
    struct hmember *mb = xcalloc(sizeof(*mb));
    mb->route = r;
    mb->sess = s;
    mb->id = m->id;
    mb->online = m->online;
    pn_list_add(&r->members, &mb->rnode);
    pn_list_add(&s->members, &mb->snode);
    r->nmembers++;
    a->nroutes++;

    pn_route_msg_t ok;
    uint8_t p[512];
    memset(&ok, 0, sizeof(ok));
    ok.id = m->id;
    ok.port = r->port;
    snprintf(ok.host, sizeof(ok.host), "%s", r->host);
    size_t n = pn_route_encode(PN_FT_ROUTE_OK, &ok, p, sizeof(p));
    tun_ctrl_send(s->t.ctrl, PN_FT_ROUTE_OK, p, n);
    if (r->port != 0)
        log_info("hub: account %s: %s port %u %s (%zu members)", a->name,
                 pn_route_type_name(r->type), (unsigned)r->port, created ? "opened" : "joined",
                 r->nmembers);
    else
        log_info("hub: account %s: %s host %s %s (%zu members)", a->name,
                 pn_route_type_name(r->type), r->host, created ? "registered" : "joined",
                 r->nmembers);
    return PN_OK;
}

void
hub_reg_refresh(struct hub *h, uint64_t now_ms)
{
    for (pn_list_t *p = h->routes.next, *n; p != &h->routes; p = n) {
        struct hroute *r = pn_container_of(p, struct hroute, node);
        n = p->next;
        if (r->nmembers == 0 && now_ms - r->orphan_ms >= h->cfg->hub_hold_ms)
            route_free(r);
    }
}

void
hub_reg_clear(struct hub *h)
{
    while (!pn_list_empty(&h->routes))
        route_free(pn_container_of(h->routes.next, struct hroute, node));
}
