/* tests/unit/relay/udp_seg_test.c: GSO grouping, GRO cutting and their
 * control messages (relay/udp_seg.h), table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "relay/udp_seg.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>

static const struct {
    const char *name;
    size_t len[80];
    unsigned n;
    size_t hdr, seg_max;
    unsigned want;
} gso_cases[] = {
    { "none", { 0 }, 0, 0, 1472, 0 },
    { "one", { 100 }, 1, 0, 1472, 1 },
    { "equal", { 100, 100, 100 }, 3, 0, 1472, 3 },
    { "last shorter ends it", { 100, 100, 40, 100 }, 4, 0, 1472, 3 },
    { "longer ends it", { 100, 100, 200 }, 3, 0, 1472, 2 },
    { "first shorter goes alone", { 40, 100 }, 2, 0, 1472, 1 },
    { "empty first alone", { 0, 0 }, 2, 0, 1472, 1 },
    { "empty last not joined", { 100, 0 }, 2, 0, 1472, 1 },
    { "empty with a header joins", { 100, 0 }, 2, 28, 1472, 2 },
    { "over the segment limit alone", { 1473, 1473 }, 2, 0, 1472, 1 },
    { "header counts towards the segment", { 1450, 1450 }, 2, 28, 1472, 1 },
    { "no GSO", { 100, 100 }, 2, 0, 0, 1 },
    { "bytes bound", { 30000, 30000, 30000 }, 3, 0, 65507, 2 },
    { "bytes bound on the short last", { 32000, 32000, 2000 }, 3, 0, 65507, 2 },
    { "segment count bound", { [0 ... 79] = 10 }, 80, 0, 1472, UDP_GSO_SEGS },
};

static void
test_gso_take(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(gso_cases) / sizeof(gso_cases[0]); i++) {
        unsigned got = udp_gso_take(gso_cases[i].len, gso_cases[i].n, gso_cases[i].hdr,
                                    gso_cases[i].seg_max);
        if (got != gso_cases[i].want)
            fail_msg("%s: %u, want %u", gso_cases[i].name, got, gso_cases[i].want);
    }
}

static void
test_gso_groups_cut_back_the_same(void **state)
{
    /* Whatever the grouping, cutting each group by its first size gives the sizes back. */
    (void)state;
    size_t len[300];
    for (unsigned i = 0; i < 300; i++)
        len[i] = (i % 7 == 6) ? 1 + (i * 37) % 1400 : 1400 - (i / 50);
    unsigned d = 0;
    while (d < 300) {
        unsigned k = udp_gso_take(len + d, 300 - d, 0, 1472);
        assert_true(k >= 1);
        size_t total = 0;
        for (unsigned j = 0; j < k; j++)
            total += len[d + j];
        size_t g = k > 1 ? len[d] : 0;
        assert_int_equal(udp_gro_count(total, g), k);
        for (unsigned j = 0; j < k; j++)
            assert_int_equal(udp_gro_seg(total, g, j), len[d + j]);
        d += k;
    }
}

static const struct {
    size_t len, gso, count, last;
} gro_cases[] = {
    { 0, 0, 1, 0 },             /* an empty datagram, no GRO */
    { 1400, 0, 1, 1400 },
    { 1400, 1400, 1, 1400 },    /* one segment */
    { 1000, 1400, 1, 1000 },
    { 2800, 1400, 2, 1400 },
    { 2801, 1400, 3, 1 },
    { 65000, 1000, 65, 1000 },
    { 64, 1, 64, 1 },
};

static void
test_gro_cut(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(gro_cases) / sizeof(gro_cases[0]); i++) {
        size_t n = udp_gro_count(gro_cases[i].len, gro_cases[i].gso);
        assert_int_equal(n, gro_cases[i].count);
        size_t sum = 0;
        for (size_t j = 0; j < n; j++) {
            size_t l = udp_gro_seg(gro_cases[i].len, gro_cases[i].gso, j);
            if (j + 1 < n)
                assert_int_equal(l, gro_cases[i].gso);
            sum += l;
        }
        assert_int_equal(udp_gro_seg(gro_cases[i].len, gro_cases[i].gso, n - 1), gro_cases[i].last);
        assert_int_equal(sum, gro_cases[i].len);
    }
}

static void
test_cmsg_segment(void **state)
{
    (void)state;
    union { struct cmsghdr c; uint8_t b[UDP_SEG_CMSG_SPACE]; } u;
    assert_int_equal(udp_cmsg_segment(u.b, sizeof(u.b) - 1, 1400), 0);
    assert_int_equal(udp_cmsg_segment(u.b, sizeof(u.b), 1400), UDP_SEG_CMSG_SPACE);
    assert_int_equal(u.c.cmsg_level, SOL_UDP);
    assert_int_equal(u.c.cmsg_type, UDP_SEGMENT);
    assert_int_equal(u.c.cmsg_len, CMSG_LEN(sizeof(uint16_t)));
    uint16_t g;
    memcpy(&g, CMSG_DATA(&u.c), sizeof(g));
    assert_int_equal(g, 1400);
}

static void
test_cmsg_gro(void **state)
{
    (void)state;
    union { struct cmsghdr c; uint8_t b[CMSG_SPACE(sizeof(int)) * 2]; } u;
    memset(&u, 0, sizeof(u));
    struct msghdr m = { .msg_control = u.b, .msg_controllen = sizeof(u.b) };
    int v = 1200;
    /* Another control message first, then UDP_GRO. */
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SO_TIMESTAMP;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    c = CMSG_NXTHDR(&m, c);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_GRO;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &v, sizeof(v));
    assert_int_equal(udp_cmsg_gro(&m), 1200);
    v = -1;                      /* nonsense: none */
    memcpy(CMSG_DATA(c), &v, sizeof(v));
    assert_int_equal(udp_cmsg_gro(&m), 0);
    m.msg_controllen = 0;       /* nothing came */
    assert_int_equal(udp_cmsg_gro(&m), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gso_take),
        cmocka_unit_test(test_gso_groups_cut_back_the_same),
        cmocka_unit_test(test_gro_cut),
        cmocka_unit_test(test_cmsg_segment),
        cmocka_unit_test(test_cmsg_gro),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
