/* conf/cluster.c: conf/cluster.h. The Redis URL is split by core/url (its
 * user part is "user:password"); no message echoes the URL or the password. */
#include "conf/cluster.h"
#include "core/duration.h"
#include "core/mem.h"
#include "core/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
pn_cluster_id_check(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > PN_CLUSTER_ID_MAX)
        return PN_ERR;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == ':' || *p == '-'))
            return PN_ERR;
    return PN_OK;
}

/* Split "user:password" (or "password" alone, Redis's default user) into <c>. */
static void
userinfo_split(pn_cluster_conf_t *c, const char *ui)
{
    const char *colon = strchr(ui, ':');
    xfree(c->user);
    if (c->pass != NULL)
        memset(c->pass, 0, strlen(c->pass));
    xfree(c->pass);
    c->user = NULL;
    if (colon == NULL) {
        c->pass = xstrdup(ui);
        return;
    }
    if (colon > ui)
        c->user = xstrndup(ui, (size_t)(colon - ui));
    c->pass = xstrdup(colon + 1);
}

#define SENTINEL_SCHEME "redis-sentinel://"
#define SENTINEL_FORM "cluster: expected redis-sentinel://[user:password@]host:port[,host:port...]" \
    "/<master name>[/db]"

/* One Sentinel "host:port" or "[v6]:port" (<n> bytes at <s>) into <c>. */
static int
sentinel_add(pn_cluster_conf_t *c, const char *s, size_t n, char *err)
{
    uint64_t v;
    const char *colon = n > 0 ? memrchr(s, ':', n) : NULL;
    const char *h = s;
    size_t hn = colon != NULL ? (size_t)(colon - s) : 0;
    char port[8];
    if (colon == NULL || hn == 0 || n - hn - 1 == 0 || n - hn - 1 >= sizeof(port))
        return pn_err_set(err, "cluster: each Sentinel needs a host and a port (host:port)");
    memcpy(port, colon + 1, n - hn - 1);
    port[n - hn - 1] = '\0';
    if (pn_uint_parse(port, 1, 65535, &v) != PN_OK)
        return pn_err_set(err, "cluster: a Sentinel's port must be in 1-65535");
    if (h[0] == '[') {
        if (hn < 3 || h[hn - 1] != ']')
            return pn_err_set(err, "cluster: an IPv6 Sentinel is written [address]:port");
        h++;
        hn -= 2;
    }
    if (memchr(h, '[', hn) != NULL || memchr(h, ']', hn) != NULL || memchr(h, '@', hn) != NULL)
        return pn_err_set(err, SENTINEL_FORM);
    if (c->nsentinels == (size_t)PN_CLUSTER_SENTINELS_MAX)
        return pn_err_set(err, "cluster: at most %d Sentinels", PN_CLUSTER_SENTINELS_MAX);
    c->sentinel_host[c->nsentinels] = xstrndup(h, hn);
    c->sentinel_port[c->nsentinels++] = xstrdup(port);
    return PN_OK;
}

/* redis-sentinel://[user:password@]host:port[,host:port...]/<master>[/db] into <c>. */
static int
sentinel_parse(const char *url, pn_cluster_conf_t *c, char *err)
{
    uint64_t v;
    const char *p = url + strlen(SENTINEL_SCHEME), *at = strrchr(p, '@');
    if (at != NULL) {
        char *ui = xstrndup(p, (size_t)(at - p));
        if (pn_percent_decode_plain(ui) != PN_OK) {
            memset(ui, 0, strlen(ui));
            free(ui);
            return pn_err_set(err, "cluster: a bad percent escape in the user or password");
        }
        if (ui[0] != '\0')
            userinfo_split(c, ui);
        memset(ui, 0, strlen(ui));
        free(ui);
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    if (slash == NULL || slash == p || slash[-1] == ',')
        return pn_err_set(err, SENTINEL_FORM);
    for (const char *s = p; s < slash;) {
        const char *e = memchr(s, ',', (size_t)(slash - s));
        e = e != NULL ? e : slash;
        if (sentinel_add(c, s, (size_t)(e - s), err) != PN_OK)
            return PN_ERR;
        s = e + (e < slash);
    }
    const char *name = slash + 1, *end = strchr(name, '/');
    size_t nn = end != NULL ? (size_t)(end - name) : strlen(name);
    if (nn == 0 || nn > PN_CLUSTER_MASTER_MAX || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                        "abcdefghijklmnopqrstuvwxyz0123456789._-") < nn)
        return pn_err_set(err, "cluster: the Sentinel master name after '/' must be 1-%d of "
                          "A-Z a-z 0-9 . _ -", PN_CLUSTER_MASTER_MAX);
    if (end != NULL && pn_uint_parse(end + 1, 0, 15, &v) != PN_OK)
        return pn_err_set(err, "cluster: the database after the master name must be a number in 0-15");
    c->db = end != NULL ? (unsigned)v : 0;
    c->master = xstrndup(name, nn);
    c->host = xstrdup(c->sentinel_host[0]);
    c->port = xstrdup(c->sentinel_port[0]);
    return PN_OK;
}

/* Parse the cluster= value <url> into <c>: see conf/cluster.h. */
int
pn_cluster_conf_parse(const char *url, pn_cluster_conf_t *c, char *err)
{
    pn_url_t u;
    uint64_t v;
    memset(c, 0, sizeof(*c));
    if (strncmp(url, SENTINEL_SCHEME, strlen(SENTINEL_SCHEME)) == 0) {
        if (sentinel_parse(url, c, err) == PN_OK)
            return PN_OK;
        pn_cluster_conf_clear(c);
        return PN_ERR;
    }
    if (strncmp(url, "rediss://", 9) == 0)
        return pn_err_set(err, "cluster: rediss:// (Redis over TLS) is not supported: this build's "
                          "hiredis (0.14) has no TLS; reach Redis over a private network or a "
                          "TLS tunnel and name it redis://");
    if (strncmp(url, "redis://", 8) != 0 || pn_url_parse(url, &u, err) != PN_OK)
        return pn_err_set(err, "cluster: expected redis://[user:password@]host:port[/db] or "
                          "redis-sentinel://...");
    int rc = PN_ERR;
    if (u.host[0] == '\0' || u.port == NULL || pn_uint_parse(u.port, 1, 65535, &v) != PN_OK) {
        pn_err_set(err, "cluster: the Redis address needs a host and a port in 1-65535");
        goto out;
    }
    if (u.nparams != 0) {
        pn_err_set(err, "cluster: the Redis URL takes no parameters (percent-encode its '&' and '?')");
        goto out;
    }
    if (u.path != NULL && u.path[0] != '\0' && pn_uint_parse(u.path, 0, 15, &v) != PN_OK) {
        pn_err_set(err, "cluster: the database after '/' must be a number in 0-15");
        goto out;
    }
    c->db = u.path != NULL && u.path[0] != '\0' ? (unsigned)v : 0;
    c->host = xstrdup(u.host);
    c->port = xstrdup(u.port);
    if (u.user != NULL && u.user[0] != '\0')
        userinfo_split(c, u.user);
    rc = PN_OK;
out:
    if (u.user != NULL)
        memset(u.user, 0, strlen(u.user));
    pn_url_clear(&u);
    if (rc != PN_OK)
        pn_cluster_conf_clear(c);
    return rc;
}

/* The first line of <path> (no line end) into <line> (<cap> bytes); PN_ERR
 * with <err> naming <what> when unreadable or longer than PN_CLUSTER_SECRET_MAX. */
static int
read_line(const char *path, const char *what, char *line, size_t cap, char *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return pn_err_set(err, "%s: cannot read %s", what, path);
    size_t n = fread(line, 1, cap - 1, f);
    fclose(f);
    line[n] = '\0';
    if (n > PN_CLUSTER_SECRET_MAX) {
        memset(line, 0, cap);
        return pn_err_set(err, "%s: %s is over %d bytes", what, path, PN_CLUSTER_SECRET_MAX);
    }
    line[strcspn(line, "\r\n")] = '\0';
    return PN_OK;
}

/* Fill <c>'s password from the environment or the cluster_auth= file: see conf/cluster.h. */
int
pn_cluster_secret_load(pn_cluster_conf_t *c, const char *(*get)(const char *name), char *err)
{
    char line[PN_CLUSTER_SECRET_MAX + 2];
    const char *env = get("POSTERN_CLUSTER_PASSWORD");
    if (c->pass != NULL)
        return PN_OK;
    if (env != NULL && *env != '\0') {
        c->pass = xstrdup(env);
        return PN_OK;
    }
    if (c->auth_file == NULL)
        return PN_OK;
    if (read_line(c->auth_file, "cluster_auth", line, sizeof(line), err) != PN_OK)
        return PN_ERR;
    if (line[0] == '\0')
        return pn_err_set(err, "cluster_auth: %s holds no password", c->auth_file);
    userinfo_split(c, line);
    memset(line, 0, sizeof(line));
    return PN_OK;
}

/* Load the hub-to-hub secret: see conf/cluster.h. */
int
pn_cluster_link_secret_load(pn_cluster_conf_t *c, const char *(*get)(const char *name), char *err)
{
    char line[PN_CLUSTER_SECRET_MAX + 2];
    const char *env = get("POSTERN_CLUSTER_SECRET");
    if (c->peer == NULL)
        return PN_OK;
    if (env != NULL && *env != '\0') {
        snprintf(line, sizeof(line), "%s", env);
    } else if (c->secret_file != NULL) {
        if (read_line(c->secret_file, "cluster_secret", line, sizeof(line), err) != PN_OK)
            return PN_ERR;
    } else {
        return pn_err_set(err, "peer: hub-to-hub links need the cluster secret "
                          "(cluster_secret=<file> or POSTERN_CLUSTER_SECRET)");
    }
    size_t n = strlen(line);
    if (n < 16 || n > PN_CLUSTER_SECRET_MAX) {
        memset(line, 0, sizeof(line));
        return pn_err_set(err, "cluster_secret: the secret must be 16-%d bytes on one line",
                          PN_CLUSTER_SECRET_MAX);
    }
    c->secret = xstrdup(line);
    memset(line, 0, sizeof(line));
    return PN_OK;
}

void
pn_cluster_conf_clear(pn_cluster_conf_t *c)
{
    if (c->secret != NULL)
        memset(c->secret, 0, strlen(c->secret));
    xfree(c->secret);
    xfree(c->secret_file);
    if (c->pass != NULL)
        memset(c->pass, 0, strlen(c->pass));
    xfree(c->pass);
    xfree(c->user);
    xfree(c->host);
    xfree(c->port);
    xfree(c->master);
    for (size_t i = 0; i < c->nsentinels; i++) {
        xfree(c->sentinel_host[i]);
        xfree(c->sentinel_port[i]);
    }
    xfree(c->auth_file);
    xfree(c->id);
    xfree(c->peer);
    memset(c, 0, sizeof(*c));
}
