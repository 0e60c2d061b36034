/* tls/quic_tls.c: the GnuTLS sessions of both ends of a QUIC connection (see
 * quic.h). ngtcp2's crypto helper for GnuTLS does the QUIC side of TLS; this
 * file sets the sessions up: TLS 1.3 only, ALPN PN_QUIC_ALPN mandatory, the
 * server's certificate taken from the data channel's OpenSSL context (PEM, in
 * memory; tls=2: its files), the client's check (a pinned fingerprint, or the
 * chain and name). */
#include "core/mem.h"
#include "tls/ctx.h"
#include "tls/quic_priv.h"
#include "tls/tls.h"

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <openssl/pem.h>

#include <stdio.h>
#include <string.h>

#define QUIC_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:" \
                      "+CHACHA20-POLY1305:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:"           \
                      "+GROUP-SECP384R1:%DISABLE_TLS13_COMPAT_MODE"

/* The certificate and key <c> serves now (or a new self-signed pair) into <cred>. */
int
pn_quic_tls_cred(gnutls_certificate_credentials_t cred, pn_tls_ctx_t *c, char *err)
{
    pn_tls_ctx_t *own = NULL;
    if (c == NULL && (c = own = pn_tls_server_selfsigned(err)) == NULL)
        return -1;
    int rv;
    if (c->kind == TLS_KIND_FILES) {
        rv = gnutls_certificate_set_x509_key_file(cred, c->crt, c->key, GNUTLS_X509_FMT_PEM);
    } else {
        BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
        X509 *x = SSL_CTX_get0_certificate(c->ctx);
        EVP_PKEY *k = SSL_CTX_get0_privatekey(c->ctx);
        rv = -1;
        if (bc != NULL && bk != NULL && x != NULL && k != NULL && PEM_write_bio_X509(bc, x) == 1 &&
            PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL) == 1) {
            char *pc, *pk;
            long lc = BIO_get_mem_data(bc, &pc), lk = BIO_get_mem_data(bk, &pk);
            gnutls_datum_t dc = { (unsigned char *)pc, (unsigned)lc };
            gnutls_datum_t dk = { (unsigned char *)pk, (unsigned)lk };
            rv = gnutls_certificate_set_x509_key_mem(cred, &dc, &dk, GNUTLS_X509_FMT_PEM);
        }
        BIO_free(bc);
        BIO_free_all(bk);
    }
    pn_tls_ctx_free(own);
    if (rv < 0)
        return pn_err_set(err, "quic: cannot load the certificate: %s",
                          rv == -1 ? "no certificate" : gnutls_strerror(rv)), -1;
    return 0;
}

/* --- TLS sessions ---------------------------------------------------------------- */

static ngtcp2_conn *
get_conn(ngtcp2_crypto_conn_ref *ref)
{
    return ((pn_quic_conn_t *)ref->user_data)->c;
}

/* The steps both ends take: TLS 1.3 only, ngtcp2's hooks, ALPN. */
static int
session_common(pn_quic_conn_t *q, gnutls_certificate_credentials_t cred, int server)
{
    gnutls_datum_t alpn = { (unsigned char *)PN_QUIC_ALPN, (unsigned)strlen(PN_QUIC_ALPN) };
    if (gnutls_init(&q->tls, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_ENABLE_EARLY_DATA |
                                GNUTLS_NO_END_OF_EARLY_DATA) != 0) {
        q->tls = NULL;
        return -1;
    }
    if (gnutls_priority_set_direct(q->tls, QUIC_PRIORITY, NULL) != 0 ||
        (server ? ngtcp2_crypto_gnutls_configure_server_session(q->tls)
                : ngtcp2_crypto_gnutls_configure_client_session(q->tls)) != 0 ||
        gnutls_credentials_set(q->tls, GNUTLS_CRD_CERTIFICATE, cred) != 0 ||
        gnutls_alpn_set_protocols(q->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY) != 0)
        return -1;
    q->ref.get_conn = get_conn;
    q->ref.user_data = q;
    gnutls_session_set_ptr(q->tls, &q->ref);
    ngtcp2_conn_set_tls_native_handle(q->c, q->tls);
    return 0;
}

int
pn_quic_tls_server(gnutls_certificate_credentials_t cred, pn_quic_conn_t *q)
{
    return session_common(q, cred, 1) == 0 && pn_quic_resume_srv_session(q) == 0 ? 0 : -1;
}

/* GnuTLS's check of the server's certificate, tls=1: its SHA-256 fingerprint
 * must be the one the control channel carried. */
static int
verify_pin(gnutls_session_t ss)
{
    ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(ss);
    pn_quic_conn_t *q = ref->user_data;
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(ss, &n);
    uint8_t fp[PN_TLS_FP_LEN];
    if (certs == NULL || n == 0 ||
        gnutls_hash_fast(GNUTLS_DIG_SHA256, certs[0].data, certs[0].size, fp) != 0 ||
        pn_memeq_ct(fp, q->pin, PN_TLS_FP_LEN) != 0) {
        snprintf(q->why, sizeof(q->why), "data channel certificate fingerprint mismatch "
                                         "(a man in the middle?)");
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    return 0;
}

int
pn_quic_tls_client(pn_quic_conn_t *q, const pn_quic_client_opts_t *o, char *err)
{
    int rv = gnutls_certificate_allocate_credentials(&q->cred);
    if (rv == 0 && o->verify == 2)
        rv = o->ca != NULL ? gnutls_certificate_set_x509_trust_file(q->cred, o->ca, GNUTLS_X509_FMT_PEM)
                           : gnutls_certificate_set_x509_system_trust(q->cred);
    if (rv < 0 || (o->verify == 2 && rv == 0)) {
        pn_err_set(err, "quic: ca: %s", rv < 0 ? gnutls_strerror(rv) : "no certificate read");
        return -1;
    }
    if (session_common(q, q->cred, 0) != 0) {
        pn_err_set(err, "quic: cannot set a TLS session up");
        return -1;
    }
    /* No IP literal as SNI (RFC 6066 §3): GnuTLS's server refuses "::1" (the handshake failed). */
    if (o->sni != NULL && *o->sni != '\0' && strchr(o->sni, ':') == NULL &&
        strspn(o->sni, "0123456789.") != strlen(o->sni))
        gnutls_server_name_set(q->tls, GNUTLS_NAME_DNS, o->sni, strlen(o->sni));
    q->verify = o->verify;
    if (o->verify == 2) {
        gnutls_session_set_verify_cert(q->tls, o->sni != NULL && *o->sni != '\0' ? o->sni : NULL, 0);
    } else if (o->verify == 1) {
        memcpy(q->pin, o->pin, PN_TLS_FP_LEN);
        gnutls_session_set_verify_function(q->tls, verify_pin);
    }
    pn_quic_resume_offer(q);   /* a ticket of this server and this check, if kept */
    return 0;
}

int
pn_quic_tls_check(pn_quic_conn_t *q)
{
    gnutls_datum_t p;
    if (gnutls_alpn_get_selected_protocol(q->tls, &p) != 0 || p.size != strlen(PN_QUIC_ALPN) ||
        memcmp(p.data, PN_QUIC_ALPN, p.size) != 0) {
        snprintf(q->why, sizeof(q->why), "tls handshake: quic: the server did not choose ALPN "
                                         "%s (not a postern server?)", PN_QUIC_ALPN);
        return -1;
    }
    /* A resumed session shows no certificate (GnuTLS runs no check): the one
     * the ticket's session checked is kept with it, checked again here against
     * the pin, or the trust list and name (set_verify_cert's), of now
     * (quic_resume.c keys tickets by those as well). */
    if (gnutls_session_is_resumed(q->tls) && q->verify == 1 && verify_pin(q->tls) != 0)
        return -1;
    unsigned st = 0;
    if (gnutls_session_is_resumed(q->tls) && q->verify == 2 &&
        (gnutls_certificate_verify_peers2(q->tls, &st) != 0 || st != 0)) {
        snprintf(q->why, sizeof(q->why), "tls handshake: quic: the resumed session's certificate "
                                         "no longer verifies");
        return -1;
    }
    return 0;
}
