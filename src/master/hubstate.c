/* master/hubstate.c: the HUB_STATE parser (see master/hubstate.h). */
#include "master/hubstate.h"
#include "core/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum kind {
    K_TEXT = 0,                 /* a string; missing: "" */
    K_ID,                       /* a non-empty string, required */
    K_KEY,                      /* a non-empty string or a port number, required */
    K_COUNT,                    /* a non-negative integer; missing: 0 */
    K_REFUSED,                  /* an object of counts; missing: {} (the documented reasons 0) */
};

typedef struct member {
    const char *name;
    enum kind kind;
} member_t;

typedef struct shape {
    const char *list;           /* "clients", "routes", "accounts" */
    const member_t *m;
    size_t n;
    const char *unique;         /* a member whose values must differ, or NULL */
} shape_t;

static const member_t CLIENT[] = {
    { "id", K_ID }, { "account", K_TEXT }, { "peer", K_TEXT }, { "since", K_COUNT },
    { "routes", K_COUNT }, { "pool", K_COUNT }, { "ping_ms", K_COUNT },
};
static const member_t ROUTE[] = {
    { "type", K_ID }, { "key", K_KEY }, { "account", K_TEXT }, { "group", K_TEXT },
    { "members", K_COUNT }, { "online", K_COUNT }, { "conns", K_COUNT },
};
static const member_t ACCOUNT[] = {
    { "name", K_ID }, { "clients", K_COUNT }, { "routes", K_COUNT }, { "conns", K_COUNT },
    { "requests", K_COUNT }, { "rx", K_COUNT }, { "tx", K_COUNT }, { "refused", K_REFUSED },
};
#define N(a) (sizeof(a) / sizeof((a)[0]))
static const shape_t SHAPES[] = {
    { "clients", CLIENT, N(CLIENT), NULL },
    { "routes", ROUTE, N(ROUTE), NULL },
    { "accounts", ACCOUNT, N(ACCOUNT), "name" },
};
/* The refusal reasons of docs/hub.md §6, always present in the result. */
static const char *const REASONS[] = { "rate", "conns", "routes" };

static int is_count(const json_t *v);

/* A clustered hub's list of the other hubs' routes (at most STATE_REMOTE_MAX
 * there), normalised to {"route", "hub", "account", "held"}; missing: [].
 * NULL with <err> when malformed. */
static json_t *
copy_remote(const json_t *remote, char *err)
{
    json_t *out = json_array(), *r;
    size_t i;
    if (remote == NULL)
        return out;
    if (!json_is_array(remote)) {
        json_decref(out);
        pn_err_set(err, "cluster.remote: expected an array");
        return NULL;
    }
    json_array_foreach(remote, i, r) {
        const char *route = json_string_value(json_object_get(r, "route"));
        const char *hub = json_string_value(json_object_get(r, "hub"));
        const char *acct = json_string_value(json_object_get(r, "account"));
        if (route == NULL || route[0] == '\0' || hub == NULL || hub[0] == '\0') {
            json_decref(out);
            pn_err_set(err, "cluster.remote[%zu]: expected {\"route\", \"hub\", ...}", i);
            return NULL;
        }
        json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:b}", "route", route, "hub", hub,
                                             "account", acct ? acct : "",
                                             "held", json_is_true(json_object_get(r, "held"))));
    }
    return out;
}

/* A clustered hub's view (docs/hub.md §7), into <out> when <root> has one: its
 * id, whether Redis answers, the live hubs (with their heartbeat's age), the
 * other hubs' routes it lists, and its counts. PN_ERR with <err> when malformed. */
static int
copy_cluster(json_t *root, json_t *out, char *err)
{
    static const char *const counts[] = { "remote_routes", "pending", "claims", "refused",
                                          "conflicts", "lapses" };
    json_t *c = json_object_get(root, "cluster"), *h;
    size_t i;
    if (c == NULL)
        return PN_OK;
    const char *id = json_string_value(json_object_get(c, "id"));
    const char *redis = json_string_value(json_object_get(c, "redis"));
    json_t *hubs = json_object_get(c, "hubs");
    if (!json_is_object(c) || id == NULL || id[0] == '\0' || redis == NULL ||
        (strcmp(redis, "up") != 0 && strcmp(redis, "down") != 0) || !json_is_array(hubs))
        return pn_err_set(err, "cluster: expected {\"id\", \"redis\": \"up\"|\"down\", \"hubs\": [...]}");
    json_t *o = json_pack("{s:s,s:s,s:s}", "id", id, "redis", redis, "peer",
                          json_is_string(json_object_get(c, "peer"))
                          ? json_string_value(json_object_get(c, "peer")) : "-");
    json_t *list = json_array();
    json_object_set_new(o, "hubs", list);
    json_array_foreach(hubs, i, h) {
        const char *hid = json_string_value(json_object_get(h, "id"));
        const char *peer = json_string_value(json_object_get(h, "peer"));
        if (hid == NULL || hid[0] == '\0') {
            json_decref(o);
            return pn_err_set(err, "cluster.hubs[%zu].id: expected a non-empty string", i);
        }
        json_t *age = json_object_get(h, "age_ms");
        if (age != NULL && !is_count(age)) {
            json_decref(o);
            return pn_err_set(err, "cluster.hubs[%zu].age_ms: expected a count", i);
        }
        json_array_append_new(list, json_pack("{s:s,s:s,s:I}", "id", hid, "peer", peer ? peer : "-",
                                              "age_ms", age ? json_integer_value(age) : 0));
    }
    json_t *remote = copy_remote(json_object_get(c, "remote"), err);
    if (remote == NULL) {
        json_decref(o);
        return PN_ERR;
    }
    json_object_set_new(o, "remote", remote);
    for (i = 0; i < N(counts); i++) {
        json_t *v = json_object_get(c, counts[i]);
        if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0)) {
            json_decref(o);
            return pn_err_set(err, "cluster.%s: expected a count", counts[i]);
        }
        json_object_set_new(o, counts[i], json_integer(v ? json_integer_value(v) : 0));
    }
    json_object_set_new(out, "cluster", o);
    return PN_OK;
}

int
pn_tagline_match(const char *line, size_t len, const char *tag, size_t *json)
{
    const size_t taglen = strlen(tag);
    for (size_t i = 0; i <= PN_HUBSTATE_PREFIX_MAX && i + taglen <= len; i++) {
        if (memcmp(line + i, tag, taglen) == 0 && (i == 0 || line[i - 1] == ' ')) {
            if (json != NULL)
                *json = i + taglen;
            return 1;
        }
        /* The prefix is printable and holds no '|' (nor does a JSON start in it). */
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c >= 0x7f || c == '|' || c == '{')
            return 0;
    }
    return 0;
}

int
pn_hubstate_match(const char *line, size_t len, size_t *json)
{
    return pn_tagline_match(line, len, PN_HUBSTATE_TAG, json);
}

static int
is_count(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* <src>'s member <m> into <dst> (normalised); PN_ERR with <err> naming <where>.<m>. */
static int
copy_member(json_t *dst, const json_t *src, const member_t *m, const char *where, char *err)
{
    json_t *v = json_object_get(src, m->name);
    switch (m->kind) {
    case K_TEXT:
        if (v == NULL)
            v = json_string("");
        else if (json_is_string(v))
            json_incref(v);
        else
            return pn_err_set(err, "%s.%s: expected a string", where, m->name);
        break;
    case K_ID:
        if (!json_is_string(v) || json_string_length(v) == 0)
            return pn_err_set(err, "%s.%s: expected a non-empty string", where, m->name);
        json_incref(v);
        break;
    case K_KEY:
        if (is_count(v)) {
            char port[24];
            snprintf(port, sizeof(port), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            v = json_string(port);
        } else if (json_is_string(v) && json_string_length(v) > 0) {
            json_incref(v);
        } else {
            return pn_err_set(err, "%s.%s: expected a non-empty string (a host name or a "
                              "port number)", where, m->name);
        }
        break;
    case K_COUNT:
        if (v == NULL)
            v = json_integer(0);
        else if (is_count(v))
            json_incref(v);
        else
            return pn_err_set(err, "%s.%s: expected a non-negative integer", where, m->name);
        break;
    case K_REFUSED: {
        json_t *out = json_object();
        for (size_t i = 0; i < N(REASONS); i++)
            json_object_set_new(out, REASONS[i], json_integer(0));
        if (v != NULL && !json_is_object(v)) {
            json_decref(out);
            return pn_err_set(err, "%s.%s: expected an object of counts", where, m->name);
        }
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c) {
            if (!is_count(c) || *k == '\0') {
                json_decref(out);
                return pn_err_set(err, "%s.%s.%.64s: expected a non-negative integer", where,
                                  m->name, k);
            }
            json_object_set(out, k, c);
        }
        v = out;
        break;
    }
    }
    json_object_set_new(dst, m->name, v);
    return PN_OK;
}

/* The array <sh->list> of <root>, normalised; NULL with <err>. */
static json_t *
copy_list(const json_t *root, const shape_t *sh, char *err)
{
    json_t *arr = json_object_get(root, sh->list);
    if (!json_is_array(arr)) {
        pn_err_set(err, "%s: expected an array", sh->list);
        return NULL;
    }
    json_t *out = json_array();
    json_t *seen = sh->unique ? json_object() : NULL;
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el) {
        char where[48];
        snprintf(where, sizeof(where), "%s[%zu]", sh->list, i);
        if (!json_is_object(el)) {
            pn_err_set(err, "%s: expected an object", where);
            goto fail;
        }
        json_t *o = json_object();
        json_array_append_new(out, o);
        for (size_t k = 0; k < sh->n; k++)
            if (copy_member(o, el, &sh->m[k], where, err) != PN_OK)
                goto fail;
        if (seen != NULL) {
            const char *u = json_string_value(json_object_get(o, sh->unique));
            if (json_object_get(seen, u) != NULL) {
                pn_err_set(err, "%s.%s: \"%.64s\" is listed twice", where, sh->unique, u);
                goto fail;
            }
            json_object_set_new(seen, u, json_true());
        }
    }
    json_decref(seen);
    return out;

fail:
    json_decref(seen);
    json_decref(out);
    return NULL;
}

json_t *
pn_hubstate_parse(const char *line, size_t len, char *err)
{
    size_t off;
    json_error_t jerr;

    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (!pn_hubstate_match(line, len, &off)) {
        pn_err_set(err, "not a HUB_STATE line");
        return NULL;
    }
    if (len - off > PN_HUBSTATE_MAX) {
        pn_err_set(err, "%zu bytes of JSON (at most %d)", len - off, PN_HUBSTATE_MAX);
        return NULL;
    }
    json_t *root = json_loadb(line + off, len - off, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        pn_err_set(err, "not JSON: %s at column %d", jerr.text, jerr.column);
        return NULL;
    }
    json_t *out = NULL;
    if (!json_is_object(root)) {
        pn_err_set(err, "expected an object {\"clients\": [...], \"routes\": [...], "
                   "\"accounts\": [...]}");
        goto done;
    }
    json_t *trunc = json_object_get(root, "truncated");
    if (trunc != NULL && !json_is_boolean(trunc)) {
        pn_err_set(err, "truncated: expected true or false");
        goto done;
    }
    out = json_object();
    for (size_t i = 0; i < N(SHAPES); i++) {
        json_t *list = copy_list(root, &SHAPES[i], err);
        if (list == NULL) {
            json_decref(out);
            out = NULL;
            goto done;
        }
        json_object_set_new(out, SHAPES[i].list, list);
    }
    json_object_set_new(out, "truncated", json_boolean(json_is_true(trunc)));
    if (copy_cluster(root, out, err) != PN_OK) {
        json_decref(out);
        out = NULL;
    }
done:
    json_decref(root);
    return out;
}
