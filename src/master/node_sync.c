/* master/node_sync.c: the manager's pushes and pulls (see master/manager.h).
 *
 *   push: desired state of <n> ─> PUT /node/config ─> on_pushed: acked version,
 *         push status; a node still behind is pushed again at once after a
 *         success, at the next sync round after a failure
 *   pull: GET /node/stats ─> on_pulled: per-user deltas (a new boot id, or a
 *         counter below the last one, means the node started over: the whole
 *         value is new) added to the users' and the node's usage
 *
 * Every request has its own deadline (POSTERN_NODE_DEADLINE), so a node that
 * answers garbage or nothing delays no other node. */
#include "master/node_sync.h"
#include "core/log.h"
#include "core/mem.h"
#include "master/view.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void
set_error(char *dst, const char *fmt, const char *a, const char *b)
{
    snprintf(dst, PN_MGR_ERROR_LEN, fmt, a, b);
}

/* The users as the nodes get them: each active user enabled, the others
 * disabled (so that their open connections close); quotas stay here. */
static json_t *
render_users(pn_manager_t *m)
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
        json_array_append_new(arr, o);
    }
    return arr;
}

static char *
render(pn_mnode_t *n, json_t *users, size_t *len)
{
    char at[PN_TIME_LEN];
    json_t *o = json_pack("{s:I, s:s, s:s, s:O, s:O, s:O}", "version", (json_int_t)n->m->version,
                          "updated_at", pn_time_rfc3339((int64_t)time(NULL), at), "updated_by",
                          *n->m->name ? *n->m->name : "", "entrances", n->entrances, "tunnels",
                          n->tunnels, "users", users);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    *len = strlen(text);
    return text;
}

/* Set the push or pull status of <n>; 1 when it changed. */
static int
status_to(pn_mnode_t *n, enum pn_mstatus *which, enum pn_mstatus st)
{
    if (*which == st)
        return 0;
    *which = st;
    log_info("manager: node %s (%s:%d) %s %s", n->id, n->address, n->port,
             which == &n->push ? "push" : "pull", *pn_mstatus_name(st) ? pn_mstatus_name(st) : "unknown");
    return 1;
}

/* A request of a round (pushes or pulls in flight: *<left>) ended; the round
 * is over when none is left (its length at debug level: bench/nodes.sh). */
static void
round_done(size_t *left, uint64_t t0, const char *what)
{
    if (*left > 0 && --*left == 0)
        log_debug("manager: %s round done in %llu ms", what,
                  (unsigned long long)(pn_now_ms() - t0));
}

static void
round_add(size_t *left, uint64_t *t0)
{
    if ((*left)++ == 0)
        *t0 = pn_now_ms();
}

static void
on_pushed(int status, const char *body, size_t len, const char *err, void *ctx)
{
    pn_mnode_t *n = ctx;
    pn_manager_t *m = n->m;
    int64_t sent = n->pushing;
    n->push_req = NULL;
    n->pushing = 0;
    round_done(&m->pushes, m->push_t0, "push");
    json_t *o = status ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *ver = json_object_get(o, "version");
    char code[16];
    snprintf(code, sizeof(code), "%d", status);
    if (status == 200 && json_is_integer(ver) && json_integer_value(ver) == sent) {
        n->acked = sent;
        n->pushed_at = (int64_t)time(NULL);
        n->push_error[0] = '\0';
        status_to(n, &n->push, PN_MST_AVAILABLE);
    } else if (status == 409 && json_is_integer(ver) && json_integer_value(ver) >= m->version) {
        /* The node holds a later version of ours (this database is older than
         * it): go past it, and push again at once. */
        snprintf(n->push_error, PN_MGR_ERROR_LEN, "the node holds version %lld; going past it",
                 (long long)json_integer_value(ver));
        m->version = json_integer_value(ver);
        pn_manager_bump(m, 1);
    } else {
        const char *why = json_string_value(json_object_get(o, "error"));
        if (status == 0)
            set_error(n->push_error, "%s%s", err, "");
        else if (status == 401)
            set_error(n->push_error, "refused: wrong node token (HTTP %s)%s", code, "");
        else
            set_error(n->push_error, "HTTP %s: %s", code, why ? why : "not a node's answer");
        status_to(n, &n->push, PN_MST_UNAVAILABLE);
        log_warn("manager: push of version %lld to node %s failed: %s", (long long)sent, n->id,
                 n->push_error);
    }
    json_decref(o);
    pn_manager_node_changed(m, n);
    if (n->push == PN_MST_AVAILABLE && n->acked < m->version)
        pn_sync_push(n);
}

void
pn_sync_push(pn_mnode_t *n)
{
    size_t len;
    if (n->push_req != NULL)
        return;
    json_t *users = render_users(n->m);
    char *text = render(n, users, &len);
    json_decref(users);
    n->pushing = n->m->version;
    round_add(&n->m->pushes, &n->m->push_t0);
    n->push_req = pn_hclient_request(n->m->loop, n->address, n->port, "PUT", n->path_config,
                                     n->token, text, len, n->m->deadline_ms, on_pushed, n);
    memset(text, 0, len);
    free(text);
}

void
pn_sync_push_behind(pn_manager_t *m)
{
    json_t *users = NULL;
    for (pn_list_t *l = m->nodes.next; l != &m->nodes; l = l->next) {
        pn_mnode_t *n = pn_container_of(l, pn_mnode_t, link);
        size_t len;
        if (n->push_req != NULL || n->acked >= m->version)
            continue;
        if (users == NULL)
            users = render_users(m);        /* once per round */
        char *text = render(n, users, &len);
        n->pushing = m->version;
        round_add(&m->pushes, &m->push_t0);
        n->push_req = pn_hclient_request(m->loop, n->address, n->port, "PUT",
                                         n->path_config, n->token, text, len,
                                         m->deadline_ms, on_pushed, n);
        memset(text, 0, len);
        free(text);
    }
    json_decref(users);
}

/* Add what the node counted for <name> since the last pull (<total> now);
 * return it. */
static uint64_t
count(pn_mnode_t *n, const char *name, uint64_t total, int restarted)
{
    json_t *prev = json_object_get(n->seen, name);
    uint64_t last = prev ? (uint64_t)json_integer_value(prev) : 0;
    uint64_t delta = restarted || total < last ? total : total - last;
    json_object_set_new(n->seen, name, json_integer((json_int_t)total));
    if (delta == 0)
        return 0;
    n->usage += delta;
    pn_muser_t *u = pn_manager_user(n->m, name);
    if (u != NULL) {
        u->usage += delta;
        u->dirty = 1;
        pn_manager_user_announce(n->m, u);
    }
    return delta;
}

static void
pull_failed(pn_mnode_t *n, int status, const char *why)
{
    char code[16];
    snprintf(code, sizeof(code), "%d", status);
    if (status == 0)
        set_error(n->pull_error, "%s%s", why, "");
    else
        set_error(n->pull_error, "HTTP %s: %s", code, why);
    /* A refused token is final; anything else counts against the down time. */
    if (status == 401)
        status_to(n, &n->pull, PN_MST_UNAVAILABLE);
}

static void
on_pulled(int status, const char *body, size_t len, const char *err, void *ctx)
{
    pn_mnode_t *n = ctx;
    n->pull_req = NULL;
    round_done(&n->m->pulls, n->m->pull_t0, "pull");
    if (status != 200) {
        pull_failed(n, status, status == 0 ? err : status == 401 ? "refused: wrong node token"
                                                                  : "not a node's answer");
        pn_manager_node_changed(n->m, n);
        return;
    }
    json_t *o = json_loadb(body, len, 0, NULL), *users = json_object_get(o, "users"), *u;
    const char *boot = json_string_value(json_object_get(o, "boot"));
    json_t *ver = json_object_get(o, "version");
    size_t i;
    if (!json_is_array(users) || boot == NULL || !json_is_integer(ver)) {
        pull_failed(n, status, "not a node's statistics");
        json_decref(o);
        pn_manager_node_changed(n->m, n);
        return;
    }
    int restarted = strcmp(boot, n->boot) != 0;
    uint64_t added = 0;
    json_array_foreach(users, i, u) {
        const char *name = json_string_value(json_object_get(u, "name"));
        json_int_t up = json_integer_value(json_object_get(u, "up"));
        json_int_t down = json_integer_value(json_object_get(u, "down"));
        if (name != NULL && up >= 0 && down >= 0)
            added += count(n, name, (uint64_t)up + (uint64_t)down, restarted);
    }
    snprintf(n->boot, sizeof(n->boot), "%s", boot);
    /* A node that lost what it applied is behind again. */
    if (json_integer_value(ver) < n->acked) {
        n->acked = json_integer_value(ver);
        pn_sync_push(n);
    }
    json_decref(o);
    n->pulled_at = (int64_t)time(NULL);
    n->since_ms = pn_now_ms();
    n->pull_error[0] = '\0';
    /* Stored and announced when something moved (the pull time alone does not). */
    if (status_to(n, &n->pull, PN_MST_AVAILABLE) || added > 0 || restarted)
        pn_manager_node_changed(n->m, n);
    pn_manager_bump(n->m, 0);       /* a quota reached: disabled at the next push */
}

void
pn_sync_pull_all(pn_manager_t *m)
{
    uint64_t now = pn_now_ms();
    for (pn_list_t *l = m->nodes.next; l != &m->nodes; l = l->next) {
        pn_mnode_t *n = pn_container_of(l, pn_mnode_t, link);
        if (now - n->since_ms >= m->down_ms && n->pull != PN_MST_UNAVAILABLE) {
            status_to(n, &n->pull, PN_MST_UNAVAILABLE);
            pn_manager_node_changed(m, n);
        }
        if (n->pull_req != NULL)
            continue;
        round_add(&m->pulls, &m->pull_t0);
        n->pull_req = pn_hclient_request(m->loop, n->address, n->port, "GET",
                                             n->path_stats, n->token, NULL, 0,
                                             m->deadline_ms, on_pulled, n);
    }
}

static long
on_sync(ev_timer_t *t, void *arg)
{
    pn_manager_t *m = arg;
    pn_sync_push_behind(m);
    return (long)m->sync_ms;
}

static long
on_soon(ev_timer_t *t, void *arg)
{
    pn_sync_push_behind(arg);
    return EV_TIMER_STOP;
}

static long
on_pull(ev_timer_t *t, void *arg)
{
    pn_manager_t *m = arg;
    pn_sync_pull_all(m);
    pn_manager_bump(m, 0);      /* expiries */
    pn_manager_store_usage(m);
    return (long)m->pull_ms;
}

void
pn_sync_start(pn_manager_t *m)
{
    m->sync = ev_timer_new(m->loop, on_sync, m);
    m->pull = ev_timer_new(m->loop, on_pull, m);
    m->soon = ev_timer_new(m->loop, on_soon, m);
    ev_timer_arm(m->sync, m->sync_ms);
    ev_timer_arm(m->pull, m->pull_ms);
    if (m->nnodes > 0)
        ev_timer_arm(m->soon, PN_MGR_SOON_MS);
}
