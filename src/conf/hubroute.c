/* conf/hubroute.c: the agent's routes, in URL form and as a routes file
 * (docs/hub.md §3-§4): parsed, compared, copied and freed.
 *
 * Pure apart from reading the named file. Every message names its place
 * ("routes[0].host", "http: host") and what was expected; group keys are never
 * echoed, and other values only through pn_conf_shown(). */
#include "conf/hubconf.h"
#include "conf/hubjson.h"
#include "core/duration.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/url.h"
#include "conf/users.h"
#include "route/http_acl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_KEY_MAX 128           /* wire GROUP_KEY TLV: 1-128 bytes (docs/hub.md §5) */
#define PROBE_PATH_MAX 1024
#define PROBE_MS_DEFAULT 5000
#define PROBE_MS_MIN 100

/* ---- routes ---- */

const char *
pn_conf_route_type_name(enum pn_conf_route_type t)
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
type_parse(const char *s, enum pn_conf_route_type *t)
{
    for (int v = PN_RT_TCP; v <= PN_RT_HTTPS; v++) {
        if (strcmp(s, pn_conf_route_type_name((enum pn_conf_route_type)v)) == 0) {
            *t = (enum pn_conf_route_type)v;
            return PN_OK;
        }
    }
    return PN_ERR;
}

static int
is_port_type(enum pn_conf_route_type t)
{
    return t == PN_RT_TCP || t == PN_RT_UDP;
}

/* The options of docs/hub.md §2, in the order of the routes file's members
 * after "type" and "local". Bit i of a seen-mask stands for route_opts[i]. */
static const char *const route_opts[] = {
    "port", "host", "group", "group_key", "probe", "probe_interval", "name",
    "path", "host_header", "auth", "allow", "redirect", "proto", NULL,
};

/* The http-only rules (path, host_header, auth, allow, redirect, proto) into <r>. */
static int
route_http_opt(pn_conf_route_t *r, const char *opt, const char *val, char *what)
{
    char v[SHOWN_LEN], sub[PN_ERR_LEN];
    if (r->type != PN_RT_HTTP)
        return pn_err_set(what, "only for http routes");
    if (strcmp(opt, "path") == 0) {
        if (!pn_http_path_ok(val))
            return pn_err_set(what, "\"%s\" is not a path of 1-%d characters starting with '/' "
                              "(no '%%', '?', '#', ',' or space)", pn_conf_shown(val, v),
                              PN_HTTP_PATH_MAX);
        if (strcmp(val, "/") != 0)
            r->path = xstrdup(val);
    } else if (strcmp(opt, "host_header") == 0) {
        char *h = pn_conf_lower_dup(val);
        if (!pn_conf_dns_name_ok(h)) {
            xfree(h);
            return pn_err_set(what, "\"%s\" is not a host name", pn_conf_shown(val, v));
        }
        r->host_header = h;
    } else if (strcmp(opt, "auth") == 0) {
        pn_http_auth_t a;
        /* Not echoed: a hash is not the password, but it helps to guess it. */
        if (strlen(val) > PN_HTTP_AUTH_SPEC_MAX || pn_http_auth_parse(val, &a) != 0)
            return pn_err_set(what, "expected <user>:sha256$<salt hex, 8-64 bytes>$<SHA-256 "
                                    "of salt and password, hex> (docs/hub.md)");
        r->auth = xstrdup(val);
    } else if (strcmp(opt, "allow") == 0) {
        pn_cidr_t *list;
        size_t n;
        char *c = xstrdup(val);
        for (char *p = c; *p; p++)
            if (*p == ';')
                *p = ',';
        int rc = strlen(val) <= 1024 ? pn_cidr_list_parse(c, &list, &n, sub) : PN_ERR;
        xfree(c);
        if (rc != PN_OK)
            return pn_err_set(what, "\"%s\" is not a list of <ip>[/<bits>] separated by ';'",
                              pn_conf_shown(val, v));
        free(list);
        r->allow = xstrdup(val);
    } else if (strcmp(opt, "proto") == 0) {
        if (strcmp(val, "h2c") != 0 && strcmp(val, "http/1.1") != 0)
            return pn_err_set(what, "\"%s\" is not h2c or http/1.1", pn_conf_shown(val, v));
        r->h2c = strcmp(val, "h2c") == 0;
    } else { /* redirect */
        if (strcmp(val, "https") != 0)
            return pn_err_set(what, "\"%s\" is not https", pn_conf_shown(val, v));
        r->redirect = 1;
    }
    return PN_OK;
}

static int
route_local(pn_conf_route_t *r, const char *s, char *what)
{
    char sub[PN_ERR_LEN], v[SHOWN_LEN];
    uint64_t port;
    /* core/url's messages quote the address as it is: keep them log-safe. */
    if (!pn_conf_all_in(s, 0x20, 0x7e))
        return pn_err_set(what, "local address \"%s\" is not <host>:<port>", pn_conf_shown(s, v));
    if (pn_hostport_split(s, &r->local_host, &r->local_port, sub) != PN_OK)
        return pn_err_set(what, "local %s", sub);
    if (pn_uint_parse(r->local_port, 1, 65535, &port) != PN_OK)
        return pn_err_set(what, "local port \"%s\" is out of range (expected 1-65535)",
                          pn_conf_shown(r->local_port, v));
    /* A name or an IP literal (with an IPv6 zone): nothing else can be dialled. */
    for (const char *c = r->local_host; *c; c++)
        if (!isalnum((unsigned char)*c) && strchr(".-_:%", *c) == NULL)
            return pn_err_set(what, "local host \"%s\" is not a host name or IP address",
                              pn_conf_shown(r->local_host, v));
    return PN_OK;
}

/* Apply option <opt> = <val> to <r> (whose type is set); PN_ERR with the
 * reason in <what>. Whether the option fits the type is checked here; what
 * depends on several options is checked by route_finish(). */
static int
route_opt(pn_conf_route_t *r, const char *opt, const char *val, char *what)
{
    char v[SHOWN_LEN];
    uint64_t n;
    if (strcmp(opt, "path") == 0 || strcmp(opt, "host_header") == 0 || strcmp(opt, "auth") == 0 ||
        strcmp(opt, "allow") == 0 || strcmp(opt, "redirect") == 0 || strcmp(opt, "proto") == 0)
        return route_http_opt(r, opt, val, what);
    if (strcmp(opt, "port") == 0) {
        if (!is_port_type(r->type))
            return pn_err_set(what, "only for tcp and udp routes");
        if (pn_uint_parse(val, 0, 65535, &n) != PN_OK)
            return pn_err_set(what, "\"%s\" is not a port in 0-65535 (0: the hub assigns one)",
                              pn_conf_shown(val, v));
        r->port = (uint16_t)n;
    } else if (strcmp(opt, "host") == 0) {
        if (is_port_type(r->type))
            return pn_err_set(what, "only for http and https routes");
        char *h = pn_conf_lower_dup(val);
        if (!pn_conf_dns_name_ok(h)) {
            xfree(h);
            return pn_err_set(what, "\"%s\" is not a host name or a bare label", pn_conf_shown(val, v));
        }
        r->host = h;
    } else if (strcmp(opt, "group") == 0) {
        if (!is_port_type(r->type))
            return pn_err_set(what, "only for tcp and udp routes (http and https routes group by "
                                    "host and group_key)");
        if (!pn_conf_name_ok(val))
            return pn_err_set(what, "\"%s\" is not 1-%d characters of [A-Za-z0-9._-]",
                              pn_conf_shown(val, v), NAME_MAX_LEN);
        r->group = xstrdup(val);
    } else if (strcmp(opt, "group_key") == 0) {
        /* A secret: never echoed. */
        if (strlen(val) == 0 || strlen(val) > GROUP_KEY_MAX || !pn_conf_all_in(val, 0x21, 0x7e))
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
            if (path[0] != '/' || strlen(path) > PROBE_PATH_MAX || !pn_conf_all_in(path, 0x21, 0x7e))
                return pn_err_set(what, "\"%s\" has no path of 1-%d printable characters "
                                  "starting with '/' (expected e.g. http:/health)",
                                  pn_conf_shown(val, v), PROBE_PATH_MAX);
            r->probe = PN_PROBE_HTTP;
            r->probe_path = xstrdup(path);
        } else {
            return pn_err_set(what, "\"%s\" is not tcp or http:<path>", pn_conf_shown(val, v));
        }
    } else if (strcmp(opt, "probe_interval") == 0) {
        if (pn_duration_parse(val, &r->probe_ms) != PN_OK || r->probe_ms < PROBE_MS_MIN)
            return pn_err_set(what, "\"%s\" is not a duration of at least %dms (e.g. 5s)",
                              pn_conf_shown(val, v), PROBE_MS_MIN);
    } else { /* name */
        /* No comma: the URL form could not write it back. */
        if (strlen(val) == 0 || strlen(val) > NAME_MAX_LEN || !pn_conf_all_in(val, 0x20, 0x7e) ||
            strchr(val, ',') != NULL)
            return pn_err_set(what, "\"%s\" is not 1-%d printable characters without a comma",
                              pn_conf_shown(val, v), NAME_MAX_LEN);
        r->name = xstrdup(val);
    }
    return PN_OK;
}

/* Checks across options, then defaults. On failure *<member> names the option. */
static int
route_finish(pn_conf_route_t *r, const char **member, char *what)
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
        char buf[600];
        if (is_port_type(r->type))
            snprintf(buf, sizeof(buf), "%s:%u", pn_conf_route_type_name(r->type), (unsigned)r->port);
        else
            snprintf(buf, sizeof(buf), "%s:%s%s", pn_conf_route_type_name(r->type), r->host,
                     r->path ? r->path : "");
        r->name = xstrdup(buf);
    }
    return PN_OK;
}

int
pn_conf_route_parse(const char *type, const char *value, pn_conf_route_t *out, char *err)
{
    char what[PN_ERR_LEN], v[SHOWN_LEN];
    const char *member;
    unsigned seen = 0;
    size_t nopt = 0;

    memset(out, 0, sizeof(*out));
    out->probe_ms = PROBE_MS_DEFAULT;
    if (type_parse(type, &out->type) != PN_OK)
        return pn_err_set(err, "%s: unknown route type (expected tcp, udp, http or https)",
                          pn_conf_shown(type, v));
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
                       "probe, probe_interval, name, path, host_header, auth, allow, redirect or proto)",
                       type, pn_conf_shown(item, v));
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
    pn_conf_wipe_free(copy);
    return PN_OK;

fail:
    pn_conf_wipe_free(copy);
    pn_conf_route_clear(out);
    return PN_ERR;
}

/* One element of the routes file's array into <r>. */
static int
route_json(const pn_conf_place_t *p, json_t *o, pn_conf_route_t *r)
{
    static const char *const members[] = {
        "type", "local", "port", "host", "group", "group_key", "probe", "probe_interval", "name",
        "path", "host_header", "auth", "allow", "redirect", "proto", NULL,
    };
    char what[PN_ERR_LEN], v[SHOWN_LEN];
    const char *member;
    json_t *j;

    memset(r, 0, sizeof(*r));
    r->probe_ms = PROBE_MS_DEFAULT;
    if (!json_is_object(o))
        return pn_conf_jfail(p, NULL, "expected an object");
    if (pn_conf_check_members(p, o, members) != PN_OK)
        return PN_ERR;
    j = json_object_get(o, "type");
    if (j == NULL || !json_is_string(j))
        return pn_conf_jfail(p, "type", "%s (expected \"tcp\", \"udp\", \"http\" or \"https\")",
                     j == NULL ? "missing" : "not a string");
    if (type_parse(json_string_value(j), &r->type) != PN_OK)
        return pn_conf_jfail(p, "type", "\"%s\" is not tcp, udp, http or https",
                     pn_conf_shown(json_string_value(j), v));
    j = json_object_get(o, "local");
    if (j == NULL || !json_is_string(j))
        return pn_conf_jfail(p, "local", "%s (expected \"<host>:<port>\")",
                     j == NULL ? "missing" : "not a string");
    if (route_local(r, json_string_value(j), what) != PN_OK)
        return pn_conf_jfail(p, "local", "%s", what);
    for (size_t k = 0; route_opts[k] != NULL; k++) {
        const char *opt = route_opts[k];
        char num[24];
        const char *val;
        if ((j = json_object_get(o, opt)) == NULL)
            continue;
        if (strcmp(opt, "port") == 0) {
            /* Given as a number; route_opt() checks the range on its decimal form. */
            if (!json_is_integer(j))
                return pn_conf_jfail(p, opt, "expected an integer in 0-65535");
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(j));
            val = num;
        } else if (!json_is_string(j)) {
            return pn_conf_jfail(p, opt, "expected a string");
        } else {
            val = json_string_value(j);
        }
        if (route_opt(r, opt, val, what) != PN_OK)
            return pn_conf_jfail(p, opt, "%s", what);
    }
    if (route_finish(r, &member, what) != PN_OK)
        return pn_conf_jfail(p, member, "%s", what);
    return PN_OK;
}

int
pn_routes_parse(const char *json, const char *label, pn_conf_route_t **out, size_t *n,
                char *err)
{
    json_t *arr;
    *out = NULL;
    *n = 0;
    json_t *root = pn_conf_load_json("config", label, json, err);
    if (root == NULL)
        return PN_ERR;
    if (pn_conf_top_array("config", label, "routes", root, &arr, err) != PN_OK) {
        json_decref(root);
        return PN_ERR;
    }
    /* An empty list is fine: a reload may withdraw every file route. */
    size_t count = json_array_size(arr);
    pn_conf_route_t *rs = count ? xcalloc(count * sizeof(*rs)) : NULL;
    for (size_t i = 0; i < count; i++) {
        pn_conf_place_t p = { "config", label, "routes", i, err };
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
pn_routes_load(const char *path, pn_conf_route_t **out, size_t *n, char *err)
{
    char *text;
    *out = NULL;
    *n = 0;
    if (pn_conf_read_file("config", path, &text, err) != PN_OK)
        return PN_ERR;
    int rc = pn_routes_parse(text, path, out, n, err);
    pn_conf_wipe_free(text);
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
pn_conf_route_equal(const pn_conf_route_t *a, const pn_conf_route_t *b)
{
    return a->type == b->type && a->port == b->port && a->probe == b->probe &&
           a->probe_ms == b->probe_ms && str_eq(a->name, b->name) &&
           str_eq(a->local_host, b->local_host) && str_eq(a->local_port, b->local_port) &&
           str_eq(a->host, b->host) && str_eq(a->group, b->group) &&
           str_eq(a->group_key, b->group_key) && str_eq(a->probe_path, b->probe_path) &&
           str_eq(a->path, b->path) && str_eq(a->host_header, b->host_header) &&
           str_eq(a->auth, b->auth) && str_eq(a->allow, b->allow) && a->redirect == b->redirect &&
           a->h2c == b->h2c;
}

void
pn_conf_route_copy(pn_conf_route_t *dst, const pn_conf_route_t *src)
{
    *dst = *src;
    dst->name = xstrdup(src->name);
    dst->local_host = xstrdup(src->local_host);
    dst->local_port = xstrdup(src->local_port);
    dst->host = xstrdup(src->host);
    dst->group = xstrdup(src->group);
    dst->group_key = xstrdup(src->group_key);
    dst->probe_path = xstrdup(src->probe_path);
    dst->path = xstrdup(src->path);
    dst->host_header = xstrdup(src->host_header);
    dst->auth = xstrdup(src->auth);
    dst->allow = xstrdup(src->allow);
}

void
pn_conf_route_clear(pn_conf_route_t *r)
{
    xfree(r->name);
    xfree(r->local_host);
    xfree(r->local_port);
    xfree(r->host);
    xfree(r->group);
    pn_conf_wipe_free(r->group_key);
    xfree(r->probe_path);
    xfree(r->path);
    xfree(r->host_header);
    xfree(r->auth);
    xfree(r->allow);
    memset(r, 0, sizeof(*r));
}

void
pn_routes_free(pn_conf_route_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pn_conf_route_clear(&r[i]);
    free(r);
}
