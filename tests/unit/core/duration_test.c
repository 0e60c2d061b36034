/* tests/unit/core/duration_test.c: Go-style durations and bounded numbers
 * (core/duration.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/duration.h"
#include "core/err.h"

#define SENTINEL 0xDEADBEEFCAFEULL

/* ---- helpers ---- */

static void
dur_ok(const char *s, uint64_t want_ms)
{
    uint64_t ms = SENTINEL;
    if (pn_duration_parse(s, &ms) != PN_OK)
        fail_msg("pn_duration_parse(\"%s\") refused it", s);
    if (ms != want_ms)
        fail_msg("pn_duration_parse(\"%s\") = %llu ms, expected %llu", s,
                 (unsigned long long)ms, (unsigned long long)want_ms);
}

static void
dur_fails(const char *s)
{
    uint64_t ms = SENTINEL;
    if (pn_duration_parse(s, &ms) != PN_ERR)
        fail_msg("pn_duration_parse(\"%s\") accepted it as %llu ms", s ? s : "(null)",
                 (unsigned long long)ms);
    /* A refused input leaves the output alone. */
    assert_int_equal(ms, SENTINEL);
}

/* ---- pn_duration_parse ---- */

static void
test_zero(void **state)
{
    dur_ok("0", 0);
    dur_ok("0s", 0);
    dur_ok("0ms", 0);
    dur_ok("0h0m0s", 0);
}

static void
test_single_units(void **state)
{
    dur_ok("250ms", 250);
    dur_ok("5s", 5000);
    dur_ok("1m", 60000);
    dur_ok("1h", 3600000);
    dur_ok("100us", 0);
    dur_ok("999us", 0);
    dur_ok("1000us", 1);
    dur_ok("2500us", 2);
    dur_ok("1500\xc2\xb5s", 1); /* "µs" in UTF-8 */
}

static void
test_compound(void **state)
{
    dur_ok("1m30s", 90000);
    dur_ok("2h45m", 9900000);
    dur_ok("1h1m1s1ms", 3661001);
    /* Components simply add up, in any order, repeated or not. */
    dur_ok("30s1m", 90000);
    dur_ok("1s1s", 2000);
    /* "m" followed by "s" is minutes then seconds, "ms" is milliseconds. */
    dur_ok("1m5s", 65000);
    dur_ok("1ms5s", 5001);
}

static void
test_fractions(void **state)
{
    dur_ok("1.5s", 1500);
    dur_ok("0.25s", 250);
    dur_ok(".5s", 500);
    dur_ok("1.s", 1000);
    dur_ok("1.5h", 5400000);
    dur_ok("0.1m", 6000);
    dur_ok("1.5ms", 1);
    /* Digits past microsecond precision are ignored, not an error. */
    dur_ok("1.0000009s", 1000);
    dur_ok("0.001999999s", 1);
}

static void
test_large_values(void **state)
{
    /* 2^64 - 1 microseconds is the ceiling: just below it works... */
    dur_ok("18446744073709551ms", 18446744073709551ULL);
    dur_ok("5124095576h", 5124095576ULL * 3600000ULL);
}

static void
test_errors(void **state)
{
    dur_fails("");
    dur_fails("abc");
    dur_fails("5");
    dur_fails("5x");
    dur_fails("s");
    dur_fails("-1s");
    dur_fails("+1s");
    dur_fails("1.5");
    dur_fails(".s");
    dur_fails("5 s");
    dur_fails(" 5s");
    dur_fails("5s ");
    dur_fails("5S");
    dur_fails("5sec");
    dur_fails("1h30");
    dur_fails("00");
    dur_fails("1d");
}

static void
test_null_refused(void **state)
{
    dur_fails(NULL);
}

static void
test_overflow(void **state)
{
    dur_fails("99999999999999999999h");
    dur_fails("99999999999999999999ms");
    dur_fails("18446744073709551616us");
    /* The number fits in 64 bits, its microseconds do not. */
    dur_fails("5124095577h");
    dur_fails("18446744073709552ms");
    /* Each part fits, the sum does not. */
    dur_fails("5124095576h5124095576h");
    dur_fails("18446744073709551ms1s");
}

/* The fractional part can push one component past 2^64 - 1 microseconds:
 * 18446744073709551 ms + 0.999 ms = 18446744073709551999 us > UINT64_MAX. */
static void
test_overflow_through_fraction(void **state)
{
    dur_fails("18446744073709551.999ms");
    dur_fails("18446744073709551.616ms");
    dur_fails("5124095576.9h");
}

/* ---- pn_uint_parse ---- */

static void
uint_ok(const char *s, uint64_t min, uint64_t max, uint64_t want)
{
    uint64_t v = SENTINEL;
    if (pn_uint_parse(s, min, max, &v) != PN_OK)
        fail_msg("pn_uint_parse(\"%s\", %llu, %llu) refused it", s, (unsigned long long)min,
                 (unsigned long long)max);
    assert_int_equal(v, want);
}

static void
uint_fails(const char *s, uint64_t min, uint64_t max)
{
    uint64_t v = SENTINEL;
    if (pn_uint_parse(s, min, max, &v) != PN_ERR)
        fail_msg("pn_uint_parse(\"%s\", %llu, %llu) accepted it", s ? s : "(null)",
                 (unsigned long long)min, (unsigned long long)max);
    assert_int_equal(v, SENTINEL);
}

static void
test_uint_bounds(void **state)
{
    uint_ok("1", 1, 65535, 1);
    uint_ok("65535", 1, 65535, 65535);
    uint_ok("8080", 1, 65535, 8080);
    uint_ok("0", 0, 0, 0);
    uint_ok("007", 1, 10, 7);
    uint_fails("0", 1, 65535);
    uint_fails("65536", 1, 65535);
    uint_fails("70000", 1, 65535);
    uint_fails("4", 5, 10);
    uint_fails("11", 5, 10);
}

static void
test_uint_non_digits(void **state)
{
    uint_fails("abc", 0, UINT64_MAX);
    uint_fails("12a", 0, UINT64_MAX);
    uint_fails("a12", 0, UINT64_MAX);
    uint_fails("-1", 0, UINT64_MAX);
    uint_fails("+1", 0, UINT64_MAX);
    uint_fails(" 1", 0, UINT64_MAX);
    uint_fails("1 ", 0, UINT64_MAX);
    uint_fails("1.0", 0, UINT64_MAX);
    uint_fails("0x10", 0, UINT64_MAX);
}

static void
test_uint_empty(void **state)
{
    uint_fails("", 0, UINT64_MAX);
    uint_fails(NULL, 0, UINT64_MAX);
}

static void
test_uint_overflow(void **state)
{
    uint_ok("18446744073709551615", 0, UINT64_MAX, UINT64_MAX);
    uint_ok("18446744073709551614", 0, UINT64_MAX, UINT64_MAX - 1);
    uint_fails("18446744073709551616", 0, UINT64_MAX);
    uint_fails("18446744073709551620", 0, UINT64_MAX);
    uint_fails("99999999999999999999", 0, UINT64_MAX);
    uint_fails("184467440737095516150", 0, UINT64_MAX);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero),
        cmocka_unit_test(test_single_units),
        cmocka_unit_test(test_compound),
        cmocka_unit_test(test_fractions),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_null_refused),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_overflow_through_fraction),
        cmocka_unit_test(test_uint_bounds),
        cmocka_unit_test(test_uint_non_digits),
        cmocka_unit_test(test_uint_empty),
        cmocka_unit_test(test_uint_overflow),
    };
    return cmocka_run_group_tests_name("core/duration", tests, NULL, NULL);
}
