/* tls/xprt_tls.c: the TLS transport, an SSL on a non-blocking TCP socket behind
 * the same vtable as raw TCP (core/xprt.h).
 *
 * OpenSSL's outcomes map onto the transport's: WANT_READ / WANT_WRITE become
 * PN_AGAIN with <want> naming the readiness to wait for (a read may need the
 * socket writable and a write readable), a close_notify or a bare FIN becomes
 * end of stream, anything else PN_ERR with a static reason. The error queue is
 * emptied before every call and after every failure, so one connection's errors
 * never show up on another. */
#include "tls/tls.h"
#include "tls/ws.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

typedef struct xprt_tls {
    pn_xprt_t base;         /* first, so a pn_xprt_t * is an xprt_tls_t * */
    SSL *ssl;               /* owned; freed by tls_free */
    unsigned attached : 1;  /* SSL_set_fd succeeded */
    unsigned wr_shut : 1;   /* close_notify sent and the write side shut */
    pn_xprt_t *inner;       /* owned, pn_tls_xprt_wrap: records travel through it */
    int inner_want;         /* what <inner> last waited for */
} xprt_tls_t;

static const struct pn_xprt_ops tls_ops;

/* Return a static reason for the failure just reported on <ssl>: the earliest
 * queued OpenSSL error, the verification result when the certificate was
 * refused, or the saved <errno_>. */
static const char *
tls_reason(SSL *ssl, int errno_)
{
    unsigned long e = ERR_peek_error();
    if (e == 0)
        return errno_ != 0 ? strerror(errno_) : "connection closed during the tls exchange";
    if (ERR_SYSTEM_ERROR(e))
        return strerror(ERR_GET_REASON(e));
    if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
        switch (ERR_GET_REASON(e)) {
        case SSL_R_CERTIFICATE_VERIFY_FAILED: {
            long v = SSL_get_verify_result(ssl);
            if (v != X509_V_OK)
                return X509_verify_cert_error_string(v);
            break;
        }
        case SSL_R_BINDER_DOES_NOT_VERIFY:
            return "psk binder does not verify (wrong key)";
        default:
            break;
        }
    }
    const char *r = ERR_reason_error_string(e);
    return r != NULL ? r : "tls error";
}

/* Map the failed SSL call that returned <ret> (errno <errno_> saved right after
 * it) onto PN_AGAIN (setting want), 0 for end of stream when <eof_err> is NULL,
 * or PN_ERR (setting err; <eof_err> is the reason used for end of stream).
 * <again_want> is the readiness to wait for when the socket itself said EAGAIN. */
static int
tls_fail(xprt_tls_t *t, int ret, int errno_, int again_want, const char *eof_err)
{
    pn_xprt_t *x = &t->base;
    int rc = PN_ERR;
    switch (SSL_get_error(t->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        x->want = t->inner != NULL ? t->inner_want : EV_RD;
        rc = PN_AGAIN;
        break;
    case SSL_ERROR_WANT_WRITE:
        x->want = t->inner != NULL ? t->inner_want : EV_WR;
        rc = PN_AGAIN;
        break;
    case SSL_ERROR_ZERO_RETURN:
        if (eof_err == NULL)
            rc = 0;
        else
            x->err = eof_err;
        break;
    case SSL_ERROR_SYSCALL:
        if (errno_ == EAGAIN || errno_ == EWOULDBLOCK || errno_ == EINTR) {
            x->want = again_want;
            rc = PN_AGAIN;
            break;
        }
        x->err = tls_reason(t->ssl, errno_);
        break;
    case SSL_ERROR_SSL:
        x->err = tls_reason(t->ssl, errno_);
        break;
    default:    /* X509 lookup, async, client hello callbacks: never set up */
        x->err = "unexpected tls state";
        break;
    }
    ERR_clear_error();
    return rc;
}

static int
tls_detached(pn_xprt_t *x)
{
    x->err = "tls: cannot attach the socket (out of memory)";
    return PN_ERR;
}

static ssize_t
tls_read(pn_xprt_t *x, void *buf, size_t len)
{
    xprt_tls_t *t = (xprt_tls_t *)x;
    size_t n = 0;
    if (!t->attached)
        return tls_detached(x);
    ERR_clear_error();
    errno = 0;
    int r = SSL_read_ex(t->ssl, buf, len, &n);
    if (r == 1)
        return (ssize_t)n;
    return tls_fail(t, r, errno, EV_RD, NULL);
}

/* After PN_AGAIN the caller must call again with the same bytes at the start of
 * <buf> (more may follow; the buffer may move): OpenSSL has already encrypted
 * part of them. */
static ssize_t
tls_write(pn_xprt_t *x, const void *buf, size_t len)
{
    xprt_tls_t *t = (xprt_tls_t *)x;
    size_t n = 0;
    if (!t->attached)
        return tls_detached(x);
    if (len == 0)
        return 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_write_ex(t->ssl, buf, len, &n);
    if (r == 1)
        return (ssize_t)n;
    return tls_fail(t, r, errno, EV_WR, "tls session closed by the peer");
}

/* Send close_notify once (not waiting for the peer's) and shut the TCP write
 * side, so the peer reads end of stream while this side can still read. A
 * handshake still in progress is driven first. */
static int
tls_shutdown_wr(pn_xprt_t *x)
{
    xprt_tls_t *t = (xprt_tls_t *)x;
    if (!t->attached)
        return tls_detached(x);
    if (t->wr_shut)
        return PN_OK;
    if (!SSL_is_init_finished(t->ssl)) {
        int r = pn_tls_xprt_handshake(x);
        if (r != PN_OK)
            return r;
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_shutdown(t->ssl);
    if (r < 0) {
        return tls_fail(t, r, errno, EV_WR, "tls session closed by the peer");
    }
    t->wr_shut = 1;
    if (t->inner != NULL) {
        int rc = t->inner->ops->shutdown_wr(t->inner);
        if (rc == PN_ERR)
            x->err = t->inner->err;
        return rc == PN_AGAIN ? PN_OK : rc;     /* the inner close frame goes later */
    }
    if (shutdown(x->fd, SHUT_WR) == -1 && errno != ENOTCONN) {
        x->err = strerror(errno);
        return PN_ERR;
    }
    return PN_OK;
}

static size_t
tls_pending(pn_xprt_t *x)
{
    xprt_tls_t *t = (xprt_tls_t *)x;
    int n = SSL_pending(t->ssl);
    return (n > 0 ? (size_t)n : 0) + (t->inner != NULL ? t->inner->ops->pending(t->inner) : 0);
}

static void
tls_free(pn_xprt_t *x)
{
    xprt_tls_t *t = (xprt_tls_t *)x;
    SSL_free(t->ssl);
    if (t->inner != NULL)
        pn_xprt_free(t->inner);
    else if (x->fd >= 0)
        close(x->fd);
    free(t);
}

/* TLS over a transport without fd (a stream of an HTTP/2 connection): its
 * readiness is the inner transport's, watched for the same mask. */
static void
on_inner_ready(pn_xprt_t *inner, int ready, void *arg)
{
    pn_xprt_t *x = arg;
    if (x->sub.cb != NULL && (ready & x->sub.mask) != 0)
        x->sub.cb(x, ready & x->sub.mask, x->sub.arg);  /* may free <x> */
}

static void
tls_watch(pn_xprt_t *x)
{
    xprt_tls_t *t = (xprt_tls_t *)x;
    if (t->inner != NULL && t->inner->fd == -1) {
        pn_xprt_watch(t->inner, x->sub.loop, x->sub.mask, on_inner_ready, x);
        return;
    }
    pn_xprt_fd_watch(x);
}

static int
tls_peek(pn_xprt_t *x)
{
    xprt_tls_t *t = (xprt_tls_t *)x;
    if (t->inner != NULL && t->inner->fd == -1)
        return SSL_pending(t->ssl) > 0 ? 1 : pn_xprt_peek(t->inner);
    return pn_xprt_fd_peek(x);  /* raw bytes on the socket: a record or an alert */
}

static const struct pn_xprt_ops tls_ops = {
    .name = "tls",
    .read = tls_read,
    .write = tls_write,
    .shutdown_wr = tls_shutdown_wr,
    .pending = tls_pending,
    .watch = tls_watch,
    .peek = tls_peek,
    .free = tls_free,
};

/* Wrap the connected TCP <fd> and <ssl> (from pn_tls_server_ssl() or
 * pn_tls_client_ssl()) in a TLS transport that owns both from now on: freeing
 * it frees the SSL and closes the fd. Never NULL; if OpenSSL cannot attach the
 * socket (out of memory) every call on the transport fails with PN_ERR. */
pn_xprt_t *
pn_tls_xprt_new(int fd, SSL *ssl)
{
    xprt_tls_t *t = xcalloc(sizeof(*t));
    t->base.ops = &tls_ops;
    t->base.fd = fd;
    t->ssl = ssl;
    t->attached = SSL_set_fd(ssl, fd) == 1;
    ERR_clear_error();
    return &t->base;
}

/* --- TLS over another transport (pn_tls_xprt_wrap) ------------------------
 * A BIO whose reads and writes are the inner transport's: PN_AGAIN becomes a
 * retry (and what the inner waits for is kept for x->want), end of stream a
 * 0 without retry, an error -1. */

static int
bio_xprt_read(BIO *b, char *buf, size_t len, size_t *got)
{
    xprt_tls_t *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = t->inner->ops->read(t->inner, buf, len);
    if (n > 0) {
        *got = (size_t)n;
        return 1;
    }
    if (n == PN_AGAIN) {
        t->inner_want = t->inner->want;
        BIO_set_retry_read(b);
    }
    *got = 0;
    return 0;
}

static int
bio_xprt_write(BIO *b, const char *buf, size_t len, size_t *put)
{
    xprt_tls_t *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = t->inner->ops->write(t->inner, buf, len);
    if (n > 0) {
        *put = (size_t)n;
        return 1;
    }
    if (n == PN_AGAIN) {
        t->inner_want = t->inner->want;
        BIO_set_retry_write(b);
    }
    *put = 0;
    return 0;
}

static long
bio_xprt_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
bio_xprt_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *
bio_xprt_method(void)
{
    static BIO_METHOD *m;
    if (m == NULL) {
        m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "postern xprt");
        if (m == NULL || BIO_meth_set_read_ex(m, bio_xprt_read) != 1 ||
            BIO_meth_set_write_ex(m, bio_xprt_write) != 1 ||
            BIO_meth_set_ctrl(m, bio_xprt_ctrl) != 1 ||
            BIO_meth_set_create(m, bio_xprt_create) != 1)
            abort();
    }
    return m;
}

/* Wrap <inner> and <ssl> (both owned from now on): the socket's fd stays the
 * inner transport's (x->fd borrowed, for readiness), freeing the TLS one
 * frees <inner>. Never NULL; every call fails when no BIO can be made. */
pn_xprt_t *
pn_tls_xprt_wrap(pn_xprt_t *inner, SSL *ssl)
{
    xprt_tls_t *t = xcalloc(sizeof(*t));
    t->base.ops = &tls_ops;
    t->base.fd = inner->fd;
    t->ssl = ssl;
    t->inner = inner;
    t->inner_want = EV_RD;
    BIO *b = BIO_new(bio_xprt_method());
    if (b != NULL) {
        BIO_set_data(b, t);
        SSL_set_bio(ssl, b, b);
        t->attached = 1;
    }
    ERR_clear_error();
    return &t->base;
}

int
pn_tls_xprt_ktls(pn_xprt_t *x)
{
    SSL *ssl = pn_tls_xprt_ssl(x);
    if (ssl == NULL)
        return 0;
    return (BIO_get_ktls_send(SSL_get_wbio(ssl)) ? PN_KTLS_SEND : 0)
           | (BIO_get_ktls_recv(SSL_get_rbio(ssl)) ? PN_KTLS_RECV : 0);
}

/* With tls=0 only the control channel is TLS: whether the kernel could seal
 * its few records is not worth an INFO line on every start. */
static int ktls_quiet;

void
pn_tls_ktls_quiet(int quiet)
{
    ktls_quiet = quiet;
}

/* Say once per process, after the first handshake, whether the kernel took
 * the records over: the answer is the same for every connection of a run. */
static void
ktls_report(pn_xprt_t *x)
{
    static int said;
    if (said)
        return;
    int k = pn_tls_xprt_ktls(x);
    if (ktls_quiet && k == 0 && pn_tls_ktls_allowed()) {
        /* Not said yet: a tls>=1 data channel's handshake says it at INFO. */
        log_debug("tls: kernel TLS unavailable for the control channel");
        return;
    }
    said = 1;
    if (!pn_tls_ktls_allowed())
        log_info("tls: kernel TLS off (POSTERN_NO_KTLS): records are sealed in user space");
    else if (k == 0)
        log_info("tls: kernel TLS unavailable (no \"tls\" ULP in this kernel, or the "
                 "cipher is not offloaded): records are sealed in user space");
    else
        log_info("tls: kernel TLS on for %s", k == (PN_KTLS_SEND | PN_KTLS_RECV)
                                                 ? "send and receive"
                                                 : k == PN_KTLS_SEND ? "send" : "receive");
}

/* Drive the handshake of the TLS transport <x>: PN_OK once it is complete (at
 * once if it already is), PN_AGAIN with x->want set, or PN_ERR with x->err a
 * static reason (a refused certificate gives the verification error, e.g.
 * "hostname mismatch"; a wrong PSK gives "psk binder does not verify (wrong
 * key)" on the server and "tlsv1 alert decrypt error" on the client). Calls no
 * callbacks and never frees <x>. */
int
pn_tls_xprt_handshake(pn_xprt_t *x)
{
    xprt_tls_t *t = (xprt_tls_t *)x;
    if (!t->attached)
        return tls_detached(x);
    if (SSL_is_init_finished(t->ssl))
        return PN_OK;
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        ktls_report(x);
        return PN_OK;
    }
    return tls_fail(t, r, errno, EV_RD, "connection closed during the tls handshake");
}

/* Return the SSL of the TLS transport <x> (borrowed: it lives as long as <x>),
 * or NULL when <x> is not a TLS transport. */
SSL *
pn_tls_xprt_ssl(pn_xprt_t *x)
{
    if (x == NULL || x->ops != &tls_ops)
        return NULL;
    return ((xprt_tls_t *)x)->ssl;
}

/* The transport under the wrapping TLS <x> (borrowed), NULL for a TLS on a
 * socket or any other transport. */
pn_xprt_t *
pn_tls_xprt_inner(pn_xprt_t *x)
{
    if (x == NULL || x->ops != &tls_ops)
        return NULL;
    return ((xprt_tls_t *)x)->inner;
}

void
pn_tls_ssl_strict_eof(SSL *ssl)
{
    SSL_clear_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
}
