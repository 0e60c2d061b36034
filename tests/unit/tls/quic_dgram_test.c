/* tests/unit/tls/quic_dgram_test.c: the DATAGRAM frames of type=1's UDP
 * sessions (tls/quic_dgram.c) on a connection without ngtcp2 (no handshake):
 * the payload's varint stream id of every length, truncated and
 * unidirectional ids refused; a frame goes to the stream it names, an
 * unknown, ended or malformed one, or one over PN_XPRT_DGRAM_MAX, is dropped
 * and counted; each stream queues
 * at most QUIC_DGRAM_RECVQ frames; received frames count as readable only
 * once the owner asked for datagrams; no datagram can be sent before the
 * handshake (dgram_max 0, dgram_send refuses); an empty datagram crosses as
 * one; freeing streams and connection frees what they queued (ASan). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/ev.h"
#include "tls/quic_priv.h"

static void
test_parse(void **state)
{
    static const struct {
        uint8_t b[9];
        size_t n;
        int want;
        int64_t sid;
    } cases[] = {
        { { 0x00 }, 1, 1, 0 },
        { { 0x3c }, 1, 1, 60 },
        { { 0x40, 0x40 }, 2, 2, 64 },
        { { 0x7f, 0xfc }, 2, 2, 16380 },
        { { 0x80, 0x01, 0x00, 0x00 }, 4, 4, 65536 },
        { { 0xc0, 0, 0, 0, 0, 0, 0x01, 0x04, 0xff }, 9, 8, 260 },   /* a datagram after it */
        { { 0x00 }, 0, -1, 0 },             /* empty */
        { { 0x40 }, 1, -1, 0 },             /* truncated */
        { { 0x80, 0x01, 0x00 }, 3, -1, 0 },
        { { 0xc0, 0, 0, 0, 0, 0, 0 }, 7, -1, 0 },
        { { 0x02 }, 1, -1, 0 },             /* unidirectional */
        { { 0x03 }, 1, -1, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t sid = -7;
        int rc = pn_quic_dgram_parse(cases[i].b, cases[i].n, &sid);
        assert_int_equal(rc, cases[i].want);
        if (rc > 0)
            assert_int_equal(sid, cases[i].sid);
    }
}

static void
test_input_to_streams(void **state)
{
    ev_loop_t *loop = ev_loop_new();
    pn_quic_conn_t *q = pn_quic_conn_new(loop);
    pn_quics_t *s0 = pn_quic_stream_new(q, 0), *s4 = pn_quic_stream_new(q, 4);
    pn_quics_t *s1028 = pn_quic_stream_new(q, 1028);   /* the bucket of 4 */
    pn_xprt_t *x0 = &s0->base, *x4 = &s4->base, *x1028 = &s1028->base;
    pn_quic_dgram_stats_t a, b;
    uint8_t buf[PN_XPRT_DGRAM_MAX];

    pn_quic_dgram_stats(&a);
    pn_quic_dgram_input(q, (const uint8_t *)"\x00" "abc", 4);
    pn_quic_dgram_input(q, (const uint8_t *)"\x04" "x", 2);
    pn_quic_dgram_input(q, (const uint8_t *)"\x44\x04" "yz", 4);    /* 1028, 2-byte varint */
    pn_quic_dgram_input(q, (const uint8_t *)"\x08" "lost", 5);      /* unknown stream */
    pn_quic_dgram_input(q, (const uint8_t *)"\x40", 1);             /* malformed */
    pn_quic_dgram_input(q, (const uint8_t *)"\x06" "uni", 4);       /* no session's */
    pn_quic_dgram_input(q, (const uint8_t *)"\x00", 1);             /* an empty datagram */
    static uint8_t big[1 + PN_XPRT_DGRAM_MAX + 1];                  /* over the limit */
    pn_quic_dgram_input(q, big, sizeof(big));
    pn_quic_dgram_stats(&b);
    assert_int_equal(b.received - a.received, 4);
    assert_int_equal(b.dropped - a.dropped, 4);

    /* Not readable before the owner asks for datagrams; then readable. */
    assert_int_equal(x0->ops->ready(x0) & EV_RD, 0);
    assert_int_equal(x0->ops->dgram_max(x0), 0);     /* no handshake: none to send */
    assert_int_equal(x0->ops->dgram_send(x0, "no", 2), PN_ERR);
    assert_int_equal(x0->ops->ready(x0) & EV_RD, EV_RD);

    assert_int_equal(x0->ops->dgram_recv(x0, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(x0->ops->dgram_recv(x0, buf, sizeof(buf)), 0);
    assert_int_equal(x0->ops->dgram_recv(x0, buf, sizeof(buf)), PN_AGAIN);
    assert_int_equal(x0->ops->ready(x0) & EV_RD, 0);
    assert_int_equal(x4->ops->dgram_recv(x4, buf, sizeof(buf)), 1);
    assert_memory_equal(buf, "x", 1);
    assert_int_equal(x1028->ops->dgram_recv(x1028, buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "yz", 2);

    /* The queue of a stream is bounded; what is beyond is dropped. */
    pn_quic_dgram_stats(&a);
    for (int i = 0; i < QUIC_DGRAM_RECVQ + 10; i++)
        pn_quic_dgram_input(q, (const uint8_t *)"\x04" "more", 5);
    pn_quic_dgram_stats(&b);
    assert_int_equal(b.received - a.received, QUIC_DGRAM_RECVQ);
    assert_int_equal(b.dropped - a.dropped, 10);
    assert_int_equal(s4->dgr.n, QUIC_DGRAM_RECVQ);

    /* A stream freed: frames naming it are dropped; what it held is freed. */
    pn_xprt_free(x4);
    pn_quic_dgram_stats(&a);
    pn_quic_dgram_input(q, (const uint8_t *)"\x04" "late", 5);
    pn_quic_dgram_stats(&b);
    assert_int_equal(b.dropped - a.dropped, 1);

    pn_quic_dgram_input(q, (const uint8_t *)"\x44\x04" "kept", 6);  /* freed with it */
    pn_xprt_free(x1028);
    pn_xprt_free(x0);
    pn_quic_unref(q);
    ev_loop_free(loop);
}

/* POSTERN_QUIC_CC's names (start-up exits 2 on another, main.c). */
static void
test_cc_names(void **state)
{
    (void)state;
    char err[PN_ERR_LEN] = "";
    static const char *const good[] = { "bbr", "cubic", "bbr2", "reno", "" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(pn_quic_cc_check(good[i], err), PN_OK);
    assert_int_equal(pn_quic_cc_check(NULL, err), PN_OK);
    static const char *const bad[] = { "BBR", "vegas", "bbr ", "bbr3" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pn_quic_cc_check(bad[i], err), PN_ERR);
        assert_int_equal(strncmp(err, "POSTERN_QUIC_CC: ", 17), 0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_cc_names),
        cmocka_unit_test(test_input_to_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
