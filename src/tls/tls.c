/* tls/tls.c: the OpenSSL contexts behind tls/tls.h (self-signed, PEM files
 * re-read when they change, client) and the SSLs made from them. The PSK
 * contexts are in psk.c; fingerprints, the exporter and the two small crypto
 * helpers (random bytes, HMAC-SHA256) in crypto.c.
 *
 * Every context is TLS 1.3 only, without session tickets, session cache or
 * early data, and with small idle memory (SSL_MODE_RELEASE_BUFFERS). A TCP FIN
 * without close_notify reads as end of stream (SSL_OP_IGNORE_UNEXPECTED_EOF) so
 * that half-close behaves as it does on raw TCP. AES-128-GCM is preferred where
 * the CPU has AES instructions, ChaCha20-Poly1305 where it has not (either
 * end: SSL_OP_PRIORITIZE_CHACHA). Kernel TLS (SSL_OP_ENABLE_KTLS)
 * is asked for unless POSTERN_NO_KTLS is set: where the kernel offers the "tls"
 * ULP, OpenSSL hands the session keys to it after the handshake and records
 * are sealed and opened in the kernel; elsewhere OpenSSL does it in user space,
 * with the same calls. */
#include "tls/tls.h"
#include "tls/ctx.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#define TLS_RELOAD_CHECK_MS 1000            /* files are stat()ed at most this often (default) */

/* ---- errors ---------------------------------------------------------------- */

/* Return the reason of the earliest queued OpenSSL error (static text). */
const char *
pn_tls_ossl_reason(void)
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
    *first = pn_tls_ossl_reason();
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

/* Whether this kernel can take records over: the "tls" ULP is loaded, or its
 * module is installed (the kernel loads it on the first request). Where it
 * cannot, the transport gathers records itself (tls/xprt_tls.c). Read once. */
int
pn_tls_ktls_kernel(void)
{
    static int have = -1;
    if (have != -1)
        return have;
    have = 0;
    char ulp[256] = "";
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "re");
    if (f != NULL) {
        if (fgets(ulp, sizeof(ulp), f) == NULL)
            ulp[0] = '\0';
        fclose(f);
    }
    for (char *w = strtok(ulp, " \n"); w != NULL && !have; w = strtok(NULL, " \n"))
        have = strcmp(w, "tls") == 0;
    struct utsname u;
    if (!have && uname(&u) == 0) {
        static const char *const ext[] = { "", ".xz", ".zst", ".gz" };
        char path[512];
        for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]) && !have; i++) {
            snprintf(path, sizeof(path), "/lib/modules/%s/kernel/net/tls/tls.ko%s", u.release,
                     ext[i]);
            have = access(path, R_OK) == 0;
        }
    }
    return have;
}

/* Whether this CPU seals AES in hardware (AES-NI, the ARMv8 AES
 * instructions): then AES-128-GCM is the cheapest suite, else ChaCha20. */
static int
cpu_has_aes(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#elif defined(__aarch64__)
    return (getauxval(AT_HWCAP) & HWCAP_AES) != 0;
#else
    return 0;
#endif
}

const char *
pn_tls_suites(int sha256_only)
{
    if (cpu_has_aes())
        return sha256_only ? "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"
                           : "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
                             "TLS_AES_256_GCM_SHA384";
    return sha256_only ? "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
                       : "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
                         "TLS_AES_256_GCM_SHA384";
}

/* A type=3 server's ALPN (pn_tls_ctx_alpn_h2): "h2" when offered, else none.
 * Only those contexts choose it: a TLS port that relays the user's bytes
 * (single-end tls=, the master) must not tell an HTTP/2-capable client to
 * speak HTTP/2 to a service that does not. */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned inlen, void *arg)
{
    for (unsigned i = 0; i < inlen && i + 1 + in[i] <= inlen; i += 1 + in[i])
        if (in[i] == 2 && in[i + 1] == 'h' && in[i + 2] == '2') {
            *out = in + i + 1;
            *outlen = 2;
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_NOACK;
}

/* Make an SSL_CTX with the settings every postern context shares. */
SSL_CTX *
pn_tls_ssl_ctx_new(const SSL_METHOD *method, char *err)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (ctx == NULL) {
        pn_err_set(err, "tls: cannot create a context: %s", pn_tls_ossl_reason());
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
        pn_err_set(err, "tls: cannot require TLS 1.3: %s", pn_tls_ossl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* The cheapest suite on this CPU first; a server follows its own order
     * unless the client put ChaCha20 first (it has no AES instructions). */
    if (SSL_CTX_set_ciphersuites(ctx, pn_tls_suites(0)) != 1) {
        pn_err_set(err, "tls: cannot set the cipher suites: %s", pn_tls_ossl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
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

void
pn_tls_ctx_alpn_h2(pn_tls_ctx_t *c)
{
    if (c == NULL)
        return;
    c->alpn_h2 = 1;
    SSL_CTX_set_alpn_select_cb(c->ctx, alpn_select, NULL);
}

pn_tls_ctx_t *
pn_tls_ctx_alloc(enum tls_kind kind)
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

void
pn_tls_file_id_get(const char *path, struct file_id *id)
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

int
pn_tls_file_id_eq(const struct file_id *a, const struct file_id *b)
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
        pn_err_set(err, "key: cannot read %s: %s", path, pn_tls_ossl_reason());
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
SSL_CTX *
pn_tls_files_ctx_build(const char *crt, const char *key, char *err)
{
    SSL_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;

    if (file_readable("crt", crt, err) != PN_OK || file_readable("key", key, err) != PN_OK)
        goto fail;
    ctx = pn_tls_ssl_ctx_new(TLS_server_method(), err);
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
        pn_err_set(err, "key: cannot use %s: %s", key, pn_tls_ossl_reason());
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
 * once every <reload_ms> (a second unless pn_tls_ctx_reload_every() said). The
 * old SSL_CTX is only released here: SSLs made from it hold their own
 * references, so their connections go on undisturbed. A failed reload
 * is logged once per change of the files (the ids are recorded either way). */
static void
files_maybe_reload(pn_tls_ctx_t *c)
{
    uint64_t now = pn_now_ms();
    if (now < c->next_check_ms)
        return;
    c->next_check_ms = now + c->reload_ms;

    struct file_id crt_id, key_id;
    pn_tls_file_id_get(c->crt, &crt_id);
    pn_tls_file_id_get(c->key, &key_id);
    if (pn_tls_file_id_eq(&crt_id, &c->crt_id) && pn_tls_file_id_eq(&key_id, &c->key_id))
        return;
    c->crt_id = crt_id;
    c->key_id = key_id;

    char err[PN_ERR_LEN];
    SSL_CTX *ctx = pn_tls_files_ctx_build(c->crt, c->key, err);
    if (ctx == NULL) {
        log_warn("tls: keeping the previous certificate, reload failed: %s", err);
        return;
    }
    if (c->alpn_h2)
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    SSL_CTX_free(c->ctx);
    c->ctx = ctx;
    c->gen++;
    log_info("tls: reloaded certificate %s", c->crt);
}

unsigned
pn_tls_ctx_generation(pn_tls_ctx_t *c)
{
    if (c == NULL || c->kind != TLS_KIND_FILES)
        return 0;
    files_maybe_reload(c);
    return c->gen;
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
    pn_err_set(err, "tls: cannot make the self-signed certificate: %s", pn_tls_ossl_reason());
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
    pn_tls_ctx_t *c = pn_tls_ctx_alloc(TLS_KIND_SELF);
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;

    ERR_clear_error();
    c->ctx = pn_tls_ssl_ctx_new(TLS_server_method(), err);
    if (c->ctx == NULL)
        goto fail;
    pkey = EVP_EC_gen("P-256");
    if (pkey == NULL) {
        pn_err_set(err, "tls: cannot generate a P-256 key: %s", pn_tls_ossl_reason());
        goto fail;
    }
    x = selfsigned_cert(pkey, err);
    if (x == NULL)
        goto fail;
    if (SSL_CTX_use_certificate(c->ctx, x) != 1 || SSL_CTX_use_PrivateKey(c->ctx, pkey) != 1) {
        pn_err_set(err, "tls: cannot use the self-signed certificate: %s", pn_tls_ossl_reason());
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
    pn_tls_ctx_t *c = pn_tls_ctx_alloc(TLS_KIND_FILES);

    ERR_clear_error();
    c->crt = xstrdup(crt);
    c->key = xstrdup(key);
    /* Take the ids before reading: a change racing with the read is then seen
     * by the next check (and loaded again, harmlessly). */
    pn_tls_file_id_get(crt, &c->crt_id);
    pn_tls_file_id_get(key, &c->key_id);
    c->ctx = pn_tls_files_ctx_build(crt, key, err);
    if (c->ctx == NULL)
        goto fail;
    c->reload_ms = TLS_RELOAD_CHECK_MS;
    c->next_check_ms = pn_now_ms() + c->reload_ms;
    return c;

fail:
    pn_tls_ctx_free(c);
    return NULL;
}

void
pn_tls_ctx_reload_every(pn_tls_ctx_t *c, uint64_t ms)
{
    if (c == NULL || c->kind != TLS_KIND_FILES)
        return;
    c->reload_ms = ms;
    c->next_check_ms = pn_now_ms() + ms;
}

/* Make a client context. With <verify>, require a certificate chaining to
 * <ca_file> (PEM, may hold several) or, when NULL, to the system store.
 * Without, accept any certificate. Return it (owned by the caller), or NULL with
 * <err> ("ca: ..." for a bad <ca_file>). */
pn_tls_ctx_t *
pn_tls_client_new(int verify, const char *ca_file, char *err)
{
    pn_tls_ctx_t *c = pn_tls_ctx_alloc(TLS_KIND_CLIENT);

    ERR_clear_error();
    c->verify = verify != 0;
    c->ctx = pn_tls_ssl_ctx_new(TLS_client_method(), err);
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
                       pn_tls_ossl_reason());
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        pn_err_set(err, "ca: cannot load the system certificate store: %s", pn_tls_ossl_reason());
        goto fail;
    }
    return c;

fail:
    pn_tls_ctx_free(c);
    ERR_clear_error();
    return NULL;
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
 * files or PSK server), owned by the caller (pn_tls_xprt_new() or
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

/* Free <ssl> (not wrapped in a transport; no close_notify is sent). NULL is a no-op. */
void
pn_tls_ssl_free(SSL *ssl)
{
    SSL_free(ssl);
}

