/* tests/unit/tls/ws_frame_test.c: the WebSocket frame decoder (tls/ws_frame.h)
 * on RFC 6455's examples (section 5.7, as binary frames) and on each refusal,
 * and the "ws" transport (tls/ws.h) over an in-memory pair: a client's masked
 * frames and a server's plain ones, written and read in pieces of every size,
 * a ping answered between data, a close read as end of stream. */
#include "tls/ws.h"
#include "tls/ws_frame.h"
#include "core/err.h"
#include "core/xprt_mem.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Decode <in> whole (n bytes) by a decoder of side <server>; payload into out. */
static int
dec_all(int server, const uint8_t *in, size_t n, uint8_t *out, size_t room, size_t *got,
        uint8_t *ctl_op)
{
    pn_ws_dec_t d;
    size_t used, off = 0, g;
    int rc = PN_OK;
    pn_ws_dec_init(&d, server);
    *got = 0;
    *ctl_op = 0;
    while (off < n && rc == PN_OK) {
        rc = pn_ws_dec(&d, in + off, n - off, &used, out + *got, room - *got, &g);
        off += used;
        *got += g;
        if (d.ctl_op != 0)
            *ctl_op = d.ctl_op;
        if (rc == PN_OK && used == 0 && d.ctl_op == 0)
            break;
    }
    return rc;
}

static void
test_rfc_examples(void **state)
{
    (void)state;
    uint8_t out[70000];
    size_t got;
    uint8_t op;
    static const uint8_t plain[] = { 0x82, 0x05, 'H', 'e', 'l', 'l', 'o' };
    static const uint8_t masked[] = { 0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    static const uint8_t frag[] = { 0x02, 0x03, 'H', 'e', 'l', 0x80, 0x02, 'l', 'o' };
    static const uint8_t ping[] = { 0x89, 0x05, 'H', 'e', 'l', 'l', 'o' };
    assert_int_equal(dec_all(0, plain, sizeof(plain), out, sizeof(out), &got, &op), PN_OK);
    assert_int_equal(got, 5);
    assert_memory_equal(out, "Hello", 5);
    assert_int_equal(dec_all(1, masked, sizeof(masked), out, sizeof(out), &got, &op), PN_OK);
    assert_int_equal(got, 5);
    assert_memory_equal(out, "Hello", 5);
    assert_int_equal(dec_all(0, frag, sizeof(frag), out, sizeof(out), &got, &op), PN_OK);
    assert_int_equal(got, 5);
    assert_memory_equal(out, "Hello", 5);
    assert_int_equal(dec_all(0, ping, sizeof(ping), out, sizeof(out), &got, &op), PN_OK);
    assert_int_equal(got, 0);
    assert_int_equal(op, PN_WS_OP_PING);

    /* 256 bytes (16-bit length) and 65536 (64-bit length), one byte at a time. */
    static uint8_t big[10 + 65536];
    size_t lens[2] = { 256, 65536 };
    for (int t = 0; t < 2; t++) {
        size_t h = 0, n = lens[t];
        big[h++] = 0x82;
        if (n < 65536) {
            big[h++] = 126;
            big[h++] = (uint8_t)(n >> 8);
            big[h++] = (uint8_t)n;
        } else {
            big[h++] = 127;
            for (int i = 7; i >= 0; i--)
                big[h++] = (uint8_t)((uint64_t)n >> (8 * i));
        }
        for (size_t i = 0; i < n; i++)
            big[h + i] = (uint8_t)tu_mix(i);
        pn_ws_dec_t d;
        pn_ws_dec_init(&d, 0);
        size_t total = 0;
        for (size_t i = 0; i < h + n; i++) {
            size_t used, g;
            assert_int_equal(pn_ws_dec(&d, big + i, 1, &used, out + total, sizeof(out) - total, &g),
                             PN_OK);
            assert_int_equal(used, 1);
            total += g;
        }
        assert_int_equal(total, n);
        assert_memory_equal(out, big + h, n);
        assert_false(pn_ws_dec_inside(&d));
    }
}

static void
test_refusals(void **state)
{
    (void)state;
    static const struct {
        int server;
        uint8_t in[16];
        size_t n;
        const char *why;
    } bad[] = {
        { 0, { 0xc2, 0x00 }, 2, "reserved bits" },
        { 1, { 0x82, 0x00 }, 2, "unmasked websocket frame" },
        { 0, { 0x82, 0x80, 1, 2, 3, 4 }, 6, "masked websocket frame" },
        { 0, { 0x81, 0x00 }, 2, "text frame" },
        { 0, { 0x83, 0x00 }, 2, "unknown opcode" },
        { 0, { 0x80, 0x00 }, 2, "continuation frame without" },
        { 0, { 0x02, 0x00, 0x82, 0x00 }, 4, "inside a fragmented" },
        { 0, { 0x09, 0x00 }, 2, "malformed" },
        { 0, { 0x89, 0x7e, 0x00, 0x7e }, 4, "malformed" },
        { 0, { 0x82, 0x7e, 0x00, 0x10 }, 4, "shortest form" },
        { 0, { 0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, 10, "shortest form" },
        { 0, { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 10, "top bit" },
        { 0, { 0x82, 0x7f, 0, 0, 0, 0, 0, 0x10, 0, 1 }, 10, "oversized" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t out[16];
        size_t got;
        uint8_t op;
        assert_int_equal(dec_all(bad[i].server, bad[i].in, bad[i].n, out, sizeof(out), &got, &op),
                         PN_ERR);
        pn_ws_dec_t d;
        size_t used;
        pn_ws_dec_init(&d, bad[i].server);
        assert_int_equal(pn_ws_dec(&d, bad[i].in, bad[i].n, &used, out, sizeof(out), &got), PN_ERR);
        assert_non_null(d.why);
        assert_non_null(strstr(d.why, bad[i].why));
        /* failed for good */
        assert_int_equal(pn_ws_dec(&d, (const uint8_t *)"\x82\x00", 2, &used, out, 16, &got), PN_ERR);
    }
}

/* Move <n> bytes from <a>'s writes to <b>'s reads, both in pieces that change
 * size, with the windows of the pair small enough to push back. */
static void
pump(pn_xprt_t *a, pn_xprt_t *b, const uint8_t *src, size_t n, uint8_t *dst)
{
    size_t wr = 0, rd = 0, again = 0;    /* again: the length of a write to retry as it was */
    uint64_t k = 0;
    while (rd < n) {
        if (wr < n) {
            size_t len = again ? again : 1 + tu_mix(k++) % 100000;
            len = len > n - wr ? n - wr : len;
            ssize_t r = a->ops->write(a, src + wr, len);
            assert_true(r > 0 || r == PN_AGAIN);
            again = r == PN_AGAIN ? len : 0;
            if (r > 0)
                wr += (size_t)r;
        }
        for (;;) {
            size_t len = 1 + tu_mix(k++) % 70000;
            len = len > n - rd ? n - rd : len;
            ssize_t r = b->ops->read(b, dst + rd, len);
            if (r == PN_AGAIN)
                break;
            assert_true(r > 0);
            assert_true((size_t)r <= len);
            rd += (size_t)r;
            if (rd == n)
                break;
        }
    }
}

static void
one_way(int client_writes)
{
    pn_xprt_t *m[2], *w[2];
    pn_xprt_mem_pair(m, 100000, 0);
    pn_xprt_mem_set_max_io(m[0], 30000);
    pn_xprt_mem_set_max_io(m[1], 30000);
    w[0] = pn_ws_xprt_new(m[0], 0, NULL, 0);        /* client */
    w[1] = pn_ws_xprt_new(m[1], 1, NULL, 0);        /* server */
    pn_xprt_t *a = w[client_writes ? 0 : 1], *b = w[client_writes ? 1 : 0];
    size_t n = 3 * 1024 * 1024 + 7;
    uint8_t *src = malloc(n), *dst = malloc(n);
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)tu_mix(i);
    pump(a, b, src, n, dst);
    assert_memory_equal(src, dst, n);
    /* end of stream: a close frame reads as 0 */
    assert_int_equal(a->ops->shutdown_wr(a), PN_OK);
    uint8_t c;
    assert_int_equal(tu_read_settled(b, &c, 1), 0);
    free(src);
    free(dst);
    pn_xprt_free(w[0]);
    pn_xprt_free(w[1]);
}

static void
test_transport_client_to_server(void **state)
{
    (void)state;
    one_way(1);
}

static void
test_transport_server_to_client(void **state)
{
    (void)state;
    one_way(0);
}

/* A ping from the client between two data frames: the server reads the data of
 * both and its next write carries the pong first; the client reads past the pong. */
static void
test_ping_between_data(void **state)
{
    (void)state;
    pn_xprt_t *m[2], *srv, *cli;
    pn_xprt_mem_pair(m, 1 << 20, 0);
    cli = m[0];
    srv = pn_ws_xprt_new(m[1], 1, NULL, 0);
    static const uint8_t frames[] = {
        0x82, 0x83, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2, 'c' ^ 3,
        0x89, 0x82, 0, 0, 0, 0, 'p', 'q',
        0x82, 0x82, 0, 0, 0, 0, 'd', 'e',
    };
    assert_int_equal(cli->ops->write(cli, frames, sizeof(frames)), sizeof(frames));
    uint8_t buf[64];
    size_t got = 0;
    while (got < 5) {
        ssize_t r = tu_read_settled(srv, buf + got, sizeof(buf) - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_memory_equal(buf, "abcde", 5);
    assert_int_equal(srv->ops->write(srv, "z", 1), 1);
    ssize_t r = tu_read_settled(cli, buf, sizeof(buf));
    static const uint8_t want[] = { 0x8a, 0x02, 'p', 'q', 0x82, 0x01, 'z' };
    assert_int_equal(r, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    pn_xprt_free(srv);
    pn_xprt_free(cli);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_transport_client_to_server),
        cmocka_unit_test(test_transport_server_to_client),
        cmocka_unit_test(test_ping_between_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
