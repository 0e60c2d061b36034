/* master/mconfig.c: master:// URL and environment to pn_mconfig_t (pure). */
#include "master/mconfig.h"
#include "core/duration.h"
#include "core/mem.h"
#include "core/url.h"

#include <stdio.h>
#include <string.h>

static const char *const master_params[] = { "log", "tls", "crt", "key", "db", NULL };

static int
known_param(const char *k)
{
    for (const char *const *p = master_params; *p; p++)
        if (strcmp(*p, k) == 0)
            return 1;
    return 0;
}

/* A prefix is one or more path segments of [A-Za-z0-9._~-]; "" and "/" keep
 * the default. Written into <out> as "/seg[/seg...]" without a trailing '/'. */
static int
parse_prefix(const char *path, char out[PN_MASTER_PREFIX_MAX + 1], char *err)
{
    size_t n = 0;
    if (path == NULL || *path == '\0' || strcmp(path, "/") == 0) {
        strcpy(out, "/api");
        return PN_OK;
    }
    out[n++] = '/';
    for (const char *p = path; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '~' || c == '-' || c == '/';
        if (!ok)
            return pn_err_set(err, "prefix: \"%s\" may hold only letters, digits, '.', '_', '~', '-' and '/'", path);
        if (c == '/' && (out[n - 1] == '/'))
            return pn_err_set(err, "prefix: \"%s\" has an empty segment", path);
        if (n >= PN_MASTER_PREFIX_MAX)
            return pn_err_set(err, "prefix: longer than %d bytes", PN_MASTER_PREFIX_MAX);
        out[n++] = c;
    }
    if (out[n - 1] == '/')
        n--;
    out[n] = '\0';
    if (strcmp(out, "/assets") == 0 || strncmp(out, "/assets/", 8) == 0)
        return pn_err_set(err, "prefix: \"%s\" is where the dashboard's assets live", path);
    return PN_OK;
}

int
pn_mconfig_parse(const char *url, pn_mconfig_t *cfg, char *err)
{
    pn_url_t u;
    const char *s;
    uint64_t v;

    memset(cfg, 0, sizeof(*cfg));
    cfg->log = LOG_INFO;
    cfg->report_ms = 5000;
    cfg->keepalive_ms = 15000;
    if (pn_url_parse(url, &u, err) != PN_OK) {
        if (strncmp(err, "address", 7) == 0) {
            char sub[PN_ERR_LEN];
            memcpy(sub, err, sizeof(sub));
            pn_err_set(err, "port: %s", sub);
        }
        return PN_ERR;
    }
    if (strcmp(u.scheme, "master") != 0) {
        pn_err_set(err, "scheme: expected master://, not %s://", u.scheme);
        goto fail;
    }
    if (u.user != NULL) {
        /* The API key is made by the master, never written in its URL. */
        pn_err_set(err, "url: master:// takes no <key>@ (the API key is made on the first start)");
        goto fail;
    }
    for (size_t i = 0; i < u.nparams; i++) {
        if (!known_param(u.params[i].key)) {
            pn_err_set(err, "%s: unknown parameter for master://", u.params[i].key);
            goto fail;
        }
    }
    if ((s = pn_url_repeated(&u, NULL)) != NULL) {
        pn_err_set(err, "%s: given more than once (each parameter may appear once)", s);
        goto fail;
    }
    if (u.port == NULL || *u.port == '\0') {
        pn_err_set(err, "port: master:// needs <host>:<port> (e.g. master://:9090)");
        goto fail;
    }
    if (pn_uint_parse(u.port, 1, 65535, &v) != PN_OK) {
        pn_err_set(err, "port: \"%s\" is out of range (expected 1-65535)", u.port);
        goto fail;
    }
    if (parse_prefix(u.path, cfg->prefix, err) != PN_OK)
        goto fail;
    if ((s = pn_url_param(&u, "log")) != NULL && log_level_parse(s, &cfg->log) != PN_OK) {
        pn_err_set(err, "log: unknown level \"%s\" (expected debug, info, warn, error, event or none)", s);
        goto fail;
    }
    if ((s = pn_url_param(&u, "tls")) != NULL) {
        if (pn_uint_parse(s, 0, 2, &v) != PN_OK) {
            pn_err_set(err, "tls: unknown value \"%s\" (expected 0-2)", s);
            goto fail;
        }
        cfg->tls = (int)v;
    }
    s = pn_url_param(&u, "crt");
    cfg->crt = (s && *s) ? xstrdup(s) : NULL;
    s = pn_url_param(&u, "key");
    cfg->key = (s && *s) ? xstrdup(s) : NULL;
    if (cfg->tls == 2 && cfg->crt == NULL) {
        pn_err_set(err, "crt: tls=2 needs crt=<certificate PEM file>");
        goto fail;
    }
    if (cfg->tls == 2 && cfg->key == NULL) {
        pn_err_set(err, "key: tls=2 needs key=<private key PEM file>");
        goto fail;
    }
    if ((s = pn_url_param(&u, "db")) != NULL) {
        if (*s == '\0') {
            pn_err_set(err, "db: empty (expected a file path)");
            goto fail;
        }
        cfg->db = xstrdup(s);
    }
    cfg->host = xstrdup(u.host);
    cfg->port = xstrdup(u.port);
    pn_url_clear(&u);
    return PN_OK;

fail:
    pn_url_clear(&u);
    pn_mconfig_clear(cfg);
    return PN_ERR;
}

static int
env_duration(const char *(*get)(const char *), const char *name, uint64_t min_ms, uint64_t *out,
             char *err)
{
    const char *s = get(name);
    uint64_t ms;
    if (s == NULL || *s == '\0')
        return PN_OK;
    if (pn_duration_parse(s, &ms) != PN_OK || ms < min_ms)
        return pn_err_set(err, "%s: \"%s\" is not a duration of at least %llums (e.g. 5s)", name, s,
                          (unsigned long long)min_ms);
    *out = ms;
    return PN_OK;
}

/* <name>, or NodePass's <alias> for it when <name> is unset or empty. */
static const char *
env_or_alias(const char *(*get)(const char *), const char *name, const char *alias)
{
    const char *s = get(name);
    return s == NULL || *s == '\0' ? alias : name;
}

int
pn_mconfig_apply_env(pn_mconfig_t *cfg, const char *(*get)(const char *name), char *err)
{
    if (env_duration(get, env_or_alias(get, "POSTERN_REPORT_INTERVAL", "NP_REPORT_INTERVAL"), 100,
                     &cfg->report_ms, err) != PN_OK)
        return PN_ERR;
    return env_duration(get, "POSTERN_SSE_KEEPALIVE", 100, &cfg->keepalive_ms, err);
}

void
pn_mconfig_clear(pn_mconfig_t *cfg)
{
    xfree(cfg->host);
    xfree(cfg->port);
    xfree(cfg->crt);
    xfree(cfg->key);
    xfree(cfg->db);
    memset(cfg, 0, sizeof(*cfg));
}

char *
pn_mconfig_default_db(const char *(*get)(const char *name))
{
    const char *base = get("XDG_STATE_HOME");
    const char *tail = "/postern/master.db";
    if (base == NULL || *base == '\0') {
        base = get("HOME");
        tail = "/.local/state/postern/master.db";
    }
    if (base == NULL || *base == '\0')
        return NULL;
    size_t n = strlen(base) + strlen(tail) + 1;
    char *p = xmalloc(n);
    snprintf(p, n, "%s%s", base, tail);
    return p;
}
