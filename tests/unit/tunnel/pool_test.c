/* tests/unit/tunnel/pool_test.c: a session's idle data connections
 * (tunnel/pool.h) over socketpairs with a real event loop: FIFO and by-id
 * takes, trim, a peer's close drops an idle connection, a connection that
 * turns readable stays until taken. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../testutil.h"
#include "core/ev.h"
#include "net/sock.h"
#include "tunnel/pool.h"

#define N 8

typedef struct t {
    ev_loop_t *loop;
    tun_pool_t *pool;
    int mine[N];                /* the pooled end of pair i (owned by its transport) */
    int peer[N];                /* the test's end of pair i, or -1 */
    pn_xprt_t *x[N];            /* borrowed: what was added */
} t_t;

/* ---- loop helpers ---- */

TU_DEFINE_RUN_UNTIL(t_t)

/* ---- fixture ---- */

static void
mkid(uint8_t id[PN_CONN_ID_LEN], int i)
{
    /* The same first bytes for all: they share a hash bucket. */
    memset(id, 0xA5, PN_CONN_ID_LEN);
    id[PN_CONN_ID_LEN - 1] = (uint8_t)i;
}

static t_t *
start(int n)
{
    t_t *t = calloc(1, sizeof(*t));
    t->loop = ev_loop_new();
    t->pool = tun_pool_new(t->loop);
    assert_int_equal(tun_pool_size(t->pool), 0);
    for (int i = 0; i < N; i++)
        t->peer[i] = -1;
    for (int i = 0; i < n; i++) {
        int sv[2];
        uint8_t id[PN_CONN_ID_LEN];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        t->mine[i] = sv[0];
        t->peer[i] = sv[1];
        t->x[i] = pn_raw_xprt_new(sv[0]);
        mkid(id, i);
        tun_pool_add(t->pool, id, t->x[i]);
        assert_int_equal(tun_pool_size(t->pool), (size_t)i + 1);
    }
    return t;
}

static void
finish(t_t *t)
{
    tun_pool_free(t->pool);
    assert_null(t->pool);
    for (int i = 0; i < N; i++)
        if (t->peer[i] != -1)
            close(t->peer[i]);
    ev_loop_free(t->loop);
    free(t);
}

/* Whether the peer of pair <i> sees its connection closed. */
static int
peer_sees_eof(t_t *t, int i)
{
    char b;
    return recv(t->peer[i], &b, 1, MSG_DONTWAIT) == 0;
}

/* ---- tests ---- */

static void
test_take_oldest_first(void **state)
{
    t_t *t = start(3);
    uint8_t id[PN_CONN_ID_LEN], want[PN_CONN_ID_LEN];
    for (int i = 0; i < 3; i++) {
        pn_xprt_t *x = tun_pool_take(t->pool, id);
        assert_ptr_equal(x, t->x[i]);
        mkid(want, i);
        assert_memory_equal(id, want, PN_CONN_ID_LEN);
        assert_int_equal(tun_pool_size(t->pool), (size_t)(2 - i));
        pn_xprt_free(x);
    }
    assert_null(tun_pool_take(t->pool, id));
    finish(t);
}

static void
test_take_by_id(void **state)
{
    t_t *t = start(5);
    uint8_t id[PN_CONN_ID_LEN];
    mkid(id, 3);
    pn_xprt_t *x = tun_pool_take_id(t->pool, id);
    assert_ptr_equal(x, t->x[3]);
    assert_int_equal(tun_pool_size(t->pool), 4);
    assert_null(tun_pool_take_id(t->pool, id));     /* gone once taken */
    pn_xprt_free(x);
    mkid(id, 99);
    assert_null(tun_pool_take_id(t->pool, id));     /* never there */
    assert_int_equal(tun_pool_size(t->pool), 4);
    /* The FIFO skips the one taken by id. */
    int order[] = {0, 1, 2, 4};
    for (int k = 0; k < 4; k++) {
        x = tun_pool_take(t->pool, id);
        assert_ptr_equal(x, t->x[order[k]]);
        pn_xprt_free(x);
    }
    assert_int_equal(tun_pool_size(t->pool), 0);
    finish(t);
}

static void
test_trim_closes_oldest(void **state)
{
    t_t *t = start(5);
    tun_pool_trim(t->pool, 5);
    assert_int_equal(tun_pool_size(t->pool), 5);
    tun_pool_trim(t->pool, 2);
    assert_int_equal(tun_pool_size(t->pool), 2);
    for (int i = 0; i < 3; i++)
        assert_true(peer_sees_eof(t, i));
    for (int i = 3; i < 5; i++)
        assert_false(peer_sees_eof(t, i));
    uint8_t id[PN_CONN_ID_LEN];
    pn_xprt_t *x = tun_pool_take(t->pool, id);
    assert_ptr_equal(x, t->x[3]);
    pn_xprt_free(x);
    tun_pool_trim(t->pool, 0);
    assert_int_equal(tun_pool_size(t->pool), 0);
    assert_true(peer_sees_eof(t, 4));
    finish(t);
}

static void
test_free_closes_all(void **state)
{
    t_t *t = start(4);
    tun_pool_free(t->pool);
    for (int i = 0; i < 4; i++)
        assert_true(peer_sees_eof(t, i));
    tun_pool_free(t->pool);                         /* NULL: no-op */
    finish(t);
}

static int p_size2(t_t *t) { return tun_pool_size(t->pool) == 2; }

static void
test_peer_close_drops_idle(void **state)
{
    t_t *t = start(3);
    close(t->peer[1]);
    t->peer[1] = -1;
    assert_true(run_until(t, p_size2, 2000));
    uint8_t id[PN_CONN_ID_LEN];
    mkid(id, 1);
    assert_null(tun_pool_take_id(t->pool, id));
    /* The others are untouched. */
    run_until(t, NULL, 20);
    assert_int_equal(tun_pool_size(t->pool), 2);
    mkid(id, 2);
    pn_xprt_t *x = tun_pool_take_id(t->pool, id);
    assert_ptr_equal(x, t->x[2]);
    pn_xprt_free(x);
    finish(t);
}

static void
test_readable_left_alone(void **state)
{
    t_t *t = start(2);
    assert_int_equal(send(t->peer[0], "hi", 2, 0), 2);
    run_until(t, NULL, 50);
    assert_int_equal(tun_pool_size(t->pool), 2);
    /* Readable, then closed: no longer watched, so still pooled. */
    shutdown(t->peer[0], SHUT_WR);
    run_until(t, NULL, 50);
    assert_int_equal(tun_pool_size(t->pool), 2);
    uint8_t id[PN_CONN_ID_LEN];
    mkid(id, 0);
    pn_xprt_t *x = tun_pool_take_id(t->pool, id);
    assert_ptr_equal(x, t->x[0]);
    /* The taker gets the bytes: the pool only peeked. */
    char b[4];
    assert_int_equal(recv(t->mine[0], b, sizeof(b), MSG_DONTWAIT), 2);
    assert_memory_equal(b, "hi", 2);
    pn_xprt_free(x);
    assert_int_equal(tun_pool_size(t->pool), 1);
    finish(t);
}

int
main(void)
{
    alarm(20);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_oldest_first),
        cmocka_unit_test(test_take_by_id),
        cmocka_unit_test(test_trim_closes_oldest),
        cmocka_unit_test(test_free_closes_all),
        cmocka_unit_test(test_peer_close_drops_idle),
        cmocka_unit_test(test_readable_left_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
