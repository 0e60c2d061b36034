/* tests/unit/net/admit_test.c: the admission table (net/admit.h) and the
 * gate on a loop (net/gate.h): caps, fair victims, deadline, accept back-off. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "net/addr.h"
#include "net/admit.h"
#include "net/gate.h"
#include "testutil.h"

#define N 64

static pn_addr_t
ip(const char *s)
{
    pn_addr_t a;
    assert_int_equal(pn_addr_parse_ip(s, &a), PN_OK);
    return a;
}

/* Admit <e> from <src>, giving up victims first; return how many went. */
static int
admit(pn_admit_t *a, pn_admit_ent_t *e, const char *src, uint64_t now)
{
    pn_addr_t s = ip(src);
    pn_admit_ent_t *v;
    int gone = 0;
    while ((v = pn_admit_victim(a, &s)) != NULL) {
        pn_admit_del(a, v);
        gone++;
    }
    assert_int_equal(pn_admit_add(a, e, &s, now), PN_OK);
    return gone;
}

static void
test_per_source_cap_gives_up_that_sources_oldest(void **state)
{
    pn_admit_t a;
    pn_admit_ent_t e[N], other;
    memset(e, 0, sizeof(e));
    memset(&other, 0, sizeof(other));
    pn_admit_init(&a, 100, 4);
    assert_int_equal(admit(&a, &other, "10.0.0.9", 0), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(admit(&a, &e[i], "10.0.0.1", 1 + i), 0);
    pn_addr_t s = ip("10.0.0.1");
    assert_ptr_equal(pn_admit_victim(&a, &s), &e[0]);
    /* A direct add over the cap is refused. */
    assert_int_equal(pn_admit_add(&a, &e[4], &s, 9), PN_ERR);
    assert_int_equal(admit(&a, &e[4], "10.0.0.1", 9), 1);
    assert_null(e[0].src);
    assert_non_null(other.src);
    assert_int_equal(pn_admit_held(&a, &s), 4);
    assert_int_equal(a.count, 5);
    pn_admit_clear(&a);
}

static void
test_full_table_gives_up_the_heaviest_sources_oldest(void **state)
{
    pn_admit_t a;
    pn_admit_ent_t e[N];
    memset(e, 0, sizeof(e));
    pn_admit_init(&a, 8, 8);
    /* 10.0.0.1 holds 5 (oldest at t=10), 10.0.0.2 holds 3 (one at t=0). */
    admit(&a, &e[0], "10.0.0.2", 0);
    for (int i = 1; i <= 5; i++)
        admit(&a, &e[i], "10.0.0.1", 10 * i);
    admit(&a, &e[6], "10.0.0.2", 60);
    admit(&a, &e[7], "10.0.0.2", 70);
    assert_int_equal(a.count, 8);
    pn_addr_t s = ip("10.0.0.3");
    assert_ptr_equal(pn_admit_victim(&a, &s), &e[1]);
    assert_int_equal(admit(&a, &e[8], "10.0.0.3", 80), 1);
    assert_null(e[1].src);
    assert_non_null(e[0].src);      /* older, but its source holds fewer */
    assert_int_equal(a.count, 8);
    pn_admit_clear(&a);
}

static void
test_ipv6_counts_per_64(void **state)
{
    pn_admit_t a;
    pn_admit_ent_t e[3];
    memset(e, 0, sizeof(e));
    pn_admit_init(&a, 10, 2);
    admit(&a, &e[0], "2001:db8:0:1::1", 0);
    admit(&a, &e[1], "2001:db8:0:1::2", 1);
    assert_int_equal(admit(&a, &e[2], "2001:db8:0:1:ffff::9", 2), 1);
    assert_null(e[0].src);
    pn_addr_t other = ip("2001:db8:0:2::1");
    assert_null(pn_admit_victim(&a, &other));
    /* A mapped IPv4 address is the IPv4 source. */
    pn_addr_t m = ip("::ffff:10.1.1.1"), v4 = ip("10.1.1.1");
    pn_admit_ent_t f = {0};
    assert_int_equal(pn_admit_add(&a, &f, &m, 3), PN_OK);
    assert_int_equal(pn_admit_held(&a, &v4), 1);
    pn_admit_clear(&a);
}

static void
test_oldest_first_and_del_is_idempotent(void **state)
{
    pn_admit_t a;
    pn_admit_ent_t e[3], z;
    memset(e, 0, sizeof(e));
    memset(&z, 0, sizeof(z));
    pn_admit_init(&a, 10, 10);
    pn_admit_del(&a, &z);           /* zeroed: a no-op */
    admit(&a, &e[0], "10.0.0.1", 5);
    admit(&a, &e[1], "10.0.0.2", 6);
    admit(&a, &e[2], "10.0.0.1", 7);
    assert_ptr_equal(pn_admit_oldest(&a), &e[0]);
    pn_admit_del(&a, &e[0]);
    pn_admit_del(&a, &e[0]);
    assert_ptr_equal(pn_admit_oldest(&a), &e[1]);
    assert_int_equal(a.count, 2);
    pn_admit_clear(&a);
    assert_null(e[1].src);
}

/* Many sources coming and going: the open-addressing table stays consistent
 * (every held count matches a recount) through deletions that shift probes. */
/* The table starts small and grows with the sources, not with max. */
static void
test_table_grows_with_sources(void **state)
{
    enum { M = 1000 };
    static pn_admit_ent_t e[M];
    char buf[32];
    pn_admit_t a;
    memset(e, 0, sizeof(e));
    pn_admit_init(&a, 16384, 2);
    assert_true(a.mask + 1 <= 16);
    for (int i = 0; i < M; i++) {
        snprintf(buf, sizeof(buf), "10.1.%d.%d", i / 250, i % 250);
        assert_int_equal(admit(&a, &e[i], buf, (uint64_t)i), 0);
        assert_true(a.nsrc * 2 <= a.mask + 1);
    }
    assert_int_equal(a.nsrc, M);
    assert_true(a.mask + 1 <= 4 * M);
    for (int i = 0; i < M; i++) {
        snprintf(buf, sizeof(buf), "10.1.%d.%d", i / 250, i % 250);
        pn_addr_t sa = ip(buf);
        assert_int_equal(pn_admit_held(&a, &sa), 1);
    }
    for (int i = 0; i < M; i += 2)
        pn_admit_del(&a, &e[i]);
    for (int i = 1; i < M; i += 2) {
        snprintf(buf, sizeof(buf), "10.1.%d.%d", i / 250, i % 250);
        pn_addr_t sa = ip(buf);
        assert_int_equal(pn_admit_held(&a, &sa), 1);
        pn_admit_del(&a, &e[i]);
    }
    assert_int_equal(a.nsrc, 0);
    assert_int_equal(a.count, 0);
    pn_admit_clear(&a);
}

static void
test_churn_keeps_counts_exact(void **state)
{
    enum { M = 200, SRC = 50 };
    static pn_admit_ent_t e[M];
    static int from[M];
    pn_admit_t a;
    memset(e, 0, sizeof(e));
    pn_admit_init(&a, 64, 5);
    for (uint64_t step = 0; step < 20000; step++) {
        int i = (int)(tu_mix(step) % M);
        if (e[i].src != NULL) {
            pn_admit_del(&a, &e[i]);
            continue;
        }
        char buf[32];
        from[i] = (int)(tu_mix(step + 1000000) % SRC);
        snprintf(buf, sizeof(buf), "10.0.%d.%d", from[i] / 7, from[i]);
        admit(&a, &e[i], buf, step);
        if (step % 97 == 0) {
            uint32_t total = 0;
            for (int s = 0; s < SRC; s++) {
                uint32_t n = 0;
                for (int k = 0; k < M; k++)
                    n += e[k].src != NULL && from[k] == s;
                snprintf(buf, sizeof(buf), "10.0.%d.%d", s / 7, s);
                pn_addr_t sa = ip(buf);
                assert_int_equal(pn_admit_held(&a, &sa), n);
                assert_true(n <= 5);
                total += n;
            }
            assert_int_equal(total, a.count);
            assert_true(a.count <= 64);
        }
    }
    pn_admit_clear(&a);
}

/* ---- the gate on a loop ---- */

struct conn {
    pn_admit_ent_t ent;
    pn_gate_t *g;
    int killed;
};

static void
on_kill(void *arg)
{
    struct conn *c = arg;
    c->killed++;
    pn_gate_leave(c->g, &c->ent);   /* allowed, and a no-op */
}

static int
killed(void *arg)
{
    return ((struct conn *)arg)->killed > 0;
}

static void
test_gate_deadline_is_for_the_whole_head(void **state)
{
    ev_loop_t *loop = ev_loop_new();
    pn_gate_opts_t o = { .who = "test", .deadline_ms = 80, .max = 16, .per_src = 16 };
    pn_gate_t *g = pn_gate_new(loop, &o);
    struct conn a = { .g = g }, b = { .g = g }, c = { .g = g };
    pn_addr_t s = ip("127.0.0.1");
    uint64_t t0 = pn_now_ms();
    pn_gate_enter(g, &a.ent, &s, on_kill, &a);
    pn_gate_enter(g, &b.ent, &s, on_kill, &b);
    pn_gate_enter(g, &c.ent, &s, on_kill, &c);
    pn_gate_leave(g, &b.ent);       /* b finished its head */
    assert_true(tu_run_until(loop, killed, &c, 2000));
    uint64_t took = pn_now_ms() - t0;
    assert_true(took >= 70 && took < 1000);
    assert_int_equal(a.killed, 1);
    assert_int_equal(b.killed, 0);
    assert_false(pn_gate_holds(&c.ent));
    pn_gate_stats_t st;
    pn_gate_stats(g, &st);
    assert_int_equal(st.expired, 2);
    pn_gate_free(g);
    ev_loop_free_(loop);
}

static void
test_gate_evicts_to_make_room(void **state)
{
    ev_loop_t *loop = ev_loop_new();
    pn_gate_opts_t o = { .who = "test", .deadline_ms = 10000, .max = 4, .per_src = 2 };
    pn_gate_t *g = pn_gate_new(loop, &o);
    struct conn c[4];
    memset(c, 0, sizeof(c));
    pn_addr_t bad = ip("10.0.0.66"), good = ip("10.0.0.7");
    for (int i = 0; i < 3; i++) {
        c[i].g = g;
        pn_gate_enter(g, &c[i].ent, &bad, on_kill, &c[i]);
    }
    assert_int_equal(c[0].killed, 1);   /* its source's cap is 2 */
    c[3].g = g;
    pn_gate_enter(g, &c[3].ent, &good, on_kill, &c[3]);
    assert_true(pn_gate_holds(&c[3].ent) && pn_gate_holds(&c[1].ent));
    pn_gate_stats_t st;
    pn_gate_stats(g, &st);
    assert_int_equal(st.evicted, 1);
    pn_gate_free(g);
    ev_loop_free_(loop);
}

static int resumed;

static void
on_resume(void *arg)
{
    resumed++;
}

static int
has_resumed(void *arg)
{
    return resumed > 0;
}

static void
test_gate_accept_backoff(void **state)
{
    ev_loop_t *loop = ev_loop_new();
    pn_gate_opts_t o = { .who = "test", .deadline_ms = 10000, .max = 8, .per_src = 8 };
    pn_gate_t *g = pn_gate_new(loop, &o);
    struct conn c = { .g = g };
    pn_addr_t s = ip("10.0.0.1");
    pn_gate_enter(g, &c.ent, &s, on_kill, &c);
    assert_int_equal(pn_gate_accept_failed(g, EAGAIN, on_resume, NULL), 0);
    assert_int_equal(pn_gate_accept_failed(g, ECONNABORTED, on_resume, NULL), 0);
    uint64_t t0 = pn_now_ms();
    assert_int_equal(pn_gate_accept_failed(g, EMFILE, on_resume, NULL), 1);
    assert_int_equal(c.killed, 1);      /* descriptors freed from the unfinished */
    assert_int_equal(resumed, 0);
    assert_true(tu_run_until(loop, has_resumed, NULL, 2000));
    assert_true(pn_now_ms() - t0 >= 40);
    /* The second pause in a row is longer; an accept that works resets it. */
    resumed = 0;
    t0 = pn_now_ms();
    pn_gate_accept_failed(g, ENFILE, on_resume, NULL);
    assert_true(tu_run_until(loop, has_resumed, NULL, 2000));
    assert_true(pn_now_ms() - t0 >= 90);
    assert_int_equal(resumed, 1);
    pn_gate_accept_ok(g);
    pn_gate_stats_t st;
    pn_gate_stats(g, &st);
    assert_int_equal(st.pauses, 2);
    pn_gate_free(g);
    ev_loop_free_(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_source_cap_gives_up_that_sources_oldest),
        cmocka_unit_test(test_full_table_gives_up_the_heaviest_sources_oldest),
        cmocka_unit_test(test_ipv6_counts_per_64),
        cmocka_unit_test(test_oldest_first_and_del_is_idempotent),
        cmocka_unit_test(test_table_grows_with_sources),
        cmocka_unit_test(test_churn_keeps_counts_exact),
        cmocka_unit_test(test_gate_deadline_is_for_the_whole_head),
        cmocka_unit_test(test_gate_evicts_to_make_room),
        cmocka_unit_test(test_gate_accept_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
