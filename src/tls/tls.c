/* tls/tls.c: the OpenSSL contexts behind tls/tls.h, plus fingerprints, the
 * exporter and the two small crypto helpers (random bytes, HMAC-SHA256).
 *
 * Every context is TLS 1.3 only, without session tickets, session cache or
 * early data, and with small idle memory (SSL_MODE_RELEASE_BUFFERS). A TCP FIN
 * without close_notify reads as end of stream (SSL_OP_IGNORE_UNEXPECTED_EOF) so
 * that half-close behaves as it does on raw TCP. Kernel TLS (SSL_OP_ENABLE_KTLS)
 * is asked for unless POSTERN_NO_KTLS is set: where the kernel offers the "tls"
 * ULP, OpenSSL hands the session keys to it after the handshake and records
 * are sealed and opened in the kernel; elsewhere OpenSSL does it in user space,
 * with the same calls. */
#include "tls/tls.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TLS_RELOAD_CHECK_MS 1000            /* files are stat()ed at most this often */
#define TLS_PSK_IDENTITY "postern/1"        /* PSK identity: a label, not a secret */
#define TLS_PSK_ID_MAX 64                   /* bytes of an identity we offer or take */
#define TLS_PSK_MIN 16                      /* bytes */
#define TLS_PSK_MAX SSL_MAX_MASTER_KEY_LENGTH
/* The PSK session is bound to a SHA-256 suite, so only SHA-256 suites may be
 * negotiated: a server picking TLS_AES_256_GCM_SHA384 would skip the PSK. */
#define TLS_PSK_SUITES "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"

enum tls_kind {
    TLS_KIND_SELF = 0,      /* server, in-memory self-signed certificate */
    TLS_KIND_FILES,         /* server, PEM files re-read when they change */
    TLS_KIND_CLIENT,        /* client, verifying or not */
    TLS_KIND_PSK_SERVER,    /* server, external PSK, no certificate */
    TLS_KIND_PSK_CLIENT,    /* client, external PSK, refuses certificates */
};

/* What stat() said about a file, to notice replacement (new inode), rewrite
 * (mtime, size) and disappearance. */
struct file_id {
    int ok;                 /* 1 when stat() succeeded */
    int err;                /* errno of a failed stat() */
    dev_t dev;
    ino_t ino;
    off_t size;             /* bytes */
    struct timespec mtime;  /* with nanoseconds */
};

struct pn_tls_ctx {
    enum tls_kind kind;
    SSL_CTX *ctx;               /* owned reference; the one new SSLs use (swapped on reload) */
    int verify;                 /* client: check the chain and the name */
    char *crt;                  /* owned; files only: certificate chain path */
    char *key;                  /* owned; files only: private key path */
    struct file_id crt_id;      /* files only: crt as last seen by the reload check */
    struct file_id key_id;      /* files only: key as last seen by the reload check */
    uint64_t next_check_ms;     /* files only: monotonic ms of the next reload check */
};

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

/* ---- errors ---------------------------------------------------------------- */

/* Return the reason of the earliest queued OpenSSL error (static text). */
static const char *
ossl_reason(void)
{
    unsigned long e = ERR_peek_error();
    if (e == 0)
        return "unknown error";
    if (ERR_SYSTEM_ERROR(e))
        return strerror(ERR_GET_REASON(e));
    const char *r = ERR_reason_error_string(e);
    return r != NULL ? r : "unknown error";
}

/* Empty the OpenSSL error queue. Return 1 when it held <lib>/<reason>, and
 * point <first> at the static reason text of the earliest error. */
static int
ossl_drain(int lib, int reason, const char **first)
{
    unsigned long e;
    int found = 0;
    *first = ossl_reason();
    while ((e = ERR_get_error()) != 0) {
        if (!ERR_SYSTEM_ERROR(e) && ERR_GET_LIB(e) == lib && ERR_GET_REASON(e) == reason)
            found = 1;
    }
    return found;
}

/* ---- contexts -------------------------------------------------------------- */

/* Refuse to prompt on a terminal for the pass phrase of an encrypted key. */
static int
no_password_cb(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

/* Whether kernel TLS may be asked for (POSTERN_NO_KTLS forces user-space
 * records, for tests and for kernels that misbehave). */
int
pn_tls_ktls_allowed(void)
{
    static int allowed = -1;
    if (allowed == -1) {
        const char *e = getenv("POSTERN_NO_KTLS");
        allowed = e == NULL || *e == '\0' || strcmp(e, "0") == 0;
    }
    return allowed;
}

/* Make an SSL_CTX with the settings every postern context shares. */
static SSL_CTX *
ssl_ctx_new(const SSL_METHOD *method, char *err)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (ctx == NULL) {
        pn_err_set(err, "tls: cannot create a context: %s", ossl_reason());
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
        pn_err_set(err, "tls: cannot require TLS 1.3: %s", ossl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (pn_tls_ktls_allowed())
        SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_max_early_data(ctx, 0);
    SSL_CTX_set_recv_max_early_data(ctx, 0);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                              | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(ctx, no_password_cb);
    return ctx;
}

static pn_tls_ctx_t *
tls_ctx_alloc(enum tls_kind kind)
{
    pn_tls_ctx_t *c = xcalloc(sizeof(*c));
    c->kind = kind;
    return c;
}

/* Check that <path> is a regular file that can be opened for reading; <what>
 * ("crt", "key", "ca") starts the message in <err>. */
static int
file_readable(const char *what, const char *path, char *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not block us */
    if (fd == -1)
        return pn_err_set(err, "%s: cannot read %s: %s", what, path, strerror(errno));
    struct stat st;
    int r = fstat(fd, &st);
    int e = errno;
    close(fd);
    if (r == -1)
        return pn_err_set(err, "%s: cannot read %s: %s", what, path, strerror(e));
    if (S_ISDIR(st.st_mode))
        return pn_err_set(err, "%s: cannot read %s: %s", what, path, strerror(EISDIR));
    if (!S_ISREG(st.st_mode))
        return pn_err_set(err, "%s: cannot read %s: not a regular file", what, path);
    return PN_OK;
}

static void
file_id_get(const char *path, struct file_id *id)
{
    struct stat st;
    memset(id, 0, sizeof(*id));
    if (stat(path, &st) == -1) {
        id->err = errno;
        return;
    }
    id->ok = 1;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->size = st.st_size;
    id->mtime = st.st_mtim;
}

static int
file_id_eq(const struct file_id *a, const struct file_id *b)
{
    if (a->ok != b->ok)
        return 0;
    if (!a->ok)
        return a->err == b->err;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size
           && a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Read the unencrypted PEM private key <path>. */
static EVP_PKEY *
key_load(const char *path, char *err)
{
    BIO *b = BIO_new_file(path, "r");
    if (b == NULL) {
        pn_err_set(err, "key: cannot read %s: %s", path, ossl_reason());
        return NULL;
    }
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(b, NULL, no_password_cb, NULL);
    if (pkey == NULL) {
        const char *why;
        if (ossl_drain(ERR_LIB_PEM, PEM_R_BAD_PASSWORD_READ, &why))
            pn_err_set(err, "key: %s is encrypted (a key without pass phrase is needed)", path);
        else
            pn_err_set(err, "key: %s is not a PEM private key", path);
    }
    BIO_free(b);
    return pkey;
}

/* Build a server SSL_CTX from the chain <crt> and the key <key>. */
static SSL_CTX *
files_ctx_build(const char *crt, const char *key, char *err)
{
    SSL_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;

    if (file_readable("crt", crt, err) != PN_OK || file_readable("key", key, err) != PN_OK)
        goto fail;
    ctx = ssl_ctx_new(TLS_server_method(), err);
    if (ctx == NULL)
        goto fail;
    if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
        const char *why;
        if (ossl_drain(ERR_LIB_PEM, PEM_R_NO_START_LINE, &why))
            pn_err_set(err, "crt: %s is not a PEM certificate", crt);
        else
            pn_err_set(err, "crt: cannot use %s: %s", crt, why);
        goto fail;
    }
    pkey = key_load(key, err);
    if (pkey == NULL)
        goto fail;
    if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), pkey) != 1) {
        pn_err_set(err, "key: %s does not match the certificate", key);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
        pn_err_set(err, "key: cannot use %s: %s", key, ossl_reason());
        goto fail;
    }
    EVP_PKEY_free(pkey);
    return ctx;

fail:
    EVP_PKEY_free(pkey);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

/* Swap in a new SSL_CTX when the files changed since the last check, at most
 * once a second. The old SSL_CTX is only released here: SSLs made from it hold
 * their own references, so their connections go on undisturbed. A failed reload
 * is logged once per change of the files (the ids are recorded either way). */
static void
files_maybe_reload(pn_tls_ctx_t *c)
{
    uint64_t now = pn_now_ms();
    if (now < c->next_check_ms)
        return;
    c->next_check_ms = now + TLS_RELOAD_CHECK_MS;

    struct file_id crt_id, key_id;
    file_id_get(c->crt, &crt_id);
    file_id_get(c->key, &key_id);
    if (file_id_eq(&crt_id, &c->crt_id) && file_id_eq(&key_id, &c->key_id))
        return;
    c->crt_id = crt_id;
    c->key_id = key_id;

    char err[PN_ERR_LEN];
    SSL_CTX *ctx = files_ctx_build(c->crt, c->key, err);
    if (ctx == NULL) {
        log_warn("tls: keeping the previous certificate, reload failed: %s", err);
        return;
    }
    SSL_CTX_free(c->ctx);
    c->ctx = ctx;
    log_info("tls: reloaded certificate %s", c->crt);
}

/* Make the self-signed certificate for <pkey>: X509v3, CN "postern", random
 * 128-bit serial, valid for a year from now, SHA-256 signature. */
static X509 *
selfsigned_cert(EVP_PKEY *pkey, char *err)
{
    X509 *x = X509_new();
    BIGNUM *bn = NULL;
    X509_EXTENSION *ext = NULL;
    unsigned char serial[16];
    X509V3_CTX v3;

    if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1)
        goto fail;
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        goto fail;
    serial[0] |= 0x01;  /* never zero; still 128 bits of which 127 are random */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
        goto fail;
    if (X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL
        || X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) == NULL)
        goto fail;
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"postern",
                                   -1, -1, 0) != 1
        || X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, pkey) != 1)
        goto fail;

    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:FALSE");
    if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
        goto fail;
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:postern");
    if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
        goto fail;
    X509_EXTENSION_free(ext);
    ext = NULL;

    if (X509_sign(x, pkey, EVP_sha256()) <= 0)
        goto fail;
    BN_free(bn);
    return x;

fail:
    pn_err_set(err, "tls: cannot make the self-signed certificate: %s", ossl_reason());
    X509_EXTENSION_free(ext);
    BN_free(bn);
    X509_free(x);
    return NULL;
}

/* Make a server context with a fresh ECDSA P-256 key and a self-signed
 * certificate for it. Return it (the caller owns it: pn_tls_ctx_free()), or
 * NULL with <err> filled. */
pn_tls_ctx_t *
pn_tls_server_selfsigned(char *err)
{
    pn_tls_ctx_t *c = tls_ctx_alloc(TLS_KIND_SELF);
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;

    ERR_clear_error();
    c->ctx = ssl_ctx_new(TLS_server_method(), err);
    if (c->ctx == NULL)
        goto fail;
    pkey = EVP_EC_gen("P-256");
    if (pkey == NULL) {
        pn_err_set(err, "tls: cannot generate a P-256 key: %s", ossl_reason());
        goto fail;
    }
    x = selfsigned_cert(pkey, err);
    if (x == NULL)
        goto fail;
    if (SSL_CTX_use_certificate(c->ctx, x) != 1 || SSL_CTX_use_PrivateKey(c->ctx, pkey) != 1) {
        pn_err_set(err, "tls: cannot use the self-signed certificate: %s", ossl_reason());
        goto fail;
    }
    X509_free(x);
    EVP_PKEY_free(pkey);
    return c;

fail:
    X509_free(x);
    EVP_PKEY_free(pkey);
    pn_tls_ctx_free(c);
    ERR_clear_error();
    return NULL;
}

/* Make a server context from the PEM chain <crt> and the unencrypted PEM key
 * <key> (both paths are copied). Return it (owned by the caller), or NULL with
 * <err> starting with "crt:" or "key:" and naming the file. pn_tls_server_ssl()
 * later re-reads the files when they change. */
pn_tls_ctx_t *
pn_tls_server_files(const char *crt, const char *key, char *err)
{
    pn_tls_ctx_t *c = tls_ctx_alloc(TLS_KIND_FILES);

    ERR_clear_error();
    c->crt = xstrdup(crt);
    c->key = xstrdup(key);
    /* Take the ids before reading: a change racing with the read is then seen
     * by the next check (and loaded again, harmlessly). */
    file_id_get(crt, &c->crt_id);
    file_id_get(key, &c->key_id);
    c->ctx = files_ctx_build(crt, key, err);
    if (c->ctx == NULL)
        goto fail;
    c->next_check_ms = pn_now_ms() + TLS_RELOAD_CHECK_MS;
    return c;

fail:
    pn_tls_ctx_free(c);
    return NULL;
}

/* Make a client context. With <verify>, require a certificate chaining to
 * <ca_file> (PEM, may hold several) or, when NULL, to the system store.
 * Without, accept any certificate. Return it (owned by the caller), or NULL with
 * <err> ("ca: ..." for a bad <ca_file>). */
pn_tls_ctx_t *
pn_tls_client_new(int verify, const char *ca_file, char *err)
{
    pn_tls_ctx_t *c = tls_ctx_alloc(TLS_KIND_CLIENT);

    ERR_clear_error();
    c->verify = verify != 0;
    c->ctx = ssl_ctx_new(TLS_client_method(), err);
    if (c->ctx == NULL)
        goto fail;
    if (!verify) {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
        return c;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (ca_file != NULL) {
        if (file_readable("ca", ca_file, err) != PN_OK)
            goto fail;
        if (SSL_CTX_load_verify_locations(c->ctx, ca_file, NULL) != 1) {
            pn_err_set(err, "ca: %s holds no usable PEM certificate: %s", ca_file,
                       ossl_reason());
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        pn_err_set(err, "ca: cannot load the system certificate store: %s", ossl_reason());
        goto fail;
    }
    return c;

fail:
    pn_tls_ctx_free(c);
    ERR_clear_error();
    return NULL;
}

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

/* The PSK context of <server> or client side: <psk> (<len> bytes) and the
 * identity <id>, or (server) the <lookup> that finds a key by identity. */
static pn_tls_ctx_t *
psk_ctx_new(int server, const uint8_t *psk, size_t len, const char *id,
            pn_tls_psk_lookup_cb lookup, void *lookup_ctx, char *err)
{
    pn_tls_ctx_t *c = tls_ctx_alloc(server ? TLS_KIND_PSK_SERVER : TLS_KIND_PSK_CLIENT);
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
        pn_err_set(err, "psk: cannot register the key slot: %s", ossl_reason());
        goto fail;
    }
    c->ctx = ssl_ctx_new(server ? TLS_server_method() : TLS_client_method(), err);
    if (c->ctx == NULL)
        goto fail;
    if (SSL_CTX_set_ciphersuites(c->ctx, TLS_PSK_SUITES) != 1) {
        pn_err_set(err, "psk: cannot set the cipher suites: %s", ossl_reason());
        goto fail;
    }
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
        pn_err_set(err, "psk: cannot attach the key: %s", ossl_reason());
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

/* Free <c> and what it owns. SSLs made from it keep their SSL_CTX (and PSK)
 * alive through OpenSSL's reference counts. NULL is a no-op. */
void
pn_tls_ctx_free_(pn_tls_ctx_t *c)
{
    if (c == NULL)
        return;
    SSL_CTX_free(c->ctx);
    free(c->crt);
    free(c->key);
    free(c);
}

/* ---- connections ----------------------------------------------------------- */

/* Return a new SSL in accept state from the server context <c> (self-signed,
 * files or PSK server), owned by the caller (pn_xprt_tls_new() or
 * pn_tls_ssl_free()). For a files context, first reload the files if they
 * changed (at most one check a second; may log). NULL when <c> is a client
 * context or OpenSSL is out of memory. */
SSL *
pn_tls_server_ssl(pn_tls_ctx_t *c)
{
    if (c->kind != TLS_KIND_SELF && c->kind != TLS_KIND_FILES && c->kind != TLS_KIND_PSK_SERVER)
        return NULL;
    if (c->kind == TLS_KIND_FILES)
        files_maybe_reload(c);
    SSL *ssl = SSL_new(c->ctx);
    if (ssl == NULL) {
        ERR_clear_error();
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

static int
is_ip_literal(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Return a new SSL in connect state from the client or PSK client context <c>,
 * owned by the caller. A host name <sni> is sent as SNI and, for a verifying
 * context, must match the certificate; an IP literal is not sent (SNI forbids
 * it) but must match an IP address in the certificate. <sni> NULL sends no name
 * and checks only the chain. NULL when <c> is a server context or on failure. */
SSL *
pn_tls_client_ssl(pn_tls_ctx_t *c, const char *sni)
{
    if (c->kind != TLS_KIND_CLIENT && c->kind != TLS_KIND_PSK_CLIENT)
        return NULL;
    SSL *ssl = SSL_new(c->ctx);
    if (ssl == NULL)
        goto fail;
    SSL_set_connect_state(ssl);
    if (sni != NULL && *sni != '\0') {
        int ip = is_ip_literal(sni);
        if (!ip && SSL_set_tlsext_host_name(ssl, sni) != 1)
            goto fail;
        if (c->kind == TLS_KIND_CLIENT && c->verify) {
            if (ip) {
                if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), sni) != 1)
                    goto fail;
            } else {
                SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                if (SSL_set1_host(ssl, sni) != 1)
                    goto fail;
            }
        }
    }
    return ssl;

fail:
    SSL_free(ssl);
    ERR_clear_error();
    return NULL;
}

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

/* Free <ssl> (not wrapped in a transport; no close_notify is sent). NULL is a no-op. */
void
pn_tls_ssl_free(SSL *ssl)
{
    SSL_free(ssl);
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
