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
#include "conf/hubjson.h"
#include "master/paths.h"
#include "master/relay_m.h"
#include "master/statscan.h"
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

static void round_add(size_t *left, uint64_t *t0);
static void on_pulled(int status, const char *body, size_t len, const char *err, void *ctx);
static void on_pushed(int status, const char *body, size_t len, const char *err, void *ctx);

/* The users as the nodes get them, each active user enabled, the others
 * disabled (so that their open connections close; quotas stay here), then the
 * end of the body: the shared tail of every push of a round. */
static pn_hbody_t *
render_users(pn_manager_t *m)
{
    json_t *arr = pn_manager_users_json(m);
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    size_t len = strlen(text);
    text = xrealloc(text, len + 2);
    memcpy(text + len, "}", 2);
    return pn_hbody_new(text, len + 1);
}

/* The head of the body for <n>: {"version", "updated_at", "updated_by",
 * "entrances", "tunnels", "users": (the tail follows). A new string. */
static char *
render_head(pn_mnode_t *n, size_t *len)
{
    char at[PN_TIME_LEN];
    json_t *ents = json_copy(n->entrances), *tuns = json_copy(n->tunnels);
    pn_paths_node_items(n->m, n, ents, tuns);       /* what the paths give it */
    json_t *o = json_pack("{s:I, s:s, s:s, s:o, s:o}", "version", (json_int_t)n->m->version,
                          "updated_at", pn_time_rfc3339((int64_t)time(NULL), at), "updated_by",
                          *n->m->name ? *n->m->name : "", "entrances", ents, "tunnels", tuns);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size_t l = strlen(text);            /* ends with '}': replaced by ,"users": */
    text = xrealloc(text, l + 16);
    memcpy(text + l - 1, ",\"users\":", 10);
    *len = l - 1 + 9;
    return text;
}

/* Push to <n>, directly or (<fallback>) through its fallback route. */
static void
send_push(pn_mnode_t *n, pn_hbody_t *users, int fallback)
{
    size_t len;
    char *head = render_head(n, &len);
    n->pushing = n->m->version;
    n->push_fallback = fallback;
    round_add(&n->m->pushes, &n->m->push_t0);
    pn_hclient_tls_t tls;
    pn_hclient_via_t via = { n->fb_host, n->fb_port, n->fb_auth };
    n->push_req = pn_hclient_request(n->m->loop, n->address, n->port, pn_mnode_tls(n, &tls),
                                     fallback ? &via : NULL, "PUT",
                                     n->path_config, n->token, head, len, users,
                                     n->m->deadline_ms, on_pushed, n);
    pn_conf_wipe_free(head);        /* it holds the paths' tunnel keys */
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
    int fallback = n->push_fallback;
    if (status == 0 && !fallback && n->fb_host != NULL) {
        /* not reached directly: once more through the fallback route */
        set_error(n->push_error, "direct: %s%s", err, "");
        json_decref(o);
        pn_hbody_t *users = render_users(m);
        send_push(n, users, 1);
        pn_hbody_unref(users);
        return;
    }
    if (status == 200 && json_is_integer(ver) && json_integer_value(ver) == sent) {
        n->acked = sent;
        n->pushed_at = (int64_t)time(NULL);
        if (!fallback)
            n->push_error[0] = '\0';
        status_to(n, &n->push, fallback ? PN_MST_DIRTY : PN_MST_AVAILABLE);
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
    if ((n->push == PN_MST_AVAILABLE || n->push == PN_MST_DIRTY) && n->acked < m->version)
        pn_sync_push(n);
}

void
pn_sync_push(pn_mnode_t *n)
{
    if (n->push_req != NULL)
        return;
    pn_hbody_t *users = render_users(n->m);
    send_push(n, users, 0);
    pn_hbody_unref(users);
}

void
pn_sync_push_behind(pn_manager_t *m)
{
    pn_hbody_t *users = NULL;
    for (pn_list_t *l = m->nodes.next; l != &m->nodes; l = l->next) {
        pn_mnode_t *n = pn_container_of(l, pn_mnode_t, link);
        if (n->push_req != NULL || n->acked >= m->version)
            continue;
        if (users == NULL)
            users = render_users(m);        /* once per round, shared by every push */
        send_push(n, users, 0);
    }
    pn_hbody_unref(users);
}

/* The index of the user named <name> (<len> bytes) in row <row> of the
 * answer of <n>, or SIZE_MAX: a name this manager does not know. The rows come
 * in the same order pull after pull, so the index of each row is kept and
 * checked before the name is looked up. */
static size_t
user_index(pn_mnode_t *n, size_t row, const char *name, size_t len)
{
    pn_manager_t *m = n->m;
    char key[PN_MGR_NAME_MAX + 1];
    if (row < n->nrowidx && n->rowidx[row] < m->nusers) {
        const char *have = m->users[n->rowidx[row]]->name;
        if (strncmp(have, name, len) == 0 && have[len] == '\0')
            return n->rowidx[row];
    }
    if (len > PN_MGR_NAME_MAX)
        return SIZE_MAX;
    memcpy(key, name, len);
    key[len] = '\0';
    json_t *i = json_object_get(m->uindex, key);
    n->rowidx = pn_mgr_grow(n->rowidx, &n->nrowidx, row, sizeof(*n->rowidx), 0xff);
    n->rowidx[row] = i ? (size_t)json_integer_value(i) : SIZE_MAX;
    return n->rowidx[row];
}

/* Add what the node counted for the user of row <row> (<name>, <len> bytes)
 * since the last pull (<total> now); return it. A name this manager does not
 * know is not counted. */
static uint64_t
count(pn_mnode_t *n, size_t row, const char *name, size_t len, uint64_t total, int restarted)
{
    size_t k = user_index(n, row, name, len);
    if (k == SIZE_MAX)
        return 0;
    pn_muser_t *u = n->m->users[k];
    uint64_t *last = pn_mnode_seen(n, k);
    uint64_t delta = restarted || total < *last ? total : total - *last;
    *last = total;
    if (delta == 0)
        return 0;
    n->usage += delta;
    u->usage += delta;
    u->dirty = 1;
    if (u->active && u->quota != 0 && u->usage >= u->quota)
        n->m->quota_hit = 1;    /* disabled at the next push (pn_manager_bump) */
    pn_manager_user_announce(n->m, u);
    return delta;
}

/* Read the answer <body> of <n>: its boot id (into <boot>), version, and each
 * user's counters added (*<added>). The rows form is scanned without a JSON
 * tree (master/statscan.h); anything else goes through the parser. PN_ERR:
 * not a node's statistics. */
static int
read_stats(pn_mnode_t *n, const char *body, size_t len, char boot[40], int64_t *ver,
           uint64_t *added)
{
    pn_statscan_t s;
    size_t i;
    if (pn_statscan(body, len, &s) == PN_OK) {
        int restarted = strcmp(s.boot, n->boot) != 0;
        for (i = 0; i < s.nrows; i++) {
            const pn_statscan_row_t *r = &s.rows[i];
            if (r->up >= 0 && r->down >= 0)
                *added += count(n, i, r->name, r->len, (uint64_t)r->up + (uint64_t)r->down,
                                restarted);
        }
        snprintf(boot, 40, "%s", s.boot);
        *ver = s.version;
        pn_statscan_clear(&s);
        return PN_OK;
    }
    pn_statscan_clear(&s);
    json_t *o = json_loadb(body, len, 0, NULL), *users = json_object_get(o, "users"), *u;
    const char *b = json_string_value(json_object_get(o, "boot"));
    json_t *v = json_object_get(o, "version");
    if (!json_is_array(users) || b == NULL || !json_is_integer(v)) {
        json_decref(o);
        return PN_ERR;
    }
    int restarted = strcmp(b, n->boot) != 0;
    json_array_foreach(users, i, u) {
        /* asked with form=rows: [name, up, down, ...]; a node of the first version
         * answers objects */
        int row = json_is_array(u);
        const char *name = json_string_value(row ? json_array_get(u, 0) : json_object_get(u, "name"));
        json_int_t up = json_integer_value(row ? json_array_get(u, 1) : json_object_get(u, "up"));
        json_int_t down = json_integer_value(row ? json_array_get(u, 2) : json_object_get(u, "down"));
        if (name != NULL && up >= 0 && down >= 0)
            *added += count(n, i, name, strlen(name), (uint64_t)up + (uint64_t)down, restarted);
    }
    snprintf(boot, 40, "%s", b);
    *ver = json_integer_value(v);
    json_decref(o);
    return PN_OK;
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

/* Pull <n>, directly or (<fallback>) through its fallback route. */
static void
send_pull(pn_mnode_t *n, int fallback)
{
    pn_manager_t *m = n->m;
    pn_hclient_tls_t tls;
    pn_hclient_via_t via = { n->fb_host, n->fb_port, n->fb_auth };
    n->pull_fallback = fallback;
    round_add(&m->pulls, &m->pull_t0);
    n->pull_req = pn_hclient_request(m->loop, n->address, n->port, pn_mnode_tls(n, &tls),
                                     fallback ? &via : NULL, "GET", n->path_stats, n->token, NULL,
                                     0, NULL, m->deadline_ms, on_pulled, n);
}

/* Start the pulls of this round not started yet, up to PN_MGR_PULLS_MAX in
 * flight (each answer is held whole until read: this bounds the memory). */
static void
pull_next(pn_manager_t *m)
{
    for (pn_list_t *l = m->nodes.next; l != &m->nodes && m->pulls < PN_MGR_PULLS_MAX;
         l = l->next) {
        pn_mnode_t *n = pn_container_of(l, pn_mnode_t, link);
        if (n->pull_req != NULL || n->pull_round == m->pull_round)
            continue;
        n->pull_round = m->pull_round;
        send_pull(n, 0);
    }
}

static void
on_pulled(int status, const char *body, size_t len, const char *err, void *ctx)
{
    pn_mnode_t *n = ctx;
    int fallback = n->pull_fallback;
    n->pull_req = NULL;
    round_done(&n->m->pulls, n->m->pull_t0, "pull");
    if (status == 0 && !fallback && n->fb_host != NULL) {
        /* not reached directly: once more through the fallback route (it keeps
         * its slot of the round) */
        set_error(n->pull_error, "direct: %s%s", err, "");
        send_pull(n, 1);
        return;
    }
    pull_next(n->m);            /* the slot goes to the next node of the round */
    if (status != 200) {
        pull_failed(n, status, status == 0 ? err : status == 401 ? "refused: wrong node token"
                                                                  : "not a node's answer");
        pn_manager_node_changed(n->m, n);
        return;
    }
    char boot[40];
    int64_t ver;
    uint64_t added = 0;
    int restarted = 0;
    if (read_stats(n, body, len, boot, &ver, &added) != PN_OK) {
        pull_failed(n, status, "not a node's statistics");
        pn_manager_node_changed(n->m, n);
        return;
    }
    restarted = strcmp(boot, n->boot) != 0;
    snprintf(n->boot, sizeof(n->boot), "%s", boot);
    /* A node that lost what it applied is behind again. */
    if (ver < n->acked) {
        n->acked = ver;
        pn_sync_push(n);
    }
    n->pulled_at = (int64_t)time(NULL);
    n->since_ms = pn_now_ms();
    if (!fallback)
        n->pull_error[0] = '\0';
    /* Announced when something moved (the pull time alone does not); a new
     * status is stored at once, counts with the next store of the usage. */
    if (status_to(n, &n->pull, fallback ? PN_MST_DIRTY : PN_MST_AVAILABLE))
        pn_manager_node_changed(n->m, n);
    else if (added > 0 || restarted)
        pn_manager_node_moved(n->m, n);
    if (n->m->quota_hit) {      /* a quota reached: disabled at the next push */
        n->m->quota_hit = 0;
        pn_manager_bump(n->m, 0);
    }
}

void
pn_sync_pull_all(pn_manager_t *m)
{
    uint64_t now = pn_now_ms();
    m->pull_round++;
    for (pn_list_t *l = m->nodes.next; l != &m->nodes; l = l->next) {
        pn_mnode_t *n = pn_container_of(l, pn_mnode_t, link);
        if (now - n->since_ms >= m->down_ms && n->pull != PN_MST_UNAVAILABLE) {
            status_to(n, &n->pull, PN_MST_UNAVAILABLE);
            pn_manager_node_changed(m, n);
        }
    }
    pull_next(m);
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
    pn_relay_update(arg);
    return EV_TIMER_STOP;
}

static long
on_pull(ev_timer_t *t, void *arg)
{
    pn_manager_t *m = arg;
    pn_sync_pull_all(m);
    pn_relay_count(m);          /* this master's own entrances */
    pn_manager_bump(m, 0);      /* expiries */
    pn_relay_update(m);         /* nodes gone or back */
    pn_manager_store_usage(m, 0);
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
