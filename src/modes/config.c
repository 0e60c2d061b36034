/* modes/config.c: URL and environment to pn_config_t (pure). */
#include "modes/config.h"
#include "core/duration.h"
#include "core/mem.h"
#include "core/url.h"
#include "route/sniff.h"

#include <string.h>

/* Parameters this build understands, per role. Unknown ones are refused so a
 * typo never silently falls back to a default. */
static const char *const client_params[] = {
    "mode", "tls", "crt", "key", "ca", "sni", "lbs", "dial", "read", "log", "min", "notcp", "noudp",
    "rate", "slot", "block", "proxy", "dns", NULL,
};
static const char *const server_params[] = {
    "mode", "tls", "crt", "key", "lbs", "dial", "read", "log", "max", "notcp", "noudp", "rate",
    "slot", "block", "proxy", "dns", NULL,
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

int
pn_config_parse(const char *url, pn_config_t *cfg, char *err)
{
    pn_url_t u;
    const char *s;
    int v;

    memset(cfg, 0, sizeof(*cfg));
    cfg->lbs = LB_ROUND_ROBIN;
    cfg->log = LOG_INFO;
    cfg->min = 64;
    cfg->max = 1024;
    cfg->report_ms = 5000;
    cfg->fallback_ms = 5 * 60 * 1000;
    cfg->dial_timeout_ms = 5000;
    cfg->handshake_ms = 10000;
    cfg->pool_wait_ms = 5000;
    cfg->backoff_max_ms = 30000;
    cfg->udp_idle_ms = 30000;
    cfg->slot = 65536;
    cfg->dns_ms = 5 * 60 * 1000;

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
    } else {
        pn_err_set(err, "scheme: unknown mode \"%s\" (expected server:// or client://)", u.scheme);
        goto fail;
    }
    for (size_t i = 0; i < u.nparams; i++) {
        if (!in_list(known, u.params[i].key)) {
            pn_err_set(err, "%s: unknown parameter for %s://", u.params[i].key, u.scheme);
            goto fail;
        }
    }

    cfg->key = xstrdup(u.user);
    cfg->host = xstrdup(u.host);
    cfg->port = xstrdup(u.port);
    if (parse_port(cfg->role == PN_ROLE_SERVER ? "tunnel address" : "first address", cfg->port,
                   err) != PN_OK)
        goto fail;
    if (parse_targets(cfg, u.path, err) != PN_OK)
        goto fail;

    if (parse_enum(&u, "mode", 2, &cfg->mode, err) != PN_OK ||
        parse_enum(&u, "tls", 2, &cfg->tls, err) != PN_OK ||
        parse_enum(&u, "notcp", 1, &cfg->notcp, err) != PN_OK ||
        parse_enum(&u, "noudp", 1, &cfg->noudp, err) != PN_OK)
        goto fail;
    if (parse_enum(&u, "proxy", 2, &cfg->proxy, err) != PN_OK)
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
    if (cfg->tls == 2 && (cfg->crt == NULL || *cfg->crt == '\0')) {
        pn_err_set(err, "crt: tls=2 needs crt=<certificate PEM file>");
        goto fail;
    }
    if (cfg->tls == 2 && (cfg->crt_key == NULL || *cfg->crt_key == '\0')) {
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
    static const struct { const char *name; size_t off; uint64_t min; } vars[] = {
        { "POSTERN_REPORT_INTERVAL", offsetof(pn_config_t, report_ms), 100 },
        { "POSTERN_FALLBACK_INTERVAL", offsetof(pn_config_t, fallback_ms), 0 },
        { "POSTERN_DIAL_TIMEOUT", offsetof(pn_config_t, dial_timeout_ms), 1 },
        { "POSTERN_HANDSHAKE_TIMEOUT", offsetof(pn_config_t, handshake_ms), 1 },
        { "POSTERN_POOL_WAIT", offsetof(pn_config_t, pool_wait_ms), 1 },
        { "POSTERN_BACKOFF_MAX", offsetof(pn_config_t, backoff_max_ms), 1000 },
        { "POSTERN_UDP_IDLE", offsetof(pn_config_t, udp_idle_ms), 100 },
    };
    const char *dns = get("POSTERN_DNS_SERVER");
    if (dns != NULL && *dns != '\0') {
        xfree(cfg->dns_server);
        cfg->dns_server = xstrdup(dns);
    }
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *s = get(vars[i].name);
        uint64_t ms;
        if (s == NULL || *s == '\0')
            continue;
        if (pn_duration_parse(s, &ms) != PN_OK || ms < vars[i].min)
            return pn_err_set(err, "%s: \"%s\" is not a duration of at least %llums", vars[i].name,
                              s, (unsigned long long)vars[i].min);
        *(uint64_t *)((char *)cfg + vars[i].off) = ms;
    }
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
    xfree(cfg->dial);
    xfree(cfg->dns_server);
    memset(cfg, 0, sizeof(*cfg));
}
