/* tests/unit/master/history_test.c: the chart's history sampler's pure parts
 * (master/history.h): counter deltas and the range parser. The buckets, their
 * roll-up and retention are in store_test.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "master/history.h"

static void
test_delta_and_range(void **state)
{
    int64_t r;
    assert_int_equal(pn_history_delta(100, 150), 50);
    assert_int_equal(pn_history_delta(100, 100), 0);
    assert_int_equal(pn_history_delta(100, 30), 30);       /* reset: from 0 */
    assert_int_equal(pn_history_range("1h", &r), PN_OK);
    assert_int_equal(r, 3600);
    assert_int_equal(pn_history_range("15m", &r), PN_OK);
    assert_int_equal(r, 900);
    assert_int_equal(pn_history_range("24h", &r), PN_OK);
    assert_int_equal(r, 86400);
    assert_int_equal(pn_history_range("1m", &r), PN_OK);
    assert_int_equal(r, 60);
    static const char *const bad[] = { "", "59s", "24h1s", "2d", "soon", "-1h" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (pn_history_range(bad[i], &r) != PN_ERR)
            fail_msg("accepted: \"%s\"", bad[i]);
    assert_int_equal(pn_history_range(NULL, &r), PN_ERR);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delta_and_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
