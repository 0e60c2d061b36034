/* tests/fuzz/fuzz_hubconf.c: what a hub operator and an agent user write
 * (src/conf/hubconf.h): the input as a C string is parsed as an accounts
 * file, as a routes file and as the value of each URL route type
 * (tcp=, udp=, http=, https=); split at its first newline it is also a host
 * pattern and a host for pn_conf_host_match, and a port range.
 *
 * Invariants checked besides memory safety and leaks (LeakSanitizer runs at
 * exit of every libFuzzer run, so "clear leaves nothing" is checked there):
 *   - failure writes a printable message and leaves the output empty;
 *   - no token shows in an accounts error (see check_no_token());
 *   - accepted accounts are well-formed: names and tokens valid and unique,
 *     ranges ordered and inside the hub's range, host patterns lower case and
 *     valid, and each account allows its own ports and hosts;
 *   - accepted routes are well-formed (local port 1-65535, host exactly for
 *     http/https, group only for tcp/udp, probe path iff an http probe,
 *     interval >= 100ms, a name), equal to their deep copy, and a URL route
 *     written back as a URL value parses to an equal route;
 *   - pn_conf_host_match and pn_port_range_parse agree with their definitions. */
#include "fuzz.h"
#include "conf/hubconf.h"
#include "core/duration.h"
#include "core/err.h"

#include <ctype.h>
#include <jansson.h>

static const pn_port_range_t hub_range = { 1024, 49151 };

static int
printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

/* A lower-case DNS name, as hubconf.c defines it. */
static int
dns_name(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        if (s[i] == '.' || s[i] == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return 0;
            label = 0;
        } else if (islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
                   (s[i] == '-' && label > 0)) {
            label++;
        } else {
            return 0;
        }
    }
    return 1;
}

static int
count_in(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* Nonzero when <needle> is inside a string or key of <j> other than <self>. */
static int
elsewhere(json_t *j, const json_t *self, const char *needle)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_string(j))
        return j != self && strstr(json_string_value(j), needle) != NULL;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            if (strstr(k, needle) != NULL || elsewhere(v, self, needle))
                return 1;
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            if (elsewhere(v, self, needle))
                return 1;
        }
    }
    return 0;
}

/* No token may show in an accounts error. Checked for the tokens that cannot
 * show by coincidence: 16+ characters without any of ' ":.[]=-' (which
 * surround every echoed value, and without which no run of the messages' own
 * text reaches 16 characters), written once in the input and found in no
 * other string or key. */
static void
check_no_token(const char *input, const char *err)
{
    json_t *root = json_loads(input, 0, NULL), *arr, *a;
    size_t i;
    if (root == NULL)
        return;
    arr = json_object_get(root, "accounts");
    json_array_foreach(arr, i, a) {
        json_t *t = json_object_get(a, "token");
        const char *tok = json_string_value(t);
        if (tok != NULL && strlen(tok) >= 16 && strpbrk(tok, " \":.[]=-") == NULL &&
            count_in(input, tok) == 1 && !elsewhere(root, t, tok))
            FUZZ_ASSERT(strstr(err, tok) == NULL);
    }
    json_decref(root);
}

static void
fuzz_accounts(const char *s, const pn_port_range_t *range)
{
    pn_accounts_t as;
    char err[PN_ERR_LEN] = "";

    if (pn_accounts_parse(s, "fuzz", range, &as, err) != PN_OK) {
        FUZZ_ASSERT(err[0] != '\0' && printable(err));
        FUZZ_ASSERT(as.a == NULL && as.n == 0);
        check_no_token(s, err);
        pn_accounts_clear(&as);
        return;
    }
    FUZZ_ASSERT(as.n >= 1 && as.a != NULL);
    for (size_t i = 0; i < as.n; i++) {
        const pn_account_t *a = &as.a[i];
        size_t nl = strlen(a->name), tl = strlen(a->token);
        FUZZ_ASSERT(nl >= 1 && nl <= 64 && tl >= 16 && tl <= 256);
        for (const char *c = a->name; *c; c++)
            FUZZ_ASSERT(isalnum((unsigned char)*c) || *c == '.' || *c == '_' || *c == '-');
        for (const char *c = a->token; *c; c++)
            FUZZ_ASSERT(*c >= 0x21 && *c <= 0x7e);
        for (size_t j = 0; j < i; j++)
            FUZZ_ASSERT(strcmp(as.a[j].name, a->name) != 0 && strcmp(as.a[j].token, a->token) != 0);
        FUZZ_ASSERT(pn_accounts_find(&as, a->name) == a);
        FUZZ_ASSERT(a->max_routes <= 1000000000 && a->max_conns <= 1000000000 &&
                    a->rps <= 1000000000 && a->mbps <= 1000000000);
        FUZZ_ASSERT((a->nports == 0) == (a->ports == NULL));
        for (size_t k = 0; k < a->nports; k++) {
            pn_port_range_t r = a->ports[k];
            FUZZ_ASSERT(r.lo >= 1 && r.lo <= r.hi);
            if (range != NULL)
                FUZZ_ASSERT(r.lo >= range->lo && r.hi <= range->hi);
            FUZZ_ASSERT(pn_account_port_ok(a, r.lo) && pn_account_port_ok(a, r.hi));
        }
        FUZZ_ASSERT((a->nhosts == 0) == (a->hosts == NULL));
        for (size_t k = 0; k < a->nhosts; k++) {
            const char *h = a->hosts[k];
            int wild = h[0] == '*' && h[1] == '.';
            FUZZ_ASSERT(dns_name(wild ? h + 2 : h));
            if (!wild) {
                FUZZ_ASSERT(pn_account_host_ok(a, h));
            } else {
                char sub[300];
                snprintf(sub, sizeof(sub), "x%s", h + 1);
                FUZZ_ASSERT(pn_account_host_ok(a, sub));
            }
        }
    }
    pn_accounts_clear(&as);
    FUZZ_ASSERT(as.a == NULL && as.n == 0);
    pn_accounts_clear(&as);
}

static void
check_route(const pn_conf_route_t *r)
{
    uint64_t lp;
    int port_type = r->type == PN_RT_TCP || r->type == PN_RT_UDP;
    FUZZ_ASSERT(r->type >= PN_RT_TCP && r->type <= PN_RT_HTTPS);
    FUZZ_ASSERT(strcmp(pn_conf_route_type_name(r->type), "?") != 0);
    FUZZ_ASSERT(r->name != NULL && r->name[0] != '\0' && printable(r->name));
    FUZZ_ASSERT(strchr(r->name, ',') == NULL);
    FUZZ_ASSERT(r->local_host != NULL && r->local_port != NULL);
    FUZZ_ASSERT(pn_uint_parse(r->local_port, 1, 65535, &lp) == 0);
    if (port_type) {
        FUZZ_ASSERT(r->host == NULL);
        FUZZ_ASSERT(r->group_key == NULL || r->group != NULL);
    } else {
        FUZZ_ASSERT(r->host != NULL && dns_name(r->host));
        FUZZ_ASSERT(r->port == 0 && r->group == NULL);
    }
    if (r->group != NULL)
        FUZZ_ASSERT(strlen(r->group) >= 1 && strlen(r->group) <= 64);
    if (r->group_key != NULL)
        FUZZ_ASSERT(strlen(r->group_key) >= 1 && strlen(r->group_key) <= 128);
    FUZZ_ASSERT(r->probe == PN_PROBE_NONE || r->probe == PN_PROBE_TCP || r->probe == PN_PROBE_HTTP);
    FUZZ_ASSERT((r->probe == PN_PROBE_HTTP) == (r->probe_path != NULL));
    if (r->probe_path != NULL)
        FUZZ_ASSERT(r->probe_path[0] == '/' && printable(r->probe_path) && !strchr(r->probe_path, ' '));
    FUZZ_ASSERT(r->probe_ms >= 100);

    pn_conf_route_t c;
    pn_conf_route_copy(&c, r);
    FUZZ_ASSERT(pn_conf_route_equal(&c, r) && pn_conf_route_equal(r, &c));
    pn_conf_route_clear(&c);
    FUZZ_ASSERT(c.name == NULL && c.local_port == NULL);
}

/* Write <r> back as a URL value and parse that: the same route. */
static void
round_trip(const pn_conf_route_t *r)
{
    static char v[16384];
    char err[PN_ERR_LEN] = "";
    int n;
    pn_conf_route_t back;

    n = snprintf(v, sizeof(v), strchr(r->local_host, ':') ? "[%s]:%s" : "%s:%s", r->local_host,
                 r->local_port);
    if (r->type == PN_RT_TCP || r->type == PN_RT_UDP)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",port=%u", (unsigned)r->port);
    if (r->host != NULL)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",host=%s", r->host);
    if (r->group != NULL)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",group=%s", r->group);
    if (r->group_key != NULL)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",group_key=%s", r->group_key);
    if (r->probe == PN_PROBE_TCP)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",probe=tcp");
    else if (r->probe == PN_PROBE_HTTP)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",probe=http:%s", r->probe_path);
    n += snprintf(v + n, sizeof(v) - (size_t)n, ",probe_interval=%llums",
                  (unsigned long long)r->probe_ms);
    /* The http rules, each as it was given (allow= keeps its ';'). */
    if (r->path != NULL)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",path=%s", r->path);
    if (r->host_header != NULL)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",host_header=%s", r->host_header);
    if (r->auth != NULL)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",auth=%s", r->auth);
    if (r->allow != NULL)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",allow=%s", r->allow);
    if (r->redirect)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",redirect=https");
    if (r->h2c)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",proto=h2c");
    /* A default name may be longer than a given one may be ("https:", a
     * 253-character host and an http route's path): it is written only when
     * it is not the default. */
    char dflt[600];
    if (r->host != NULL)
        snprintf(dflt, sizeof(dflt), "%s:%s%s", pn_conf_route_type_name(r->type), r->host,
                 r->path != NULL ? r->path : "");
    else
        snprintf(dflt, sizeof(dflt), "%s:%u", pn_conf_route_type_name(r->type), (unsigned)r->port);
    if (strcmp(dflt, r->name) != 0)
        n += snprintf(v + n, sizeof(v) - (size_t)n, ",name=%s", r->name);
    FUZZ_ASSERT(n > 0 && (size_t)n < sizeof(v));
    if (pn_conf_route_parse(pn_conf_route_type_name(r->type), v, &back, err) != PN_OK) {
        fprintf(stderr, "round trip of \"%s\": %s\n", v, err);
        FUZZ_ASSERT(!"a route written back parses");
    }
    FUZZ_ASSERT(pn_conf_route_equal(&back, r));
    pn_conf_route_clear(&back);
}

static void
fuzz_routes(const char *s)
{
    pn_conf_route_t *rs = NULL;
    size_t n = 0;
    char err[PN_ERR_LEN] = "";

    if (pn_routes_parse(s, "fuzz", &rs, &n, err) != PN_OK) {
        FUZZ_ASSERT(err[0] != '\0' && printable(err));
        FUZZ_ASSERT(rs == NULL && n == 0);
        return;
    }
    FUZZ_ASSERT((n == 0) == (rs == NULL));
    for (size_t i = 0; i < n; i++)
        check_route(&rs[i]);
    pn_routes_free(rs, n);
}

static void
fuzz_spec(const char *s)
{
    static const char *const types[] = { "tcp", "udp", "http", "https" };
    for (size_t t = 0; t < 4; t++) {
        pn_conf_route_t r;
        char err[PN_ERR_LEN] = "";
        if (pn_conf_route_parse(types[t], s, &r, err) != PN_OK) {
            FUZZ_ASSERT(err[0] != '\0' && printable(err));
            FUZZ_ASSERT(strncmp(err, types[t], strlen(types[t])) == 0 && err[strlen(types[t])] == ':');
            FUZZ_ASSERT(r.name == NULL && r.local_host == NULL && r.group_key == NULL);
            continue;
        }
        FUZZ_ASSERT(strcmp(pn_conf_route_type_name(r.type), types[t]) == 0);
        check_route(&r);
        round_trip(&r);
        pn_conf_route_clear(&r);
    }
}

static void
fuzz_match(const char *s)
{
    const char *nl = strchr(s, '\n');
    pn_port_range_t r;
    if (pn_port_range_parse(s, &r) == PN_OK)
        FUZZ_ASSERT(r.lo >= 1 && r.lo <= r.hi);
    if (nl == NULL)
        return;
    char *pattern = strndup(s, (size_t)(nl - s));
    const char *host = nl + 1;
    int m = pn_conf_host_match(pattern, host);
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t ls = strlen(pattern + 1), lh = strlen(host);
        FUZZ_ASSERT(m == (lh > ls && memcmp(host + lh - ls, pattern + 1, ls) == 0));
    } else {
        FUZZ_ASSERT(m == (strcmp(pattern, host) == 0));
    }
    free(pattern);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    fuzz_accounts(s, size % 2 ? &hub_range : NULL);
    fuzz_routes(s);
    fuzz_spec(s);
    fuzz_match(s);
    free(s);
    return 0;
}
