/* conf/users.c: the proxy entrance's users file and allow= networks. */
#include "conf/users.h"
#include "conf/hubjson.h"
#include "core/mem.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERS_MAX 100000
#define COUNT_MAX 1000000000u

typedef struct uplace {
    const char *label;
    size_t i;
    char *err;
} uplace_t;

static int ufail(const uplace_t *p, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
ufail(const uplace_t *p, const char *member, const char *fmt, ...)
{
    char what[PN_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return pn_err_set(p->err, "users: %s: users[%zu]%s%s: %s", p->label, p->i, member ? "." : "",
                      member ? member : "", what);
}

static void
wipe_free(char *s)
{
    if (s != NULL)
        memset(s, 0, strlen(s));
    free(s);
}

/* A secret: a string of 1-255 bytes. Never echoed. */
static int
secret(const uplace_t *p, json_t *o, const char *member, char **out)
{
    json_t *v = json_object_get(o, member);
    if (v == NULL)
        return PN_OK;
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    if (n == 0 || n > PN_USER_SECRET_MAX || strlen(json_string_value(v)) != n)
        return ufail(p, member, "expected a string of 1-%d bytes without NUL", PN_USER_SECRET_MAX);
    *out = xstrdup(json_string_value(v));
    return PN_OK;
}

static int
count(const uplace_t *p, json_t *o, const char *member, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(o, member);
    if (v == NULL)
        return PN_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return ufail(p, member, "expected an integer in 0-%llu", (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return PN_OK;
}

static int
parse_user(const uplace_t *p, json_t *o, pn_user_spec_t *u)
{
    static const char *const known[] = { "name", "password", "key", "enabled", "rate",
                                         "max_conns", "quota", NULL };
    const char *k;
    json_t *v;
    uint64_t x;
    if (!json_is_object(o))
        return ufail(p, NULL, "expected an object");
    json_object_foreach(o, k, v) {
        const char *const *m;
        for (m = known; *m && strcmp(*m, k) != 0; m++)
            ;
        if (*m == NULL)
            return ufail(p, NULL, "unknown member (expected name, password, key, enabled, rate, "
                         "max_conns, quota)");
    }
    v = json_object_get(o, "name");
    const char *name = json_is_string(v) ? json_string_value(v) : NULL;
    size_t nl = name ? strlen(name) : 0;
    if (nl == 0 || nl > PN_USER_NAME_MAX || nl != json_string_length(v))
        return ufail(p, "name", "expected a string of 1-%d printable characters", PN_USER_NAME_MAX);
    for (size_t i = 0; i < nl; i++)
        if (name[i] < 0x21 || name[i] > 0x7e || name[i] == ':')
            return ufail(p, "name", "expected printable ASCII without space or ':'");
    u->name = xstrdup(name);
    u->enabled = 1;
    if (secret(p, o, "password", &u->password) != PN_OK || secret(p, o, "key", &u->key) != PN_OK)
        return PN_ERR;
    if (u->password == NULL && u->key == NULL)
        return ufail(p, NULL, "user \"%s\" has neither password nor key", u->name);
    if ((v = json_object_get(o, "enabled")) != NULL) {
        if (!json_is_boolean(v))
            return ufail(p, "enabled", "expected true or false");
        u->enabled = json_is_true(v);
    }
    x = 0;
    if (count(p, o, "rate", 1000000, &x) != PN_OK)
        return PN_ERR;
    u->rate_mbps = (uint32_t)x;
    x = 0;
    if (count(p, o, "max_conns", COUNT_MAX, &x) != PN_OK)
        return PN_ERR;
    u->max_conns = (uint32_t)x;
    return count(p, o, "quota", (uint64_t)1 << 62, &u->quota);
}

int
pn_users_parse(const char *json, const char *label, pn_users_t *out, char *err)
{
    uplace_t p = { label, 0, err };
    memset(out, 0, sizeof(*out));
    json_t *root = pn_conf_load_json("users", label, json, err);
    if (root == NULL)
        return PN_ERR;
    json_t *list = json_is_object(root) ? json_object_get(root, "users") : NULL;
    if (list == NULL || !json_is_array(list) || json_object_size(root) != 1) {
        json_decref(root);
        return pn_err_set(err, "users: %s: expected {\"users\": [...]}", label);
    }
    size_t n = json_array_size(list);
    if (n > USERS_MAX) {
        json_decref(root);
        return pn_err_set(err, "users: %s: more than %d users", label, USERS_MAX);
    }
    out->u = xcalloc((n ? n : 1) * sizeof(*out->u));
    for (p.i = 0; p.i < n; p.i++) {
        pn_user_spec_t *u = &out->u[p.i];
        out->n = p.i + 1;
        if (parse_user(&p, json_array_get(list, p.i), u) != PN_OK)
            goto fail;
        for (size_t j = 0; j < p.i; j++) {
            if (strcmp(out->u[j].name, u->name) == 0) {
                ufail(&p, "name", "\"%s\" is also users[%zu]'s name", u->name, j);
                goto fail;
            }
            if (u->key && out->u[j].key && strcmp(out->u[j].key, u->key) == 0) {
                ufail(&p, "key", "the same as users[%zu]'s key (a key names one user)", j);
                goto fail;
            }
        }
    }
    json_decref(root);
    return PN_OK;
fail:
    json_decref(root);
    pn_users_clear(out);
    return PN_ERR;
}

int
pn_users_load(const char *path, pn_users_t *out, char *err)
{
    char *text;
    memset(out, 0, sizeof(*out));
    if (pn_conf_read_file("users", path, &text, err) != PN_OK)
        return PN_ERR;
    int rc = pn_users_parse(text, path, out, err);
    wipe_free(text);
    return rc;
}

void
pn_user_spec_clear(pn_user_spec_t *u)
{
    xfree(u->name);
    wipe_free(u->password);
    wipe_free(u->key);
    memset(u, 0, sizeof(*u));
}

void
pn_users_clear(pn_users_t *us)
{
    for (size_t i = 0; i < us->n; i++)
        pn_user_spec_clear(&us->u[i]);
    xfree(us->u);
    memset(us, 0, sizeof(*us));
}

/* ---- allow= ---- */

static int
ip16_parse(const char *s, uint8_t ip[16], unsigned *max)
{
    uint8_t v4[4];
    if (inet_pton(AF_INET, s, v4) == 1) {
        memset(ip, 0, 10);
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, v4, 4);
        *max = 32;
        return PN_OK;
    }
    *max = 128;
    return inet_pton(AF_INET6, s, ip) == 1 ? PN_OK : PN_ERR;
}

int
pn_cidr_list_parse(const char *s, pn_cidr_t **out, size_t *n, char *err)
{
    *out = NULL;
    *n = 0;
    while (*s != '\0') {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        char item[64];
        pn_cidr_t c;
        unsigned max;
        if (len == 0 || len >= sizeof(item))
            goto bad;
        memcpy(item, s, len);
        item[len] = '\0';
        char *slash = strchr(item, '/');
        if (slash != NULL)
            *slash = '\0';
        if (ip16_parse(item, c.ip, &max) != PN_OK)
            goto bad;
        c.bits = max;
        if (slash != NULL) {
            char *end;
            unsigned long b = strtoul(slash + 1, &end, 10);
            if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || b > max)
                goto bad;
            c.bits = (unsigned)b;
        }
        if (max == 32)
            c.bits += 96;
        *out = xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = c;
        if (comma == NULL)
            break;
        s = comma + 1;
        if (*s == '\0')
            goto bad;
        continue;
bad:
        xfree(*out);
        *n = 0;
        return pn_err_set(err, "allow: expected a list of <ip>[/<bits>], e.g. 127.0.0.0/8,::1");
    }
    return PN_OK;
}

static int
in_net(const uint8_t *ip, const uint8_t *net, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(ip, net, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (ip[full] & mask) == (net[full] & mask);
}

int
pn_cidr_match(const pn_cidr_t *list, size_t n, const uint8_t ip16[16])
{
    for (size_t i = 0; i < n; i++)
        if (in_net(ip16, list[i].ip, list[i].bits))
            return 1;
    return 0;
}

int
pn_ip_is_internal(const uint8_t ip[16])
{
    static const struct { const char *net; unsigned bits; } nets[] = {
        { "0.0.0.0", 8 }, { "10.0.0.0", 8 }, { "100.64.0.0", 10 }, { "127.0.0.0", 8 },
        { "169.254.0.0", 16 }, { "172.16.0.0", 12 }, { "192.0.0.0", 24 }, { "192.168.0.0", 16 },
        { "198.18.0.0", 15 }, { "224.0.0.0", 4 }, { "240.0.0.0", 4 },
        { "::", 128 }, { "::1", 128 }, { "fc00::", 7 }, { "fe80::", 10 }, { "ff00::", 8 },
        { "64:ff9b::", 96 }, { "::", 96 },
    };
    for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
        uint8_t net[16];
        unsigned max;
        ip16_parse(nets[i].net, net, &max);
        if (in_net(ip, net, nets[i].bits + (max == 32 ? 96 : 0)))
            return 1;
    }
    return 0;
}
