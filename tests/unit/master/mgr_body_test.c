/* tests/unit/master/mgr_body_test.c: the manager's bodies (master/mgr_body.h):
 * POST/PATCH /nodes and /users; every bad body names the member to blame. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "master/mgr_body.h"

typedef struct {
    int user;                   /* 1 /users, 0 /nodes */
    int create;                 /* 1 POST, 0 PATCH */
    const char *text;
    const char *field;          /* NULL: accepted */
} row_t;

static const row_t ROWS[] = {
    { 0, 1, "{\"address\": \"127.0.0.1\", \"port\": 9, \"token\": \"t\"}", NULL },
    { 0, 1, "{\"address\": \"::1\", \"port\": 9, \"token\": \"t\", \"prefix\": \"/x\", \"name\": \"n\","
            " \"entrances\": [{\"name\": \"e\", \"url\": \"proxy://:1080\"}]}", NULL },
    { 0, 0, "{\"action\": \"sync\"}", NULL },
    { 0, 0, "{\"fingerprint\": \"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\"}", NULL },
    { 0, 0, "{\"fingerprint\": \"abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"}", NULL },
    { 0, 0, "{\"fingerprint\": \"abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567zz\"}", "fingerprint" },
    { 0, 0, "{\"fingerprint\": \"AB::CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:8\"}", "fingerprint" },
    { 0, 0, "{\"tls\": \"yes\"}", "tls" },
    { 0, 0, "{\"tls\": false, \"ca\": \"/x.pem\"}", "tls" },
    { 0, 0, "{\"ca\": \"\"}", "ca" },
    { 0, 0, "{\"fallback\": \"http://u:p@127.0.0.1:1080\"}", NULL },
    { 0, 0, "{\"fallback\": \"http://[::1]:1080\"}", NULL },
    { 0, 0, "{\"fallback\": \"\"}", NULL },
    { 0, 0, "{\"fallback\": \"socks5://127.0.0.1:1080\"}", "fallback" },
    { 0, 0, "{\"fallback\": \"http://proxy.example:1080\"}", "fallback" },
    { 0, 0, "{\"fallback\": \"http://127.0.0.1:0\"}", "fallback" },
    { 0, 0, "{\"fallback\": \"http://127.0.0.1:80\", \"tls\": true}", "fallback" },
    { 0, 1, "{\"port\": 9, \"token\": \"t\"}", "address" },
    { 0, 1, "{\"address\": \"n.example\", \"port\": 9, \"token\": \"t\"}", "address" },
    { 0, 1, "{\"address\": \"127.0.0.1\", \"port\": 70000, \"token\": \"t\"}", "port" },
    { 0, 1, "{\"address\": \"127.0.0.1\", \"port\": 9}", "token" },
    { 0, 1, "{\"address\": \"127.0.0.1\", \"port\": 9, \"token\": \"\"}", "token" },
    { 0, 1, "{\"address\": \"127.0.0.1\", \"port\": 9, \"token\": \"t\", \"prefix\": \"api/\"}", "prefix" },
    { 0, 1, "{\"address\": \"127.0.0.1\", \"port\": 9, \"token\": \"t\", \"tunnels\": [{\"name\": \"x\"}]}",
      "tunnels[0].url" },
    { 0, 1, "{\"address\": \"127.0.0.1\", \"port\": 9, \"token\": \"t\", \"action\": \"sync\"}", "action" },
    { 0, 0, "{\"action\": \"go\"}", "action" },
    { 0, 0, "{}", "body" },
    { 0, 0, "[]", "body" },
    { 0, 0, "{\"surplus\": 1}", "surplus" },
    { 1, 1, "{\"name\": \"alice\", \"password\": \"pw\", \"quota\": 1000, \"rate\": 10, \"max_conns\": 4,"
            " \"expires\": 1900000000, \"enabled\": false}", NULL },
    { 1, 1, "{\"name\": \"k\", \"key\": \"ss-key\"}", NULL },
    { 1, 0, "{\"quota\": 0, \"action\": \"reset\", \"key\": null}", NULL },
    { 1, 1, "{\"password\": \"pw\"}", "name" },
    { 1, 1, "{\"name\": \"a:b\", \"password\": \"pw\"}", "name" },
    { 1, 1, "{\"name\": \"a\"}", "password" },
    { 1, 1, "{\"name\": \"a\", \"password\": \"pw\", \"quota\": -1}", "quota" },
    { 1, 1, "{\"name\": \"a\", \"password\": \"pw\", \"rate\": 2000000}", "rate" },
    { 1, 1, "{\"name\": \"a\", \"password\": \"pw\", \"enabled\": 1}", "enabled" },
    { 1, 0, "{\"name\": \"b\"}", "name" },
    { 1, 0, "{\"action\": \"sync\"}", "action" },
};

static void
test_rows(void **state)
{
    for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
        const row_t *r = &ROWS[i];
        char err[PN_ERR_LEN] = "", f[PN_NODE_FIELD_LEN] = "";
        json_t *root;
        int rc;
        if (r->user) {
            pn_mgr_user_body_t b;
            rc = pn_mgr_user_parse(r->text, strlen(r->text), r->create, &b, err, f);
            root = b.root;
        } else {
            pn_mgr_node_body_t b;
            rc = pn_mgr_node_parse(r->text, strlen(r->text), r->create, &b, err, f);
            root = b.root;
        }
        if (r->field == NULL) {
            if (rc != PN_OK)
                fail_msg("%s: refused: %s", r->text, err);
            pn_mgr_body_clear(&root);
            continue;
        }
        if (rc != PN_ERR)
            fail_msg("accepted %s", r->text);
        if (strcmp(f, r->field) != 0)
            fail_msg("%s: field \"%s\", expected \"%s\" (%s)", r->text, f, r->field, err);
        if (strncmp(err, f, strlen(f)) != 0 || err[strlen(f)] != ':')
            fail_msg("%s: error \"%s\" does not start with \"%s:\"", r->text, err, f);
        assert_null(root);
    }
}

static void
test_values(void **state)
{
    char err[PN_ERR_LEN], f[PN_NODE_FIELD_LEN];
    pn_mgr_user_body_t u;
    const char *t = "{\"name\": \"alice\", \"password\": \"pw\", \"quota\": 1000}";
    assert_int_equal(pn_mgr_user_parse(t, strlen(t), 1, &u, err, f), PN_OK);
    assert_string_equal(u.name, "alice");
    assert_int_equal(u.quota, 1000);
    assert_int_equal(u.rate, -1);
    assert_int_equal(u.enabled, -1);
    pn_mgr_body_clear(&u.root);
    pn_mgr_node_body_t n;
    t = "{\"address\": \"127.0.0.1\", \"port\": 9, \"token\": \"t\"}";
    assert_int_equal(pn_mgr_node_parse(t, strlen(t), 1, &n, err, f), PN_OK);
    assert_int_equal(n.port, 9);
    assert_null(n.prefix);
    assert_int_equal(n.sync, 0);
    pn_mgr_body_clear(&n.root);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
