/* tests/unit/tls/h2_test.c: the "h2" transport (tls/h2.h) over a socketpair,
 * both ends driven by hand: the request's judgement (200, 404, 405, 400,
 * HTTP/1 bytes, a garbage preface), bytes both ways past the 1 MiB window,
 * half-close, a reader that stops reading bounds what is buffered, a write
 * blocked on the window is called back when a read took the WINDOW_UPDATE
 * before anyone watched, and the ALPN helpers without a handshake. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/ev.h"
#include "net/sock.h"
#include "tls/h2.h"

struct pair {
    int fd[2];
    pn_xprt_t *srv, *cli;
};

static void
nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void
pair_open(struct pair *p, const char *srv_path, const char *cli_path)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
    nonblock(p->fd[0]);
    nonblock(p->fd[1]);
    p->srv = pn_h2_xprt_server(pn_raw_xprt_new(p->fd[0]), srv_path);
    p->cli = pn_h2_xprt_client(pn_raw_xprt_new(p->fd[1]), cli_path, "x", 0);
}

static void
pair_close(struct pair *p)
{
    pn_xprt_free(p->srv);
    pn_xprt_free(p->cli);
}

/* Let the client's preface and request out, then let the server judge. */
static int
accept_now(struct pair *p)
{
    int rc = PN_AGAIN;
    for (int i = 0; i < 50 && rc == PN_AGAIN; i++) {
        uint8_t b[16];
        ssize_t n = p->cli->ops->read(p->cli, b, sizeof(b));   /* flushes the client */
        assert_true(n == PN_AGAIN);
        rc = pn_h2_xprt_accept(p->srv);
    }
    return rc;
}

static void
test_accept_and_bytes_both_ways(void **state)
{
    struct pair p;
    pair_open(&p, "/t", "/t");
    /* the client writes before any answer: no round trip */
    assert_int_equal(p.cli->ops->write(p.cli, "hello", 5), 5);
    assert_int_equal(accept_now(&p), PN_OK);
    char b[64];
    ssize_t n = p.srv->ops->read(p.srv, b, sizeof(b));
    assert_int_equal(n, 5);
    assert_memory_equal(b, "hello", 5);
    assert_int_equal(p.srv->ops->write(p.srv, "world!", 6), 6);
    n = p.cli->ops->read(p.cli, b, sizeof(b));
    assert_int_equal(n, 6);
    assert_memory_equal(b, "world!", 6);
    /* half-close: the server reads end of stream and still answers */
    assert_int_equal(p.cli->ops->shutdown_wr(p.cli), PN_OK);
    assert_int_equal(p.srv->ops->read(p.srv, b, sizeof(b)), 0);
    assert_int_equal(p.srv->ops->write(p.srv, "late", 4), 4);
    assert_int_equal(p.cli->ops->read(p.cli, b, sizeof(b)), 4);
    assert_int_equal(p.srv->ops->shutdown_wr(p.srv), PN_OK);
    assert_int_equal(p.cli->ops->read(p.cli, b, sizeof(b)), 0);
    assert_true(pn_h2_xprt_is(p.cli) && pn_h2_xprt_is(p.srv));
    pair_close(&p);
}

/* 4 MiB through a 1 MiB window, both ends stepping in turn: all of it, in order. */
static void
test_bulk_past_the_window(void **state)
{
    struct pair p;
    pair_open(&p, "/", "/");
    assert_int_equal(accept_now(&p), PN_OK);
    const size_t total = 4u << 20;
    uint8_t *src = malloc(total), *dst = malloc(total);
    for (size_t i = 0; i < total; i++)
        src[i] = (uint8_t)(i * 7 + (i >> 12));
    size_t sent = 0, got = 0;
    for (int round = 0; round < 100000 && got < total; round++) {
        if (sent < total) {
            ssize_t n = p.cli->ops->write(p.cli, src + sent, total - sent);
            assert_true(n > 0 || n == PN_AGAIN);
            if (n > 0)
                sent += (size_t)n;
        }
        ssize_t n = p.srv->ops->read(p.srv, dst + got, 100000);
        assert_true(n > 0 || n == PN_AGAIN);
        if (n > 0)
            got += (size_t)n;
    }
    assert_int_equal(got, total);
    assert_memory_equal(src, dst, total);
    free(src);
    free(dst);
    pair_close(&p);
}

/* A reader that stops: the writer gets PN_AGAIN once the window and the
 * socket are full, and the reader's buffer stays within the window. */
static void
test_a_stopped_reader_pushes_back(void **state)
{
    struct pair p;
    pair_open(&p, "/", "/");
    assert_int_equal(accept_now(&p), PN_OK);
    static uint8_t chunk[PN_H2_CHUNK];
    size_t sent = 0;
    int again = 0;
    for (int i = 0; i < 1000 && !again; i++) {
        ssize_t n = p.cli->ops->write(p.cli, chunk, sizeof(chunk));
        if (n == PN_AGAIN)
            again = 1;
        else
            sent += (size_t)n;
        (void)p.srv->ops->peek(p.srv);      /* the server takes what the socket has */
    }
    assert_true(again);
    assert_true(sent <= PN_H2_WINDOW + PN_H2_CHUNK);
    assert_true(p.srv->ops->pending(p.srv) <= PN_H2_WINDOW);
    pair_close(&p);
}

static int kicked;

static void
on_kicked(pn_xprt_t *x, int ready, void *arg)
{
    kicked++;
    pn_xprt_unwatch(x);
    ev_loop_stop(arg);
}

static long
on_give_up(ev_timer_t *t, void *arg)
{
    ev_loop_stop(arg);
    return EV_TIMER_STOP;
}

/* Bytes between the two ends go through the test's hands: held, or passed on. */
struct hop {
    int c[2], s[2];                 /* c[0] the client's socket, s[0] the server's */
    uint8_t *held;                  /* client to server bytes not passed on yet */
    size_t n;
};

static void
hop_move(int from, int to, uint8_t *held, size_t *n, size_t cap, int pass)
{
    ssize_t r;
    while (*n < cap && (r = read(from, held + *n, cap - *n)) > 0)
        *n += (size_t)r;
    while (pass && *n > 0 && (r = write(to, held, *n)) > 0) {
        memmove(held, held + r, *n - (size_t)r);
        *n -= (size_t)r;
    }
}

#define HOP_CAP (4u << 20)

static void
hop_up(struct hop *h, int pass)
{
    hop_move(h->c[1], h->s[1], h->held, &h->n, HOP_CAP, pass);
}

static void
hop_down(struct hop *h)
{
    uint8_t b[65536];
    size_t n = 0;
    hop_move(h->s[1], h->c[1], b, &n, sizeof(b), 1);
    assert_int_equal(n, 0);
}

/* The relay's first step on a channel handed over without ever being watched:
 * its write blocks on the window, then its read takes the WINDOW_UPDATE off
 * the socket, which stays quiet after. The watch that follows must still call
 * the writer back (the write goes on), not wait for a readiness that never
 * comes. */
static void
test_a_window_update_read_before_the_watch(void **state)
{
    struct hop h = { .held = malloc(HOP_CAP) };
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, h.c), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, h.s), 0);
    for (int i = 0; i < 2; i++) {
        nonblock(h.c[i]);
        nonblock(h.s[i]);
    }
    pn_xprt_t *srv = pn_h2_xprt_server(pn_raw_xprt_new(h.s[0]), "/");
    pn_xprt_t *cli = pn_h2_xprt_client(pn_raw_xprt_new(h.c[0]), "/", "x", 0);
    uint8_t b[16];
    int rc = PN_AGAIN;
    for (int i = 0; i < 50 && rc == PN_AGAIN; i++) {
        assert_int_equal(cli->ops->read(cli, b, sizeof(b)), PN_AGAIN);
        hop_up(&h, 1);
        rc = pn_h2_xprt_accept(srv);
        hop_down(&h);
    }
    assert_int_equal(rc, PN_OK);
    assert_int_equal(cli->ops->read(cli, b, sizeof(b)), PN_AGAIN);  /* the answer, SETTINGS */

    /* The client writes until the window (not the socket) stops it. */
    static uint8_t chunk[PN_H2_CHUNK];
    int blocked = 0;
    for (int i = 0; i < 1000 && !blocked; i++) {
        ssize_t n = cli->ops->write(cli, chunk, sizeof(chunk));
        assert_true(n > 0 || n == PN_AGAIN);
        blocked = n == PN_AGAIN && cli->want == EV_RD;
        hop_up(&h, 0);
    }
    assert_true(blocked);
    /* The server reads it all: its WINDOW_UPDATE reaches the client's socket. */
    static uint8_t sink[PN_H2_WINDOW];
    for (int i = 0; i < 1000 && (h.n > 0 || i < 2); i++) {
        hop_up(&h, 1);
        while (srv->ops->read(srv, sink, sizeof(sink)) > 0)
            ;
    }
    assert_int_equal(h.n, 0);
    hop_down(&h);
    /* The read takes it in: the socket is quiet after. */
    assert_int_equal(cli->ops->read(cli, b, sizeof(b)), PN_AGAIN);
    char c;
    assert_true(recv(h.c[0], &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1);

    ev_loop_t *loop = ev_loop_new();
    ev_timer_t *t = ev_timer_new(loop, on_give_up, loop);
    ev_timer_arm(t, 2000);
    kicked = 0;
    pn_xprt_watch(cli, loop, EV_RD, on_kicked, loop);
    ev_loop_run(loop);
    assert_int_equal(kicked, 1);
    assert_true(cli->ops->write(cli, chunk, sizeof(chunk)) > 0);
    ev_timer_free(t);
    pn_xprt_free(cli);
    pn_xprt_free(srv);
    ev_loop_free(loop);
    close(h.c[1]);
    close(h.s[1]);
    free(h.held);
}

static void
read_all(int fd, char *out, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < 100; i++) {
        ssize_t r = read(fd, out + n, cap - 1 - n);
        if (r > 0)
            n += (size_t)r;
    }
    out[n] = '\0';
}

static void
test_refusals(void **state)
{
    struct pair p;
    pair_open(&p, "/t", "/other");
    assert_int_equal(accept_now(&p), PN_ERR);
    assert_non_null(strstr(p.srv->err, "404"));
    char b[16];
    assert_int_equal(p.cli->ops->read(p.cli, b, sizeof(b)), PN_ERR);
    assert_non_null(strstr(p.cli->err, "404"));
    pair_close(&p);

    /* HTTP/1 bytes get an HTTP/1.1 400 page */
    int fd[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    nonblock(fd[0]);
    nonblock(fd[1]);
    pn_xprt_t *s = pn_h2_xprt_server(pn_raw_xprt_new(fd[0]), "/t");
    const char *get = "GET /t HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(fd[1], get, strlen(get)), (ssize_t)strlen(get));
    assert_int_equal(pn_h2_xprt_accept(s), PN_ERR);
    char page[512];
    read_all(fd[1], page, sizeof(page));
    assert_true(strncmp(page, "HTTP/1.1 400 ", 13) == 0);
    pn_xprt_free(s);
    close(fd[1]);

    /* a preface gone wrong after its first bytes */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    nonblock(fd[0]);
    s = pn_h2_xprt_server(pn_raw_xprt_new(fd[0]), "/t");
    const char bad[] = "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n";
    assert_int_equal(write(fd[1], bad, sizeof(bad) - 1), (ssize_t)sizeof(bad) - 1);
    assert_int_equal(pn_h2_xprt_accept(s), PN_ERR);
    assert_non_null(s->err);
    pn_xprt_free(s);
    close(fd[1]);

    /* the peer goes away before its request */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    nonblock(fd[0]);
    s = pn_h2_xprt_server(pn_raw_xprt_new(fd[0]), "/t");
    close(fd[1]);
    assert_int_equal(pn_h2_xprt_accept(s), PN_ERR);
    pn_xprt_free(s);
}

static void
test_write_after_shutdown_and_peek(void **state)
{
    struct pair p;
    pair_open(&p, "/", "/");
    assert_int_equal(accept_now(&p), PN_OK);
    assert_int_equal(pn_xprt_peek(p.srv), PN_AGAIN);
    assert_int_equal(p.cli->ops->write(p.cli, "x", 1), 1);
    assert_int_equal(pn_xprt_peek(p.srv), 1);
    assert_int_equal(p.cli->ops->shutdown_wr(p.cli), PN_OK);
    assert_int_equal(p.cli->ops->write(p.cli, "y", 1), PN_ERR);
    pair_close(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_and_bytes_both_ways),
        cmocka_unit_test(test_bulk_past_the_window),
        cmocka_unit_test(test_a_stopped_reader_pushes_back),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_write_after_shutdown_and_peek),
        cmocka_unit_test(test_a_window_update_read_before_the_watch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
