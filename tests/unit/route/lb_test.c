/* tests/unit/route/lb_test.c: target choice per policy (route/lb.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "route/lb.h"

#define NONE ((size_t)-1)

/* ---- helpers ---- */

/* Initialise <s> with <n> targets named "h<i>":"<8000+i>", as config would. */
static void
set_init(lb_set_t *s, enum lb_policy policy, size_t n, uint64_t fallback_ms)
{
    lb_init(s, policy, n, fallback_ms);
    assert_int_equal(s->n, n);
    assert_int_equal(s->policy, policy);
    for (size_t i = 0; i < n; i++) {
        char buf[32];
        assert_int_equal(s->t[i].rtt_ms, LB_RTT_UNKNOWN);
        assert_int_equal(s->t[i].down, 0);
        assert_null(s->t[i].host);
        snprintf(buf, sizeof(buf), "h%zu", i);
        s->t[i].host = xstrdup(buf);
        snprintf(buf, sizeof(buf), "%zu", 8000 + i);
        s->t[i].port = xstrdup(buf);
    }
}

/* ---- round robin ---- */

static void
test_rr_cycles(void **state)
{
    lb_set_t s;
    set_init(&s, LB_ROUND_ROBIN, 3, 0);
    static const size_t want[] = { 0, 1, 2, 0, 1, 2, 0 };
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
        assert_int_equal(lb_pick(&s, 1000 + k), want[k]);
    lb_clear(&s);
    assert_int_equal(s.n, 0);
    assert_null(s.t);
}

static void
test_rr_failure_does_not_skip_cycle(void **state)
{
    lb_set_t s;
    set_init(&s, LB_ROUND_ROBIN, 3, 0);
    assert_int_equal(lb_pick(&s, 0), 0);
    lb_report(&s, 0, 0, 0);
    assert_int_equal(s.t[0].dials, 1);
    assert_int_equal(s.t[0].fails, 1);
    assert_int_equal(s.t[0].down, 1);
    assert_int_equal(lb_next(&s, 0, 1), 1);
    lb_report(&s, 1, 1, 0);
    assert_int_equal(s.t[1].dials, 1);
    assert_int_equal(s.t[1].fails, 0);
    assert_int_equal(s.t[1].down, 0);
    /* The next connection continues the cycle. */
    assert_int_equal(lb_pick(&s, 1), 1);
    assert_int_equal(lb_pick(&s, 2), 2);
    lb_clear(&s);
}

static void
test_rr_next(void **state)
{
    lb_set_t s;
    set_init(&s, LB_ROUND_ROBIN, 3, 0);
    /* Starting from target 1: 1 fails -> 2, 2 fails -> 0, 0 fails -> give up. */
    assert_int_equal(lb_next(&s, 1, 1), 2);
    assert_int_equal(lb_next(&s, 2, 2), 0);
    assert_int_equal(lb_next(&s, 0, 3), NONE);
    assert_int_equal(lb_next(&s, 0, 1), 1);
    assert_int_equal(lb_next(&s, 2, 1), 0);
    assert_int_equal(lb_next(&s, 1, 2), 2);
    assert_int_equal(lb_next(&s, 1, 4), NONE);
    lb_clear(&s);
}

/* ---- latency ---- */

static void
test_latency_follows_lowest_rtt(void **state)
{
    lb_set_t s;
    set_init(&s, LB_LATENCY, 3, 0);
    /* Before any probe: the first target. */
    assert_int_equal(lb_pick(&s, 0), 0);
    lb_probe(&s, 0, 1, 50);
    lb_probe(&s, 1, 1, 10);
    lb_probe(&s, 2, 1, 30);
    assert_int_equal(s.t[1].rtt_ms, 10);
    assert_int_equal(lb_pick(&s, 1), 1);
    assert_int_equal(lb_pick(&s, 2), 1); /* sticky: no cycling */
    /* A better probe re-pins. */
    lb_probe(&s, 2, 1, 5);
    assert_int_equal(lb_pick(&s, 3), 2);
    /* A worse probe of the pinned target moves away from it. */
    lb_probe(&s, 2, 1, 60);
    assert_int_equal(lb_pick(&s, 4), 1);
    lb_clear(&s);
}

static void
test_latency_tie_keeps_lowest_index(void **state)
{
    lb_set_t s;
    set_init(&s, LB_LATENCY, 3, 0);
    lb_probe(&s, 2, 1, 20);
    lb_probe(&s, 1, 1, 20);
    lb_probe(&s, 0, 1, 20);
    assert_int_equal(lb_pick(&s, 0), 0);
    lb_clear(&s);
}

static void
test_latency_unknown_ranks_last(void **state)
{
    lb_set_t s;
    set_init(&s, LB_LATENCY, 3, 0);
    /* Only target 2 has been measured: the unmeasured ones rank below it. */
    lb_probe(&s, 2, 1, 400);
    assert_int_equal(lb_pick(&s, 0), 2);
    lb_probe(&s, 1, 1, 399);
    assert_int_equal(lb_pick(&s, 0), 1);
    lb_clear(&s);
}

static void
test_latency_failed_dial_repins(void **state)
{
    lb_set_t s;
    set_init(&s, LB_LATENCY, 3, 0);
    lb_probe(&s, 0, 1, 50);
    lb_probe(&s, 1, 1, 10);
    lb_probe(&s, 2, 1, 30);
    assert_int_equal(lb_pick(&s, 0), 1);

    lb_report(&s, 1, 0, 100);
    assert_int_equal(s.t[1].down, 1);
    assert_int_equal(s.t[1].fails, 1);
    assert_int_equal(lb_pick(&s, 101), 2);
    /* Retry order after a failure: next best that is up. */
    assert_int_equal(lb_next(&s, 1, 1), 2);

    /* A failed dial of a target that is not pinned changes nothing. */
    lb_report(&s, 0, 0, 102);
    assert_int_equal(lb_pick(&s, 103), 2);

    /* The down target comes back through a good probe and, being fastest, wins. */
    lb_probe(&s, 1, 1, 10);
    assert_int_equal(s.t[1].down, 0);
    assert_int_equal(lb_pick(&s, 104), 1);
    lb_clear(&s);
}

static void
test_latency_failed_probe_repins(void **state)
{
    lb_set_t s;
    set_init(&s, LB_LATENCY, 3, 0);
    lb_probe(&s, 0, 1, 50);
    lb_probe(&s, 1, 1, 10);
    lb_probe(&s, 2, 1, 30);
    assert_int_equal(lb_pick(&s, 0), 1);

    lb_probe(&s, 1, 0, 7);
    assert_int_equal(s.t[1].down, 1);
    assert_int_equal(s.t[1].rtt_ms, LB_RTT_UNKNOWN);
    assert_int_equal(lb_pick(&s, 1), 2);

    lb_probe(&s, 2, 0, 0);
    assert_int_equal(lb_pick(&s, 2), 0);

    /* All down: keep the pin, a dial will tell. */
    lb_probe(&s, 0, 0, 0);
    assert_int_equal(lb_pick(&s, 3), 0);
    lb_clear(&s);
}

static void
test_latency_success_after_all_down(void **state)
{
    lb_set_t s;
    set_init(&s, LB_LATENCY, 3, 0);
    lb_probe(&s, 2, 0, 0);
    lb_probe(&s, 1, 0, 0);
    lb_probe(&s, 0, 0, 0);
    assert_int_equal(lb_pick(&s, 9), 0);
    /* The pinned target is down; the first one a dial reaches becomes the pin. */
    lb_report(&s, 2, 1, 10);
    assert_int_equal(s.t[2].down, 0);
    assert_int_equal(lb_pick(&s, 11), 2);
    lb_clear(&s);
}

static void
test_latency_next_gives_up(void **state)
{
    lb_set_t s;
    set_init(&s, LB_LATENCY, 3, 0);
    lb_probe(&s, 0, 1, 10);
    lb_probe(&s, 1, 1, 20);
    lb_probe(&s, 2, 1, 30);
    lb_report(&s, 0, 0, 0);
    assert_int_equal(lb_next(&s, 0, 1), 1);
    lb_report(&s, 1, 0, 0);
    assert_int_equal(lb_next(&s, 1, 2), 2);
    lb_report(&s, 2, 0, 0);
    assert_int_equal(lb_next(&s, 2, 3), NONE);
    lb_clear(&s);
}

/* ---- failover ---- */

static void
test_failover_stays_on_primary(void **state)
{
    lb_set_t s;
    set_init(&s, LB_FAILOVER, 3, 1000);
    for (uint64_t now = 0; now < 10000; now += 700) {
        assert_int_equal(lb_pick(&s, now), 0);
        lb_report(&s, 0, 1, now);
    }
    assert_int_equal(s.t[0].dials, 15);
    lb_clear(&s);
}

static void
test_failover_cycle(void **state)
{
    lb_set_t s;
    set_init(&s, LB_FAILOVER, 3, 1000);

    /* Primary fails at t=100, the dial falls through to 1, which works. */
    assert_int_equal(lb_pick(&s, 100), 0);
    lb_report(&s, 0, 0, 100);
    assert_int_equal(lb_next(&s, 0, 1), 1);
    lb_report(&s, 1, 1, 100);
    assert_int_equal(lb_pick(&s, 101), 1);
    assert_int_equal(lb_pick(&s, 1099), 1);
    /* Successes on the backup do not restart the interval. */
    lb_report(&s, 1, 1, 600);
    assert_int_equal(lb_pick(&s, 1099), 1);

    /* Fallback interval over: try the primary. */
    assert_int_equal(lb_pick(&s, 1100), 0);
    assert_int_equal(lb_pick(&s, 1150), 0);

    /* That retry fails at t=1150: the interval starts again from there. */
    lb_report(&s, 0, 0, 1150);
    assert_int_equal(lb_next(&s, 0, 1), 1);
    lb_report(&s, 1, 1, 1150);
    assert_int_equal(lb_pick(&s, 1151), 1);
    assert_int_equal(lb_pick(&s, 2149), 1);
    assert_int_equal(lb_pick(&s, 2150), 0);

    /* The primary works again: pinned, and stays so. */
    lb_report(&s, 0, 1, 2150);
    assert_int_equal(s.t[0].down, 0);
    assert_int_equal(lb_pick(&s, 2151), 0);
    assert_int_equal(lb_pick(&s, 100000), 0);
    assert_int_equal(s.t[0].dials, 3);
    assert_int_equal(s.t[0].fails, 2);
    lb_clear(&s);
}

static void
test_failover_backup_of_backup(void **state)
{
    lb_set_t s;
    set_init(&s, LB_FAILOVER, 3, 1000);
    lb_report(&s, 0, 0, 0);
    lb_report(&s, 1, 1, 0);
    assert_int_equal(lb_pick(&s, 10), 1);
    /* The backup fails too: the next one that works is pinned. */
    lb_report(&s, 1, 0, 20);
    assert_int_equal(lb_next(&s, 1, 1), 2);
    lb_report(&s, 2, 1, 20);
    assert_int_equal(lb_pick(&s, 21), 2);
    assert_int_equal(lb_pick(&s, 1019), 2);
    /* The fallback always goes back to the primary, not to 1. */
    assert_int_equal(lb_pick(&s, 1020), 0);
    lb_clear(&s);
}

static void
test_failover_zero_fallback(void **state)
{
    lb_set_t s;
    set_init(&s, LB_FAILOVER, 2, 0);
    lb_report(&s, 0, 0, 50);
    lb_report(&s, 1, 1, 50);
    /* fallback_ms = 0: every new connection tries the primary first. */
    assert_int_equal(lb_pick(&s, 50), 0);
    assert_int_equal(lb_pick(&s, 51), 0);
    lb_clear(&s);
}

/* ---- single target, bounds ---- */

static void
test_single_target(void **state)
{
    static const enum lb_policy policies[] = { LB_ROUND_ROBIN, LB_LATENCY, LB_FAILOVER };
    for (size_t p = 0; p < 3; p++) {
        lb_set_t s;
        set_init(&s, policies[p], 1, 100);
        assert_int_equal(lb_pick(&s, 0), 0);
        lb_report(&s, 0, 0, 1);
        lb_probe(&s, 0, 0, 0);
        assert_int_equal(lb_pick(&s, 2), 0);
        assert_int_equal(lb_pick(&s, 500), 0);
        assert_int_equal(lb_next(&s, 0, 1), NONE);
        lb_report(&s, 0, 1, 600);
        assert_int_equal(lb_pick(&s, 601), 0);
        lb_clear(&s);
    }
}

static void
test_out_of_range_ignored(void **state)
{
    lb_set_t s;
    set_init(&s, LB_LATENCY, 2, 0);
    lb_probe(&s, 1, 1, 10);
    lb_report(&s, 2, 0, 0);
    lb_probe(&s, 5, 1, 1);
    assert_int_equal(s.t[0].dials + s.t[1].dials, 0);
    assert_int_equal(lb_pick(&s, 0), 1);
    lb_clear(&s);
}

static void
test_clear_null_strings(void **state)
{
    lb_set_t s;
    lb_init(&s, LB_ROUND_ROBIN, 2, 0);
    s.t[0].host = xstrdup("only-host");
    /* t[0].port, t[1].* left NULL: lb_clear must cope. */
    lb_clear(&s);
    assert_int_equal(s.n, 0);
    assert_null(s.t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rr_cycles),
        cmocka_unit_test(test_rr_failure_does_not_skip_cycle),
        cmocka_unit_test(test_rr_next),
        cmocka_unit_test(test_latency_follows_lowest_rtt),
        cmocka_unit_test(test_latency_tie_keeps_lowest_index),
        cmocka_unit_test(test_latency_unknown_ranks_last),
        cmocka_unit_test(test_latency_failed_dial_repins),
        cmocka_unit_test(test_latency_failed_probe_repins),
        cmocka_unit_test(test_latency_success_after_all_down),
        cmocka_unit_test(test_latency_next_gives_up),
        cmocka_unit_test(test_failover_stays_on_primary),
        cmocka_unit_test(test_failover_cycle),
        cmocka_unit_test(test_failover_backup_of_backup),
        cmocka_unit_test(test_failover_zero_fallback),
        cmocka_unit_test(test_single_target),
        cmocka_unit_test(test_out_of_range_ignored),
        cmocka_unit_test(test_clear_null_strings),
    };
    return cmocka_run_group_tests_name("route/lb", tests, NULL, NULL);
}
