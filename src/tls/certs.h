/* tls/certs.h: a folder of certificate and key pairs, chosen by server name
 * (a hub terminating TLS for many names, docs/hub.md §1).
 *
 *   <dir>/<any>.crt + <dir>/<any>.key  ->  the names of the certificate
 *   (its DNS subjectAltNames, else its CN; "*.example.com" covers one label)
 *
 *   name --pn_tls_certs_ssl--> exact name, else "*.<parent>" --> a new SSL
 *
 * The folder is looked at again, at most every reload interval, when an SSL
 * is asked for (and at once on pn_tls_certs_reload, e.g. SIGHUP): a pair
 * whose files changed is read again, a new pair added, a removed one dropped.
 * Connections keep the certificate they started with. ALPN: "h2" when the
 * client offers it, else "http/1.1" when offered. A pair that fails to
 * load at a reload keeps its previous certificate, with a warning. */
#ifndef PN_TLS_CERTS_H
#define PN_TLS_CERTS_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ssl_st SSL;
typedef struct pn_tls_certs pn_tls_certs_t;

/** Load every pair of <dir> (copied). NULL with <err> naming the folder or
 *  the file when the folder cannot be read or a pair does not load. */
pn_tls_certs_t *pn_tls_certs_new(const char *dir, uint64_t reload_ms, char *err);
/** Return a new SSL in accept state (owned by the caller) with the
 *  certificate for <name> (lower case), or NULL when none covers it. May
 *  re-read the folder first (see the header). */
SSL *pn_tls_certs_ssl(pn_tls_certs_t *c, const char *name);
/** 1 when a certificate covers <name>, without making an SSL. */
int pn_tls_certs_has(pn_tls_certs_t *c, const char *name);
/** Re-read the folder now (SIGHUP). Logs what changed. */
void pn_tls_certs_reload(pn_tls_certs_t *c);
/** How many pairs are loaded. */
size_t pn_tls_certs_count(const pn_tls_certs_t *c);
/** Free <c>; SSLs made from it stay valid. NULL is a no-op. */
void pn_tls_certs_free_(pn_tls_certs_t *c);
#define pn_tls_certs_free(p) do { pn_tls_certs_free_(p); (p) = NULL; } while (0)

/** 1 when the certificate name <pattern> ("a.example.com" or
 *  "*.example.com", any case) covers the host <name> (lower case): a
 *  wildcard stands for exactly one non-empty leftmost label. */
int pn_tls_name_match(const char *pattern, const char *name);

#endif
