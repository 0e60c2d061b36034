/* modes/hub_state.c: modes/hub_state.h. */
#include "modes/hub_state.h"
#include "modes/hub_reg.h"
#include "core/log.h"
#include "core/mem.h"
#include "tunnel/session.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define STATE_MAX (1024 * 1024)     /* bytes of a HUB_STATE line */
#define ROUTES_MAX (STATE_MAX * 3 / 4)  /* bytes of its routes list, about (the rest:
                                         * clients, accounts, the cluster view) */
#define ROUTE_FIXED 96              /* bytes of a route's JSON besides its texts */

/* The routes list being made: the array, the bytes it will take (about),
 * whether some were left out. */
struct routes_out {
    json_t *list;
    size_t bytes;
    int cut;
};

/* One route of the state line, appended to the list <arg> while it stays
 * within ROUTES_MAX: a hub of many routes never builds more than a line's
 * worth of JSON (the tree is several times the size of its text). */
static int
route_json(struct hroute *r, void *arg)
{
    struct routes_out *o = arg;
    size_t online = 0;
    char key[16];
    snprintf(key, sizeof(key), "%u", (unsigned)r->port);
    o->bytes += ROUTE_FIXED + strlen(r->port ? key : r->host) + strlen(r->acct->name) +
                strlen(r->group);
    if (o->bytes > ROUTES_MAX) {
        o->cut = 1;
        return 1;
    }
    for (pn_list_t *q = r->members.next; q != &r->members; q = q->next)
        online += pn_container_of(q, struct hmember, rnode)->online != 0;
    json_array_append_new(o->list, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "type",
        pn_conf_route_type_name(r->type), "key", r->port ? key : r->host, "account", r->acct->name,
        "group", r->group, "members", (json_int_t)r->nmembers, "online", (json_int_t)online,
        "conns", (json_int_t)r->conns));
    return 0;
}

static json_t *
state_json(struct hub *h)
{
    json_t *clients = json_array(), *accts = json_array();
    struct routes_out routes = { json_array(), 0, 0 };
    char a[PN_ADDRSTRLEN], id[32];
    for (pn_list_t *p = h->sessions.next; p != &h->sessions; p = p->next) {
        struct hsess *s = pn_container_of(p, struct hsess, node);
        size_t n = 0;
        for (pn_list_t *q = s->members.next; q != &s->members; q = q->next)
            n++;
        snprintf(id, sizeof(id), "c%llu", (unsigned long long)s->num);
        json_array_append_new(clients, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "id", id,
            "account", s->acct->name, "peer", pn_addr_str(&s->peer, a), "since", (json_int_t)s->since,
            "routes", (json_int_t)n, "pool", (json_int_t)tun_sess_idle(&s->t),
            "ping_ms", (json_int_t)tun_sess_rtt(&s->t)));
    }
    hub_reg_each(h->reg, route_json, &routes);
    for (pn_list_t *p = h->accts.next; p != &h->accts; p = p->next) {
        struct hacct *c = pn_container_of(p, struct hacct, node);
        if (c->gone && c->nsess == 0)
            continue;
        json_array_append_new(accts, json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I}}",
            "name", c->name, "clients", (json_int_t)c->nsess, "routes", (json_int_t)c->nroutes,
            "conns", (json_int_t)(c->st.tcps + c->st.udps + c->http_live),
            "requests", (json_int_t)c->requests,
            "rx", (json_int_t)(c->st.tcp_rx + c->st.udp_rx), "tx", (json_int_t)(c->st.tcp_tx + c->st.udp_tx),
            "refused", "rate", (json_int_t)c->refused_rate, "conns", (json_int_t)c->refused_conns,
            "routes", (json_int_t)c->refused_routes));
    }
    json_t *st = json_pack("{s:o,s:o,s:o}", "clients", clients, "routes", routes.list,
                           "accounts", accts);
    if (routes.cut)
        json_object_set_new(st, "truncated", json_true());
    json_t *cluster = hub_reg_state(h->reg);
    if (cluster != NULL)
        json_object_set_new(st, "cluster", cluster);
    return st;
}

void
hub_state_print(struct hub *h)
{
    json_t *j = state_json(h);
    char *s = json_dumps(j, JSON_COMPACT);
    if (s != NULL && strlen(s) > STATE_MAX - 16) {
        /* Too many routes for one line: keep the clients and accounts. */
        free(s);
        json_object_set_new(j, "routes", json_array());
        json_object_set_new(j, "truncated", json_true());
        s = json_dumps(j, JSON_COMPACT);
    }
    if (s != NULL) {
        size_t n = strlen(s);
        char *line = xmalloc(n + 16);
        memcpy(line, "HUB_STATE|", 10);
        memcpy(line + 10, s, n + 1);
        log_long(LOG_EVENT, line);
        free(line);
        free(s);
    }
    json_decref(j);
}
