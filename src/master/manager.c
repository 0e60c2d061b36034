/* master/manager.c: the manager's nodes and users, stored and announced (see
 * master/manager.h); the pushes and pulls are master/node_sync.c. */
#include "master/manager.h"
#include "core/duration.h"
#include "conf/hubjson.h"
#include "core/log.h"
#include "core/mem.h"
#include "master/view.h"
#include "tls/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *
pn_mstatus_name(enum pn_mstatus s)
{
    static const char *const names[] = { "", "available", "dirty", "unavailable" };
    return (unsigned)s < 4 ? names[s] : "";
}

static json_t *
time_or_null(int64_t t)
{
    char at[PN_TIME_LEN];
    return t ? json_string(pn_time_rfc3339(t, at)) : json_null();
}

int
pn_muser_is_active(const pn_muser_t *u, int64_t now)
{
    return u->enabled && (u->expires == 0 || now < u->expires) &&
           (u->quota == 0 || u->usage < u->quota);
}

json_t *
pn_muser_json(const pn_muser_t *u)
{
    json_t *o = json_pack("{s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:b}", "name", u->name, "enabled",
                          u->enabled, "active", u->active, "quota", (json_int_t)u->quota, "usage",
                          (json_int_t)u->usage, "rate", (json_int_t)u->rate, "max_conns",
                          (json_int_t)u->max_conns, "key", u->key != NULL);
    json_object_set_new(o, "created", time_or_null(u->created));
    json_object_set_new(o, "expires", json_integer((json_int_t)u->expires));
    json_object_set_new(o, "group", json_string(u->group));
    return o;
}

json_t *
pn_manager_users_json(const pn_manager_t *m)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < m->nusers; i++) {
        const pn_muser_t *u = m->users[i];
        json_t *o = json_pack("{s:s, s:b, s:I, s:I}", "name", u->name, "enabled", u->active,
                              "rate", (json_int_t)u->rate, "max_conns", (json_int_t)u->max_conns);
        if (u->password != NULL && *u->password)
            json_object_set_new(o, "password", json_string(u->password));
        if (u->key != NULL)
            json_object_set_new(o, "key", json_string(u->key));
        if (u->group[0])
            json_object_set_new(o, "group", json_string(u->group));
        json_array_append_new(arr, o);
    }
    return arr;
}

json_t *
pn_mnode_json(const pn_mnode_t *n)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:O, s:O, s:I, s:s, s:s, s:I, s:I, s:s, s:s}",
                          "id", n->id, "name", n->name, "address", n->address, "port", n->port,
                          "entrances", n->entrances, "tunnels", n->tunnels, "usage",
                          (json_int_t)n->usage, "push_status", pn_mstatus_name(n->push),
                          "pull_status", pn_mstatus_name(n->pull), "acked", (json_int_t)n->acked,
                          "version", (json_int_t)n->m->version, "push_error", n->push_error,
                          "pull_error", n->pull_error);
    json_object_set_new(o, "prefix", json_string(n->prefix));
    json_object_set_new(o, "tls", json_boolean(n->tls));
    json_object_set_new(o, "ca", n->ca ? json_string(n->ca) : json_null());
    json_object_set_new(o, "fingerprint", n->fingerprint ? json_string(n->fingerprint) : json_null());
    if (n->fb_host != NULL) {
        char fb[128];
        snprintf(fb, sizeof(fb), strchr(n->fb_host, ':') ? "http://[%s]:%d" : "http://%s:%d",
                 n->fb_host, n->fb_port);
        json_object_set_new(o, "fallback", json_string(fb));    /* never its credentials */
    } else {
        json_object_set_new(o, "fallback", json_null());
    }
    json_object_set_new(o, "pushed_at", time_or_null(n->pushed_at));
    json_object_set_new(o, "pulled_at", time_or_null(n->pulled_at));
    json_object_set_new(o, "created", time_or_null(n->created));
    return o;
}

/* ---- the store ------------------------------------------------------------ */

static char *
user_text(const pn_muser_t *u)
{
    json_t *o = json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "name", u->name,
                          "password", u->password, "enabled", u->enabled, "quota",
                          (json_int_t)u->quota, "usage", (json_int_t)u->usage, "rate",
                          (json_int_t)u->rate, "max_conns", (json_int_t)u->max_conns, "created",
                          (json_int_t)u->created, "expires", (json_int_t)u->expires);
    if (u->key != NULL)
        json_object_set_new(o, "key", json_string(u->key));
    if (u->group[0])
        json_object_set_new(o, "group", json_string(u->group));
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return t;
}

static void
store_user(pn_manager_t *m, pn_muser_t *u)
{
    char *t = user_text(u);
    const char *id = u->name, *body = t;
    if (pn_store_obj_put(m->store, "user", 1, &id, &body) != PN_OK)
        log_error("manager: cannot store the user %s", u->name);
    u->dirty = 0;
    pn_conf_wipe_free(t);
}

/* The seen counts of <n> by user name (a new reference). */
static json_t *
seen_json(const pn_manager_t *m, const pn_mnode_t *n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n->nseen && i < m->nusers; i++)
        if (n->seen[i] != 0)
            json_object_set_new(o, m->users[i]->name, json_integer((json_int_t)n->seen[i]));
    return o;
}

static char *
node_text(pn_manager_t *m, pn_mnode_t *n)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:O, s:O, s:I, s:I, s:I, s:s, s:o}", "name",
                          n->name, "address", n->address, "port", n->port, "prefix", n->prefix,
                          "token", n->token, "entrances", n->entrances, "tunnels", n->tunnels,
                          "created", (json_int_t)n->created, "usage", (json_int_t)n->usage,
                          "acked", (json_int_t)n->acked, "boot", n->boot, "seen", seen_json(m, n));
    json_object_set_new(o, "tls", json_boolean(n->tls));
    if (n->ca != NULL)
        json_object_set_new(o, "ca", json_string(n->ca));
    if (n->fingerprint != NULL)
        json_object_set_new(o, "fingerprint", json_string(n->fingerprint));
    if (n->fb_host != NULL) {
        json_object_set_new(o, "fb_host", json_string(n->fb_host));
        json_object_set_new(o, "fb_port", json_integer(n->fb_port));
        if (n->fb_auth != NULL)
            json_object_set_new(o, "fb_auth", json_string(n->fb_auth));
    }
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return t;
}

static void store_node(pn_manager_t *m, pn_mnode_t *n);

void
pn_manager_store_usage(pn_manager_t *m, int now)
{
    size_t n = 0, k = 0;
    if (!now && pn_now_ms() - m->saved_ms < PN_MGR_SAVE_MS)
        return;
    m->saved_ms = pn_now_ms();
    for (size_t i = 0; i < m->nusers; i++)
        n += m->users[i]->dirty;
    if (n > 0) {
        const char **ids = xcalloc(n * sizeof(*ids));
        char **bodies = xcalloc(n * sizeof(*bodies));
        for (size_t i = 0; i < m->nusers && k < n; i++) {
            pn_muser_t *u = m->users[i];
            if (!u->dirty)
                continue;
            ids[k] = u->name;
            bodies[k++] = user_text(u);
            u->dirty = 0;
        }
        if (pn_store_obj_put(m->store, "user", n, ids, (const char *const *)bodies) != PN_OK)
            log_error("manager: cannot store the users' usage");
        for (size_t i = 0; i < n; i++)
            pn_conf_wipe_free(bodies[i]);
        free(bodies);
        free(ids);
    }
    for (pn_list_t *l = m->nodes.next; l != &m->nodes; l = l->next) {
        pn_mnode_t *nd = pn_container_of(l, pn_mnode_t, link);
        if (nd->dirty)
            store_node(m, nd);
    }
}

static void
store_node(pn_manager_t *m, pn_mnode_t *n)
{
    char *t = node_text(m, n);
    const char *id = n->id, *body = t;
    n->dirty = 0;
    if (pn_store_obj_put(m->store, "node", 1, &id, &body) != PN_OK)
        log_error("manager: cannot store the node %s", n->id);
    pn_conf_wipe_free(t);
}

static char *
dup_member(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? xstrdup(s) : NULL;
}

static uint64_t
int_member(json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

static void
index_user(pn_manager_t *m, size_t i)
{
    json_object_set_new(m->uindex, m->users[i]->name, json_integer((json_int_t)i));
}

static void
append_user(pn_manager_t *m, pn_muser_t *u)
{
    if (m->nusers == m->ucap) {
        m->ucap = m->ucap ? 2 * m->ucap : 64;
        m->users = xrealloc(m->users, m->ucap * sizeof(*m->users));
    }
    m->users[m->nusers] = u;
    index_user(m, m->nusers++);
}

static void
load_user(const char *id, const char *body, void *ctx)
{
    pn_manager_t *m = ctx;
    json_t *o = json_loads(body, 0, NULL);
    pn_muser_t *u = xcalloc(sizeof(*u));
    u->name = xstrdup(id);
    u->password = dup_member(o, "password");
    u->key = dup_member(o, "key");
    u->enabled = json_is_true(json_object_get(o, "enabled"));
    u->quota = int_member(o, "quota");
    u->usage = int_member(o, "usage");
    u->rate = (uint32_t)int_member(o, "rate");
    u->max_conns = (uint32_t)int_member(o, "max_conns");
    u->created = (int64_t)int_member(o, "created");
    u->expires = (int64_t)int_member(o, "expires");
    const char *g = json_string_value(json_object_get(o, "group"));
    snprintf(u->group, sizeof(u->group), "%s", g ? g : "");
    json_decref(o);
    if (u->password == NULL)
        u->password = xstrdup("");
    u->active = pn_muser_is_active(u, (int64_t)time(NULL));
    append_user(m, u);
}

int
pn_mnode_set_tls(pn_mnode_t *n, int tls, const char *ca, const char *fp, const uint8_t *pin,
                 char *err)
{
    pn_tls_ctx_t *ctx = NULL;
    if (tls && (ctx = pn_tls_client_new(fp == NULL, ca, err)) == NULL)
        return PN_ERR;
    pn_tls_ctx_free(n->tls_ctx);
    n->tls_ctx = ctx;
    n->tls = tls;
    free(n->ca);
    free(n->fingerprint);
    n->ca = tls && ca ? xstrdup(ca) : NULL;
    n->fingerprint = tls && fp ? xstrdup(fp) : NULL;
    if (n->fingerprint != NULL)
        memcpy(n->pin, pin, sizeof(n->pin));
    return PN_OK;
}

void
pn_mnode_set_fallback(pn_mnode_t *n, const char *host, int port, const char *auth)
{
    free(n->fb_host);
    pn_conf_wipe_free(n->fb_auth);
    n->fb_host = host && *host ? xstrdup(host) : NULL;
    n->fb_port = port;
    n->fb_auth = n->fb_host && auth && *auth ? xstrdup(auth) : NULL;
}

const pn_hclient_tls_t *
pn_mnode_tls(const pn_mnode_t *n, pn_hclient_tls_t *buf)
{
    if (!n->tls || n->tls_ctx == NULL)
        return NULL;
    buf->ctx = n->tls_ctx;
    buf->name = n->fingerprint ? NULL : n->address;
    buf->pin = n->fingerprint ? n->pin : NULL;
    return buf;
}

void
pn_mnode_set_prefix(pn_mnode_t *n, const char *prefix)
{
    free(n->prefix);
    n->prefix = xstrdup(prefix);
    snprintf(n->path_config, sizeof(n->path_config), "%s/v1/node/config", prefix);
    snprintf(n->path_stats, sizeof(n->path_stats), "%s/v1/node/stats?form=rows", prefix);
}

static pn_mnode_t *
node_new(pn_manager_t *m)
{
    pn_mnode_t *n = xcalloc(sizeof(*n));
    n->m = m;
    n->since_ms = pn_now_ms();
    n->entrances = json_array();
    n->tunnels = json_array();
    n->name = xstrdup("");
    pn_mnode_set_prefix(n, "/api");
    return n;
}

static void node_free(pn_mnode_t *n);

static void
load_node(const char *id, const char *body, void *ctx)
{
    pn_manager_t *m = ctx;
    json_t *o = json_loads(body, 0, NULL);
    pn_mnode_t *n = node_new(m);
    snprintf(n->id, sizeof(n->id), "%s", id);
    free(n->name);
    n->name = dup_member(o, "name");
    n->address = dup_member(o, "address");
    n->token = dup_member(o, "token");
    n->port = (int)int_member(o, "port");
    const char *prefix = json_string_value(json_object_get(o, "prefix"));
    pn_mnode_set_prefix(n, prefix ? prefix : "/api");
    pn_mnode_set_fallback(n, json_string_value(json_object_get(o, "fb_host")),
                          (int)int_member(o, "fb_port"), json_string_value(json_object_get(o, "fb_auth")));
    if (json_is_true(json_object_get(o, "tls"))) {
        char err[PN_ERR_LEN];
        const char *ca = json_string_value(json_object_get(o, "ca"));
        const char *fp = json_string_value(json_object_get(o, "fingerprint"));
        if (fp != NULL) {
            for (size_t k = 0, i = 0; fp[i] && k < 32; i += fp[i + 2] == ':' ? 3 : 2, k++) {
                unsigned v = 0;
                sscanf(fp + i, "%2x", &v);
                n->pin[k] = (uint8_t)v;
            }
        }
        if (pn_mnode_set_tls(n, 1, ca, fp, n->pin, err) != PN_OK)
            log_error("manager: node %s: %s; its requests fail until it is changed", id, err);
    }
    n->created = (int64_t)int_member(o, "created");
    n->usage = int_member(o, "usage");
    n->acked = (int64_t)int_member(o, "acked");
    const char *boot = json_string_value(json_object_get(o, "boot"));
    snprintf(n->boot, sizeof(n->boot), "%s", boot ? boot : "");
    json_t *v = json_object_get(o, "entrances");
    n->entrances = json_is_array(v) ? json_incref(v) : json_array();
    v = json_object_get(o, "tunnels");
    n->tunnels = json_is_array(v) ? json_incref(v) : json_array();
    v = json_object_get(o, "seen");
    if (json_is_object(v)) {
        const char *name;
        json_t *c;
        json_object_foreach(v, name, c) {
            json_t *i = json_object_get(m->uindex, name);
            if (i != NULL && json_integer_value(c) > 0)
                *pn_mnode_seen(n, (size_t)json_integer_value(i)) = (uint64_t)json_integer_value(c);
        }
    }
    json_decref(o);
    if (n->name == NULL)
        n->name = xstrdup("");
    if (n->address == NULL || n->token == NULL) {
        log_error("manager: the stored node %s is malformed; left out", id);
        node_free(n);
        return;
    }
    pn_list_add(&m->nodes, &n->link);
    m->nnodes++;
}

static uint64_t
env_ms(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    uint64_t v;
    if (s == NULL || *s == '\0')
        return dflt;
    if (pn_duration_parse(s, &v) != PN_OK || v == 0) {
        log_warn("manager: %s=%s is not a duration; %llu ms used", name, s,
                 (unsigned long long)dflt);
        return dflt;
    }
    return v;
}

pn_manager_t *
pn_manager_new(ev_loop_t *loop, pn_store_t *store, pn_events_t *events, char *const *name)
{
    pn_manager_t *m = xcalloc(sizeof(*m));
    char *v = NULL;
    m->loop = loop;
    m->store = store;
    m->events = events;
    m->name = name;
    pn_list_init(&m->nodes);
    m->uindex = json_object();
    m->sync_ms = env_ms("POSTERN_NODE_SYNC", 10000);
    m->pull_ms = env_ms("POSTERN_NODE_PULL", 5000);
    m->down_ms = env_ms("POSTERN_NODE_DOWN", 60000);
    m->deadline_ms = env_ms("POSTERN_NODE_DEADLINE", 5000);
    if (pn_store_get(store, "fleet_version", &v) == PN_OK)
        m->version = strtoll(v, NULL, 10);
    free(v);
    if (m->version < 1)
        m->version = 1;         /* a node takes versions from 1 */
    if (pn_store_get(store, "fleet_relay", &v) == PN_OK && *v)
        m->relay_url = v;
    else
        free(v);
    v = NULL;
    pn_store_obj_load(store, "user", load_user, m);
    pn_store_obj_load(store, "node", load_node, m);
    return m;
}

void
pn_mnode_cancel(pn_mnode_t *n)
{
    if (n->push_req != NULL && n->m->pushes > 0)
        n->m->pushes--;
    if (n->pull_req != NULL && n->m->pulls > 0)
        n->m->pulls--;
    pn_hclient_cancel(n->push_req);
    pn_hclient_cancel(n->pull_req);
    n->push_req = n->pull_req = NULL;
    n->pushing = 0;
}

void
pn_manager_node_free(pn_mnode_t *n)
{
    node_free(n);
}

static void
node_free(pn_mnode_t *n)
{
    pn_mnode_cancel(n);
    free(n->name);
    free(n->address);
    free(n->prefix);
    free(n->ca);
    free(n->fingerprint);
    pn_tls_ctx_free(n->tls_ctx);
    free(n->fb_host);
    pn_conf_wipe_free(n->fb_auth);
    pn_conf_wipe_free(n->token);
    json_decref(n->entrances);
    json_decref(n->tunnels);
    free(n->seen);
    free(n->rowidx);
    free(n);
}

void
pn_muser_free(pn_muser_t *u)
{
    if (u == NULL)
        return;
    free(u->name);
    pn_conf_wipe_free(u->password);
    pn_conf_wipe_free(u->key);
    free(u);
}

void
pn_manager_free_(pn_manager_t *m)
{
    if (m == NULL)
        return;
    pn_manager_store_usage(m, 1);
    while (!pn_list_empty(&m->nodes)) {
        pn_mnode_t *n = pn_container_of(m->nodes.next, pn_mnode_t, link);
        pn_list_del(&n->link);
        node_free(n);
    }
    for (size_t i = 0; i < m->nusers; i++)
        pn_muser_free(m->users[i]);
    free(m->users);
    json_decref(m->uindex);
    free(m->relay_url);
    free(m->relay_via);
    pn_conf_wipe_free(m->relay_sig);
    json_decref(m->paths);
    free(m->local_seen);
    ev_timer_free(m->sync);
    ev_timer_free(m->pull);
    ev_timer_free(m->soon);
    free(m);
}

/* ---- changes ------------------------------------------------------------------ */

pn_muser_t *
pn_manager_user(pn_manager_t *m, const char *name)
{
    json_t *i = json_object_get(m->uindex, name);
    return i ? m->users[json_integer_value(i)] : NULL;
}

pn_mnode_t *
pn_manager_node(pn_manager_t *m, const char *id)
{
    for (pn_list_t *l = m->nodes.next; l != &m->nodes; l = l->next) {
        pn_mnode_t *n = pn_container_of(l, pn_mnode_t, link);
        if (strcmp(n->id, id) == 0)
            return n;
    }
    return NULL;
}

static void
announce_user(pn_manager_t *m, const char *type, const pn_muser_t *u)
{
    pn_events_publish_json(m->events, "user", type, "user", pn_muser_json(u));
}

static void
announce_node(pn_manager_t *m, const char *type, const pn_mnode_t *n)
{
    pn_events_publish_json(m->events, "node", type, "node", pn_mnode_json(n));
}

void *
pn_mgr_grow(void *arr, size_t *n, size_t index, size_t size, int fill)
{
    if (index < *n)
        return arr;
    size_t cap = *n ? *n : 64;
    while (cap <= index)
        cap *= 2;
    arr = xrealloc(arr, cap * size);
    memset((char *)arr + *n * size, fill, (cap - *n) * size);
    *n = cap;
    return arr;
}

uint64_t *
pn_mnode_seen(pn_mnode_t *n, size_t index)
{
    n->seen = pn_mgr_grow(n->seen, &n->nseen, index, sizeof(*n->seen), 0);
    return &n->seen[index];
}

void
pn_manager_node_moved(pn_manager_t *m, pn_mnode_t *n)
{
    n->dirty = 1;
    if (pn_events_count(m->events) > 0)
        announce_node(m, "update", n);
}

void
pn_manager_user_announce(pn_manager_t *m, const pn_muser_t *u)
{
    if (pn_events_count(m->events) > 0)     /* no User built for nobody */
        announce_user(m, "update", u);
}

void
pn_manager_add_user(pn_manager_t *m, pn_muser_t *u)
{
    u->active = pn_muser_is_active(u, (int64_t)time(NULL));
    append_user(m, u);
    store_user(m, u);
    announce_user(m, "create", u);
    pn_manager_bump(m, 1);
}

void
pn_manager_del_user(pn_manager_t *m, pn_muser_t *u)
{
    size_t i = (size_t)json_integer_value(json_object_get(m->uindex, u->name));
    announce_user(m, "delete", u);
    if (pn_store_obj_delete(m->store, "user", u->name) != PN_OK)
        log_error("manager: cannot delete the user %s from the database", u->name);
    json_object_del(m->uindex, u->name);
    m->users[i] = m->users[--m->nusers];
    if (i < m->nusers)
        index_user(m, i);
    if (i < m->nlocal)
        m->local_seen[i] = m->nusers < m->nlocal ? m->local_seen[m->nusers] : 0;
    if (m->nusers < m->nlocal)
        m->local_seen[m->nusers] = 0;
    /* each node's count of the user moved from the end to <i> moves with it */
    for (pn_list_t *l = m->nodes.next; l != &m->nodes; l = l->next) {
        pn_mnode_t *n = pn_container_of(l, pn_mnode_t, link);
        if (i < n->nseen)
            n->seen[i] = m->nusers < n->nseen ? n->seen[m->nusers] : 0;
        if (m->nusers < n->nseen)
            n->seen[m->nusers] = 0;
    }
    pn_muser_free(u);
    pn_manager_bump(m, 1);
}

void
pn_manager_user_changed(pn_manager_t *m, pn_muser_t *u)
{
    store_user(m, u);
    announce_user(m, "update", u);
    pn_manager_bump(m, 1);
}

void
pn_manager_add_node(pn_manager_t *m, pn_mnode_t *n)
{
    n->m = m;
    n->since_ms = pn_now_ms();
    pn_list_add(&m->nodes, &n->link);
    m->nnodes++;
    n->acked = -1;              /* behind whatever the version: pushed soon */
    store_node(m, n);
    announce_node(m, "create", n);
    if (m->soon != NULL)
        ev_timer_arm(m->soon, PN_MGR_SOON_MS);
}

void
pn_manager_del_node(pn_manager_t *m, pn_mnode_t *n)
{
    announce_node(m, "delete", n);
    if (pn_store_obj_delete(m->store, "node", n->id) != PN_OK)
        log_error("manager: cannot delete the node %s from the database", n->id);
    pn_list_del(&n->link);
    m->nnodes--;
    node_free(n);
}

void
pn_manager_node_changed(pn_manager_t *m, pn_mnode_t *n)
{
    store_node(m, n);
    announce_node(m, "update", n);
}

pn_mnode_t *
pn_manager_node_new(pn_manager_t *m)
{
    return node_new(m);
}

void
pn_manager_bump(pn_manager_t *m, int force)
{
    int64_t now = (int64_t)time(NULL);
    int changed = force;
    char v[32];
    for (size_t i = 0; i < m->nusers; i++) {
        pn_muser_t *u = m->users[i];
        int a = pn_muser_is_active(u, now);
        if (a != u->active) {
            u->active = a;
            changed = 1;
            log_info("manager: user %s %s", u->name, a ? "active again" : "disabled on the nodes "
                     "(disabled, expired or past its quota)");
            announce_user(m, "update", u);
        }
    }
    if (!changed)
        return;
    m->version++;
    snprintf(v, sizeof(v), "%lld", (long long)m->version);
    if (pn_store_set(m->store, "fleet_version", v) != PN_OK)
        log_error("manager: cannot store the version");
    if (m->soon != NULL)
        ev_timer_arm(m->soon, PN_MGR_SOON_MS);
}
