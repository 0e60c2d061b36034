/* tests/unit/conf/hubconf_test.c: the hub's accounts file, the agent's routes
 * (URL form and routes file) and the account matching rules (conf/hubconf.h).
 * Run under ASan, this also checks that every failure path frees what it
 * allocated. JSON is written with ' for " to stay readable (see J()). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "conf/hubconf.h"

#define TOK1 "a3f9c1e07d5b48a2b9e4f6c8d0a1b2c3"
#define TOK2 "Zx9-QQ.rr_tt~ss!!"
#define GKEY "grp-s3cret-key"

/* ---- helpers ---- */

/* <s> with every ' turned into ", in one of a few rotating static buffers. */
static const char *
J(const char *s)
{
    static char bufs[4][8192];
    static int next;
    char *b = bufs[next++ % 4];
    size_t i;
    for (i = 0; s[i] != '\0' && i < sizeof(bufs[0]) - 1; i++)
        b[i] = s[i] == '\'' ? '"' : s[i];
    b[i] = '\0';
    return b;
}

static void
acc_ok(const char *json, const pn_port_range_t *range, pn_accounts_t *as)
{
    char err[PN_ERR_LEN] = "";
    if (pn_accounts_parse(J(json), "t.json", range, as, err) != PN_OK)
        fail_msg("accounts %s refused: %s", json, err);
}

/* <json> must fail with an error that starts with <prefix>, leave the output
 * empty and show no token. */
static void
acc_fails(const char *json, const pn_port_range_t *range, const char *prefix)
{
    char err[PN_ERR_LEN] = "";
    pn_accounts_t as;
    memset(&as, 0xA5, sizeof(as));
    if (pn_accounts_parse(J(json), "t.json", range, &as, err) != PN_ERR)
        fail_msg("accounts %s accepted", json);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("accounts %s: error \"%s\" does not start with \"%s\"", json, err, prefix);
    if (strstr(err, TOK1) != NULL || strstr(err, TOK2) != NULL || strstr(err, "a3f9c1e0") != NULL)
        fail_msg("accounts %s: error \"%s\" shows a token", json, err);
    assert_null(as.a);
    assert_int_equal(as.n, 0);
    pn_accounts_clear(&as);
}

static void
spec_ok(const char *type, const char *value, pn_conf_route_t *r)
{
    char err[PN_ERR_LEN] = "";
    if (pn_conf_route_parse(type, value, r, err) != PN_OK)
        fail_msg("%s=%s refused: %s", type, value, err);
}

static void
assert_spec_empty(const pn_conf_route_t *r)
{
    assert_null(r->name);
    assert_null(r->local_host);
    assert_null(r->local_port);
    assert_null(r->host);
    assert_null(r->group);
    assert_null(r->group_key);
    assert_null(r->probe_path);
}

static void
spec_fails(const char *type, const char *value, const char *prefix)
{
    char err[PN_ERR_LEN] = "";
    pn_conf_route_t r;
    memset(&r, 0xA5, sizeof(r));
    if (pn_conf_route_parse(type, value, &r, err) != PN_ERR)
        fail_msg("%s=%s accepted", type, value);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("%s=%s: error \"%s\" does not start with \"%s\"", type, value, err, prefix);
    if (strstr(err, GKEY) != NULL || strstr(err, "s3cret") != NULL)
        fail_msg("%s=%s: error \"%s\" shows the group key", type, value, err);
    assert_spec_empty(&r);
}

static void
routes_ok(const char *json, pn_conf_route_t **rs, size_t *n)
{
    char err[PN_ERR_LEN] = "";
    if (pn_routes_parse(J(json), "r.json", rs, n, err) != PN_OK)
        fail_msg("routes %s refused: %s", json, err);
}

static void
routes_fails(const char *json, const char *prefix)
{
    char err[PN_ERR_LEN] = "";
    pn_conf_route_t *rs = (pn_conf_route_t *)&err;
    size_t n = 99;
    if (pn_routes_parse(J(json), "r.json", &rs, &n, err) != PN_ERR)
        fail_msg("routes %s accepted", json);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("routes %s: error \"%s\" does not start with \"%s\"", json, err, prefix);
    if (strstr(err, GKEY) != NULL)
        fail_msg("routes %s: error \"%s\" shows the group key", json, err);
    assert_null(rs);
    assert_int_equal(n, 0);
}

/* Write <len> bytes of <data> to a new temporary file; its path in <path>. */
static void
temp_file(const void *data, size_t len, char path[64])
{
    snprintf(path, 64, "/tmp/hubconf_test_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* ---- accounts ---- */

static void
test_accounts_full(void **state)
{
    pn_accounts_t as;
    pn_port_range_t hub = { 10000, 30000 };
    acc_ok("{'accounts': ["
           " {'name': 'alice', 'token': '" TOK1 "', 'max_routes': 10, 'max_conns': 200,"
           "  'rps': 50, 'mbps': 1000000000, 'ports': ['10000-10999', '20022'],"
           "  'hosts': ['Alice.Hub.Example.COM', '*.alice.hub.example.com']},"
           " {'name': 'B_o.b-2', 'token': '" TOK2 "'}]}",
           &hub, &as);
    assert_int_equal(as.n, 2);
    const pn_account_t *a = pn_accounts_find(&as, "alice");
    assert_ptr_equal(a, &as.a[0]);
    assert_string_equal(a->token, TOK1);
    assert_int_equal(a->max_routes, 10);
    assert_int_equal(a->max_conns, 200);
    assert_int_equal(a->rps, 50);
    assert_int_equal(a->mbps, 1000000000);
    assert_int_equal(a->nports, 2);
    assert_int_equal(a->ports[0].lo, 10000);
    assert_int_equal(a->ports[0].hi, 10999);
    assert_int_equal(a->ports[1].lo, 20022);
    assert_int_equal(a->ports[1].hi, 20022);
    assert_int_equal(a->nhosts, 2);
    assert_string_equal(a->hosts[0], "alice.hub.example.com");
    assert_string_equal(a->hosts[1], "*.alice.hub.example.com");

    assert_true(pn_account_port_ok(a, 10000));
    assert_true(pn_account_port_ok(a, 10999));
    assert_true(pn_account_port_ok(a, 20022));
    assert_false(pn_account_port_ok(a, 9999));
    assert_false(pn_account_port_ok(a, 11000));
    assert_false(pn_account_port_ok(a, 20023));
    assert_true(pn_account_host_ok(a, "alice.hub.example.com"));
    assert_true(pn_account_host_ok(a, "x.alice.hub.example.com"));
    assert_true(pn_account_host_ok(a, "x.y.alice.hub.example.com"));
    assert_false(pn_account_host_ok(a, "bob.hub.example.com"));
    assert_false(pn_account_host_ok(a, "xalice.hub.example.com"));

    const pn_account_t *b = pn_accounts_find(&as, "B_o.b-2");
    assert_ptr_equal(b, &as.a[1]);
    assert_int_equal(b->max_routes, 0);
    assert_int_equal(b->mbps, 0);
    assert_null(b->ports);
    assert_int_equal(b->nports, 0);
    assert_null(b->hosts);
    /* No lists: anything goes (the hub's range still applies elsewhere). */
    assert_true(pn_account_port_ok(b, 1));
    assert_true(pn_account_port_ok(b, 65535));
    assert_true(pn_account_host_ok(b, "anything.example"));
    assert_null(pn_accounts_find(&as, "carol"));
    assert_null(pn_accounts_find(&as, "ALICE"));

    pn_accounts_clear(&as);
    assert_null(as.a);
    assert_int_equal(as.n, 0);
    pn_accounts_clear(&as);
}

static void
test_accounts_range(void **state)
{
    pn_accounts_t as;
    pn_port_range_t hub = { 10000, 20000 }, none = { 0, 0 };
    const char *json = "{'accounts': [{'name': 'a', 'token': '" TOK1 "',"
                       " 'ports': ['10000', '10000-20000', '20000']}]}";
    acc_ok(json, &hub, &as);
    assert_int_equal(as.a[0].nports, 3);
    pn_accounts_clear(&as);
    acc_ok(json, NULL, &as);
    pn_accounts_clear(&as);
    /* 0-0: the hub has no ports=, nothing to check against. */
    acc_ok("{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'ports': ['1-65535']}]}", &none, &as);
    pn_accounts_clear(&as);

    acc_fails("{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'ports': ['9999']}]}", &hub,
              "accounts: t.json: accounts[0].ports[0]: 9999 is outside the hub's range ports=10000-20000");
    acc_fails("{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'ports': ['10000', '19000-20001']}]}",
              &hub, "accounts: t.json: accounts[0].ports[1]: 19000-20001 is outside the hub's range");
}

static void
test_accounts_bad(void **state)
{
    static const struct { const char *json, *prefix; } cases[] = {
        /* the document */
        { "", "accounts: t.json: not JSON" },
        { "{'accounts': [", "accounts: t.json: not JSON" },
        { "{'accounts': [{'name': 'a', 'token': " TOK1 "}]}", "accounts: t.json: not JSON" },
        { "{'accounts': [], 'accounts': []}", "accounts: t.json: not JSON" },
        { "[]", "accounts: t.json: expected a JSON object" },
        { "{}", "accounts: t.json: accounts: missing" },
        { "{'accounts': {}}", "accounts: t.json: accounts: not an array" },
        { "{'accounts': []}", "accounts: t.json: accounts: empty" },
        { "{'accounts': [], 'extra': 1}", "accounts: t.json: extra: unknown member" },
        { "{'accounts': [1]}", "accounts: t.json: accounts[0]: expected an object" },
        /* members */
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'max_rout': 1}]}",
          "accounts: t.json: accounts[0].max_rout: unknown member" },
        { "{'accounts': [{'token': '" TOK1 "'}]}", "accounts: t.json: accounts[0].name: missing" },
        { "{'accounts': [{'name': 7, 'token': '" TOK1 "'}]}",
          "accounts: t.json: accounts[0].name: not a string" },
        { "{'accounts': [{'name': '', 'token': '" TOK1 "'}]}",
          "accounts: t.json: accounts[0].name: \"\" is not 1-64" },
        { "{'accounts': [{'name': 'a b', 'token': '" TOK1 "'}]}", "accounts: t.json: accounts[0].name:" },
        { "{'accounts': [{'name': 'caf\u00e9', 'token': '" TOK1 "'}]}", "accounts: t.json: accounts[0].name:" },
        { "{'accounts': [{'name': '0123456789012345678901234567890123456789012345678901234567890123x',"
          " 'token': '" TOK1 "'}]}", "accounts: t.json: accounts[0].name:" },
        { "{'accounts': [{'name': 'a'}]}", "accounts: t.json: accounts[0].token: missing" },
        { "{'accounts': [{'name': 'a', 'token': 12345678901234567}]}",
          "accounts: t.json: accounts[0].token: not a string" },
        { "{'accounts': [{'name': 'a', 'token': 'a3f9c1e07d5b48a'}]}",
          "accounts: t.json: accounts[0].token: shorter than 16 characters" },
        { "{'accounts': [{'name': 'a', 'token': 'a3f9c1e0 7d5b48a2b9e4'}]}",
          "accounts: t.json: accounts[0].token: holds a character outside printable ASCII" },
        { "{'accounts': [{'name': 'a', 'token': 'a3f9c1e0\\t7d5b48a2b9e4'}]}",
          "accounts: t.json: accounts[0].token: holds a character" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'max_routes': -1}]}",
          "accounts: t.json: accounts[0].max_routes: expected an integer in 0-1000000000" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'max_conns': 1000000001}]}",
          "accounts: t.json: accounts[0].max_conns: expected an integer" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'rps': 1.5}]}",
          "accounts: t.json: accounts[0].rps: expected an integer" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'mbps': '10'}]}",
          "accounts: t.json: accounts[0].mbps: expected an integer" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'mbps': true}]}",
          "accounts: t.json: accounts[0].mbps: expected an integer" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'ports': '10000'}]}",
          "accounts: t.json: accounts[0].ports: expected an array" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'ports': []}]}",
          "accounts: t.json: accounts[0].ports: empty" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'ports': [10000]}]}",
          "accounts: t.json: accounts[0].ports[0]: expected a string" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'ports': ['1', '0']}]}",
          "accounts: t.json: accounts[0].ports[1]: \"0\" is not a port" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'ports': ['20-10']}]}",
          "accounts: t.json: accounts[0].ports[0]: \"20-10\" is not a port" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'hosts': []}]}",
          "accounts: t.json: accounts[0].hosts: empty" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'hosts': [null]}]}",
          "accounts: t.json: accounts[0].hosts[0]: expected a string" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'hosts': ['a.b', '*']}]}",
          "accounts: t.json: accounts[0].hosts[1]: \"*\" is not a host name" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'hosts': ['*.*.a.b']}]}",
          "accounts: t.json: accounts[0].hosts[0]:" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'hosts': ['a..b']}]}",
          "accounts: t.json: accounts[0].hosts[0]:" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'hosts': ['-a.b']}]}",
          "accounts: t.json: accounts[0].hosts[0]:" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'hosts': ['a_b.c']}]}",
          "accounts: t.json: accounts[0].hosts[0]:" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'hosts': ['a.b.']}]}",
          "accounts: t.json: accounts[0].hosts[0]:" },
        /* uniqueness, reported at the second one */
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "'}, {'name': 'a', 'token': '" TOK2 "'}]}",
          "accounts: t.json: accounts[1].name: \"a\" is already the name of accounts[0]" },
        { "{'accounts': [{'name': 'a', 'token': '" TOK1 "'}, {'name': 'b', 'token': '" TOK2 "'},"
          " {'name': 'c', 'token': '" TOK1 "'}]}",
          "accounts: t.json: accounts[2].token: same as the token of accounts[0]" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        acc_fails(cases[i].json, NULL, cases[i].prefix);

    /* 256 characters is the longest token. */
    char json[1024], tok[258];
    pn_accounts_t as;
    memset(tok, 'k', 256);
    tok[256] = '\0';
    snprintf(json, sizeof(json), "{'accounts': [{'name': 'a', 'token': '%s'}]}", tok);
    acc_ok(json, NULL, &as);
    assert_int_equal(strlen(as.a[0].token), 256);
    pn_accounts_clear(&as);
    tok[256] = 'k';
    tok[257] = '\0';
    snprintf(json, sizeof(json), "{'accounts': [{'name': 'a', 'token': '%s'}]}", tok);
    acc_fails(json, NULL, "accounts: t.json: accounts[0].token: longer than 256 characters");
}

static void
test_accounts_load(void **state)
{
    char path[64], err[PN_ERR_LEN] = "", want[128];
    pn_accounts_t as;
    const char *good = J("{'accounts': [{'name': 'a', 'token': '" TOK1 "'}]}");

    temp_file(good, strlen(good), path);
    if (pn_accounts_load(path, NULL, &as, err) != PN_OK)
        fail_msg("load: %s", err);
    assert_int_equal(as.n, 1);
    assert_string_equal(as.a[0].name, "a");
    pn_accounts_clear(&as);
    unlink(path);

    /* The label is the path. */
    const char *bad = J("{'accounts': [{'name': 'a', 'token': 'short'}]}");
    temp_file(bad, strlen(bad), path);
    assert_int_equal(pn_accounts_load(path, NULL, &as, err), PN_ERR);
    snprintf(want, sizeof(want), "accounts: %s: accounts[0].token: shorter than 16", path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    assert_null(as.a);
    unlink(path);

    assert_int_equal(pn_accounts_load("/nonexistent/acc.json", NULL, &as, err), PN_ERR);
    assert_string_equal(err, "accounts: /nonexistent/acc.json: cannot open (No such file or directory)");
    assert_null(as.a);

    assert_int_equal(pn_accounts_load("/tmp", NULL, &as, err), PN_ERR);
    assert_int_equal(strncmp(err, "accounts: /tmp: cannot read", 27), 0);

    /* Over 1 MiB: refused before parsing, even when it is valid JSON. */
    size_t big = 1024 * 1024 + 1;
    char *text = malloc(big);
    memset(text, ' ', big);
    memcpy(text, good, strlen(good));
    temp_file(text, big, path);
    assert_int_equal(pn_accounts_load(path, NULL, &as, err), PN_ERR);
    snprintf(want, sizeof(want), "accounts: %s: larger than 1 MiB", path);
    assert_string_equal(err, want);
    unlink(path);
    /* Exactly 1 MiB is fine. */
    temp_file(text, big - 1, path);
    if (pn_accounts_load(path, NULL, &as, err) != PN_OK)
        fail_msg("1 MiB: %s", err);
    pn_accounts_clear(&as);
    unlink(path);
    free(text);

    static const char nul[] = "{\"accounts\": []}\0 trailing";
    temp_file(nul, sizeof(nul) - 1, path);
    assert_int_equal(pn_accounts_load(path, NULL, &as, err), PN_ERR);
    assert_non_null(strstr(err, "NUL byte"));
    unlink(path);
}

/* ---- matching ---- */

static void
test_host_match(void **state)
{
    static const struct { const char *pattern, *host; int want; } cases[] = {
        { "a.b", "a.b", 1 },
        { "a.b", "x.a.b", 0 },
        { "a.b", "a.bc", 0 },
        { "*.a.b", "x.a.b", 1 },
        { "*.a.b", "x.y.a.b", 1 },
        { "*.a.b", "a.b", 0 },
        { "*.a.b", ".a.b", 0 },
        { "*.a.b", "xa.b", 0 },
        { "*.a.b", "x.a.bc", 0 },
        { "*.a.b", "x.a.b.c", 0 },
        { "*.b", "a.b", 1 },
        { "*.a.b", "*.a.b", 1 },    /* a pattern is no host, but it ends in .a.b */
        { "app", "app", 1 },
        { "", "", 1 },
        { "app", "", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (pn_conf_host_match(cases[i].pattern, cases[i].host) != cases[i].want)
            fail_msg("pn_conf_host_match(\"%s\", \"%s\") != %d", cases[i].pattern, cases[i].host,
                     cases[i].want);
}

static void
test_port_range(void **state)
{
    static const struct { const char *s; int ok; uint16_t lo, hi; } cases[] = {
        { "1", 1, 1, 1 },
        { "65535", 1, 65535, 65535 },
        { "10000-20000", 1, 10000, 20000 },
        { "80-80", 1, 80, 80 },
        { "1-65535", 1, 1, 65535 },
        { "0080", 1, 80, 80 },
        { "0", 0, 0, 0 },
        { "65536", 0, 0, 0 },
        { "0-10", 0, 0, 0 },
        { "10-65536", 0, 0, 0 },
        { "20-10", 0, 0, 0 },
        { "", 0, 0, 0 },
        { "-", 0, 0, 0 },
        { "-5", 0, 0, 0 },
        { "5-", 0, 0, 0 },
        { "1-2-3", 0, 0, 0 },
        { " 1", 0, 0, 0 },
        { "1 ", 0, 0, 0 },
        { "+1", 0, 0, 0 },
        { "1--2", 0, 0, 0 },
        { "abc", 0, 0, 0 },
        { "99999999999999999999999", 0, 0, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pn_port_range_t r = { 7, 7 };
        int rc = pn_port_range_parse(cases[i].s, &r);
        if ((rc == PN_OK) != cases[i].ok)
            fail_msg("pn_port_range_parse(\"%s\") = %d", cases[i].s, rc);
        if (cases[i].ok && (r.lo != cases[i].lo || r.hi != cases[i].hi))
            fail_msg("pn_port_range_parse(\"%s\") = %u-%u", cases[i].s, r.lo, r.hi);
        if (!cases[i].ok)
            assert_true(r.lo == 7 && r.hi == 7);
    }
}

/* ---- route specs, URL form ---- */

static void
test_spec_good(void **state)
{
    pn_conf_route_t r;

    spec_ok("tcp", "127.0.0.1:22", &r);
    assert_int_equal(r.type, PN_RT_TCP);
    assert_string_equal(r.name, "tcp:0");
    assert_string_equal(r.local_host, "127.0.0.1");
    assert_string_equal(r.local_port, "22");
    assert_int_equal(r.port, 0);
    assert_null(r.host);
    assert_null(r.group);
    assert_null(r.group_key);
    assert_int_equal(r.probe, PN_PROBE_NONE);
    assert_null(r.probe_path);
    assert_int_equal(r.probe_ms, 5000);
    pn_conf_route_clear(&r);
    assert_spec_empty(&r);

    spec_ok("tcp", "127.0.0.1:22,port=10022", &r);
    assert_int_equal(r.port, 10022);
    assert_string_equal(r.name, "tcp:10022");
    pn_conf_route_clear(&r);

    spec_ok("udp", ":53,port=65535,group=dns.v4_a-1,group_key=" GKEY ",probe=tcp,"
                   "probe_interval=100ms,name=my dns (v4)", &r);
    assert_int_equal(r.type, PN_RT_UDP);
    assert_string_equal(r.local_host, "");
    assert_string_equal(r.local_port, "53");
    assert_int_equal(r.port, 65535);
    assert_string_equal(r.group, "dns.v4_a-1");
    assert_string_equal(r.group_key, GKEY);
    assert_int_equal(r.probe, PN_PROBE_TCP);
    assert_int_equal(r.probe_ms, 100);
    assert_string_equal(r.name, "my dns (v4)");
    pn_conf_route_clear(&r);

    spec_ok("http", "127.0.0.1:8080,host=App,probe=http:/health?x=1", &r);
    assert_int_equal(r.type, PN_RT_HTTP);
    assert_string_equal(r.host, "app");
    assert_string_equal(r.name, "http:app");
    assert_int_equal(r.probe, PN_PROBE_HTTP);
    assert_string_equal(r.probe_path, "/health?x=1");
    assert_int_equal(r.port, 0);
    pn_conf_route_clear(&r);

    spec_ok("https", "[::1]:8443,host=Secure.Hub.Test,group_key=" GKEY ",probe_interval=1m30s",
            &r);
    assert_int_equal(r.type, PN_RT_HTTPS);
    assert_string_equal(r.local_host, "::1");
    assert_string_equal(r.local_port, "8443");
    assert_string_equal(r.host, "secure.hub.test");
    assert_string_equal(r.name, "https:secure.hub.test");
    assert_string_equal(r.group_key, GKEY);
    assert_int_equal(r.probe_ms, 90000);
    pn_conf_route_clear(&r);

    spec_ok("http", "localhost:80,host=a,probe=http:/", &r);
    assert_string_equal(r.probe_path, "/");
    pn_conf_route_clear(&r);

    spec_ok("tcp", "[fe80::1%eth0]:22", &r);
    assert_string_equal(r.local_host, "fe80::1%eth0");
    pn_conf_route_clear(&r);
    spec_ok("tcp", "my_host-1.internal:22", &r);
    assert_string_equal(r.local_host, "my_host-1.internal");
    pn_conf_route_clear(&r);
}

static void
test_spec_bad(void **state)
{
    static const struct { const char *type, *value, *prefix; } cases[] = {
        { "ftp", "127.0.0.1:21", "ftp: unknown route type" },
        { "TCP", "127.0.0.1:21", "TCP: unknown route type" },
        { "tcp", "", "tcp: missing the local service" },
        { "tcp", ",port=1", "tcp: missing the local service" },
        { "tcp", "127.0.0.1", "tcp: local address \"127.0.0.1\": missing" },
        { "tcp", "127.0.0.1:", "tcp: local address" },
        { "tcp", "127.0.0.1:0", "tcp: local port \"0\" is out of range" },
        { "tcp", "127.0.0.1:65536", "tcp: local port" },
        { "tcp", "::1:22", "tcp: local address" },
        { "udp", "a b:53", "udp: local host \"a b\"" },
        { "udp", "[[1]:53", "udp: local host \"[1\"" },
        { "udp", "a]:53", "udp: local host" },
        { "udp", "a\x01:53", "udp: local address \"a?:53\" is not <host>:<port>" },
        { "tcp", "127.0.0.1:22,", "tcp: option 1 is not <option>=<value>" },
        { "tcp", "127.0.0.1:22,port=1,,name=x", "tcp: option 2 is not" },
        { "tcp", "127.0.0.1:22,group_key=a," GKEY, "tcp: option 2 is not" },
        { "tcp", "127.0.0.1:22,prot=1", "tcp: unknown option \"prot\"" },
        { "tcp", "127.0.0.1:22,=1", "tcp: unknown option \"\"" },
        { "tcp", "127.0.0.1:22,port=1,port=2", "tcp: port: given twice" },
        { "tcp", "127.0.0.1:22,port=65536", "tcp: port: \"65536\" is not a port in 0-65535" },
        { "tcp", "127.0.0.1:22,port=-1", "tcp: port:" },
        { "tcp", "127.0.0.1:22,port=", "tcp: port:" },
        { "tcp", "127.0.0.1:22,port=x", "tcp: port:" },
        { "http", "127.0.0.1:80,host=a,port=80", "http: port: only for tcp and udp routes" },
        { "tcp", "127.0.0.1:22,host=a", "tcp: host: only for http and https routes" },
        { "udp", "127.0.0.1:53,host=a", "udp: host: only for http" },
        { "http", "127.0.0.1:80", "http: host: missing" },
        { "https", "127.0.0.1:443,name=x", "https: host: missing" },
        { "http", "127.0.0.1:80,host=", "http: host: \"\" is not a host name" },
        { "http", "127.0.0.1:80,host=a..b", "http: host:" },
        { "http", "127.0.0.1:80,host=*.a.b", "http: host:" },
        { "http", "127.0.0.1:80,host=a_b", "http: host:" },
        { "http", "127.0.0.1:80,host=a-.b", "http: host:" },
        { "http", "127.0.0.1:80,host=a,group=g", "http: group: only for tcp and udp routes" },
        { "tcp", "127.0.0.1:22,group=", "tcp: group:" },
        { "tcp", "127.0.0.1:22,group=a b", "tcp: group:" },
        { "tcp", "127.0.0.1:22,group=g,group_key=", "tcp: group_key: expected 1-128" },
        { "tcp", "127.0.0.1:22,group=g,group_key=s3cret key", "tcp: group_key:" },
        { "tcp", "127.0.0.1:22,group_key=" GKEY, "tcp: group_key: only with a group" },
        { "tcp", "127.0.0.1:22,probe=", "tcp: probe: \"\" is not tcp or http:<path>" },
        { "tcp", "127.0.0.1:22,probe=udp", "tcp: probe:" },
        { "tcp", "127.0.0.1:22,probe=TCP", "tcp: probe:" },
        { "http", "127.0.0.1:80,host=a,probe=http:", "http: probe: \"http:\" has no path" },
        { "http", "127.0.0.1:80,host=a,probe=http:health", "http: probe:" },
        { "http", "127.0.0.1:80,host=a,probe=http:/a b", "http: probe:" },
        { "http", "127.0.0.1:80,host=a,probe=http:/a\r\nX: y", "http: probe:" },
        { "tcp", "127.0.0.1:22,probe_interval=99ms", "tcp: probe_interval: \"99ms\" is not a duration of at least 100ms" },
        { "tcp", "127.0.0.1:22,probe_interval=0", "tcp: probe_interval:" },
        { "tcp", "127.0.0.1:22,probe_interval=5", "tcp: probe_interval:" },
        { "tcp", "127.0.0.1:22,name=", "tcp: name:" },
        { "tcp", "127.0.0.1:22,name=a\tb", "tcp: name:" },
        { "tcp", "127.0.0.1:22,name=0123456789012345678901234567890123456789012345678901234567890123x",
          "tcp: name:" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        spec_fails(cases[i].type, cases[i].value, cases[i].prefix);

    /* Limits that are just fine. */
    pn_conf_route_t r;
    spec_ok("tcp", "h:1,name=0123456789012345678901234567890123456789012345678901234567890123", &r);
    assert_int_equal(strlen(r.name), 64);
    pn_conf_route_clear(&r);
    char v[512];
    snprintf(v, sizeof(v), "h:1,group=g,group_key=%0128d", 0);
    spec_ok("tcp", v, &r);
    assert_int_equal(strlen(r.group_key), 128);
    pn_conf_route_clear(&r);
    snprintf(v, sizeof(v), "h:1,group=g,group_key=%0129d", 0);
    spec_fails("tcp", v, "tcp: group_key: expected 1-128");
    /* 63-character labels, 253 characters in all. */
    snprintf(v, sizeof(v), "h:1,host=%063d.%063d.%063d.%061d", 0, 0, 0, 0);
    spec_ok("http", v, &r);
    assert_int_equal(strlen(r.host), 253);
    pn_conf_route_clear(&r);
    snprintf(v, sizeof(v), "h:1,host=%063d.%063d.%063d.%062d", 0, 0, 0, 0);
    spec_fails("http", v, "http: host:");
    snprintf(v, sizeof(v), "h:1,host=%064d", 0);
    spec_fails("http", v, "http: host:");
}

/* ---- routes files ---- */

static void
test_routes_good(void **state)
{
    pn_conf_route_t *rs, r;
    size_t n;

    routes_ok("{'routes': ["
              " {'type': 'http', 'local': '127.0.0.1:8080', 'host': 'app', 'probe': 'http:/health'},"
              " {'type': 'tcp', 'local': '127.0.0.1:22', 'port': 10022, 'name': 'ssh'},"
              " {'type': 'udp', 'local': '127.0.0.1:53', 'group': 'dns', 'group_key': '" GKEY "',"
              "  'probe_interval': '2s'}]}",
              &rs, &n);
    assert_int_equal(n, 3);
    assert_int_equal(rs[0].type, PN_RT_HTTP);
    assert_string_equal(rs[0].host, "app");
    assert_string_equal(rs[0].name, "http:app");
    assert_int_equal(rs[0].probe, PN_PROBE_HTTP);
    assert_string_equal(rs[0].probe_path, "/health");
    assert_int_equal(rs[1].type, PN_RT_TCP);
    assert_int_equal(rs[1].port, 10022);
    assert_string_equal(rs[1].name, "ssh");
    assert_int_equal(rs[2].type, PN_RT_UDP);
    assert_string_equal(rs[2].group, "dns");
    assert_string_equal(rs[2].group_key, GKEY);
    assert_int_equal(rs[2].probe_ms, 2000);
    assert_string_equal(rs[2].name, "udp:0");

    /* The file form and the URL form give the same route. */
    spec_ok("http", "127.0.0.1:8080,probe=http:/health,host=APP", &r);
    assert_true(pn_conf_route_equal(&r, &rs[0]));
    assert_false(pn_conf_route_equal(&r, &rs[1]));
    pn_conf_route_clear(&r);
    spec_ok("tcp", "127.0.0.1:22,name=ssh,port=10022", &r);
    assert_true(pn_conf_route_equal(&r, &rs[1]));
    pn_conf_route_clear(&r);
    pn_routes_free(rs, n);

    /* An empty list is fine (every file route withdrawn). */
    routes_ok("{'routes': []}", &rs, &n);
    assert_null(rs);
    assert_int_equal(n, 0);
    pn_routes_free(rs, n);
}

static void
test_routes_bad(void **state)
{
    static const struct { const char *json, *prefix; } cases[] = {
        { "", "config: r.json: not JSON" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'group': 'g', 'group_key': " GKEY "}]}",
          "config: r.json: not JSON" },
        { "[]", "config: r.json: expected a JSON object" },
        { "{}", "config: r.json: routes: missing" },
        { "{'routes': 1}", "config: r.json: routes: not an array" },
        { "{'routes': [], 'x': 1}", "config: r.json: x: unknown member" },
        { "{'routes': ['tcp']}", "config: r.json: routes[0]: expected an object" },
        { "{'routes': [{'local': 'h:1'}]}", "config: r.json: routes[0].type: missing" },
        { "{'routes': [{'type': 1, 'local': 'h:1'}]}", "config: r.json: routes[0].type: not a string" },
        { "{'routes': [{'type': 'ftp', 'local': 'h:1'}]}",
          "config: r.json: routes[0].type: \"ftp\" is not tcp, udp, http or https" },
        { "{'routes': [{'type': 'tcp'}]}", "config: r.json: routes[0].local: missing" },
        { "{'routes': [{'type': 'tcp', 'local': 22}]}", "config: r.json: routes[0].local: not a string" },
        { "{'routes': [{'type': 'tcp', 'local': 'h'}]}", "config: r.json: routes[0].local: local address" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:0'}]}", "config: r.json: routes[0].local: local port" },
        { "{'routes': [{'type': 'tcp', 'local': 'a,b:1'}]}", "config: r.json: routes[0].local: local host" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'prot': 1}]}",
          "config: r.json: routes[0].prot: unknown member" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'port': '22'}]}",
          "config: r.json: routes[0].port: expected an integer in 0-65535" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'port': 22.0}]}",
          "config: r.json: routes[0].port: expected an integer" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'port': 65536}]}",
          "config: r.json: routes[0].port: \"65536\" is not a port in 0-65535" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'port': -1}]}", "config: r.json: routes[0].port:" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1'}, {'type': 'http', 'local': 'h:1'}]}",
          "config: r.json: routes[1].host: missing" },
        { "{'routes': [{'type': 'http', 'local': 'h:1', 'host': 'a', 'port': 80}]}",
          "config: r.json: routes[0].port: only for tcp and udp routes" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'host': 'a'}]}",
          "config: r.json: routes[0].host: only for http and https routes" },
        { "{'routes': [{'type': 'http', 'local': 'h:1', 'host': 7}]}",
          "config: r.json: routes[0].host: expected a string" },
        { "{'routes': [{'type': 'http', 'local': 'h:1', 'host': 'a b'}]}", "config: r.json: routes[0].host:" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'group': 'g', 'group_key': ''}]}",
          "config: r.json: routes[0].group_key: expected 1-128" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'group_key': '" GKEY "'}]}",
          "config: r.json: routes[0].group_key: only with a group" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'probe': 'icmp'}]}", "config: r.json: routes[0].probe:" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'probe_interval': 5000}]}",
          "config: r.json: routes[0].probe_interval: expected a string" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'probe_interval': '50ms'}]}",
          "config: r.json: routes[0].probe_interval:" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'name': 'a,b'}]}", "config: r.json: routes[0].name:" },
        { "{'routes': [{'type': 'tcp', 'local': 'h:1', 'name': 'x', 'name': 'y'}]}", "config: r.json: not JSON" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        routes_fails(cases[i].json, cases[i].prefix);
}

static void
test_routes_load(void **state)
{
    char path[64], err[PN_ERR_LEN] = "", want[128];
    pn_conf_route_t *rs;
    size_t n;
    const char *good = J("{'routes': [{'type': 'tcp', 'local': ':22', 'port': 2222}]}");

    temp_file(good, strlen(good), path);
    if (pn_routes_load(path, &rs, &n, err) != PN_OK)
        fail_msg("load: %s", err);
    assert_int_equal(n, 1);
    assert_int_equal(rs[0].port, 2222);
    pn_routes_free(rs, n);
    unlink(path);

    const char *bad = J("{'routes': [{'type': 'tcp', 'local': ':22', 'port': 99999}]}");
    temp_file(bad, strlen(bad), path);
    assert_int_equal(pn_routes_load(path, &rs, &n, err), PN_ERR);
    snprintf(want, sizeof(want), "config: %s: routes[0].port:", path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    assert_null(rs);
    unlink(path);

    assert_int_equal(pn_routes_load("/nonexistent/r.json", &rs, &n, err), PN_ERR);
    assert_int_equal(strncmp(err, "config: /nonexistent/r.json: cannot open", 40), 0);
    assert_null(rs);
    assert_int_equal(n, 0);
}

/* ---- equal, copy, names ---- */

static void
test_equal_copy(void **state)
{
    pn_conf_route_t a, b, c;
    spec_ok("udp", "127.0.0.1:53,port=5353,group=g,group_key=" GKEY ",probe=tcp,name=n", &a);
    pn_conf_route_copy(&b, &a);
    assert_true(pn_conf_route_equal(&a, &b));
    assert_true(pn_conf_route_equal(&b, &a));
    /* Deep: no string is shared. */
    assert_ptr_not_equal(a.name, b.name);
    assert_ptr_not_equal(a.local_host, b.local_host);
    assert_ptr_not_equal(a.group, b.group);
    assert_ptr_not_equal(a.group_key, b.group_key);
    pn_conf_route_clear(&a);
    assert_string_equal(b.group_key, GKEY);

    /* Each member counts. */
    static const char *const others[] = {
        "127.0.0.1:53,port=5353,group=g,group_key=" GKEY ",probe=tcp,name=m",
        "127.0.0.2:53,port=5353,group=g,group_key=" GKEY ",probe=tcp,name=n",
        "127.0.0.1:54,port=5353,group=g,group_key=" GKEY ",probe=tcp,name=n",
        "127.0.0.1:53,port=5354,group=g,group_key=" GKEY ",probe=tcp,name=n",
        "127.0.0.1:53,port=5353,group=h,group_key=" GKEY ",probe=tcp,name=n",
        "127.0.0.1:53,port=5353,group=g,group_key=other-key,probe=tcp,name=n",
        "127.0.0.1:53,port=5353,group=g,probe=tcp,name=n",
        "127.0.0.1:53,port=5353,group=g,group_key=" GKEY ",name=n",
        "127.0.0.1:53,port=5353,group=g,group_key=" GKEY ",probe=tcp,name=n,probe_interval=6s",
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        spec_ok("udp", others[i], &c);
        if (pn_conf_route_equal(&b, &c))
            fail_msg("equal to %s", others[i]);
        pn_conf_route_clear(&c);
    }
    spec_ok("tcp", "127.0.0.1:53,port=5353,group=g,group_key=" GKEY ",probe=tcp,name=n", &c);
    assert_false(pn_conf_route_equal(&b, &c));
    pn_conf_route_clear(&c);

    /* http probe paths count too. */
    spec_ok("http", "h:1,host=a,probe=http:/x", &a);
    spec_ok("http", "h:1,host=a,probe=http:/y", &c);
    assert_false(pn_conf_route_equal(&a, &c));
    pn_conf_route_clear(&c);
    pn_conf_route_copy(&c, &a);
    assert_true(pn_conf_route_equal(&a, &c));
    assert_string_equal(c.probe_path, "/x");
    pn_conf_route_clear(&c);
    pn_conf_route_clear(&a);
    pn_conf_route_clear(&b);
}

static void
test_type_name(void **state)
{
    assert_string_equal(pn_conf_route_type_name(PN_RT_TCP), "tcp");
    assert_string_equal(pn_conf_route_type_name(PN_RT_UDP), "udp");
    assert_string_equal(pn_conf_route_type_name(PN_RT_HTTP), "http");
    assert_string_equal(pn_conf_route_type_name(PN_RT_HTTPS), "https");
    assert_string_equal(pn_conf_route_type_name((enum pn_conf_route_type)0), "?");
    assert_string_equal(pn_conf_route_type_name((enum pn_conf_route_type)9), "?");
    pn_routes_free(NULL, 0);
}

/* An account's http_auth (docs/hub.md §3): kept as written, a bad one refused unechoed. */
static void
test_accounts_http_auth(void **state)
{
    pn_accounts_t as;
    acc_ok("{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'http_auth': 'u:sha256$0011223344556677"
           "$00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff'}]}", NULL, &as);
    assert_non_null(strstr(as.a[0].http_auth, "u:sha256$0011223344556677$"));
    pn_accounts_clear(&as);
    acc_fails("{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'http_auth': 'u:plain-s3cret'}]}", NULL,
              "accounts: t.json: accounts[0].http_auth: expected");
    acc_fails("{'accounts': [{'name': 'a', 'token': '" TOK1 "', 'http_auth': 5}]}", NULL,
              "accounts: t.json: accounts[0].http_auth: expected");
}

/* The http rules of a route (docs/hub.md §2): accepted, kept, refused. */
static void
test_route_http_rules(void **state)
{
    static const char *auth =
        "u:sha256$0011223344556677$00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char v[512];
    pn_conf_route_t r, c;
    snprintf(v, sizeof(v), "127.0.0.1:80,host=app,path=/api,host_header=In.Local,auth=%s,"
             "allow=10.0.0.0/8;127.0.0.1,redirect=https,proto=h2c", auth);
    spec_ok("http", v, &r);
    assert_string_equal(r.path, "/api");
    assert_string_equal(r.host_header, "in.local");
    assert_string_equal(r.auth, auth);
    assert_string_equal(r.allow, "10.0.0.0/8;127.0.0.1");
    assert_int_equal(r.redirect, 1);
    assert_int_equal(r.h2c, 1);
    assert_string_equal(r.name, "http:app/api");
    pn_conf_route_copy(&c, &r);
    assert_true(pn_conf_route_equal(&c, &r));
    c.redirect = 0;
    assert_false(pn_conf_route_equal(&c, &r));
    c.redirect = 1;
    c.h2c = 0;
    assert_false(pn_conf_route_equal(&c, &r));
    pn_conf_route_clear(&c);
    pn_conf_route_clear(&r);
    spec_ok("http", "127.0.0.1:80,host=app,path=/", &r);
    assert_null(r.path);
    pn_conf_route_clear(&r);
    spec_fails("tcp", "127.0.0.1:80,path=/x", "tcp: path: only for http routes");
    spec_fails("https", "127.0.0.1:80,host=a,auth=x", "https: auth: only for http routes");
    spec_fails("http", "127.0.0.1:80,host=a,path=api", "http: path: \"api\" is not a path");
    spec_fails("http", "127.0.0.1:80,host=a,path=/a%20b", "http: path:");
    spec_fails("http", "127.0.0.1:80,host=a,auth=u:plain", "http: auth: expected");
    spec_fails("http", "127.0.0.1:80,host=a,allow=10.0.0.0/33", "http: allow:");
    spec_fails("http", "127.0.0.1:80,host=a,redirect=yes", "http: redirect:");
    spec_fails("http", "127.0.0.1:80,host=a,proto=h2", "http: proto: \"h2\" is not h2c");
    spec_fails("tcp", "127.0.0.1:80,proto=h2c", "tcp: proto: only for http routes");
    spec_ok("http", "127.0.0.1:80,host=app,proto=http/1.1", &r);
    assert_int_equal(r.h2c, 0);
    pn_conf_route_clear(&r);
    spec_fails("http", "127.0.0.1:80,host=a,host_header=a b", "http: host_header:");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accounts_full),
        cmocka_unit_test(test_route_http_rules),
        cmocka_unit_test(test_accounts_http_auth),
        cmocka_unit_test(test_accounts_range),
        cmocka_unit_test(test_accounts_bad),
        cmocka_unit_test(test_accounts_load),
        cmocka_unit_test(test_host_match),
        cmocka_unit_test(test_port_range),
        cmocka_unit_test(test_spec_good),
        cmocka_unit_test(test_spec_bad),
        cmocka_unit_test(test_routes_good),
        cmocka_unit_test(test_routes_bad),
        cmocka_unit_test(test_routes_load),
        cmocka_unit_test(test_equal_copy),
        cmocka_unit_test(test_type_name),
    };
    return cmocka_run_group_tests_name("conf/hubconf", tests, NULL, NULL);
}
