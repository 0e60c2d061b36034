/* tests/unit/master/node_conf_test.c: the node configuration body
 * (master/node_conf.h) and PROXY_USER lines (master/puser.h): every bad body
 * names the member to blame. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "master/node_conf.h"
#include "master/puser.h"

static const struct {
    const char *text;
    const char *field;
} BAD[] = {
    { "", "body" },
    { "[1]", "body" },
    { "{\"version\": 1, \"version\": 2}", "body" },
    { "{}", "version" },
    { "{\"version\": 0}", "version" },
    { "{\"version\": \"1\"}", "version" },
    { "{\"version\": 1, \"extra\": 1}", "extra" },
    { "{\"\": 1}", "body" },
    { "{\"version\": 1, \"updated_at\": 5}", "updated_at" },
    { "{\"version\": 1, \"updated_by\": \"a\\u0001\"}", "updated_by" },
    { "{\"version\": 1, \"entrances\": {}}", "entrances" },
    { "{\"version\": 1, \"entrances\": [5]}", "entrances[0]" },
    { "{\"version\": 1, \"entrances\": [{\"url\": \"proxy://:1\"}]}", "entrances[0].name" },
    { "{\"version\": 1, \"entrances\": [{\"name\": \"a b\", \"url\": \"proxy://:1\"}]}",
      "entrances[0].name" },
    { "{\"version\": 1, \"entrances\": [{\"name\": \"a\", \"url\": \"proxy://:1\", \"x\": 1}]}",
      "entrances[0].x" },
    { "{\"version\": 1, \"entrances\": [{\"name\": \"a\"}]}", "entrances[0].url" },
    { "{\"version\": 1, \"entrances\": [{\"name\": \"a\", \"url\": \"proxy://:99999\"}]}",
      "entrances[0].url" },
    { "{\"version\": 1, \"entrances\": [{\"name\": \"a\", \"url\": \"proxy://:1?users=f\"}]}",
      "entrances[0].url" },
    { "{\"version\": 1, \"entrances\": [{\"name\": \"a\", \"url\": \"server://k@:1/:2\"}]}",
      "entrances[0].url" },
    { "{\"version\": 1, \"entrances\": [{\"name\": \"a\", \"url\": \"proxy://:1\"},"
      " {\"name\": \"a\", \"url\": \"proxy://:2\"}]}", "entrances[1].name" },
    { "{\"version\": 1, \"entrances\": [{\"name\": \"a\", \"url\": \"proxy://:1\"}],"
      " \"tunnels\": [{\"name\": \"a\", \"url\": \"server://k@:3/:2\"}]}", "tunnels[0].name" },
    { "{\"version\": 1, \"tunnels\": [{\"name\": \"t\", \"url\": \"proxy://:1?users=f\"}]}",
      "tunnels[0].url" },
    { "{\"version\": 1, \"users\": {}}", "users" },
    { "{\"version\": 1, \"users\": [{\"name\": \"a\"}]}", "users[0]" },
    { "{\"version\": 1, \"users\": [{\"name\": \"a\", \"password\": \"p\", \"rate\": -1}]}",
      "users[0].rate" },
    { "{\"version\": 1, \"users\": [{\"name\": \"a\", \"password\": \"p\"},"
      " {\"name\": \"a\", \"password\": \"q\"}]}", "users[1].name" },
};

static void
test_bad(void **state)
{
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        pn_node_conf_t c;
        char err[PN_ERR_LEN] = "", f[PN_NODE_FIELD_LEN] = "";
        const char *t = BAD[i].text;
        if (pn_node_conf_parse(t, strlen(t), &c, err, f) != PN_ERR)
            fail_msg("accepted %s", t);
        if (strcmp(f, BAD[i].field) != 0)
            fail_msg("%s: field \"%s\", expected \"%s\" (%s)", t, f, BAD[i].field, err);
        if (strncmp(err, f, strlen(f)) != 0 || err[strlen(f)] != ':')
            fail_msg("%s: error \"%s\" does not start with \"%s:\"", t, err, f);
        if (strstr(err, "\"p\"") != NULL || strstr(err, "\"q\"") != NULL)
            fail_msg("%s: a password in the error: %s", t, err);
        assert_null(c.root);
    }
}

static void
test_ok(void **state)
{
    pn_node_conf_t c;
    char err[PN_ERR_LEN], f[PN_NODE_FIELD_LEN];
    const char *t = "{\"version\": 7, \"updated_at\": \"2026-12-06T10:00:00Z\", \"updated_by\": \"m\","
                    " \"entrances\": [{\"name\": \"socks\", \"url\": \"proxy://:1080?allow=127.0.0.0/8\"}],"
                    " \"tunnels\": [{\"name\": \"relay\", \"url\": \"server://k@:10101/127.0.0.1:9?mode=2&egress=1\"}],"
                    " \"users\": [{\"name\": \"alice\", \"password\": \"pw\", \"enabled\": false}]}";
    assert_int_equal(pn_node_conf_parse(t, strlen(t), &c, err, f), PN_OK);
    assert_int_equal(c.version, 7);
    assert_string_equal(c.updated_by, "m");
    assert_int_equal(c.nitems, 2);
    assert_string_equal(c.items[0].name, "socks");
    assert_int_equal(c.items[0].entrance, 1);
    assert_string_equal(c.items[0].type, "proxy");
    assert_string_equal(c.items[1].type, "server");
    assert_int_equal(c.nusers, 1);
    assert_non_null(strstr(c.users, "\"alice\""));
    pn_node_conf_clear(&c);
    char *u = pn_node_entrance_url("proxy://:1080?allow=x", "/d/u.json");
    assert_string_equal(u, "proxy://:1080?allow=x&users=/d/u.json");
    free(u);
    u = pn_node_entrance_url("proxy://:1080", "/d/u.json");
    assert_string_equal(u, "proxy://:1080?users=/d/u.json");
    free(u);
    t = "{\"version\": 1}";
    assert_int_equal(pn_node_conf_parse(t, strlen(t), &c, err, f), PN_OK);
    assert_int_equal(c.nitems, 0);
    assert_string_equal(c.users, "{\"users\":[]}");
    pn_node_conf_clear(&c);
}

static void
test_puser_line(void **state)
{
    char name[PN_PUSER_NAME_MAX + 1];
    uint64_t v[PN_PU_N];
    const char *l = "2026-12-06 10:00:00.000 EVENT PROXY_USER|{\"name\":\"alice\",\"enabled\":true,"
                    "\"up\":1000,\"down\":1010,\"conns\":1,\"open\":1,\"refused\":2}";
    assert_int_equal(pn_puser_parse(l, strlen(l), name, v), PN_OK);
    assert_string_equal(name, "alice");
    assert_int_equal(v[PN_PU_UP], 1000);
    assert_int_equal(v[PN_PU_DOWN], 1010);
    assert_int_equal(v[PN_PU_REFUSED], 2);
    assert_int_equal(v[PN_PU_OPEN], 1);
    l = "CHECK_POINT|MODE=1";
    assert_int_equal(pn_puser_parse(l, strlen(l), name, v), PN_AGAIN);
    l = "PROXY_USER|{\"name\":\"a\",\"up\":-1,\"down\":0,\"conns\":0,\"open\":0,\"refused\":0}";
    assert_int_equal(pn_puser_parse(l, strlen(l), name, v), PN_ERR);
    l = "PROXY_USER|not json";
    assert_int_equal(pn_puser_parse(l, strlen(l), name, v), PN_ERR);
}

static void
test_puser_fold(void **state)
{
    pn_inst_t in;
    memset(&in, 0, sizeof(in));
    const char *a = "PROXY_USER|{\"name\":\"a\",\"up\":10,\"down\":20,\"conns\":1,\"open\":1,\"refused\":0}";
    const char *b = "PROXY_USER|{\"name\":\"a\",\"up\":3,\"down\":4,\"conns\":1,\"open\":0,\"refused\":1}";
    assert_int_equal(pn_puser_take(&in, a, strlen(a)), 1);
    pn_puser_fold(&in);         /* the child is gone: 10/20 kept */
    assert_int_equal(pn_puser_take(&in, b, strlen(b)), 1);
    json_t *sum = json_object();
    pn_puser_sum(&in, sum);
    json_t *s = json_object_get(sum, "a");
    assert_int_equal(json_integer_value(json_array_get(s, PN_PU_UP)), 13);
    assert_int_equal(json_integer_value(json_array_get(s, PN_PU_DOWN)), 24);
    assert_int_equal(json_integer_value(json_array_get(s, PN_PU_CONNS)), 2);
    assert_int_equal(json_integer_value(json_array_get(s, PN_PU_OPEN)), 0);
    json_decref(sum);
    json_decref(in.pusers);
    json_decref(in.pusers_base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_puser_line),
        cmocka_unit_test(test_puser_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
