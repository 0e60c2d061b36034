/* modes/hub_rules.c: an http route's rules (modes/hub_rules.h). The request
 * is read with route/http_acl.h; the password check is SHA-256 of the salt
 * and the password given, compared in constant time with the route's hash (the
 * user name too), so neither a wrong user nor a wrong password answers sooner. */
#include "modes/hub_rules.h"
#include "conf/users.h"
#include "core/err.h"
#include "core/mem.h"
#include "route/http_acl.h"
#include "tls/digest.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hrules {
    char host_header[PN_ROUTE_HOST_MAX + 1];    /* "" = as the user sent it */
    char auth_spec[PN_ROUTE_AUTH_MAX + 1];      /* as asked, to compare members */
    char allow_spec[PN_ROUTE_ALLOW_MAX + 1];
    int redirect;
    int h2c;                                    /* the service speaks HTTP/2 (h2c) */
    int has_auth;
    pn_http_auth_t auth;
    pn_cidr_t *allow;                           /* owned, NULL = any client */
    size_t nallow;
};

int
hub_rules_key(const char *host, const pn_frame_route_t *m, char *key, size_t cap, char *err)
{
    if (m->path[0] != '\0' && m->type != PN_RT_HTTP)
        return pn_err_set(err, "path= is only for http routes");
    if (m->path[0] != '\0' && !pn_http_path_ok(m->path))
        return pn_err_set(err, "the path is not valid");
    int n = snprintf(key, cap, "%s%s", host, strcmp(m->path, "/") == 0 ? "" : m->path);
    if (n < 0 || (size_t)n >= cap)
        return pn_err_set(err, "the host and path are too long");
    return PN_OK;
}

static int
wants_rules(const pn_frame_route_t *m)
{
    return m->host_header[0] || m->auth[0] || m->allow[0] || m->redirect || m->h2c;
}

int
hub_rules_set(struct hroute *r, const pn_frame_route_t *m, char *err)
{
    hub_rules_free(r);
    if (!wants_rules(m))
        return PN_OK;
    if (m->type != PN_RT_HTTP)
        return pn_err_set(err, "host_header, auth, allow, redirect and h2c are only for http routes");
    struct hrules *q = xcalloc(sizeof(*q));
    snprintf(q->host_header, sizeof(q->host_header), "%s", m->host_header);
    snprintf(q->auth_spec, sizeof(q->auth_spec), "%s", m->auth);
    snprintf(q->allow_spec, sizeof(q->allow_spec), "%s", m->allow);
    q->redirect = m->redirect;
    q->h2c = m->h2c;
    if (m->host_header[0] != '\0' && !pn_http_host_valid(m->host_header))
        goto bad_host;
    if (m->auth[0] != '\0') {
        if (pn_http_auth_parse(m->auth, &q->auth) != 0)
            goto bad_auth;
        q->has_auth = 1;
    }
    if (m->allow[0] != '\0') {
        char list[PN_ROUTE_ALLOW_MAX + 1], sub[PN_ERR_LEN];
        snprintf(list, sizeof(list), "%s", m->allow);
        for (char *c = list; *c; c++)
            if (*c == ';')
                *c = ',';
        if (pn_cidr_list_parse(list, &q->allow, &q->nallow, sub) != PN_OK) {
            free(q);
            return pn_err_set(err, "allow: %s", sub);
        }
    }
    r->rules = q;
    return PN_OK;
bad_host:
    free(q);
    return pn_err_set(err, "host_header is not a host name");
bad_auth:
    free(q);
    return pn_err_set(err, "auth is not <user>:sha256$<salt>$<hash>");
}

int
hub_rules_same(const struct hroute *r, const pn_frame_route_t *m)
{
    const struct hrules *q = r->rules;
    if (q == NULL)
        return !wants_rules(m);
    return strcmp(q->host_header, m->host_header) == 0 && strcmp(q->auth_spec, m->auth) == 0 &&
           strcmp(q->allow_spec, m->allow) == 0 && q->redirect == m->redirect &&
           q->h2c == m->h2c;
}

void
hub_rules_free(struct hroute *r)
{
    if (r->rules == NULL)
        return;
    free(r->rules->allow);
    explicit_bzero(r->rules, sizeof(*r->rules));
    free(r->rules);
    r->rules = NULL;
}

struct hroute *
hub_rules_find(const char *host, const uint8_t *head, size_t len, int *bad,
               hub_rules_lookup_cb lookup, void *ctx)
{
    char raw[PN_ROUTE_PATH_MAX + 64], path[PN_ROUTE_PATH_MAX + 2];
    char key[PN_ROUTE_HOST_MAX + PN_ROUTE_PATH_MAX + 2];
    size_t hl = strlen(host);
    *bad = 0;
    if (pn_http_req_path(head, len, raw, sizeof(raw)) != 0 ||
        pn_http_path_norm(raw, path, sizeof(path)) != 0) {
        *bad = -1;
        return NULL;
    }
    /* Longest first: at each '/' (and the end), the prefix with and without it. */
    memcpy(key, host, hl);
    for (size_t i = strlen(path); i >= 1; i--) {
        if (path[i] != '\0' && path[i] != '/')
            continue;
        for (int with_slash = path[i] == '/'; with_slash >= 0; with_slash--) {
            size_t n = i + (size_t)with_slash;
            if (n > PN_ROUTE_PATH_MAX || (n == 1 && path[0] == '/'))
                continue;
            memcpy(key + hl, path, n);
            key[hl + n] = '\0';
            struct hroute *r = lookup(ctx, key);
            if (r != NULL)
                return r;
        }
    }
    return lookup(ctx, host);
}

static int
peer_allowed(const struct hrules *q, const pn_addr_t *peer)
{
    uint8_t ip[16];
    if (peer->ss.ss_family == AF_INET) {
        memset(ip, 0, 10);
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &((const struct sockaddr_in *)&peer->ss)->sin_addr, 4);
    } else if (peer->ss.ss_family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)&peer->ss)->sin6_addr, 16);
    } else {
        return 0;
    }
    return pn_cidr_match(q->allow, q->nallow, ip);
}

/* Whether the request's Authorization matches <au>, in time independent of
 * where a wrong credential differs. */
static int
auth_ok(const pn_http_auth_t *au, const uint8_t *head, size_t len)
{
    const uint8_t *v;
    size_t vn;
    char user[PN_HTTP_AUTH_USER_MAX + 1], pass[PN_HTTP_AUTH_PASS_MAX + 1];
    char u1[PN_HTTP_AUTH_USER_MAX + 1], u2[PN_HTTP_AUTH_USER_MAX + 1];
    uint8_t buf[PN_HTTP_AUTH_SALT_MAX + PN_HTTP_AUTH_PASS_MAX], d[PN_SHA256_LEN];
    if (!pn_http_field(head, len, "authorization", &v, &vn) ||
        pn_http_basic_decode(v, vn, user, pass) != 0)
        return 0;
    memset(u1, 0, sizeof(u1));
    memset(u2, 0, sizeof(u2));
    memcpy(u1, user, strlen(user));
    memcpy(u2, au->user, strlen(au->user));
    size_t pl = strlen(pass);
    memcpy(buf, au->salt, au->salt_len);
    memcpy(buf + au->salt_len, pass, pl);
    pn_sha256(buf, au->salt_len + pl, d);
    int hash_ok = pn_memeq_ct(d, au->hash, sizeof(d)) == 0;
    int user_ok = pn_memeq_ct(u1, u2, sizeof(u1)) == 0;
    int ok = hash_ok & user_ok;     /* both compared, whichever fails */
    explicit_bzero(pass, sizeof(pass));
    explicit_bzero(buf, sizeof(buf));
    return ok;
}

/* The https:// address of this request: Location of the redirect. */
static void
redirect_field(const struct hroute *r, const uint8_t *head, size_t len, hub_verdict_t *v)
{
    const struct hub *h = r->hub;
    const char *port = h->cfg->https_listen ? strrchr(h->cfg->https_listen, ':') : NULL;
    const uint8_t *t = memchr(head, ' ', len), *e;
    char host[PN_ROUTE_HOST_MAX + 1];
    snprintf(host, sizeof(host), "%.*s", (int)strcspn(r->host, "/"), r->host);
    if (t == NULL || (e = memchr(t + 1, ' ', len - (size_t)(t + 1 - head))) == NULL ||
        t[1] != '/') {
        v->status = 400;
        snprintf(v->detail, sizeof(v->detail), "bad request");
        return;
    }
    size_t tn = (size_t)(e - t - 1);
    int n = snprintf(v->field, sizeof(v->field), "Location: https://%s%s%.*s", host,
                     port != NULL && strcmp(port, ":443") != 0 ? port : "", (int)tn, t + 1);
    v->status = 308;
    snprintf(v->detail, sizeof(v->detail), "this service is served over https");
    if (n < 0 || (size_t)n >= sizeof(v->field)) {
        v->status = 414;
        v->field[0] = '\0';
        snprintf(v->detail, sizeof(v->detail), "the address is too long");
    }
}

void
hub_rules_check(const struct hroute *r, const uint8_t *head, size_t len, const pn_addr_t *peer,
                int how, hub_verdict_t *v)
{
    int tls = how & HUB_RULES_TLS;
    const struct hrules *q = r->rules;
    pn_http_auth_t acct_auth;
    const pn_http_auth_t *au = q != NULL && q->has_auth ? &q->auth : NULL;
    memset(v, 0, sizeof(*v));
    /* The account's http_auth guards its routes without auth= of their own. */
    if (au == NULL && r->acct != NULL && r->acct->allow.http_auth != NULL &&
        pn_http_auth_parse(r->acct->allow.http_auth, &acct_auth) == 0)
        au = &acct_auth;
    if (q != NULL && q->allow != NULL && !peer_allowed(q, peer)) {
        v->status = 403;
        snprintf(v->detail, sizeof(v->detail), "your address may not use this service");
        return;
    }
    if (q != NULL && q->redirect && !tls) {
        redirect_field(r, head, len, v);
        return;
    }
    if (au != NULL && !auth_ok(au, head, len)) {
        char host[PN_ROUTE_HOST_MAX + 1];
        snprintf(host, sizeof(host), "%.*s", (int)strcspn(r->host, "/"), r->host);
        v->status = 401;
        snprintf(v->detail, sizeof(v->detail), "this service needs a user name and password");
        snprintf(v->field, sizeof(v->field), "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"",
                 host);
        return;
    }
    if (hub_rules_h2c(r) != ((how & HUB_RULES_H2C) != 0)) {
        v->status = 502;
        snprintf(v->detail, sizeof(v->detail), hub_rules_h2c(r)
                 ? "this service speaks HTTP/2 only: use HTTP/2 over https"
                 : "the route changed: try again");
    }
}

int
hub_rules_h2c(const struct hroute *r)
{
    return r->rules != NULL && r->rules->h2c;
}

void
hub_rules_rewrite(const struct hroute *r, pn_http_rewrite_t *rw)
{
    const struct hrules *q = r->rules;
    rw->drop_auth = (q != NULL && q->has_auth) || (r->acct != NULL && r->acct->allow.http_auth);
    if (q != NULL && q->host_header[0] != '\0')
        rw->host = q->host_header;
}
