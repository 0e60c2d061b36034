/* tls/ctx.h: the context structure and the helpers shared by tls.c, psk.c
 * and crypto.c; not for use outside tls/ (callers use tls/tls.h). The
 * functions are defined in tls.c. It does not include tls/tls.h, so that
 * tls.c including it makes no circle. */
#ifndef PN_TLS_CTX_H
#define PN_TLS_CTX_H

#include <openssl/ssl.h>

#include <sys/types.h>
#include <time.h>

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
    uint64_t reload_ms;         /* files only: the files are stat()ed at most this often */
    int alpn_h2;                /* server: choose ALPN "h2" when offered (type=3) */
    unsigned gen;               /* files only: reloads so far (QUIC follows them, quic_srv.c) */
};

/** Return the reason of the earliest queued OpenSSL error (static text). */
const char *pn_tls_ossl_reason(void);

/** Make an SSL_CTX with the settings every postern context shares (TLS 1.3
 *  only, no tickets, no session cache, no early data, kTLS when allowed), or
 *  NULL with <err>. */
SSL_CTX *pn_tls_ssl_ctx_new(const SSL_METHOD *method, char *err);

/** The TLS 1.3 suites in this CPU's order of cost (AES-128-GCM first with AES
 *  instructions, else ChaCha20-Poly1305); <sha256_only> leaves out the SHA-384
 *  suite (a PSK bound to SHA-256). Static text. */
const char *pn_tls_suites(int sha256_only);

/** Allocate a zeroed context of <kind> (owned by the caller; pn_tls_ctx_free). */
struct pn_tls_ctx *pn_tls_ctx_alloc(enum tls_kind kind);

/** Record what stat() says of <path> in <id> (a failure is recorded too). */
void pn_tls_file_id_get(const char *path, struct file_id *id);
/** 1 when <a> and <b> describe the same file state (or the same failure). */
int pn_tls_file_id_eq(const struct file_id *a, const struct file_id *b);
/** Build a server SSL_CTX from the PEM chain <crt> and the key <key>, or NULL
 *  with <err> ("crt: ..." / "key: ..." naming the file). */
SSL_CTX *pn_tls_files_ctx_build(const char *crt, const char *key, char *err);

#endif
