/* tests/unit/core/bucket_test.c: the token bucket (core/bucket.h), driven with
 * a simulated clock in microseconds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/bucket.h"

#define T0 1000000000ULL        /* an arbitrary, nonzero start time, us */
#define ALL (1ULL << 40)        /* "as much as you have" */

/* ---- helpers ---- */

/* Initialise <b> with <rate> and <burst> at T0 and empty it there. */
static void
drained(pn_bucket_t *b, uint64_t rate, uint64_t burst)
{
    pn_bucket_init(b, rate, burst, T0);
    assert_int_equal(pn_bucket_take(b, ALL, T0), burst);
    assert_int_equal(pn_bucket_take(b, 1, T0), 0);
}

/* ---- unlimited ---- */

static void
test_unlimited_grants_all(void **state)
{
    pn_bucket_t b;
    pn_bucket_init(&b, 0, 0, T0);
    assert_int_equal(pn_bucket_take(&b, 123456789, T0), 123456789);
    assert_int_equal(pn_bucket_take(&b, ALL, T0), ALL);
    assert_int_equal(pn_bucket_take(&b, ALL, T0), ALL);
    assert_int_not_equal(pn_bucket_take_all(&b, ALL, T0), 0);
    assert_int_equal(pn_bucket_wait_us(&b, ALL, T0), 0);
    pn_bucket_put_back(&b, 1000);
    assert_int_equal(pn_bucket_take(&b, 7, T0 + 1), 7);
}

/* ---- burst ---- */

static void
test_fresh_grants_burst_then_zero(void **state)
{
    pn_bucket_t b;
    pn_bucket_init(&b, 1000, 5000, T0);
    assert_int_equal(pn_bucket_take(&b, 1200, T0), 1200);
    assert_int_equal(pn_bucket_take(&b, 10000, T0), 3800);
    assert_int_equal(pn_bucket_take(&b, 1, T0), 0);
    assert_int_equal(pn_bucket_take(&b, 10000, T0), 0);
}

static void
test_fresh_grants_small_wants_exactly(void **state)
{
    pn_bucket_t b;
    pn_bucket_init(&b, 1000, 100, T0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(pn_bucket_take(&b, 10, T0), 10);
    assert_int_equal(pn_bucket_take(&b, 10, T0), 0);
}

/* ---- refill ---- */

static void
test_refill_proportional(void **state)
{
    pn_bucket_t b;
    drained(&b, 1000, 1000000);
    /* 250 ms at 1000 B/s */
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 250000), 250);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 250000), 0);
    /* 1.5 ms: one byte now, the half byte kept ... */
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 251500), 1);
    /* ... and completed by the next 0.5 ms. */
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 252000), 1);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 252999), 0);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 253000), 1);
}

static void
test_refill_after_long_gap_is_proportional(void **state)
{
    /* Burst larger than one second's worth (the instance sets
     * burst = max(rate / 10, 64 KiB), so any rate under 640 KiB/s): a pause of
     * 2 s earns 2 s of tokens, not the whole burst. */
    pn_bucket_t b;
    drained(&b, 1000, 100000);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 2000000), 2000);

    drained(&b, 12500, 65536);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 1000000), 12500);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 4000000), 37500);
}

static void
test_fractional_carry_small_steps(void **state)
{
    /* 1000 B/s, 1000 steps of 100 us: each step earns 0.1 byte. */
    pn_bucket_t b;
    drained(&b, 1000, 1000000);
    uint64_t total = 0;
    for (uint64_t i = 1; i <= 1000; i++) {
        total += pn_bucket_take(&b, ALL, T0 + i * 100);
        assert_int_equal(total, i * 100 * 1000 / 1000000);
    }
    assert_int_equal(total, 100);
}

static void
test_fractional_carry_exact_any_rate(void **state)
{
    /* A rate that does not divide 1e6 (a byte every 0.81 us), taken every
     * 10 us for one second (a busy bucket shared by many connections): after
     * every step the total is rate * elapsed / 1e6, rounded down. */
    const uint64_t rate = 1234567;
    pn_bucket_t b;
    drained(&b, rate, 1ULL << 30);
    uint64_t total = 0, bad_t = 0, bad_got = 0;
    for (uint64_t t = 10; t <= 1000000; t += 10) {
        total += pn_bucket_take(&b, ALL, T0 + t);
        if (bad_t == 0 && total != rate * t / 1000000) {
            bad_t = t;
            bad_got = total;
        }
    }
    if (bad_t != 0)
        fail_msg("after %llu us granted %llu bytes, expected %llu; after 1 s %llu, expected %llu",
                 (unsigned long long)bad_t, (unsigned long long)bad_got,
                 (unsigned long long)(rate * bad_t / 1000000), (unsigned long long)total,
                 (unsigned long long)rate);
}

static void
test_capped_at_burst_after_long_pause(void **state)
{
    pn_bucket_t b;
    drained(&b, 1000, 5000);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 3600ULL * 1000000), 5000);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 3600ULL * 1000000), 0);

    /* Fast rate, small burst: a pause under a second also caps. */
    drained(&b, 10000000, 1000);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 500000), 1000);

    /* Time standing still or going backwards grants nothing. */
    drained(&b, 1000, 5000);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 - 500000), 0);
    assert_int_equal(pn_bucket_take(&b, ALL, T0), 0);
}

/* ---- take_all ---- */

static void
test_take_all_is_all_or_nothing(void **state)
{
    pn_bucket_t b;
    pn_bucket_init(&b, 1000, 1500, T0);
    assert_int_not_equal(pn_bucket_take_all(&b, 1000, T0), 0);
    /* 500 left: a 501-byte datagram is refused and takes nothing. */
    assert_int_equal(pn_bucket_take_all(&b, 501, T0), 0);
    assert_int_not_equal(pn_bucket_take_all(&b, 500, T0), 0);
    assert_int_equal(pn_bucket_take_all(&b, 1, T0), 0);
    /* 100 ms later: 100 bytes. */
    assert_int_equal(pn_bucket_take_all(&b, 101, T0 + 100000), 0);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 100000), 100);
    /* More than the burst is never possible. */
    assert_int_equal(pn_bucket_take_all(&b, 1501, T0 + 3600ULL * 1000000), 0);
    assert_int_not_equal(pn_bucket_take_all(&b, 1500, T0 + 3600ULL * 1000000), 0);
}

/* ---- put_back ---- */

static void
test_put_back_caps_at_burst(void **state)
{
    pn_bucket_t b;
    pn_bucket_init(&b, 1000, 2000, T0);
    assert_int_equal(pn_bucket_take(&b, 1500, T0), 1500);
    pn_bucket_put_back(&b, 1000);
    assert_int_equal(pn_bucket_take(&b, ALL, T0), 1500);

    assert_int_equal(pn_bucket_take(&b, ALL, T0), 0);
    pn_bucket_put_back(&b, 300);
    assert_int_equal(pn_bucket_take(&b, ALL, T0), 300);

    pn_bucket_put_back(&b, ALL);
    assert_int_equal(pn_bucket_take(&b, ALL, T0), 2000);
}

/* taken: what was granted and not given back (a cluster's hubs share an
 * account's rate by it), reset by init only. */
static void
test_taken_counts_what_was_used(void **state)
{
    (void)state;
    pn_bucket_t b;
    uint64_t us;
    pn_bucket_init(&b, 1000, 2000, T0);
    assert_int_equal(b.taken, 0);
    assert_int_equal(pn_bucket_take(&b, 1500, T0), 1500);
    pn_bucket_put_back(&b, 500);
    assert_int_equal(b.taken, 1000);
    assert_int_not_equal(pn_bucket_take_all(&b, 200, T0), 0);
    assert_int_equal(pn_bucket_take_all(&b, 5000, T0), 0);
    assert_int_equal(pn_bucket_take_chunk(&b, 800, 100, T0, &us), 800);
    assert_int_equal(b.taken, 2000);
    pn_bucket_put_back(&b, ALL);
    assert_int_equal(b.taken, 0);
    pn_bucket_set_rate(&b, 10, 10, T0);
    assert_int_equal(pn_bucket_take(&b, 4, T0), 4);
    assert_int_equal(b.taken, 4);
}

/* ---- wait_us ---- */

static void
test_wait_us(void **state)
{
    pn_bucket_t b;
    pn_bucket_init(&b, 1000, 5000, T0);
    assert_int_equal(pn_bucket_wait_us(&b, 5000, T0), 0);
    assert_int_equal(pn_bucket_take(&b, 4900, T0), 4900);
    assert_int_equal(pn_bucket_wait_us(&b, 100, T0), 0);
    assert_int_equal(pn_bucket_wait_us(&b, 101, T0), 1000);
    assert_int_equal(pn_bucket_wait_us(&b, 600, T0), 500000);
    /* Capped at the burst: asking for more waits for a full bucket. */
    assert_int_equal(pn_bucket_wait_us(&b, 1000000, T0), 4900000);

    /* From empty, without a carried fraction: exact, and enough. */
    drained(&b, 1000, 5000);
    assert_int_equal(pn_bucket_wait_us(&b, 100, T0), 100000);
    assert_int_equal(pn_bucket_take_all(&b, 100, T0 + 99999), 0);
    assert_int_not_equal(pn_bucket_take_all(&b, 100, T0 + 100000), 0);
    /* Rounded up to a whole microsecond: 3 B/s needs 333333.3 us a byte. */
    drained(&b, 3, 10);
    assert_int_equal(pn_bucket_wait_us(&b, 1, T0), 333334);
    assert_int_equal(pn_bucket_take(&b, 1, T0 + 333334), 1);

    /* With a fraction carried, waiting the answer is always enough. */
    drained(&b, 1000, 5000);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 99999), 99);
    uint64_t w = pn_bucket_wait_us(&b, 100, T0 + 99999);
    assert_true(w > 0);
    assert_true(w <= 100000);
    assert_int_not_equal(pn_bucket_take_all(&b, 100, T0 + 99999 + w), 0);
}

/* ---- long run ---- */

static void
test_long_run_average(void **state)
{
    /* 10 s at 1 ms steps, a relay asking for 64 KiB each time. */
    const uint64_t rate = 1234567, burst = 123456;
    pn_bucket_t b;
    drained(&b, rate, burst);
    uint64_t total = 0;
    for (uint64_t ms = 1; ms <= 10000; ms++)
        total += pn_bucket_take(&b, 65536, T0 + ms * 1000);
    uint64_t expect = rate * 10;
    if (total < expect - expect / 100 || total > expect + expect / 100)
        fail_msg("10 s at %llu B/s granted %llu bytes, expected %llu +- 1%%",
                 (unsigned long long)rate, (unsigned long long)total,
                 (unsigned long long)expect);
}

/* ---- chunked take ---- */

static void
test_take_chunk_waits_for_a_piece(void **state)
{
    pn_bucket_t b;
    uint64_t us;
    drained(&b, 1000000, 1000000);          /* 1 MB/s, empty at T0 */
    /* 100 us in: 100 bytes there, fewer than the 16 KiB piece: nothing taken,
     * the wait is the time until the piece has accrued. */
    assert_int_equal(pn_bucket_take_chunk(&b, 65536, 16384, T0 + 100, &us), 0);
    assert_int_equal(us, 16284);
    /* nothing was consumed meanwhile: at the piece, all that accrued is granted */
    assert_int_equal(pn_bucket_take_chunk(&b, 65536, 16384, T0 + 16384, &us), 16384);
    assert_int_equal(us, 0);
    /* a want below the piece needs only itself */
    assert_int_equal(pn_bucket_take_chunk(&b, 100, 16384, T0 + 16484, &us), 100);
    /* a burst below the piece: the piece is capped at the burst */
    pn_bucket_t s;
    drained(&s, 1000, 500);
    assert_int_equal(pn_bucket_take_chunk(&s, 65536, 16384, T0 + 499000, &us), 0);
    assert_int_equal(us, 1000);
    assert_int_equal(pn_bucket_take_chunk(&s, 65536, 16384, T0 + 500000, &us), 500);
    /* unlimited: everything, no wait */
    pn_bucket_init(&s, 0, 0, T0);
    assert_int_equal(pn_bucket_take_chunk(&s, 65536, 16384, T0, &us), 65536);
    assert_int_equal(us, 0);
}

/* ---- a new rate on a running bucket ---- */

static void
test_set_rate_keeps_tokens_up_to_the_new_burst(void **state)
{
    pn_bucket_t b;
    (void)state;
    drained(&b, 1000, 1000);
    /* half a second at the old rate accrues 500, then 100/s */
    pn_bucket_set_rate(&b, 100, 300, T0 + 500000);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 500000), 300);
    assert_int_equal(pn_bucket_take(&b, ALL, T0 + 1500000), 100);
    /* from unlimited: a full burst at the new rate */
    pn_bucket_init(&b, 0, 0, T0);
    pn_bucket_set_rate(&b, 10, 10, T0);
    assert_int_equal(pn_bucket_take(&b, ALL, T0), 10);
    assert_int_equal(pn_bucket_take(&b, ALL, T0), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unlimited_grants_all),
        cmocka_unit_test(test_fresh_grants_burst_then_zero),
        cmocka_unit_test(test_fresh_grants_small_wants_exactly),
        cmocka_unit_test(test_refill_proportional),
        cmocka_unit_test(test_refill_after_long_gap_is_proportional),
        cmocka_unit_test(test_fractional_carry_small_steps),
        cmocka_unit_test(test_fractional_carry_exact_any_rate),
        cmocka_unit_test(test_capped_at_burst_after_long_pause),
        cmocka_unit_test(test_take_all_is_all_or_nothing),
        cmocka_unit_test(test_put_back_caps_at_burst),
        cmocka_unit_test(test_wait_us),
        cmocka_unit_test(test_long_run_average),
        cmocka_unit_test(test_take_chunk_waits_for_a_piece),
        cmocka_unit_test(test_set_rate_keeps_tokens_up_to_the_new_burst),
        cmocka_unit_test(test_taken_counts_what_was_used),
    };
    return cmocka_run_group_tests_name("core/bucket", tests, NULL, NULL);
}
