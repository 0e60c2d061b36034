/* tests/unit/route/proxy_test.c: the PROXY protocol header, v1 and v2, encoder
 * and decoder (route/proxy.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "net/addr.h"
#include "route/proxy.h"

#define SIG 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A

/* ---- helpers ---- */

static pn_addr_t
addr(const char *ip, uint16_t port)
{
    pn_addr_t a;
    if (pn_addr_parse_ip(ip, &a) != PN_OK)
        fail_msg("bad test address %s", ip);
    pn_addr_set_port(&a, port);
    return a;
}

/* One header to encode: what goes in, the exact bytes expected, and what the
 * decoder should give back (mixed families come back as IPv6). */
struct enc_case {
    const char *name;
    int version, udp;
    const char *src, *dst;
    uint16_t sport, dport;
    const uint8_t *want;
    size_t want_len;
    const char *dec_src, *dec_dst;
};

static const char v1_tcp4[] = "PROXY TCP4 127.0.0.2 127.0.0.1 40000 8080\r\n";
static const char v1_tcp6[] = "PROXY TCP6 2001:db8::2 ::1 40000 443\r\n";
static const char v1_mixed[] = "PROXY TCP6 ::ffff:127.0.0.2 ::1 40000 8080\r\n";
static const char v1_mixed2[] = "PROXY TCP6 2001:db8::2 ::ffff:10.0.0.1 1 65535\r\n";

static const uint8_t v2_tcp4[] = {
    SIG, 0x21, 0x11, 0x00, 0x0C,
    127, 0, 0, 2, 127, 0, 0, 1,
    0x9C, 0x40, 0x1F, 0x90,
};
static const uint8_t v2_udp4[] = {
    SIG, 0x21, 0x12, 0x00, 0x0C,
    192, 0, 2, 7, 198, 51, 100, 9,
    0x13, 0x88, 0x00, 0x35,
};
static const uint8_t v2_tcp6[] = {
    SIG, 0x21, 0x21, 0x00, 0x24,
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    0x9C, 0x40, 0x01, 0xBB,
};
static const uint8_t v2_udp6_mixed[] = {
    SIG, 0x21, 0x22, 0x00, 0x24,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 2,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    0x9C, 0x40, 0x1F, 0x90,
};

#define S(x) (const uint8_t *)(x), sizeof(x) - 1
#define B(x) (x), sizeof(x)

static const struct enc_case cases[] = {
    { "v1 TCP4", 1, 0, "127.0.0.2", "127.0.0.1", 40000, 8080, S(v1_tcp4), "127.0.0.2",
      "127.0.0.1" },
    { "v1 TCP6", 1, 0, "2001:db8::2", "::1", 40000, 443, S(v1_tcp6), "2001:db8::2", "::1" },
    { "v1 v4->v6", 1, 0, "127.0.0.2", "::1", 40000, 8080, S(v1_mixed), "::ffff:127.0.0.2",
      "::1" },
    { "v1 v6->v4", 1, 0, "2001:db8::2", "10.0.0.1", 1, 65535, S(v1_mixed2), "2001:db8::2",
      "::ffff:10.0.0.1" },
    { "v2 TCP4", 2, 0, "127.0.0.2", "127.0.0.1", 40000, 8080, B(v2_tcp4), "127.0.0.2",
      "127.0.0.1" },
    { "v2 UDP4", 2, 1, "192.0.2.7", "198.51.100.9", 5000, 53, B(v2_udp4), "192.0.2.7",
      "198.51.100.9" },
    { "v2 TCP6", 2, 0, "2001:db8::2", "::1", 40000, 443, B(v2_tcp6), "2001:db8::2", "::1" },
    { "v2 UDP v4->v6", 2, 1, "127.0.0.2", "::1", 40000, 8080, B(v2_udp6_mixed),
      "::ffff:127.0.0.2", "::1" },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void
expect_bytes(const char *name, const uint8_t *got, size_t got_len, const uint8_t *want,
             size_t want_len)
{
    if (got_len != want_len)
        fail_msg("%s: encoded %zu bytes, expected %zu", name, got_len, want_len);
    for (size_t i = 0; i < want_len; i++)
        if (got[i] != want[i])
            fail_msg("%s: byte %zu is %#04x, expected %#04x", name, i, got[i], want[i]);
}

/* Decode <n> bytes of <p> from a buffer of exactly <n> bytes (so an over-read
 * trips the sanitizer). */
static int
decode(const uint8_t *p, size_t n, int *version, int *udp, pn_addr_t *src, pn_addr_t *dst,
       size_t *used, const char **why)
{
    uint8_t *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    memcpy(buf, p, n);
    int rc = pn_proxyproto_decode(buf, n, version, udp, src, dst, used, why);
    free(buf);
    return rc;
}

static void
expect_err(const void *p, size_t n, const char *name)
{
    int version = -7, udp = -7;
    pn_addr_t src, dst;
    size_t used = 0;
    const char *why = NULL;
    int rc = decode(p, n, &version, &udp, &src, &dst, &used, &why);
    if (rc != PN_ERR)
        fail_msg("%s: decode gave %d, expected PN_ERR", name, rc);
    if (why == NULL || *why == '\0')
        fail_msg("%s: PN_ERR without a reason", name);
}

#define ERR_STR(s) expect_err((s), sizeof(s) - 1, #s)

/* ---- encode ---- */

static void
test_encode_exact_bytes(void **state)
{
    for (size_t i = 0; i < NCASES; i++) {
        const struct enc_case *c = &cases[i];
        pn_addr_t src = addr(c->src, c->sport), dst = addr(c->dst, c->dport);
        uint8_t out[PN_PROXY_MAX];
        memset(out, 0xEE, sizeof(out));
        size_t n = pn_proxyproto_encode(c->version, c->udp, &src, &dst, out, sizeof(out));
        expect_bytes(c->name, out, n, c->want, c->want_len);
    }
}

static void
test_encode_v1_udp_refused(void **state)
{
    pn_addr_t src = addr("127.0.0.2", 40000), dst = addr("127.0.0.1", 8080);
    uint8_t out[PN_PROXY_MAX];
    assert_int_equal(pn_proxyproto_encode(1, 1, &src, &dst, out, sizeof(out)), 0);
    src = addr("::1", 1);
    dst = addr("::2", 2);
    assert_int_equal(pn_proxyproto_encode(1, 1, &src, &dst, out, sizeof(out)), 0);
}

static void
test_encode_bad_version(void **state)
{
    pn_addr_t src = addr("127.0.0.2", 40000), dst = addr("127.0.0.1", 8080);
    uint8_t out[PN_PROXY_MAX];
    assert_int_equal(pn_proxyproto_encode(0, 0, &src, &dst, out, sizeof(out)), 0);
    assert_int_equal(pn_proxyproto_encode(3, 0, &src, &dst, out, sizeof(out)), 0);
}

static void
test_encode_cap_too_small(void **state)
{
    for (size_t i = 0; i < NCASES; i++) {
        const struct enc_case *c = &cases[i];
        pn_addr_t src = addr(c->src, c->sport), dst = addr(c->dst, c->dport);
        /* Exactly <cap> bytes, so a write past it trips the sanitizer. */
        for (size_t cap = 1; cap < c->want_len; cap++) {
            uint8_t *out = malloc(cap);
            assert_non_null(out);
            size_t n = pn_proxyproto_encode(c->version, c->udp, &src, &dst, out, cap);
            free(out);
            if (n != 0)
                fail_msg("%s: cap %zu of %zu gave %zu, expected 0", c->name, cap, c->want_len,
                         n);
        }
    }
}

static void
test_encode_exact_cap(void **state)
{
    /* A buffer exactly as long as the header is not "short". */
    for (size_t i = 0; i < NCASES; i++) {
        const struct enc_case *c = &cases[i];
        pn_addr_t src = addr(c->src, c->sport), dst = addr(c->dst, c->dport);
        uint8_t *out = malloc(c->want_len);
        assert_non_null(out);
        size_t n = pn_proxyproto_encode(c->version, c->udp, &src, &dst, out, c->want_len);
        if (n != c->want_len) {
            free(out);
            fail_msg("%s: cap %zu (the exact length) gave %zu", c->name, c->want_len, n);
        }
        expect_bytes(c->name, out, n, c->want, c->want_len);
        free(out);
    }
}

/* ---- decode: round trips ---- */

static void
test_decode_round_trip(void **state)
{
    for (size_t i = 0; i < NCASES; i++) {
        const struct enc_case *c = &cases[i];
        pn_addr_t src = addr(c->src, c->sport), dst = addr(c->dst, c->dport);
        uint8_t out[PN_PROXY_MAX + 8];
        size_t n = pn_proxyproto_encode(c->version, c->udp, &src, &dst, out, PN_PROXY_MAX);
        assert_int_equal(n, c->want_len);
        /* The user's bytes follow the header; the decoder stops before them. */
        memcpy(out + n, "hello", 5);

        for (size_t extra = 0; extra <= 5; extra += 5) {
            int version = -1, udp = -1;
            pn_addr_t ds, dd;
            size_t used = 0;
            const char *why = NULL;
            int rc = decode(out, n + extra, &version, &udp, &ds, &dd, &used, &why);
            if (rc != PN_OK)
                fail_msg("%s: decode gave %d (%s)", c->name, rc, why ? why : "");
            assert_int_equal(version, c->version);
            assert_int_equal(udp, c->udp);
            assert_int_equal(used, n);
            pn_addr_t ws = addr(c->dec_src, c->sport), wd = addr(c->dec_dst, c->dport);
            if (!pn_addr_equal(&ds, &ws) || !pn_addr_equal(&dd, &wd))
                fail_msg("%s: decoded addresses differ from %s/%s", c->name, c->dec_src,
                         c->dec_dst);
            assert_int_equal(ds.len, ws.len);
            assert_int_equal(dd.len, wd.len);
        }
    }
}

static void
test_decode_every_prefix_again(void **state)
{
    static const char unknown[] = "PROXY UNKNOWN\r\n";
    for (size_t i = 0; i <= NCASES; i++) {
        const uint8_t *p = i < NCASES ? cases[i].want : (const uint8_t *)unknown;
        size_t len = i < NCASES ? cases[i].want_len : sizeof(unknown) - 1;
        const char *name = i < NCASES ? cases[i].name : "v1 UNKNOWN";
        for (size_t n = 0; n < len; n++) {
            int version, udp;
            pn_addr_t src, dst;
            size_t used = 12345;
            const char *why = NULL;
            int rc = decode(p, n, &version, &udp, &src, &dst, &used, &why);
            if (rc != PN_AGAIN)
                fail_msg("%s: %zu of %zu bytes gave %d (%s), expected PN_AGAIN", name, n, len,
                         rc, why ? why : "");
        }
    }
}

/* ---- decode: v1 ---- */

static void
test_decode_v1_unknown(void **state)
{
    static const char *const inputs[] = {
        "PROXY UNKNOWN\r\n",
        "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
    };
    for (size_t i = 0; i < 2; i++) {
        int version = -1, udp = -1;
        pn_addr_t src, dst;
        memset(&src, 0x5A, sizeof(src));
        memset(&dst, 0x5A, sizeof(dst));
        size_t used = 0;
        size_t n = strlen(inputs[i]);
        assert_int_equal(decode((const uint8_t *)inputs[i], n, &version, &udp, &src, &dst, &used,
                                NULL),
                         PN_OK);
        assert_int_equal(version, 1);
        assert_int_equal(udp, 0);
        assert_int_equal(used, n);
        assert_int_equal(src.ss.ss_family, AF_UNSPEC);
        assert_int_equal(dst.ss.ss_family, AF_UNSPEC);
    }
}

static void
test_decode_v1_port_bounds(void **state)
{
    static const char in[] = "PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n";
    int version, udp;
    pn_addr_t src, dst;
    size_t used = 0;
    assert_int_equal(decode((const uint8_t *)in, sizeof(in) - 1, &version, &udp, &src, &dst,
                            &used, NULL),
                     PN_OK);
    assert_int_equal(pn_addr_port(&src), 0);
    assert_int_equal(pn_addr_port(&dst), 65535);
    assert_int_equal(used, sizeof(in) - 1);
}

static void
test_decode_v1_malformed(void **state)
{
    ERR_STR("PROXY TCP5 1.2.3.4 5.6.7.8 80 80\r\n");
    ERR_STR("PROXY tcp4 1.2.3.4 5.6.7.8 80 80\r\n");
    ERR_STR("PROXY TCP4 1.2.3 5.6.7.8 80 80\r\n");
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.256 80 80\r\n");
    ERR_STR("PROXY TCP4 1.2.3.4 ::1 80 80\r\n");
    ERR_STR("PROXY TCP6 1.2.3.4 ::1 80 80\r\n");
    ERR_STR("PROXY TCP6 ::1 ::g 80 80\r\n");
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n");
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n");
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 99999999999999999999 80\r\n");
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 080 80\r\n");
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 80 080\r\n");
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 8x 80\r\n");
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n");
    ERR_STR("PROXY TCP4\r\n");
    ERR_STR("PROXY \r\n");
    /* CR without LF */
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 80 80\rX");
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 80 80\r\r\n");
}

static void
test_decode_v1_extra_field(void **state)
{
    /* Exactly six fields; a seventh is not silently dropped. */
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 80 80 90\r\n");
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 80 80 90 100\r\n");
}

static void
test_decode_v1_signed_port(void **state)
{
    /* A port is decimal digits; strtol's sign is not part of the format. */
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 +80 80\r\n");
    ERR_STR("PROXY TCP4 1.2.3.4 5.6.7.8 80 -0\r\n");
}

static void
test_decode_v1_no_crlf(void **state)
{
    /* A v1 header is at most 107 bytes with its CRLF: with 108 and no CR it
     * never will be one. */
    uint8_t buf[200];
    memcpy(buf, "PROXY TCP4 ", 11);
    memset(buf + 11, '1', sizeof(buf) - 11);
    expect_err(buf, PN_PROXY_MAX, "108 bytes without CR");
    expect_err(buf, sizeof(buf), "200 bytes without CR");
    /* With a bare LF too. */
    buf[60] = '\n';
    expect_err(buf, sizeof(buf), "200 bytes with LF but no CR");
}

/* ---- decode: v2 ---- */

static void
test_decode_v2_local(void **state)
{
    static const uint8_t local[] = { SIG, 0x20, 0x00, 0x00, 0x00 };
    /* LOCAL with an address block: the block is skipped, not used. */
    static const uint8_t local_addr[] = { SIG, 0x20, 0x11, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8,
                                          0, 80, 0, 81 };
    const struct { const uint8_t *p; size_t n; } in[] = { { B(local) }, { B(local_addr) } };
    for (size_t i = 0; i < 2; i++) {
        int version = -1, udp = -1;
        pn_addr_t src, dst;
        memset(&src, 0x5A, sizeof(src));
        memset(&dst, 0x5A, sizeof(dst));
        size_t used = 0;
        assert_int_equal(decode(in[i].p, in[i].n, &version, &udp, &src, &dst, &used, NULL),
                         PN_OK);
        assert_int_equal(version, 2);
        assert_int_equal(udp, 0);
        assert_int_equal(used, in[i].n);
        assert_int_equal(src.ss.ss_family, AF_UNSPEC);
        assert_int_equal(dst.ss.ss_family, AF_UNSPEC);
    }
}

static void
test_decode_v2_malformed(void **state)
{
#define V2(name, b12, b13, ...)                                                                    \
    do {                                                                                           \
        static const uint8_t m_[] = { SIG, b12, b13, __VA_ARGS__ };                                \
        expect_err(m_, sizeof(m_), name);                                                          \
    } while (0)
    /* version 1 and 3 */
    V2("version 1", 0x11, 0x11, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 0, 81);
    V2("version 3", 0x31, 0x11, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 0, 81);
    V2("version 0", 0x01, 0x11, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 0, 81);
    /* command 2 and 15 */
    V2("command 2", 0x22, 0x11, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 0, 81);
    V2("command 15", 0x2F, 0x11, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 0, 81);
    /* transport 3 */
    V2("transport 3", 0x21, 0x13, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 0, 81);
    V2("transport 15 v6", 0x21, 0x2F, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 0, 81);
    /* address block shorter than the family needs */
    V2("short v4 block", 0x21, 0x11, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8);
    V2("empty v4 block", 0x21, 0x11, 0x00, 0x00);
    V2("short v6 block", 0x21, 0x21, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 0, 81);
    /* unknown family */
    V2("family 4", 0x21, 0x41, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 0, 81);
#undef V2
    /* a broken signature */
    static const uint8_t badsig[] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49,
                                      0x54, 0x0B, 0x21, 0x11, 0x00, 0x00 };
    expect_err(badsig, sizeof(badsig), "bad signature");
    expect_err(badsig, 12, "bad signature, 12 bytes");
    static const uint8_t badsig2[] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x01 };
    expect_err(badsig2, sizeof(badsig2), "bad signature prefix");
}

static void
test_decode_v2_tlv_skipped(void **state)
{
    /* An address block longer than the addresses (TLVs follow): all consumed. */
    static const uint8_t in[] = { SIG, 0x21, 0x11, 0x00, 0x10, 10, 0, 0, 1, 10, 0, 0, 2,
                                  0x00, 0x50, 0x01, 0xBB, 0x04, 0x00, 0x01, 0x00, 'x' };
    int version, udp;
    pn_addr_t src, dst;
    size_t used = 0;
    assert_int_equal(decode(in, sizeof(in), &version, &udp, &src, &dst, &used, NULL), PN_OK);
    assert_int_equal(used, 32);
    pn_addr_t ws = addr("10.0.0.1", 80), wd = addr("10.0.0.2", 443);
    assert_true(pn_addr_equal(&src, &ws));
    assert_true(pn_addr_equal(&dst, &wd));
}

/* ---- decode: not PROXY at all ---- */

static void
test_decode_not_proxy(void **state)
{
    ERR_STR("GET /");
    ERR_STR("GET / HTTP/1.1\r\n\r\n");
    ERR_STR("POST /");
    ERR_STR("PROXX TCP4 1.2.3.4 5.6.7.8 80 80\r\n");
    ERR_STR("proxy TCP4 1.2.3.4 5.6.7.8 80 80\r\n");
    ERR_STR("PX");
    ERR_STR("PROX\n");
    expect_err("\x16\x03\x01", 3, "TLS");
    expect_err("\x00", 1, "NUL");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_exact_bytes),
        cmocka_unit_test(test_encode_v1_udp_refused),
        cmocka_unit_test(test_encode_bad_version),
        cmocka_unit_test(test_encode_cap_too_small),
        cmocka_unit_test(test_encode_exact_cap),
        cmocka_unit_test(test_decode_round_trip),
        cmocka_unit_test(test_decode_every_prefix_again),
        cmocka_unit_test(test_decode_v1_unknown),
        cmocka_unit_test(test_decode_v1_port_bounds),
        cmocka_unit_test(test_decode_v1_malformed),
        cmocka_unit_test(test_decode_v1_extra_field),
        cmocka_unit_test(test_decode_v1_signed_port),
        cmocka_unit_test(test_decode_v1_no_crlf),
        cmocka_unit_test(test_decode_v2_local),
        cmocka_unit_test(test_decode_v2_malformed),
        cmocka_unit_test(test_decode_v2_tlv_skipped),
        cmocka_unit_test(test_decode_not_proxy),
    };
    return cmocka_run_group_tests_name("route/proxy", tests, NULL, NULL);
}
