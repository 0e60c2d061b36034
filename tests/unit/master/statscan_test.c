/* tests/unit/master/statscan_test.c: a node's statistics in the rows form read
 * without a JSON tree (master/statscan.h), and the groups' users files of the
 * node configuration (master/node_conf.h): the scanner answers only what it is
 * sure of, anything else is PN_AGAIN (left to the JSON parser). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "master/node_conf.h"
#include "master/statscan.h"

static void
test_rows(void **state)
{
    (void)state;
    static const char body[] =
        " {\"version\": 7, \"updated_by\": \"m\\\"x\", \"applied_at\": null, \"time\": -1,"
        " \"boot\": \"9f1c\", \"entrances\": [{\"name\": \"s\", \"open\": 0, \"ok\": true}],"
        " \"users\": [[\"alice\", 79, 633, 1, 0, 0], [\"bob\", -1, 2], [\"c:d\",0,0]]}\n";
    pn_statscan_t s;
    assert_int_equal(pn_statscan(body, strlen(body), &s), PN_OK);
    assert_int_equal(s.version, 7);
    assert_string_equal(s.boot, "9f1c");
    assert_int_equal(s.nrows, 3);
    assert_int_equal(s.rows[0].len, 5);
    assert_memory_equal(s.rows[0].name, "alice", 5);
    assert_int_equal(s.rows[0].up, 79);
    assert_int_equal(s.rows[0].down, 633);
    assert_int_equal(s.rows[1].up, -1);
    assert_memory_equal(s.rows[2].name, "c:d", 3);
    pn_statscan_clear(&s);
}

static void
test_again(void **state)
{
    (void)state;
    static const char *const again[] = {
        "",
        "[]",
        "{\"version\": 1, \"boot\": \"b\"}",                                   /* no users */
        "{\"version\": 1, \"boot\": \"b\", \"users\": [{\"name\": \"a\", \"up\": 1}]}",
        "{\"version\": 1, \"boot\": \"b\", \"users\": [[\"a\\u0062\", 1, 2]]}", /* escape */
        "{\"version\": 1, \"boot\": \"b\", \"users\": [[\"a\", 1.5, 2]]}",
        "{\"version\": 1, \"boot\": \"b\", \"users\": [[\"a\", 1, 2e3]]}",
        "{\"version\": 1, \"boot\": \"b\", \"users\": [[\"a\", 1234567890123456789, 2]]}",
        "{\"version\": 1, \"boot\": \"b\", \"users\": [[\"a\", 01, 2]]}",
        "{\"version\": 1, \"boot\": \"b\", \"users\": [[\"a\", 1]]}",
        "{\"version\": 1, \"boot\": \"b\", \"users\": [[\"a\", 1, 2, \"x\"]]}",
        "{\"version\": 1, \"boot\": \"b\", \"users\": [[\"a\", 1, 2]]",       /* cut */
        "{\"version\": 1, \"boot\": \"b\", \"users\": [[\"a\", 1, 2]]} x",
        "{\"version\": 1, \"version\": 2, \"boot\": \"b\", \"users\": []}",
        "{\"version\": \"1\", \"boot\": \"b\", \"users\": []}",
        "{\"version\": 1, \"boot\": 5, \"users\": []}",
        "{\"v\\u0065rsion\": 1, \"version\": 1, \"boot\": \"b\", \"users\": []}",
        "{\"version\": 1, \"boot\": \"b\", \"x\": \"\xc3\xa9\", \"users\": []}",  /* UTF-8 */
        "{\"version\": 1, \"boot\": \"b\", \"x\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], \"users\": []}",
        "{\"version\": 1, \"boot\": \"b\", \"x\": tru, \"users\": []}",
        "{\"version\": 1, \"boot\": \"0123456789012345678901234567890123456789\", \"users\": []}",
    };
    for (size_t i = 0; i < sizeof(again) / sizeof(again[0]); i++) {
        pn_statscan_t s;
        if (pn_statscan(again[i], strlen(again[i]), &s) != PN_AGAIN)
            fail_msg("not PN_AGAIN: %s", again[i]);
        pn_statscan_clear(&s);
    }
}

static void
test_group_files(void **state)
{
    (void)state;
    static const char body[] =
        "{\"version\": 1, \"entrances\": [{\"name\": \"g\", \"url\": \"proxy://:1\","
        " \"groups\": [\"gold\", \"x\"]}],"
        " \"users\": [{\"name\": \"a\", \"password\": \"p\", \"group\": \"gold\"},"
        " {\"name\": \"b\", \"password\": \"q\"}, {\"name\": \"c\", \"password\": \"r\", \"group\": \"x\"}]}";
    char err[PN_ERR_LEN], field[PN_NODE_FIELD_LEN];
    pn_node_conf_t c;
    assert_int_equal(pn_node_conf_parse(body, strlen(body), &c, err, field), PN_OK);
    assert_null(strstr(c.users, "group"));          /* not in the users file */
    char *t = pn_node_conf_users_for(&c, c.items[0].groups);
    assert_string_equal(t, "{\"users\":[{\"name\":\"a\",\"password\":\"p\"},"
                           "{\"name\":\"c\",\"password\":\"r\"}]}");
    free(t);
    pn_node_conf_clear(&c);
    static const char bad[] = "{\"version\": 1, \"users\": [{\"name\": \"a\", \"password\": \"p\","
                              " \"group\": \"a b\"}]}";
    assert_int_equal(pn_node_conf_parse(bad, strlen(bad), &c, err, field), PN_ERR);
    assert_string_equal(field, "users[0].group");
    static const char badg[] = "{\"version\": 1, \"entrances\": [{\"name\": \"g\", \"url\":"
                               " \"proxy://:1\", \"groups\": []}]}";
    assert_int_equal(pn_node_conf_parse(badg, strlen(badg), &c, err, field), PN_ERR);
    assert_string_equal(field, "entrances[0].groups");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_again),
        cmocka_unit_test(test_group_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
