/* master/api.c: routing and the endpoints of docs/master.md.
 *
 *   /                      dashboard (index.html, its postern-prefix meta tag set)
 *   /metrics               key: <prefix>/v1/metrics where scrapers look by default
 *   /assets/<file>         dashboard files
 *   <prefix>/v1/openapi.json, /docs          no key
 *   <prefix>/v1/...        key, then the endpoint
 */
#include "master/api.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/prom.h"
#include "master/assets.h"
#include "master/body.h"
#include "master/clusterview.h"
#include "master/metrics.h"
#include "master/tcping.h"
#include "master/view.h"
#include "tls/tls.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <unistd.h>

#define JSON_TYPE "application/json"

/* A tcping in flight: the request waits for the probe. */
typedef struct ping_req {
    pn_list_t node;             /* in pn_api.pings */
    pn_api_t *api;
    pn_mhttp_req_t *req;         /* answered by on_ping_done or pn_api_stop */
    pn_tcping_t *probe;         /* owned until it calls back */
    char *target;               /* owned */
} ping_req_t;

/* ---- replies ----------------------------------------------------------- */

static void
reply_json(pn_mhttp_req_t *r, int status, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    pn_mhttp_reply(r, status, JSON_TYPE, text, strlen(text));
    free(text);
}

/* {"error": "<msg>", "field": "<field>"}; <field> may be NULL or "". */
static void
reply_error(pn_mhttp_req_t *r, int status, const char *field, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(msg));
    if (field != NULL && *field != '\0')
        json_object_set_new(o, "field", json_string(field));
    reply_json(r, status, o);
}

void
pn_api_reply_json(pn_mhttp_req_t *r, int status, json_t *o)
{
    reply_json(r, status, o);
}

void
pn_api_reply_error(pn_mhttp_req_t *r, int status, const char *field, const char *msg)
{
    reply_error(r, status, field, msg);
}

static void
reply_not_found(pn_mhttp_req_t *r)
{
    reply_error(r, 404, NULL, "path: not found");
}

static void
reply_method(pn_mhttp_req_t *r, const char *allow)
{
    pn_mhttp_set_header(r, "Allow", allow);
    reply_error(r, 405, "method", "method: not allowed here");
}

/* ---- the key ------------------------------------------------------------ */

int
pn_api_key_new(char hex[2 * PN_API_KEY_BYTES + 1], uint8_t hash[PN_SHA256_LEN])
{
    uint8_t raw[PN_API_KEY_BYTES];
    if (pn_random(raw, sizeof(raw)) != PN_OK)
        return PN_ERR;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    pn_sha256(hex, 2 * PN_API_KEY_BYTES, hash);
    memset(raw, 0, sizeof(raw));
    return PN_OK;
}

int
pn_api_key_ok(const uint8_t hash[PN_SHA256_LEN], const char *presented)
{
    uint8_t h[PN_SHA256_LEN];
    if (presented == NULL)
        return 0;
    /* Hashing first makes the comparison independent of the key's length. */
    pn_sha256(presented, strlen(presented), h);
    return pn_memeq_ct(h, hash, PN_SHA256_LEN) == 0;
}

static void
hash_hex(const uint8_t hash[PN_SHA256_LEN], char out[2 * PN_SHA256_LEN + 1])
{
    for (size_t i = 0; i < PN_SHA256_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", hash[i]);
}

static int
hex_hash(const char *s, uint8_t out[PN_SHA256_LEN])
{
    if (strlen(s) != 2 * PN_SHA256_LEN)
        return PN_ERR;
    for (size_t i = 0; i < PN_SHA256_LEN; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return PN_ERR;
        out[i] = (uint8_t)v;
    }
    return PN_OK;
}

static const char *
presented_key(pn_mhttp_req_t *r)
{
    const char *k = pn_mhttp_header(r, "X-API-Key");
    if (k != NULL)
        return k;
    const char *auth = pn_mhttp_header(r, "Authorization");
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        auth += 7;
        while (*auth == ' ')
            auth++;
        return auth;
    }
    return NULL;
}

int
pn_api_init(pn_api_t *a, char **new_key)
{
    char *stored = NULL;
    *new_key = NULL;
    pn_list_init(&a->pings);
    int rc = pn_store_get(a->store, "key_sha256", &stored);
    if (rc == PN_ERR)
        return PN_ERR;
    if (rc == PN_OK && hex_hash(stored, a->key_hash) != PN_OK) {
        log_warn("master: the stored API key hash is malformed; making a new key");
        rc = PN_AGAIN;
    }
    free(stored);
    if (rc == PN_AGAIN) {
        char hex[2 * PN_API_KEY_BYTES + 1], hh[2 * PN_SHA256_LEN + 1];
        if (pn_api_key_new(hex, a->key_hash) != PN_OK)
            return PN_ERR;
        hash_hex(a->key_hash, hh);
        if (pn_store_set(a->store, "key_sha256", hh) != PN_OK)
            return PN_ERR;
        *new_key = xstrdup(hex);
        memset(hex, 0, sizeof(hex));
    }
    if (pn_store_get(a->store, "name", &a->name) != PN_OK) {
        struct utsname u;
        a->name = xstrdup(uname(&u) == 0 ? u.nodename : "postern");
    }
    return PN_OK;
}

void
pn_api_clear(pn_api_t *a)
{
    pn_api_stop(a);
    xfree(a->name);
}

/* ---- endpoints ----------------------------------------------------------- */

static pn_body_t *
parse_body(pn_mhttp_req_t *r, enum pn_body_kind kind, pn_body_t *b)
{
    char err[PN_ERR_LEN], field[PN_FIELD_LEN];
    size_t len;
    const char *text = pn_mhttp_body(r, &len);
    if (pn_body_parse(kind, text, len, b, err, field) != PN_OK) {
        reply_error(r, 400, field, err);
        return NULL;
    }
    return b;
}

static void
get_instances(pn_api_t *a, pn_mhttp_req_t *r)
{
    json_t *arr = json_array();
    pn_list_t *head = pn_super_list(a->super), *n;
    for (n = head->next; n != head; n = n->next)
        json_array_append_new(arr, pn_inst_json(pn_container_of(n, pn_inst_t, node)));
    reply_json(r, 200, arr);
}

static void
post_instances(pn_api_t *a, pn_mhttp_req_t *r)
{
    pn_body_t b;
    if (parse_body(r, PN_BODY_CREATE, &b) == NULL)
        return;
    pn_inst_t *in = pn_super_create(a->super, b.url, b.type, b.alias, b.restart != 0, b.tags);
    pn_body_clear(&b);
    if (in == NULL) {
        reply_error(r, 503, NULL, "db: cannot store the instance");
        return;
    }
    reply_json(r, 201, pn_inst_json(in));
}

/* Apply the checked PATCH body <b> (borrowed) to <in>: alias, restart, tags
 * (stored), then the action. Shared with the MCP tool update_instance. */
void
pn_api_patch(pn_inst_t *in, const pn_body_t *b)
{
    int changed = 0;
    if (b->alias != NULL) {
        free(in->alias);
        in->alias = xstrdup(b->alias);
        changed = 1;
    }
    if (b->restart >= 0) {
        in->restart = b->restart;
        changed = 1;
    }
    if (b->tags != NULL) {
        json_decref(in->tags);
        in->tags = json_deep_copy(b->tags);
        changed = 1;
    }
    if (changed)
        pn_super_commit(in);
    switch (b->action) {
    case PN_ACTION_START: pn_super_start(in); break;
    case PN_ACTION_STOP: pn_super_stop(in); break;
    case PN_ACTION_RESTART: pn_super_restart(in); break;
    case PN_ACTION_RESET: pn_super_reset(in); break;
    default: break;
    }
}

static void
patch_instance(pn_api_t *a, pn_mhttp_req_t *r, pn_inst_t *in)
{
    pn_body_t b;
    if (parse_body(r, PN_BODY_PATCH, &b) == NULL)
        return;
    pn_api_patch(in, &b);
    pn_body_clear(&b);
    reply_json(r, 200, pn_inst_json(in));
}

static void
put_instance(pn_api_t *a, pn_mhttp_req_t *r, pn_inst_t *in)
{
    pn_body_t b;
    if (parse_body(r, PN_BODY_PUT, &b) == NULL)
        return;
    pn_super_set_url(in, b.url, b.type);
    pn_body_clear(&b);
    reply_json(r, 200, pn_inst_json(in));
}

static void
add_line(const char *line, void *ctx)
{
    json_t *l = json_string(line);
    if (l == NULL)      /* not UTF-8 */
        l = json_string("(a line that is not UTF-8)");
    json_array_append_new(ctx, l);
}

static void
get_logs(pn_mhttp_req_t *r, pn_inst_t *in)
{
    json_t *arr = json_array();
    pn_inst_logs(in, add_line, arr);
    json_t *o = json_object();
    json_object_set_new(o, "logs", arr);
    reply_json(r, 200, o);
}

/* {"clients","routes","accounts","truncated","updated"[,"cluster"]}: the hub's last state,
 * empty lists and "updated": null before the first (or once its child is gone). */
static void
get_hub(pn_mhttp_req_t *r, pn_inst_t *in)
{
    static const char *const lists[] = { "clients", "routes", "accounts" };
    char at[PN_TIME_LEN];
    if (!pn_inst_is_hub(in)) {
        reply_error(r, 404, "id", "id: the instance is not a hub (its URL is not hub://)");
        return;
    }
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        json_t *l = in->hub ? json_object_get(in->hub, lists[i]) : NULL;
        json_object_set_new(o, lists[i], l ? json_incref(l) : json_array());
    }
    json_t *cluster = in->hub != NULL ? json_object_get(in->hub, "cluster") : NULL;
    if (cluster != NULL)        /* a clustered hub (docs/hub.md §7) */
        json_object_set(o, "cluster", cluster);
    int cut = in->hub != NULL && json_is_true(json_object_get(in->hub, "truncated"));
    json_object_set_new(o, "truncated", json_boolean(cut));
    json_object_set_new(o, "updated",
                        in->hub ? json_string(pn_time_rfc3339(in->hub_updated, at)) : json_null());
    reply_json(r, 200, o);
}

/* GET /instances/{id}/history?range=<duration>: the chart's buckets
 * (master/history.h), 1h when no range is given. */
static void
get_history(pn_api_t *a, pn_mhttp_req_t *r, pn_inst_t *in)
{
    char *range = pn_mhttp_query(r, "range");
    int64_t s = 3600;
    if (range != NULL && pn_history_range(range, &s) != PN_OK) {
        free(range);
        reply_error(r, 400, "range", "range: expected a duration from 1m to 24h (e.g. 1h)");
        return;
    }
    free(range);
    json_t *o = a->history ? pn_history_json(a->history, in, s) : NULL;
    if (o == NULL) {
        reply_error(r, 503, NULL, "db: cannot read the history");
        return;
    }
    reply_json(r, 200, o);
}

static void
route_instance(pn_api_t *a, pn_mhttp_req_t *r, const char *rest)
{
    char id[16];
    const char *slash = strchr(rest, '/');
    size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (idlen == 0 || idlen >= sizeof(id)) {
        reply_not_found(r);
        return;
    }
    memcpy(id, rest, idlen);
    id[idlen] = '\0';
    enum pn_mhttp_method m = pn_mhttp_method(r);
    if (slash != NULL) {
        if (strcmp(slash, "/logs") != 0 && strcmp(slash, "/hub") != 0 &&
            strcmp(slash, "/history") != 0) {
            reply_not_found(r);
            return;
        }
        if (m != PN_MHTTP_GET && m != PN_MHTTP_HEAD) {
            reply_method(r, "GET");
            return;
        }
    } else if (m != PN_MHTTP_GET && m != PN_MHTTP_HEAD && m != PN_MHTTP_PATCH && m != PN_MHTTP_PUT &&
               m != PN_MHTTP_DELETE) {
        reply_method(r, "GET, PATCH, PUT, DELETE");
        return;
    }
    pn_inst_t *in = pn_super_find(a->super, id);
    if (in == NULL) {
        reply_error(r, 404, "id", "id: no such instance");
        return;
    }
    if (slash != NULL) {
        if (strcmp(slash, "/history") == 0)
            get_history(a, r, in);
        else if (slash[1] == 'h')
            get_hub(r, in);
        else
            get_logs(r, in);
        return;
    }
    switch (m) {
    case PN_MHTTP_PATCH: patch_instance(a, r, in); break;
    case PN_MHTTP_PUT: put_instance(a, r, in); break;
    case PN_MHTTP_DELETE:
        pn_super_delete(in);
        pn_mhttp_reply(r, 204, NULL, NULL, 0);
        break;
    default: reply_json(r, 200, pn_inst_json(in)); break;
    }
}

static const char *
level_name(enum log_level l)
{
    static const char *const names[] = { "debug", "info", "warn", "error", "event", "none" };
    return (unsigned)l < sizeof(names) / sizeof(names[0]) ? names[l] : "info";
}

/* The Info object of docs/master.md (a new reference); shared with MCP's get_info. */
json_t *
pn_api_info_json(pn_api_t *a)
{
    pn_host_t h;
    struct utsname u;
    pn_info_read(a->info, &h);
    if (uname(&u) != 0)
        memset(&u, 0, sizeof(u));
    for (char *p = u.sysname; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(a->name));
    json_object_set_new(o, "ver", json_string(POSTERN_VERSION));
    json_object_set_new(o, "os", json_string(u.sysname));
    json_object_set_new(o, "arch", json_string(u.machine));
    json_object_set_new(o, "cpu", json_real((double)(int)(h.cpu * 10 + 0.5) / 10));
    json_object_set_new(o, "mem_total", json_integer((json_int_t)h.mem_total));
    json_object_set_new(o, "mem_used", json_integer((json_int_t)h.mem_used));
    json_object_set_new(o, "swap_total", json_integer((json_int_t)h.swap_total));
    json_object_set_new(o, "swap_used", json_integer((json_int_t)h.swap_used));
    json_object_set_new(o, "netrx", json_integer((json_int_t)h.netrx));
    json_object_set_new(o, "nettx", json_integer((json_int_t)h.nettx));
    json_object_set_new(o, "sysup", json_integer((json_int_t)h.sysup));
    json_object_set_new(o, "uptime", json_integer((json_int_t)((pn_now_ms() - a->start_ms) / 1000)));
    json_object_set_new(o, "instances", json_integer((json_int_t)pn_super_count(a->super)));
    json_object_set_new(o, "log", json_string(level_name(a->cfg->log)));
    json_object_set_new(o, "tls", json_integer(a->cfg->tls));
    return o;
}

static void
reply_info(pn_api_t *a, pn_mhttp_req_t *r)
{
    reply_json(r, 200, pn_api_info_json(a));
}

static void
post_info(pn_api_t *a, pn_mhttp_req_t *r)
{
    pn_body_t b;
    if (parse_body(r, PN_BODY_INFO, &b) == NULL)
        return;
    if (pn_store_set(a->store, "name", b.name) != PN_OK) {
        pn_body_clear(&b);
        reply_error(r, 503, NULL, "db: cannot store the name");
        return;
    }
    free(a->name);
    a->name = xstrdup(b.name);
    pn_body_clear(&b);
    reply_info(a, r);
}

static void
on_ping_done(int connected, uint64_t latency_ms, const char *err, void *ctx)
{
    ping_req_t *p = ctx;
    json_t *o = json_object();
    json_object_set_new(o, "target", json_string(p->target));
    json_object_set_new(o, "connected", json_boolean(connected));
    json_object_set_new(o, "latency", json_integer(connected ? (json_int_t)latency_ms : 0));
    json_object_set_new(o, "error", json_string(err));
    reply_json(p->req, 200, o);
    pn_list_del(&p->node);
    free(p->target);
    free(p);        /* the probe frees itself after this callback */
}

static void
get_tcping(pn_api_t *a, pn_mhttp_req_t *r)
{
    char err[PN_ERR_LEN];
    char *target = pn_mhttp_query(r, "target");
    ping_req_t *p = xcalloc(sizeof(*p));
    p->api = a;
    p->req = r;
    p->target = target;
    p->probe = pn_tcping_start(a->loop, a->dns, target, on_ping_done, p, err);
    if (p->probe == NULL) {
        free(target);
        free(p);
        reply_error(r, 400, "target", err);
        return;
    }
    pn_list_add(&a->pings, &p->node);
}

/* The metrics page as a new string (the caller frees it), its length in *<len>;
 * shared with MCP's get_metrics. */
char *
pn_api_metrics_text(pn_api_t *a, size_t *len)
{
    size_t n = pn_super_count(a->super), i = 0;
    pn_metric_inst_t *v = xcalloc((n ? n : 1) * sizeof(*v));
    pn_list_t *head = pn_super_list(a->super), *it;
    for (it = head->next; it != head; it = it->next, i++) {
        pn_inst_t *in = pn_container_of(it, pn_inst_t, node);
        v[i].id = in->id;
        v[i].alias = in->alias;
        v[i].status = pn_inst_status_name(in->status);
        const char *reason;
        v[i].state = pn_health_name(pn_inst_health(in, &reason));
        for (int k = 0; k < PN_NCOUNTERS; k++)
            v[i].bytes[k] = pn_inst_counter(in, (enum pn_counter)k);
        v[i].tcps = in->tcps;
        v[i].udps = in->udps;
        v[i].pool = in->pool;
        v[i].ping_ms = in->ping;
        v[i].restarts = in->restarts;
        v[i].is_hub = pn_inst_is_hub(in);
        v[i].hub = v[i].is_hub ? in->hub : NULL;
    }
    char *text = pn_metrics_format(v, n, (pn_now_ms() - a->start_ms) / 1000, len);
    free(v);
    return text;
}

static void
get_metrics(pn_api_t *a, pn_mhttp_req_t *r)
{
    size_t len;
    char *text = pn_api_metrics_text(a, &len);
    pn_mhttp_reply(r, 200, PN_PROM_TYPE, text, len);
    free(text);
}

static void
post_key(pn_api_t *a, pn_mhttp_req_t *r)
{
    char hex[2 * PN_API_KEY_BYTES + 1], hh[2 * PN_SHA256_LEN + 1];
    uint8_t hash[PN_SHA256_LEN];
    if (pn_api_key_new(hex, hash) != PN_OK) {
        reply_error(r, 503, NULL, "key: no random bytes");
        return;
    }
    hash_hex(hash, hh);
    if (pn_store_set(a->store, "key_sha256", hh) != PN_OK) {
        reply_error(r, 503, NULL, "db: cannot store the new key");
        return;
    }
    memcpy(a->key_hash, hash, sizeof(hash));
    log_info("master: API key rotated");
    json_t *o = json_object();
    json_object_set_new(o, "key", json_string(hex));
    memset(hex, 0, sizeof(hex));
    reply_json(r, 200, o);
}

static void
reply_asset(pn_mhttp_req_t *r, const char *name)
{
    const pn_asset_t *f = pn_asset_find(name);
    if (f == NULL) {
        reply_not_found(r);
        return;
    }
    pn_mhttp_reply(r, 200, pn_asset_type(name), f->data, f->len);
}

/* index.html with the API prefix in <meta name="postern-prefix" content="...">:
 * the page's own tag gets the configured prefix, or one is inserted before
 * </head>; the page then finds the API under any prefix. */
static void
reply_index(pn_api_t *a, pn_mhttp_req_t *r)
{
    static const char tag[] = "<meta name=\"postern-prefix\" content=\"";
    const pn_asset_t *f = pn_asset_find("web/index.html");
    const char *type = "text/html; charset=utf-8";
    const char *data, *cut_from, *cut_to;
    char ins[160];
    int n;
    if (f == NULL) {
        reply_not_found(r);
        return;
    }
    data = (const char *)f->data;
    const char *t = memmem(data, f->len, tag, sizeof(tag) - 1);
    const char *q = t ? memchr(t + sizeof(tag) - 1, '"', f->len - (size_t)(t + sizeof(tag) - 1 - data)) : NULL;
    if (t != NULL && q != NULL) {
        cut_from = t + sizeof(tag) - 1;     /* replace the value */
        cut_to = q;
        n = snprintf(ins, sizeof(ins), "%s", a->cfg->prefix);
    } else if ((cut_from = memmem(data, f->len, "</head>", 7)) != NULL) {
        cut_to = cut_from;                  /* insert a tag */
        n = snprintf(ins, sizeof(ins), "%s%s\">\n", tag, a->cfg->prefix);
    } else {
        pn_mhttp_reply(r, 200, type, f->data, f->len);
        return;
    }
    size_t pre = (size_t)(cut_from - data), post = f->len - (size_t)(cut_to - data);
    char *page = xmalloc(pre + (size_t)n + post);
    memcpy(page, data, pre);
    memcpy(page + pre, ins, (size_t)n);
    memcpy(page + pre + (size_t)n, cut_to, post);
    pn_mhttp_reply(r, 200, type, page, pre + (size_t)n + post);
    free(page);
}

static void
route_api(pn_api_t *a, pn_mhttp_req_t *r, const char *rest)
{
    enum pn_mhttp_method m = pn_mhttp_method(r);
    int get = m == PN_MHTTP_GET || m == PN_MHTTP_HEAD;

    if (strcmp(rest, "/openapi.json") == 0 || strcmp(rest, "/docs") == 0) {
        if (!get) {
            reply_method(r, "GET");
            return;
        }
        reply_asset(r, rest[1] == 'o' ? "openapi.json" : "docs.html");
        return;
    }
    if (!pn_api_key_ok(a->key_hash, presented_key(r))) {
        pn_mhttp_set_header(r, "WWW-Authenticate", "Bearer realm=\"postern\"");
        reply_error(r, 401, NULL, "missing or wrong API key");
        return;
    }
    /* The node and manager paths (master/fleet.h) bound their own bodies. */
    if (a->fleet != NULL && a->fleet(a, r, rest))
        return;
    size_t blen;
    pn_mhttp_body(r, &blen);
    if (blen > PN_API_BODY_MAX) {
        reply_error(r, 413, "body", "body: larger than 64 KiB");
        return;
    }
    if (strcmp(rest, "/instances") == 0) {
        if (get)
            get_instances(a, r);
        else if (m == PN_MHTTP_POST)
            post_instances(a, r);
        else
            reply_method(r, "GET, POST");
    } else if (strncmp(rest, "/instances/", 11) == 0) {
        route_instance(a, r, rest + 11);
    } else if (strcmp(rest, "/events") == 0) {
        if (m == PN_MHTTP_GET)
            pn_events_add(a->events, r, a->super);
        else
            reply_method(r, "GET");
    } else if (strcmp(rest, "/info") == 0) {
        if (get)
            reply_info(a, r);
        else if (m == PN_MHTTP_POST)
            post_info(a, r);
        else
            reply_method(r, "GET, POST");
    } else if (strcmp(rest, "/cluster") == 0) {
        if (get)
            reply_json(r, 200, pn_clview_json(a->super));
        else
            reply_method(r, "GET");
    } else if (strcmp(rest, "/tcping") == 0) {
        if (get)
            get_tcping(a, r);
        else
            reply_method(r, "GET");
    } else if (strcmp(rest, "/metrics") == 0) {
        if (get)
            get_metrics(a, r);
        else
            reply_method(r, "GET");
    } else if (strcmp(rest, "/mcp") == 0 && a->mcp != NULL) {
        if (m == PN_MHTTP_POST)
            a->mcp(a, r);
        else
            reply_method(r, "POST");
    } else if (strcmp(rest, "/key") == 0) {
        if (m == PN_MHTTP_POST)
            post_key(a, r);
        else
            reply_method(r, "POST");
    } else {
        reply_not_found(r);
    }
}

void
pn_api_handle(pn_mhttp_req_t *r, void *ctx)
{
    pn_api_t *a = ctx;
    const char *path = pn_mhttp_path(r);
    size_t plen = strlen(a->cfg->prefix);
    enum pn_mhttp_method m = pn_mhttp_method(r);

    if (a->stopping) {
        reply_error(r, 503, NULL, "master: shutting down");
        return;
    }
    if (strncmp(path, a->cfg->prefix, plen) == 0 && strncmp(path + plen, "/v1", 3) == 0 &&
        (path[plen + 3] == '/' || path[plen + 3] == '\0')) {
        route_api(a, r, path + plen + 3);
        return;
    }
    /* Where scrapers look by default; the same key as <prefix>/v1/metrics. */
    if (strcmp(path, "/metrics") == 0) {
        if (m != PN_MHTTP_GET && m != PN_MHTTP_HEAD) {
            reply_method(r, "GET");
        } else if (!pn_api_key_ok(a->key_hash, presented_key(r))) {
            pn_mhttp_set_header(r, "WWW-Authenticate", "Bearer realm=\"postern\"");
            reply_error(r, 401, NULL, "missing or wrong API key");
        } else {
            get_metrics(a, r);
        }
        return;
    }
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        if (m != PN_MHTTP_GET && m != PN_MHTTP_HEAD)
            reply_method(r, "GET");
        else
            reply_index(a, r);
        return;
    }
    if (strncmp(path, "/assets/", 8) == 0) {
        const char *file = path + 8;
        char name[128];
        if (m != PN_MHTTP_GET && m != PN_MHTTP_HEAD) {
            reply_method(r, "GET");
            return;
        }
        if (*file == '\0' || strchr(file, '/') != NULL || strlen(file) > 100) {
            reply_not_found(r);
            return;
        }
        snprintf(name, sizeof(name), "web/%s", file);
        reply_asset(r, name);
        return;
    }
    reply_not_found(r);
}

void
pn_api_stop(pn_api_t *a)
{
    a->stopping = 1;
    while (!pn_list_empty(&a->pings)) {
        ping_req_t *p = pn_container_of(a->pings.next, ping_req_t, node);
        pn_list_del(&p->node);
        pn_tcping_cancel(p->probe);
        reply_error(p->req, 503, NULL, "master: shutting down");
        free(p->target);
        free(p);
    }
}
