/* conf/hubconf.c: the hub's accounts file and the matching rules of
 * accounts (docs/hub.md §2-§4); the agent's routes are conf/hubroute.c, the
 * helpers both use conf/hubjson.c.
 *
 * Pure apart from reading the named file. Every message names its place
 * ("accounts[1].token") and what was expected; secrets (tokens) are never
 * echoed, and other values are echoed only through pn_conf_shown(), so a
 * malformed file can neither forge log lines nor leak a token that sits next
 * to a syntax error. */
#include "conf/hubconf.h"
#include "conf/hubjson.h"
#include "route/http_acl.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/duration.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MIN 16
#define TOKEN_MAX 256
#define COUNT_MAX 1000000000        /* max_routes, max_conns, rps, mbps */

/* ---- ports and hosts ---- */

int
pn_port_range_parse(const char *s, pn_port_range_t *r)
{
    uint64_t lo, hi;
    const char *dash = strchr(s, '-');
    if (dash == NULL) {
        if (pn_uint_parse(s, 1, 65535, &lo) != PN_OK)
            return PN_ERR;
        hi = lo;
    } else {
        char *first = xstrndup(s, (size_t)(dash - s));
        int rc = pn_uint_parse(first, 1, 65535, &lo);
        xfree(first);
        if (rc != PN_OK || pn_uint_parse(dash + 1, 1, 65535, &hi) != PN_OK || lo > hi)
            return PN_ERR;
    }
    r->lo = (uint16_t)lo;
    r->hi = (uint16_t)hi;
    return PN_OK;
}

int
pn_conf_host_match(const char *pattern, const char *host)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *suffix = pattern + 1;           /* ".<suffix>", dot included */
        size_t ls = strlen(suffix), lh = strlen(host);
        /* At least one character before the dot: "*.a.b" never matches "a.b" itself. */
        return lh > ls && strcmp(host + lh - ls, suffix) == 0;
    }
    return strcmp(pattern, host) == 0;
}

int
pn_account_port_ok(const pn_account_t *a, uint16_t port)
{
    if (a->nports == 0)
        return 1;
    for (size_t i = 0; i < a->nports; i++)
        if (port >= a->ports[i].lo && port <= a->ports[i].hi)
            return 1;
    return 0;
}

int
pn_account_host_ok(const pn_account_t *a, const char *host)
{
    if (a->nhosts == 0)
        return 1;
    for (size_t i = 0; i < a->nhosts; i++)
        if (pn_conf_host_match(a->hosts[i], host))
            return 1;
    return 0;
}

/* ---- accounts ---- */

static const char *const account_members[] = {
    "name", "token", "max_routes", "max_conns", "rps", "mbps", "ports", "hosts", "http_auth", NULL,
};

static int
account_count(const pn_conf_place_t *p, json_t *o, const char *member, uint32_t *out)
{
    json_t *v = json_object_get(o, member);
    if (v == NULL)
        return PN_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > COUNT_MAX)
        return pn_conf_jfail(p, member, "expected an integer in 0-%d (0 = unlimited)", COUNT_MAX);
    *out = (uint32_t)json_integer_value(v);
    return PN_OK;
}

/* A non-empty array of strings: an empty list would read as "no limit" (the
 * meaning of an absent member), which is never what "[]" was written for. */
static int
string_array(const pn_conf_place_t *p, json_t *o, const char *member, const char *expected,
             json_t **arr)
{
    *arr = json_object_get(o, member);
    if (*arr == NULL)
        return PN_OK;
    if (!json_is_array(*arr))
        return pn_conf_jfail(p, member, "expected an array of %s", expected);
    if (json_array_size(*arr) == 0)
        return pn_conf_jfail(p, member, "empty (expected at least one %s, or no \"%s\" at all)", expected,
                     member);
    for (size_t k = 0; k < json_array_size(*arr); k++) {
        if (!json_is_string(json_array_get(*arr, k))) {
            char at[48];
            snprintf(at, sizeof(at), "%s[%zu]", member, k);
            return pn_conf_jfail(p, at, "expected a string");
        }
    }
    return PN_OK;
}

static int
account_ports(const pn_conf_place_t *p, json_t *o, const pn_port_range_t *range, pn_account_t *a)
{
    json_t *arr;
    char at[48], s[SHOWN_LEN];
    if (string_array(p, o, "ports", "port \"<n>\" or range \"<lo>-<hi>\"", &arr) != PN_OK)
        return PN_ERR;
    if (arr == NULL)
        return PN_OK;
    a->ports = xcalloc(json_array_size(arr) * sizeof(*a->ports));
    for (size_t k = 0; k < json_array_size(arr); k++) {
        const char *v = json_string_value(json_array_get(arr, k));
        pn_port_range_t r;
        snprintf(at, sizeof(at), "ports[%zu]", k);
        if (pn_port_range_parse(v, &r) != PN_OK)
            return pn_conf_jfail(p, at, "\"%s\" is not a port or <lo>-<hi> range in 1-65535",
                         pn_conf_shown(v, s));
        if (range != NULL && (r.lo < range->lo || r.hi > range->hi))
            return pn_conf_jfail(p, at, "%s is outside the hub's range ports=%u-%u", pn_conf_shown(v, s),
                         (unsigned)range->lo, (unsigned)range->hi);
        a->ports[a->nports++] = r;
    }
    return PN_OK;
}

static int
account_hosts(const pn_conf_place_t *p, json_t *o, pn_account_t *a)
{
    json_t *arr;
    char at[48], s[SHOWN_LEN];
    if (string_array(p, o, "hosts", "host name or \"*.<suffix>\" pattern", &arr) != PN_OK)
        return PN_ERR;
    if (arr == NULL)
        return PN_OK;
    a->hosts = xcalloc(json_array_size(arr) * sizeof(*a->hosts));
    for (size_t k = 0; k < json_array_size(arr); k++) {
        const char *v = json_string_value(json_array_get(arr, k));
        char *h = pn_conf_lower_dup(v);
        a->hosts[a->nhosts++] = h;
        if (!pn_conf_dns_name_ok(h[0] == '*' && h[1] == '.' ? h + 2 : h)) {
            snprintf(at, sizeof(at), "hosts[%zu]", k);
            return pn_conf_jfail(p, at, "\"%s\" is not a host name or a *.<suffix> pattern", pn_conf_shown(v, s));
        }
    }
    return PN_OK;
}

static int
account_parse(const pn_conf_place_t *p, json_t *o, const pn_port_range_t *range, pn_account_t *a)
{
    json_t *v;
    char s[SHOWN_LEN];
    if (!json_is_object(o))
        return pn_conf_jfail(p, NULL, "expected an object");
    if (pn_conf_check_members(p, o, account_members) != PN_OK)
        return PN_ERR;

    v = json_object_get(o, "name");
    if (v == NULL || !json_is_string(v))
        return pn_conf_jfail(p, "name", "%s (expected 1-%d characters of [A-Za-z0-9._-])",
                     v == NULL ? "missing" : "not a string", NAME_MAX_LEN);
    if (!pn_conf_name_ok(json_string_value(v)))
        return pn_conf_jfail(p, "name", "\"%s\" is not 1-%d characters of [A-Za-z0-9._-]",
                     pn_conf_shown(json_string_value(v), s), NAME_MAX_LEN);
    a->name = xstrdup(json_string_value(v));

    /* The token is never echoed, not even in part. */
    v = json_object_get(o, "token");
    if (v == NULL || !json_is_string(v))
        return pn_conf_jfail(p, "token", "%s (expected %d-%d printable ASCII characters)",
                     v == NULL ? "missing" : "not a string", TOKEN_MIN, TOKEN_MAX);
    const char *tok = json_string_value(v);
    if (strlen(tok) < TOKEN_MIN)
        return pn_conf_jfail(p, "token", "shorter than %d characters", TOKEN_MIN);
    if (strlen(tok) > TOKEN_MAX)
        return pn_conf_jfail(p, "token", "longer than %d characters", TOKEN_MAX);
    if (!pn_conf_all_in(tok, 0x21, 0x7e))
        return pn_conf_jfail(p, "token", "holds a character outside printable ASCII (0x21-0x7e)");
    a->token = xstrdup(tok);

    if (account_count(p, o, "max_routes", &a->max_routes) != PN_OK ||
        account_count(p, o, "max_conns", &a->max_conns) != PN_OK ||
        account_count(p, o, "rps", &a->rps) != PN_OK ||
        account_count(p, o, "mbps", &a->mbps) != PN_OK)
        return PN_ERR;
    if (account_ports(p, o, range, a) != PN_OK || account_hosts(p, o, a) != PN_OK)
        return PN_ERR;
    /* Basic authentication for the account's http routes (docs/hub.md §3); not echoed. */
    if ((v = json_object_get(o, "http_auth")) != NULL) {
        pn_http_auth_t au;
        if (!json_is_string(v) || strlen(json_string_value(v)) > PN_HTTP_AUTH_SPEC_MAX ||
            pn_http_auth_parse(json_string_value(v), &au) != 0)
            return pn_conf_jfail(p, "http_auth", "expected \"<user>:sha256$<salt hex>$<hash hex>\"");
        a->http_auth = xstrdup(json_string_value(v));
    }
    return PN_OK;
}

/* Names and tokens are unique: a token shared by two accounts would make the
 * PSK identity ambiguous (docs/hub.md §5). */
static int
account_unique(const pn_conf_place_t *p, const pn_accounts_t *as, const pn_account_t *a)
{
    for (size_t j = 0; j < as->n; j++) {
        if (strcmp(as->a[j].name, a->name) == 0)
            return pn_conf_jfail(p, "name", "\"%s\" is already the name of accounts[%zu]", a->name, j);
        if (strcmp(as->a[j].token, a->token) == 0)
            return pn_conf_jfail(p, "token", "same as the token of accounts[%zu] (tokens must differ)", j);
    }
    return PN_OK;
}

static void
account_clear(pn_account_t *a)
{
    xfree(a->name);
    pn_conf_wipe_free(a->token);
    xfree(a->ports);
    for (size_t i = 0; i < a->nhosts; i++)
        xfree(a->hosts[i]);
    xfree(a->hosts);
    xfree(a->http_auth);
    memset(a, 0, sizeof(*a));
}

int
pn_accounts_parse(const char *json, const char *label, const pn_port_range_t *range,
                  pn_accounts_t *out, char *err)
{
    json_t *arr;
    memset(out, 0, sizeof(*out));
    /* A hub without ports= has the range 0-0: nothing to check against (its
     * tcp/udp routes are refused anyway). */
    if (range != NULL && range->lo == 0 && range->hi == 0)
        range = NULL;
    json_t *root = pn_conf_load_json("accounts", label, json, err);
    if (root == NULL)
        return PN_ERR;
    if (pn_conf_top_array("accounts", label, "accounts", root, &arr, err) != PN_OK)
        goto fail;
    if (json_array_size(arr) == 0) {
        pn_err_set(err, "accounts: %s: accounts: empty (expected at least one account)", label);
        goto fail;
    }
    out->a = xcalloc(json_array_size(arr) * sizeof(*out->a));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        pn_conf_place_t p = { "accounts", label, "accounts", i, err };
        pn_account_t a;
        memset(&a, 0, sizeof(a));
        if (account_parse(&p, json_array_get(arr, i), range, &a) != PN_OK ||
            account_unique(&p, out, &a) != PN_OK) {
            account_clear(&a);
            goto fail;
        }
        out->a[out->n++] = a;
    }
    json_decref(root);
    return PN_OK;

fail:
    json_decref(root);
    pn_accounts_clear(out);
    return PN_ERR;
}

int
pn_accounts_load(const char *path, const pn_port_range_t *range, pn_accounts_t *out, char *err)
{
    char *text;
    memset(out, 0, sizeof(*out));
    if (pn_conf_read_file("accounts", path, &text, err) != PN_OK)
        return PN_ERR;
    int rc = pn_accounts_parse(text, path, range, out, err);
    pn_conf_wipe_free(text);
    return rc;
}

void
pn_accounts_clear(pn_accounts_t *as)
{
    for (size_t i = 0; i < as->n; i++)
        account_clear(&as->a[i]);
    xfree(as->a);
    memset(as, 0, sizeof(*as));
}

const pn_account_t *
pn_accounts_find(const pn_accounts_t *as, const char *name)
{
    for (size_t i = 0; i < as->n; i++)
        if (strcmp(as->a[i].name, name) == 0)
            return &as->a[i];
    return NULL;
}
