/* tests/unit/tls/h2_test.c: the multiplexed HTTP/2 transport (tls/h2_mux.h)
 * over a socketpair, both connections pumped by hand (pn_h2_mux_pump): two
 * streams on one connection carry bytes both ways without a round trip and
 * half-close each on its own; 4 MiB through one stream's 1 MiB window; a
 * reader that stops stalls its stream only; a reset ends one stream and the
 * other goes on; another path is refused on its stream only; a shut-down
 * write fails; peek on idle streams, and the end of the connection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/ev.h"
#include "net/sock.h"
#include "tls/h2_mux.h"

#define MAXS 8

struct pair {
    ev_loop_t *loop;
    pn_list_t set;
    pn_h2_mux_t *cli, *srv;         /* cli: our reference; srv: borrowed */
    pn_xprt_t *got[MAXS];           /* the server's accepted streams, in order */
    int ngot;
};

static void
on_stream(pn_xprt_t *x, void *ctx)
{
    struct pair *p = ctx;
    assert_true(p->ngot < MAXS);
    p->got[p->ngot++] = x;
}

static void
nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void
pair_open(struct pair *p, const char *cli_path)
{
    int fd[2];
    memset(p, 0, sizeof(*p));
    p->loop = ev_loop_new();
    pn_list_init(&p->set);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
    nonblock(fd[0]);
    nonblock(fd[1]);
    p->srv = pn_h2_mux_server(p->loop, pn_raw_xprt_new(fd[0]), "/t", on_stream, p, &p->set);
    p->cli = pn_h2_mux_client(p->loop, pn_raw_xprt_new(fd[1]), cli_path, "x", 0);
}

/* Both connections, a few turns (what the loop's events would do). */
static void
pump(struct pair *p)
{
    for (int i = 0; i < 4; i++) {
        pn_h2_mux_pump(p->cli);
        if (!pn_list_empty(&p->set))
            pn_h2_mux_pump(p->srv);
    }
}

static void
pair_close(struct pair *p)
{
    for (int i = 0; i < p->ngot; i++)
        pn_xprt_free(p->got[i]);
    pn_h2_mux_unref(p->cli);
    pn_h2_mux_close_all(&p->set);
    ev_loop_free(p->loop);
}

static ssize_t
rd(pn_xprt_t *x, char *b, size_t n)
{
    return x->ops->read(x, b, n);
}

static void
test_two_streams_on_one_connection(void **state)
{
    struct pair p;
    char b[64];
    pair_open(&p, "/t");
    pn_xprt_t *a = pn_h2_mux_open(p.cli), *c = pn_h2_mux_open(p.cli);
    assert_non_null(a);
    assert_non_null(c);
    assert_ptr_equal(pn_h2_mux_of(a), p.cli);
    /* written before any answer: no round trip */
    assert_int_equal(a->ops->write(a, "hello", 5), 5);
    assert_int_equal(c->ops->write(c, "other", 5), 5);
    pump(&p);
    assert_int_equal(p.ngot, 2);
    assert_int_equal(pn_h2_mux_streams(p.cli), 2);
    assert_int_equal(rd(p.got[0], b, sizeof(b)), 5);
    assert_memory_equal(b, "hello", 5);
    assert_int_equal(rd(p.got[1], b, sizeof(b)), 5);
    assert_memory_equal(b, "other", 5);
    assert_int_equal(p.got[0]->ops->write(p.got[0], "world!", 6), 6);
    pump(&p);
    assert_int_equal(rd(a, b, sizeof(b)), 6);
    assert_memory_equal(b, "world!", 6);
    assert_int_equal(rd(c, b, sizeof(b)), PN_AGAIN);
    /* half-close of one stream: its server end reads the end and still answers */
    assert_int_equal(a->ops->shutdown_wr(a), PN_OK);
    pump(&p);
    assert_int_equal(rd(p.got[0], b, sizeof(b)), 0);
    assert_int_equal(rd(p.got[1], b, sizeof(b)), PN_AGAIN);
    assert_int_equal(p.got[0]->ops->write(p.got[0], "late", 4), 4);
    assert_int_equal(p.got[0]->ops->shutdown_wr(p.got[0]), PN_OK);
    pump(&p);
    assert_int_equal(rd(a, b, sizeof(b)), 4);
    assert_int_equal(rd(a, b, sizeof(b)), 0);
    assert_int_equal(a->ops->write(a, "y", 1), PN_ERR);     /* after shutdown */
    pn_xprt_free(a);
    pn_xprt_free(c);
    pair_close(&p);
}

/* Move <total> bytes from <w> to <r>, pumping: what arrived, in order. */
static void
bulk(struct pair *p, pn_xprt_t *w, pn_xprt_t **r, size_t total)
{
    uint8_t *src = malloc(total), *dst = malloc(total);
    for (size_t i = 0; i < total; i++)
        src[i] = (uint8_t)(i * 7 + (i >> 12));
    size_t sent = 0, got = 0;
    for (int round = 0; round < 100000 && got < total; round++) {
        if (sent < total) {
            ssize_t n = w->ops->write(w, src + sent, total - sent);
            assert_true(n > 0 || n == PN_AGAIN);
            if (n > 0)
                sent += (size_t)n;
        }
        pump(p);
        if (*r == NULL && p->ngot > 0)
            *r = p->got[0];
        if (*r == NULL)
            continue;
        ssize_t n = (*r)->ops->read(*r, dst + got, 100000);
        assert_true(n > 0 || n == PN_AGAIN);
        if (n > 0)
            got += (size_t)n;
    }
    assert_int_equal(got, total);
    assert_memory_equal(src, dst, total);
    free(src);
    free(dst);
}

static void
test_bulk_past_the_window(void **state)
{
    struct pair p;
    pn_xprt_t *r = NULL;
    pair_open(&p, "/t");
    pn_xprt_t *a = pn_h2_mux_open(p.cli);
    bulk(&p, a, &r, 4u << 20);
    pn_xprt_free(a);
    pair_close(&p);
}

/* A reader that stops: its writer is held at about the stream's window, and
 * another stream of the connection still carries bytes. */
static void
test_a_stopped_reader_stalls_its_stream_only(void **state)
{
    struct pair p;
    static uint8_t blk[PN_H2_CHUNK];
    pair_open(&p, "/t");
    pn_xprt_t *a = pn_h2_mux_open(p.cli), *c = pn_h2_mux_open(p.cli);
    size_t sent = 0;
    for (int i = 0; i < 1000; i++) {
        ssize_t n = a->ops->write(a, blk, sizeof(blk));
        if (n > 0)
            sent += (size_t)n;
        pump(&p);
    }
    assert_true(sent >= PN_H2_WINDOW);
    assert_true(sent <= PN_H2_WINDOW + 2 * PN_H2_CHUNK);
    assert_int_equal(a->ops->write(a, blk, sizeof(blk)), PN_AGAIN);
    assert_int_equal(c->ops->write(c, "go on", 5), 5);
    pump(&p);
    char b[8];
    assert_int_equal(p.ngot, 2);
    assert_int_equal(rd(p.got[1], b, sizeof(b)), 5);
    pn_xprt_free(a);
    pn_xprt_free(c);
    pair_close(&p);
}

static void
test_a_reset_ends_one_stream(void **state)
{
    struct pair p;
    char b[16];
    pair_open(&p, "/t");
    pn_xprt_t *a = pn_h2_mux_open(p.cli), *c = pn_h2_mux_open(p.cli);
    assert_int_equal(a->ops->write(a, "one", 3), 3);
    assert_int_equal(c->ops->write(c, "two", 3), 3);
    pump(&p);
    assert_int_equal(p.ngot, 2);
    pn_xprt_free(a);                    /* mid-exchange: RST_STREAM */
    pump(&p);
    assert_int_equal(rd(p.got[0], b, sizeof(b)), 3);
    assert_int_equal(rd(p.got[0], b, sizeof(b)), PN_ERR);
    assert_non_null(strstr(p.got[0]->err, "reset"));
    assert_int_equal(rd(p.got[1], b, sizeof(b)), 3);
    assert_int_equal(c->ops->write(c, "on", 2), 2);
    pump(&p);
    assert_int_equal(rd(p.got[1], b, sizeof(b)), 2);
    assert_true(pn_h2_mux_alive(p.cli));
    pn_xprt_free(c);
    pair_close(&p);
}

/* Another path: that stream is answered 404, the connection goes on. */
static void
test_another_path_is_refused_on_its_stream(void **state)
{
    struct pair p;
    char b[16];
    pair_open(&p, "/elsewhere");
    pn_xprt_t *a = pn_h2_mux_open(p.cli);
    assert_int_equal(a->ops->write(a, "x", 1), 1);
    pump(&p);
    assert_int_equal(p.ngot, 0);
    assert_int_equal(rd(a, b, sizeof(b)), PN_ERR);
    assert_non_null(strstr(a->err, "404"));
    assert_true(pn_h2_mux_alive(p.cli));
    assert_int_equal(pn_xprt_peek(a), 0);
    pn_xprt_free(a);
    pair_close(&p);
}

static void
test_peek_and_end_of_connection(void **state)
{
    struct pair p;
    pair_open(&p, "/t");
    pn_xprt_t *a = pn_h2_mux_open(p.cli);
    assert_int_equal(a->ops->write(a, "x", 1), 1);
    pump(&p);
    assert_int_equal(p.ngot, 1);
    assert_int_equal(pn_xprt_peek(p.got[0]), 1);
    assert_int_equal(pn_xprt_peek(a), PN_AGAIN);
    /* the server goes away: the client's stream fails, the connection is dead */
    pn_h2_mux_close_all(&p.set);
    pump(&p);
    assert_int_equal(pn_xprt_peek(a), 0);
    assert_false(pn_h2_mux_alive(p.cli));
    assert_null(pn_h2_mux_open(p.cli));
    pn_xprt_free(a);
    pair_close(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_streams_on_one_connection),
        cmocka_unit_test(test_bulk_past_the_window),
        cmocka_unit_test(test_a_stopped_reader_stalls_its_stream_only),
        cmocka_unit_test(test_a_reset_ends_one_stream),
        cmocka_unit_test(test_another_path_is_refused_on_its_stream),
        cmocka_unit_test(test_peek_and_end_of_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
