/* tests/unit/modes/hub_rcache_test.c: a clustered hub's cache of other hubs'
 * routes (modes/hub_rcache.h): put, get, replace, delete by owner, growth past
 * many entries, stored values and channel messages, well formed or not. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "modes/hub_rcache.h"

static void
test_put_get_del(void **state)
{
    hub_rcache_t c;
    (void)state;
    hub_rcache_init(&c);
    assert_null(hub_rcache_get(&c, "tcp:80"));
    assert_int_equal(hub_rcache_del(&c, "tcp:80", NULL), 0);
    hub_rcache_put(&c, "tcp:80", "hub-a", "alice", 0);
    hub_rcache_put(&c, "http:x.example.com", "hub-b", "bob", 1);
    hub_rentry_t *e = hub_rcache_get(&c, "tcp:80");
    assert_non_null(e);
    assert_string_equal(e->hub, "hub-a");
    assert_string_equal(e->acct, "alice");
    assert_int_equal(e->held, 0);
    /* replaced in place */
    hub_rcache_put(&c, "tcp:80", "hub-c", "carol", 1);
    assert_int_equal(c.n, 2);
    assert_string_equal(hub_rcache_get(&c, "tcp:80")->hub, "hub-c");
    /* deleted only by its owner when one is named */
    assert_int_equal(hub_rcache_del(&c, "tcp:80", "hub-a"), 0);
    assert_int_equal(hub_rcache_del(&c, "tcp:80", "hub-c"), 1);
    assert_null(hub_rcache_get(&c, "tcp:80"));
    assert_int_equal(hub_rcache_del(&c, "http:x.example.com", NULL), 1);
    assert_int_equal(c.n, 0);
    hub_rcache_clear(&c);
}

static void
test_grows(void **state)
{
    hub_rcache_t c;
    char k[32];
    (void)state;
    hub_rcache_init(&c);
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "tcp:%d", i);
        hub_rcache_put(&c, k, "h", "a", i & 1);
    }
    assert_int_equal(c.n, 5000);
    assert_true(c.nb >= 4096);
    for (int i = 0; i < 5000; i += 7) {
        snprintf(k, sizeof(k), "tcp:%d", i);
        assert_non_null(hub_rcache_get(&c, k));
        assert_int_equal(hub_rcache_get(&c, k)->held, i & 1);
    }
    hub_rcache_clear(&c);
    assert_int_equal(c.n, 0);
    assert_null(hub_rcache_get(&c, "tcp:1"));
}

static void
test_values(void **state)
{
    hub_rcache_t c;
    static const char *const bad[] = {
        "", "0", "0|", "0||a", "2|h|a", "0h|a", "1|h", "x|h|a",
        "0|hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh|a",
    };
    (void)state;
    hub_rcache_init(&c);
    assert_int_equal(hub_rcache_put_value(&c, "tcp:1", "1|hub-a|al|ice", 14), PN_OK);
    assert_string_equal(hub_rcache_get(&c, "tcp:1")->hub, "hub-a");
    assert_string_equal(hub_rcache_get(&c, "tcp:1")->acct, "al|ice");
    assert_int_equal(hub_rcache_get(&c, "tcp:1")->held, 1);
    assert_int_equal(hub_rcache_put_value(&c, "tcp:2", "0|h|", 4), PN_OK);
    assert_string_equal(hub_rcache_get(&c, "tcp:2")->acct, "");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hub_rcache_put_value(&c, "tcp:3", bad[i], strlen(bad[i])), PN_ERR);
    assert_null(hub_rcache_get(&c, "tcp:3"));
    hub_rcache_clear(&c);
}

static void
test_messages(void **state)
{
    hub_rmsg_t m;
    char big[400];
    static const char *const bad[] = { "", "+", "+ ", "+ a", "* a b", "+a b", "+  b", "-x a b" };
    (void)state;
    assert_int_equal(hub_rcache_msg_parse("+ tcp:80 0|hub-a|alice", 22, &m), PN_OK);
    assert_int_equal(m.add, 1);
    assert_string_equal(m.route, "tcp:80");
    assert_string_equal(m.rest, "0|hub-a|alice");
    assert_int_equal(hub_rcache_msg_parse("- http:a.b hub-b", 16, &m), PN_OK);
    assert_int_equal(m.add, 0);
    assert_string_equal(m.route, "http:a.b");
    assert_string_equal(m.rest, "hub-b");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hub_rcache_msg_parse(bad[i], strlen(bad[i]), &m), PN_ERR);
    assert_int_equal(hub_rcache_msg_parse("+ a\0b c", 7, &m), PN_ERR);
    memset(big, 'x', sizeof(big));
    big[0] = '+';
    big[1] = ' ';
    big[300] = ' ';
    assert_int_equal(hub_rcache_msg_parse(big, sizeof(big), &m), PN_ERR);  /* route too long */
    big[300] = 'x';
    big[100] = ' ';
    assert_int_equal(hub_rcache_msg_parse(big, sizeof(big), &m), PN_ERR);  /* value too long */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_grows),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
