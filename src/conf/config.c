/* conf/config.c: URL and environment to pn_config_t (pure). */
#include "conf/config.h"
#include "core/duration.h"
#include "core/mem.h"
#include "core/url.h"
#include "conf/cluster.h"
#include "conf/hubconf.h"
#include "conf/users.h"
#include "route/sniff.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Parameters this build understands, per role. Unknown ones are refused so a
 * typo never silently falls back to a default. */
static const char *const client_params[] = {
    "mode", "tls", "crt", "key", "ca", "sni", "lbs", "dial", "read", "log", "min", "notcp", "noudp",
    "rate", "slot", "block", "proxy", "dns", "type", "path", "host", "metrics", "egress", "allow", NULL,
};
static const char *const server_params[] = {
    "mode", "tls", "crt", "key", "lbs", "dial", "read", "log", "max", "notcp", "noudp", "rate",
    "slot", "block", "proxy", "dns", "type", "path", "metrics", "egress", "allow", NULL,
};
static const char *const hub_params[] = {
    "accounts", "http", "https", "ports", "domain", "public", "timeout", "tls", "crt", "key",
    "max", "log", "read", "slot", "dns", "type", "path", "metrics",
    "certs",
    "cluster", "id", "peer", "cluster_auth", "cluster_secret", NULL,   /* conf/cluster.h */
};
/* The hub decides the data TLS mode and tells the agent in HELLO; tls= only with
 * type=2|3: the TLS under the upgrade or HTTP/2 to a proxy (wss://, h2). */
static const char *const agent_params[] = {
    "tcp", "udp", "http", "https", "config", "ca", "sni", "min", "log", "read", "dns", "dial",
    "type", "path", "host", "metrics", "tls", "hubs", NULL,
};

/* proxy:// (docs/proxy.md). */
static const char *const proxy_params[] = {
    "users", "allow", "ss", "method", "log", "read", "slot", "metrics", "via", "lbs", NULL,
};

static int
in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

static int
parse_port(const char *what, const char *port, char *err)
{
    uint64_t v;
    if (port == NULL || *port == '\0')
        return pn_err_set(err, "port: %s has no port (expected <host>:<1-65535>)", what);
    if (pn_uint_parse(port, 1, 65535, &v) != PN_OK)
        return pn_err_set(err, "port: %s port \"%s\" is out of range (expected 1-65535)", what, port);
    return PN_OK;
}

static int
parse_enum(const pn_url_t *u, const char *name, int max, int *out, char *err)
{
    uint64_t v;
    const char *s = pn_url_param(u, name);
    if (s == NULL)
        return PN_OK;
    if (pn_uint_parse(s, 0, (uint64_t)max, &v) != PN_OK)
        return pn_err_set(err, "%s: unknown value \"%s\" (expected 0-%d)", name, s, max);
    *out = (int)v;
    return PN_OK;
}

static int
parse_count(const pn_url_t *u, const char *name, uint64_t lo, uint64_t hi, uint32_t *out, char *err)
{
    uint64_t v;
    const char *s = pn_url_param(u, name);
    if (s == NULL)
        return PN_OK;
    if (pn_uint_parse(s, lo, hi, &v) != PN_OK)
        return pn_err_set(err, "%s: \"%s\" is not a number in %llu-%llu", name, s,
                          (unsigned long long)lo, (unsigned long long)hi);
    *out = (uint32_t)v;
    return PN_OK;
}

/* type= (the transport, docs/usage.md), path= and host= (WebSocket). The
 * server's and hub's type= reaches the client in HELLO; a client is given one
 * only to cross a proxy (type=1 is learnt from HELLO, given or not). */
static int
parse_transport(const pn_url_t *u, pn_config_t *cfg, char *err)
{
    const char *s;
    uint64_t v;
    cfg->xtype = -1;
    if ((s = pn_url_param(u, "type")) != NULL) {
        if (pn_uint_parse(s, 0, 3, &v) != PN_OK)
            return pn_err_set(err, "type: unknown value \"%s\" (expected 0-3)", s);
        cfg->xtype = (int)v;
    }
    if ((s = pn_url_param(u, "path")) != NULL) {
        size_t n = strlen(s);
        if (n < 1 || n > 255 || s[0] != '/' || strspn(s, "!\"$%&'()*+,-./0123456789:;<=>@"
                                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
                                                  "abcdefghijklmnopqrstuvwxyz{|}~") != n)
            return pn_err_set(err, "path: \"%s\" is not a path of 1-255 printable characters "
                                   "starting with /, without ? or #", s);
        cfg->ws_path = xstrdup(s);
    }
    if ((s = pn_url_param(u, "host")) != NULL) {
        if (*s == '\0' || strlen(s) > 255 || strpbrk(s, " \t\r\n") != NULL)
            return pn_err_set(err, "host: \"%s\" is not a Host header value", s);
        cfg->ws_host = xstrdup(s);
    }
    if ((cfg->ws_path != NULL || cfg->ws_host != NULL) && cfg->xtype != 2 && cfg->xtype != 3)
        return pn_err_set(err, "%s: only with type=2 (WebSocket) or type=3 (HTTP/2)",
                          cfg->ws_path ? "path" : "host");
    return PN_OK;
}

static int
parse_targets(pn_config_t *cfg, const char *path, char *err)
{
    if (path == NULL || *path == '\0')
        return pn_err_set(err, "target: missing (expected /<host>:<port>[,<host>:<port>...] after the address)");
    const char *p = path;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *item = xstrndup(p, len);
        char *host, *port;
        char sub[PN_ERR_LEN];
        if (len == 0 || pn_hostport_split(item, &host, &port, sub) != PN_OK) {
            pn_err_set(err, "target: %s", len == 0 ? "empty entry in the target list" : sub);
            xfree(item);
            return PN_ERR;
        }
        xfree(item);
        cfg->targets = xrealloc(cfg->targets, (cfg->ntargets + 1) * sizeof(*cfg->targets));
        cfg->targets[cfg->ntargets].host = host;
        cfg->targets[cfg->ntargets].port = port;
        cfg->ntargets++;
        if (parse_port("target", port, err) != PN_OK)
            return PN_ERR;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return PN_OK;
}

/* A DNS name, lower-cased in place: 1-253 characters, labels of 1-63
 * [a-z0-9-] neither starting nor ending with '-' (the rule of conf/hubconf.c
 * for route hosts, which a bare label joins to domain=). */
static int
dns_name_lower(char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return PN_ERR;
    for (size_t i = 0; i <= n; i++) {
        char c = (char)tolower((unsigned char)s[i]);
        s[i] = c;
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return PN_ERR;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
            label++;
        } else {
            return PN_ERR;
        }
    }
    return PN_OK;
}

/* hub:// http= and https=: "[<host>]:<port>", kept as written. */
static int
parse_listen(const pn_url_t *u, const char *name, char **out, char *err)
{
    const char *s = pn_url_param(u, name);
    char *host, *port, sub[PN_ERR_LEN];
    uint64_t v;
    if (s == NULL)
        return PN_OK;
    if (pn_hostport_split(s, &host, &port, sub) != PN_OK)
        return pn_err_set(err, "%s: %s (expected [<host>]:<port>)", name, sub);
    int rc = pn_uint_parse(port, 1, 65535, &v);
    xfree(host);
    xfree(port);
    if (rc != PN_OK)
        return pn_err_set(err, "%s: port of \"%s\" is out of range (expected 1-65535)", name, s);
    *out = xstrdup(s);
    return PN_OK;
}

/* hub:// cluster=, id=, peer=, cluster_auth= (docs/hub.md "Several hubs as one"). */
static int
parse_cluster(const pn_url_t *u, pn_config_t *cfg, char *err)
{
    const char *s = pn_url_param(u, "cluster");
    static const char *const needs[] = { "id", "peer", "cluster_auth", "cluster_secret", NULL };
    if (s == NULL) {
        for (size_t i = 0; needs[i] != NULL; i++)
            if (pn_url_param(u, needs[i]) != NULL)
                return pn_err_set(err, "%s: only with cluster=redis://... (or redis-sentinel://...)", needs[i]);
        return PN_OK;
    }
    cfg->cluster = xcalloc(sizeof(*cfg->cluster));
    if (pn_cluster_conf_parse(s, cfg->cluster, err) != PN_OK)
        return PN_ERR;
    if ((s = pn_url_param(u, "id")) != NULL) {
        if (pn_cluster_id_check(s) != PN_OK)
            return pn_err_set(err, "id: expected 1-%d characters of A-Z a-z 0-9 . _ : -",
                              PN_CLUSTER_ID_MAX);
        cfg->cluster->id = xstrdup(s);
    }
    if ((s = pn_url_param(u, "peer")) != NULL &&
        parse_listen(u, "peer", &cfg->cluster->peer, err) != PN_OK)
        return PN_ERR;
    if ((s = pn_url_param(u, "cluster_auth")) != NULL) {
        if (*s == '\0')
            return pn_err_set(err, "cluster_auth: expected a file name");
        cfg->cluster->auth_file = xstrdup(s);
    }
    if ((s = pn_url_param(u, "cluster_secret")) != NULL) {
        if (*s == '\0')
            return pn_err_set(err, "cluster_secret: expected a file name");
        cfg->cluster->secret_file = xstrdup(s);
    }
    return PN_OK;
}

/* The hub:// parameters of docs/hub.md §1 beyond those shared with server://. */
static int
parse_hub(const pn_url_t *u, pn_config_t *cfg, char *err)
{
    const char *s;
    unsigned char ip[16];
    if (cfg->key != NULL)
        return pn_err_set(err, "key: hub:// takes no <key>@ (the tokens are in accounts=<file>)");
    if ((s = pn_url_param(u, "accounts")) == NULL || *s == '\0')
        return pn_err_set(err, "accounts: hub:// needs accounts=<file>");
    cfg->accounts = xstrdup(s);
    if (parse_listen(u, "http", &cfg->http_listen, err) != PN_OK ||
        parse_listen(u, "https", &cfg->https_listen, err) != PN_OK)
        return PN_ERR;
    if ((s = pn_url_param(u, "ports")) != NULL) {
        pn_port_range_t r;
        if (pn_port_range_parse(s, &r) != PN_OK)
            return pn_err_set(err, "ports: \"%s\" is not a range <lo>-<hi> in 1-65535", s);
        cfg->ports_lo = r.lo;
        cfg->ports_hi = r.hi;
    }
    if ((s = pn_url_param(u, "domain")) != NULL) {
        cfg->domain = xstrdup(s);
        if (dns_name_lower(cfg->domain) != PN_OK)
            return pn_err_set(err, "domain: \"%s\" is not a DNS name (expected e.g. hub.example.com)", s);
    }
    if ((s = pn_url_param(u, "public")) != NULL) {
        /* An address to bind, never a name: route ports must not move with DNS. */
        if (inet_pton(AF_INET, s, ip) != 1 && inet_pton(AF_INET6, s, ip) != 1)
            return pn_err_set(err, "public: \"%s\" is not an IP address (expected e.g. 203.0.113.5 or 2001:db8::5)", s);
        cfg->public_ip = xstrdup(s);
    }
    /* certs=: the folder of certificates the https= port terminates TLS with. */
    if ((s = pn_url_param(u, "certs")) != NULL) {
        if (*s == '\0' || cfg->https_listen == NULL)
            return pn_err_set(err, "certs: needs a folder and https=<addr> (the port it serves)");
        cfg->certs_dir = xstrdup(s);
    }
    if ((s = pn_url_param(u, "timeout")) != NULL &&
        (pn_duration_parse(s, &cfg->http_timeout_ms) != PN_OK || cfg->http_timeout_ms < 100))
        return pn_err_set(err, "timeout: \"%s\" is not a duration of at least 100ms (e.g. 30s)", s);
    return parse_cluster(u, cfg, err);
}

/* agent:// hubs=: the other hubs of a cluster, "host:port" items separated by commas
 * (docs/hub.md §7), at most 16. */
static int
parse_hubs(const char *s, pn_config_t *cfg, char *err)
{
    char *list = xstrdup(s), *save = NULL, *host, *port, sub[PN_ERR_LEN];
    size_t n = 0;
    uint64_t v;
    int rc = PN_OK;
    for (char *item = strtok_r(list, ",", &save); item != NULL && rc == PN_OK;
         item = strtok_r(NULL, ",", &save)) {
        if (++n > 16) {
            rc = pn_err_set(err, "hubs: at most 16 addresses");
        } else if (pn_hostport_split(item, &host, &port, sub) != PN_OK) {
            rc = pn_err_set(err, "hubs: %s (expected <host>:<port>,...)", sub);
        } else {
            if (host[0] == '\0' || pn_uint_parse(port, 1, 65535, &v) != PN_OK)
                rc = pn_err_set(err, "hubs: \"%s\" needs a host and a port in 1-65535", item);
            xfree(host);
            xfree(port);
        }
    }
    xfree(list);
    if (rc == PN_OK && n == 0)
        rc = pn_err_set(err, "hubs: expected <host>:<port>,...");
    if (rc == PN_OK)
        cfg->hubs = xstrdup(s);
    return rc;
}

/* The agent:// token (URL user part, in cfg->key) and routes, in URL order. */
static int
parse_agent(const pn_url_t *u, pn_config_t *cfg, char *err)
{
    const char *s;
    if (cfg->key == NULL || *cfg->key == '\0')
        return pn_err_set(err, "token: agent:// needs <token>@ before the hub address");
    /* The accounts file only holds such tokens (docs/hub.md §3): any other one
     * could never authenticate. Not echoed: it is a secret. */
    size_t n = strlen(cfg->key);
    int printable = 1;
    for (const char *p = cfg->key; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            printable = 0;
    if (n < 16 || n > 256 || !printable)
        return pn_err_set(err, "token: expected the account's token, 16-256 printable ASCII characters");
    for (size_t i = 0; i < u->nparams; i++) {
        const char *k = u->params[i].key;
        if (strcmp(k, "tcp") != 0 && strcmp(k, "udp") != 0 && strcmp(k, "http") != 0 &&
            strcmp(k, "https") != 0)
            continue;
        cfg->routes = xrealloc(cfg->routes, (cfg->nroutes + 1) * sizeof(*cfg->routes));
        if (pn_conf_route_parse(k, u->params[i].value, &cfg->routes[cfg->nroutes], err) != PN_OK)
            return PN_ERR;
        cfg->nroutes++;
    }
    if ((s = pn_url_param(u, "config")) != NULL) {
        if (*s == '\0')
            return pn_err_set(err, "config: expected config=<routes file>");
        cfg->routes_file = xstrdup(s);
    }
    if ((s = pn_url_param(u, "hubs")) != NULL && parse_hubs(s, cfg, err) != PN_OK)
        return PN_ERR;
    if (cfg->nroutes == 0 && cfg->routes_file == NULL)
        return pn_err_set(err, "route: agent:// needs at least one tcp=, udp=, http= or https= "
                          "route, or config=<file>");
    return PN_OK;
}

static int parse_listen(const pn_url_t *u, const char *name, char **out, char *err);

int
pn_config_via_node(const char *spec, size_t i, pn_config_t *out, char *err)
{
    const char *p = spec;
    for (size_t k = 0; k < i && p != NULL; k++)
        p = strchr(p, ',') != NULL ? strchr(p, ',') + 1 : NULL;
    if (p == NULL)
        return pn_err_set(err, "via: no node %zu", i);
    size_t len = strcspn(p, ",");
    /* rev:<...>: the node dials us (reverse path): our end is a tunnel server. */
    int rev = len > 4 && strncmp(p, "rev:", 4) == 0;
    if (rev) {
        p += 4;
        len -= 4;
    }
    /* ?min=<n> (we dial: our pool, as client://...?min=) or, reversed,
     * ?max=<n> (the pool ceiling we grant, as server://...?max=); nothing else. */
    const char *q = memchr(p, '?', len);
    size_t hlen = q != NULL ? (size_t)(q - p) : len, qlen = q != NULL ? len - hlen - 1 : 0;
    const char *want = rev ? "max=" : "min=";
    if (hlen == 0 || memchr(p, '/', len) != NULL ||
        (q != NULL && (qlen <= 4 || strncmp(q + 1, want, 4) != 0 ||
                       strspn(q + 5, "0123456789") != qlen - 4)))
        return pn_err_set(err, "via: node %zu: expected [<key>@]<host>:<port>[?min=<n>] or "
                          "rev:[<key>@]<host>:<port>[?max=<n>]", i + 1);
    /* The node is a tunnel client's (or, reversed, server's) URL in all but its
     * user listener, which an entrance's node never opens. */
    size_t n = strlen("server://") + len + strlen("/127.0.0.1:1") + 1;
    char *url = xmalloc(n), sub[PN_ERR_LEN];
    snprintf(url, n, "%s://%.*s/127.0.0.1:1%s%.*s", rev ? "server" : "client", (int)hlen, p,
             q != NULL ? "?" : "", (int)qlen, q != NULL ? q + 1 : "");
    int rc = pn_config_parse(url, out, sub);
    memset(url, 0, n);
    xfree(url);
    if (rc != PN_OK)
        return pn_err_set(err, "via: node %zu: %s", i + 1, sub);
    return PN_OK;
}

int
pn_config_via_check(const char *spec, char *err)
{
    size_t n = 1;
    for (const char *c = spec; *c; c++)
        n += *c == ',';
    if (*spec == '\0' || n > PN_VIA_MAX)
        return pn_err_set(err, "via: expected 1 to %d nodes [<key>@]<host>:<port>,...", PN_VIA_MAX);
    for (size_t i = 0; i < n; i++) {
        pn_config_t tmp;
        if (pn_config_via_node(spec, i, &tmp, err) != PN_OK)
            return PN_ERR;
        pn_config_clear(&tmp);
    }
    return PN_OK;
}

/* The proxy:// parameters beyond the shared ones (docs/proxy.md). */
static int
parse_proxy(const pn_url_t *u, pn_config_t *cfg, char *err)
{
    const char *s;
    if (cfg->key != NULL)
        return pn_err_set(err, "key: proxy:// takes no <key>@ (the users are in users=<file>)");
    if (u->path != NULL)
        return pn_err_set(err, "target: proxy:// takes no target path (users name destinations)");
    if ((s = pn_url_param(u, "users")) == NULL || *s == '\0')
        return pn_err_set(err, "users: proxy:// needs users=<file>");
    cfg->users_file = xstrdup(s);
    if ((s = pn_url_param(u, "allow")) != NULL && *s != '\0')
        cfg->allow = xstrdup(s);
    if (parse_listen(u, "ss", &cfg->ss_listen, err) != PN_OK)
        return PN_ERR;
    s = pn_url_param(u, "method");
    if (s != NULL && strcmp(s, "aes-256-gcm") != 0 && strcmp(s, "aes-128-gcm") != 0 &&
        strcmp(s, "chacha20-ietf-poly1305") != 0)
        return pn_err_set(err, "method: unknown \"%s\" (expected chacha20-ietf-poly1305, aes-256-gcm "
                          "or aes-128-gcm)", s);
    cfg->ss_method = xstrdup(s ? s : "chacha20-ietf-poly1305");
    if ((s = pn_url_param(u, "via")) != NULL) {
        if (pn_config_via_check(s, err) != PN_OK)
            return PN_ERR;
        cfg->via = xstrdup(s);
    }
    return PN_OK;
}

int
pn_config_parse(const char *url, pn_config_t *cfg, char *err)
{
    pn_url_t u;
    const char *s;
    int v;

    memset(cfg, 0, sizeof(*cfg));
    cfg->lbs = LB_ROUND_ROBIN;
    cfg->log = LOG_INFO;
    cfg->min = 0;               /* the pool floor's default is the client's (it knows the transport) */
    cfg->max = 1024;
    cfg->report_ms = 5000;
    cfg->fallback_ms = 5 * 60 * 1000;
    cfg->dial_timeout_ms = 5000;
    cfg->handshake_ms = 10000;
    cfg->pool_wait_ms = 5000;
    cfg->backoff_max_ms = 30000;
    cfg->udp_idle_ms = 30000;
    cfg->send_timeout_ms = 30000;
    cfg->slot = 65536;
    cfg->dns_ms = 5 * 60 * 1000;
    cfg->http_timeout_ms = 30000;
    cfg->hub_hold_ms = 30000;
    cfg->cluster_ttl_ms = 3000;
    cfg->pool_min_ms = PN_POOL_MIN_MS;
    cfg->pool_max_ms = PN_POOL_MAX_MS;
    cfg->reload_ms = PN_RELOAD_MS;
    cfg->tcp_buf = PN_TCP_BUF;

    if (pn_url_parse(url, &u, err) != PN_OK) {
        /* core/url reports "url: ..." or "address ...": name the field for the user. */
        if (strncmp(err, "address", 7) == 0) {
            char sub[PN_ERR_LEN];
            memcpy(sub, err, sizeof(sub));
            pn_err_set(err, "port: %s", sub);
        }
        pn_config_clear(cfg);
        return PN_ERR;
    }
    const char *const *known;
    if (strcmp(u.scheme, "client") == 0) {
        cfg->role = PN_ROLE_CLIENT;
        known = client_params;
    } else if (strcmp(u.scheme, "server") == 0) {
        cfg->role = PN_ROLE_SERVER;
        known = server_params;
    } else if (strcmp(u.scheme, "hub") == 0) {
        cfg->role = PN_ROLE_HUB;
        known = hub_params;
    } else if (strcmp(u.scheme, "agent") == 0) {
        cfg->role = PN_ROLE_AGENT;
        known = agent_params;
    } else if (strcmp(u.scheme, "proxy") == 0) {
        cfg->role = PN_ROLE_PROXY;
        known = proxy_params;
    } else {
        pn_err_set(err, "scheme: unknown mode \"%s\" (expected server://, client://, hub://, agent:// or proxy://)",
                   u.scheme);
        goto fail;
    }
    for (size_t i = 0; i < u.nparams; i++) {
        if (!in_list(known, u.params[i].key)) {
            pn_err_set(err, "%s: unknown parameter for %s://", u.params[i].key, u.scheme);
            goto fail;
        }
    }
    /* A parameter given twice is a typo or a URL built by concatenation: never
     * let the last one win silently. The agent's routes are a list. */
    static const char *const agent_lists[] = { "tcp", "udp", "http", "https", NULL };
    if ((s = pn_url_repeated(&u, cfg->role == PN_ROLE_AGENT ? agent_lists : NULL)) != NULL) {
        pn_err_set(err, "%s: given more than once (each parameter may appear once)", s);
        goto fail;
    }

    cfg->key = xstrdup(u.user);
    cfg->host = xstrdup(u.host);
    cfg->port = xstrdup(u.port);
    if (parse_port(cfg->role == PN_ROLE_SERVER ? "tunnel address"
                   : cfg->role == PN_ROLE_CLIENT ? "first address"
                   : cfg->role == PN_ROLE_PROXY ? "listen address" : "hub address",
                   cfg->port, err) != PN_OK)
        goto fail;
    if (cfg->role == PN_ROLE_PROXY) {
        if (parse_proxy(&u, cfg, err) != PN_OK)
            goto fail;
    } else if (cfg->role == PN_ROLE_HUB || cfg->role == PN_ROLE_AGENT) {
        /* Their targets are the routes: a path is a mistake, not a target list. */
        if (u.path != NULL) {
            pn_err_set(err, "target: %s:// takes no target path", u.scheme);
            goto fail;
        }
        if ((cfg->role == PN_ROLE_HUB ? parse_hub(&u, cfg, err) : parse_agent(&u, cfg, err)) != PN_OK)
            goto fail;
    } else if (parse_targets(cfg, u.path, err) != PN_OK) {
        goto fail;
    }

    if (parse_enum(&u, "mode", 2, &cfg->mode, err) != PN_OK ||
        parse_enum(&u, "tls", 2, &cfg->tls, err) != PN_OK ||
        parse_enum(&u, "notcp", 1, &cfg->notcp, err) != PN_OK ||
        parse_enum(&u, "noudp", 1, &cfg->noudp, err) != PN_OK)
        goto fail;
    if (parse_enum(&u, "proxy", 2, &cfg->proxy, err) != PN_OK ||
        parse_enum(&u, "egress", 1, &cfg->egress, err) != PN_OK)
        goto fail;
    if (cfg->role != PN_ROLE_PROXY && (s = pn_url_param(&u, "allow")) != NULL && *s != '\0') {
        pn_cidr_t *nets = NULL;
        size_t nnets = 0;
        char sub[PN_ERR_LEN];
        if (pn_cidr_list_parse(s, &nets, &nnets, sub) != PN_OK) {
            pn_err_set(err, "allow: %s", sub);
            goto fail;
        }
        xfree(nets);
        cfg->allow = xstrdup(s);
    }
    if (parse_transport(&u, cfg, err) != PN_OK)
        goto fail;
    if (parse_count(&u, "rate", 0, 1000000, &cfg->rate_mbps, err) != PN_OK ||
        parse_count(&u, "slot", 0, 10000000, &cfg->slot, err) != PN_OK)
        goto fail;
    if ((s = pn_url_param(&u, "block")) != NULL && *s != '\0' && strcmp(s, "0") != 0 &&
        pn_sniff_parse_block(s, &cfg->block) != PN_OK) {
        pn_err_set(err, "block: \"%s\" is not a set of 1 (SOCKS), 2 (HTTP), 3 (TLS), e.g. 13", s);
        goto fail;
    }
    if ((s = pn_url_param(&u, "dns")) != NULL &&
        (pn_duration_parse(s, &cfg->dns_ms) != PN_OK || cfg->dns_ms < 1000)) {
        pn_err_set(err, "dns: \"%s\" is not a duration of at least 1s (e.g. 30s, 5m)", s);
        goto fail;
    }
    if (cfg->notcp && cfg->noudp) {
        pn_err_set(err, "noudp: with notcp=1 too, nothing is left to carry");
        goto fail;
    }
    v = (int)cfg->lbs;
    if (parse_enum(&u, "lbs", 2, &v, err) != PN_OK)
        goto fail;
    cfg->lbs = (enum lb_policy)v;
    cfg->crt = xstrdup(pn_url_param(&u, "crt"));
    cfg->crt_key = xstrdup(pn_url_param(&u, "key"));
    cfg->ca = xstrdup(pn_url_param(&u, "ca"));
    cfg->sni = xstrdup(pn_url_param(&u, "sni"));
    /* A client or agent given type=2|3 verifies the proxy's certificate with tls=2: no files. */
    int dialing = cfg->role == PN_ROLE_CLIENT || cfg->role == PN_ROLE_AGENT;
    if (cfg->role == PN_ROLE_AGENT && cfg->tls != 0 && cfg->xtype != 2 && cfg->xtype != 3) {
        pn_err_set(err, "tls: an agent takes tls= only with type=2 or type=3 (the TLS to a "
                        "proxy); the hub decides the data channel's TLS");
        goto fail;
    }
    int own_crt = cfg->tls == 2 && !(dialing && (cfg->xtype == 2 || cfg->xtype == 3));
    if (own_crt && (cfg->crt == NULL || *cfg->crt == '\0')) {
        pn_err_set(err, "crt: tls=2 needs crt=<certificate PEM file>");
        goto fail;
    }
    if (own_crt && (cfg->crt_key == NULL || *cfg->crt_key == '\0')) {
        pn_err_set(err, "key: tls=2 needs key=<private key PEM file>");
        goto fail;
    }
    if ((s = pn_url_param(&u, "dial")) != NULL && *s != '\0' && strcmp(s, "auto") != 0)
        cfg->dial = xstrdup(s);
    if ((s = pn_url_param(&u, "read")) != NULL && pn_duration_parse(s, &cfg->read_ms) != PN_OK) {
        pn_err_set(err, "read: \"%s\" is not a duration (expected e.g. 30s, 5m, 1h30m, 0)", s);
        goto fail;
    }
    if ((s = pn_url_param(&u, "log")) != NULL && log_level_parse(s, &cfg->log) != PN_OK) {
        pn_err_set(err, "log: unknown level \"%s\" (expected none, debug, info, warn, error or event)", s);
        goto fail;
    }
    /* metrics=[host]:port, every mode: the scrape listener (net/scrape.h). */
    if (parse_listen(&u, "metrics", &cfg->metrics_listen, err) != PN_OK)
        goto fail;
    if (parse_count(&u, "min", 1, 65536, &cfg->min, err) != PN_OK ||
        parse_count(&u, "max", 1, 65536, &cfg->max, err) != PN_OK)
        goto fail;
    pn_url_clear(&u);
    return PN_OK;

fail:
    pn_url_clear(&u);
    pn_config_clear(cfg);
    return PN_ERR;
}

int
pn_config_apply_env(pn_config_t *cfg, const char *(*get)(const char *name), char *err)
{
    /* <alias>: NodePass's name for the same setting, read when ours is unset
     * (docs/operations.md "NodePass's environment variables"). */
    static const struct {
        const char *name, *alias;
        size_t off;
        uint64_t min, max;      /* ms; max 0: none */
    } vars[] = {
        { "POSTERN_REPORT_INTERVAL", "NP_REPORT_INTERVAL", offsetof(pn_config_t, report_ms), 100, 0 },
        { "POSTERN_FALLBACK_INTERVAL", "NP_FALLBACK_INTERVAL", offsetof(pn_config_t, fallback_ms),
          0, 0 },
        { "POSTERN_DIAL_TIMEOUT", "NP_TCP_DIAL_TIMEOUT", offsetof(pn_config_t, dial_timeout_ms), 1, 0 },
        { "POSTERN_HANDSHAKE_TIMEOUT", "NP_HANDSHAKE_TIMEOUT", offsetof(pn_config_t, handshake_ms),
          1, 0 },
        { "POSTERN_POOL_WAIT", "NP_POOL_GET_TIMEOUT", offsetof(pn_config_t, pool_wait_ms), 1, 0 },
        { "POSTERN_BACKOFF_MAX", NULL, offsetof(pn_config_t, backoff_max_ms), 1000, 0 },
        { "POSTERN_UDP_IDLE", "NP_UDP_READ_TIMEOUT", offsetof(pn_config_t, udp_idle_ms), 100, 0 },
        { "POSTERN_SEND_TIMEOUT", NULL, offsetof(pn_config_t, send_timeout_ms), 100, 0 },
        { "POSTERN_HUB_HOLD", NULL, offsetof(pn_config_t, hub_hold_ms), 0, 0 },
        { "POSTERN_CLUSTER_TTL", NULL, offsetof(pn_config_t, cluster_ttl_ms), 1000, 3600000 },
        { "POSTERN_POOL_MIN_INTERVAL", "NP_MIN_POOL_INTERVAL", offsetof(pn_config_t, pool_min_ms),
          10, 3600000 },
        { "POSTERN_POOL_MAX_INTERVAL", "NP_MAX_POOL_INTERVAL", offsetof(pn_config_t, pool_max_ms),
          10, 3600000 },
        { "POSTERN_RELOAD_INTERVAL", "NP_RELOAD_INTERVAL", offsetof(pn_config_t, reload_ms), 100,
          86400000 },
    };
    const char *dns = get("POSTERN_DNS_SERVER");
    if (dns != NULL && *dns != '\0') {
        xfree(cfg->dns_server);
        cfg->dns_server = xstrdup(dns);
    }
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *name = vars[i].name, *s = get(name);
        uint64_t ms;
        if ((s == NULL || *s == '\0') && vars[i].alias != NULL)
            s = get(name = vars[i].alias);
        if (s == NULL || *s == '\0')
            continue;
        if (pn_duration_parse(s, &ms) != PN_OK || ms < vars[i].min)
            return pn_err_set(err, "%s: \"%s\" is not a duration of at least %llums", name,
                              s, (unsigned long long)vars[i].min);
        if (vars[i].max != 0 && ms > vars[i].max)
            return pn_err_set(err, "%s: \"%s\" is over %llus", name, s,
                              (unsigned long long)vars[i].max / 1000);
        *(uint64_t *)((char *)cfg + vars[i].off) = ms;
    }
    /* A floor set above the default ceiling raises it; both set must agree. */
    const char *mx = get("POSTERN_POOL_MAX_INTERVAL"), *npmx = get("NP_MAX_POOL_INTERVAL");
    int max_given = (mx != NULL && *mx != '\0') || (npmx != NULL && *npmx != '\0');
    if (cfg->pool_max_ms < cfg->pool_min_ms && !max_given)
        cfg->pool_max_ms = cfg->pool_min_ms;
    if (cfg->pool_max_ms < cfg->pool_min_ms)
        return pn_err_set(err, "POSTERN_POOL_MAX_INTERVAL: %llums is below "
                          "POSTERN_POOL_MIN_INTERVAL (%llums)",
                          (unsigned long long)cfg->pool_max_ms,
                          (unsigned long long)cfg->pool_min_ms);
    const char *name = "POSTERN_TCP_DATA_BUF_SIZE", *s = get(name);
    if (s == NULL || *s == '\0')
        s = get(name = "NP_TCP_DATA_BUF_SIZE");
    if (s != NULL && *s != '\0' &&
        pn_uint_parse(s, PN_TCP_BUF_MIN, PN_TCP_BUF_MAX, &cfg->tcp_buf) != PN_OK)
        return pn_err_set(err, "%s: \"%s\" is not a size in bytes from %d to %d", name, s,
                          PN_TCP_BUF_MIN, PN_TCP_BUF_MAX);
    return PN_OK;
}

void
pn_config_clear(pn_config_t *cfg)
{
    for (size_t i = 0; i < cfg->ntargets; i++) {
        xfree(cfg->targets[i].host);
        xfree(cfg->targets[i].port);
    }
    xfree(cfg->targets);
    if (cfg->key != NULL)
        memset(cfg->key, 0, strlen(cfg->key));
    xfree(cfg->key);
    xfree(cfg->host);
    xfree(cfg->port);
    xfree(cfg->crt);
    xfree(cfg->crt_key);
    xfree(cfg->ca);
    xfree(cfg->sni);
    xfree(cfg->ws_path);
    xfree(cfg->ws_host);
    xfree(cfg->dial);
    xfree(cfg->dns_server);
    xfree(cfg->accounts);
    xfree(cfg->http_listen);
    xfree(cfg->https_listen);
    xfree(cfg->certs_dir);
    xfree(cfg->domain);
    xfree(cfg->public_ip);
    if (cfg->cluster != NULL)
        pn_cluster_conf_clear(cfg->cluster);
    xfree(cfg->cluster);
    pn_routes_free(cfg->routes, cfg->nroutes);
    xfree(cfg->routes_file);
    xfree(cfg->hubs);
    xfree(cfg->users_file);
    xfree(cfg->allow);
    xfree(cfg->via);
    xfree(cfg->ss_listen);
    xfree(cfg->ss_method);
    xfree(cfg->metrics_listen);
    memset(cfg, 0, sizeof(*cfg));
}
