/* tests/unit/net/scrape_test.c: the request head parser of net/scrape.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "net/scrape.h"

static int
parse(const char *head, enum pn_scrape_method *m, char path[PN_SCRAPE_PATH_MAX])
{
    return pn_scrape_head_parse(head, strlen(head), m, path);
}

static void
test_complete_heads(void **state)
{
    static const struct { const char *head; enum pn_scrape_method m; const char *path; } ok[] = {
        { "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", PN_SCRAPE_GET, "/metrics" },
        { "GET /metrics?x=1 HTTP/1.0\r\n\r\n", PN_SCRAPE_GET, "/metrics" },
        { "HEAD / HTTP/1.1\n\n", PN_SCRAPE_HEAD, "/" },
        { "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", PN_SCRAPE_OTHER, "/metrics" },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        enum pn_scrape_method m;
        char path[PN_SCRAPE_PATH_MAX];
        assert_int_equal(parse(ok[i].head, &m, path), PN_OK);
        assert_int_equal(m, ok[i].m);
        assert_string_equal(path, ok[i].path);
    }
}

static void
test_incomplete_and_bad(void **state)
{
    static const char *const again[] = {
        "", "GET /metr", "GET /metrics HTTP/1.1\r\n", "GET /metrics HTTP/1.1\r\nHost: x\r\n",
    };
    static const char *const bad[] = {
        "get /metrics HTTP/1.1\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n", "GET /metrics\r\n\r\n", "\x16\x03\x01\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1 x\r\n\r\n",
    };
    enum pn_scrape_method m;
    char path[PN_SCRAPE_PATH_MAX];
    for (size_t i = 0; i < sizeof(again) / sizeof(again[0]); i++)
        assert_int_equal(parse(again[i], &m, path), PN_AGAIN);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &m, path), PN_ERR);
}

static void
test_limits(void **state)
{
    enum pn_scrape_method m;
    char path[PN_SCRAPE_PATH_MAX];
    static char buf[PN_SCRAPE_HEAD_MAX + 16];
    /* A path of PN_SCRAPE_PATH_MAX bytes is refused, one less is taken. */
    memset(buf, 0, sizeof(buf));
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', PN_SCRAPE_PATH_MAX - 1);
    strcat(buf, " HTTP/1.1\r\n\r\n");
    assert_int_equal(parse(buf, &m, path), PN_ERR);
    memset(buf, 0, sizeof(buf));
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', PN_SCRAPE_PATH_MAX - 2);
    strcat(buf, " HTTP/1.1\r\n\r\n");
    assert_int_equal(parse(buf, &m, path), PN_OK);
    assert_int_equal(strlen(path), PN_SCRAPE_PATH_MAX - 1);
    /* Headers that never end: PN_AGAIN under the cap, PN_ERR at it. */
    memset(buf, 0, sizeof(buf));
    strcpy(buf, "GET / HTTP/1.1\r\n");
    memset(buf + strlen(buf), 'h', PN_SCRAPE_HEAD_MAX - 1 - strlen(buf));
    assert_int_equal(pn_scrape_head_parse(buf, PN_SCRAPE_HEAD_MAX - 1, &m, path), PN_AGAIN);
    buf[PN_SCRAPE_HEAD_MAX - 1] = 'h';
    assert_int_equal(pn_scrape_head_parse(buf, PN_SCRAPE_HEAD_MAX, &m, path), PN_ERR);
    /* A request line with no end at the cap. */
    memset(buf, 'A', PN_SCRAPE_HEAD_MAX);
    assert_int_equal(pn_scrape_head_parse(buf, PN_SCRAPE_HEAD_MAX, &m, path), PN_ERR);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_heads),
        cmocka_unit_test(test_incomplete_and_bad),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
