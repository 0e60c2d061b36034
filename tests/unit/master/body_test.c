/* tests/unit/master/body_test.c: API request bodies (master/body.h): every
 * bad body names the field to blame. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "master/body.h"

static void
expect_bad(enum pn_body_kind kind, const char *text, const char *field)
{
    pn_body_t b;
    char err[PN_ERR_LEN] = "", f[PN_FIELD_LEN] = "";
    if (pn_body_parse(kind, text, strlen(text), &b, err, f) != PN_ERR)
        fail_msg("accepted %s", text);
    if (strcmp(f, field) != 0)
        fail_msg("%s: field \"%s\", expected \"%s\" (%s)", text, f, field, err);
    if (strncmp(err, field, strlen(field)) != 0 || err[strlen(field)] != ':')
        fail_msg("%s: error \"%s\" does not start with \"%s:\"", text, err, field);
    assert_null(b.root);
}

static void
test_create_ok(void **state)
{
    pn_body_t b;
    char err[PN_ERR_LEN], f[PN_FIELD_LEN];
    const char *t = "{\"url\": \"server://:10101/:8080\", \"alias\": \"web\", \"restart\": false,"
                    " \"meta\": {\"tags\": {\"env\": \"prod\"}}}";
    assert_int_equal(pn_body_parse(PN_BODY_CREATE, t, strlen(t), &b, err, f), PN_OK);
    assert_string_equal(b.url, "server://:10101/:8080");
    assert_string_equal(b.type, "server");
    assert_string_equal(b.alias, "web");
    assert_int_equal(b.restart, 0);
    assert_string_equal(json_string_value(json_object_get(b.tags, "env")), "prod");
    pn_body_clear(&b);
    t = "{\"url\": \"client://127.0.0.1:1/127.0.0.1:2?mode=1\"}";
    assert_int_equal(pn_body_parse(PN_BODY_CREATE, t, strlen(t), &b, err, f), PN_OK);
    assert_string_equal(b.type, "client");
    assert_int_equal(b.restart, -1);
    assert_null(b.alias);
    pn_body_clear(&b);
}

static void
test_create_bad(void **state)
{
    expect_bad(PN_BODY_CREATE, "", "body");
    expect_bad(PN_BODY_CREATE, "{", "body");
    expect_bad(PN_BODY_CREATE, "[1]", "body");
    expect_bad(PN_BODY_CREATE, "{}", "url");
    expect_bad(PN_BODY_CREATE, "{\"url\": 5}", "url");
    expect_bad(PN_BODY_CREATE, "{\"url\": \"\"}", "url");
    expect_bad(PN_BODY_CREATE, "{\"url\": \"client://:1/:2\", \"url\": \"x\"}", "body");
    expect_bad(PN_BODY_CREATE, "{\"url\": \"client://:1/:2\", \"alias\": 3}", "alias");
    expect_bad(PN_BODY_CREATE, "{\"url\": \"client://:1/:2\", \"alias\": \"a\\nb\"}", "alias");
    expect_bad(PN_BODY_CREATE, "{\"url\": \"client://:1/:2\", \"alias\": \"a\\u0001\"}", "alias");
    expect_bad(PN_BODY_CREATE, "{\"url\": \"client://:1/:2\", \"restart\": \"yes\"}", "restart");
    expect_bad(PN_BODY_CREATE, "{\"url\": \"client://:1/:2\", \"bogus\": 1}", "bogus");
    expect_bad(PN_BODY_CREATE, "{\"url\": \"client://:1/:2\", \"meta\": []}", "meta");
    expect_bad(PN_BODY_CREATE, "{\"url\": \"client://:1/:2\", \"meta\": {\"tags\": {\"a\": 1}}}", "meta");
    expect_bad(PN_BODY_CREATE, "{\"url\": \"client://:1/:2\", \"meta\": {\"x\": {}}}", "meta");
    expect_bad(PN_BODY_CREATE, "{\"url\": \"client://:1/:2\", \"action\": \"stop\"}", "action");
}

static void
test_url_errors_name_the_url_field(void **state)
{
    pn_body_t b;
    char err[PN_ERR_LEN], f[PN_FIELD_LEN];
    static const struct { const char *url, *sub; } cases[] = {
        { "client://:99999/:2", "url: port:" },
        { "client://:1", "url: target:" },
        { "client://:1/:2?tls=7", "url: tls:" },
        { "client://:1/:2?bogus=1", "url: bogus:" },
        { "master://:9090", "url: scheme:" },
        { "client://:1/:2?rate=x", "url: rate:" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char t[256];
        snprintf(t, sizeof(t), "{\"url\": \"%s\"}", cases[i].url);
        assert_int_equal(pn_body_parse(PN_BODY_CREATE, t, strlen(t), &b, err, f), PN_ERR);
        assert_string_equal(f, "url");
        if (strncmp(err, cases[i].sub, strlen(cases[i].sub)) != 0)
            fail_msg("%s: \"%s\" does not start with \"%s\"", cases[i].url, err, cases[i].sub);
    }
}

static void
test_patch(void **state)
{
    pn_body_t b;
    char err[PN_ERR_LEN], f[PN_FIELD_LEN];
    const char *t = "{\"action\": \"restart\", \"alias\": \"\", \"restart\": true}";
    assert_int_equal(pn_body_parse(PN_BODY_PATCH, t, strlen(t), &b, err, f), PN_OK);
    assert_int_equal(b.action, PN_ACTION_RESTART);
    assert_string_equal(b.alias, "");
    assert_int_equal(b.restart, 1);
    pn_body_clear(&b);
    expect_bad(PN_BODY_PATCH, "{}", "body");
    expect_bad(PN_BODY_PATCH, "{\"action\": \"explode\"}", "action");
    expect_bad(PN_BODY_PATCH, "{\"action\": 1}", "action");
    expect_bad(PN_BODY_PATCH, "{\"url\": \"client://:1/:2\"}", "url");
    expect_bad(PN_BODY_PATCH, "{\"restart\": 1}", "restart");
    char big[200];
    snprintf(big, sizeof(big), "{\"alias\": \"%0100d\"}", 0);
    expect_bad(PN_BODY_PATCH, big, "alias");
}

static void
test_put_and_info(void **state)
{
    pn_body_t b;
    char err[PN_ERR_LEN], f[PN_FIELD_LEN];
    const char *t = "{\"url\": \"server://:1/:2\"}";
    assert_int_equal(pn_body_parse(PN_BODY_PUT, t, strlen(t), &b, err, f), PN_OK);
    pn_body_clear(&b);
    expect_bad(PN_BODY_PUT, "{}", "url");
    expect_bad(PN_BODY_PUT, "{\"url\": \"server://:1/:2\", \"alias\": \"x\"}", "alias");
    t = "{\"name\": \"edge-1\"}";
    assert_int_equal(pn_body_parse(PN_BODY_INFO, t, strlen(t), &b, err, f), PN_OK);
    assert_string_equal(b.name, "edge-1");
    pn_body_clear(&b);
    expect_bad(PN_BODY_INFO, "{}", "name");
    expect_bad(PN_BODY_INFO, "{\"name\": \"\"}", "name");
    expect_bad(PN_BODY_INFO, "{\"name\": null}", "name");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_ok),
        cmocka_unit_test(test_create_bad),
        cmocka_unit_test(test_url_errors_name_the_url_field),
        cmocka_unit_test(test_patch),
        cmocka_unit_test(test_put_and_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
