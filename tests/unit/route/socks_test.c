/* tests/unit/route/socks_test.c: SOCKS5 and RFC 1929 messages (route/socks.h)
 * and the HTTP proxy head (route/hproxy.h), table-driven. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "route/hproxy.h"
#include "route/socks.h"

#define B(s) (const uint8_t *)(s), sizeof(s) - 1

static void
test_greeting(void **st)
{
    int up = -1;
    assert_int_equal(socks_parse_greeting(B("\x05\x02\x00\x02"), &up), 4);
    assert_int_equal(up, 1);
    assert_int_equal(socks_parse_greeting(B("\x05\x01\x00"), &up), 3);
    assert_int_equal(up, 0);
    assert_int_equal(socks_parse_greeting(B("\x05\x02\x00"), &up), PN_AGAIN);
    assert_int_equal(socks_parse_greeting(B("\x05"), &up), PN_AGAIN);
    assert_int_equal(socks_parse_greeting(B("\x05\x00"), &up), PN_ERR);
    assert_int_equal(socks_parse_greeting(B("\x04\x01\x00"), &up), PN_ERR);
}

static void
test_auth(void **st)
{
    char u[256], p[256];
    assert_int_equal(socks_parse_auth(B("\x01\x05" "alice\x02" "pw"), u, p), 10);
    assert_string_equal(u, "alice");
    assert_string_equal(p, "pw");
    assert_int_equal(socks_parse_auth(B("\x01\x05" "alice\x02" "p"), u, p), PN_AGAIN);
    assert_int_equal(socks_parse_auth(B("\x01\x00\x02pw"), u, p), PN_ERR);
    assert_int_equal(socks_parse_auth(B("\x01\x01x\x00"), u, p), PN_ERR);
    assert_int_equal(socks_parse_auth(B("\x01\x02" "a\x00\x01p"), u, p), PN_ERR);
    assert_int_equal(socks_parse_auth(B("\x02\x01x\x01y"), u, p), PN_ERR);
}

static void
test_request(void **st)
{
    int cmd;
    socks_dest_t d;
    assert_int_equal(socks_parse_request(B("\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50"), &cmd, &d), 10);
    assert_int_equal(cmd, 1);
    assert_string_equal(d.host, "127.0.0.1");
    assert_int_equal(d.port, 80);
    assert_int_equal(socks_parse_request(B("\x05\x01\x00\x03\x0b""example.org\x01\xbb"), &cmd, &d), 18);
    assert_int_equal(d.atyp, SOCKS_ATYP_NAME);
    assert_string_equal(d.host, "example.org");
    assert_int_equal(d.port, 443);
    assert_int_equal(socks_parse_request(B("\x05\x03\x00\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x00\x35"), &cmd, &d), 22);
    assert_string_equal(d.host, "::1");
    assert_int_equal(socks_parse_request(B("\x05\x01\x01\x01"), &cmd, &d), PN_ERR);      /* RSV */
    assert_int_equal(socks_parse_request(B("\x05\x01\x00\x09\x00"), &cmd, &d), PN_ERR);  /* ATYP */
    assert_int_equal(socks_parse_request(B("\x05\x01\x00\x03\x00\x00\x50"), &cmd, &d), PN_ERR);
    assert_int_equal(socks_parse_request(B("\x05\x01\x00\x03\x03" "a b\x00\x50"), &cmd, &d), PN_ERR);
    assert_int_equal(socks_parse_request(B("\x05\x01\x00\x03\x01""a\x00\x00"), &cmd, &d), PN_ERR);
    assert_int_equal(socks_parse_request(B("\x05\x01\x00\x01\x7f"), &cmd, &d), PN_AGAIN);
    assert_int_equal(socks_parse_udp(B("\x00\x00\x01\x01\x7f\x00\x00\x01\x00\x50"), &d), PN_ERR);
    assert_int_equal(socks_parse_udp(B("\x00\x00\x00\x01\x7f\x00\x00\x01\x00\x50xyz"), &d), 10);
}

static void
test_reply(void **st)
{
    uint8_t out[32];
    socks_dest_t d;
    int cmd;
    assert_int_equal(socks_write_reply(out, 2, NULL), 10);
    assert_memory_equal(out, "\x05\x02\x00\x01\0\0\0\0\0\0", 10);
    assert_int_equal(socks_parse_request(B("\x05\x01\x00\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x00\x35"), &cmd, &d), 22);
    assert_int_equal(socks_write_reply(out, 0, &d.addr), 22);
    assert_int_equal(out[3], SOCKS_ATYP_V6);
}

static void
test_hproxy(void **st)
{
    static uint8_t out[HPROXY_OUT_MAX];
    hproxy_req_t r;
    size_t n;
    /* alice:pw */
    assert_int_equal(hproxy_parse(B("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n"
                                    "Proxy-Authorization: Basic YWxpY2U6cHc=\r\n\r\nrest"), &r, out, &n), PN_OK);
    assert_true(r.connect && r.has_auth && r.port == 443);
    assert_string_equal(r.host, "example.org");
    assert_string_equal(r.user, "alice");
    assert_string_equal(r.pass, "pw");
    assert_int_equal(r.head_len, sizeof("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n"
                                        "Proxy-Authorization: Basic YWxpY2U6cHc=\r\n\r\n") - 1);
    assert_int_equal(hproxy_parse(B("GET http://[::1]:8080?q=1 HTTP/1.0\r\nProxy-Connection: keep-alive\r\n"
                                    "Accept: */*\r\n\r\n"), &r, out, &n), PN_OK);
    assert_false(r.connect);
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 8080);
    const char want[] = "GET /?q=1 HTTP/1.0\r\nAccept: */*\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);
    assert_int_equal(hproxy_parse(B("GET http://a/ HTTP/1.1\r\nX: y\r\n"), &r, out, &n), PN_AGAIN);
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n\r\n", "GET https://a/ HTTP/1.1\r\n\r\n", "GET http://u@a/ HTTP/1.1\r\n\r\n",
        "CONNECT a HTTP/1.1\r\n\r\n", "CONNECT a:70000 HTTP/1.1\r\n\r\n", "GET http://a/ HTTP/1.1\n\r\n\r\n",
        "GET  http://a/ HTTP/1.1\r\n\r\n", "GET http://a/ HTTP/1.2\r\n\r\n",
        "GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "CONNECT a:1 HTTP/1.1\r\nProxy-Authorization: Basic !!\r\n\r\n",
        "CONNECT a:1 HTTP/1.1\r\nProxy-Authorization: Bearer x\r\n\r\n",
        "CONNECT a:1 HTTP/1.1\r\n: v\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hproxy_parse((const uint8_t *)bad[i], strlen(bad[i]), &r, out, &n), PN_ERR);
    char dec[8];
    assert_int_equal(hproxy_b64_decode("YQ==", 4, dec, sizeof(dec)), 1);
    assert_int_equal(hproxy_b64_decode("YWJjZGVmZ2g=", 12, dec, sizeof(dec)), -1);   /* too long */
    assert_int_equal(hproxy_b64_decode("Y=Q=", 4, dec, sizeof(dec)), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting), cmocka_unit_test(test_auth), cmocka_unit_test(test_request),
        cmocka_unit_test(test_reply), cmocka_unit_test(test_hproxy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
