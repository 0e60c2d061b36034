/* tests/unit/core/buf_test.c: the 64 KiB buffer pool (core/buf.h): get/put,
 * reuse of returned buffers, the in-use ceiling, put(NULL). */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
