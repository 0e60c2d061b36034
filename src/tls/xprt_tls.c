/* tls/xprt_tls.c: the TLS transport, an SSL on a non-blocking TCP socket behind
 * the same vtable as raw TCP (core/xprt.h).
 *
 * OpenSSL's outcomes map onto the transport's: WANT_READ / WANT_WRITE become
 * PN_AGAIN with <want> naming the readiness to wait for (a read may need the
 * socket writable and a write readable), a close_notify or a bare FIN becomes
 * end of stream, anything else PN_ERR with a static reason. The error queue is
 * emptied before every call and after every failure, so one connection's errors
 * never show up on another.
 *
 * Batching (a socket, where the kernel cannot take the records over): the SSL
 * reads and writes through a BIO of our own on the fd rather than OpenSSL's
 * socket BIO. Reading, it reads ahead (one recv() brings up to TLS_BATCH
 * records once the handshake is done) and a read fills the caller's buffer
 * from every whole record buffered, so a relay moves up to 64 KiB per step
 * with one recv() and one write on the other side. Writing, the messages of a
 * handshake flight gather in <out> and leave in one send() when OpenSSL
 * flushes the flight; the records of a write (up to TLS_BATCH) leave one
 * send() each as they are sealed, all but the last with MSG_MORE, so the
 * kernel pushes them to the peer together without a copy of ours (gathering
 * them in <out> cost a copy per record, measured worse). <out> is held only while
 * bytes wait in it, and OpenSSL's own buffers are released while idle
 * (SSL_MODE_RELEASE_BUFFERS), so an idle connection holds no record buffer.
 * Where the kernel offers kTLS, OpenSSL's socket BIO is kept so that it can
 * hand the keys over (the kernel then seals and opens the records): that path
 * is the one used before batching, unchanged, and is not exercised on a
 * kernel without the "tls" module, such as the one the tests run on here. */
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

#define TLS_REC_WIRE (16384 + 256 + 5)      /* most bytes one record takes on the wire */
#define TLS_BATCH 4                         /* records read per recv(), sent per write */
#define TLS_OUT_CAP (TLS_BATCH * TLS_REC_WIRE)

typedef struct xprt_tls {
    pn_xprt_t base;         /* first, so a pn_xprt_t * is an xprt_tls_t * */
    SSL *ssl;               /* owned; freed by tls_free */
    unsigned attached : 1;  /* SSL_set_fd succeeded */
    unsigned wr_shut : 1;   /* close_notify sent and the write side shut */
    unsigned notify : 1;    /* batching: close_notify sealed (maybe still in <out>) */
    unsigned batch : 1;     /* our BIO on the fd: read-ahead, records gathered in <out> */
    unsigned rd_eof : 1;    /* batching: recv() said end of stream (BIO_eof) */
    unsigned rd_more : 1;   /* batching: the last read stopped with records maybe buffered */
    unsigned rd_held : 1;   /* batching: <rd_rc> met after bytes were returned, told next */
    unsigned more : 1;      /* batching: more records of this write follow (MSG_MORE) */
    unsigned rd_big : 1;    /* batching: the read-ahead buffer was made TLS_BATCH records long */
    int rd_rc;              /* 0 (end of stream) or PN_ERR, when rd_held */
    const char *rd_err;     /* static reason of a held PN_ERR */
    char *out;              /* owned: sealed records not yet sent, NULL when none wait */
    size_t out_off, out_len, out_cap;   /* sent, gathered and room bytes of <out> */
    pn_xprt_t *inner;       /* owned, pn_tls_xprt_wrap: records travel through it */
    int inner_want;         /* what <inner> last waited for */
    uint8_t *pre;           /* owned, pn_tls_xprt_new_pre: bytes read before, served first */
    size_t pre_len, pre_off;
} xprt_tls_t;

static const struct pn_xprt_ops tls_ops;
static int bio_xprt_create(BIO *b);
static ssize_t tls_write_records(xprt_tls_t *t, const void *buf, size_t len);

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

/* --- batching: our BIO on the fd (see the top) ---------------------------- */

/* Send what waits in <out>: PN_OK once all of it left, PN_AGAIN (want EV_WR)
 * or PN_ERR (err set; errno kept for OpenSSL). */
static int
tls_out_flush(xprt_tls_t *t)
{
    while (t->out_off < t->out_len) {
        ssize_t n = send(t->base.fd, t->out + t->out_off, t->out_len - t->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            t->out_off += (size_t)n;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            t->base.want = EV_WR;
            return PN_AGAIN;
        }
        t->base.err = strerror(n == 0 ? EPIPE : errno);
        return PN_ERR;
    }
    t->out_off = t->out_len = 0;
    return PN_OK;
}

/* Give <out> back once it is empty: an idle connection holds none. */
static void
tls_out_release(xprt_tls_t *t)
{
    if (t->out == NULL || t->out_len > 0)
        return;
    free(t->out);
    t->out = NULL;
    t->out_cap = 0;
}

/* Send records sealed outside a write (an alert, a key update) if they can
 * leave now; what cannot goes with the next write or shutdown. */
static void
tls_out_kick(xprt_tls_t *t)
{
    if (t->batch && t->out_len > 0) {
        int e = errno;
        const char *err = t->base.err;
        int want = t->base.want;
        (void)tls_out_flush(t);
        tls_out_release(t);
        errno = e;
        t->base.err = err;
        t->base.want = want;
    }
}

static int
bio_fd_write(BIO *b, const char *buf, size_t len, size_t *put)
{
    xprt_tls_t *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *put = 0;
    if (t->out_len == 0 && SSL_is_init_finished(t->ssl)) {
        /* Records of the caller's data leave as they are sealed (MSG_MORE
         * while more of the same write follow): gathering them would copy
         * each once more (docs/benchmarks.md, "Speed, second round"). */
        ssize_t n;
        do
            n = send(t->base.fd, buf, len, MSG_NOSIGNAL | (t->more ? MSG_MORE : 0));
        while (n == -1 && errno == EINTR);
        if (n > 0) {
            *put = (size_t)n;
            return 1;
        }
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            BIO_set_retry_write(b);
        return 0;
    }
    if (len > TLS_OUT_CAP) {        /* no record is this long: refuse */
        errno = EMSGSIZE;
        return 0;
    }
    if (t->out_len > 0 && TLS_OUT_CAP - t->out_len < len) {
        int rc = tls_out_flush(t);  /* full (a long handshake flight): send first */
        if (rc == PN_AGAIN)
            BIO_set_retry_write(b);
        if (rc != PN_OK)
            return 0;
    }
    /* A handshake flight gathers until OpenSSL flushes it; <out> grows as
     * needed (many handshakes at once must not each take a long buffer). */
    if (t->out_cap - t->out_len < len) {
        t->out_cap = t->out_len + len;
        t->out = xrealloc(t->out, t->out_cap);
    }
    memcpy(t->out + t->out_len, buf, len);
    t->out_len += len;
    *put = len;
    return 1;
}

static int
bio_fd_read(BIO *b, char *buf, size_t len, size_t *got)
{
    xprt_tls_t *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *got = 0;
    ssize_t n;
    do
        n = recv(t->base.fd, buf, len, 0);
    while (n == -1 && errno == EINTR);
    if (n > 0) {
        *got = (size_t)n;
        return 1;
    }
    if (n == 0)
        t->rd_eof = 1;
    else if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_read(b);
    return 0;
}

static long
bio_fd_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    xprt_tls_t *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: {          /* a handshake flight or an alert is complete */
        BIO_clear_retry_flags(b);
        int rc = tls_out_flush(t);
        if (rc == PN_AGAIN)
            BIO_set_retry_write(b);
        return rc == PN_OK;
    }
    case BIO_CTRL_EOF:
        return t->rd_eof;
    case BIO_CTRL_WPENDING:
        return (long)(t->out_len - t->out_off);
    case BIO_C_GET_FD:
        if (ptr != NULL)
            *(int *)ptr = t->base.fd;
        return t->base.fd;
    default:
        return 0;
    }
}

static BIO_METHOD *
bio_fd_method(void)
{
    static BIO_METHOD *m;
    if (m == NULL) {
        m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                         "postern batch");
        if (m == NULL || BIO_meth_set_read_ex(m, bio_fd_read) != 1 ||
            BIO_meth_set_write_ex(m, bio_fd_write) != 1 ||
            BIO_meth_set_ctrl(m, bio_fd_ctrl) != 1 ||
            BIO_meth_set_create(m, bio_xprt_create) != 1)
            abort();
    }
    return m;
}

static int
tls_detached(pn_xprt_t *x)
{
    x->err = "tls: cannot attach the socket (out of memory)";
    return PN_ERR;
}

/* Read into <buf> from as many records as are buffered whole (batching: one
 * SSL_read gives one record). An end or a failure met after some bytes is
 * held and told by the next call; a WANT_* then just ends the read. */
static ssize_t
tls_read(pn_xprt_t *x, void *buf, size_t len)
{
    xprt_tls_t *t = (xprt_tls_t *)x;
    size_t got = 0;
    if (!t->attached)
        return tls_detached(x);
    if (t->rd_held) {
        t->rd_held = 0;
        x->err = t->rd_err;
        return t->rd_rc;
    }
    if (t->batch && !t->rd_big && SSL_is_init_finished(t->ssl)) {
        /* Only now: a handshake reads small flights, and many at once (a
         * pool filling) must not each take a long buffer, even briefly. */
        SSL_set_default_read_buffer_len(t->ssl, TLS_OUT_CAP);
        t->rd_big = 1;
    }
    ERR_clear_error();      /* once: a call that succeeds queues nothing */
    for (;;) {
        size_t n = 0;
        errno = 0;
        int r = SSL_read_ex(t->ssl, (char *)buf + got, len - got, &n);
        if (r == 1) {
            got += n;
            if (got < len && t->batch && SSL_has_pending(t->ssl))
                continue;
            t->rd_more = got == len;
            break;
        }
        int e = errno, want = x->want;
        int rc = tls_fail(t, r, e, EV_RD, NULL);
        t->rd_more = 0;
        tls_out_kick(t);    /* an alert or a key update sealed while reading */
        if (got == 0)
            return rc;
        if (rc != PN_AGAIN) {
            t->rd_held = 1;
            t->rd_rc = rc;
            t->rd_err = x->err;
        }
        x->want = want;
        break;
    }
    return (ssize_t)got;
}

/* Batching: seal the records of up to TLS_BATCH * 16 KiB of <buf>, each sent as
 * it is sealed, all but the last with MSG_MORE: the kernel pushes them to the
 * peer as one (one wake-up of the reader, one TCP transmit) without a copy of
 * ours. A record that cannot leave stops the call: the bytes before it are
 * told, and the caller's next call starts with its bytes, as OpenSSL wants. */
static ssize_t
tls_write_records(xprt_tls_t *t, const void *buf, size_t len)
{
    size_t done = 0, most = len < TLS_BATCH * 16384 ? len : TLS_BATCH * 16384;
    ERR_clear_error();      /* once: a call that succeeds queues nothing */
    while (done < most) {
        size_t n = 0;
        t->more = most - done > 16384;
        errno = 0;
        int r = SSL_write_ex(t->ssl, (const char *)buf + done, most - done, &n);
        t->more = 0;
        if (r != 1) {
            int e = errno;
            if (done == 0)
                return tls_fail(t, r, e, EV_WR, "tls session closed by the peer");
            ERR_clear_error();      /* the next call meets it again */
            break;
        }
        done += n;
    }
    return (ssize_t)done;
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
    if (t->batch)
        return tls_write_records(t, buf, len);
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
    if (t->batch) {
        /* Records sealed before go first, then close_notify, then the FIN. */
        int rc = tls_out_flush(t);
        if (rc != PN_OK)
            return rc;
    }
    if (!t->notify) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_shutdown(t->ssl);
        if (r < 0)
            return tls_fail(t, r, errno, EV_WR, "tls session closed by the peer");
        t->notify = 1;
    }
    if (t->batch) {
        int rc = tls_out_flush(t);
        if (rc != PN_OK)
            return rc;
        tls_out_release(t);
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

/* Decrypted bytes, plus (batching) 1 while whole records may wait undecrypted
 * in the read-ahead buffer or an end is held: no readiness announces those. */
static size_t
tls_pending(pn_xprt_t *x)
{
    xprt_tls_t *t = (xprt_tls_t *)x;
    int n = SSL_pending(t->ssl);
    size_t p = n > 0 ? (size_t)n : 0;
    if (p == 0 && (t->rd_held || (t->rd_more && SSL_has_pending(t->ssl))))
        p = 1;
    return p + (t->pre_len - t->pre_off) + (t->inner != NULL ? t->inner->ops->pending(t->inner) : 0);
}

static void
tls_free(pn_xprt_t *x)
{
    xprt_tls_t *t = (xprt_tls_t *)x;
    SSL_free(t->ssl);
    free(t->pre);
    free(t->out);
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
    if (t->batch && (SSL_has_pending(t->ssl) || t->rd_held))
        return 1;               /* a record read ahead, or an end held */
    return pn_xprt_fd_peek(x);  /* raw bytes on the socket: a record or an alert */
}

static const struct pn_xprt_ops tls_ops = {
    .name = "tls",
    .read = tls_read,
    .write = tls_write,
    .shutdown_wr = tls_shutdown_wr,
    .pending = tls_pending,
    .watch = tls_watch,
    .peek = tls_peek,          /* a record read ahead, or raw bytes on the socket */
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
    if (pn_tls_ktls_allowed() && pn_tls_ktls_kernel()) {
        t->attached = SSL_set_fd(ssl, fd) == 1;
    } else {
        BIO *b = BIO_new(bio_fd_method());
        if (b != NULL) {
            BIO_set_data(b, t);
            SSL_set_bio(ssl, b, b);
            SSL_set_read_ahead(ssl, 1);
            t->attached = t->batch = 1;
        }
    }
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
    if (t->pre_off < t->pre_len) {
        size_t k = t->pre_len - t->pre_off < len ? t->pre_len - t->pre_off : len;
        memcpy(buf, t->pre + t->pre_off, k);
        t->pre_off += k;
        *got = k;
        return 1;
    }
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

/* As pn_tls_xprt_wrap(), for an <inner> from which the <len> bytes at <pre>
 * (copied) were already read: the TLS layer reads them first (a ClientHello
 * looked at to choose the certificate). Never NULL. */
pn_xprt_t *
pn_tls_xprt_wrap_pre(pn_xprt_t *inner, SSL *ssl, const uint8_t *pre, size_t len)
{
    pn_xprt_t *x = pn_tls_xprt_wrap(inner, ssl);
    xprt_tls_t *t = (xprt_tls_t *)x;
    t->pre = xmalloc(len > 0 ? len : 1);
    memcpy(t->pre, pre, len);
    t->pre_len = len;
    return x;
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
        tls_out_release(t);
        t->rd_more = 1;     /* records may have come with the handshake's last read */
        ktls_report(x);
        return PN_OK;
    }
    r = tls_fail(t, r, errno, EV_RD, "connection closed during the tls handshake");
    if (r == PN_ERR)
        tls_out_kick(t);    /* the alert, if it can leave now */
    return r;
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
