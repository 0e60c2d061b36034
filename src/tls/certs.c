/* tls/certs.c: the certificate folder of tls/certs.h. Each pair is one
 * SSL_CTX (the settings of every postern server context, tls/ctx.h) and the
 * names read from its certificate. A lookup prefers an exact name to a
 * wildcard, and among equals the pair whose base name sorts first. */
#include "tls/certs.h"
#include "tls/ctx.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CERTS_MAX 4096              /* pairs read from one folder */
#define CERT_NAMES_MAX 256          /* names kept per certificate */

struct cert_ent {
    char *base;                     /* owned: the file name without ".crt" */
    struct file_id crt_id, key_id;  /* the files as loaded */
    SSL_CTX *ctx;                   /* owned reference */
    char **names;                   /* owned, lower case */
    size_t nnames;
};

struct pn_tls_certs {
    char *dir;                      /* owned */
    struct cert_ent *e;             /* owned array of <n>, sorted by base */
    size_t n;
    uint64_t reload_ms;             /* the folder is looked at this often at most */
    uint64_t next_check_ms;
};

int
pn_tls_name_match(const char *pattern, const char *name)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(name, '.');
        if (dot == NULL || dot == name || dot[1] == '\0')
            return 0;
        return strcasecmp(pattern + 1, dot) == 0;
    }
    return strcasecmp(pattern, name) == 0;
}

static void
ent_clear(struct cert_ent *e)
{
    free(e->base);
    SSL_CTX_free(e->ctx);
    for (size_t i = 0; i < e->nnames; i++)
        free(e->names[i]);
    free(e->names);
    memset(e, 0, sizeof(*e));
}

static void
names_add(struct cert_ent *e, const char *s, size_t len)
{
    if (len == 0 || len > 253 || e->nnames >= CERT_NAMES_MAX || memchr(s, '\0', len) != NULL)
        return;
    char *n = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        n[i] = (char)tolower((unsigned char)s[i]);
    n[len] = '\0';
    e->names = xrealloc(e->names, (e->nnames + 1) * sizeof(*e->names));
    e->names[e->nnames++] = n;
}

/* The DNS names of <x>: its subjectAltNames, else its subject's CN. */
static void
names_read(struct cert_ent *e, X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            names_add(e, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                      (size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
    if (e->nnames == 0) {
        X509_NAME *sn = X509_get_subject_name(x);
        int i = sn != NULL ? X509_NAME_get_index_by_NID(sn, NID_commonName, -1) : -1;
        if (i >= 0) {
            ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(sn, i));
            names_add(e, (const char *)ASN1_STRING_get0_data(d), (size_t)ASN1_STRING_length(d));
        }
    }
    ERR_clear_error();
}

/* ALPN of a terminating hub: "h2" when the client offers it, else
 * "http/1.1" when offered, else none (an HTTP/1.1 client without ALPN). */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned inlen, void *arg)
{
    static const unsigned char h2[] = "h2", h11[] = "http/1.1";
    const unsigned char *found = NULL;
    for (unsigned i = 0; i < inlen && i + 1 + in[i] <= inlen; i += 1 + in[i]) {
        if (in[i] == 2 && memcmp(in + i + 1, h2, 2) == 0) {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
        if (in[i] == 8 && memcmp(in + i + 1, h11, 8) == 0)
            found = in + i + 1;
    }
    if (found == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    *out = found;
    *outlen = 8;
    return SSL_TLSEXT_ERR_OK;
}

/* Load the pair <base> of <dir> into <e>: PN_OK, or PN_ERR with <err>. */
static int
ent_load(const char *dir, const char *base, struct cert_ent *e, char *err)
{
    char crt[4096], key[4096];
    memset(e, 0, sizeof(*e));
    snprintf(crt, sizeof(crt), "%s/%s.crt", dir, base);
    snprintf(key, sizeof(key), "%s/%s.key", dir, base);
    pn_tls_file_id_get(crt, &e->crt_id);
    pn_tls_file_id_get(key, &e->key_id);
    e->ctx = pn_tls_files_ctx_build(crt, key, err);
    if (e->ctx == NULL)
        return PN_ERR;
    e->base = xstrdup(base);
    SSL_CTX_set_alpn_select_cb(e->ctx, alpn_select, NULL);
    names_read(e, SSL_CTX_get0_certificate(e->ctx));
    if (e->nnames == 0) {
        pn_err_set(err, "crt: %s names no host (no DNS subjectAltName, no CN)", crt);
        ent_clear(e);
        return PN_ERR;
    }
    return PN_OK;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The base names of the pairs of <dir> (sorted, owned): every "<b>.crt"
 * beside a "<b>.key". -1 with <err> when the folder cannot be read. */
static ssize_t
scan(const char *dir, char ***out, char *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return pn_err_set(err, "certs: cannot read the folder %s: %s", dir, strerror(errno));
    char **v = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < CERTS_MAX) {
        size_t len = strlen(de->d_name);
        if (len <= 4 || de->d_name[0] == '.' || strcmp(de->d_name + len - 4, ".crt") != 0)
            continue;
        char key[4096];
        struct file_id id;
        snprintf(key, sizeof(key), "%s/%.*s.key", dir, (int)(len - 4), de->d_name);
        pn_tls_file_id_get(key, &id);
        if (!id.ok)
            continue;
        v = xrealloc(v, (n + 1) * sizeof(*v));
        v[n] = xstrdup(de->d_name);
        v[n][len - 4] = '\0';
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(v, n, sizeof(*v), cmp_str);
    *out = v;
    return (ssize_t)n;
}

static struct cert_ent *
ent_find(pn_tls_certs_t *c, const char *base)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].base != NULL && strcmp(c->e[i].base, base) == 0)
            return &c->e[i];
    return NULL;
}

/* Read the folder again into a new table. At start (<strict>), a pair that
 * fails fails the whole; later it keeps its old entry (or is left out). */
static int
certs_load(pn_tls_certs_t *c, int strict, char *err)
{
    char **bases = NULL;
    ssize_t nb = scan(c->dir, &bases, err);
    if (nb < 0)
        return PN_ERR;
    struct cert_ent *v = nb > 0 ? xcalloc((size_t)nb * sizeof(*v)) : NULL;
    size_t n = 0;
    int rc = PN_OK;
    for (ssize_t i = 0; i < nb; i++) {
        struct cert_ent *old = ent_find(c, bases[i]);
        char crt[4096], key[4096], why[PN_ERR_LEN];
        struct file_id cid, kid;
        snprintf(crt, sizeof(crt), "%s/%s.crt", c->dir, bases[i]);
        snprintf(key, sizeof(key), "%s/%s.key", c->dir, bases[i]);
        pn_tls_file_id_get(crt, &cid);
        pn_tls_file_id_get(key, &kid);
        if (old != NULL && pn_tls_file_id_eq(&cid, &old->crt_id) &&
            pn_tls_file_id_eq(&kid, &old->key_id)) {
            v[n] = *old;            /* moved: the old table lets go of it below */
            memset(old, 0, sizeof(*old));
            n++;
            continue;
        }
        if (ent_load(c->dir, bases[i], &v[n], why) == PN_OK) {
            if (!strict)
                log_info("tls: certs: %s %s (%s%s)", old ? "reloaded" : "added", crt,
                         v[n].names[0], v[n].nnames > 1 ? ", ..." : "");
            n++;
            continue;
        }
        if (strict) {
            pn_err_set(err, "certs: %s", why);
            rc = PN_ERR;
            n++;                    /* cleared below with the rest */
            break;
        }
        log_warn("tls: certs: %s%s", why, old ? "; keeping the previous certificate" : "");
        if (old != NULL) {
            v[n++] = *old;
            memset(old, 0, sizeof(*old));
        }
    }
    for (ssize_t i = 0; i < nb; i++)
        free(bases[i]);
    free(bases);
    if (rc != PN_OK) {
        for (size_t i = 0; i < n; i++)
            ent_clear(&v[i]);
        free(v);
        return rc;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].base != NULL) {
            log_info("tls: certs: %s/%s.crt removed", c->dir, c->e[i].base);
            ent_clear(&c->e[i]);
        }
    }
    free(c->e);
    c->e = v;
    c->n = n;
    return PN_OK;
}

pn_tls_certs_t *
pn_tls_certs_new(const char *dir, uint64_t reload_ms, char *err)
{
    pn_tls_certs_t *c = xcalloc(sizeof(*c));
    c->dir = xstrdup(dir);
    c->reload_ms = reload_ms;
    c->next_check_ms = pn_now_ms() + reload_ms;
    ERR_clear_error();
    if (certs_load(c, 1, err) != PN_OK) {
        pn_tls_certs_free(c);
        return NULL;
    }
    return c;
}

void
pn_tls_certs_reload(pn_tls_certs_t *c)
{
    char err[PN_ERR_LEN];
    c->next_check_ms = pn_now_ms() + c->reload_ms;
    if (certs_load(c, 0, err) != PN_OK)
        log_warn("tls: certs: keeping the certificates loaded before: %s", err);
}

static void
maybe_reload(pn_tls_certs_t *c)
{
    if (pn_now_ms() >= c->next_check_ms)
        pn_tls_certs_reload(c);
}

/* The context for <name>: an exact name first, then a wildcard. */
static SSL_CTX *
certs_find(pn_tls_certs_t *c, const char *name)
{
    for (int wild = 0; wild < 2; wild++)
        for (size_t i = 0; i < c->n; i++)
            for (size_t j = 0; j < c->e[i].nnames; j++) {
                const char *p = c->e[i].names[j];
                if ((p[0] == '*') == wild && pn_tls_name_match(p, name))
                    return c->e[i].ctx;
            }
    return NULL;
}

int
pn_tls_certs_has(pn_tls_certs_t *c, const char *name)
{
    maybe_reload(c);
    return certs_find(c, name) != NULL;
}

SSL *
pn_tls_certs_ssl(pn_tls_certs_t *c, const char *name)
{
    maybe_reload(c);
    SSL_CTX *ctx = certs_find(c, name);
    SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;
    if (ssl == NULL) {
        ERR_clear_error();
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

size_t
pn_tls_certs_count(const pn_tls_certs_t *c)
{
    return c->n;
}

void
pn_tls_certs_free_(pn_tls_certs_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        ent_clear(&c->e[i]);
    free(c->e);
    free(c->dir);
    free(c);
}
