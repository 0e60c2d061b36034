/* tests/unit/master/checkpoint_test.c: reading CHECK_POINT lines back
 * (master/checkpoint.h), round trip with core/stats.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/stats.h"
#include "master/checkpoint.h"

static int
parse(const char *line, pn_stats_t *st, int *mode)
{
    return pn_checkpoint_parse(line, strlen(line), st, mode);
}

static void
test_round_trip(void **state)
{
    pn_stats_t in = { .tcp_rx = 1, .tcp_tx = 22, .udp_rx = 333, .udp_tx = 18446744073709551615ull,
                      .tcps = 5, .udps = 6, .pool = 7, .ping_ms = 8 }, out;
    char line[256];
    int mode = -1;
    assert_true(pn_stats_checkpoint_format(line, sizeof(line), 2, &in) > 0);
    assert_int_equal(parse(line, &out, &mode), PN_OK);
    assert_int_equal(mode, 2);
    assert_int_equal(out.tcp_rx, 1);
    assert_int_equal(out.tcp_tx, 22);
    assert_int_equal(out.udp_rx, 333);
    assert_true(out.udp_tx == 18446744073709551615ull);
    assert_int_equal(out.tcps, 5);
    assert_int_equal(out.udps, 6);
    assert_int_equal(out.pool, 7);
    assert_int_equal(out.ping_ms, 8);
}

static void
test_with_log_prefix_and_newline(void **state)
{
    pn_stats_t out;
    const char *l = "2026-11-21 10:00:00.123 EVENT CHECK_POINT|MODE=1|PING=0ms|POOL=0|TCPS=1|"
                    "UDPS=0|TCPRX=100|TCPTX=200|UDPRX=0|UDPTX=0\r\n";
    assert_int_equal(parse(l, &out, NULL), PN_OK);
    assert_int_equal(out.tcp_rx, 100);
    assert_int_equal(out.tcp_tx, 200);
    assert_int_equal(out.tcps, 1);
}

static void
test_unknown_fields_skipped(void **state)
{
    pn_stats_t out;
    assert_int_equal(parse("CHECK_POINT|MODE=1|NEW=x|TCPS=0|UDPS=0|TCPRX=1|TCPTX=2|UDPRX=3|UDPTX=4",
                           &out, NULL), PN_OK);
    assert_int_equal(out.udp_tx, 4);
}

static void
test_rejects(void **state)
{
    pn_stats_t out;
    static const char *const bad[] = {
        "",
        "2026-11-21 10:00:00.123 INFO single-end: listening on 127.0.0.1:1",
        "CHECK_POINT",
        "CHECK_POINT|",
        "CHECK_POINT|MODE=1|TCPS=0|UDPS=0|TCPRX=1|TCPTX=2|UDPRX=3",           /* UDPTX missing */
        "CHECK_POINT|MODE=1|TCPS=0|UDPS=0|TCPRX=x|TCPTX=2|UDPRX=3|UDPTX=4",   /* not a number */
        "CHECK_POINT|MODE=1|TCPS=0|UDPS=0|TCPRX=-1|TCPTX=2|UDPRX=3|UDPTX=4",
        "CHECK_POINT|MODE=1|TCPS=0|UDPS=0|TCPRX=|TCPTX=2|UDPRX=3|UDPTX=4",
        "CHECK_POINT|TCPS=0|UDPS=0|TCPRX=99999999999999999999|TCPTX=2|UDPRX=3|UDPTX=4", /* overflow */
        "CHECK_POINT|TCPS|UDPS=0|TCPRX=1|TCPTX=2|UDPRX=3|UDPTX=4",
        "CHECK_POINT|PING=5xs|TCPS=0|UDPS=0|TCPRX=1|TCPTX=2|UDPRX=3|UDPTX=4",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i], &out, NULL) != PN_ERR)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void
test_length_bounded(void **state)
{
    /* The parser reads exactly <len> bytes: cut before UDPTX, it fails. */
    const char *l = "CHECK_POINT|TCPS=0|UDPS=0|TCPRX=1|TCPTX=2|UDPRX=3|UDPTX=4";
    pn_stats_t out;
    assert_int_equal(pn_checkpoint_parse(l, strlen(l) - 8, &out, NULL), PN_ERR);
    assert_int_equal(pn_checkpoint_parse(l, strlen(l), &out, NULL), PN_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_with_log_prefix_and_newline),
        cmocka_unit_test(test_unknown_fields_skipped),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_length_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
