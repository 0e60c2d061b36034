/* master/body.c: API request bodies to pn_body_t (pure; see master/body.h). */
#include "master/body.h"
#include "master/super.h"
#include "conf/config.h"

#include <stdio.h>
#include <string.h>

#define TAGS_MAX 64
#define TAG_KEY_MAX 64
#define TAG_VALUE_MAX 256
#define NAME_MAX_LEN 64

static int
fail(char *err, char field[PN_FIELD_LEN], const char *name, const char *fmt, const char *arg)
{
    char reason[PN_ERR_LEN];
    snprintf(field, PN_FIELD_LEN, "%s", name);
    snprintf(reason, sizeof(reason), fmt, arg);
    return pn_err_set(err, "%s: %s", name, reason);
}

/* Nonzero when <s> holds a control character (they have no place in a name). */
static int
has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int
check_text(json_t *v, const char *name, size_t min, size_t max, const char **out, char *err,
           char field[PN_FIELD_LEN])
{
    char what[64];
    if (!json_is_string(v))
        return fail(err, field, name, "expected a string%s", "");
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n < min)
        return fail(err, field, name, "must not be empty%s", "");
    if (n > max) {
        snprintf(what, sizeof(what), "%zu", max);
        return fail(err, field, name, "longer than %s bytes", what);
    }
    if (has_control(s))
        return fail(err, field, name, "must not hold control characters%s", "");
    *out = s;
    return PN_OK;
}

/* The Instance "type" of a URL's role: its scheme. */
const char *
pn_body_role_type(enum pn_role role)
{
    switch (role) {
    case PN_ROLE_SERVER: return "server";
    case PN_ROLE_HUB: return "hub";
    case PN_ROLE_AGENT: return "agent";
    case PN_ROLE_PROXY: return "proxy";
    default: return "client";
    }
}

static int
check_url(json_t *v, pn_body_t *b, char *err, char field[PN_FIELD_LEN])
{
    char sub[PN_ERR_LEN];
    pn_config_t cfg;
    const char *s;
    if (check_text(v, "url", 1, PN_INST_URL_MAX, &s, err, field) != PN_OK)
        return PN_ERR;
    if (pn_config_parse(s, &cfg, sub) != PN_OK) {
        /* The command line's message names the URL's own field ("port: ..."). */
        snprintf(field, PN_FIELD_LEN, "url");
        return pn_err_set(err, "url: %s", sub);
    }
    b->type = pn_body_role_type(cfg.role);
    pn_config_clear(&cfg);
    b->url = s;
    return PN_OK;
}

static int
check_meta(json_t *v, pn_body_t *b, char *err, char field[PN_FIELD_LEN])
{
    const char *k;
    json_t *t;
    if (!json_is_object(v))
        return fail(err, field, "meta", "expected an object {\"tags\": {...}}%s", "");
    json_object_foreach(v, k, t) {
        if (strcmp(k, "tags") != 0)
            return fail(err, field, "meta", "unknown member \"%s\" (expected tags)", k);
    }
    json_t *tags = json_object_get(v, "tags");
    if (tags == NULL)
        return fail(err, field, "meta", "expected {\"tags\": {...}}%s", "");
    if (!json_is_object(tags))
        return fail(err, field, "meta", "tags: expected an object of strings%s", "");
    if (json_object_size(tags) > TAGS_MAX)
        return fail(err, field, "meta", "tags: more than 64 tags%s", "");
    json_object_foreach(tags, k, t) {
        char reason[PN_ERR_LEN];
        if (*k == '\0' || strlen(k) > TAG_KEY_MAX || has_control(k))
            return fail(err, field, "meta", "tags: a name must be 1-64 bytes without control "
                        "characters%s", "");
        if (!json_is_string(t)) {
            snprintf(reason, sizeof(reason), "tags.%s: expected a string", k);
            return fail(err, field, "meta", "%s", reason);
        }
        if (strlen(json_string_value(t)) > TAG_VALUE_MAX || has_control(json_string_value(t))) {
            snprintf(reason, sizeof(reason), "tags.%s: at most 256 bytes, no control characters", k);
            return fail(err, field, "meta", "%s", reason);
        }
    }
    b->tags = tags;
    return PN_OK;
}

static int
check_action(json_t *v, pn_body_t *b, char *err, char field[PN_FIELD_LEN])
{
    static const struct { const char *name; enum pn_action a; } actions[] = {
        { "start", PN_ACTION_START }, { "stop", PN_ACTION_STOP },
        { "restart", PN_ACTION_RESTART }, { "reset", PN_ACTION_RESET },
    };
    if (!json_is_string(v))
        return fail(err, field, "action", "expected one of start, stop, restart, reset%s", "");
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        if (strcmp(json_string_value(v), actions[i].name) == 0) {
            b->action = actions[i].a;
            return PN_OK;
        }
    }
    return fail(err, field, "action", "unknown action \"%s\" (expected start, stop, restart or reset)",
                json_string_value(v));
}

static int
allowed(enum pn_body_kind kind, const char *key)
{
    static const char *const create[] = { "url", "alias", "restart", "meta", NULL };
    static const char *const patch[] = { "alias", "action", "restart", "meta", NULL };
    static const char *const put[] = { "url", NULL };
    static const char *const info[] = { "name", NULL };
    const char *const *list = kind == PN_BODY_CREATE ? create : kind == PN_BODY_PATCH ? patch
                              : kind == PN_BODY_PUT ? put : info;
    for (; *list; list++)
        if (strcmp(*list, key) == 0)
            return 1;
    return 0;
}

int
pn_body_parse(enum pn_body_kind kind, const char *text, size_t len, pn_body_t *b, char *err,
              char field[PN_FIELD_LEN])
{
    json_error_t jerr;
    const char *k;
    json_t *v;

    memset(b, 0, sizeof(*b));
    b->restart = -1;
    field[0] = '\0';
    b->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (b->root == NULL) {
        snprintf(field, PN_FIELD_LEN, "body");
        return pn_err_set(err, "body: not JSON (line %d, column %d: %s)", jerr.line, jerr.column,
                          jerr.text);
    }
    if (!json_is_object(b->root)) {
        fail(err, field, "body", "expected a JSON object%s", "");
        goto bad;
    }
    json_object_foreach(b->root, k, v) {
        if (!allowed(kind, k)) {
            char name[PN_FIELD_LEN];
            snprintf(name, sizeof(name), "%s", k);
            fail(err, field, name, "unknown field%s", "");
            goto bad;
        }
    }
    if ((v = json_object_get(b->root, "url")) != NULL && check_url(v, b, err, field) != PN_OK)
        goto bad;
    if ((v = json_object_get(b->root, "alias")) != NULL &&
        check_text(v, "alias", 0, PN_INST_ALIAS_MAX, &b->alias, err, field) != PN_OK)
        goto bad;
    if ((v = json_object_get(b->root, "restart")) != NULL) {
        if (!json_is_boolean(v)) {
            fail(err, field, "restart", "expected true or false%s", "");
            goto bad;
        }
        b->restart = json_is_true(v);
    }
    if ((v = json_object_get(b->root, "meta")) != NULL && check_meta(v, b, err, field) != PN_OK)
        goto bad;
    if ((v = json_object_get(b->root, "action")) != NULL && check_action(v, b, err, field) != PN_OK)
        goto bad;
    if ((v = json_object_get(b->root, "name")) != NULL &&
        check_text(v, "name", 1, NAME_MAX_LEN, &b->name, err, field) != PN_OK)
        goto bad;

    switch (kind) {
    case PN_BODY_CREATE:
    case PN_BODY_PUT:
        if (b->url == NULL) {
            fail(err, field, "url", "missing (expected e.g. \"client://:8080/127.0.0.1:80\")%s", "");
            goto bad;
        }
        break;
    case PN_BODY_PATCH:
        if (json_object_size(b->root) == 0) {
            fail(err, field, "body", "nothing to change (expected alias, action, restart or meta)%s", "");
            goto bad;
        }
        break;
    case PN_BODY_INFO:
        if (b->name == NULL) {
            fail(err, field, "name", "missing%s", "");
            goto bad;
        }
        break;
    }
    return PN_OK;

bad:
    pn_body_clear(b);
    return PN_ERR;
}

void
pn_body_clear(pn_body_t *b)
{
    json_decref(b->root);
    memset(b, 0, sizeof(*b));
    b->restart = -1;
}
