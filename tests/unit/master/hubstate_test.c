/* tests/unit/master/hubstate_test.c: reading a hub's HUB_STATE line back
 * (master/hubstate.h): recognition with and without the log prefix, the
 * normalised shape, every refusal naming its member, the 1 MiB bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "master/hubstate.h"

#define DOC_STATE                                                                          \
    "{\"clients\":[{\"id\":\"c1\",\"account\":\"alice\",\"peer\":\"127.0.0.1:51000\","     \
    "\"since\":1763800000,\"routes\":3,\"pool\":12,\"ping_ms\":1}],"                       \
    "\"routes\":[{\"type\":\"http\",\"key\":\"app.hub.test\",\"account\":\"alice\","       \
    "\"group\":\"\",\"members\":2,\"online\":1,\"conns\":4}],"                             \
    "\"accounts\":[{\"name\":\"alice\",\"clients\":1,\"routes\":3,\"conns\":4,"            \
    "\"requests\":1200,\"rx\":123456,\"tx\":654321,"                                       \
    "\"refused\":{\"rate\":3,\"conns\":0,\"routes\":1}}]}"

static json_t *
parse(const char *line, char *err)
{
    return pn_hubstate_parse(line, strlen(line), err);
}

static json_int_t
geti(const json_t *o, const char *list, size_t i, const char *member)
{
    json_t *v = json_object_get(json_array_get(json_object_get(o, list), i), member);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *
gets(const json_t *o, const char *list, size_t i, const char *member)
{
    json_t *v = json_object_get(json_array_get(json_object_get(o, list), i), member);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* The parse of <line> fails with a message containing <want>. */
static void
refused(const char *line, const char *want)
{
    char err[PN_ERR_LEN] = "";
    json_t *o = parse(line, err);
    if (o != NULL) {
        json_decref(o);
        fail_msg("accepted: %s", line);
    }
    if (strstr(err, want) == NULL)
        fail_msg("for %s\nexpected a message with \"%s\", got \"%s\"", line, want, err);
}

static void
test_match(void **state)
{
    size_t off = 0;
    const char *bare = "HUB_STATE|{}";
    const char *pref = "2026-01-01 10:00:00.000 EVENT HUB_STATE|{}";
    assert_int_equal(pn_hubstate_match(bare, strlen(bare), &off), 1);
    assert_int_equal(off, 10);
    assert_int_equal(pn_hubstate_match(pref, strlen(pref), &off), 1);
    assert_int_equal(off, 40);
    assert_int_equal(pn_hubstate_match(pref, strlen(pref), NULL), 1);
    /* A partial line is enough once the tag arrived. */
    assert_int_equal(pn_hubstate_match(pref, 40, NULL), 1);
    assert_int_equal(pn_hubstate_match(pref, 39, NULL), 0);
    /* Ordinary lines, and the tag where no prefix puts it. */
    static const char *const no[] = {
        "",
        "HUB_STATE",
        "2026-01-01 10:00:00.000 EVENT CHECK_POINT|MODE=1|PING=0ms",
        "2026-01-01 10:00:00.000 INFO agent said HUB_STATE, not a state",
        "xHUB_STATE|{}",                                   /* not after a space */
        "a|b HUB_STATE|{}",                                /* a '|' in the prefix */
        "{\"x\": 1} HUB_STATE|{}",                         /* JSON before the tag */
        "\tHUB_STATE|{}",                                  /* a control character */
        "hub_state|{}",
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (pn_hubstate_match(no[i], strlen(no[i]), NULL))
            fail_msg("matched: %s", no[i]);
    /* The prefix is bounded. */
    char line[200];
    memset(line, 'x', sizeof(line));
    line[PN_HUBSTATE_PREFIX_MAX - 1] = ' ';
    memcpy(line + PN_HUBSTATE_PREFIX_MAX, "HUB_STATE|{}", 12);
    assert_int_equal(pn_hubstate_match(line, PN_HUBSTATE_PREFIX_MAX + 12, NULL), 1);
    memset(line, 'x', sizeof(line));
    line[PN_HUBSTATE_PREFIX_MAX] = ' ';
    memcpy(line + PN_HUBSTATE_PREFIX_MAX + 1, "HUB_STATE|{}", 12);
    assert_int_equal(pn_hubstate_match(line, PN_HUBSTATE_PREFIX_MAX + 13, NULL), 0);
}

static void
test_documented_example(void **state)
{
    char err[PN_ERR_LEN];
    json_t *o = parse("2026-01-01 10:00:00.000 EVENT HUB_STATE|" DOC_STATE "\r\n", err);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 4);
    assert_false(json_is_true(json_object_get(o, "truncated")));
    assert_true(json_is_false(json_object_get(o, "truncated")));
    assert_int_equal(json_array_size(json_object_get(o, "clients")), 1);
    assert_string_equal(gets(o, "clients", 0, "id"), "c1");
    assert_string_equal(gets(o, "clients", 0, "account"), "alice");
    assert_string_equal(gets(o, "clients", 0, "peer"), "127.0.0.1:51000");
    assert_int_equal(geti(o, "clients", 0, "since"), 1763800000);
    assert_int_equal(geti(o, "clients", 0, "routes"), 3);
    assert_int_equal(geti(o, "clients", 0, "pool"), 12);
    assert_int_equal(geti(o, "clients", 0, "ping_ms"), 1);
    assert_string_equal(gets(o, "routes", 0, "type"), "http");
    assert_string_equal(gets(o, "routes", 0, "key"), "app.hub.test");
    assert_string_equal(gets(o, "routes", 0, "group"), "");
    assert_int_equal(geti(o, "routes", 0, "members"), 2);
    assert_int_equal(geti(o, "routes", 0, "online"), 1);
    assert_int_equal(geti(o, "routes", 0, "conns"), 4);
    assert_string_equal(gets(o, "accounts", 0, "name"), "alice");
    assert_int_equal(geti(o, "accounts", 0, "requests"), 1200);
    assert_int_equal(geti(o, "accounts", 0, "rx"), 123456);
    assert_int_equal(geti(o, "accounts", 0, "tx"), 654321);
    json_t *ref = json_object_get(json_array_get(json_object_get(o, "accounts"), 0), "refused");
    assert_int_equal(json_object_size(ref), 3);
    assert_int_equal(json_integer_value(json_object_get(ref, "rate")), 3);
    assert_int_equal(json_integer_value(json_object_get(ref, "routes")), 1);
    json_decref(o);
    /* Without the prefix, the same. */
    o = parse("HUB_STATE|" DOC_STATE, err);
    assert_non_null(o);
    json_decref(o);
}

static void
test_normalised(void **state)
{
    char err[PN_ERR_LEN];
    /* Unknown members (top level and in elements) are dropped; missing counters
     * are 0 and texts ""; a tcp route's port may come as a number; extra
     * refusal reasons are kept, the documented ones always present. */
    json_t *o = parse("HUB_STATE|{\"version\":2,\"clients\":[{\"id\":\"c9\",\"extra\":[1,2]}],"
                      "\"routes\":[{\"type\":\"tcp\",\"key\":10022,\"weight\":{}}],"
                      "\"accounts\":[{\"name\":\"bob\",\"refused\":{\"hosts\":7}}],"
                      "\"truncated\":true}", err);
    assert_non_null(o);
    assert_null(json_object_get(o, "version"));
    assert_true(json_is_true(json_object_get(o, "truncated")));
    json_t *c = json_array_get(json_object_get(o, "clients"), 0);
    assert_int_equal(json_object_size(c), 7);
    assert_null(json_object_get(c, "extra"));
    assert_string_equal(gets(o, "clients", 0, "peer"), "");
    assert_int_equal(geti(o, "clients", 0, "pool"), 0);
    assert_string_equal(gets(o, "routes", 0, "key"), "10022");
    assert_int_equal(json_object_size(json_array_get(json_object_get(o, "routes"), 0)), 7);
    json_t *ref = json_object_get(json_array_get(json_object_get(o, "accounts"), 0), "refused");
    assert_int_equal(json_object_size(ref), 4);
    assert_int_equal(json_integer_value(json_object_get(ref, "hosts")), 7);
    assert_int_equal(json_integer_value(json_object_get(ref, "rate")), 0);
    assert_int_equal(geti(o, "accounts", 0, "rx"), 0);
    json_decref(o);
    /* Empty lists are a state too (a hub without agents). */
    o = parse("HUB_STATE|{\"clients\":[],\"routes\":[],\"accounts\":[]}", err);
    assert_non_null(o);
    assert_int_equal(json_array_size(json_object_get(o, "routes")), 0);
    json_decref(o);
    /* Big counters survive. */
    o = parse("HUB_STATE|{\"clients\":[],\"routes\":[],\"accounts\":[{\"name\":\"a\","
              "\"rx\":9223372036854775807}]}", err);
    assert_non_null(o);
    assert_true(geti(o, "accounts", 0, "rx") == INT64_MAX);
    json_decref(o);
}

static void
test_refusals_name_the_member(void **state)
{
    refused("2026-01-01 10:00:00.000 INFO hello", "not a HUB_STATE line");
    refused("HUB_STATE|", "not JSON");
    refused("HUB_STATE|{\"clients\":[", "not JSON");
    refused("HUB_STATE|{\"clients\":[]} trailing", "not JSON");
    refused("HUB_STATE|[]", "expected an object");
    refused("HUB_STATE|{\"routes\":[],\"accounts\":[]}", "clients: expected an array");
    refused("HUB_STATE|{\"clients\":{},\"routes\":[],\"accounts\":[]}",
            "clients: expected an array");
    refused("HUB_STATE|{\"clients\":[],\"routes\":[],\"accounts\":null}",
            "accounts: expected an array");
    refused("HUB_STATE|{\"clients\":[1],\"routes\":[],\"accounts\":[]}",
            "clients[0]: expected an object");
    refused("HUB_STATE|{\"clients\":[{\"id\":\"a\"},{\"account\":\"x\"}],\"routes\":[],"
            "\"accounts\":[]}", "clients[1].id: expected a non-empty string");
    refused("HUB_STATE|{\"clients\":[{\"id\":\"\"}],\"routes\":[],\"accounts\":[]}",
            "clients[0].id: expected a non-empty string");
    refused("HUB_STATE|{\"clients\":[{\"id\":\"a\",\"pool\":-1}],\"routes\":[],\"accounts\":[]}",
            "clients[0].pool: expected a non-negative integer");
    refused("HUB_STATE|{\"clients\":[{\"id\":\"a\",\"since\":1.5}],\"routes\":[],"
            "\"accounts\":[]}", "clients[0].since: expected a non-negative integer");
    refused("HUB_STATE|{\"clients\":[{\"id\":\"a\",\"peer\":5}],\"routes\":[],\"accounts\":[]}",
            "clients[0].peer: expected a string");
    refused("HUB_STATE|{\"clients\":[],\"routes\":[{\"type\":\"tcp\"}],\"accounts\":[]}",
            "routes[0].key: expected a non-empty string");
    refused("HUB_STATE|{\"clients\":[],\"routes\":[{\"type\":\"tcp\",\"key\":-5}],"
            "\"accounts\":[]}", "routes[0].key");
    refused("HUB_STATE|{\"clients\":[],\"routes\":[{\"key\":\"a\"}],\"accounts\":[]}",
            "routes[0].type: expected a non-empty string");
    refused("HUB_STATE|{\"clients\":[],\"routes\":[{\"type\":\"http\",\"key\":\"a\","
            "\"online\":true}],\"accounts\":[]}", "routes[0].online: expected a non-negative");
    refused("HUB_STATE|{\"clients\":[],\"routes\":[],\"accounts\":[{\"name\":\"a\","
            "\"refused\":[]}]}", "accounts[0].refused: expected an object");
    refused("HUB_STATE|{\"clients\":[],\"routes\":[],\"accounts\":[{\"name\":\"a\","
            "\"refused\":{\"rate\":\"3\"}}]}", "accounts[0].refused.rate: expected a non-negative");
    refused("HUB_STATE|{\"clients\":[],\"routes\":[],\"accounts\":[{\"name\":\"a\"},"
            "{\"name\":\"a\"}]}", "accounts[1].name: \"a\" is listed twice");
    refused("HUB_STATE|{\"clients\":[],\"routes\":[],\"accounts\":[],\"truncated\":1}",
            "truncated: expected true or false");
    refused("HUB_STATE|{\"clients\":[],\"clients\":[],\"routes\":[],\"accounts\":[]}",
            "not JSON");
}

/* "<prefix>HUB_STATE|{...,"pad":"ppp..."}\n" with <json> bytes of JSON; the
 * caller frees it. Its length in *<len>. */
static char *
padded(size_t json, size_t *len)
{
    static const char prefix[] = "2026-01-01 10:00:00.000 EVENT HUB_STATE|";
    static const char head[] = "{\"clients\":[],\"routes\":[],\"accounts\":[],\"pad\":\"";
    size_t pre = sizeof(prefix) - 1, h = sizeof(head) - 1;
    char *line = malloc(pre + json + 1);
    memcpy(line, prefix, pre);
    memcpy(line + pre, head, h);
    memset(line + pre + h, 'p', json - h - 2);
    memcpy(line + pre + json - 2, "\"}\n", 3);
    *len = pre + json + 1;
    return line;
}

/* A state of exactly PN_HUBSTATE_MAX bytes of JSON is read; one byte more is not. */
static void
test_cluster(void **state)
{
    char err[PN_ERR_LEN];
    json_t *o = parse("HUB_STATE|{\"clients\":[],\"routes\":[],\"accounts\":[],\"cluster\":"
                      "{\"id\":\"eu-1\",\"peer\":\"10.0.0.1:7100\",\"redis\":\"up\",\"hubs\":"
                      "[{\"id\":\"eu-1\",\"peer\":\"10.0.0.1:7100\",\"age_ms\":400},{\"id\":\"eu-2\"}],"
                      "\"remote\":[{\"route\":\"http:a\",\"hub\":\"eu-2\",\"x\":1}],"
                      "\"remote_routes\":7,\"claims\":3}}", err);
    assert_non_null(o);
    json_t *c = json_object_get(o, "cluster");
    assert_non_null(c);
    assert_string_equal(json_string_value(json_object_get(c, "id")), "eu-1");
    assert_string_equal(json_string_value(json_object_get(c, "redis")), "up");
    assert_int_equal(json_array_size(json_object_get(c, "hubs")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(c, "hubs"),
                                                                         1), "peer")), "-");
    assert_int_equal(json_integer_value(json_object_get(c, "remote_routes")), 7);
    assert_int_equal(json_integer_value(json_object_get(c, "refused")), 0);
    json_t *h0 = json_array_get(json_object_get(c, "hubs"), 0);
    assert_int_equal(json_integer_value(json_object_get(h0, "age_ms")), 400);
    /* the other hubs' routes: normalised, unknown members dropped */
    json_t *r0 = json_array_get(json_object_get(c, "remote"), 0);
    assert_int_equal(json_array_size(json_object_get(c, "remote")), 1);
    assert_string_equal(json_string_value(json_object_get(r0, "hub")), "eu-2");
    assert_string_equal(json_string_value(json_object_get(r0, "account")), "");
    assert_true(json_is_false(json_object_get(r0, "held")));
    assert_null(json_object_get(r0, "x"));
    json_decref(o);
    static const char *const bad[] = {
        "{\"id\":\"a\",\"redis\":\"maybe\",\"hubs\":[]}", "{\"redis\":\"up\",\"hubs\":[]}",
        "{\"id\":\"a\",\"redis\":\"up\",\"hubs\":[{}]}", "[]",
        "{\"id\":\"a\",\"redis\":\"up\",\"hubs\":[],\"claims\":-1}",
        "{\"id\":\"a\",\"redis\":\"up\",\"hubs\":[{\"id\":\"b\",\"age_ms\":-1}]}",
        "{\"id\":\"a\",\"redis\":\"up\",\"hubs\":[],\"remote\":{}}",
        "{\"id\":\"a\",\"redis\":\"up\",\"hubs\":[],\"remote\":[{\"route\":\"x\"}]}",
    };
    char line[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(line, sizeof(line),
                 "HUB_STATE|{\"clients\":[],\"routes\":[],\"accounts\":[],\"cluster\":%s}", bad[i]);
        err[0] = '\0';
        assert_null(parse(line, err));
        assert_true(strncmp(err, "cluster", 7) == 0);
    }
}

static void
test_size_bound(void **state)
{
    char err[PN_ERR_LEN];
    size_t len;
    char *line = padded(PN_HUBSTATE_MAX, &len);
    assert_true(len - 1 <= PN_HUBSTATE_LINE_MAX);
    json_t *o = pn_hubstate_parse(line, len, err);
    if (o == NULL)
        fail_msg("a state of exactly 1 MiB was refused: %s", err);
    assert_int_equal(json_object_size(o), 4);       /* "pad" dropped */
    json_decref(o);
    free(line);
    line = padded(PN_HUBSTATE_MAX + 1, &len);
    assert_null(pn_hubstate_parse(line, len, err));
    assert_non_null(strstr(err, "1048577 bytes of JSON (at most 1048576)"));
    free(line);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_documented_example),
        cmocka_unit_test(test_normalised),
        cmocka_unit_test(test_refusals_name_the_member),
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
