/* modes/hub_reg_rsync.c: the Redis registry kept in step (see hub_reg_redis.c
 * and hub_reg_rpriv.h): route keys, EVAL of the scripts (hub_reg_lua.h), the
 * memory registry's events sent to Redis, pub/sub into the cache of other
 * hubs' routes, reconcile when Redis returns, the heartbeat, the state view. */
#include "modes/hub_reg_rpriv.h"
#include "modes/hub_reg_lua.h"
#include "core/log.h"
#include "core/mem.h"
#include "tls/digest.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- route keys ---- */

static int
type_of(const char *name, size_t n)
{
    static const uint8_t types[] = { PN_RT_TCP, PN_RT_UDP, PN_RT_HTTP, PN_RT_HTTPS };
    for (size_t i = 0; i < sizeof(types); i++) {
        const char *t = pn_conf_route_type_name(types[i]);
        if (strlen(t) == n && memcmp(t, name, n) == 0)
            return types[i];
    }
    return -1;
}

/* "pn:r:tcp:8080", "pn:r:http:<host>", "pn:r:tcp~<group in hex>". */
void
hub_rr_key_port(char *k, uint8_t type, uint16_t port)
{
    snprintf(k, KEY_MAX, "pn:r:%s:%u", pn_conf_route_type_name(type), (unsigned)port);
}

void
hub_rr_key_host(char *k, uint8_t type, const char *host)
{
    snprintf(k, KEY_MAX, "pn:r:%s:%s", pn_conf_route_type_name(type), host);
}

void
hub_rr_key_group(char *k, uint8_t type, const char *group)
{
    int n = snprintf(k, KEY_MAX, "pn:r:%s~", pn_conf_route_type_name(type));
    for (const unsigned char *p = (const unsigned char *)group; *p && n + 3 < KEY_MAX; p++)
        n += snprintf(k + n, (size_t)(KEY_MAX - n), "%02x", *p);
}

/* The local route a route key (without "pn:r:") names, or NULL. */
static struct hroute *
key_local(redis_reg_t *g, const char *route)
{
    size_t tl = strcspn(route, ":~");
    int type = type_of(route, tl);
    char grp[PN_ROUTE_GROUP_MAX + 1];
    if (type < 0 || route[tl] == '\0')
        return NULL;
    const char *rest = route + tl + 1;
    if (route[tl] == '~') {
        size_t n = strlen(rest) / 2, i;
        if (n >= sizeof(grp))
            return NULL;
        for (i = 0; i < n; i++) {
            unsigned v;
            if (sscanf(rest + 2 * i, "%2x", &v) != 1)
                return NULL;
            grp[i] = (char)v;
        }
        grp[i] = '\0';
        return hub_reg_by_group(g->mem, (uint8_t)type, grp);
    }
    if (type == PN_RT_TCP || type == PN_RT_UDP)
        return hub_reg_by_port(g->mem, (uint8_t)type, (uint16_t)strtoul(rest, NULL, 10));
    return hub_reg_by_host(g->mem, (uint8_t)type, rest);
}

/* Tell the remote watcher that another hub's route <route> (a key without
 * "pn:r:") appeared or went: tcp/udp ones, by port. */
void
hub_rr_remote_tell(redis_reg_t *g, int add, const char *route)
{
    size_t tl = strcspn(route, ":~");
    int type = type_of(route, tl);
    if (g->remote_cb == NULL || (type != PN_RT_TCP && type != PN_RT_UDP) || route[tl] != ':')
        return;
    g->remote_cb(add, (uint8_t)type, (uint16_t)strtoul(route + tl + 1, NULL, 10), g->remote_arg);
}

/* The keys of local route <r> into <k>; their number. */
static int
route_keys(const struct hroute *r, char k[2][KEY_MAX])
{
    int n = 0;
    if (r->type == PN_RT_TCP || r->type == PN_RT_UDP) {
        hub_rr_key_port(k[n++], r->type, r->port);
        if (r->group[0] != '\0')
            hub_rr_key_group(k[n++], r->type, r->group);
    } else {
        hub_rr_key_host(k[n++], r->type, r->host);
    }
    return n;
}

/* ---- Redis commands ---- */

static void
on_ignored(redisReply *y, void *arg)
{
    (void)arg;
    if (y != NULL && y->type == REDIS_REPLY_ERROR)
        log_warn("cluster: Redis refused a registry update: %.200s", y->str);
}

/* The registry's scripts, named by their SHA-1 (EVALSHA): a claim sends 40
 * bytes instead of the script's 2 KB, which Redis parses faster and the hub
 * buffers less of while thousands of claims are on their way. Each is loaded
 * (SCRIPT LOAD) whenever Redis is reached, before anything else is sent on
 * that connection, and again when Redis says NOSCRIPT (flushed meanwhile). */
static struct script {
    const char *text;
    char sha[PN_SHA1_HEX_LEN + 1];
} scripts[] = {
    { HUB_LUA_CLAIM, "" }, { HUB_LUA_RELEASE, "" }, { HUB_LUA_BEAT, "" }, { HUB_LUA_SHARE, "" },
};
#define NSCRIPTS (sizeof(scripts) / sizeof(scripts[0]))

static struct script *
script_of(const char *text)
{
    for (size_t i = 0; i < NSCRIPTS; i++)
        if (scripts[i].text == text || strcmp(scripts[i].text, text) == 0) {
            if (scripts[i].sha[0] == '\0')
                pn_sha1_hex(scripts[i].text, strlen(scripts[i].text), scripts[i].sha);
            return &scripts[i];
        }
    return NULL;
}

static void
scripts_load(redis_reg_t *g)
{
    for (size_t i = 0; i < NSCRIPTS; i++) {
        const char *argv[] = { "SCRIPT", "LOAD", scripts[i].text };
        size_t len[] = { 6, 4, strlen(scripts[i].text) };
        (void)hub_redis_cmd(g->rd, on_ignored, NULL, 3, argv, len);
    }
}

/* A script's answer: NOSCRIPT (Redis lost its scripts) loads them again. */
struct evcall {
    redis_reg_t *g;
    hub_redis_reply_cb cb;
    void *arg;
};

static void
on_eval(redisReply *y, void *arg)
{
    struct evcall e = *(struct evcall *)arg;
    free(arg);
    if (y != NULL && y->type == REDIS_REPLY_ERROR && strncmp(y->str, "NOSCRIPT", 8) == 0 &&
        !e.g->freeing) {
        log_warn("cluster: Redis lost the registry's scripts: loading them again");
        scripts_load(e.g);
    }
    e.cb(y, e.arg);
}

/* EVALSHA <script> with <nkeys> <keys> and the <nargs> strings that follow. */
int
hub_rr_eval(redis_reg_t *g, const char *script, hub_redis_reply_cb cb, void *arg, int nkeys,
     char keys[][KEY_MAX], int nargs, ...)
{
    const char *argv[16];
    size_t len[16];
    char nk[8];
    int n = 0;
    va_list ap;
    struct script *sc = script_of(script);
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[n++] = sc != NULL ? "EVALSHA" : "EVAL";
    argv[n++] = sc != NULL ? sc->sha : script;
    argv[n++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[n++] = keys[i];
    va_start(ap, nargs);
    for (int i = 0; i < nargs && n < 16; i++)
        argv[n++] = va_arg(ap, const char *);
    va_end(ap);
    for (int i = 0; i < n; i++)
        len[i] = strlen(argv[i]);
    struct evcall *e = xmalloc(sizeof(*e));
    *e = (struct evcall){ g, cb ? cb : on_ignored, arg };
    if (hub_redis_cmd(g->rd, on_eval, e, n, argv, len) != PN_OK) {
        free(e);
        return PN_ERR;
    }
    return PN_OK;
}

/* Give back <keys> that no local route holds (a claim granted too late or
 * refused by the memory registry), but not a key a claim still waiting for
 * Redis names: that claim went out before this release would, Redis runs
 * them in order, and the release would delete the key the claim is then told
 * it holds (an agent asking again after its first claim missed the deadline).
 * That claim's own answer gives the key back if it is not held then. */
void
hub_rr_release_unheld(redis_reg_t *g, char keys[][KEY_MAX], int nkeys)
{
    for (int i = 0; i < nkeys; i++) {
        if (key_local(g, keys[i] + 5) == NULL && !hub_rr_claiming(g, keys[i]))
            (void)hub_rr_eval(g, HUB_LUA_RELEASE, NULL, NULL, 1, &keys[i], 1, g->id);
    }
}

int
hub_rr_claiming(const redis_reg_t *g, const char *key)
{
    for (const pn_list_t *p = g->pending.next; p != &g->pending; p = p->next) {
        const struct rclaim *c = pn_container_of(p, struct rclaim, node);
        const char *k = c->keys;
        for (int i = 0; i < c->nkeys; i++, k += strlen(k) + 1)
            if (strcmp(k, key) == 0)
                return 1;
    }
    return 0;
}

/* A local route's keys claimed again (Redis returned) or marked held/live. */
static void
on_assert(redisReply *y, void *arg)
{
    redis_reg_t *g = arg;
    if (y != NULL && y->type == REDIS_REPLY_ARRAY && y->elements == 3 &&
        y->element[0]->integer == 0 && y->element[2]->type == REDIS_REPLY_STRING) {
        g->conflicts++;
        log_warn("cluster: a route of this hub is held by hub %.64s too (claimed there while "
                 "this hub could not reach Redis); both serve it until one lets it go",
                 y->element[2]->str);
    }
}

static void
route_assert(redis_reg_t *g, struct hroute *r)
{
    char k[2][KEY_MAX];
    int n = route_keys(r, k);
    (void)hub_rr_eval(g, HUB_LUA_CLAIM, on_assert, g, n, k, 3, g->id, r->acct->name,
               r->nmembers == 0 ? "1" : "0");
}

/* ---- the memory registry's events ---- */

void
hub_rr_on_mem_event(hub_reg_event_t ev, struct hroute *r, struct hmember *m, void *arg)
{
    redis_reg_t *g = arg;
    char k[2][KEY_MAX];
    if (g->freeing || !hub_redis_up(g->rd))
        return;                 /* reconciled when Redis is back */
    if (ev == HUB_REG_DEL && r->nmembers == 1) {
        int n = route_keys(r, k);
        (void)hub_rr_eval(g, HUB_LUA_CLAIM, on_assert, g, n, k, 3, g->id, r->acct->name, "1");
    } else if (ev == HUB_REG_ADD && r->nmembers == 1 && !g->in_claim) {
        route_assert(g, r);
    } else if (ev == HUB_REG_GONE) {
        int n = route_keys(r, k);
        (void)hub_rr_eval(g, HUB_LUA_RELEASE, NULL, NULL, n, k, 1, g->id);
    }
}

/* ---- pub/sub, reconcile, heartbeat ---- */

/* "+ <route> <held>|<hub>|<account>" or "- <route> <hub>". */
void
hub_rr_on_msg(const char *msg, size_t len, void *arg)
{
    redis_reg_t *g = arg;
    hub_rmsg_t m;
    if (hub_rcache_msg_parse(msg, len, &m) != PN_OK)
        return;
    if (!m.add) {
        if (strcmp(m.rest, g->id) != 0 && hub_rcache_del(&g->cache, m.route, m.rest))
            hub_rr_remote_tell(g, 0, m.route);
        return;
    }
    if (hub_rcache_put_value(&g->cache, m.route, m.rest, strlen(m.rest)) != PN_OK)
        return;
    hub_rentry_t *e = hub_rcache_get(&g->cache, m.route);
    if (strcmp(e->hub, g->id) == 0) {
        hub_rcache_del(&g->cache, m.route, NULL);   /* ours: not a remote route */
        hub_rr_remote_tell(g, 0, m.route);
        return;
    }
    struct hroute *r = key_local(g, m.route);
    if (r != NULL && r->nmembers == 0) {
        log_info("cluster: route %s was held here for account %s; hub %s took it over", m.route,
                 r->acct->name, e->hub);
        hub_reg_mem_drop(g->mem, r);
    }
    hub_rr_remote_tell(g, 1, m.route);
}

static int
assert_each(struct hroute *r, void *arg)
{
    route_assert(arg, r);
    return 0;
}

/* SMEMBERS pn:hubr:<id>: keys of ours that no local route holds go. */
static void
on_mine(redisReply *y, void *arg)
{
    redis_reg_t *g = arg;
    char k[1][KEY_MAX];
    if (y == NULL || y->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < y->elements; i++) {
        if (y->element[i]->type != REDIS_REPLY_STRING || y->element[i]->len < 6 ||
            y->element[i]->len >= KEY_MAX)
            continue;
        snprintf(k[0], KEY_MAX, "%s", y->element[i]->str);
        hub_rr_release_unheld(g, k, 1);
    }
}

static void scan_next(redis_reg_t *g, const char *cursor);

/* One page of MGET values for the keys one SCAN page named (arg: the keys). */
struct scanpage {
    redis_reg_t *g;
    size_t n;
    char **keys;                /* owned */
};

static void
on_values(redisReply *y, void *arg)
{
    struct scanpage *p = arg;
    if (y != NULL && y->type == REDIS_REPLY_ARRAY && y->elements == p->n) {
        for (size_t i = 0; i < p->n; i++) {
            const char *route = p->keys[i] + 5;
            if (y->element[i]->type != REDIS_REPLY_STRING ||
                hub_rcache_put_value(&p->g->cache, route, y->element[i]->str,
                                     y->element[i]->len) != PN_OK)
                continue;
            if (strcmp(hub_rcache_get(&p->g->cache, route)->hub, p->g->id) == 0)
                hub_rcache_del(&p->g->cache, route, NULL);      /* ours */
            else
                hub_rr_remote_tell(p->g, 1, route);
        }
    }
    for (size_t i = 0; i < p->n; i++)
        free(p->keys[i]);
    free(p->keys);
    free(p);
}

static void
on_scan(redisReply *y, void *arg)
{
    redis_reg_t *g = arg;
    if (y == NULL || y->type != REDIS_REPLY_ARRAY || y->elements != 2 ||
        y->element[0]->type != REDIS_REPLY_STRING || y->element[1]->type != REDIS_REPLY_ARRAY)
        return;
    redisReply *ks = y->element[1];
    if (ks->elements > 0) {
        struct scanpage *p = xcalloc(sizeof(*p));
        const char **argv = xcalloc((ks->elements + 1) * sizeof(*argv));
        size_t *len = xcalloc((ks->elements + 1) * sizeof(*len));
        p->g = g;
        p->keys = xcalloc(ks->elements * sizeof(*p->keys));
        argv[0] = "MGET";
        len[0] = 4;
        for (size_t i = 0; i < ks->elements; i++) {
            p->keys[p->n] = xstrdup(ks->element[i]->type == REDIS_REPLY_STRING
                                    ? ks->element[i]->str : "pn:r:");
            argv[p->n + 1] = p->keys[p->n];
            len[p->n + 1] = strlen(p->keys[p->n]);
            p->n++;
        }
        if (hub_redis_cmd(g->rd, on_values, p, (int)p->n + 1, argv, len) != PN_OK)
            on_values(NULL, p);
        free(argv);
        free(len);
    }
    if (strcmp(y->element[0]->str, "0") != 0)
        scan_next(g, y->element[0]->str);
}

static void
scan_next(redis_reg_t *g, const char *cursor)
{
    const char *argv[] = { "SCAN", cursor, "MATCH", "pn:r:*", "COUNT", SCAN_COUNT };
    size_t len[6];
    for (int i = 0; i < 6; i++)
        len[i] = strlen(argv[i]);
    (void)hub_redis_cmd(g->rd, on_scan, g, 6, argv, len);
}

/* The heartbeat's answer: the live hubs; when other hubs swept route keys of
 * this one (its heartbeat had ended while it lived: its loop or Redis slower
 * than the TTL), every local route is claimed again, as when Redis returns. */
static void
on_beat(redisReply *y, void *arg, int check)
{
    redis_reg_t *g = arg;
    if (y == NULL || y->type != REDIS_REPLY_ARRAY || y->elements < 1 ||
        y->element[0]->type != REDIS_REPLY_INTEGER)
        return;
    if (check && y->element[0]->integer == 1 && !g->freeing) {
        g->lapses++;
        log_warn("cluster: this hub's heartbeat had expired in Redis (TTL %s ms) and other hubs "
                 "swept some of its routes: every route it holds is claimed again", g->ttl);
        hub_reg_each(g->mem, assert_each, g);
    }
    json_t *hubs = json_array();
    for (size_t i = 1; i + 2 < y->elements; i += 3) {
        redisReply **e = y->element + i;
        if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING ||
            e[2]->type != REDIS_REPLY_STRING)
            continue;
        /* How long ago that hub beat (with this hub's TTL), as its heartbeat's end tells. */
        long long left = strtoll(e[2]->str, NULL, 10);
        long long age = left >= 0 && (uint64_t)left < g->ttl_ms ? (long long)g->ttl_ms - left : 0;
        json_array_append_new(hubs, json_pack("{s:s,s:s,s:I}", "id", e[0]->str, "peer",
                                              e[1]->str, "age_ms", (json_int_t)age));
    }
    json_decref(g->hubs);
    g->hubs = hubs;
}

int
hub_rr_pair(const struct redisReply *y, uint64_t *first, uint64_t *second)
{
    if (y == NULL || y->type != REDIS_REPLY_ARRAY || y->elements != 2 ||
        y->element[0]->type != REDIS_REPLY_INTEGER || y->element[0]->integer < 0 ||
        y->element[1]->type != REDIS_REPLY_INTEGER || y->element[1]->integer < 0)
        return PN_ERR;
    *first = (uint64_t)y->element[0]->integer;
    *second = (uint64_t)y->element[1]->integer;
    return PN_OK;
}

static void
on_beat_checked(redisReply *y, void *arg)
{
    on_beat(y, arg, 1);
}

static void
on_beat_first(redisReply *y, void *arg)
{
    on_beat(y, arg, 0);
}

void
hub_rr_beat(redis_reg_t *g, int first)
{
    (void)hub_rr_eval(g, HUB_LUA_BEAT, first ? on_beat_first : on_beat_checked, g, 0, NULL, 3,
                      g->id, g->peer, g->ttl);
}

/* Redis went up: heartbeat first (our claims count as live), then reconcile. */
void
hub_rr_on_state(int up, void *arg)
{
    redis_reg_t *g = arg;
    char k[1][KEY_MAX];
    if (!up || g->freeing)
        return;
    scripts_load(g);            /* first on this connection: every EVALSHA comes after */
    hub_rr_beat(g, 1);          /* every route is asserted below */
    hub_reg_each(g->mem, assert_each, g);
    snprintf(k[0], KEY_MAX, "pn:hubr:%s", g->id);
    const char *argv[] = { "SMEMBERS", k[0] };
    size_t len[] = { 8, strlen(k[0]) };
    (void)hub_redis_cmd(g->rd, on_mine, g, 2, argv, len);
    for (size_t i = 0; i < g->cache.nb; i++)
        for (hub_rentry_t *e = g->cache.b[i]; e != NULL; e = e->next)
            hub_rr_remote_tell(g, 0, e->key);
    hub_rcache_clear(&g->cache);
    scan_next(g, "0");
}


json_t *
hub_rr_state(hub_reg_t *base)
{
    redis_reg_t *g = (redis_reg_t *)base;
    json_t *remote = json_array();
    size_t n = 0, pending = 0;
    for (pn_list_t *p = g->pending.next; p != &g->pending; p = p->next)
        pending++;
    for (pn_list_t *p = g->waiting.next; p != &g->waiting; p = p->next)
        pending++;
    for (size_t i = 0; i < g->cache.nb && n < STATE_REMOTE_MAX; i++)
        for (hub_rentry_t *e = g->cache.b[i]; e != NULL && n < STATE_REMOTE_MAX; e = e->next, n++)
            json_array_append_new(remote, json_pack("{s:s,s:s,s:s,s:b}", "route", e->key, "hub",
                                                    e->hub, "account", e->acct, "held", e->held));
    return json_pack("{s:s,s:s,s:s,s:O,s:o,s:I,s:I,s:I,s:I,s:I,s:I}", "id", g->id, "peer",
                     g->peer, "redis", hub_redis_up(g->rd) ? "up" : "down", "hubs", g->hubs,
                     "remote", remote, "remote_routes", (json_int_t)g->cache.n,
                     "pending", (json_int_t)pending, "claims", (json_int_t)g->claims,
                     "refused", (json_int_t)g->refused, "conflicts", (json_int_t)g->conflicts,
                     "lapses", (json_int_t)g->lapses);
}

/* The peer= of the hub holding a route this hub does not: see hub_reg.h. */
int
hub_rr_remote(hub_reg_t *base, uint8_t type, const char *host, uint16_t port, char *peer,
              size_t cap)
{
    redis_reg_t *g = (redis_reg_t *)base;
    char k[KEY_MAX];
    size_t i;
    json_t *h;
    if (type == PN_RT_TCP || type == PN_RT_UDP)
        hub_rr_key_port(k, type, port);
    else
        hub_rr_key_host(k, type, host);
    hub_rentry_t *e = hub_rcache_get(&g->cache, k + 5);
    if (e == NULL)
        return PN_ERR;
    json_array_foreach(g->hubs, i, h) {
        const char *id = json_string_value(json_object_get(h, "id"));
        const char *pa = json_string_value(json_object_get(h, "peer"));
        if (id != NULL && pa != NULL && strcmp(id, e->hub) == 0 && strcmp(pa, "-") != 0) {
            snprintf(peer, cap, "%s", pa);
            return PN_OK;
        }
    }
    return PN_ERR;
}
