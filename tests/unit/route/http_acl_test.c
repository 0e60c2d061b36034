/* tests/unit/route/http_acl_test.c: what the hub's http route rules read
 * from a request (route/http_acl.h) and the head rewrite with Host and
 * Authorization rules (route/http.h), as tables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "route/http.h"
#include "route/http_acl.h"

#define H(s) (const uint8_t *)(s), sizeof(s) - 1

static void
test_path_ok_and_match(void **state)
{
    static const struct { const char *p; int ok; } ok[] = {
        { "/", 1 }, { "/api", 1 }, { "/api/v1/", 1 }, { "/a-b_c.d~e!$&'()*+;=:@", 1 },
        { "", 0 }, { "api", 0 }, { "/a b", 0 }, { "/a%20", 0 }, { "/a?b", 0 }, { "/a#b", 0 },
        { "/a,b", 0 }, { "/a\\b", 0 },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_int_equal(pn_http_path_ok(ok[i].p), ok[i].ok);
    char longp[300];
    memset(longp, 'a', sizeof(longp));
    longp[0] = '/';
    longp[257] = '\0';
    assert_int_equal(pn_http_path_ok(longp), 0);
    longp[256] = '\0';
    assert_int_equal(pn_http_path_ok(longp), 1);

    static const struct { const char *prefix, *path; size_t want; } m[] = {
        { "/api", "/api", 4 }, { "/api", "/api/x", 4 }, { "/api", "/apix", 0 },
        { "/api", "/ap", 0 }, { "/api/", "/api/x", 5 }, { "/api/", "/api", 0 },
        { "/", "/anything", 1 }, { "/a/b", "/a/b/c/d", 4 },
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        assert_int_equal(pn_http_path_match(m[i].prefix, m[i].path), m[i].want);
}

static void
test_req_path_and_norm(void **state)
{
    static const struct { const char *head, *want; } t[] = {
        { "GET /a/b?c=d HTTP/1.1\r\n\r\n", "/a/b" },
        { "GET / HTTP/1.1\r\n\r\n", "/" },
        { "GET /x#frag HTTP/1.1\r\n\r\n", "/x" },
        { "GET http://h.example/p/q?x HTTP/1.1\r\n\r\n", "/p/q" },
        { "GET http://h.example HTTP/1.1\r\n\r\n", "/" },
        { "GET http://h.example?x HTTP/1.1\r\n\r\n", "/" },
        { "OPTIONS * HTTP/1.1\r\n\r\n", "*" },
    };
    char out[64];
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(pn_http_req_path((const uint8_t *)t[i].head, strlen(t[i].head), out,
                                          sizeof(out)), 0);
        assert_string_equal(out, t[i].want);
    }
    assert_int_equal(pn_http_req_path(H("GET"), out, sizeof(out)), -1);
    assert_int_equal(pn_http_req_path(H("GET  HTTP/1.1"), out, sizeof(out)), -1);
    assert_int_equal(pn_http_req_path(H("GET /abcdefgh HTTP/1.1\r\n\r\n"), out, 4), 0);
    assert_string_equal(out, "/ab");                /* cut to fit */

    static const struct { const char *in, *want; } n[] = {
        { "/api/v1", "/api/v1" }, { "/%61pi", "/api" }, { "//api//v1", "/api/v1" },
        { "/a%20b", "/a%20b" }, { "/%7Euser", "/~user" }, { "/..foo", "/..foo" },
        { "/a/.b", "/a/.b" },
    };
    for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
        assert_int_equal(pn_http_path_norm(n[i].in, out, sizeof(out)), 0);
        assert_string_equal(out, n[i].want);
    }
    static const char *const bad[] = {
        "/a/../b", "/a/./b", "/a/..", "/a/.", "/%2e%2e/x", "/.%2E/x", "/a%2fb", "/a%5Cb",
        "/a\\b", "/a%zz", "/a%2", "/a%00", "/a\x01",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pn_http_path_norm(bad[i], out, sizeof(out)), -1);
}

static void
test_field_and_basic(void **state)
{
    const char *head = "GET / HTTP/1.1\r\nHost: x\r\nauthorization:  Basic YWxpY2U6cHc6MQ== \r\n"
                       "Authorization: Basic other\r\n\r\n";
    const uint8_t *v;
    size_t vn;
    assert_int_equal(pn_http_field((const uint8_t *)head, strlen(head), "Authorization", &v, &vn), 1);
    assert_int_equal(vn, strlen("Basic YWxpY2U6cHc6MQ=="));
    assert_memory_equal(v, "Basic YWxpY2U6cHc6MQ==", vn);
    assert_int_equal(pn_http_field((const uint8_t *)head, strlen(head), "Cookie", &v, &vn), 0);
    assert_int_equal(pn_http_field(H("GET / HTTP/1.1\r\nHostx: y\r\n\r\n"), "host", &v, &vn), 0);

    char user[PN_HTTP_AUTH_USER_MAX + 1], pass[PN_HTTP_AUTH_PASS_MAX + 1];
    assert_int_equal(pn_http_basic_decode(H("Basic YWxpY2U6cHc6MQ=="), user, pass), 0);
    assert_string_equal(user, "alice");
    assert_string_equal(pass, "pw:1");
    assert_int_equal(pn_http_basic_decode(H("bAsIc YTo="), user, pass), 0);    /* "a:" */
    assert_string_equal(user, "a");
    assert_string_equal(pass, "");
    static const char *const bad[] = {
        "Bearer YTpi", "Basic", "Basic ", "Basic YTpi=", "Basic YTpiYw=", "Basic Og==",
        "Basic YWJj", "Basic YTpi!", "Basic YTo=YTo=", "Basic YQBiOmM=", "Basic YQFiOmM=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pn_http_basic_decode((const uint8_t *)bad[i], strlen(bad[i]), user, pass),
                         -1);
}

static void
test_auth_parse(void **state)
{
    pn_http_auth_t a;
    const char *h64 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char spec[400];
    snprintf(spec, sizeof(spec), "alice:sha256$0011223344556677$%s", h64);
    assert_int_equal(pn_http_auth_parse(spec, &a), 0);
    assert_string_equal(a.user, "alice");
    assert_int_equal(a.salt_len, 8);
    assert_int_equal(a.hash[31], 0xff);
    static const char *const bad[] = {   /* each with one %s: the 32-byte hash in hex */
        ":sha256$0011223344556677$%s", "alice%s", "alice:md5$0011223344556677$%s",
        "alice:sha256$00112233445566$%s", "alice:sha256$0011223344556677%s",
        "a b:sha256$0011223344556677$%s", "alice:sha256$001122334455667$%s",
        "alice:sha256$0011223344556677$00%s", "alice:sha256$0011223344556677$%sx",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(spec, sizeof(spec), bad[i], h64);
        assert_int_equal(pn_http_auth_parse(spec, &a), -1);
    }
}

static void
test_rewrite_host_and_auth(void **state)
{
    const char *in = "GET /p HTTP/1.1\r\nHost: app.example\r\nAuthorization: Basic YTpi\r\n"
                     "X-Forwarded-Proto: http\r\nAccept: */*\r\n\r\n";
    uint8_t out[512];
    pn_http_rewrite_t rw = { .client_ip = "192.0.2.1", .proto = "https", .host = "backend.local",
                             .drop_auth = 1 };
    size_t n = pn_http_head_rewrite_ex((const uint8_t *)in, strlen(in), &rw, out, sizeof(out));
    const char *want = "GET /p HTTP/1.1\r\nHost: backend.local\r\nAccept: */*\r\n"
                       "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: https\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    rw.host = "bad host";
    assert_int_equal(pn_http_head_rewrite_ex((const uint8_t *)in, strlen(in), &rw, out, sizeof(out)), 0);

    char page[1024];
    n = pn_http_page_ex(401, "who?", "WWW-Authenticate: Basic realm=\"x\"", page, sizeof(page));
    assert_true(n > 0);
    assert_non_null(strstr(page, "HTTP/1.1 401 Unauthorized\r\n"));
    assert_non_null(strstr(page, "\r\nWWW-Authenticate: Basic realm=\"x\"\r\n"));
    assert_int_equal(pn_http_page_ex(308, NULL, "Location: /a\r\nX: y", page, sizeof(page)), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_ok_and_match),
        cmocka_unit_test(test_req_path_and_norm),
        cmocka_unit_test(test_field_and_basic),
        cmocka_unit_test(test_auth_parse),
        cmocka_unit_test(test_rewrite_host_and_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
