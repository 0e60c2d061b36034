/* tests/unit/master/backoff_test.c: the restart delay policy (master/backoff.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/backoff.h"

static void
test_doubles_to_ceiling(void **state)
{
    uint64_t d = 0;
    const uint64_t want[] = { 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000 };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        d = pn_backoff_next(d, 500, 1);
        assert_int_equal(d, want[i]);
    }
}

static void
test_reset_after_long_run(void **state)
{
    assert_int_equal(pn_backoff_next(30000, 59999, 1), 30000);
    assert_int_equal(pn_backoff_next(30000, 60000, 1), 1000);
    assert_int_equal(pn_backoff_next(8000, 3600000, -1), 1000);
}

static void
test_never_after_exit_2(void **state)
{
    assert_int_equal(pn_backoff_next(0, 0, 2), PN_BACKOFF_NEVER);
    assert_int_equal(pn_backoff_next(4000, 100000, 2), PN_BACKOFF_NEVER);
    /* Signals, code 0 and code 1 are restarted. */
    assert_int_equal(pn_backoff_next(0, 0, -1), 1000);
    assert_int_equal(pn_backoff_next(0, 0, 0), 1000);
    assert_int_equal(pn_backoff_next(0, 0, 1), 1000);
}

/* POSTERN_SERVICE_COOLDOWN: the first delay, doubling to 30 s or to the cooldown. */
static void
test_cooldown(void **state)
{
    assert_int_equal(pn_backoff_next_from(0, 0, 1, 3000), 3000);
    assert_int_equal(pn_backoff_next_from(3000, 500, 1, 3000), 6000);
    assert_int_equal(pn_backoff_next_from(24000, 500, 1, 3000), 30000);
    assert_int_equal(pn_backoff_next_from(30000, 60000, 1, 3000), 3000);
    assert_int_equal(pn_backoff_next_from(0, 0, 1, 120000), 120000);
    assert_int_equal(pn_backoff_next_from(120000, 10, 1, 120000), 120000);
    assert_int_equal(pn_backoff_next_from(0, 0, 2, 3000), PN_BACKOFF_NEVER);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_to_ceiling),
        cmocka_unit_test(test_reset_after_long_run),
        cmocka_unit_test(test_never_after_exit_2),
        cmocka_unit_test(test_cooldown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
