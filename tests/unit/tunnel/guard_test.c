/* tests/unit/tunnel/guard_test.c: per-source handshake failure limiter
 * (tunnel/guard.h), driven with a simulated clock in milliseconds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "net/addr.h"
#include "tunnel/guard.h"

#define MAX_FAILS 10
#define WINDOW 10000
#define BAN 10000
#define MAX_PENDING 64

/* ---- helpers ---- */

static pn_addr_t
ip(const char *s)
{
    pn_addr_t a;
    if (pn_addr_parse_ip(s, &a) != PN_OK)
        fail_msg("bad test address %s", s);
    pn_addr_set_port(&a, 40000);
    return a;
}

/* The <i>th of many distinct sources: IPv4 10.x.y.z for even <i>, IPv6
 * 2001:db8::x:y for odd. */
static pn_addr_t
nth(uint32_t i)
{
    char buf[64];
    if (i % 2 == 0)
        snprintf(buf, sizeof(buf), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    else
        snprintf(buf, sizeof(buf), "2001:db8::%x:%x", i >> 16, i & 0xffff);
    return ip(buf);
}

static void
guard(tun_guard_t *g)
{
    tun_guard_init(g, MAX_FAILS, WINDOW, BAN, MAX_PENDING);
}

/* One handshake from <a> at <now> that fails; return what done said. */
static int
fail_once(tun_guard_t *g, const pn_addr_t *a, uint64_t now)
{
    if (!tun_guard_admit(g, a, now))
        fail_msg("admit refused at %llu before the failure", (unsigned long long)now);
    return tun_guard_done(g, a, 0, now);
}

/* ---- bans ---- */

static void
test_nine_failures_no_ban(void **state)
{
    tun_guard_t g;
    guard(&g);
    pn_addr_t a = ip("192.0.2.1");
    for (uint64_t i = 0; i < MAX_FAILS - 1; i++)
        assert_int_equal(fail_once(&g, &a, 1000 + i), 0);
    assert_int_not_equal(tun_guard_admit(&g, &a, 1009), 0);
    assert_int_equal(tun_guard_done(&g, &a, 1, 1009), 0);
    tun_guard_clear(&g);
}

static void
test_tenth_failure_bans(void **state)
{
    tun_guard_t g;
    guard(&g);
    pn_addr_t a = ip("192.0.2.1");
    for (uint64_t i = 0; i < MAX_FAILS - 1; i++)
        assert_int_equal(fail_once(&g, &a, 1000 + i), 0);
    assert_int_equal(fail_once(&g, &a, 1009), 1);
    assert_int_equal(tun_guard_admit(&g, &a, 1009), 0);
    assert_int_equal(tun_guard_admit(&g, &a, 5000), 0);
    assert_int_equal(tun_guard_admit(&g, &a, 1009 + BAN - 1), 0);
    assert_int_not_equal(tun_guard_admit(&g, &a, 1009 + BAN), 0);
    /* Refused attempts were not counted as pending: 63 more fit. */
    for (int i = 1; i < MAX_PENDING; i++)
        assert_int_not_equal(tun_guard_admit(&g, &a, 1009 + BAN), 0);
    assert_int_equal(tun_guard_admit(&g, &a, 1009 + BAN), 0);
    tun_guard_clear(&g);
}

static void
test_ban_reported_once(void **state)
{
    /* 25 handshakes in flight, all failing: the 10th starts the ban; the
     * ones that end during it neither report nor extend it. */
    tun_guard_t g;
    guard(&g);
    pn_addr_t a = ip("192.0.2.1");
    for (int i = 0; i < 25; i++)
        assert_int_not_equal(tun_guard_admit(&g, &a, 1000), 0);
    for (int i = 0; i < 25; i++) {
        int r = tun_guard_done(&g, &a, 0, 1000 + i);
        if (r != (i == MAX_FAILS - 1))
            fail_msg("failure %d returned %d", i + 1, r);
    }
    assert_int_equal(tun_guard_admit(&g, &a, 1025), 0);
    assert_int_equal(tun_guard_admit(&g, &a, 1009 + BAN - 1), 0);
    assert_int_not_equal(tun_guard_admit(&g, &a, 1009 + BAN), 0);
    tun_guard_clear(&g);
}

static void
test_spread_failures_never_ban(void **state)
{
    /* One failure every 1112 ms: never ten within any 10 s. */
    tun_guard_t g;
    guard(&g);
    pn_addr_t a = ip("192.0.2.1");
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(fail_once(&g, &a, 1000 + i * 1112), 0);
    assert_int_not_equal(tun_guard_admit(&g, &a, 1000 + 100 * 1112), 0);
    tun_guard_clear(&g);
}

static void
test_successes_do_not_ban(void **state)
{
    tun_guard_t g;
    guard(&g);
    pn_addr_t a = ip("192.0.2.1");
    for (uint64_t i = 0; i < 1000; i++) {
        assert_int_not_equal(tun_guard_admit(&g, &a, 1000 + i), 0);
        assert_int_equal(tun_guard_done(&g, &a, 1, 1000 + i), 0);
    }
    tun_guard_clear(&g);
}

static void
test_other_source_unaffected(void **state)
{
    tun_guard_t g;
    guard(&g);
    pn_addr_t a = ip("192.0.2.1"), b = ip("192.0.2.2");
    for (uint64_t i = 0; i < MAX_FAILS - 1; i++)
        assert_int_equal(fail_once(&g, &a, 1000 + i), 0);
    assert_int_equal(fail_once(&g, &a, 1009), 1);
    assert_int_equal(tun_guard_admit(&g, &a, 1010), 0);
    /* b starts from nothing: nine failures are fine, the tenth bans b. */
    for (uint64_t i = 0; i < MAX_FAILS - 1; i++)
        assert_int_equal(fail_once(&g, &b, 1010 + i), 0);
    assert_int_not_equal(tun_guard_admit(&g, &b, 1020), 0);
    assert_int_equal(tun_guard_done(&g, &b, 0, 1020), 1);
    assert_int_equal(tun_guard_admit(&g, &b, 1021), 0);
    tun_guard_clear(&g);
}

static void
test_port_does_not_matter(void **state)
{
    tun_guard_t g;
    guard(&g);
    pn_addr_t a = ip("192.0.2.1"), a2 = ip("192.0.2.1");
    pn_addr_set_port(&a2, 1234);
    for (uint64_t i = 0; i < MAX_FAILS; i++)
        fail_once(&g, &a, 1000);
    assert_int_equal(tun_guard_admit(&g, &a2, 1001), 0);
    tun_guard_clear(&g);
}

/* ---- pending ---- */

static void
test_max_pending(void **state)
{
    tun_guard_t g;
    guard(&g);
    pn_addr_t a = ip("192.0.2.1"), b = ip("192.0.2.2");
    for (int i = 0; i < MAX_PENDING; i++)
        assert_int_not_equal(tun_guard_admit(&g, &a, 1000), 0);
    assert_int_equal(tun_guard_admit(&g, &a, 1000), 0);
    assert_int_equal(tun_guard_admit(&g, &a, 2000), 0);
    /* Another source has its own count. */
    assert_int_not_equal(tun_guard_admit(&g, &b, 2000), 0);
    /* One ends: one more fits, and no more. */
    assert_int_equal(tun_guard_done(&g, &a, 1, 2000), 0);
    assert_int_not_equal(tun_guard_admit(&g, &a, 2000), 0);
    assert_int_equal(tun_guard_admit(&g, &a, 2000), 0);
    /* A failure frees a slot as well. */
    assert_int_equal(tun_guard_done(&g, &a, 0, 2001), 0);
    assert_int_not_equal(tun_guard_admit(&g, &a, 2001), 0);
    tun_guard_clear(&g);
}

/* ---- families ---- */

static void
test_v4_v6_distinct(void **state)
{
    tun_guard_t g;
    guard(&g);
    pn_addr_t v4 = ip("192.0.2.1"), v6 = ip("::c000:201"), v6b = ip("2001:db8::c000:201");
    pn_addr_t mapped = ip("::ffff:192.0.2.1");
    for (uint64_t i = 0; i < MAX_FAILS - 1; i++)
        assert_int_equal(fail_once(&g, &v4, 1000), 0);
    assert_int_equal(fail_once(&g, &v4, 1000), 1);
    assert_int_equal(tun_guard_admit(&g, &v4, 1001), 0);
    assert_int_not_equal(tun_guard_admit(&g, &v6, 1001), 0);
    assert_int_not_equal(tun_guard_admit(&g, &v6b, 1001), 0);
    /* The same host seen through a dual-stack socket is the same source. */
    assert_int_equal(tun_guard_admit(&g, &mapped, 1001), 0);

    /* And the other way: an IPv6 ban leaves IPv4 alone. */
    pn_addr_t w6 = ip("2001:db8::1"), w4 = ip("0.0.0.1");
    for (uint64_t i = 0; i < MAX_FAILS; i++)
        fail_once(&g, &w6, 2000);
    assert_int_equal(tun_guard_admit(&g, &w6, 2001), 0);
    assert_int_not_equal(tun_guard_admit(&g, &w4, 2001), 0);
    tun_guard_clear(&g);
}

/* ---- a full table ---- */

static void
test_many_sources(void **state)
{
    /* More sources than slots, none ever finishing: every newcomer is greeted
     * (tracked or, once every slot is busy, let through untracked). */
    tun_guard_t g;
    guard(&g);
    for (uint32_t i = 0; i < 20000; i++) {
        pn_addr_t a = nth(i);
        if (!tun_guard_admit(&g, &a, 1000 + i / 10))
            fail_msg("source %u refused", i);
    }
    /* Done for untracked or tracked sources alike never reports a ban. */
    for (uint32_t i = 0; i < 20000; i++) {
        pn_addr_t a = nth(i);
        assert_int_equal(tun_guard_done(&g, &a, 1, 3000), 0);
    }
    tun_guard_clear(&g);
}

static void
test_pending_source_never_evicted(void **state)
{
    /* <p> fills its pending quota; <b> is banned with one handshake still in
     * flight. 20000 other sources come and go: neither is forgotten (being
     * forgotten would reset <p>'s count and lift <b>'s ban). */
    tun_guard_t g;
    guard(&g);
    pn_addr_t p = ip("198.51.100.1"), b = ip("198.51.100.2");
    for (int i = 0; i < MAX_PENDING; i++)
        assert_int_not_equal(tun_guard_admit(&g, &p, 1000), 0);
    for (int i = 0; i < MAX_FAILS + 1; i++)
        assert_int_not_equal(tun_guard_admit(&g, &b, 1000), 0);
    int bans = 0;
    for (int i = 0; i < MAX_FAILS; i++)
        bans += tun_guard_done(&g, &b, 0, 1000);
    assert_int_equal(bans, 1);

    for (uint32_t i = 0; i < 20000; i++) {
        pn_addr_t a = nth(i);
        uint64_t now = 1001 + i / 4;    /* up to 6000 ms: inside the ban */
        if (!tun_guard_admit(&g, &a, now))
            fail_msg("source %u refused", i);
        assert_int_equal(tun_guard_done(&g, &a, 1, now), 0);
    }
    assert_int_equal(tun_guard_admit(&g, &p, 6001), 0);
    assert_int_equal(tun_guard_admit(&g, &b, 6001), 0);
    assert_int_equal(tun_guard_admit(&g, &b, 1000 + BAN - 1), 0);
    assert_int_not_equal(tun_guard_admit(&g, &b, 1000 + BAN), 0);
    tun_guard_clear(&g);
}

static void
test_banned_retrying_source_survives_churn(void **state)
{
    /* A banned source that keeps knocking is never the one idle the longest,
     * so churn does not make the table forget its ban. */
    tun_guard_t g;
    tun_guard_init(&g, MAX_FAILS, WINDOW, 1000000, MAX_PENDING);
    pn_addr_t b = ip("203.0.113.9");
    for (uint64_t i = 0; i < MAX_FAILS - 1; i++)
        assert_int_equal(fail_once(&g, &b, 1000), 0);
    assert_int_equal(fail_once(&g, &b, 1000), 1);

    for (uint32_t i = 0; i < 20000; i++) {
        pn_addr_t a = nth(i);
        uint64_t now = 1001 + i;
        if (!tun_guard_admit(&g, &a, now))
            fail_msg("source %u refused", i);
        assert_int_equal(tun_guard_done(&g, &a, 1, now), 0);
        if (i % 8 == 0 && tun_guard_admit(&g, &b, now))
            fail_msg("banned source admitted after %u others", i + 1);
    }
    assert_int_equal(tun_guard_admit(&g, &b, 30000), 0);
    tun_guard_clear(&g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nine_failures_no_ban),
        cmocka_unit_test(test_tenth_failure_bans),
        cmocka_unit_test(test_ban_reported_once),
        cmocka_unit_test(test_spread_failures_never_ban),
        cmocka_unit_test(test_successes_do_not_ban),
        cmocka_unit_test(test_other_source_unaffected),
        cmocka_unit_test(test_port_does_not_matter),
        cmocka_unit_test(test_max_pending),
        cmocka_unit_test(test_v4_v6_distinct),
        cmocka_unit_test(test_many_sources),
        cmocka_unit_test(test_pending_source_never_evicted),
        cmocka_unit_test(test_banned_retrying_source_survives_churn),
    };
    return cmocka_run_group_tests_name("tunnel/guard", tests, NULL, NULL);
}
