/* tests/unit/conf/users_test.c: the proxy's users file and allow= networks
 * (conf/users.h): accepted files, each error naming its place without a
 * secret, CIDR lists and the internal-address rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "conf/users.h"

static void
test_parse_ok(void **st)
{
    pn_users_t us;
    char err[PN_ERR_LEN];
    assert_int_equal(pn_users_parse("{\"users\":[{\"name\":\"a\",\"password\":\"p\",\"rate\":5,"
                                    "\"max_conns\":3,\"quota\":100,\"enabled\":false},"
                                    "{\"name\":\"b\",\"key\":\"k\"}]}", "t", &us, err), PN_OK);
    assert_int_equal(us.n, 2);
    assert_string_equal(us.u[0].name, "a");
    assert_int_equal(us.u[0].rate_mbps, 5);
    assert_int_equal(us.u[0].max_conns, 3);
    assert_int_equal(us.u[0].quota, 100);
    assert_int_equal(us.u[0].enabled, 0);
    assert_int_equal(us.u[1].enabled, 1);
    assert_null(us.u[1].password);
    pn_users_clear(&us);
}

static void
test_parse_errors(void **st)
{
    static const struct { const char *json, *want; } cases[] = {
        { "[]", "expected {\"users\": [...]}" },
        { "{\"users\":[{\"name\":\"a\"}]}", "users[0]: user \"a\" has neither password nor key" },
        { "{\"users\":[{\"name\":\"a:b\",\"password\":\"x\"}]}", "users[0].name" },
        { "{\"users\":[{\"name\":\"a\",\"password\":\"sekrit\",\"rate\":-1}]}", "users[0].rate" },
        { "{\"users\":[{\"name\":\"a\",\"password\":\"sekrit\",\"x\":1}]}", "unknown member" },
        { "{\"users\":[{\"name\":\"a\",\"password\":\"p\"},{\"name\":\"a\",\"password\":\"sekrit\"}]}",
          "users[1].name" },
        { "{\"users\":[{\"name\":\"a\",\"key\":\"sekrit\"},{\"name\":\"b\",\"key\":\"sekrit\"}]}",
          "users[1].key" },
        { "{\"users\":[{\"name\":\"a\",\"password\":\"\"}]}", "users[0].password" },
        { "{\"users\":[{\"name\":\"a\",\"password\":\"p\",\"enabled\":1}]}", "users[0].enabled" },
        { "{\"users\":[{\"name\":\"a\",\"password\":sekrit}]}", "not JSON" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pn_users_t us;
        char err[PN_ERR_LEN];
        assert_int_equal(pn_users_parse(cases[i].json, "f.json", &us, err), PN_ERR);
        assert_non_null(strstr(err, cases[i].want));
        assert_null(strstr(err, "sekrit"));
        assert_int_equal(us.n, 0);
    }
}

static void
ip16(const char *s, uint8_t out[16])
{
    uint8_t v4[4];
    if (inet_pton(AF_INET, s, v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, v4, 4);
    } else {
        assert_int_equal(inet_pton(AF_INET6, s, out), 1);
    }
}

static void
test_cidr(void **st)
{
    pn_cidr_t *c;
    size_t n;
    char err[PN_ERR_LEN];
    uint8_t ip[16];
    assert_int_equal(pn_cidr_list_parse("127.0.0.0/8,::1,10.1.0.0/16", &c, &n, err), PN_OK);
    assert_int_equal(n, 3);
    ip16("127.9.9.9", ip);
    assert_true(pn_cidr_match(c, n, ip));
    ip16("10.2.0.1", ip);
    assert_false(pn_cidr_match(c, n, ip));
    ip16("::1", ip);
    assert_true(pn_cidr_match(c, n, ip));
    free(c);
    static const char *const bad[] = { "1.2.3.4/33", "::/129", "x", "1.2.3.4,", "1.2.3.4/", "/8" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pn_cidr_list_parse(bad[i], &c, &n, err), PN_ERR);
    static const char *const internal[] = { "127.0.0.1", "10.0.0.1", "192.168.1.1", "172.16.0.1",
                                            "169.254.1.1", "100.64.0.1", "0.0.0.0", "::1", "::",
                                            "fe80::1", "fd00::1", "224.0.0.1" };
    for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++) {
        ip16(internal[i], ip);
        assert_true(pn_ip_is_internal(ip));
    }
    static const char *const public_[] = { "8.8.8.8", "1.1.1.1", "2001:4860::8888", "172.32.0.1" };
    for (size_t i = 0; i < sizeof(public_) / sizeof(public_[0]); i++) {
        ip16(public_[i], ip);
        assert_false(pn_ip_is_internal(ip));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok), cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_cidr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
