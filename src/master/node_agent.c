/* master/node_agent.c: the node side (see master/node_agent.h).
 *
 *   PUT /node/config ─> node_conf parse ─> version check ─> users file (tmp +
 *   rename) ─> instances diffed by their "postern-node" tag ─> SIGHUP to the
 *   entrances whose URL stayed while the users changed ─> {"version": N, ...}
 */
#include "master/node_agent.h"
#include "conf/hubjson.h"
#include "core/log.h"
#include "core/mem.h"
#include "master/api.h"
#include "master/node_conf.h"
#include "master/puser.h"
#include "master/view.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pn_node_agent {
    pn_super_t *super;          /* borrowed */
    const char *tag;            /* static: the tag key of its instances */
    const char *state_key;      /* static: its settings key */
    pn_store_t *store;          /* borrowed */
    char *users_path;           /* owned: the entrances' users file */
    char *users_text;           /* owned: what it holds now (a secret), or NULL */
    int64_t version;            /* last applied, 0 = none */
    char updated_at[PN_NODE_META_MAX + 1];
    char updated_by[PN_NODE_META_MAX + 1];
    int64_t applied_at;         /* Unix seconds */
    char boot[17];              /* random per process: a manager sees a restart */
};

static void
load_state(pn_node_agent_t *g)
{
    char *text = NULL;
    if (pn_store_get(g->store, g->state_key, &text) != PN_OK)
        return;
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    g->version = json_integer_value(json_object_get(o, "version"));
    g->applied_at = json_integer_value(json_object_get(o, "applied_at"));
    const char *s = json_string_value(json_object_get(o, "updated_at"));
    snprintf(g->updated_at, sizeof(g->updated_at), "%s", s ? s : "");
    s = json_string_value(json_object_get(o, "updated_by"));
    snprintf(g->updated_by, sizeof(g->updated_by), "%s", s ? s : "");
    json_decref(o);
}

static int
save_state(pn_node_agent_t *g)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:I}", "version", (json_int_t)g->version, "updated_at",
                          g->updated_at, "updated_by", g->updated_by, "applied_at",
                          (json_int_t)g->applied_at);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    int rc = pn_store_set(g->store, g->state_key, text);
    free(text);
    return rc;
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

pn_node_agent_t *
pn_node_agent_new(pn_super_t *super, pn_store_t *store, const char *db, const char *tag,
                  const char *suffix, const char *state_key)
{
    pn_node_agent_t *g = xcalloc(sizeof(*g));
    uint8_t r[8];
    g->super = super;
    g->store = store;
    g->tag = tag;
    g->state_key = state_key;
    size_t n = strlen(db) + strlen(suffix) + 1;
    g->users_path = xmalloc(n);
    snprintf(g->users_path, n, "%s%s", db, suffix);
    g->users_text = read_file(g->users_path);
    if (pn_random(r, sizeof(r)) != PN_OK)
        memset(r, 0, sizeof(r));
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(g->boot + 2 * i, 3, "%02x", r[i]);
    load_state(g);
    return g;
}

void
pn_node_agent_free_(pn_node_agent_t *g)
{
    if (g == NULL)
        return;
    free(g->users_path);
    pn_conf_wipe_free(g->users_text);
    free(g);
}

/* Write <text> to the users file <path>: a new file (0600) renamed over the
 * old one, so an entrance reloading at any moment reads one whole version. */
static int
write_users(const char *path, const char *text, char *err)
{
    size_t n = strlen(path) + 8;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.new", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text), off = 0;
    int rc = PN_ERR;
    if (fd == -1) {
        pn_err_set(err, "users: cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0) {
            pn_err_set(err, "users: cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) == -1 || close(fd) == -1 || rename(tmp, path) == -1) {
        pn_err_set(err, "users: cannot replace %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = PN_OK;
out:
    free(tmp);
    return rc;
}

/* The users file of the entrance <name> that admits some groups only:
 * "<db>.users.<name>.json" next to the shared one. A new string. */
static char *
group_path(const pn_node_agent_t *g, const char *name)
{
    size_t base = strlen(g->users_path) - strlen(".json"), n = base + strlen(name) + 8;
    char *p = xmalloc(n);
    snprintf(p, n, "%.*s.%s.json", (int)base, g->users_path, name);
    return p;
}

/* Write the users file of each entrance of <c> that admits some groups only,
 * when it changed; <reload>[i]: the users of item i changed (<shared> for the
 * entrances of the shared file). PN_ERR with <err> when one cannot be written. */
static int
write_group_files(pn_node_agent_t *g, const pn_node_conf_t *c, int shared, int *reload, char *err)
{
    for (size_t i = 0; i < c->nitems; i++) {
        const pn_node_item_t *it = &c->items[i];
        char *path = it->entrance ? group_path(g, it->name) : NULL;
        reload[i] = it->entrance && shared;
        if (path != NULL && it->groups == NULL) {
            unlink(path);       /* it was an entrance of some groups: no more */
        } else if (path != NULL) {
            char *text = pn_node_conf_users_for(c, it->groups), *old = read_file(path);
            reload[i] = old == NULL || strcmp(old, text) != 0;
            int rc = reload[i] ? write_users(path, text, err) : PN_OK;
            pn_conf_wipe_free(old);
            pn_conf_wipe_free(text);
            if (rc != PN_OK) {
                free(path);
                return PN_ERR;
            }
        }
        free(path);
    }
    return PN_OK;
}

/* The "postern-node" tag of <in> ("entrance:<name>"), or NULL: not a node's. */
static const char *
node_tag(const pn_node_agent_t *g, const pn_inst_t *in)
{
    return json_string_value(json_object_get(in->tags, g->tag));
}

static void
tag_of(const pn_node_item_t *it, char out[PN_NODE_NAME_MAX + 16])
{
    snprintf(out, PN_NODE_NAME_MAX + 16, "%s:%s", it->entrance ? "entrance" : "tunnel", it->name);
}

/* Make the instances match <c>; <reload>[i]: the users of item i changed (a
 * running entrance whose URL stays must reload). The names of what happened
 * go into <res>. */
static void
apply_items(pn_node_agent_t *g, const pn_node_conf_t *c, const int *reload, json_t *res)
{
    json_t *created = json_array(), *changed = json_array(), *removed = json_array(),
           *reloaded = json_array();
    char tag[PN_NODE_NAME_MAX + 16];
    pn_list_t *head = pn_super_list(g->super), *n, *next;
    size_t unchanged = 0;
    int *seen = xcalloc((c->nitems ? c->nitems : 1) * sizeof(int));

    /* Removed first: a port the old instance holds may be the new one's. */
    for (n = head->next; n != head; n = next) {
        next = n->next;
        pn_inst_t *in = pn_container_of(n, pn_inst_t, node);
        const char *t = node_tag(g, in);
        size_t i;
        if (t == NULL)
            continue;
        for (i = 0; i < c->nitems; i++) {
            tag_of(&c->items[i], tag);
            if (!seen[i] && strcmp(tag, t) == 0)
                break;
        }
        if (i < c->nitems) {
            seen[i] = 1;
            continue;
        }
        json_array_append_new(removed, json_string(t));
        if (strncmp(t, "entrance:", 9) == 0) {
            char *path = group_path(g, t + 9);
            unlink(path);
            free(path);
        }
        pn_super_delete(in);
    }
    for (size_t i = 0; i < c->nitems; i++) {
        const pn_node_item_t *it = &c->items[i];
        char *gp = it->entrance && it->groups ? group_path(g, it->name) : NULL;
        char *url = it->entrance ? pn_node_entrance_url(it->url, gp ? gp : g->users_path)
                                 : xstrdup(it->url);
        free(gp);
        pn_inst_t *in = NULL;
        tag_of(it, tag);
        for (n = head->next; n != head; n = n->next) {
            pn_inst_t *x = pn_container_of(n, pn_inst_t, node);
            const char *t = node_tag(g, x);
            if (t != NULL && strcmp(t, tag) == 0) {
                in = x;
                break;
            }
        }
        if (in == NULL) {
            json_t *tags = json_object();
            json_object_set_new(tags, g->tag, json_string(tag));
            if (pn_super_create(g->super, url, it->type, it->name, 1, tags) != NULL)
                json_array_append_new(created, json_string(tag));
            else
                log_error("node: cannot store the instance %s", tag);
            json_decref(tags);
        } else if (strcmp(in->url, url) != 0) {
            pn_super_set_url(in, url, it->type);
            if (!in->desired)
                pn_super_start(in);
            json_array_append_new(changed, json_string(tag));
        } else {
            if (!in->desired)
                pn_super_start(in);
            else if (reload[i] && pn_super_hup(in))
                json_array_append_new(reloaded, json_string(tag));
            unchanged++;
        }
        free(url);
    }
    free(seen);
    json_object_set_new(res, "created", created);
    json_object_set_new(res, "changed", changed);
    json_object_set_new(res, "removed", removed);
    json_object_set_new(res, "reloaded", reloaded);
    json_object_set_new(res, "unchanged", json_integer((json_int_t)unchanged));
}

static json_t *
state_json(const pn_node_agent_t *g)
{
    char at[PN_TIME_LEN];
    return json_pack("{s:I, s:s, s:s, s:o, s:s}", "version", (json_int_t)g->version, "updated_at",
                     g->updated_at, "updated_by", g->updated_by, "applied_at",
                     g->applied_at ? json_string(pn_time_rfc3339(g->applied_at, at)) : json_null(),
                     "boot", g->boot);
}

json_t *
pn_node_agent_apply(pn_node_agent_t *g, const char *text, size_t len, int *status, char *err,
                    char field[PN_NODE_FIELD_LEN])
{
    pn_node_conf_t c;
    if (pn_node_conf_parse(text, len, &c, err, field) != PN_OK) {
        log_info("node: configuration refused: %s", field);
        *status = 400;
        return NULL;
    }
    /* An older version from the same manager is a late push: refused. */
    if (c.version < g->version && strcmp(c.updated_by, g->updated_by) == 0) {
        pn_err_set(err, "version: %lld is older than the applied %lld", (long long)c.version,
                   (long long)g->version);
        snprintf(field, PN_NODE_FIELD_LEN, "version");
        pn_node_conf_clear(&c);
        *status = 409;
        return NULL;
    }
    int users_changed = g->users_text == NULL || strcmp(g->users_text, c.users) != 0;
    if (users_changed) {
        if (write_users(g->users_path, c.users, err) != PN_OK) {
            pn_node_conf_clear(&c);
            log_error("node: %s", err);
            snprintf(field, PN_NODE_FIELD_LEN, "users");
            *status = 503;
            return NULL;
        }
        pn_conf_wipe_free(g->users_text);
        g->users_text = xstrdup(c.users);
    }
    int *reload = xcalloc((c.nitems ? c.nitems : 1) * sizeof(int));
    if (write_group_files(g, &c, users_changed, reload, err) != PN_OK) {
        free(reload);
        pn_node_conf_clear(&c);
        log_error("node: %s", err);
        snprintf(field, PN_NODE_FIELD_LEN, "users");
        *status = 503;
        return NULL;
    }
    json_t *res = json_object();
    apply_items(g, &c, reload, res);
    free(reload);
    g->version = c.version;
    snprintf(g->updated_at, sizeof(g->updated_at), "%s", c.updated_at);
    snprintf(g->updated_by, sizeof(g->updated_by), "%s", c.updated_by);
    g->applied_at = (int64_t)time(NULL);
    if (save_state(g) != PN_OK)
        log_error("node: cannot store the applied version");
    log_info("node: configuration version %lld applied (%zu entrances and tunnels, %zu users)",
             (long long)c.version, c.nitems, c.nusers);
    json_object_set_new(res, "version", json_integer((json_int_t)c.version));
    json_object_set_new(res, "users", json_integer((json_int_t)c.nusers));
    pn_node_conf_clear(&c);
    *status = 200;
    return res;
}

static void
put_config(pn_node_agent_t *g, pn_mhttp_req_t *r)
{
    char err[PN_ERR_LEN], field[PN_NODE_FIELD_LEN];
    size_t len;
    int status;
    const char *text = pn_mhttp_body(r, &len);
    json_t *res = pn_node_agent_apply(g, text, len, &status, err, field);
    if (res != NULL) {
        pn_api_reply_json(r, 200, res);
    } else if (status == 409) {
        pn_api_reply_json(r, 409, json_pack("{s:s, s:s, s:I}", "error", err, "field", "version",
                                            "version", (json_int_t)g->version));
    } else {
        pn_api_reply_error(r, status, field, err);
    }
}

int64_t
pn_node_agent_version(const pn_node_agent_t *g)
{
    return g->version;
}

json_t *
pn_node_agent_users(pn_node_agent_t *g)
{
    json_t *sum = json_object();
    pn_list_t *head = pn_super_list(g->super), *n;
    for (n = head->next; n != head; n = n->next) {
        pn_inst_t *in = pn_container_of(n, pn_inst_t, node);
        const char *t = node_tag(g, in);
        if (t != NULL && strncmp(t, "entrance:", 9) == 0)
            pn_puser_sum(in, sum);
    }
    return sum;
}

static void
get_stats(pn_node_agent_t *g, pn_mhttp_req_t *r)
{
    json_t *o = state_json(g), *ents = json_array(), *tuns = json_array(), *users = json_array();
    pn_list_t *head = pn_super_list(g->super), *n;
    for (n = head->next; n != head; n = n->next) {
        pn_inst_t *in = pn_container_of(n, pn_inst_t, node);
        const char *t = node_tag(g, in), *reason;
        if (t == NULL)
            continue;
        int ent = strncmp(t, "entrance:", 9) == 0;
        json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "name", strchr(t, ':') + 1, "id", in->id,
                              "status", pn_inst_status_name(in->status), "state",
                              pn_health_name(pn_inst_health(in, &reason)));
        if (ent) {
            json_object_set_new(e, "tcprx", json_integer((json_int_t)pn_inst_counter(in, PN_TCPRX)));
            json_object_set_new(e, "tcptx", json_integer((json_int_t)pn_inst_counter(in, PN_TCPTX)));
            json_object_set_new(e, "open", json_integer((json_int_t)in->tcps));
        }
        json_array_append_new(ent ? ents : tuns, e);
    }
    json_t *sum = pn_node_agent_users(g), *a;
    const char *name;
    char *form = pn_mhttp_query(r, "form");
    int rows = form != NULL && strcmp(form, "rows") == 0;
    free(form);
    json_object_foreach(sum, name, a) {
        /* form=rows: [name, up, down, conns, refused, open], a third of the bytes to
         * read for a manager with many users (docs/master.md "Nodes") */
        json_t *u = rows ? json_array() : json_object();
        static const char *const keys[PN_PU_N] = { "up", "down", "conns", "refused", "open" };
        if (rows)
            json_array_append_new(u, json_string(name));
        else
            json_object_set_new(u, "name", json_string(name));
        for (int k = 0; k < PN_PU_N; k++) {
            json_t *v = json_integer(json_integer_value(json_array_get(a, (size_t)k)));
            if (rows)
                json_array_append_new(u, v);
            else
                json_object_set_new(u, keys[k], v);
        }
        json_array_append_new(users, u);
    }
    json_decref(sum);
    json_object_set_new(o, "entrances", ents);
    json_object_set_new(o, "tunnels", tuns);
    json_object_set_new(o, "users", users);
    json_object_set_new(o, "time", json_integer((json_int_t)time(NULL)));
    pn_api_reply_json(r, 200, o);
}

int
pn_node_agent_route(pn_node_agent_t *g, pn_mhttp_req_t *r, const char *rest)
{
    enum pn_mhttp_method m = pn_mhttp_method(r);
    int get = m == PN_MHTTP_GET || m == PN_MHTTP_HEAD;
    if (strcmp(rest, "/node/config") == 0) {
        if (m == PN_MHTTP_PUT) {
            put_config(g, r);
        } else if (get) {
            pn_api_reply_json(r, 200, state_json(g));
        } else {
            pn_mhttp_set_header(r, "Allow", "GET, PUT");
            pn_api_reply_error(r, 405, "method", "method: not allowed here");
        }
        return 1;
    }
    if (strcmp(rest, "/node/stats") == 0) {
        if (get) {
            get_stats(g, r);
        } else {
            pn_mhttp_set_header(r, "Allow", "GET");
            pn_api_reply_error(r, 405, "method", "method: not allowed here");
        }
        return 1;
    }
    return 0;
}
