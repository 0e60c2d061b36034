/* tls/psk.c: the TLS 1.3 external-PSK contexts of tls/tls.h (control channel,
 * hub accounts): psk_dhe_ke, no certificates, the key and identity kept on the
 * SSL_CTX. */
#include "tls/tls.h"
#include "tls/ctx.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <stdio.h>
#include <string.h>

#define TLS_PSK_IDENTITY "postern/1"        /* PSK identity: a label, not a secret */
#define TLS_PSK_ID_MAX 64                   /* bytes of an identity we offer or take */
#define TLS_PSK_MIN 16                      /* bytes */
#define TLS_PSK_MAX SSL_MAX_MASTER_KEY_LENGTH

/* The PSK lives on the SSL_CTX (ex_data, freed and cleansed with it) rather than
 * in pn_tls_ctx: an SSL may outlive pn_tls_ctx_free() and still run its
 * handshake callbacks. */
struct psk_key {
    size_t len;                     /* bytes used in key */
    uint8_t key[TLS_PSK_MAX];
    char id[TLS_PSK_ID_MAX + 1];    /* the identity offered (client) or the only one taken (server) */
    pn_tls_psk_lookup_cb lookup;    /* server, hub: the key of an identity, else NULL */
    void *lookup_ctx;               /* borrowed; outlives every SSL of the context */
};

static CRYPTO_ONCE psk_once = CRYPTO_ONCE_STATIC_INIT;
static int psk_index = -1;          /* SSL_CTX ex_data slot of the struct psk_key */
static int psk_id_index = -1;       /* SSL ex_data slot: the identity a server accepted (char *) */

/* TLS_AES_128_GCM_SHA256, as on the wire. */
static const unsigned char psk_suite_id[2] = { 0x13, 0x01 };

static void
psk_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    OPENSSL_clear_free(ptr, sizeof(struct psk_key));
}

static void
psk_id_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    OPENSSL_free(ptr);
}

static void
psk_index_init(void)
{
    psk_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, psk_ex_free);
    psk_id_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, psk_id_free);
}

/* Build the session that carries the PSK <key> (<len> bytes) into the handshake
 * (owned by OpenSSL once handed over by a callback). */
static SSL_SESSION *
psk_session_of(SSL *ssl, const uint8_t *key, size_t len)
{
    const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, psk_suite_id);
    SSL_SESSION *s = SSL_SESSION_new();
    if (cipher == NULL || s == NULL
        || SSL_SESSION_set1_master_key(s, key, len) != 1
        || SSL_SESSION_set_cipher(s, cipher) != 1
        || SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
        SSL_SESSION_free(s);
        return NULL;
    }
    return s;
}

static const struct psk_key *
psk_key_of(SSL *ssl)
{
    return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), psk_index);
}

/* Client: offer the PSK. A second call after a HelloRetryRequest passes the
 * digest the server chose; the PSK is SHA-256 bound, so offer nothing if that
 * differs (the handshake then fails: no certificate is accepted). */
static int
psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
           SSL_SESSION **sess)
{
    const struct psk_key *k = psk_key_of(ssl);
    *sess = NULL;
    *id = NULL;
    *idlen = 0;
    if (md != NULL && EVP_MD_get_type(md) != NID_sha256)
        return 1;
    SSL_SESSION *s = k != NULL ? psk_session_of(ssl, k->key, k->len) : NULL;
    if (s == NULL)
        return 0;
    *sess = s;
    *id = (const unsigned char *)k->id;
    *idlen = strlen(k->id);
    return 1;
}

/* Server: accept our identity only, or, for a hub, any identity its lookup
 * knows (the identity is then kept on the SSL for pn_tls_psk_identity). An
 * unknown identity gets no PSK, and as the server has no certificate the
 * handshake then fails. A wrong key fails the binder check inside OpenSSL
 * ("binder does not verify"). */
static int
psk_find_cb(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
    const struct psk_key *k = psk_key_of(ssl);
    uint8_t key[TLS_PSK_MAX];
    char name[TLS_PSK_ID_MAX + 1];
    *sess = NULL;
    if (k == NULL || idlen == 0 || idlen > TLS_PSK_ID_MAX)
        return 1;
    if (k->lookup == NULL) {
        if (idlen != strlen(k->id) || memcmp(id, k->id, idlen) != 0)
            return 1;
        *sess = psk_session_of(ssl, k->key, k->len);
        return *sess != NULL;
    }
    memcpy(name, id, idlen);
    name[idlen] = '\0';
    if (strlen(name) != idlen || k->lookup(name, key, k->lookup_ctx) != 0)
        return 1;
    *sess = psk_session_of(ssl, key, TUN_HUB_PSK_LEN);
    OPENSSL_cleanse(key, sizeof(key));
    if (*sess == NULL)
        return 0;
    char *kept = OPENSSL_strdup(name);
    if (kept == NULL || SSL_set_ex_data(ssl, psk_id_index, kept) != 1) {
        OPENSSL_free(kept);
        SSL_SESSION_free(*sess);
        *sess = NULL;
        return 0;
    }
    return 1;
}

/* SSL_CTXs made ahead by pn_tls_psk_prepare(), taken by the next context of
 * their side: [0] client, [1] server. */
static SSL_CTX *psk_spare[2];

/* The SSL_CTX of a PSK context of <server> or client side, without its key. */
static SSL_CTX *
psk_ssl_ctx_new(int server, char *err)
{
    SSL_CTX *ctx = pn_tls_ssl_ctx_new(server ? TLS_server_method() : TLS_client_method(), err);
    if (ctx == NULL)
        return NULL;
    /* The PSK session is bound to a SHA-256 suite, so only SHA-256 suites may
     * be negotiated: a server picking TLS_AES_256_GCM_SHA384 would skip the PSK. */
    if (SSL_CTX_set_ciphersuites(ctx, pn_tls_suites(1)) != 1) {
        pn_err_set(err, "psk: cannot set the cipher suites: %s", pn_tls_ossl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* One PSK handshake between two throw-away contexts, in memory: OpenSSL
 * builds and caches every algorithm a control channel uses. */
static void
psk_warm_handshake(void)
{
    char err[PN_ERR_LEN];
    uint8_t key[TLS_PSK_MIN];
    memset(key, 0x5a, sizeof(key));
    pn_tls_ctx_t *sc = pn_tls_psk_new(1, key, sizeof(key), err);
    pn_tls_ctx_t *cc = pn_tls_psk_new(0, key, sizeof(key), err);
    SSL *ss = NULL, *cs = NULL;
    BIO *sb = NULL, *cb = NULL;
    if (sc != NULL && cc != NULL && (ss = SSL_new(sc->ctx)) != NULL &&
        (cs = SSL_new(cc->ctx)) != NULL && BIO_new_bio_pair(&sb, 0, &cb, 0) == 1) {
        SSL_set_bio(ss, sb, sb);
        SSL_set_bio(cs, cb, cb);
        SSL_set_accept_state(ss);
        SSL_set_connect_state(cs);
        for (int i = 0; i < 8 && !(SSL_is_init_finished(ss) && SSL_is_init_finished(cs)); i++) {
            SSL_do_handshake(cs);
            SSL_do_handshake(ss);
        }
    }
    SSL_free(ss);
    SSL_free(cs);
    pn_tls_ctx_free(sc);
    pn_tls_ctx_free(cc);
}

void
pn_tls_psk_prepare(void)
{
    char err[PN_ERR_LEN];
    psk_warm_handshake();
    for (int server = 0; server < 2; server++)
        if (psk_spare[server] == NULL)
            psk_spare[server] = psk_ssl_ctx_new(server, err);
    ERR_clear_error();
}

/* The PSK context of <server> or client side: <psk> (<len> bytes) and the
 * identity <id>, or (server) the <lookup> that finds a key by identity. */
static pn_tls_ctx_t *
psk_ctx_new(int server, const uint8_t *psk, size_t len, const char *id,
            pn_tls_psk_lookup_cb lookup, void *lookup_ctx, char *err)
{
    pn_tls_ctx_t *c = pn_tls_ctx_alloc(server ? TLS_KIND_PSK_SERVER : TLS_KIND_PSK_CLIENT);
    struct psk_key *k = NULL;

    ERR_clear_error();
    if (lookup == NULL && (len < TLS_PSK_MIN || len > TLS_PSK_MAX)) {
        pn_err_set(err, "psk: key must be %d to %d bytes, not %zu", TLS_PSK_MIN, TLS_PSK_MAX,
                   len);
        goto fail;
    }
    if (strlen(id) > TLS_PSK_ID_MAX) {
        pn_err_set(err, "psk: identity longer than %d bytes", TLS_PSK_ID_MAX);
        goto fail;
    }
    if (CRYPTO_THREAD_run_once(&psk_once, psk_index_init) != 1 || psk_index < 0 ||
        psk_id_index < 0) {
        pn_err_set(err, "psk: cannot register the key slot: %s", pn_tls_ossl_reason());
        goto fail;
    }
    c->ctx = psk_spare[server != 0];
    psk_spare[server != 0] = NULL;
    if (c->ctx == NULL && (c->ctx = psk_ssl_ctx_new(server, err)) == NULL)
        goto fail;
    k = OPENSSL_zalloc(sizeof(*k));
    if (k == NULL) {
        pn_err_set(err, "psk: out of memory");
        goto fail;
    }
    if (lookup == NULL) {
        memcpy(k->key, psk, len);
        k->len = len;
    }
    snprintf(k->id, sizeof(k->id), "%s", id);
    k->lookup = lookup;
    k->lookup_ctx = lookup_ctx;
    if (SSL_CTX_set_ex_data(c->ctx, psk_index, k) != 1) {
        pn_err_set(err, "psk: cannot attach the key: %s", pn_tls_ossl_reason());
        goto fail;
    }
    k = NULL;   /* owned by the SSL_CTX now; psk_ex_free cleanses it */
    if (server) {
        SSL_CTX_set_psk_find_session_callback(c->ctx, psk_find_cb);
    } else {
        SSL_CTX_set_psk_use_session_callback(c->ctx, psk_use_cb);
        /* The store of a fresh SSL_CTX is empty, so any certificate a server
         * presents instead of taking the PSK fails verification. */
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    }
    return c;

fail:
    if (k != NULL)
        OPENSSL_clear_free(k, sizeof(*k));
    pn_tls_ctx_free(c);
    ERR_clear_error();
    return NULL;
}

/* Make a TLS 1.3 external-PSK context (psk_dhe_ke: the key proves identity,
 * ECDHE gives forward secrecy) for the <server> or client side of the control
 * channel, keyed by the <len> bytes at <psk> (16 to 48; 32 expected), which are
 * copied. The server holds no certificate; the client refuses any certificate.
 * Return the context (owned by the caller), or NULL with <err>. */
pn_tls_ctx_t *
pn_tls_psk_new(int server, const uint8_t *psk, size_t len, char *err)
{
    return psk_ctx_new(server, psk, len, TLS_PSK_IDENTITY, NULL, NULL, err);
}

pn_tls_ctx_t *
pn_tls_psk_client_new(const uint8_t *psk, size_t len, const char *identity, char *err)
{
    return psk_ctx_new(0, psk, len, identity, NULL, NULL, err);
}

pn_tls_ctx_t *
pn_tls_psk_server_lookup(pn_tls_psk_lookup_cb lookup, void *ctx, char *err)
{
    return psk_ctx_new(1, NULL, 0, "", lookup, ctx, err);
}

const char *
pn_tls_psk_identity(SSL *ssl)
{
    /* Kept from the lookup on, but accepted only once the binder verified:
     * the handshake finished. */
    if (psk_id_index < 0 || !SSL_is_init_finished(ssl))
        return NULL;
    return SSL_get_ex_data(ssl, psk_id_index);
}

