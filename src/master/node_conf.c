/* master/node_conf.c: the node configuration body (see master/node_conf.h). */
#include "master/node_conf.h"
#include "conf/config.h"
#include "conf/users.h"
#include "core/mem.h"
#include "master/body.h"
#include "master/inst.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
pn_node_fail(char *err, char field[PN_NODE_FIELD_LEN], const char *name, const char *fmt, ...)
{
    char reason[PN_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(field, PN_NODE_FIELD_LEN, "%s", name);
    return pn_err_set(err, "%s: %s", name, reason);
}

/* <t> (<len> bytes) as a JSON object whose members are all named in <known>
 * (NULL-terminated); NULL with <err> and <field> set when it is not. */
json_t *
pn_node_load_object(const char *t, size_t len, const char *const *known, char *err,
                    char field[PN_NODE_FIELD_LEN])
{
    json_error_t je;
    const char *k;
    json_t *v, *o = json_loadb(t, len, JSON_REJECT_DUPLICATES, &je);
    if (o == NULL) {
        pn_node_fail(err, field, "body", "not JSON: %s", je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        pn_node_fail(err, field, "body", "expected an object");
        return NULL;
    }
    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (known[i] != NULL && strcmp(known[i], k) != 0)
            i++;
        if (known[i] == NULL) {
            char f[PN_NODE_FIELD_LEN];
            /* a member named "" is blamed on the body: a field needs a name */
            snprintf(f, sizeof(f), "%.48s", *k ? k : "body");
            pn_node_fail(err, field, f, "unknown member");
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int
pn_node_is_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static int
printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

int
pn_node_check_groups(const json_t *groups, const char *where, char *err,
                     char field[PN_NODE_FIELD_LEN])
{
    size_t i;
    json_t *g;
    if (!json_is_array(groups) || json_array_size(groups) < 1 || json_array_size(groups) > 16)
        return pn_node_fail(err, field, where, "expected an array of 1-16 group names");
    json_array_foreach(groups, i, g) {
        if (!json_is_string(g) || !pn_node_is_name(json_string_value(g), PN_NODE_NAME_MAX))
            return pn_node_fail(err, field, where, "expected group names of 1-%d of A-Z a-z 0-9 _ . -",
                                PN_NODE_NAME_MAX);
    }
    return PN_OK;
}

char *
pn_node_conf_users_for(const pn_node_conf_t *c, const json_t *groups)
{
    json_t *arr = json_array(), *u, *file;
    size_t i, j;
    json_array_foreach(c->plain, i, u) {
        const char *g = json_string_value(json_array_get(c->ugroups, i));
        json_t *want;
        json_array_foreach(groups, j, want) {
            if (g != NULL && strcmp(g, json_string_value(want)) == 0) {
                json_array_append(arr, u);
                break;
            }
        }
    }
    file = json_object();
    json_object_set_new(file, "users", arr);
    char *t = json_dumps(file, JSON_COMPACT);
    json_decref(file);
    return t;
}

char *
pn_node_entrance_url(const char *url, const char *path)
{
    size_t n = strlen(url) + strlen(path) + 8;
    char *out = xmalloc(n);
    snprintf(out, n, "%s%susers=%s", url, strchr(url, '?') ? "&" : "?", path);
    return out;
}

/* Check the URL of <it> (an entrance when <it>->entrance); <where> names it. */
static int
check_url(pn_node_item_t *it, const char *where, char *err, char field[PN_NODE_FIELD_LEN])
{
    char sub[PN_ERR_LEN], f[2 * PN_NODE_FIELD_LEN];
    pn_config_t cfg;
    snprintf(f, sizeof(f), "%s.url", where);
    if (strlen(it->url) == 0 || strlen(it->url) > PN_INST_URL_MAX)
        return pn_node_fail(err, field, f, "expected 1-%d bytes", PN_INST_URL_MAX);
    if (!printable(it->url))
        return pn_node_fail(err, field, f, "must not hold control characters");
    if (it->entrance) {
        if (pn_config_parse(it->url, &cfg, sub) == PN_OK) {
            int proxy = cfg.role == PN_ROLE_PROXY;
            pn_config_clear(&cfg);
            return pn_node_fail(err, field, f, proxy ? "users: set by the node (leave users= out)"
                                              : "an entrance is a proxy:// URL");
        }
        char *full = pn_node_entrance_url(it->url, "/dev/null");
        int rc = pn_config_parse(full, &cfg, sub);
        free(full);
        if (rc != PN_OK)
            return pn_node_fail(err, field, f, "%s", sub);
        rc = cfg.role == PN_ROLE_PROXY;
        pn_config_clear(&cfg);
        if (!rc)
            return pn_node_fail(err, field, f, "an entrance is a proxy:// URL");
        it->type = "proxy";
        return PN_OK;
    }
    if (pn_config_parse(it->url, &cfg, sub) != PN_OK)
        return pn_node_fail(err, field, f, "%s", sub);
    it->type = pn_body_role_type(cfg.role);
    int proxy = cfg.role == PN_ROLE_PROXY;
    pn_config_clear(&cfg);
    if (proxy)
        return pn_node_fail(err, field, f, "a proxy:// URL is an entrance, not a tunnel");
    return PN_OK;
}

static int
parse_items(json_t *arr, const char *list, int entrance, pn_node_conf_t *c, char *err,
            char field[PN_NODE_FIELD_LEN])
{
    char where[PN_NODE_FIELD_LEN], f[2 * PN_NODE_FIELD_LEN];
    size_t i;
    json_t *o;
    if (arr == NULL)
        return PN_OK;
    if (!json_is_array(arr))
        return pn_node_fail(err, field, list, "expected an array");
    if (c->nitems + json_array_size(arr) > PN_NODE_ITEMS_MAX)
        return pn_node_fail(err, field, list, "more than %d entrances and tunnels", PN_NODE_ITEMS_MAX);
    json_array_foreach(arr, i, o) {
        const char *k;
        json_t *v;
        snprintf(where, sizeof(where), "%s[%zu]", list, i);
        if (!json_is_object(o))
            return pn_node_fail(err, field, where, "expected an object {\"name\", \"url\"}");
        json_object_foreach(o, k, v) {
            if (strcmp(k, "name") != 0 && strcmp(k, "url") != 0 &&
                (strcmp(k, "groups") != 0 || !entrance)) {
                snprintf(f, sizeof(f), "%s.%.32s", where, k);
                return pn_node_fail(err, field, f, "unknown member");
            }
        }
        pn_node_item_t *it = &c->items[c->nitems];
        const char *name = json_string_value(json_object_get(o, "name"));
        snprintf(f, sizeof(f), "%s.name", where);
        if (name == NULL || !pn_node_is_name(name, PN_NODE_NAME_MAX))
            return pn_node_fail(err, field, f, "expected 1-%d of A-Z a-z 0-9 _ . -", PN_NODE_NAME_MAX);
        for (size_t j = 0; j < c->nitems; j++)
            if (strcmp(c->items[j].name, name) == 0)
                return pn_node_fail(err, field, f, "\"%s\" is named twice", name);
        snprintf(it->name, sizeof(it->name), "%s", name);
        it->url = json_string_value(json_object_get(o, "url"));
        it->entrance = entrance;
        it->groups = json_object_get(o, "groups");
        snprintf(f, sizeof(f), "%s.groups", where);
        if (it->groups != NULL && pn_node_check_groups(it->groups, f, err, field) != PN_OK)
            return PN_ERR;
        if (it->url == NULL) {
            snprintf(f, sizeof(f), "%s.url", where);
            return pn_node_fail(err, field, f, "expected a string");
        }
        if (check_url(it, where, err, field) != PN_OK)
            return PN_ERR;
        c->nitems++;
    }
    return PN_OK;
}

static int
check_meta(json_t *v, const char *name, const char **out, char *err, char field[PN_NODE_FIELD_LEN])
{
    if (v == NULL) {
        *out = "";
        return PN_OK;
    }
    if (!json_is_string(v))
        return pn_node_fail(err, field, name, "expected a string");
    *out = json_string_value(v);
    if (strlen(*out) > PN_NODE_META_MAX || !printable(*out))
        return pn_node_fail(err, field, name, "at most %d bytes, no control characters", PN_NODE_META_MAX);
    return PN_OK;
}

/* The users: checked by the users file's own parser, whose message
 * ("users: body: users[1].rate: ...") is cut to "users[1].rate: ...". */
static int
parse_users(json_t *arr, pn_node_conf_t *c, char *err, char field[PN_NODE_FIELD_LEN])
{
    char sub[PN_ERR_LEN];
    pn_users_t us;
    char f[PN_NODE_FIELD_LEN];
    size_t i;
    json_t *u;
    if (arr != NULL && !json_is_array(arr))
        return pn_node_fail(err, field, "users", "expected an array");
    /* each user's "group" apart; the users file has no such member */
    c->plain = json_array();
    c->ugroups = json_array();
    json_array_foreach(arr, i, u) {
        json_t *g = json_object_get(u, "group");
        snprintf(f, sizeof(f), "users[%zu].group", i);
        if (g != NULL && (!json_is_string(g) || (*json_string_value(g) &&
                                                 !pn_node_is_name(json_string_value(g), PN_NODE_NAME_MAX))))
            return pn_node_fail(err, field, f, "expected 0-%d of A-Z a-z 0-9 _ . -", PN_NODE_NAME_MAX);
        json_array_append_new(c->ugroups, json_string(g ? json_string_value(g) : ""));
        if (g != NULL && json_is_object(u)) {
            u = json_copy(u);
            json_object_del(u, "group");
            json_array_append_new(c->plain, u);
        } else {
            json_array_append(c->plain, u);
        }
    }
    json_t *file = json_object();
    json_object_set(file, "users", c->plain);
    c->users = json_dumps(file, JSON_COMPACT);
    json_decref(file);
    if (pn_users_parse(c->users, "body", &us, sub) != PN_OK) {
        static const char cut[] = "users: body: ";
        const char *msg = strncmp(sub, cut, sizeof(cut) - 1) == 0 ? sub + sizeof(cut) - 1 : sub;
        const char *colon = strstr(msg, ": ");
        if (strncmp(msg, "users[", 6) != 0 || colon == NULL ||
            (size_t)(colon - msg) >= PN_NODE_FIELD_LEN)
            return pn_node_fail(err, field, "users", "%s", msg);
        snprintf(field, PN_NODE_FIELD_LEN, "%.*s", (int)(colon - msg), msg);
        return pn_err_set(err, "%s", msg);
    }
    c->nusers = us.n;
    pn_users_clear(&us);
    return PN_OK;
}

int
pn_node_conf_parse(const char *text, size_t len, pn_node_conf_t *c, char *err,
                   char field[PN_NODE_FIELD_LEN])
{
    static const char *const known[] = { "version", "updated_at", "updated_by", "entrances",
                                         "tunnels", "users", NULL };
    json_t *v;
    memset(c, 0, sizeof(*c));
    field[0] = '\0';
    c->root = pn_node_load_object(text, len, known, err, field);
    if (c->root == NULL)
        goto fail;
    v = json_object_get(c->root, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        pn_node_fail(err, field, "version", "expected an integer of at least 1");
        goto fail;
    }
    c->version = json_integer_value(v);
    if (check_meta(json_object_get(c->root, "updated_at"), "updated_at", &c->updated_at, err,
                   field) != PN_OK ||
        check_meta(json_object_get(c->root, "updated_by"), "updated_by", &c->updated_by, err,
                   field) != PN_OK)
        goto fail;
    c->items = xcalloc(PN_NODE_ITEMS_MAX * sizeof(*c->items));
    if (parse_items(json_object_get(c->root, "entrances"), "entrances", 1, c, err, field) != PN_OK ||
        parse_items(json_object_get(c->root, "tunnels"), "tunnels", 0, c, err, field) != PN_OK ||
        parse_users(json_object_get(c->root, "users"), c, err, field) != PN_OK)
        goto fail;
    return PN_OK;
fail:
    pn_node_conf_clear(c);
    return PN_ERR;
}

void
pn_node_conf_clear(pn_node_conf_t *c)
{
    if (c->users != NULL) {
        memset(c->users, 0, strlen(c->users));
        free(c->users);
    }
    free(c->items);
    json_decref(c->plain);
    json_decref(c->ugroups);
    json_decref(c->root);
    memset(c, 0, sizeof(*c));
}
