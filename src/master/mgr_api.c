/* master/mgr_api.c: the manager's endpoints over master/manager.h. */
#include "master/mgr_api.h"
#include "core/log.h"
#include "core/mem.h"
#include "master/api.h"
#include "master/mgr_body.h"
#include "master/node_sync.h"
#include "master/paths.h"
#include "master/relay_m.h"
#include "conf/hubjson.h"
#include "tls/tls.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void
reply_method(pn_mhttp_req_t *r, const char *allow)
{
    pn_mhttp_set_header(r, "Allow", allow);
    pn_api_reply_error(r, 405, "method", "method: not allowed here");
}

static json_t *
list_nodes(pn_manager_t *m)
{
    json_t *arr = json_array();
    for (pn_list_t *l = m->nodes.next; l != &m->nodes; l = l->next)
        json_array_append_new(arr, pn_mnode_json(pn_container_of(l, pn_mnode_t, link)));
    return arr;
}

static void
set_str(char **dst, const char *v)
{
    if (v == NULL)
        return;
    free(*dst);
    *dst = xstrdup(v);
}

static void
set_secret(char **dst, const char *v)
{
    if (v == NULL)
        return;
    if (*dst != NULL) {
        memset(*dst, 0, strlen(*dst));
        free(*dst);
    }
    *dst = xstrdup(v);
}

/* Set the TLS of <n> from <b> when it names any; PN_ERR with <err> (field "ca"). */
static int
apply_tls(pn_mnode_t *n, const pn_mgr_node_body_t *b, char *err)
{
    if (b->tls < 0)
        return PN_OK;
    return pn_mnode_set_tls(n, b->tls, b->ca, b->fingerprint, b->pin, err);
}

/* Apply the checked body <b> to <n>; 1 when what is pushed changed. */
static int
apply_node(pn_mnode_t *n, const pn_mgr_node_body_t *b)
{
    int items = 0;
    set_str(&n->name, b->name);
    set_str(&n->address, b->address);
    set_secret(&n->token, b->token);
    if (b->port > 0)
        n->port = b->port;
    if (b->prefix != NULL)
        pn_mnode_set_prefix(n, b->prefix);
    if (b->fallback != NULL)
        pn_mnode_set_fallback(n, b->fb_host, b->fb_port, b->fb_auth);
    if (b->entrances != NULL) {
        json_decref(n->entrances);
        n->entrances = json_deep_copy(b->entrances);
        items = 1;
    }
    if (b->tunnels != NULL) {
        json_decref(n->tunnels);
        n->tunnels = json_deep_copy(b->tunnels);
        items = 1;
    }
    return items;
}

static void
post_node(pn_manager_t *m, pn_mhttp_req_t *r, const char *t, size_t len)
{
    char err[PN_ERR_LEN], field[PN_NODE_FIELD_LEN], id[9];
    pn_mgr_node_body_t b;
    if (pn_mgr_node_parse(t, len, 1, &b, err, field) != PN_OK) {
        pn_api_reply_error(r, 400, field, err);
        return;
    }
    do {
        uint8_t rnd[4];
        if (pn_random(rnd, sizeof(rnd)) != PN_OK) {
            pn_mgr_body_clear(&b.root);
            pn_api_reply_error(r, 503, NULL, "node: no random bytes for an id");
            return;
        }
        snprintf(id, sizeof(id), "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    } while (pn_manager_node(m, id) != NULL);
    pn_mnode_t *n = pn_manager_node_new(m);
    memcpy(n->id, id, sizeof(id));
    n->created = (int64_t)time(NULL);
    if (apply_tls(n, &b, err) != PN_OK) {
        pn_mgr_body_clear(&b.root);
        pn_manager_node_free(n);
        pn_api_reply_error(r, 400, "ca", err);
        return;
    }
    apply_node(n, &b);
    pn_mgr_body_clear(&b.root);
    log_info("manager: node %s added (%s:%d)", n->id, n->address, n->port);
    pn_manager_add_node(m, n);
    pn_api_reply_json(r, 201, pn_mnode_json(n));
}

static void
patch_node(pn_manager_t *m, pn_mhttp_req_t *r, pn_mnode_t *n, const char *t, size_t len)
{
    char err[PN_ERR_LEN], field[PN_NODE_FIELD_LEN];
    pn_mgr_node_body_t b;
    if (pn_mgr_node_parse(t, len, 0, &b, err, field) != PN_OK) {
        pn_api_reply_error(r, 400, field, err);
        return;
    }
    if (apply_tls(n, &b, err) != PN_OK) {
        pn_mgr_body_clear(&b.root);
        pn_api_reply_error(r, 400, "ca", err);
        return;
    }
    int where = b.address != NULL || b.port > 0 || b.token != NULL || b.prefix != NULL ||
                b.tls >= 0;
    int items = apply_node(n, &b);
    int sync = b.sync;
    pn_mgr_body_clear(&b.root);
    if (where) {
        /* Another node, or the same one under a new token: start over. */
        pn_mnode_cancel(n);
        n->acked = 0;
        n->push = n->pull = PN_MST_UNKNOWN;
        n->since_ms = pn_now_ms();
    }
    pn_manager_node_changed(m, n);
    if (items)
        pn_manager_bump(m, 1);
    if (sync || where) {
        if (sync)
            n->acked = 0;       /* pushed even when it was up to date */
        pn_sync_push(n);
    }
    pn_api_reply_json(r, 200, pn_mnode_json(n));
}

static void
route_nodes(pn_manager_t *m, pn_mhttp_req_t *r, const char *rest, const char *t, size_t len)
{
    enum pn_mhttp_method meth = pn_mhttp_method(r);
    int get = meth == PN_MHTTP_GET || meth == PN_MHTTP_HEAD;
    if (*rest == '\0') {
        if (get)
            pn_api_reply_json(r, 200, list_nodes(m));
        else if (meth == PN_MHTTP_POST)
            post_node(m, r, t, len);
        else
            reply_method(r, "GET, POST");
        return;
    }
    if (!get && meth != PN_MHTTP_PATCH && meth != PN_MHTTP_DELETE) {
        reply_method(r, "GET, PATCH, DELETE");
        return;
    }
    pn_mnode_t *n = pn_manager_node(m, rest + 1);
    if (n == NULL) {
        pn_api_reply_error(r, 404, "id", "id: no such node");
        return;
    }
    if (meth == PN_MHTTP_PATCH) {
        patch_node(m, r, n, t, len);
    } else if (meth == PN_MHTTP_DELETE) {
        log_info("manager: node %s deleted", n->id);
        pn_manager_del_node(m, n);
        pn_mhttp_reply(r, 204, NULL, NULL, 0);
    } else {
        pn_api_reply_json(r, 200, pn_mnode_json(n));
    }
}

/* Apply the checked user body <b> to <u>. */
static void
apply_user(pn_muser_t *u, const pn_mgr_user_body_t *b)
{
    set_secret(&u->password, b->password);
    if (b->key_clear) {
        set_secret(&u->key, "");
        free(u->key);
        u->key = NULL;
    }
    set_secret(&u->key, b->key);
    if (b->enabled >= 0)
        u->enabled = b->enabled;
    if (b->quota >= 0)
        u->quota = (uint64_t)b->quota;
    if (b->rate >= 0)
        u->rate = (uint32_t)b->rate;
    if (b->max_conns >= 0)
        u->max_conns = (uint32_t)b->max_conns;
    if (b->expires >= 0)
        u->expires = b->expires;
    if (b->group != NULL)
        snprintf(u->group, sizeof(u->group), "%s", b->group);
    if (b->reset) {
        u->usage = 0;
        u->dirty = 1;
    }
}

static void
post_user(pn_manager_t *m, pn_mhttp_req_t *r, const char *t, size_t len)
{
    char err[PN_ERR_LEN], field[PN_NODE_FIELD_LEN];
    pn_mgr_user_body_t b;
    if (pn_mgr_user_parse(t, len, 1, &b, err, field) != PN_OK) {
        pn_api_reply_error(r, 400, field, err);
        return;
    }
    if (pn_manager_user(m, b.name) != NULL) {
        pn_mgr_body_clear(&b.root);
        pn_api_reply_error(r, 409, "name", "name: a user of that name exists");
        return;
    }
    pn_muser_t *u = xcalloc(sizeof(*u));
    u->name = xstrdup(b.name);
    u->enabled = 1;
    u->created = (int64_t)time(NULL);
    apply_user(u, &b);
    if (u->password == NULL)
        u->password = xstrdup("");
    pn_mgr_body_clear(&b.root);
    pn_manager_add_user(m, u);
    pn_api_reply_json(r, 201, pn_muser_json(u));
}

static void
route_users(pn_manager_t *m, pn_mhttp_req_t *r, const char *rest, const char *t, size_t len)
{
    char err[PN_ERR_LEN], field[PN_NODE_FIELD_LEN];
    enum pn_mhttp_method meth = pn_mhttp_method(r);
    int get = meth == PN_MHTTP_GET || meth == PN_MHTTP_HEAD;
    if (*rest == '\0') {
        if (get) {
            json_t *arr = json_array();
            for (size_t i = 0; i < m->nusers; i++)
                json_array_append_new(arr, pn_muser_json(m->users[i]));
            pn_api_reply_json(r, 200, arr);
        } else if (meth == PN_MHTTP_POST) {
            post_user(m, r, t, len);
        } else {
            reply_method(r, "GET, POST");
        }
        return;
    }
    if (!get && meth != PN_MHTTP_PATCH && meth != PN_MHTTP_DELETE) {
        reply_method(r, "GET, PATCH, DELETE");
        return;
    }
    pn_muser_t *u = pn_manager_user(m, rest + 1);
    if (u == NULL) {
        pn_api_reply_error(r, 404, "name", "name: no such user");
        return;
    }
    if (meth == PN_MHTTP_PATCH) {
        pn_mgr_user_body_t b;
        if (pn_mgr_user_parse(t, len, 0, &b, err, field) != PN_OK) {
            pn_api_reply_error(r, 400, field, err);
            return;
        }
        apply_user(u, &b);
        pn_mgr_body_clear(&b.root);
        pn_manager_user_changed(m, u);
        pn_api_reply_json(r, 200, pn_muser_json(u));
    } else if (meth == PN_MHTTP_DELETE) {
        pn_manager_del_user(m, u);
        pn_mhttp_reply(r, 204, NULL, NULL, 0);
    } else {
        pn_api_reply_json(r, 200, pn_muser_json(u));
    }
}

static json_t *
relay_json(const pn_manager_t *m)
{
    return json_pack("{s:o, s:s}", "url", m->relay_url ? json_string(m->relay_url) : json_null(),
                     "via", m->relay_via ? m->relay_via : "");
}

/* PUT /relay {"url": "proxy://..."}: the manager's own entrance through its
 * available nodes ("" or null: none). */
static void
put_relay(pn_manager_t *m, pn_mhttp_req_t *r, const char *t, size_t len)
{
    char err[PN_ERR_LEN], field[PN_NODE_FIELD_LEN];
    json_error_t je;
    const char *k;
    json_t *v, *o = json_loadb(t, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        pn_api_reply_error(r, 400, "body", "body: expected an object {\"url\": ...}");
        return;
    }
    json_object_foreach(o, k, v) {
        if (strcmp(k, "url") != 0) {
            snprintf(err, sizeof(err), "%.48s: unknown member", *k ? k : "body");
            snprintf(field, sizeof(field), "%.48s", *k ? k : "body");
            json_decref(o);
            pn_api_reply_error(r, 400, field, err);
            return;
        }
    }
    v = json_object_get(o, "url");
    const char *url = json_string_value(v);
    if (v == NULL || (!json_is_null(v) && url == NULL)) {
        json_decref(o);
        pn_api_reply_error(r, 400, "url", "url: expected a proxy:// URL, \"\" or null");
        return;
    }
    /* checked as a node checks an entrance; via= is the manager's to set */
    if (url != NULL && *url && pn_paths_check_url(url, "url", err, field) != PN_OK) {
        json_decref(o);
        pn_api_reply_error(r, 400, field, err);
        return;
    }
    free(m->relay_url);
    m->relay_url = url != NULL && *url ? xstrdup(url) : NULL;
    json_decref(o);
    if (pn_store_set(m->store, "fleet_relay", m->relay_url ? m->relay_url : "") != PN_OK) {
        pn_api_reply_error(r, 503, NULL, "db: cannot store the relay entrance");
        return;
    }
    free(m->relay_via);
    m->relay_via = NULL;        /* applied again at once */
    pn_conf_wipe_free(m->relay_sig);
    m->relay_sig = NULL;
    pn_relay_update(m);
    pn_api_reply_json(r, 200, relay_json(m));
}

int
pn_mgr_api_route(pn_manager_t *m, pn_mhttp_req_t *r, const char *rest)
{
    int relay = strcmp(rest, "/relay") == 0;
    if (relay || strcmp(rest, "/paths") == 0) {
        size_t len;
        const char *t = pn_mhttp_body(r, &len);
        enum pn_mhttp_method meth = pn_mhttp_method(r);
        if (len > PN_API_BODY_MAX)
            pn_api_reply_error(r, 413, "body", "body: larger than 64 KiB");
        else if (meth == PN_MHTTP_GET || meth == PN_MHTTP_HEAD)
            pn_api_reply_json(r, 200, relay ? relay_json(m) : pn_paths_json(m));
        else if (meth == PN_MHTTP_PUT && relay)
            put_relay(m, r, t, len);
        else if (meth == PN_MHTTP_PUT)
            pn_paths_put(m, r, t, len);
        else
            reply_method(r, "GET, PUT");
        return 1;
    }
    int nodes = strncmp(rest, "/nodes", 6) == 0 && (rest[6] == '\0' || rest[6] == '/');
    int users = strncmp(rest, "/users", 6) == 0 && (rest[6] == '\0' || rest[6] == '/');
    if (!nodes && !users)
        return 0;
    /* "/nodes" or "/nodes/<id>": nothing below an id */
    if (rest[6] == '/' && (rest[7] == '\0' || strchr(rest + 7, '/') != NULL)) {
        pn_api_reply_error(r, 404, NULL, "path: not found");
        return 1;
    }
    size_t len;
    const char *t = pn_mhttp_body(r, &len);
    if (len > PN_API_BODY_MAX) {
        pn_api_reply_error(r, 413, "body", "body: larger than 64 KiB");
        return 1;
    }
    if (nodes)
        route_nodes(m, r, rest + 6, t, len);
    else
        route_users(m, r, rest + 6, t, len);
    return 1;
}
