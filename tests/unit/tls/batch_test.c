/* tests/unit/tls/batch_test.c: the TLS transport's batching over socketpairs
 * BIO (tls/xprt_tls.c): reads that gather several records, records read
 * ahead that no readiness announces, writes cut short (partial send, EAGAIN
 * mid-write), half-close, close_notify behind bytes still on their way, an
 * end of stream read with the last bytes. POSTERN_NO_KTLS is set so that the batching BIO is used even on a
 * kernel that offers kTLS. */
#include "tls/tls.h"
#include "core/ev.h"
#include "core/xprt.h"
#include "../testutil.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

struct pair {
    pn_xprt_t *cli;     /* owned */
    pn_xprt_t *srv;     /* owned */
};

static pn_tls_ctx_t *sc, *cc;

static int
setup(void **state)
{
    char err[PN_ERR_LEN];
    setenv("POSTERN_NO_KTLS", "1", 1);
    sc = pn_tls_server_selfsigned(err);
    cc = pn_tls_client_new(0, NULL, err);
    return sc == NULL || cc == NULL;
}

static int
teardown(void **state)
{
    pn_tls_ctx_free(sc);
    pn_tls_ctx_free(cc);
    return 0;
}

/* Open a handshaken pair; with <sndbuf> > 0 both sockets get that SO_SNDBUF. */
static void
pair_open(struct pair *p, int sndbuf)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    for (int i = 0; i < 2 && sndbuf > 0; i++)
        assert_int_equal(setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    p->cli = pn_tls_xprt_new(fds[0], pn_tls_client_ssl(cc, NULL));
    p->srv = pn_tls_xprt_new(fds[1], pn_tls_server_ssl(sc));
    int rc = PN_AGAIN, rs = PN_AGAIN;
    for (int i = 0; i < 200 && (rc == PN_AGAIN || rs == PN_AGAIN); i++) {
        if (rc == PN_AGAIN)
            rc = pn_tls_xprt_handshake(p->cli);
        if (rs == PN_AGAIN)
            rs = pn_tls_xprt_handshake(p->srv);
    }
    assert_int_equal(rc, PN_OK);
    assert_int_equal(rs, PN_OK);
}

static void
pair_close(struct pair *p)
{
    pn_xprt_free(p->cli);
    pn_xprt_free(p->srv);
}

/* Whether the socket of <x> has no byte waiting. */
static int
socket_empty(pn_xprt_t *x)
{
    char c;
    return recv(x->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1 && errno == EAGAIN;
}

/* Three writes make three records; one read takes them all (read ahead, then
 * one SSL_read per record). */
static void
test_read_gathers_records(void **state)
{
    struct pair p;
    pair_open(&p, 0);
    assert_int_equal(p.cli->ops->write(p.cli, "one,", 4), 4);
    assert_int_equal(p.cli->ops->write(p.cli, "two,", 4), 4);
    assert_int_equal(p.cli->ops->write(p.cli, "three", 5), 5);
    char buf[64];
    ssize_t n = tu_read_settled(p.srv, buf, sizeof(buf));
    assert_int_equal(n, 13);
    assert_memory_equal(buf, "one,two,three", 13);
    assert_int_equal(p.srv->ops->read(p.srv, buf, sizeof(buf)), PN_AGAIN);
    assert_int_equal(p.srv->want, EV_RD);
    pair_close(&p);
}

/* A reader that stops with whole records still buffered (its buffer was
 * full) is told by pending() and peek(), while the socket itself is empty. */
static void
test_pending_read_ahead(void **state)
{
    struct pair p;
    pair_open(&p, 0);
    assert_int_equal(p.cli->ops->write(p.cli, "abcd", 4), 4);
    assert_int_equal(p.cli->ops->write(p.cli, "efgh", 4), 4);
    char buf[8];
    ssize_t n = tu_read_settled(p.srv, buf, 4);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "abcd", 4);
    assert_true(socket_empty(p.srv));
    assert_true(p.srv->ops->pending(p.srv) > 0);
    assert_int_equal(pn_xprt_peek(p.srv), 1);
    assert_int_equal(p.srv->ops->read(p.srv, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "efgh", 4);
    assert_int_equal(p.srv->ops->read(p.srv, buf, sizeof(buf)), PN_AGAIN);
    assert_int_equal(p.srv->ops->pending(p.srv), 0);
    assert_int_equal(pn_xprt_peek(p.srv), PN_AGAIN);
    pair_close(&p);
}

/* Drain everything readable at <x> into <in> at <got>. */
static void
drain(pn_xprt_t *x, unsigned char *in, size_t cap, size_t *got)
{
    for (;;) {
        ssize_t r = x->ops->read(x, in + *got, cap - *got);
        if (r == PN_AGAIN || r == 0)
            return;
        assert_true(r > 0);
        *got += (size_t)r;
    }
}

/* Writes through a small socket buffer: partial send()s and EAGAIN in the
 * middle of a write; while the socket stays full the same call says PN_AGAIN
 * again, and nothing is sent twice or lost. */
static void
test_write_again_mid_batch(void **state)
{
    struct pair p;
    pair_open(&p, 4096);
    enum { TOTAL = 1 << 20 };
    unsigned char *out = malloc(TOTAL), *in = malloc(TOTAL);
    assert_non_null(out);
    assert_non_null(in);
    assert_int_equal(pn_random(out, TOTAL), PN_OK);
    size_t sent = 0, got = 0;
    int again = 0, told_after_again = 0;
    for (int i = 0; i < 1000000 && got < TOTAL; i++) {
        if (sent < TOTAL) {
            ssize_t n = p.cli->ops->write(p.cli, out + sent, TOTAL - sent);
            if (n == PN_AGAIN) {
                assert_int_equal(p.cli->want, EV_WR);
                again++;
                /* The socket still full: the same call again is PN_AGAIN. */
                assert_int_equal(p.cli->ops->write(p.cli, out + sent, TOTAL - sent), PN_AGAIN);
                if (i % 2 == 0)
                    drain(p.srv, in, TOTAL, &got);
                continue;
            }
            assert_true(n > 0);
            if (again > 0)
                told_after_again++;
            sent += (size_t)n;
        }
        if (i % 3 == 0)
            drain(p.srv, in, TOTAL, &got);
    }
    drain(p.srv, in, TOTAL, &got);
    assert_int_equal(sent, TOTAL);
    assert_int_equal(got, TOTAL);
    assert_memory_equal(in, out, TOTAL);
    assert_true(again > 0);
    assert_true(told_after_again > 0);
    free(out);
    free(in);
    pair_close(&p);
}

/* close_notify behind bytes still on their way (the socket full, a record
 * waiting in OpenSSL): the writer finishes its write, then shutdown_wr sends
 * close_notify and the FIN once they can leave; the reader gets every byte,
 * then end of stream, and can still write back (half-close). */
static void
test_close_notify_after_buffered(void **state)
{
    struct pair p;
    pair_open(&p, 4096);
    enum { TOTAL = 256 * 1024 };
    unsigned char *out = malloc(TOTAL), *in = malloc(TOTAL);
    assert_non_null(out);
    assert_non_null(in);
    assert_int_equal(pn_random(out, TOTAL), PN_OK);
    size_t sent = 0, got = 0;
    ssize_t n;
    while ((n = p.cli->ops->write(p.cli, out + sent, TOTAL - sent)) > 0)
        sent += (size_t)n;
    assert_int_equal(n, PN_AGAIN);
    assert_int_equal(p.cli->want, EV_WR);
    int rc = PN_AGAIN, ended = 0;
    for (int i = 0; i < 100000 && !ended; i++) {
        if (sent < TOTAL) {
            n = p.cli->ops->write(p.cli, out + sent, TOTAL - sent);
            if (n > 0)
                sent += (size_t)n;
            else
                assert_int_equal(n, PN_AGAIN);
        } else if (rc == PN_AGAIN) {
            rc = p.cli->ops->shutdown_wr(p.cli);
        }
        ssize_t r = p.srv->ops->read(p.srv, in + got, TOTAL - got);
        if (r == 0)
            ended = 1;
        else if (r > 0)
            got += (size_t)r;
        else
            assert_int_equal(r, PN_AGAIN);
    }
    assert_int_equal(rc, PN_OK);
    assert_true(ended);
    assert_int_equal(got, TOTAL);
    assert_memory_equal(in, out, TOTAL);
    assert_int_equal(p.cli->ops->shutdown_wr(p.cli), PN_OK);    /* idempotent */
    /* Half-close: the other way still works. */
    assert_int_equal(p.srv->ops->write(p.srv, "back", 4), 4);
    char buf[8];
    assert_int_equal(tu_read_settled(p.cli, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "back", 4);
    free(out);
    free(in);
    pair_close(&p);
}

/* Bytes and close_notify read in one go: the bytes come first, end of stream
 * with the next call (held, announced by pending()). */
static void
test_end_held_after_bytes(void **state)
{
    struct pair p;
    pair_open(&p, 0);
    assert_int_equal(p.cli->ops->write(p.cli, "last words", 10), 10);
    assert_int_equal(p.cli->ops->shutdown_wr(p.cli), PN_OK);
    char buf[64];
    ssize_t n = tu_read_settled(p.srv, buf, sizeof(buf));
    assert_int_equal(n, 10);
    assert_memory_equal(buf, "last words", 10);
    assert_true(p.srv->ops->pending(p.srv) > 0);
    assert_int_equal(p.srv->ops->read(p.srv, buf, sizeof(buf)), 0);
    pair_close(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_gathers_records),
        cmocka_unit_test(test_pending_read_ahead),
        cmocka_unit_test(test_write_again_mid_batch),
        cmocka_unit_test(test_close_notify_after_buffered),
        cmocka_unit_test(test_end_held_after_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
