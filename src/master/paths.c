/* master/paths.c: the four paths, checked, stored and rendered (see
 * master/paths.h). Stored as the setting "fleet_paths": the array of paths as
 * PUT gave them, each with its tunnel "key". */
#include "master/paths.h"
#include "conf/config.h"
#include "conf/hubjson.h"
#include "core/log.h"
#include "core/mem.h"
#include "master/api.h"
#include "tls/tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const char *const kinds[] = { "direct", "relay", "reverse", "remote", NULL };

/* What each kind takes: entry nodes, exits (and a port), the manager's address. */
static int needs_nodes(const char *k) { return !strcmp(k, "direct") || !strcmp(k, "remote"); }
static int needs_exits(const char *k) { return strcmp(k, "direct") != 0; }
static int needs_manager(const char *k) { return !strcmp(k, "reverse"); }

void
pn_paths_load(pn_manager_t *m)
{
    char *v = NULL;
    json_decref(m->paths);
    m->paths = NULL;
    if (pn_store_get(m->store, "fleet_paths", &v) == PN_OK && v != NULL)
        m->paths = json_loads(v, 0, NULL);
    pn_conf_wipe_free(v);
    if (!json_is_array(m->paths)) {
        json_decref(m->paths);
        m->paths = json_array();
    }
}

json_t *
pn_paths_json(const pn_manager_t *m)
{
    json_t *arr = json_array(), *p;
    size_t i;
    json_array_foreach(m->paths, i, p) {
        json_t *c = json_copy(p);
        json_object_del(c, "key");
        json_array_append_new(arr, c);
    }
    return json_pack("{s:o}", "paths", arr);
}

int
pn_paths_check_url(const char *url, const char *where, char *err, char field[PN_NODE_FIELD_LEN])
{
    pn_node_conf_t c;
    char sub[PN_ERR_LEN], f[PN_NODE_FIELD_LEN];
    json_t *conf = json_pack("{s:i, s:[{s:s, s:s}]}", "version", 1, "entrances", "name", "x", "url",
                             url);
    char *text = json_dumps(conf, JSON_COMPACT);
    json_decref(conf);
    int rc = pn_node_conf_parse(text, strlen(text), &c, sub, f);
    free(text);
    if (rc == PN_OK)
        pn_node_conf_clear(&c);
    if (rc == PN_OK && strstr(url, "via=") != NULL)
        return pn_node_fail(err, field, where, "via: set by the manager (leave via= out)");
    if (rc != PN_OK) {
        const char *msg = strstr(sub, ".url: ");
        return pn_node_fail(err, field, where, "%s", msg ? msg + 6 : "bad URL");
    }
    return PN_OK;
}

/* <arr> (member <k> of the path <where>): 1-<max> ids of nodes <m> has. */
static int
check_ids(const pn_manager_t *m, json_t *arr, const char *where, const char *k, size_t max,
          char *err, char field[PN_NODE_FIELD_LEN])
{
    char f[PN_NODE_FIELD_LEN];
    size_t i;
    json_t *id;
    snprintf(f, sizeof(f), "%s.%s", where, k);
    if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > max)
        return pn_node_fail(err, field, f, "expected an array of 1-%zu node ids", max);
    json_array_foreach(arr, i, id) {
        if (!json_is_string(id) || pn_manager_node((pn_manager_t *)m, json_string_value(id)) == NULL)
            return pn_node_fail(err, field, f, "%zu: no such node", i);
        for (size_t j = 0; j < i; j++)
            if (json_equal(json_array_get(arr, j), id))
                return pn_node_fail(err, field, f, "%zu: named twice", i);
    }
    return PN_OK;
}

/* The path <p> (paths[<i>]): PN_OK, or PN_ERR naming its member. */
static int
check_path(const pn_manager_t *m, json_t *p, size_t i, char *err, char field[PN_NODE_FIELD_LEN])
{
    static const char *const known[] = { "name", "kind", "groups", "url", "nodes", "exits",
                                         "port", "allow", "manager", NULL };
    char where[32], f[PN_NODE_FIELD_LEN];
    const char *k, *kind;
    json_t *v;
    snprintf(where, sizeof(where), "paths[%zu]", i);
    if (!json_is_object(p))
        return pn_node_fail(err, field, where, "expected an object");
    json_object_foreach(p, k, v) {
        size_t j = 0;
        while (known[j] != NULL && strcmp(known[j], k) != 0)
            j++;
        snprintf(f, sizeof(f), "%s.%.24s", where, *k ? k : "body");
        if (known[j] == NULL)
            return pn_node_fail(err, field, f, "unknown member");
    }
    snprintf(f, sizeof(f), "%s.name", where);
    v = json_object_get(p, "name");
    if (!json_is_string(v) || !pn_node_is_name(json_string_value(v), PN_PATH_NAME_MAX))
        return pn_node_fail(err, field, f, "expected 1-%d of A-Z a-z 0-9 _ . -", PN_PATH_NAME_MAX);
    snprintf(f, sizeof(f), "%s.kind", where);
    kind = json_string_value(json_object_get(p, "kind"));
    size_t j = 0;
    while (kind != NULL && kinds[j] != NULL && strcmp(kinds[j], kind) != 0)
        j++;
    if (kind == NULL || kinds[j] == NULL)
        return pn_node_fail(err, field, f, "expected direct, relay, reverse or remote");
    snprintf(f, sizeof(f), "%s.groups", where);
    if ((v = json_object_get(p, "groups")) != NULL &&
        pn_node_check_groups(v, f, err, field) != PN_OK)
        return PN_ERR;
    snprintf(f, sizeof(f), "%s.url", where);
    v = json_object_get(p, "url");
    if (!json_is_string(v))
        return pn_node_fail(err, field, f, "expected a proxy:// URL");
    if (pn_paths_check_url(json_string_value(v), f, err, field) != PN_OK)
        return PN_ERR;
    /* members by kind: required where it takes them, refused elsewhere */
    struct { const char *k; int need; } by[] = {
        { "nodes", needs_nodes(kind) }, { "exits", needs_exits(kind) },
        { "port", needs_exits(kind) }, { "allow", -needs_exits(kind) },
        { "manager", needs_manager(kind) },
    };
    for (j = 0; j < sizeof(by) / sizeof(by[0]); j++) {
        int has = json_object_get(p, by[j].k) != NULL;
        snprintf(f, sizeof(f), "%s.%s", where, by[j].k);
        if (by[j].need == 1 && !has)
            return pn_node_fail(err, field, f, "required for a %s path", kind);
        if (by[j].need == 0 && has)
            return pn_node_fail(err, field, f, "not taken by a %s path", kind);
    }
    if (json_object_get(p, "nodes") != NULL &&
        check_ids(m, json_object_get(p, "nodes"), where, "nodes", 64, err, field) != PN_OK)
        return PN_ERR;
    if (json_object_get(p, "exits") != NULL &&
        check_ids(m, json_object_get(p, "exits"), where, "exits", PN_PATH_EXITS_MAX, err,
                  field) != PN_OK)
        return PN_ERR;
    if ((v = json_object_get(p, "port")) != NULL) {
        json_int_t port = json_integer_value(v), last = port + (json_int_t)json_array_size(
                                                                  json_object_get(p, "exits")) - 1;
        snprintf(f, sizeof(f), "%s.port", where);
        if (!json_is_integer(v) || port < 1 || last > 65535)
            return pn_node_fail(err, field, f, "expected a port: exit i listens on (or dials) port + i");
    }
    if ((v = json_object_get(p, "allow")) != NULL) {
        char url[600], sub[PN_ERR_LEN];
        pn_config_t cfg;
        snprintf(f, sizeof(f), "%s.allow", where);
        if (!json_is_string(v) || strlen(json_string_value(v)) > 400)
            return pn_node_fail(err, field, f, "expected <ip>[/<bits>],...");
        snprintf(url, sizeof(url), "server://k@:1/127.0.0.1:9?mode=2&egress=1&allow=%s",
                 json_string_value(v));
        if (strchr(json_string_value(v), '&') || pn_config_parse(url, &cfg, sub) != PN_OK)
            return pn_node_fail(err, field, f, "expected <ip>[/<bits>],...");
        pn_config_clear(&cfg);
    }
    if ((v = json_object_get(p, "manager")) != NULL) {
        uint8_t ip[16];
        const char *s = json_string_value(v);
        snprintf(f, sizeof(f), "%s.manager", where);
        if (s == NULL || (inet_pton(AF_INET, s, ip) != 1 && inet_pton(AF_INET6, s, ip) != 1))
            return pn_node_fail(err, field, f, "expected the IP address the exits dial");
    }
    return PN_OK;
}

/* A tunnel key for the path named <name>: the one it had (same name and kind),
 * or a new random one. */
static void
give_key(const pn_manager_t *m, json_t *p)
{
    json_t *old;
    size_t i;
    json_array_foreach(m->paths, i, old) {
        const char *k = json_string_value(json_object_get(old, "key"));
        if (k != NULL && json_equal(json_object_get(old, "name"), json_object_get(p, "name")) &&
            json_equal(json_object_get(old, "kind"), json_object_get(p, "kind"))) {
            json_object_set_new(p, "key", json_string(k));
            return;
        }
    }
    uint8_t r[16];
    char hex[33];
    if (pn_random(r, sizeof(r)) != PN_OK)
        log_error("manager: no random bytes for a path's key");
    for (size_t j = 0; j < sizeof(r); j++)
        snprintf(hex + 2 * j, 3, "%02x", r[j]);
    json_object_set_new(p, "key", json_string(hex));
}

void
pn_paths_put(pn_manager_t *m, pn_mhttp_req_t *r, const char *t, size_t len)
{
    static const char *const known[] = { "paths", NULL };
    char err[PN_ERR_LEN], field[PN_NODE_FIELD_LEN];
    json_t *o = pn_node_load_object(t, len, known, err, field), *arr, *p;
    size_t i;
    if (o == NULL) {
        pn_api_reply_error(r, 400, field, err);
        return;
    }
    arr = json_object_get(o, "paths");
    if (!json_is_array(arr) || json_array_size(arr) > PN_PATHS_MAX) {
        json_decref(o);
        pn_api_reply_error(r, 400, "paths", "paths: expected an array of at most 32 paths");
        return;
    }
    json_array_foreach(arr, i, p) {
        int rc = check_path(m, p, i, err, field);
        for (size_t j = 0; rc == PN_OK && j < i; j++)
            if (json_equal(json_object_get(json_array_get(arr, j), "name"), json_object_get(p, "name"))) {
                char f[PN_NODE_FIELD_LEN];
                snprintf(f, sizeof(f), "paths[%zu].name", i);
                rc = pn_node_fail(err, field, f, "named twice");
            }
        if (rc != PN_OK) {
            json_decref(o);
            pn_api_reply_error(r, 400, field, err);
            return;
        }
    }
    json_t *next = json_deep_copy(arr);
    json_decref(o);
    json_array_foreach(next, i, p)
        give_key(m, p);
    char *text = json_dumps(next, JSON_COMPACT);
    int rc = pn_store_set(m->store, "fleet_paths", text);
    pn_conf_wipe_free(text);
    if (rc != PN_OK) {
        json_decref(next);
        pn_api_reply_error(r, 503, NULL, "db: cannot store the paths");
        return;
    }
    json_decref(m->paths);
    m->paths = next;
    log_info("manager: %zu paths", json_array_size(next));
    pn_manager_bump(m, 1);
    pn_api_reply_json(r, 200, pn_paths_json(m));
}

/* ---- rendering -------------------------------------------------------------- */

static int
has_id(json_t *arr, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (strcmp(json_string_value(v), id) == 0)
            return 1;
    return 0;
}

/* "<addr>" with brackets when it is IPv6, into <out> (64 bytes). */
static const char *
host_of(const char *addr, char out[64])
{
    snprintf(out, 64, strchr(addr, ':') ? "[%s]" : "%s", addr);
    return out;
}

/* Append {"name": "<prefix>.<path>", "url", ["groups"]} to <arr>. */
static void
add_item(json_t *arr, const char *prefix, json_t *p, const char *url, int entrance)
{
    char name[PN_NODE_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s.%s", prefix, json_string_value(json_object_get(p, "name")));
    json_t *it = json_pack("{s:s, s:s}", "name", name, "url", url);
    json_t *g = json_object_get(p, "groups");
    if (entrance && g != NULL)
        json_object_set(it, "groups", g);
    json_array_append_new(arr, it);
}

/* The entrance URL of <p> with via=<via> added (a new string). */
static char *
with_via(json_t *p, const char *via)
{
    const char *url = json_string_value(json_object_get(p, "url"));
    size_t n = strlen(url) + strlen(via) + 8;
    char *out = xmalloc(n);
    snprintf(out, n, "%s%svia=%s", url, strchr(url, '?') ? "&" : "?", via);
    return out;
}

/* The via= list of <p>'s entrance: each exit as "<key>@<host>:<port + i>" (the
 * relay and remote paths; <available>: only the exits whose push and pull
 * status are `available`), or "rev:<key>@<manager>:<port + i>" (reverse). A
 * new string, "" when no exit is listed. */
static char *
via_of(const pn_manager_t *m, json_t *p, int available)
{
    const char *key = json_string_value(json_object_get(p, "key"));
    const char *kind = json_string_value(json_object_get(p, "kind"));
    const char *mgr = json_string_value(json_object_get(p, "manager"));
    json_int_t port = json_integer_value(json_object_get(p, "port"));
    json_t *exits = json_object_get(p, "exits"), *id;
    size_t i, len = 0, cap = 64;
    char *out = xcalloc(cap), one[256], h[64];
    json_array_foreach(exits, i, id) {
        pn_mnode_t *n = pn_manager_node((pn_manager_t *)m, json_string_value(id));
        if (n == NULL || (available && (n->push != PN_MST_AVAILABLE || n->pull != PN_MST_AVAILABLE)))
            continue;
        int w = strcmp(kind, "reverse") == 0
                    ? snprintf(one, sizeof(one), "%srev:%s@%s:%lld", len ? "," : "", key,
                               host_of(mgr, h), (long long)(port + (json_int_t)i))
                    : snprintf(one, sizeof(one), "%s%s@%s:%lld", len ? "," : "", key,
                               host_of(n->address, h), (long long)(port + (json_int_t)i));
        while (len + (size_t)w + 1 > cap)
            out = xrealloc(out, cap *= 2);
        memcpy(out + len, one, (size_t)w + 1);
        len += (size_t)w;
    }
    return out;
}

/* The tunnel of the exit <i> of <p>: a server with egress the entrance dials
 * (relay, remote), or a client with egress dialling the manager (reverse). */
static char *
exit_url(json_t *p, size_t i)
{
    const char *key = json_string_value(json_object_get(p, "key"));
    const char *mgr = json_string_value(json_object_get(p, "manager"));
    const char *allow = json_string_value(json_object_get(p, "allow"));
    long long port = (long long)json_integer_value(json_object_get(p, "port")) + (long long)i;
    char h[64], *out = xmalloc(1024);
    if (mgr != NULL)
        snprintf(out, 1024, "client://%s@%s:%lld/127.0.0.1:9?mode=2&egress=1%s%s", key,
                 host_of(mgr, h), port, allow ? "&allow=" : "", allow ? allow : "");
    else
        snprintf(out, 1024, "server://%s@:%lld/127.0.0.1:9?mode=2&egress=1%s%s", key, port,
                 allow ? "&allow=" : "", allow ? allow : "");
    return out;
}

void
pn_paths_node_items(const pn_manager_t *m, const pn_mnode_t *n, json_t *ents, json_t *tuns)
{
    size_t i, j;
    json_t *p, *id;
    json_array_foreach(m->paths, i, p) {
        const char *kind = json_string_value(json_object_get(p, "kind"));
        if (has_id(json_object_get(p, "nodes"), n->id)) {
            if (strcmp(kind, "direct") == 0) {
                add_item(ents, "path", p, json_string_value(json_object_get(p, "url")), 1);
            } else {
                char *via = via_of(m, p, 0);
                char *url = *via ? with_via(p, via) : NULL;
                if (url != NULL)        /* no exit left: no entrance (it would be direct) */
                    add_item(ents, "path", p, url, 1);
                free(url);
                pn_conf_wipe_free(via);
            }
        }
        json_array_foreach(json_object_get(p, "exits"), j, id) {
            if (strcmp(json_string_value(id), n->id) != 0)
                continue;
            char *url = exit_url(p, j);
            add_item(tuns, "exit", p, url, 0);
            pn_conf_wipe_free(url);
            break;
        }
    }
}

void
pn_paths_local_items(const pn_manager_t *m, json_t *ents)
{
    size_t i;
    json_t *p;
    json_array_foreach(m->paths, i, p) {
        const char *kind = json_string_value(json_object_get(p, "kind"));
        if (strcmp(kind, "relay") != 0 && strcmp(kind, "reverse") != 0)
            continue;
        char *via = via_of(m, p, strcmp(kind, "relay") == 0);
        if (*via) {
            char *url = with_via(p, via);
            add_item(ents, "path", p, url, 1);
            pn_conf_wipe_free(url);
        }
        pn_conf_wipe_free(via);
    }
}
