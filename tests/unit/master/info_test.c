/* tests/unit/master/info_test.c: the /proc parsers of master/info.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "master/info.h"

static void
test_meminfo(void **state)
{
    pn_host_t h = { 0 };
    const char *t = "MemTotal:        1000 kB\nMemFree:          100 kB\nMemAvailable:     400 kB\n"
                    "SwapTotal:        200 kB\nSwapFree:         150 kB\n";
    assert_int_equal(pn_info_parse_meminfo(t, &h), PN_OK);
    assert_int_equal(h.mem_total, 1000 * 1024);
    assert_int_equal(h.mem_used, 600 * 1024);
    assert_int_equal(h.swap_total, 200 * 1024);
    assert_int_equal(h.swap_used, 50 * 1024);
    assert_int_equal(pn_info_parse_meminfo("nothing\n", &h), PN_ERR);
}

static void
test_netdev(void **state)
{
    const char *t =
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
        "    lo: 5000      10    0    0    0     0          0         0     5000      10    0    0    0     0       0          0\n"
        "  eth0: 1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0\n"
        "  wlan0:  1       1    0    0    0     0          0         0        3       1    0    0    0     0       0          0\n";
    uint64_t rx, tx;
    assert_int_equal(pn_info_parse_netdev(t, &rx, &tx), PN_OK);
    assert_int_equal(rx, 1001);
    assert_int_equal(tx, 2003);
}

static void
test_stat(void **state)
{
    uint64_t busy, total;
    assert_int_equal(pn_info_parse_stat("cpu  10 0 10 70 10 0 0 0 0 0\ncpu0 1 2 3 4\n", &busy, &total), PN_OK);
    assert_int_equal(total, 100);
    assert_int_equal(busy, 20);
    assert_int_equal(pn_info_parse_stat("intr 1 2 3\n", &busy, &total), PN_ERR);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meminfo),
        cmocka_unit_test(test_netdev),
        cmocka_unit_test(test_stat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
