/* tls/crypto.c: certificate fingerprints, the keying-material exporter and the
 * two small crypto helpers of tls/tls.h (random bytes, HMAC-SHA256). */
#include "tls/tls.h"
#include "tls/ctx.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <limits.h>
#include <string.h>

static int
cert_fingerprint(const X509 *cert, uint8_t out[PN_TLS_FP_LEN])
{
    unsigned int n = 0;
    if (cert == NULL || X509_digest(cert, EVP_sha256(), out, &n) != 1 || n != PN_TLS_FP_LEN) {
        ERR_clear_error();
        return PN_ERR;
    }
    return PN_OK;
}

/* Copy into <out> the SHA-256 of the DER certificate <c> serves now (the last
 * successfully loaded one for a files context; no reload check is made).
 * PN_ERR for contexts without a certificate. */
int
pn_tls_ctx_fingerprint(pn_tls_ctx_t *c, uint8_t out[PN_TLS_FP_LEN])
{
    return cert_fingerprint(SSL_CTX_get0_certificate(c->ctx), out);
}

/* Copy into <out> the SHA-256 of the DER certificate the peer of <ssl>
 * presented; PN_ERR when it presented none (PSK, or before the handshake). */
int
pn_tls_peer_fingerprint(SSL *ssl, uint8_t out[PN_TLS_FP_LEN])
{
    return cert_fingerprint(SSL_get0_peer_certificate(ssl), out);
}

/* Write <fp> into <out> as 32 upper-case hex pairs joined by ':' (95 characters
 * and a NUL). */
void
pn_tls_fp_hex(const uint8_t fp[PN_TLS_FP_LEN], char out[PN_TLS_FP_HEXLEN])
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < PN_TLS_FP_LEN; i++) {
        out[i * 3] = hex[fp[i] >> 4];
        out[i * 3 + 1] = hex[fp[i] & 0xf];
        out[i * 3 + 2] = ':';
    }
    out[PN_TLS_FP_HEXLEN - 1] = '\0';
}

/* Fill <out> with <len> bytes exported from the established <ssl> under
 * <label> with no context (RFC 8446 section 7.5); both ends get the same bytes.
 * PN_ERR before the handshake completes. */
int
pn_tls_export(SSL *ssl, const char *label, uint8_t *out, size_t len)
{
    if (SSL_export_keying_material(ssl, out, len, label, strlen(label), NULL, 0, 0) != 1) {
        ERR_clear_error();
        return PN_ERR;
    }
    return PN_OK;
}

/* ---- crypto helpers -------------------------------------------------------- */

/* Fill <out> with <len> bytes from OpenSSL's CSPRNG; PN_OK or PN_ERR. */
int
pn_random(void *out, size_t len)
{
    unsigned char *p = out;
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(p, n) != 1) {
            ERR_clear_error();
            return PN_ERR;
        }
        p += n;
        len -= (size_t)n;
    }
    return PN_OK;
}

/* Write HMAC-SHA256(<key>, <msg>) into <out>. On an OpenSSL failure (out of
 * memory only) <out> is zeroed. */
void
pn_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
               uint8_t out[32])
{
    static const uint8_t empty[1] = { 0 };
    unsigned int n = 0;
    if (keylen > INT_MAX
        || HMAC(EVP_sha256(), keylen ? key : empty, (int)keylen, msglen ? msg : empty, msglen,
                out, &n) == NULL
        || n != 32) {
        memset(out, 0, 32);
        ERR_clear_error();
    }
}

/* ---- a pinned peer certificate (the master's requests to its nodes) ---- */

static int pin_index = -1;

static void
pin_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    OPENSSL_free(ptr);
}

/* The handshake's check: the leaf's SHA-256 is the pinned one (the chain is not
 * looked at: a pin names one certificate, self-signed ones too). */
static int
on_verify_pin(int preverify, X509_STORE_CTX *x)
{
    uint8_t fp[PN_TLS_FP_LEN];
    if (X509_STORE_CTX_get_error_depth(x) != 0)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    const uint8_t *want = ssl ? SSL_get_ex_data(ssl, pin_index) : NULL;
    if (want == NULL || cert_fingerprint(X509_STORE_CTX_get_current_cert(x), fp) != PN_OK)
        return 0;
    if (CRYPTO_memcmp(fp, want, PN_TLS_FP_LEN) != 0) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    X509_STORE_CTX_set_error(x, X509_V_OK);
    return 1;
}

/* Make the handshake of the client <ssl> fail unless the server's certificate
 * has the SHA-256 fingerprint <fp>, checked before any byte of application data
 * leaves. PN_OK or PN_ERR. */
int
pn_tls_ssl_pin(SSL *ssl, const uint8_t fp[PN_TLS_FP_LEN])
{
    if (pin_index < 0)
        pin_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, pin_free);
    uint8_t *copy = pin_index < 0 ? NULL : OPENSSL_memdup(fp, PN_TLS_FP_LEN);
    if (copy == NULL || SSL_set_ex_data(ssl, pin_index, copy) != 1) {
        OPENSSL_free(copy);
        return PN_ERR;
    }
    SSL_set_verify(ssl, SSL_VERIFY_PEER, on_verify_pin);
    return PN_OK;
}
