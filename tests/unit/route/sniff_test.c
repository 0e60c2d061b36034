/* tests/unit/route/sniff_test.c: first-bytes protocol recognition and the
 * "block=" option (route/sniff.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "route/sniff.h"

/* ---- helpers ---- */

static const char *
kind_name(enum pn_sniff k)
{
    switch (k) {
    case PN_SNIFF_OTHER: return "OTHER";
    case PN_SNIFF_SOCKS: return "SOCKS";
    case PN_SNIFF_HTTP: return "HTTP";
    case PN_SNIFF_TLS: return "TLS";
    }
    return "?";
}

/* Classify <n> bytes at <p>, copied into a buffer of exactly <n> bytes so an
 * over-read trips the sanitizer, and expect <want>. */
static void
sniff_is(const void *p, size_t n, enum pn_sniff want, const char *what)
{
    uint8_t *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    memcpy(buf, p, n);
    enum pn_sniff got = pn_sniff(buf, n);
    free(buf);
    if (got != want)
        fail_msg("pn_sniff(%s, %zu bytes) = %s, expected %s", what, n, kind_name(got),
                 kind_name(want));
}

#define SNIFF_BYTES(want, ...)                                                                     \
    do {                                                                                           \
        static const uint8_t b_[] = { __VA_ARGS__ };                                               \
        sniff_is(b_, sizeof(b_), (want), #__VA_ARGS__);                                            \
    } while (0)

#define SNIFF_STR(want, s) sniff_is((s), strlen(s), (want), "\"" s "\"")

/* ---- SOCKS ---- */

static void
test_socks5(void **state)
{
    SNIFF_BYTES(PN_SNIFF_SOCKS, 0x05, 0x01, 0x00);
    SNIFF_BYTES(PN_SNIFF_SOCKS, 0x05, 0x02, 0x00, 0x02);
    SNIFF_BYTES(PN_SNIFF_SOCKS, 0x05);
    /* NMETHODS = 0 is no greeting. */
    SNIFF_BYTES(PN_SNIFF_OTHER, 0x05, 0x00);
}

static void
test_socks4(void **state)
{
    SNIFF_BYTES(PN_SNIFF_SOCKS, 0x04, 0x01, 0x00, 0x50, 0x7f, 0x00, 0x00, 0x01, 0x00);
    SNIFF_BYTES(PN_SNIFF_SOCKS, 0x04, 0x02, 0x00, 0x50);
    SNIFF_BYTES(PN_SNIFF_SOCKS, 0x04);
    SNIFF_BYTES(PN_SNIFF_OTHER, 0x04, 0x05);
    SNIFF_BYTES(PN_SNIFF_OTHER, 0x04, 0x00);
}

/* ---- TLS ---- */

static void
test_tls(void **state)
{
    SNIFF_BYTES(PN_SNIFF_TLS, 0x16, 0x03, 0x01, 0x02, 0x00, 0x01);
    SNIFF_BYTES(PN_SNIFF_TLS, 0x16, 0x03, 0x03);
    SNIFF_BYTES(PN_SNIFF_TLS, 0x16);
    SNIFF_BYTES(PN_SNIFF_OTHER, 0x16, 0x01);
    SNIFF_BYTES(PN_SNIFF_OTHER, 0x17, 0x03, 0x03);
}

/* ---- HTTP ---- */

static void
test_http_methods(void **state)
{
    SNIFF_STR(PN_SNIFF_HTTP, "GET /");
    SNIFF_STR(PN_SNIFF_HTTP, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    SNIFF_STR(PN_SNIFF_HTTP, "POST /x");
    SNIFF_STR(PN_SNIFF_HTTP, "PUT ");
    SNIFF_STR(PN_SNIFF_HTTP, "HEAD ");
    SNIFF_STR(PN_SNIFF_HTTP, "DELETE ");
    SNIFF_STR(PN_SNIFF_HTTP, "OPTIONS ");
    SNIFF_STR(PN_SNIFF_HTTP, "CONNECT ");
    SNIFF_STR(PN_SNIFF_HTTP, "CONNECT example.com:443 HTTP/1.1\r\n");
    SNIFF_STR(PN_SNIFF_HTTP, "PATCH ");
    SNIFF_STR(PN_SNIFF_HTTP, "TRACE ");
}

static void
test_http_partial(void **state)
{
    SNIFF_STR(PN_SNIFF_HTTP, "G");
    SNIFF_STR(PN_SNIFF_HTTP, "GE");
    SNIFF_STR(PN_SNIFF_HTTP, "GET");
    SNIFF_STR(PN_SNIFF_HTTP, "POS");
    SNIFF_STR(PN_SNIFF_HTTP, "P");
    SNIFF_STR(PN_SNIFF_HTTP, "OPTIO");
    SNIFF_STR(PN_SNIFF_HTTP, "DELET");
}

static void
test_http2_preface(void **state)
{
    SNIFF_STR(PN_SNIFF_HTTP, "PRI * HTTP/2.0");
    SNIFF_STR(PN_SNIFF_HTTP, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    SNIFF_STR(PN_SNIFF_HTTP, "PRI *");
    SNIFF_STR(PN_SNIFF_OTHER, "PRI * HTTP/1.1");
}

static void
test_not_http(void **state)
{
    SNIFF_STR(PN_SNIFF_OTHER, "GETX");
    SNIFF_STR(PN_SNIFF_OTHER, "get /");
    SNIFF_STR(PN_SNIFF_OTHER, "SSH-2.0-");
    SNIFF_STR(PN_SNIFF_OTHER, "SSH-2.0-OpenSSH_9.6\r\n");
    SNIFF_STR(PN_SNIFF_OTHER, "HELO");
    SNIFF_STR(PN_SNIFF_OTHER, "GET/");
    SNIFF_STR(PN_SNIFF_OTHER, "X");
    SNIFF_BYTES(PN_SNIFF_OTHER, 0x00);
}

static void
test_empty_is_other(void **state)
{
    static const uint8_t b[] = { 'G' };
    assert_int_equal(pn_sniff(b, 0), PN_SNIFF_OTHER);
    assert_int_equal(pn_sniff(b, 1), PN_SNIFF_HTTP);
}

/* ---- pn_sniff_parse_block ---- */

static void
block_ok(const char *s, unsigned want)
{
    unsigned mask = 0xABCDu;
    if (pn_sniff_parse_block(s, &mask) != PN_OK)
        fail_msg("pn_sniff_parse_block(\"%s\") refused it", s);
    if (mask != want)
        fail_msg("pn_sniff_parse_block(\"%s\") = %#x, expected %#x", s, mask, want);
}

static void
block_fails(const char *s)
{
    unsigned mask = 0;
    if (pn_sniff_parse_block(s, &mask) != PN_ERR)
        fail_msg("pn_sniff_parse_block(%s%s%s) accepted it as %#x", s ? "\"" : "",
                 s ? s : "NULL", s ? "\"" : "", mask);
}

static void
test_parse_block(void **state)
{
    /* Bit k stands for the digit k, which is PN_SNIFF_* k. */
    block_ok("1", 1u << 1);
    block_ok("2", 1u << 2);
    block_ok("3", 1u << 3);
    block_ok("13", 1u << 1 | 1u << 3);
    block_ok("321", 1u << 1 | 1u << 2 | 1u << 3);
}

static void
test_parse_block_errors(void **state)
{
    block_fails("");
    block_fails("0");
    block_fails("4");
    block_fails("11");
    block_fails("1a");
    block_fails("a1");
    block_fails("1 2");
    block_fails("-1");
    block_fails(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socks5),
        cmocka_unit_test(test_socks4),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_http_methods),
        cmocka_unit_test(test_http_partial),
        cmocka_unit_test(test_http2_preface),
        cmocka_unit_test(test_not_http),
        cmocka_unit_test(test_empty_is_other),
        cmocka_unit_test(test_parse_block),
        cmocka_unit_test(test_parse_block_errors),
    };
    return cmocka_run_group_tests_name("route/sniff", tests, NULL, NULL);
}
