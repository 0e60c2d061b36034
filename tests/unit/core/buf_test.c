/* tests/unit/core/buf_test.c: the 64 KiB buffer pool (core/buf.h): get/put,
 * reuse of returned buffers, the in-use ceiling, put(NULL); pn_head_end
 * against a byte-by-byte reference. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "core/buf.h"

static int
reset(void **state)
{
    pn_buf_set_limit(0);
    pn_buf_drain();
    return 0;
}

static void
test_get_put_counts(void **state)
{
    assert_int_equal(pn_buf_in_use(), 0);
    pn_buf_t *a = pn_buf_get();
    pn_buf_t *b = pn_buf_get();
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(pn_buf_in_use(), 2);
    /* The whole 64 KiB is usable (ASan flags an overrun). */
    memset(a->data, 'a', PN_BUF_SIZE);
    memset(b->data, 'b', PN_BUF_SIZE);
    assert_int_equal(a->start, 0);
    assert_int_equal(a->end, 0);
    pn_buf_put(a);
    assert_null(a);
    assert_int_equal(pn_buf_in_use(), 1);
    pn_buf_put(b);
    assert_int_equal(pn_buf_in_use(), 0);
}

static void
test_reuse_resets(void **state)
{
    pn_buf_t *a = pn_buf_get();
    pn_buf_t *keep = a;
    a->start = 10;
    a->end = 100;
    pn_buf_put(a);
    pn_buf_t *b = pn_buf_get();
    assert_ptr_equal(b, keep);          /* the free list hands it back */
    assert_int_equal(b->start, 0);
    assert_int_equal(b->end, 0);
    assert_null(b->next);
    pn_buf_put(b);
}

static void
test_many_put_then_drain(void **state)
{
    /* More than the free list keeps: the surplus is freed at once, the rest
     * by pn_buf_drain() (the leak checker sees any that is lost). */
    enum { N = 200 };
    pn_buf_t *v[N];
    for (int i = 0; i < N; i++)
        assert_non_null(v[i] = pn_buf_get());
    assert_int_equal(pn_buf_in_use(), N);
    for (int i = 0; i < N; i++)
        pn_buf_put(v[i]);
    assert_int_equal(pn_buf_in_use(), 0);
    for (int i = 0; i < N; i++)
        assert_non_null(v[i] = pn_buf_get());
    for (int i = 0; i < N; i++)
        pn_buf_put(v[i]);
}

static void
test_limit_exhaustion(void **state)
{
    pn_buf_set_limit(3);
    pn_buf_t *v[3];
    for (int i = 0; i < 3; i++)
        assert_non_null(v[i] = pn_buf_get());
    /* At the ceiling: NULL, and the count does not move. */
    assert_null(pn_buf_get());
    assert_null(pn_buf_get());
    assert_int_equal(pn_buf_in_use(), 3);
    pn_buf_put(v[1]);
    assert_int_equal(pn_buf_in_use(), 2);
    assert_non_null(v[1] = pn_buf_get());
    assert_null(pn_buf_get());
    /* Lowering the ceiling below what is in use refuses until enough return. */
    pn_buf_set_limit(2);
    pn_buf_put(v[0]);
    assert_null(pn_buf_get());
    pn_buf_put(v[1]);
    assert_non_null(v[0] = pn_buf_get());
    assert_null(pn_buf_get());
    /* 0 lifts it. */
    pn_buf_set_limit(0);
    assert_non_null(v[1] = pn_buf_get());
    assert_int_equal(pn_buf_in_use(), 3);
    for (int i = 0; i < 3; i++)
        pn_buf_put(v[i]);
    assert_int_equal(pn_buf_in_use(), 0);
}

static void
test_put_null(void **state)
{
    pn_buf_t *a = pn_buf_get();
    pn_buf_t *n = NULL;
    pn_buf_put(n);
    assert_null(n);
    assert_int_equal(pn_buf_in_use(), 1);
    pn_buf_put_(NULL);
    assert_int_equal(pn_buf_in_use(), 1);
    pn_buf_put(a);
    assert_int_equal(pn_buf_in_use(), 0);
}

/* The byte queue: FIFO order across growth and compaction, memory freed once drained. */
static void
test_byte_queue(void **state)
{
    pn_bq_t q = { 0 };
    uint8_t in[50000], out[50000];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 7 + i / 251);
    size_t put = 0, got = 0;
    /* Appends of 3000, takes of 1700: the taken prefix grows, compactions happen. */
    while (got < sizeof(in)) {
        if (put < sizeof(in)) {
            size_t n = sizeof(in) - put < 3000 ? sizeof(in) - put : 3000;
            pn_bq_append(&q, in + put, n);
            put += n;
        }
        assert_int_equal(pn_bq_len(&q), put - got);
        size_t k = pn_bq_take(&q, out + got, 1700);
        assert_true(k > 0 && k <= 1700);
        got += k;
    }
    assert_memory_equal(in, out, sizeof(in));
    assert_int_equal(pn_bq_len(&q), 0);
    assert_null(q.b);                   /* drained: nothing held */
    assert_int_equal(pn_bq_take(&q, out, 10), 0);
    pn_bq_append(&q, in, 10);
    pn_bq_clear(&q);
    assert_null(q.b);
    assert_int_equal(pn_bq_len(&q), 0);
}

/* The end of a head as pn_head_end defines it, one byte at a time. */
static size_t
head_end_ref(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == '\n' && p[i + 1] == '\n')
            return i + 2;
        if (p[i] == '\n' && i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static void
test_head_end(void **state)
{
    static const char *const heads[] = {
        "", "\n", "\n\n", "\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\nbody",
        "HTTP/1.1 200 OK\nA: b\n\nrest", "A\r\nB\r\n\r", "A\r\nB\r\n\r\n", "\n\r", "x\n\r\n",
    };
    for (size_t k = 0; k < sizeof(heads) / sizeof(heads[0]); k++) {
        size_t n = strlen(heads[k]);
        for (size_t m = 0; m <= n; m++)     /* every prefix: a head that comes in pieces */
            assert_int_equal(pn_head_end((const uint8_t *)heads[k], m),
                             head_end_ref((const uint8_t *)heads[k], m));
    }
    uint8_t b[64];
    unsigned seed = 7;
    for (int r = 0; r < 20000; r++) {       /* random bytes of CR, LF and 'a' */
        size_t n = (size_t)(r % 64);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            b[i] = "\r\na"[(seed >> 16) % 3];
        }
        assert_int_equal(pn_head_end(b, n), head_end_ref(b, n));
    }
}

int
main(void)
{
    alarm(10);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_put_counts, reset, reset),
        cmocka_unit_test_setup_teardown(test_reuse_resets, reset, reset),
        cmocka_unit_test_setup_teardown(test_many_put_then_drain, reset, reset),
        cmocka_unit_test_setup_teardown(test_limit_exhaustion, reset, reset),
        cmocka_unit_test_setup_teardown(test_put_null, reset, reset),
        cmocka_unit_test(test_byte_queue),
        cmocka_unit_test(test_head_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
