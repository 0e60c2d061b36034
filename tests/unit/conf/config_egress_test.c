/* tests/unit/conf/config_egress_test.c: egress=1 and allow= on the tunnel ends,
 * and the proxy entrance's via= list (docs/proxy.md §6): accepted forms, each
 * node's tunnel client configuration, errors that name the field and never
 * the key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "conf/config.h"
#include "core/err.h"

#define SECRET "s3cr3t-node-key"

static void
test_egress_params(void **state)
{
    pn_config_t cfg;
    char err[PN_ERR_LEN];
    assert_int_equal(pn_config_parse("server://k@:10101/127.0.0.1:9?mode=2&egress=1&allow=10.0.0.0/8,::1",
                                     &cfg, err), PN_OK);
    assert_int_equal(cfg.egress, 1);
    assert_string_equal(cfg.allow, "10.0.0.0/8,::1");
    pn_config_clear(&cfg);
    assert_int_equal(pn_config_parse("client://k@h:1/127.0.0.1:9?egress=1", &cfg, err), PN_OK);
    assert_int_equal(cfg.egress, 1);
    assert_null(cfg.allow);
    pn_config_clear(&cfg);
    assert_int_equal(pn_config_parse("server://k@:1/h:9", &cfg, err), PN_OK);
    assert_int_equal(cfg.egress, 0);
    pn_config_clear(&cfg);
    assert_int_equal(pn_config_parse("server://k@:1/h:9?egress=2", &cfg, err), PN_ERR);
    assert_non_null(strstr(err, "egress"));
    assert_int_equal(pn_config_parse("server://k@:1/h:9?egress=1&allow=10.0.0.0/99", &cfg, err), PN_ERR);
    assert_true(strncmp(err, "allow: ", 7) == 0);
    /* Not a hub or agent parameter. */
    assert_int_equal(pn_config_parse("agent://t@h:1?tcp=:22&egress=1", &cfg, err), PN_ERR);
    assert_non_null(strstr(err, "egress: unknown parameter"));
}

static void
test_via(void **state)
{
    pn_config_t cfg, node;
    char err[PN_ERR_LEN];
    assert_int_equal(pn_config_parse("proxy://:1080?users=u.json&via=k1@10.0.0.1:10101,"
                                     "[::1]:10102,k3@node.example:7&lbs=2", &cfg, err), PN_OK);
    assert_string_equal(cfg.via, "k1@10.0.0.1:10101,[::1]:10102,k3@node.example:7");
    assert_int_equal(cfg.lbs, 2);
    assert_int_equal(pn_config_via_node(cfg.via, 0, &node, err), PN_OK);
    assert_int_equal(node.role, PN_ROLE_CLIENT);
    assert_string_equal(node.key, "k1");
    assert_string_equal(node.host, "10.0.0.1");
    assert_string_equal(node.port, "10101");
    pn_config_clear(&node);
    assert_int_equal(pn_config_via_node(cfg.via, 1, &node, err), PN_OK);
    assert_null(node.key);          /* the default key of the port, as a client */
    assert_string_equal(node.host, "::1");
    pn_config_clear(&node);
    assert_int_equal(pn_config_via_node(cfg.via, 2, &node, err), PN_OK);
    assert_string_equal(node.host, "node.example");
    pn_config_clear(&node);
    assert_int_equal(pn_config_via_node(cfg.via, 3, &node, err), PN_ERR);
    pn_config_clear(&cfg);
    /* rev: the entrance's end is a tunnel server on that address */
    assert_int_equal(pn_config_parse("proxy://:1080?users=u&via=rev:k9@:10102,k1@h:1", &cfg, err), PN_OK);
    assert_int_equal(pn_config_via_node(cfg.via, 0, &node, err), PN_OK);
    assert_int_equal(node.role, PN_ROLE_SERVER);
    assert_string_equal(node.key, "k9");
    assert_string_equal(node.port, "10102");
    pn_config_clear(&node);
    assert_int_equal(pn_config_via_node(cfg.via, 1, &node, err), PN_OK);
    assert_int_equal(node.role, PN_ROLE_CLIENT);
    pn_config_clear(&node);
    pn_config_clear(&cfg);
    assert_int_equal(pn_config_parse("proxy://:1080?users=u&via=rev:", &cfg, err), PN_ERR);
    /* A pool size per node: min= for a node we dial, max= for a reverse one. */
    assert_int_equal(pn_config_parse("proxy://:1080?users=u&via=k1@h:1?min=8,rev:k2@:2?max=16,"
                                     "k3@h:3%3Fmin=5,k4@h:4", &cfg, err), PN_OK);
    /* min 0: not given, the client's default (64 towards a node: it is no hub) */
    static const struct { int role; uint32_t min, max; } pools[] = {
        { PN_ROLE_CLIENT, 8, 1024 }, { PN_ROLE_SERVER, 0, 16 }, { PN_ROLE_CLIENT, 5, 1024 },
        { PN_ROLE_CLIENT, 0, 1024 },
    };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(pn_config_via_node(cfg.via, i, &node, err), PN_OK);
        assert_int_equal(node.role, pools[i].role);
        assert_int_equal(node.min, pools[i].min);
        assert_int_equal(node.max, pools[i].max);
        pn_config_clear(&node);
    }
    pn_config_clear(&cfg);

    static const char *const bad[] = {
        "proxy://:1080?users=u&via=",
        "proxy://:1080?users=u&via=k@h",
        "proxy://:1080?users=u&via=k@h:1,,k@h:2",
        "proxy://:1080?users=u&via=k@h:1,",
        "proxy://:1080?users=u&via=" SECRET "@h:99999",
        "proxy://:1080?users=u&via=" SECRET "@h:1/x:2",
        "proxy://:1080?users=u&via=" SECRET "@h:1%3Ftls=1",
        "proxy://:1080?users=u&via=" SECRET "@h:1?max=4",       /* max= is a reverse node's */
        "proxy://:1080?users=u&via=rev:" SECRET "@h:1?min=4",
        "proxy://:1080?users=u&via=" SECRET "@h:1?min=",
        "proxy://:1080?users=u&via=" SECRET "@h:1?min=0",
        "proxy://:1080?users=u&via=" SECRET "@h:1?min=70000",
        "proxy://:1080?users=u&via=" SECRET "@h:1?min=4x",
        "proxy://:1080?users=u&via=" SECRET "@h:1?",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(pn_config_parse(bad[i], &cfg, err), PN_ERR);
        assert_true(strncmp(err, "via: ", 5) == 0 || strstr(err, "via") != NULL);
        assert_null(strstr(err, SECRET));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_egress_params),
        cmocka_unit_test(test_via),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
