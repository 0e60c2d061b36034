/* tests/unit/core/ratelim_test.c: the log rate limiter pn_ratelim_pass
 * (core/log.h), driven with a simulated clock in milliseconds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"

#define UNSET 0xDEADBEEFULL

/* ---- helpers ---- */

/* Expect a message at <now> to pass after <want_held> held back. */
static void
passes(pn_ratelim_t *r, uint64_t now, uint64_t want_held)
{
    uint64_t held = UNSET;
    if (!pn_ratelim_pass(r, now, &held))
        fail_msg("message at %llu ms held, expected it to pass", (unsigned long long)now);
    if (held != want_held)
        fail_msg("message at %llu ms passed with held %llu, expected %llu",
                 (unsigned long long)now, (unsigned long long)held,
                 (unsigned long long)want_held);
}

static void
held_back(pn_ratelim_t *r, uint64_t now)
{
    uint64_t held = UNSET;
    if (pn_ratelim_pass(r, now, &held))
        fail_msg("message at %llu ms passed (held %llu), expected it held",
                 (unsigned long long)now, (unsigned long long)held);
}

/* ---- tests ---- */

static void
test_first_passes(void **state)
{
    pn_ratelim_t r = { .interval_ms = 1000 };
    passes(&r, 5000, 0);
    /* Even early on the clock, before one interval has elapsed since 0. */
    pn_ratelim_t early = { .interval_ms = 1000 };
    passes(&early, 500, 0);
    held_back(&early, 600);
    passes(&early, 1500, 1);
}

static void
test_held_within_interval(void **state)
{
    pn_ratelim_t r = { .interval_ms = 1000 };
    passes(&r, 5000, 0);
    held_back(&r, 5000);
    held_back(&r, 5001);
    held_back(&r, 5500);
    held_back(&r, 5999);
    /* The next one after the interval passes and reports the four. */
    passes(&r, 6000, 4);
    /* The count restarted. */
    held_back(&r, 6001);
    passes(&r, 7000, 1);
    /* Nothing held: the next passes with 0. */
    passes(&r, 9000, 0);
}

static void
test_interval_from_last_pass(void **state)
{
    /* The interval runs from the last message that passed, not from the
     * first one held. */
    pn_ratelim_t r = { .interval_ms = 1000 };
    passes(&r, 5000, 0);
    held_back(&r, 5900);
    passes(&r, 6500, 1);
    held_back(&r, 7000);
    held_back(&r, 7499);
    passes(&r, 7500, 2);
}

static void
test_many_held(void **state)
{
    pn_ratelim_t r = { .interval_ms = 60000 };
    passes(&r, 100000, 0);
    for (uint64_t i = 0; i < 100000; i++)
        held_back(&r, 100000 + i * 59999 / 100000);
    passes(&r, 160000, 100000);
}

static void
test_interval_zero_passes_all(void **state)
{
    pn_ratelim_t r = { .interval_ms = 0 };
    for (uint64_t i = 0; i < 10; i++)
        passes(&r, 5000, 0);
    passes(&r, 5001, 0);
}

static void
test_independent_limiters(void **state)
{
    pn_ratelim_t a = { .interval_ms = 1000 }, b = { .interval_ms = 1000 };
    passes(&a, 5000, 0);
    passes(&b, 5100, 0);
    held_back(&a, 5200);
    held_back(&a, 5300);
    held_back(&b, 5400);
    passes(&a, 6000, 2);
    held_back(&b, 6000);
    passes(&b, 6100, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_passes),
        cmocka_unit_test(test_held_within_interval),
        cmocka_unit_test(test_interval_from_last_pass),
        cmocka_unit_test(test_many_held),
        cmocka_unit_test(test_interval_zero_passes_all),
        cmocka_unit_test(test_independent_limiters),
    };
    return cmocka_run_group_tests_name("core/ratelim", tests, NULL, NULL);
}
