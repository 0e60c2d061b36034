/* master/mgr_body.c: the manager's request bodies (see master/mgr_body.h). */
#include "master/mgr_body.h"
#include "conf/users.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define TOKEN_MAX 256
#define TEXT_MAX 64

static int
text(json_t *o, const char *k, size_t min, size_t max, const char **out, char *err,
     char field[PN_NODE_FIELD_LEN])
{
    json_t *v = json_object_get(o, k);
    if (v == NULL)
        return PN_OK;
    if (!json_is_string(v))
        return pn_node_fail(err, field, k, "expected a string");
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n < min || n > max)
        return pn_node_fail(err, field, k, "expected %zu-%zu bytes", min, max);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return pn_node_fail(err, field, k, "must not hold control characters");
    *out = s;
    return PN_OK;
}

static int
integer(json_t *o, const char *k, int64_t min, int64_t max, int64_t *out, char *err,
        char field[PN_NODE_FIELD_LEN])
{
    json_t *v = json_object_get(o, k);
    if (v == NULL)
        return PN_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return pn_node_fail(err, field, k, "expected an integer in %lld-%lld", (long long)min,
                     (long long)max);
    *out = json_integer_value(v);
    return PN_OK;
}

/* Load <text> as an object whose members are all in <known>. */
static json_t *
load(const char *t, size_t len, const char *const *known, char *err, char field[PN_NODE_FIELD_LEN])
{
    json_t *o = pn_node_load_object(t, len, known, err, field);
    if (o == NULL)
        return NULL;
    if (json_object_size(o) == 0) {
        json_decref(o);
        pn_node_fail(err, field, "body", "changes nothing");
        return NULL;
    }
    return o;
}

static int
action(json_t *o, const char *want, int *out, char *err, char field[PN_NODE_FIELD_LEN])
{
    const char *a = NULL;
    if (text(o, "action", 1, 16, &a, err, field) != PN_OK)
        return PN_ERR;
    if (a != NULL && strcmp(a, want) != 0)
        return pn_node_fail(err, field, "action", "expected \"%s\"", want);
    *out = a != NULL;
    return PN_OK;
}

void
pn_mgr_body_clear(json_t **root)
{
    json_decref(*root);
    *root = NULL;
}

/* Check the entrances and tunnels as the node will (master/node_conf.h). */
static int
check_items(pn_mgr_node_body_t *b, char *err, char field[PN_NODE_FIELD_LEN])
{
    pn_node_conf_t c;
    json_t *o = json_pack("{s:i}", "version", 1);
    if (b->entrances != NULL)
        json_object_set(o, "entrances", b->entrances);
    if (b->tunnels != NULL)
        json_object_set(o, "tunnels", b->tunnels);
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    int rc = pn_node_conf_parse(t, strlen(t), &c, err, field);
    free(t);
    /* "path.<p>" and "exit.<p>" are the names the paths give (master/paths.h) */
    for (size_t i = 0; rc == PN_OK && i < c.nitems; i++) {
        if (strncmp(c.items[i].name, "path.", 5) == 0 || strncmp(c.items[i].name, "exit.", 5) == 0) {
            char f[PN_NODE_FIELD_LEN];
            size_t ne = json_array_size(b->entrances);
            snprintf(f, sizeof(f), "%s[%zu].name", i < ne ? "entrances" : "tunnels",
                     i < ne ? i : i - ne);
            rc = pn_node_fail(err, field, f, "path. and exit. are the paths' names");
        }
    }
    pn_node_conf_clear(&c);
    return rc;
}

/* "http://[user:password@]<ip>:<port>" of <b>->fallback into its parts. */
static int
parse_fallback(pn_mgr_node_body_t *b)
{
    uint8_t ip[16];
    const char *s = b->fallback, *at, *hp, *colon;
    if (strncmp(s, "http://", 7) != 0)
        return PN_ERR;
    s += 7;
    at = strrchr(s, '@');
    hp = at ? at + 1 : s;
    if (at != NULL && ((size_t)(at - s) >= sizeof(b->fb_auth) || at == s))
        return PN_ERR;
    snprintf(b->fb_auth, sizeof(b->fb_auth), "%.*s", at ? (int)(at - s) : 0, s);
    colon = strrchr(hp, ':');
    if (colon == NULL || (size_t)(colon - hp) >= sizeof(b->fb_host) || colon == hp)
        return PN_ERR;
    if (hp[0] == '[' && colon[-1] == ']')
        snprintf(b->fb_host, sizeof(b->fb_host), "%.*s", (int)(colon - hp - 2), hp + 1);
    else
        snprintf(b->fb_host, sizeof(b->fb_host), "%.*s", (int)(colon - hp), hp);
    if (inet_pton(AF_INET, b->fb_host, ip) != 1 && inet_pton(AF_INET6, b->fb_host, ip) != 1)
        return PN_ERR;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port < 1 || port > 65535)
        return PN_ERR;
    b->fb_port = (int)port;
    return PN_OK;
}

/* "AB:CD:..." or "abcd..." (64 hex digits) to 32 bytes. */
static int
parse_pin(const char *s, uint8_t out[32])
{
    size_t n = 0;
    for (const char *p = s; *p; ) {
        if (*p == ':' && n > 0 && n < 32 && p[1] != '\0') {
            p++;
            continue;
        }
        unsigned v;
        if (n == 32 || !isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
            sscanf(p, "%2x", &v) != 1)
            return PN_ERR;
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n == 32 ? PN_OK : PN_ERR;
}

int
pn_mgr_node_parse(const char *t, size_t len, int create, pn_mgr_node_body_t *b, char *err,
                  char field[PN_NODE_FIELD_LEN])
{
    static const char *const known[] = { "name", "address", "port", "token", "prefix",
                                         "entrances", "tunnels", "action", "tls", "ca",
                                         "fingerprint", "fallback", NULL };
    static const char *const need[] = { "address", "port", "token" };
    int64_t port = -1;
    uint8_t ip[16];
    memset(b, 0, sizeof(*b));
    b->port = -1;
    b->tls = -1;
    field[0] = '\0';
    if ((b->root = load(t, len, known, err, field)) == NULL)
        return PN_ERR;
    json_t *o = b->root, *tv = json_object_get(o, "tls");
    if (text(o, "name", 0, TEXT_MAX, &b->name, err, field) != PN_OK ||
        text(o, "address", 1, 64, &b->address, err, field) != PN_OK ||
        integer(o, "port", 1, 65535, &port, err, field) != PN_OK ||
        text(o, "token", 1, TOKEN_MAX, &b->token, err, field) != PN_OK ||
        text(o, "prefix", 1, TEXT_MAX, &b->prefix, err, field) != PN_OK ||
        action(o, "sync", &b->sync, err, field) != PN_OK ||
        text(o, "ca", 1, 4096, &b->ca, err, field) != PN_OK ||
        text(o, "fingerprint", 64, 95, &b->fingerprint, err, field) != PN_OK ||
        text(o, "fallback", 0, 400, &b->fallback, err, field) != PN_OK)
        goto fail;
    if (b->fallback != NULL && *b->fallback && parse_fallback(b) != PN_OK) {
        pn_node_fail(err, field, "fallback", "expected http://[user:password@]<IP address>:<port>");
        goto fail;
    }
    if (b->fallback != NULL && *b->fallback && (b->tls == 1 || b->ca || b->fingerprint ||
                                                json_is_true(tv))) {
        pn_node_fail(err, field, "fallback", "an HTTP proxy carries plain HTTP only (not with tls)");
        goto fail;
    }
    b->port = (int)port;
    if (tv != NULL && !json_is_boolean(tv)) {
        pn_node_fail(err, field, "tls", "expected true or false");
        goto fail;
    }
    if (tv != NULL)
        b->tls = json_is_true(tv);
    if (b->fingerprint != NULL && parse_pin(b->fingerprint, b->pin) != PN_OK) {
        pn_node_fail(err, field, "fingerprint", "expected the SHA-256 as 64 hex digits (pairs may be "
                     "joined by ':')");
        goto fail;
    }
    if ((b->ca != NULL || b->fingerprint != NULL) && b->tls == 0) {
        pn_node_fail(err, field, "tls", "false with a ca or fingerprint");
        goto fail;
    }
    if (b->ca != NULL || b->fingerprint != NULL)
        b->tls = 1;
    if (b->address != NULL && inet_pton(AF_INET, b->address, ip) != 1 &&
        inet_pton(AF_INET6, b->address, ip) != 1) {
        pn_node_fail(err, field, "address", "expected an IPv4 or IPv6 address");
        goto fail;
    }
    if (b->prefix != NULL && (b->prefix[0] != '/' || strchr(b->prefix, '?') != NULL ||
                              b->prefix[strlen(b->prefix) - 1] == '/')) {
        pn_node_fail(err, field, "prefix", "expected a path like /api (no trailing slash)");
        goto fail;
    }
    b->entrances = json_object_get(o, "entrances");
    b->tunnels = json_object_get(o, "tunnels");
    if ((b->entrances != NULL || b->tunnels != NULL) && check_items(b, err, field) != PN_OK)
        goto fail;
    for (size_t i = 0; create && i < sizeof(need) / sizeof(need[0]); i++)
        if (json_object_get(o, need[i]) == NULL) {
            pn_node_fail(err, field, need[i], "required");
            goto fail;
        }
    if (create && b->sync) {
        pn_node_fail(err, field, "action", "not when adding a node");
        goto fail;
    }
    return PN_OK;
fail:
    pn_mgr_body_clear(&b->root);
    return PN_ERR;
}

/* Check the user as the entrances will: a users file of one. */
static int
check_user(const pn_mgr_user_body_t *b, char *err, char field[PN_NODE_FIELD_LEN])
{
    char sub[PN_ERR_LEN];
    pn_users_t us;
    json_t *u = json_pack("{s:s}", "name", b->name ? b->name : "x");
    if (b->password != NULL)
        json_object_set_new(u, "password", json_string(b->password));
    if (b->key != NULL)
        json_object_set_new(u, "key", json_string(b->key));
    if (b->password == NULL && b->key == NULL)
        json_object_set_new(u, "password", json_string("x"));
    if (b->rate >= 0)
        json_object_set_new(u, "rate", json_integer(b->rate));
    if (b->max_conns >= 0)
        json_object_set_new(u, "max_conns", json_integer(b->max_conns));
    json_t *file = json_pack("{s:[o]}", "users", u);
    char *t = json_dumps(file, JSON_COMPACT);
    json_decref(file);
    int rc = pn_users_parse(t, "body", &us, sub);
    memset(t, 0, strlen(t));
    free(t);
    if (rc == PN_OK) {
        pn_users_clear(&us);
        return PN_OK;
    }
    /* "users: body: users[0].rate: ..." -> field "rate" */
    const char *m = strstr(sub, "users[0].");
    if (m == NULL)
        return pn_node_fail(err, field, "name", "%s", sub);
    m += strlen("users[0].");
    const char *colon = strstr(m, ": ");
    char f[PN_NODE_FIELD_LEN];
    snprintf(f, sizeof(f), "%.*s", colon ? (int)(colon - m) : 0, m);
    return pn_node_fail(err, field, *f ? f : "name", "%s", colon ? colon + 2 : sub);
}

int
pn_mgr_user_parse(const char *t, size_t len, int create, pn_mgr_user_body_t *b, char *err,
                  char field[PN_NODE_FIELD_LEN])
{
    static const char *const known[] = { "name", "password", "key", "enabled", "quota", "rate",
                                         "max_conns", "expires", "action", "group", NULL };
    memset(b, 0, sizeof(*b));
    b->enabled = -1;
    b->quota = b->rate = b->max_conns = b->expires = -1;
    field[0] = '\0';
    if ((b->root = load(t, len, known, err, field)) == NULL)
        return PN_ERR;
    json_t *o = b->root, *v;
    if (text(o, "name", 1, PN_USER_NAME_MAX, &b->name, err, field) != PN_OK ||
        text(o, "password", 1, PN_USER_SECRET_MAX, &b->password, err, field) != PN_OK)
        goto fail;
    if (text(o, "group", 0, PN_NODE_NAME_MAX, &b->group, err, field) != PN_OK)
        goto fail;
    if (b->group != NULL && *b->group && !pn_node_is_name(b->group, PN_NODE_NAME_MAX)) {
        pn_node_fail(err, field, "group", "expected 0-%d of A-Z a-z 0-9 _ . -", PN_NODE_NAME_MAX);
        goto fail;
    }
    if (json_is_null(json_object_get(o, "key")))
        b->key_clear = 1;
    else if (text(o, "key", 1, PN_USER_SECRET_MAX, &b->key, err, field) != PN_OK)
        goto fail;
    if ((v = json_object_get(o, "enabled")) != NULL) {
        if (!json_is_boolean(v)) {
            pn_node_fail(err, field, "enabled", "expected true or false");
            goto fail;
        }
        b->enabled = json_is_true(v);
    }
    if (integer(o, "quota", 0, INT64_MAX, &b->quota, err, field) != PN_OK ||
        integer(o, "rate", 0, 1000000, &b->rate, err, field) != PN_OK ||
        integer(o, "max_conns", 0, 1000000, &b->max_conns, err, field) != PN_OK ||
        integer(o, "expires", 0, INT64_MAX, &b->expires, err, field) != PN_OK ||
        action(o, "reset", &b->reset, err, field) != PN_OK)
        goto fail;
    if (!create && b->name != NULL) {
        pn_node_fail(err, field, "name", "cannot be changed (delete the user and add it again)");
        goto fail;
    }
    if (create && b->name == NULL) {
        pn_node_fail(err, field, "name", "required");
        goto fail;
    }
    if (create && b->password == NULL && b->key == NULL) {
        pn_node_fail(err, field, "password", "required (or a key)");
        goto fail;
    }
    if (create && b->reset) {
        pn_node_fail(err, field, "action", "not when adding a user");
        goto fail;
    }
    if (check_user(b, err, field) != PN_OK)
        goto fail;
    return PN_OK;
fail:
    pn_mgr_body_clear(&b->root);
    return PN_ERR;
}
