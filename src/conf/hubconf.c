/* conf/hubconf.c: the hub's accounts file, the agent's routes (URL form and
 * routes file) and the matching rules of accounts (docs/hub.md §2-§4).
 *
 * Pure apart from reading the named file. Every message names its place
 * ("accounts[1].token", "routes[0].host", "http: host") and what was expected;
 * secrets (tokens, group keys) are never echoed, and other values are echoed
 * only through shown(), so a malformed file can neither forge log lines nor
 * leak a token that sits next to a syntax error. */
#include "conf/hubconf.h"
#include "core/duration.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/url.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define FILE_MAX (1024 * 1024)      /* accounts and routes files: read at most 1 MiB */
#define NAME_MAX_LEN 64             /* account, group and route names */
#define TOKEN_MIN 16
#define TOKEN_MAX 256
#define GROUP_KEY_MAX 128           /* wire GROUP_KEY TLV: 1-128 bytes (docs/hub.md §5) */
#define PROBE_PATH_MAX 1024
#define COUNT_MAX 1000000000        /* max_routes, max_conns, rps, mbps */
#define PROBE_MS_DEFAULT 5000
#define PROBE_MS_MIN 100
#define SHOWN_LEN 52                /* 48 characters, "..." and the NUL */

/* ---- small checks ---- */

/* <s> cut to 48 characters with anything outside printable ASCII as '?', for
 * echoing a value the user got wrong. Never called on a secret. */
static const char *
shown(const char *s, char out[SHOWN_LEN])
{
    size_t i;
    for (i = 0; s[i] != '\0' && i < 48; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i] != '\0') {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* Every byte within [lo, hi]. */
static int
all_in(const char *s, int lo, int hi)
{
    for (; *s; s++)
        if ((unsigned char)*s < lo || (unsigned char)*s > hi)
            return 0;
    return 1;
}

/* 1-64 characters of [A-Za-z0-9._-]: account and group names, safe in logs and
 * in the hub's state line without escaping. */
static int
name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

/* A lower-case DNS name: 1-253 characters, labels of 1-63 [a-z0-9-] that
 * neither start nor end with '-'. A bare label ("app") is one. */
static int
dns_name_ok(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            if (label == 0 && c == '-')
                return 0;
            label++;
        } else {
            return 0;
        }
    }
    return 1;
}

/* ASCII lower-case copy: host names are compared in lower case everywhere. */
static char *
lower_dup(const char *s)
{
    char *d = xstrdup(s);
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

/* Overwrite a secret before it goes back to the allocator. */
static void
wipe_free(char *s)
{
    if (s != NULL)
        memset(s, 0, strlen(s));
    free(s);
}

/* ---- files ---- */

/* Read the whole of <path> (at most FILE_MAX bytes) into a new C string. */
static int
read_file(const char *kind, const char *path, char **out, char *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return pn_err_set(err, "%s: %s: cannot open (%s)", kind, path, strerror(errno));
    char *buf = xmalloc(FILE_MAX + 1);
    size_t n = fread(buf, 1, FILE_MAX + 1, f);
    int bad = ferror(f), e = errno;
    fclose(f);
    if (bad || n > FILE_MAX || memchr(buf, '\0', n) != NULL) {
        memset(buf, 0, n);
        free(buf);
        if (bad)
            return pn_err_set(err, "%s: %s: cannot read (%s)", kind, path, strerror(e));
        if (n > FILE_MAX)
            return pn_err_set(err, "%s: %s: larger than 1 MiB", kind, path);
        return pn_err_set(err, "%s: %s: holds a NUL byte (expected JSON text)", kind, path);
    }
    buf[n] = '\0';
    *out = buf;
    return PN_OK;
}

/* json_loads with duplicate keys refused. jansson's messages end in "near
 * '<text>'", which may be a token written without quotes: that part is cut. */
static json_t *
load_json(const char *kind, const char *label, const char *json, char *err)
{
    json_error_t jerr;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        char *near = strstr(jerr.text, " near ");
        if (near != NULL)
            *near = '\0';
        pn_err_set(err, "%s: %s: not JSON (line %d, column %d: %s)", kind, label, jerr.line,
                   jerr.column, jerr.text);
    }
    return root;
}

int
pn_conf_file_read(const char *kind, const char *path, char **out, char *err)
{
    return read_file(kind, path, out, err);
}

json_t *
pn_conf_json_load(const char *kind, const char *label, const char *json, char *err)
{
    return load_json(kind, label, json, err);
}

/* Where a JSON error is: "<kind>: <label>: <list>[<i>].<member>". */
typedef struct place {
    const char *kind;               /* "accounts" or "config" */
    const char *label;
    const char *list;               /* "accounts" or "routes" */
    size_t i;
    char *err;
} place_t;

static int jfail(const place_t *p, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill p->err with the place, <member> (NULL for the element itself) and the
 * formatted reason; return PN_ERR. */
static int
jfail(const place_t *p, const char *member, const char *fmt, ...)
{
    char what[PN_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return pn_err_set(p->err, "%s: %s: %s[%zu]%s%s: %s", p->kind, p->label, p->list, p->i,
                      member ? "." : "", member ? member : "", what);
}

/* Refuse members of <o> outside <known>, naming the first one. */
static int
check_members(const place_t *p, json_t *o, const char *const *known)
{
    const char *k;
    json_t *v;
    char s[SHOWN_LEN];
    json_object_foreach(o, k, v) {
        const char *const *m;
        for (m = known; *m; m++)
            if (strcmp(*m, k) == 0)
                break;
        if (*m == NULL)
            return jfail(p, shown(k, s), "unknown member");
    }
    return PN_OK;
}

/* The top level: {"<list>": [...]} and nothing else; the array in *<arr>. */
static int
top_array(const char *kind, const char *label, const char *list, json_t *root, json_t **arr,
          char *err)
{
    const char *k;
    json_t *v;
    char s[SHOWN_LEN];
    if (!json_is_object(root))
        return pn_err_set(err, "%s: %s: expected a JSON object {\"%s\": [...]}", kind, label, list);
    json_object_foreach(root, k, v) {
        if (strcmp(k, list) != 0)
            return pn_err_set(err, "%s: %s: %s: unknown member (expected only \"%s\")", kind,
                              label, shown(k, s), list);
    }
    *arr = json_object_get(root, list);
    if (*arr == NULL || !json_is_array(*arr))
        return pn_err_set(err, "%s: %s: %s: %s (expected an array)", kind, label, list,
                          *arr == NULL ? "missing" : "not an array");
    return PN_OK;
}

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
pn_host_match(const char *pattern, const char *host)
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
        if (pn_host_match(a->hosts[i], host))
            return 1;
    return 0;
}

/* ---- accounts ---- */

static const char *const account_members[] = {
    "name", "token", "max_routes", "max_conns", "rps", "mbps", "ports", "hosts", NULL,
};

static int
account_count(const place_t *p, json_t *o, const char *member, uint32_t *out)
{
    json_t *v = json_object_get(o, member);
    if (v == NULL)
        return PN_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > COUNT_MAX)
        return jfail(p, member, "expected an integer in 0-%d (0 = unlimited)", COUNT_MAX);
    *out = (uint32_t)json_integer_value(v);
    return PN_OK;
}

/* A non-empty array of strings: an empty list would read as "no limit" (the
 * meaning of an absent member), which is never what "[]" was written for. */
static int
string_array(const place_t *p, json_t *o, const char *member, const char *expected,
             json_t **arr)
{
    *arr = json_object_get(o, member);
    if (*arr == NULL)
        return PN_OK;
    if (!json_is_array(*arr))
        return jfail(p, member, "expected an array of %s", expected);
    if (json_array_size(*arr) == 0)
        return jfail(p, member, "empty (expected at least one %s, or no \"%s\" at all)", expected,
                     member);
    for (size_t k = 0; k < json_array_size(*arr); k++) {
        if (!json_is_string(json_array_get(*arr, k))) {
            char at[48];
            snprintf(at, sizeof(at), "%s[%zu]", member, k);
            return jfail(p, at, "expected a string");
        }
    }
    return PN_OK;
}

static int
account_ports(const place_t *p, json_t *o, const pn_port_range_t *range, pn_account_t *a)
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
            return jfail(p, at, "\"%s\" is not a port or <lo>-<hi> range in 1-65535",
                         shown(v, s));
        if (range != NULL && (r.lo < range->lo || r.hi > range->hi))
            return jfail(p, at, "%s is outside the hub's range ports=%u-%u", shown(v, s),
                         (unsigned)range->lo, (unsigned)range->hi);
        a->ports[a->nports++] = r;
    }
    return PN_OK;
}

static int
account_hosts(const place_t *p, json_t *o, pn_account_t *a)
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
        char *h = lower_dup(v);
        a->hosts[a->nhosts++] = h;
        if (!dns_name_ok(h[0] == '*' && h[1] == '.' ? h + 2 : h)) {
            snprintf(at, sizeof(at), "hosts[%zu]", k);
            return jfail(p, at, "\"%s\" is not a host name or a *.<suffix> pattern", shown(v, s));
        }
    }
    return PN_OK;
}

static int
account_parse(const place_t *p, json_t *o, const pn_port_range_t *range, pn_account_t *a)
{
    json_t *v;
    char s[SHOWN_LEN];
    if (!json_is_object(o))
        return jfail(p, NULL, "expected an object");
    if (check_members(p, o, account_members) != PN_OK)
        return PN_ERR;

    v = json_object_get(o, "name");
    if (v == NULL || !json_is_string(v))
        return jfail(p, "name", "%s (expected 1-%d characters of [A-Za-z0-9._-])",
                     v == NULL ? "missing" : "not a string", NAME_MAX_LEN);
    if (!name_ok(json_string_value(v)))
        return jfail(p, "name", "\"%s\" is not 1-%d characters of [A-Za-z0-9._-]",
                     shown(json_string_value(v), s), NAME_MAX_LEN);
    a->name = xstrdup(json_string_value(v));

    /* The token is never echoed, not even in part. */
    v = json_object_get(o, "token");
    if (v == NULL || !json_is_string(v))
        return jfail(p, "token", "%s (expected %d-%d printable ASCII characters)",
                     v == NULL ? "missing" : "not a string", TOKEN_MIN, TOKEN_MAX);
    const char *tok = json_string_value(v);
    if (strlen(tok) < TOKEN_MIN)
        return jfail(p, "token", "shorter than %d characters", TOKEN_MIN);
    if (strlen(tok) > TOKEN_MAX)
        return jfail(p, "token", "longer than %d characters", TOKEN_MAX);
    if (!all_in(tok, 0x21, 0x7e))
        return jfail(p, "token", "holds a character outside printable ASCII (0x21-0x7e)");
    a->token = xstrdup(tok);

    if (account_count(p, o, "max_routes", &a->max_routes) != PN_OK ||
        account_count(p, o, "max_conns", &a->max_conns) != PN_OK ||
        account_count(p, o, "rps", &a->rps) != PN_OK ||
        account_count(p, o, "mbps", &a->mbps) != PN_OK)
        return PN_ERR;
    if (account_ports(p, o, range, a) != PN_OK || account_hosts(p, o, a) != PN_OK)
        return PN_ERR;
    return PN_OK;
}

/* Names and tokens are unique: a token shared by two accounts would make the
 * PSK identity ambiguous (docs/hub.md §5). */
static int
account_unique(const place_t *p, const pn_accounts_t *as, const pn_account_t *a)
{
    for (size_t j = 0; j < as->n; j++) {
        if (strcmp(as->a[j].name, a->name) == 0)
            return jfail(p, "name", "\"%s\" is already the name of accounts[%zu]", a->name, j);
        if (strcmp(as->a[j].token, a->token) == 0)
            return jfail(p, "token", "same as the token of accounts[%zu] (tokens must differ)", j);
    }
    return PN_OK;
}

static void
account_clear(pn_account_t *a)
{
    xfree(a->name);
    wipe_free(a->token);
    xfree(a->ports);
    for (size_t i = 0; i < a->nhosts; i++)
        xfree(a->hosts[i]);
    xfree(a->hosts);
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
    json_t *root = load_json("accounts", label, json, err);
    if (root == NULL)
        return PN_ERR;
    if (top_array("accounts", label, "accounts", root, &arr, err) != PN_OK)
        goto fail;
    if (json_array_size(arr) == 0) {
        pn_err_set(err, "accounts: %s: accounts: empty (expected at least one account)", label);
        goto fail;
    }
    out->a = xcalloc(json_array_size(arr) * sizeof(*out->a));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        place_t p = { "accounts", label, "accounts", i, err };
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
    if (read_file("accounts", path, &text, err) != PN_OK)
        return PN_ERR;
    int rc = pn_accounts_parse(text, path, range, out, err);
    wipe_free(text);
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

/* ---- routes ---- */

const char *
pn_route_type_name(enum pn_route_type t)
{
    switch (t) {
    case PN_RT_TCP: return "tcp";
    case PN_RT_UDP: return "udp";
    case PN_RT_HTTP: return "http";
    case PN_RT_HTTPS: return "https";
    }
    return "?";
}

static int
type_parse(const char *s, enum pn_route_type *t)
{
    for (int v = PN_RT_TCP; v <= PN_RT_HTTPS; v++) {
        if (strcmp(s, pn_route_type_name((enum pn_route_type)v)) == 0) {
            *t = (enum pn_route_type)v;
            return PN_OK;
        }
    }
    return PN_ERR;
}

static int
is_port_type(enum pn_route_type t)
{
    return t == PN_RT_TCP || t == PN_RT_UDP;
}

/* The options of docs/hub.md §2, in the order of the routes file's members
 * after "type" and "local". Bit i of a seen-mask stands for route_opts[i]. */
static const char *const route_opts[] = {
    "port", "host", "group", "group_key", "probe", "probe_interval", "name", NULL,
};

static int
route_local(pn_route_spec_t *r, const char *s, char *what)
{
    char sub[PN_ERR_LEN], v[SHOWN_LEN];
    uint64_t port;
    /* core/url's messages quote the address as it is: keep them log-safe. */
    if (!all_in(s, 0x20, 0x7e))
        return pn_err_set(what, "local address \"%s\" is not <host>:<port>", shown(s, v));
    if (pn_hostport_split(s, &r->local_host, &r->local_port, sub) != PN_OK)
        return pn_err_set(what, "local %s", sub);
    if (pn_uint_parse(r->local_port, 1, 65535, &port) != PN_OK)
        return pn_err_set(what, "local port \"%s\" is out of range (expected 1-65535)",
                          shown(r->local_port, v));
    /* A name or an IP literal (with an IPv6 zone): nothing else can be dialled. */
    for (const char *c = r->local_host; *c; c++)
        if (!isalnum((unsigned char)*c) && strchr(".-_:%", *c) == NULL)
            return pn_err_set(what, "local host \"%s\" is not a host name or IP address",
                              shown(r->local_host, v));
    return PN_OK;
}

/* Apply option <opt> = <val> to <r> (whose type is set); PN_ERR with the
 * reason in <what>. Whether the option fits the type is checked here; what
 * depends on several options is checked by route_finish(). */
static int
route_opt(pn_route_spec_t *r, const char *opt, const char *val, char *what)
{
    char v[SHOWN_LEN];
    uint64_t n;
    if (strcmp(opt, "port") == 0) {
        if (!is_port_type(r->type))
            return pn_err_set(what, "only for tcp and udp routes");
        if (pn_uint_parse(val, 0, 65535, &n) != PN_OK)
            return pn_err_set(what, "\"%s\" is not a port in 0-65535 (0: the hub assigns one)",
                              shown(val, v));
        r->port = (uint16_t)n;
    } else if (strcmp(opt, "host") == 0) {
        if (is_port_type(r->type))
            return pn_err_set(what, "only for http and https routes");
        char *h = lower_dup(val);
        if (!dns_name_ok(h)) {
            xfree(h);
            return pn_err_set(what, "\"%s\" is not a host name or a bare label", shown(val, v));
        }
        r->host = h;
    } else if (strcmp(opt, "group") == 0) {
        if (!is_port_type(r->type))
            return pn_err_set(what, "only for tcp and udp routes (http and https routes group by "
                                    "host and group_key)");
        if (!name_ok(val))
            return pn_err_set(what, "\"%s\" is not 1-%d characters of [A-Za-z0-9._-]",
                              shown(val, v), NAME_MAX_LEN);
        r->group = xstrdup(val);
    } else if (strcmp(opt, "group_key") == 0) {
        /* A secret: never echoed. */
        if (strlen(val) == 0 || strlen(val) > GROUP_KEY_MAX || !all_in(val, 0x21, 0x7e))
            return pn_err_set(what, "expected 1-%d printable ASCII characters (0x21-0x7e)",
                              GROUP_KEY_MAX);
        r->group_key = xstrdup(val);
    } else if (strcmp(opt, "probe") == 0) {
        if (strcmp(val, "tcp") == 0) {
            r->probe = PN_PROBE_TCP;
        } else if (strncmp(val, "http:", 5) == 0) {
            /* The path goes into "GET <path> HTTP/1.1": no space or control
             * character may reach the request line. */
            const char *path = val + 5;
            if (path[0] != '/' || strlen(path) > PROBE_PATH_MAX || !all_in(path, 0x21, 0x7e))
                return pn_err_set(what, "\"%s\" has no path of 1-%d printable characters "
                                  "starting with '/' (expected e.g. http:/health)",
                                  shown(val, v), PROBE_PATH_MAX);
            r->probe = PN_PROBE_HTTP;
            r->probe_path = xstrdup(path);
        } else {
            return pn_err_set(what, "\"%s\" is not tcp or http:<path>", shown(val, v));
        }
    } else if (strcmp(opt, "probe_interval") == 0) {
        if (pn_duration_parse(val, &r->probe_ms) != PN_OK || r->probe_ms < PROBE_MS_MIN)
            return pn_err_set(what, "\"%s\" is not a duration of at least %dms (e.g. 5s)",
                              shown(val, v), PROBE_MS_MIN);
    } else { /* name */
        /* No comma: the URL form could not write it back. */
        if (strlen(val) == 0 || strlen(val) > NAME_MAX_LEN || !all_in(val, 0x20, 0x7e) ||
            strchr(val, ',') != NULL)
            return pn_err_set(what, "\"%s\" is not 1-%d printable characters without a comma",
                              shown(val, v), NAME_MAX_LEN);
        r->name = xstrdup(val);
    }
    return PN_OK;
}

/* Checks across options, then defaults. On failure *<member> names the option. */
static int
route_finish(pn_route_spec_t *r, const char **member, char *what)
{
    if (!is_port_type(r->type) && r->host == NULL) {
        *member = "host";
        return pn_err_set(what, "missing (http and https routes need a host name)");
    }
    if (is_port_type(r->type) && r->group_key != NULL && r->group == NULL) {
        *member = "group_key";
        return pn_err_set(what, "only with a group on tcp and udp routes");
    }
    if (r->name == NULL) {
        char buf[300];
        if (is_port_type(r->type))
            snprintf(buf, sizeof(buf), "%s:%u", pn_route_type_name(r->type), (unsigned)r->port);
        else
            snprintf(buf, sizeof(buf), "%s:%s", pn_route_type_name(r->type), r->host);
        r->name = xstrdup(buf);
    }
    return PN_OK;
}

int
pn_route_spec_parse(const char *type, const char *value, pn_route_spec_t *out, char *err)
{
    char what[PN_ERR_LEN], v[SHOWN_LEN];
    const char *member;
    unsigned seen = 0;
    size_t nopt = 0;

    memset(out, 0, sizeof(*out));
    out->probe_ms = PROBE_MS_DEFAULT;
    if (type_parse(type, &out->type) != PN_OK)
        return pn_err_set(err, "%s: unknown route type (expected tcp, udp, http or https)",
                          shown(type, v));
    /* A working copy cut at the commas; it may hold the group key, so it is wiped. */
    char *copy = xstrdup(value);
    char *item = copy, *next;
    next = strchr(item, ',');
    if (next != NULL)
        *next++ = '\0';
    if (*item == '\0') {
        pn_err_set(err, "%s: missing the local service (expected <host>:<port>[,<opt>=<value>...])",
                   type);
        goto fail;
    }
    if (route_local(out, item, what) != PN_OK) {
        pn_err_set(err, "%s: %s", type, what);
        goto fail;
    }
    while (next != NULL) {
        item = next;
        next = strchr(item, ',');
        if (next != NULL)
            *next++ = '\0';
        nopt++;
        /* The item is not echoed: a stray piece of a group key may be in it. */
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            pn_err_set(err, "%s: option %zu is not <option>=<value>", type, nopt);
            goto fail;
        }
        *eq = '\0';
        size_t k;
        for (k = 0; route_opts[k] != NULL; k++)
            if (strcmp(route_opts[k], item) == 0)
                break;
        if (route_opts[k] == NULL) {
            pn_err_set(err, "%s: unknown option \"%s\" (expected port, host, group, group_key, "
                       "probe, probe_interval or name)", type, shown(item, v));
            goto fail;
        }
        if (seen & (1u << k)) {
            pn_err_set(err, "%s: %s: given twice", type, item);
            goto fail;
        }
        seen |= 1u << k;
        if (route_opt(out, item, eq + 1, what) != PN_OK) {
            pn_err_set(err, "%s: %s: %s", type, item, what);
            goto fail;
        }
    }
    if (route_finish(out, &member, what) != PN_OK) {
        pn_err_set(err, "%s: %s: %s", type, member, what);
        goto fail;
    }
    wipe_free(copy);
    return PN_OK;

fail:
    wipe_free(copy);
    pn_route_spec_clear(out);
    return PN_ERR;
}

/* One element of the routes file's array into <r>. */
static int
route_json(const place_t *p, json_t *o, pn_route_spec_t *r)
{
    static const char *const members[] = {
        "type", "local", "port", "host", "group", "group_key", "probe", "probe_interval", "name",
        NULL,
    };
    char what[PN_ERR_LEN], v[SHOWN_LEN];
    const char *member;
    json_t *j;

    memset(r, 0, sizeof(*r));
    r->probe_ms = PROBE_MS_DEFAULT;
    if (!json_is_object(o))
        return jfail(p, NULL, "expected an object");
    if (check_members(p, o, members) != PN_OK)
        return PN_ERR;
    j = json_object_get(o, "type");
    if (j == NULL || !json_is_string(j))
        return jfail(p, "type", "%s (expected \"tcp\", \"udp\", \"http\" or \"https\")",
                     j == NULL ? "missing" : "not a string");
    if (type_parse(json_string_value(j), &r->type) != PN_OK)
        return jfail(p, "type", "\"%s\" is not tcp, udp, http or https",
                     shown(json_string_value(j), v));
    j = json_object_get(o, "local");
    if (j == NULL || !json_is_string(j))
        return jfail(p, "local", "%s (expected \"<host>:<port>\")",
                     j == NULL ? "missing" : "not a string");
    if (route_local(r, json_string_value(j), what) != PN_OK)
        return jfail(p, "local", "%s", what);
    for (size_t k = 0; route_opts[k] != NULL; k++) {
        const char *opt = route_opts[k];
        char num[24];
        const char *val;
        if ((j = json_object_get(o, opt)) == NULL)
            continue;
        if (strcmp(opt, "port") == 0) {
            /* Given as a number; route_opt() checks the range on its decimal form. */
            if (!json_is_integer(j))
                return jfail(p, opt, "expected an integer in 0-65535");
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(j));
            val = num;
        } else if (!json_is_string(j)) {
            return jfail(p, opt, "expected a string");
        } else {
            val = json_string_value(j);
        }
        if (route_opt(r, opt, val, what) != PN_OK)
            return jfail(p, opt, "%s", what);
    }
    if (route_finish(r, &member, what) != PN_OK)
        return jfail(p, member, "%s", what);
    return PN_OK;
}

int
pn_routes_parse(const char *json, const char *label, pn_route_spec_t **out, size_t *n,
                char *err)
{
    json_t *arr;
    *out = NULL;
    *n = 0;
    json_t *root = load_json("config", label, json, err);
    if (root == NULL)
        return PN_ERR;
    if (top_array("config", label, "routes", root, &arr, err) != PN_OK) {
        json_decref(root);
        return PN_ERR;
    }
    /* An empty list is fine: a reload may withdraw every file route. */
    size_t count = json_array_size(arr);
    pn_route_spec_t *rs = count ? xcalloc(count * sizeof(*rs)) : NULL;
    for (size_t i = 0; i < count; i++) {
        place_t p = { "config", label, "routes", i, err };
        if (route_json(&p, json_array_get(arr, i), &rs[i]) != PN_OK) {
            pn_routes_free(rs, i + 1);
            json_decref(root);
            return PN_ERR;
        }
    }
    json_decref(root);
    *out = rs;
    *n = count;
    return PN_OK;
}

int
pn_routes_load(const char *path, pn_route_spec_t **out, size_t *n, char *err)
{
    char *text;
    *out = NULL;
    *n = 0;
    if (read_file("config", path, &text, err) != PN_OK)
        return PN_ERR;
    int rc = pn_routes_parse(text, path, out, n, err);
    wipe_free(text);
    return rc;
}

static int
str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

int
pn_route_spec_equal(const pn_route_spec_t *a, const pn_route_spec_t *b)
{
    return a->type == b->type && a->port == b->port && a->probe == b->probe &&
           a->probe_ms == b->probe_ms && str_eq(a->name, b->name) &&
           str_eq(a->local_host, b->local_host) && str_eq(a->local_port, b->local_port) &&
           str_eq(a->host, b->host) && str_eq(a->group, b->group) &&
           str_eq(a->group_key, b->group_key) && str_eq(a->probe_path, b->probe_path);
}

void
pn_route_spec_copy(pn_route_spec_t *dst, const pn_route_spec_t *src)
{
    *dst = *src;
    dst->name = xstrdup(src->name);
    dst->local_host = xstrdup(src->local_host);
    dst->local_port = xstrdup(src->local_port);
    dst->host = xstrdup(src->host);
    dst->group = xstrdup(src->group);
    dst->group_key = xstrdup(src->group_key);
    dst->probe_path = xstrdup(src->probe_path);
}

void
pn_route_spec_clear(pn_route_spec_t *r)
{
    xfree(r->name);
    xfree(r->local_host);
    xfree(r->local_port);
    xfree(r->host);
    xfree(r->group);
    wipe_free(r->group_key);
    xfree(r->probe_path);
    memset(r, 0, sizeof(*r));
}

void
pn_routes_free(pn_route_spec_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pn_route_spec_clear(&r[i]);
    free(r);
}
