/* tests/unit/tls/tls_test.c: the TLS layer over socketpairs: contexts,
 * handshakes, PSK, certificate files and their reload, verification, half-close. */
#include "tls/tls.h"
#include "core/ev.h"
#include "core/xprt.h"
#include "../testutil.h"
#include "net/sock.h"

#include <ctype.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/ssl.h>

#define LABEL "EXPORTER-postern-test"

/* A client and a server transport joined by a socketpair. */
struct pair {
    pn_xprt_t *cli;     /* owned */
    pn_xprt_t *srv;     /* owned */
    int rc_cli;         /* last handshake result, client side */
    int rc_srv;         /* last handshake result, server side */
};

static void
pair_open(struct pair *p, SSL *cli_ssl, SSL *srv_ssl)
{
    int fds[2];
    assert_non_null(cli_ssl);
    assert_non_null(srv_ssl);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    p->cli = pn_tls_xprt_new(fds[0], cli_ssl);
    p->srv = pn_tls_xprt_new(fds[1], srv_ssl);
    p->rc_cli = p->rc_srv = PN_AGAIN;
}

static void
pair_close(struct pair *p)
{
    pn_xprt_free(p->cli);
    pn_xprt_free(p->srv);
}

/* Alternate the two handshakes until neither side waits any more (a side that
 * failed is left alone, so the other can read its alert), or give up. */
static void
pair_handshake(struct pair *p)
{
    for (int i = 0; i < 200 && (p->rc_cli == PN_AGAIN || p->rc_srv == PN_AGAIN); i++) {
        if (p->rc_cli == PN_AGAIN)
            p->rc_cli = pn_tls_xprt_handshake(p->cli);
        if (p->rc_srv == PN_AGAIN)
            p->rc_srv = pn_tls_xprt_handshake(p->srv);
    }
}

/* Send <msg> from <from> and read it all at <to>. */
static void
xfer(pn_xprt_t *from, pn_xprt_t *to, const char *msg)
{
    size_t len = strlen(msg), got = 0;
    char buf[256];
    assert_int_equal(from->ops->write(from, msg, len), (ssize_t)len);
    for (int i = 0; i < 100 && got < len; i++) {
        ssize_t r = to->ops->read(to, buf + got, sizeof(buf) - got);
        if (r == PN_AGAIN) {
            assert_int_equal(to->want, EV_RD);
            continue;
        }
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_int_equal(got, len);
    assert_memory_equal(buf, msg, len);
}

static void
assert_fp_hex_format(const char *hex)
{
    assert_int_equal(strlen(hex), PN_TLS_FP_HEXLEN - 1);
    for (size_t i = 0; i < PN_TLS_FP_HEXLEN - 1; i++) {
        if (i % 3 == 2)
            assert_int_equal(hex[i], ':');
        else
            assert_true(isxdigit((unsigned char)hex[i]) && !islower((unsigned char)hex[i]));
    }
}

/* Handshake a non-verifying client against <srv_ctx>; return the server
 * certificate's fingerprint as the client saw it. */
static void
peer_fp_of(pn_tls_ctx_t *srv_ctx, uint8_t fp[PN_TLS_FP_LEN])
{
    char err[PN_ERR_LEN];
    pn_tls_ctx_t *cc = pn_tls_client_new(0, NULL, err);
    assert_non_null(cc);
    struct pair p;
    pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(srv_ctx));
    pair_handshake(&p);
    assert_int_equal(p.rc_cli, PN_OK);
    assert_int_equal(p.rc_srv, PN_OK);
    assert_int_equal(pn_tls_peer_fingerprint(pn_tls_xprt_ssl(p.cli), fp), PN_OK);
    pair_close(&p);
    pn_tls_ctx_free(cc);
}

/* ---- (1) self-signed server, non-verifying client ------------------------ */

static void
test_selfsigned(void **state)
{
    char err[PN_ERR_LEN] = "";
    pn_tls_ctx_t *sc = pn_tls_server_selfsigned(err);
    assert_non_null(sc);
    pn_tls_ctx_t *cc = pn_tls_client_new(0, NULL, err);
    assert_non_null(cc);

    /* Client contexts make no server SSLs and the other way round. */
    assert_null(pn_tls_server_ssl(cc));
    assert_null(pn_tls_client_ssl(sc, NULL));

    struct pair p;
    pair_open(&p, pn_tls_client_ssl(cc, "example.org"), pn_tls_server_ssl(sc));
    assert_string_equal(p.cli->ops->name, "tls");
    pair_handshake(&p);
    assert_int_equal(p.rc_cli, PN_OK);
    assert_int_equal(p.rc_srv, PN_OK);
    assert_int_equal(SSL_version(pn_tls_xprt_ssl(p.cli)), TLS1_3_VERSION);
    assert_string_equal(SSL_get_servername(pn_tls_xprt_ssl(p.srv), TLSEXT_NAMETYPE_host_name),
                        "example.org");

    xfer(p.cli, p.srv, "hello over tls");
    xfer(p.srv, p.cli, "and back");
    assert_int_equal(p.cli->ops->pending(p.cli), 0);
    /* No session ticket arrived with the data: nothing to resume. */
    assert_int_equal(SSL_SESSION_is_resumable(SSL_get0_session(pn_tls_xprt_ssl(p.cli))), 0);

    uint8_t fp_ctx[PN_TLS_FP_LEN], fp_peer[PN_TLS_FP_LEN], zero[PN_TLS_FP_LEN] = { 0 };
    assert_int_equal(pn_tls_ctx_fingerprint(sc, fp_ctx), PN_OK);
    assert_int_equal(pn_tls_peer_fingerprint(pn_tls_xprt_ssl(p.cli), fp_peer), PN_OK);
    assert_memory_equal(fp_ctx, fp_peer, PN_TLS_FP_LEN);
    assert_memory_not_equal(fp_ctx, zero, PN_TLS_FP_LEN);
    /* The client showed no certificate, and a client context has none. */
    assert_int_equal(pn_tls_peer_fingerprint(pn_tls_xprt_ssl(p.srv), fp_peer), PN_ERR);
    assert_int_equal(pn_tls_ctx_fingerprint(cc, fp_peer), PN_ERR);

    char hex[PN_TLS_FP_HEXLEN];
    pn_tls_fp_hex(fp_ctx, hex);
    assert_fp_hex_format(hex);
    uint8_t known[PN_TLS_FP_LEN];
    for (size_t i = 0; i < PN_TLS_FP_LEN; i++)
        known[i] = (uint8_t)(i * 17 + 10);
    pn_tls_fp_hex(known, hex);
    assert_string_equal(hex, "0A:1B:2C:3D:4E:5F:70:81:92:A3:B4:C5:D6:E7:F8:09:"
                             "1A:2B:3C:4D:5E:6F:80:91:A2:B3:C4:D5:E6:F7:08:19");

    /* The certificate: CN "postern", one year, X509v3. */
    X509 *cert = SSL_get0_peer_certificate(pn_tls_xprt_ssl(p.cli));
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, "postern");
    assert_int_equal(X509_get_version(cert), X509_VERSION_3);
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert),
                                    X509_get0_notAfter(cert)), 1);
    assert_int_equal(days, 365);

    pair_close(&p);

    /* A second context has a different key, so a different fingerprint. */
    pn_tls_ctx_t *sc2 = pn_tls_server_selfsigned(err);
    assert_non_null(sc2);
    assert_int_equal(pn_tls_ctx_fingerprint(sc2, fp_peer), PN_OK);
    assert_memory_not_equal(fp_ctx, fp_peer, PN_TLS_FP_LEN);
    pn_tls_ctx_free(sc2);
    assert_null(sc2);

    /* A TLS 1.2 client is refused. */
    SSL_CTX *old12 = SSL_CTX_new(TLS_client_method());
    assert_non_null(old12);
    SSL_CTX_set_max_proto_version(old12, TLS1_2_VERSION);
    SSL *s12 = SSL_new(old12);
    SSL_set_connect_state(s12);
    SSL_CTX_free(old12);
    pair_open(&p, s12, pn_tls_server_ssl(sc));
    pair_handshake(&p);
    assert_int_equal(p.rc_srv, PN_ERR);
    assert_int_equal(p.rc_cli, PN_ERR);
    print_message("tls 1.2 client: server \"%s\"\n", p.srv->err);
    pair_close(&p);

    pn_tls_ctx_free(sc);
    pn_tls_ctx_free(cc);
    pn_tls_ctx_free(cc);    /* NULL now: a no-op */
}

/* An SSL outlives the context it came from. */
static void
test_ssl_outlives_ctx(void **state)
{
    char err[PN_ERR_LEN];
    uint8_t key[32];
    assert_int_equal(pn_random(key, sizeof(key)), PN_OK);
    pn_tls_ctx_t *sc = pn_tls_psk_new(1, key, sizeof(key), err);
    pn_tls_ctx_t *cc = pn_tls_psk_new(0, key, sizeof(key), err);
    assert_non_null(sc);
    assert_non_null(cc);
    struct pair p;
    pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));
    pn_tls_ctx_free(sc);
    pn_tls_ctx_free(cc);
    pair_handshake(&p);
    assert_int_equal(p.rc_cli, PN_OK);
    assert_int_equal(p.rc_srv, PN_OK);
    xfer(p.cli, p.srv, "still here");
    pair_close(&p);

    /* An SSL never wrapped is freed on its own. */
    sc = pn_tls_server_selfsigned(err);
    assert_non_null(sc);
    pn_tls_ssl_free(pn_tls_server_ssl(sc));
    pn_tls_ctx_free(sc);
}

/* ---- (2) (3) (4) PSK -------------------------------------------------- */

static void
test_psk_same_key(void **state)
{
    char err[PN_ERR_LEN];
    uint8_t key[32];
    assert_int_equal(pn_random(key, sizeof(key)), PN_OK);
    pn_tls_ctx_t *sc = pn_tls_psk_new(1, key, sizeof(key), err);
    assert_non_null(sc);
    pn_tls_ctx_t *cc = pn_tls_psk_new(0, key, sizeof(key), err);
    assert_non_null(cc);

    struct pair p;
    pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));
    pair_handshake(&p);
    assert_int_equal(p.rc_cli, PN_OK);
    assert_int_equal(p.rc_srv, PN_OK);
    xfer(p.cli, p.srv, "ping");
    xfer(p.srv, p.cli, "pong");

    SSL *cs = pn_tls_xprt_ssl(p.cli), *ss = pn_tls_xprt_ssl(p.srv);
    assert_int_equal(SSL_session_reused(cs), 1);    /* the PSK was taken */
    uint8_t fp[PN_TLS_FP_LEN];
    assert_int_equal(pn_tls_peer_fingerprint(cs, fp), PN_ERR);     /* no certificate */
    assert_int_equal(pn_tls_ctx_fingerprint(sc, fp), PN_ERR);

    uint8_t a[32], b[32], c2[32], zero[32] = { 0 };
    assert_int_equal(pn_tls_export(cs, LABEL, a, sizeof(a)), PN_OK);
    assert_int_equal(pn_tls_export(ss, LABEL, b, sizeof(b)), PN_OK);
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, zero, sizeof(a));
    /* The RFC 8446 exporter with no context, as OpenSSL computes it directly. */
    assert_int_equal(SSL_export_keying_material(ss, c2, sizeof(c2), LABEL, strlen(LABEL), NULL,
                                                0, 0), 1);
    assert_memory_equal(a, c2, sizeof(a));
    assert_int_equal(pn_tls_export(cs, LABEL "-other", c2, sizeof(c2)), PN_OK);
    assert_memory_not_equal(a, c2, sizeof(a));
    pair_close(&p);

    /* A second connection with the same key exports different bytes (ECDHE). */
    pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));
    pair_handshake(&p);
    assert_int_equal(p.rc_cli, PN_OK);
    assert_int_equal(pn_tls_export(pn_tls_xprt_ssl(p.cli), LABEL, c2, sizeof(c2)), PN_OK);
    assert_memory_not_equal(a, c2, sizeof(a));
    pair_close(&p);

    /* Not connected yet: nothing to export. */
    SSL *fresh = pn_tls_client_ssl(cc, NULL);
    assert_int_equal(pn_tls_export(fresh, LABEL, c2, sizeof(c2)), PN_ERR);
    pn_tls_ssl_free(fresh);

    pn_tls_ctx_free(sc);
    pn_tls_ctx_free(cc);
}

/* A hub's server context finds the key by the identity the client offers. */
struct psk_book {
    const char *id[2];
    uint8_t key[2][32];
    int calls;
};

static int
book_lookup(const char *identity, uint8_t *psk, void *arg)
{
    struct psk_book *b = arg;
    b->calls++;
    for (int i = 0; i < 2; i++)
        if (strcmp(identity, b->id[i]) == 0) {
            memcpy(psk, b->key[i], 32);
            return 0;
        }
    return -1;
}

static void
test_psk_lookup(void **state)
{
    char err[PN_ERR_LEN];
    struct psk_book b = { .id = { "postern/hub/1/alice", "postern/hub/1/bob" } };
    memset(b.key[0], 0xa1, 32);
    memset(b.key[1], 0xb0, 32);
    pn_tls_ctx_t *sc = pn_tls_psk_server_lookup(book_lookup, &b, err);
    assert_non_null(sc);

    /* Each account's own key and identity: accepted, and the identity is kept. */
    for (int i = 0; i < 2; i++) {
        pn_tls_ctx_t *cc = pn_tls_psk_client_new(b.key[i], 32, b.id[i], err);
        assert_non_null(cc);
        struct pair p;
        pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));
        pair_handshake(&p);
        assert_int_equal(p.rc_cli, PN_OK);
        assert_int_equal(p.rc_srv, PN_OK);
        assert_string_equal(pn_tls_psk_identity(pn_tls_xprt_ssl(p.srv)), b.id[i]);
        assert_null(pn_tls_psk_identity(pn_tls_xprt_ssl(p.cli)));
        xfer(p.cli, p.srv, "ping");
        pair_close(&p);
        pn_tls_ctx_free(cc);
    }
    /* Alice's identity with Bob's key, and an unknown identity: refused. */
    const char *ids[2] = { b.id[0], "postern/hub/1/mallory" };
    for (int i = 0; i < 2; i++) {
        pn_tls_ctx_t *cc = pn_tls_psk_client_new(b.key[1], 32, ids[i], err);
        struct pair p;
        pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));
        pair_handshake(&p);
        assert_int_equal(p.rc_srv, PN_ERR);
        assert_int_equal(p.rc_cli, PN_ERR);
        assert_null(pn_tls_psk_identity(pn_tls_xprt_ssl(p.srv)));
        pair_close(&p);
        pn_tls_ctx_free(cc);
    }
    assert_true(b.calls >= 4);
    /* An identity over 64 bytes is refused when the context is made. */
    char longid[80];
    memset(longid, 'i', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_null(pn_tls_psk_client_new(b.key[0], 32, longid, err));
    assert_true(strncmp(err, "psk:", 4) == 0);
    pn_tls_ctx_free(sc);
}

static void
test_psk_wrong_key(void **state)
{
    char err[PN_ERR_LEN];
    uint8_t k1[32], k2[32];
    memset(k1, 0x11, sizeof(k1));
    memcpy(k2, k1, sizeof(k2));
    k2[31] ^= 1;
    pn_tls_ctx_t *sc = pn_tls_psk_new(1, k1, sizeof(k1), err);
    pn_tls_ctx_t *cc = pn_tls_psk_new(0, k2, sizeof(k2), err);
    assert_non_null(sc);
    assert_non_null(cc);

    struct pair p;
    pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));
    pair_handshake(&p);
    assert_int_equal(p.rc_srv, PN_ERR);
    assert_int_equal(p.rc_cli, PN_ERR);
    assert_non_null(p.srv->err);
    assert_non_null(p.cli->err);
    assert_non_null(strstr(p.srv->err, "wrong key"));
    print_message("wrong psk: server \"%s\", client \"%s\"\n", p.srv->err, p.cli->err);
    pair_close(&p);

    /* The failure left nothing behind: the right key still works afterwards. */
    pn_tls_ctx_free(cc);
    cc = pn_tls_psk_new(0, k1, sizeof(k1), err);
    assert_non_null(cc);
    pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));
    pair_handshake(&p);
    assert_int_equal(p.rc_cli, PN_OK);
    assert_int_equal(p.rc_srv, PN_OK);
    pair_close(&p);

    pn_tls_ctx_free(sc);
    pn_tls_ctx_free(cc);
}

static void
test_psk_key_length(void **state)
{
    char err[PN_ERR_LEN] = "";
    uint8_t key[64] = { 0 };
    assert_null(pn_tls_psk_new(1, key, 8, err));
    assert_true(strncmp(err, "psk:", 4) == 0);
    assert_null(pn_tls_psk_new(0, key, 64, err));
    pn_tls_ctx_t *c = pn_tls_psk_new(0, key, 32, err);
    assert_non_null(c);
    pn_tls_ctx_free(c);
}

static void
test_psk_vs_certificate(void **state)
{
    char err[PN_ERR_LEN];
    uint8_t key[32] = { 7 };
    pn_tls_ctx_t *cert_srv = pn_tls_server_selfsigned(err);
    pn_tls_ctx_t *psk_cli = pn_tls_psk_new(0, key, sizeof(key), err);
    pn_tls_ctx_t *psk_srv = pn_tls_psk_new(1, key, sizeof(key), err);
    pn_tls_ctx_t *plain_cli = pn_tls_client_new(0, NULL, err);
    assert_non_null(cert_srv);
    assert_non_null(psk_cli);
    assert_non_null(psk_srv);
    assert_non_null(plain_cli);

    /* A PSK client refuses a certificate-based handshake. */
    struct pair p;
    pair_open(&p, pn_tls_client_ssl(psk_cli, NULL), pn_tls_server_ssl(cert_srv));
    pair_handshake(&p);
    assert_int_equal(p.rc_cli, PN_ERR);
    assert_non_null(p.cli->err);
    print_message("psk client vs certificate: \"%s\"\n", p.cli->err);
    pair_close(&p);

    /* A PSK server, holding no certificate, refuses a client without the key. */
    pair_open(&p, pn_tls_client_ssl(plain_cli, NULL), pn_tls_server_ssl(psk_srv));
    pair_handshake(&p);
    assert_int_equal(p.rc_srv, PN_ERR);
    assert_int_equal(p.rc_cli, PN_ERR);
    pair_close(&p);

    pn_tls_ctx_free(cert_srv);
    pn_tls_ctx_free(psk_cli);
    pn_tls_ctx_free(psk_srv);
    pn_tls_ctx_free(plain_cli);
}

/* ---- (5) (6) certificate files -------------------------------------------- */

static char tmpdir[64];

static void
run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
}

static const char *
path(const char *name)
{
    static char bufs[8][128];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name);
    return b;
}

/* Write a self-signed CN=localhost certificate and its key. */
static void
make_cert(const char *crt, const char *key)
{
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-subj /CN=localhost -days 1 -keyout %s -out %s 2>/dev/null", path(key), path(crt));
}

/* The fingerprint the openssl CLI reports for <crt>, as hex. */
static void
cli_fingerprint(const char *crt, char hex[PN_TLS_FP_HEXLEN])
{
    char cmd[512], line[256];
    snprintf(cmd, sizeof(cmd), "openssl x509 -noout -fingerprint -sha256 -in %s", path(crt));
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    pclose(f);
    char *eq = strchr(line, '=');
    assert_non_null(eq);
    eq[1 + PN_TLS_FP_HEXLEN - 1] = '\0';
    strcpy(hex, eq + 1);
}

static int
files_setup(void **state)
{
    strcpy(tmpdir, "/tmp/pn_tls_test_XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    make_cert("c1.pem", "k1.pem");
    make_cert("c2.pem", "k2.pem");
    make_cert("c3.pem", "k3.pem");
    run("head -c 300 /dev/urandom > %s", path("garbage"));
    run("openssl ec -in %s -aes128 -passout pass:secret -out %s 2>/dev/null", path("k1.pem"),
        path("k1enc.pem"));
    return 0;
}

static int
files_teardown(void **state)
{
    run("rm -rf %s", tmpdir);
    return 0;
}

static void
expect_files_error(const char *crt, const char *key, const char *prefix, const char *needle)
{
    char err[PN_ERR_LEN] = "";
    pn_tls_ctx_t *c = pn_tls_server_files(crt, key, err);
    assert_null(c);
    print_message("error: %s\n", err);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", err, prefix);
    if (strstr(err, needle) == NULL)
        fail_msg("\"%s\" does not mention \"%s\"", err, needle);
}

static void
test_files_errors(void **state)
{
    expect_files_error(path("missing.pem"), path("k1.pem"), "crt: cannot read ",
                       "No such file or directory");
    expect_files_error(path("missing.pem"), path("k1.pem"), "crt:", path("missing.pem"));
    expect_files_error(tmpdir, path("k1.pem"), "crt: cannot read", "Is a directory");
    expect_files_error(path("garbage"), path("k1.pem"), "crt:", "is not a PEM certificate");
    expect_files_error(path("k1.pem"), path("k1.pem"), "crt:", "is not a PEM certificate");
    expect_files_error(path("c1.pem"), path("missing.pem"), "key: cannot read",
                       "No such file or directory");
    expect_files_error(path("c1.pem"), path("garbage"), "key:", "is not a PEM private key");
    expect_files_error(path("c1.pem"), path("c1.pem"), "key:", "is not a PEM private key");
    expect_files_error(path("c1.pem"), path("k1enc.pem"), "key:", "encrypted");
    expect_files_error(path("c1.pem"), path("k2.pem"), "key:", "does not match the certificate");
    expect_files_error(path("c1.pem"), path("k2.pem"), "key:", path("k2.pem"));
}

static void
test_files_load_and_reload(void **state)
{
    char err[PN_ERR_LEN] = "";
    run("cp %s %s && cp %s %s", path("c1.pem"), path("crt"), path("k1.pem"), path("key"));
    pn_tls_ctx_t *sc = pn_tls_server_files(path("crt"), path("key"), err);
    if (sc == NULL)
        fail_msg("%s", err);

    uint8_t fp1[PN_TLS_FP_LEN], fp[PN_TLS_FP_LEN];
    char hex[PN_TLS_FP_HEXLEN], want[PN_TLS_FP_HEXLEN];
    assert_int_equal(pn_tls_ctx_fingerprint(sc, fp1), PN_OK);
    pn_tls_fp_hex(fp1, hex);
    cli_fingerprint("c1.pem", want);
    assert_string_equal(hex, want);
    peer_fp_of(sc, fp);
    assert_memory_equal(fp, fp1, PN_TLS_FP_LEN);

    /* A broken replacement is refused and the old certificate stays. */
    run("cp %s %s.new && mv %s.new %s", path("garbage"), path("crt"), path("crt"), path("crt"));
    struct timespec ts = { 1, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    peer_fp_of(sc, fp);
    assert_memory_equal(fp, fp1, PN_TLS_FP_LEN);

    /* A good replacement is picked up by the next SSL after a second. */
    run("cp %s %s.new && mv %s.new %s", path("c3.pem"), path("crt"), path("crt"), path("crt"));
    run("cp %s %s.new && mv %s.new %s", path("k3.pem"), path("key"), path("key"), path("key"));
    SSL *old = pn_tls_server_ssl(sc);   /* made before the check is due: old context */
    nanosleep(&ts, NULL);
    peer_fp_of(sc, fp);
    assert_memory_not_equal(fp, fp1, PN_TLS_FP_LEN);
    pn_tls_fp_hex(fp, hex);
    cli_fingerprint("c3.pem", want);
    assert_string_equal(hex, want);
    assert_int_equal(pn_tls_ctx_fingerprint(sc, fp), PN_OK);
    pn_tls_fp_hex(fp, hex);
    assert_string_equal(hex, want);

    /* The SSL made from the old context still serves the old certificate. */
    pn_tls_ctx_t *cc = pn_tls_client_new(0, NULL, err);
    assert_non_null(cc);
    struct pair p;
    pair_open(&p, pn_tls_client_ssl(cc, NULL), old);
    pair_handshake(&p);
    assert_int_equal(p.rc_cli, PN_OK);
    assert_int_equal(pn_tls_peer_fingerprint(pn_tls_xprt_ssl(p.cli), fp), PN_OK);
    assert_memory_equal(fp, fp1, PN_TLS_FP_LEN);
    pair_close(&p);

    pn_tls_ctx_free(cc);
    pn_tls_ctx_free(sc);
}

static void
verify_case(pn_tls_ctx_t *sc, const char *ca, const char *sni, int ok)
{
    char err[PN_ERR_LEN] = "";
    pn_tls_ctx_t *cc = pn_tls_client_new(1, ca, err);
    if (cc == NULL)
        fail_msg("%s", err);
    struct pair p;
    pair_open(&p, pn_tls_client_ssl(cc, sni), pn_tls_server_ssl(sc));
    pair_handshake(&p);
    if (ok) {
        assert_int_equal(p.rc_cli, PN_OK);
        assert_int_equal(p.rc_srv, PN_OK);
        xfer(p.cli, p.srv, "verified");
    } else {
        assert_int_equal(p.rc_cli, PN_ERR);
        assert_non_null(p.cli->err);
        print_message("sni %s: \"%s\"\n", sni ? sni : "(none)", p.cli->err);
    }
    pair_close(&p);
    pn_tls_ctx_free(cc);
}

static void
test_verify(void **state)
{
    char err[PN_ERR_LEN] = "";
    pn_tls_ctx_t *sc = pn_tls_server_files(path("c1.pem"), path("k1.pem"), err);
    if (sc == NULL)
        fail_msg("%s", err);

    verify_case(sc, path("c1.pem"), "localhost", 1);
    verify_case(sc, path("c1.pem"), "LOCALHOST", 1);
    verify_case(sc, path("c1.pem"), NULL, 1);   /* chain only */
    verify_case(sc, path("c1.pem"), "wrong.example", 0);
    verify_case(sc, path("c1.pem"), "127.0.0.1", 0);   /* no IP in the certificate */
    verify_case(sc, path("c2.pem"), "localhost", 0);   /* another issuer */

    /* Name mismatch is reported as such. */
    pn_tls_ctx_t *cc = pn_tls_client_new(1, path("c1.pem"), err);
    assert_non_null(cc);
    struct pair p;
    pair_open(&p, pn_tls_client_ssl(cc, "wrong.example"), pn_tls_server_ssl(sc));
    pair_handshake(&p);
    assert_int_equal(p.rc_cli, PN_ERR);
    assert_non_null(strcasestr(p.cli->err, "hostname mismatch"));
    pair_close(&p);

    /* An IP literal is checked but never sent as SNI. */
    pair_open(&p, pn_tls_client_ssl(cc, "127.0.0.1"), pn_tls_server_ssl(sc));
    pair_handshake(&p);
    assert_null(SSL_get_servername(pn_tls_xprt_ssl(p.srv), TLSEXT_NAMETYPE_host_name));
    pair_close(&p);
    pn_tls_ctx_free(cc);

    /* Bad CA files. */
    assert_null(pn_tls_client_new(1, path("missing.pem"), err));
    assert_true(strncmp(err, "ca: cannot read", 15) == 0);
    assert_null(pn_tls_client_new(1, path("garbage"), err));
    assert_true(strncmp(err, "ca:", 3) == 0);
    /* The system store loads (it may be empty). */
    cc = pn_tls_client_new(1, NULL, err);
    assert_non_null(cc);
    pn_tls_ctx_free(cc);

    pn_tls_ctx_free(sc);
}

/* ---- (7) half-close --------------------------------------------------- */

static void
test_half_close(void **state)
{
    char err[PN_ERR_LEN];
    pn_tls_ctx_t *sc = pn_tls_server_selfsigned(err);
    pn_tls_ctx_t *cc = pn_tls_client_new(0, NULL, err);
    assert_non_null(sc);
    assert_non_null(cc);
    char buf[64];

    for (int dir = 0; dir < 2; dir++) {
        struct pair p;
        pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));
        pair_handshake(&p);
        assert_int_equal(p.rc_cli, PN_OK);
        assert_int_equal(p.rc_srv, PN_OK);
        pn_xprt_t *a = dir ? p.srv : p.cli, *b = dir ? p.cli : p.srv;

        xfer(a, b, "request");
        assert_int_equal(a->ops->shutdown_wr(a), PN_OK);
        assert_int_equal(a->ops->shutdown_wr(a), PN_OK);    /* idempotent */
        assert_int_equal(tu_read_settled(b, buf, sizeof(buf)), 0);
        xfer(b, a, "response after eof");
        xfer(b, a, "and more");
        assert_int_equal(b->ops->shutdown_wr(b), PN_OK);
        assert_int_equal(tu_read_settled(a, buf, sizeof(buf)), 0);
        pair_close(&p);
    }

    /* A bare FIN (no close_notify) also reads as end of stream. */
    struct pair p;
    pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));
    pair_handshake(&p);
    assert_int_equal(p.rc_cli, PN_OK);
    xfer(p.cli, p.srv, "x");
    assert_int_equal(shutdown(p.cli->fd, SHUT_WR), 0);
    assert_int_equal(tu_read_settled(p.srv, buf, sizeof(buf)), 0);
    xfer(p.srv, p.cli, "still writable");
    pair_close(&p);

    /* A peer that vanishes mid-handshake is an error, not end of stream:
     * with a FIN ... */
    pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));
    assert_int_equal(pn_tls_xprt_handshake(p.cli), PN_AGAIN);
    assert_int_equal(p.cli->want, EV_RD);
    assert_int_equal(shutdown(p.srv->fd, SHUT_WR), 0);
    assert_int_equal(pn_tls_xprt_handshake(p.cli), PN_ERR);
    assert_non_null(p.cli->err);
    assert_non_null(strstr(p.cli->err, "closed"));
    pair_close(&p);
    /* ... or with a reset (closed with unread data). */
    pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));
    assert_int_equal(pn_tls_xprt_handshake(p.cli), PN_AGAIN);
    pn_xprt_free(p.srv);
    assert_int_equal(pn_tls_xprt_handshake(p.cli), PN_ERR);
    assert_non_null(p.cli->err);
    print_message("reset in handshake: \"%s\"\n", p.cli->err);
    pair_close(&p);

    /* shutdown_wr sends a real close_notify (a peer that does not accept a bare
     * FIN reads a clean end of stream) and then the FIN (the socket is at EOF). */
    SSL_CTX *strict = SSL_CTX_new(TLS_client_method());
    assert_non_null(strict);
    SSL *ss = SSL_new(strict);
    SSL_set_connect_state(ss);
    SSL_CTX_free(strict);
    pair_open(&p, ss, pn_tls_server_ssl(sc));
    pair_handshake(&p);
    assert_int_equal(p.rc_cli, PN_OK);
    assert_int_equal(p.rc_srv, PN_OK);
    xfer(p.cli, p.srv, "x");
    assert_int_equal(p.srv->ops->shutdown_wr(p.srv), PN_OK);
    assert_int_equal(tu_read_settled(p.cli, buf, sizeof(buf)), 0);
    assert_int_equal(recv(p.cli->fd, buf, 1, MSG_DONTWAIT), 0);
    pair_close(&p);

    pn_tls_ctx_free(sc);
    pn_tls_ctx_free(cc);
}

/* Reads before the handshake drive it; a large write goes through in parts. */
static void
test_implicit_handshake_and_bulk(void **state)
{
    char err[PN_ERR_LEN];
    pn_tls_ctx_t *sc = pn_tls_server_selfsigned(err);
    pn_tls_ctx_t *cc = pn_tls_client_new(0, NULL, err);
    assert_non_null(sc);
    assert_non_null(cc);
    struct pair p;
    pair_open(&p, pn_tls_client_ssl(cc, NULL), pn_tls_server_ssl(sc));

    enum { TOTAL = 1 << 20 };
    unsigned char *out = malloc(TOTAL), *in = malloc(TOTAL);
    assert_non_null(out);
    assert_non_null(in);
    assert_int_equal(pn_random(out, TOTAL), PN_OK);
    size_t sent = 0, got = 0;
    int again_wr = 0;
    for (int i = 0; i < 100000 && got < TOTAL; i++) {
        if (sent < TOTAL) {
            ssize_t n = p.cli->ops->write(p.cli, out + sent, TOTAL - sent);
            if (n == PN_AGAIN) {
                again_wr++;
            } else {
                assert_true(n > 0);
                sent += (size_t)n;
            }
        }
        ssize_t r = p.srv->ops->read(p.srv, in + got, TOTAL - got);
        if (r != PN_AGAIN) {
            assert_true(r > 0);
            got += (size_t)r;
        }
    }
    assert_int_equal(got, TOTAL);
    assert_memory_equal(in, out, TOTAL);
    assert_true(again_wr > 0);  /* the socket buffer filled at least once */
    free(out);
    free(in);

    /* A raw transport is no TLS transport. */
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    pn_xprt_t *raw = pn_raw_xprt_new(fds[0]);
    assert_null(pn_tls_xprt_ssl(raw));
    pn_xprt_free(raw);
    close(fds[1]);

    pair_close(&p);
    pn_tls_ctx_free(sc);
    pn_tls_ctx_free(cc);
}

/* ---- crypto helpers --------------------------------------------------- */

static void
test_hmac_random(void **state)
{
    /* RFC 4231 test case 2. */
    static const uint8_t want[32] = {
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75,
        0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec,
        0x38, 0x43,
    };
    const char *msg = "what do ya want for nothing?";
    uint8_t mac[32];
    pn_hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)msg, strlen(msg), mac);
    assert_memory_equal(mac, want, 32);
    pn_hmac_sha256(NULL, 0, NULL, 0, mac);     /* empty key and message are fine */
    static const uint8_t empty_mac[4] = { 0xb6, 0x13, 0x67, 0x9a };
    assert_memory_equal(mac, empty_mac, 4);

    uint8_t a[32] = { 0 }, b[32] = { 0 };
    assert_int_equal(pn_random(a, sizeof(a)), PN_OK);
    assert_int_equal(pn_random(b, sizeof(b)), PN_OK);
    assert_memory_not_equal(a, b, sizeof(a));
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selfsigned),
        cmocka_unit_test(test_ssl_outlives_ctx),
        cmocka_unit_test(test_psk_same_key),
        cmocka_unit_test(test_psk_wrong_key),
        cmocka_unit_test(test_psk_lookup),
        cmocka_unit_test(test_psk_key_length),
        cmocka_unit_test(test_psk_vs_certificate),
        cmocka_unit_test(test_files_errors),
        cmocka_unit_test(test_files_load_and_reload),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_implicit_handshake_and_bulk),
        cmocka_unit_test(test_hmac_random),
    };
    return cmocka_run_group_tests(tests, files_setup, files_teardown);
}
