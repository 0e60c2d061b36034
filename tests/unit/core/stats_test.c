/* tests/unit/core/stats_test.c: the CHECK_POINT line (core/stats.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/stats.h"

static void
test_checkpoint_exact(void **state)
{
    static const char want[] =
        "CHECK_POINT|MODE=1|PING=0ms|POOL=0|TCPS=3|UDPS=0|TCPRX=100|TCPTX=200|UDPRX=0|UDPTX=0";
    pn_stats_t s;
    char out[256];

    memset(&s, 0, sizeof(s));
    s.tcps = 3;
    s.tcp_rx = 100;
    s.tcp_tx = 200;
    /* Counters that are not part of the line must not show up in it. */
    s.tcp_total = 77;
    s.dial_fail = 5;
    s.refused = 9;
    memset(out, 'X', sizeof(out));
    assert_int_equal(pn_stats_checkpoint_format(out, sizeof(out), 1, &s), (int)strlen(want));
    assert_string_equal(out, want);
}

static void
test_checkpoint_every_field(void **state)
{
    pn_stats_t s = {
        .tcp_rx = 11, .tcp_tx = 12, .udp_rx = 13, .udp_tx = 14,
        .tcps = 15, .udps = 16, .pool = 17, .ping_ms = 18,
    };
    char out[256];
    static const char want[] =
        "CHECK_POINT|MODE=2|PING=18ms|POOL=17|TCPS=15|UDPS=16|TCPRX=11|TCPTX=12|UDPRX=13|UDPTX=14";
    assert_int_equal(pn_stats_checkpoint_format(out, sizeof(out), 2, &s), (int)strlen(want));
    assert_string_equal(out, want);

    memset(&s, 0, sizeof(s));
    assert_int_equal(pn_stats_checkpoint_format(out, sizeof(out), 0, &s),
                     (int)strlen("CHECK_POINT|MODE=0|PING=0ms|POOL=0|TCPS=0|UDPS=0|TCPRX=0|TCPTX=0|"
                                 "UDPRX=0|UDPTX=0"));
    assert_string_equal(out, "CHECK_POINT|MODE=0|PING=0ms|POOL=0|TCPS=0|UDPS=0|TCPRX=0|TCPTX=0|"
                             "UDPRX=0|UDPTX=0");
}

static void
test_checkpoint_large_values(void **state)
{
    static const char want[] =
        "CHECK_POINT|MODE=2|PING=18446744073709551615ms|POOL=18446744073709551614"
        "|TCPS=4294967296|UDPS=9007199254740993|TCPRX=18446744073709551615"
        "|TCPTX=12345678901234567890|UDPRX=4294967295|UDPTX=18446744073709551615";
    pn_stats_t s;
    char out[512];

    memset(&s, 0, sizeof(s));
    s.ping_ms = UINT64_MAX;
    s.pool = UINT64_MAX - 1;
    s.tcps = 4294967296ULL;
    s.udps = 9007199254740993ULL;
    s.tcp_rx = UINT64_MAX;
    s.tcp_tx = 12345678901234567890ULL;
    s.udp_rx = 4294967295ULL;
    s.udp_tx = UINT64_MAX;
    assert_int_equal(pn_stats_checkpoint_format(out, sizeof(out), 2, &s), (int)strlen(want));
    assert_string_equal(out, want);
}

static void
test_checkpoint_buffer_too_small(void **state)
{
    static const char want[] =
        "CHECK_POINT|MODE=1|PING=0ms|POOL=0|TCPS=3|UDPS=0|TCPRX=100|TCPTX=200|UDPRX=0|UDPTX=0";
    const size_t n = strlen(want);
    pn_stats_t s;
    char out[256];

    memset(&s, 0, sizeof(s));
    s.tcps = 3;
    s.tcp_rx = 100;
    s.tcp_tx = 200;

    /* Exactly enough room for the line and its NUL. */
    memset(out, 'X', sizeof(out));
    assert_int_equal(pn_stats_checkpoint_format(out, n + 1, 1, &s), (int)n);
    assert_string_equal(out, want);
    assert_int_equal(out[n + 1], 'X');

    /* One byte short: refused, and nothing written past <len>. */
    memset(out, 'X', sizeof(out));
    assert_int_equal(pn_stats_checkpoint_format(out, n, 1, &s), -1);
    assert_int_equal(out[n], 'X');

    memset(out, 'X', sizeof(out));
    assert_int_equal(pn_stats_checkpoint_format(out, 10, 1, &s), -1);
    assert_int_equal(out[10], 'X');

    assert_int_equal(pn_stats_checkpoint_format(out, 1, 1, &s), -1);
    assert_int_equal(pn_stats_checkpoint_format(NULL, 0, 1, &s), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_exact),
        cmocka_unit_test(test_checkpoint_every_field),
        cmocka_unit_test(test_checkpoint_large_values),
        cmocka_unit_test(test_checkpoint_buffer_too_small),
    };
    return cmocka_run_group_tests_name("core/stats", tests, NULL, NULL);
}
