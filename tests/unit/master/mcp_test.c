/* tests/unit/master/mcp_test.c: the MCP JSON-RPC dispatcher (master/mcp.h) over
 * a table of fake tools, and the master's own tool table (master/mcp_tools.h):
 * every error code with its HTTP status, the field named by -32602, that no
 * tool runs on bad arguments, and the shape of initialize, tools/list and
 * tools/call results. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "master/mcp.h"
#include "master/mcp_tools.h"

static int calls;               /* tool runs */

static enum pn_mcp_rc
echo(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    (void)ctx, (void)err, (void)field;
    calls++;
    *out = json_deep_copy(args);
    return PN_MCP_OK;
}

static enum pn_mcp_rc
text(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    (void)ctx, (void)args, (void)err, (void)field;
    calls++;
    *out = json_string("plain words");
    return PN_MCP_OK;
}

static enum pn_mcp_rc
failing(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    (void)ctx, (void)args, (void)field;
    calls++;
    *out = json_object();       /* dropped by the dispatcher on failure */
    pn_err_set(err, "id: no such instance");
    return PN_MCP_FAILED;
}

static enum pn_mcp_rc
badarg(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    (void)ctx, (void)args, (void)out;
    calls++;
    snprintf(field, PN_MCP_FIELD_LEN, "url");
    pn_err_set(err, "url: port: expected 1-65535");
    return PN_MCP_BADARG;
}

static const pn_mcp_tool_t fake[] = {
    { "echo", "Echo", "Echo the arguments.",
      "{\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"string\", \"minLength\": 1, "
      "\"maxLength\": 4}, \"lines\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 200}, "
      "\"action\": {\"type\": \"string\", \"enum\": [\"start\", \"stop\"]}, \"on\": {\"type\": "
      "\"boolean\"}}, \"required\": [\"id\"], \"additionalProperties\": false}",
      PN_MCP_READONLY, echo },
    { "text", "Text", "Plain text.", "{\"type\": \"object\", \"properties\": {}}", 0, text },
    { "failing", "Failing", "Fails.", "{\"type\": \"object\"}", PN_MCP_DESTRUCTIVE, failing },
    { "badarg", "Bad", "Blames url.", "{\"type\": \"object\"}", 0, badarg },
};

static const pn_mcp_server_t srv = {
    .tools = fake, .ntools = sizeof(fake) / sizeof(fake[0]), .ctx = NULL,
    .name = "postern", .version = "9.9.9", .instructions = "be nice",
};

/* Dispatch <body>; check the HTTP <status>; return the parsed answer (NULL when none). */
static json_t *
run(const char *body, int status)
{
    int st = -1;
    char *out = pn_mcp_dispatch(&srv, body, strlen(body), &st);
    if (st != status)
        fail_msg("%s: status %d, expected %d (%s)", body, st, status, out ? out : "no body");
    if (out == NULL)
        return NULL;
    json_t *o = json_loads(out, 0, NULL);
    if (o == NULL)
        fail_msg("%s: the answer is not JSON: %s", body, out);
    free(out);
    assert_string_equal(json_string_value(json_object_get(o, "jsonrpc")), "2.0");
    return o;
}

/* Check that <o> is an error <code>; return its message. */
static const char *
error_of(json_t *o, int code)
{
    json_t *e = json_object_get(o, "error");
    if (e == NULL)
        fail_msg("no error in %s", json_dumps(o, 0));
    assert_int_equal(json_integer_value(json_object_get(e, "code")), code);
    assert_null(json_object_get(o, "result"));
    return json_string_value(json_object_get(e, "message"));
}

/* A -32602 whose message starts "<field>: " and whose data.field is <field>. */
static void
expect_params(const char *body, const char *field)
{
    json_t *o = run(body, 200);
    const char *msg = error_of(o, PN_MCP_INVALID_PARAMS);
    json_t *data = json_object_get(json_object_get(o, "error"), "data");
    if (strncmp(msg, field, strlen(field)) != 0 || msg[strlen(field)] != ':')
        fail_msg("%s: message \"%s\" does not name %s", body, msg, field);
    assert_string_equal(json_string_value(json_object_get(data, "field")), field);
    json_decref(o);
}

static void
test_bad_messages(void **state)
{
    static const struct { const char *body; int code; } cases[] = {
        { "", PN_MCP_PARSE_ERROR },
        { "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ", PN_MCP_PARSE_ERROR },
        { "{\"id\": 1, \"id\": 2, \"jsonrpc\": \"2.0\", \"method\": \"ping\"}", PN_MCP_PARSE_ERROR },
        { "[{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\"}]", PN_MCP_INVALID_REQUEST },
        { "[]", PN_MCP_INVALID_REQUEST },
        { "42", PN_MCP_INVALID_REQUEST },
        { "{\"id\": 1, \"method\": \"ping\"}", PN_MCP_INVALID_REQUEST },
        { "{\"jsonrpc\": \"1.0\", \"id\": 1, \"method\": \"ping\"}", PN_MCP_INVALID_REQUEST },
        { "{\"jsonrpc\": \"2.0\", \"id\": true, \"method\": \"ping\"}", PN_MCP_INVALID_REQUEST },
        { "{\"jsonrpc\": \"2.0\", \"id\": null, \"method\": \"ping\"}", PN_MCP_INVALID_REQUEST },
        { "{\"jsonrpc\": \"2.0\", \"id\": 1.5, \"method\": \"ping\"}", PN_MCP_INVALID_REQUEST },
        { "{\"jsonrpc\": \"2.0\", \"id\": 1}", PN_MCP_INVALID_REQUEST },
        { "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": 7}", PN_MCP_INVALID_REQUEST },
        { "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\", \"params\": [1]}",
          PN_MCP_INVALID_REQUEST },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = run(cases[i].body, 400);
        error_of(o, cases[i].code);
        json_decref(o);
    }
    /* a parse error has a null id */
    json_t *o = run("{nope", 400);
    assert_true(json_is_null(json_object_get(o, "id")));
    json_decref(o);
}

static void
test_notifications_and_responses(void **state)
{
    (void)state;
    assert_null(run("{\"jsonrpc\": \"2.0\", \"method\": \"notifications/initialized\"}", 202));
    assert_null(run("{\"jsonrpc\": \"2.0\", \"method\": \"notifications/cancelled\", "
                    "\"params\": {\"requestId\": 3}}", 202));
    /* a notification never runs a tool */
    calls = 0;
    assert_null(run("{\"jsonrpc\": \"2.0\", \"method\": \"tools/call\", \"params\": "
                    "{\"name\": \"echo\", \"arguments\": {\"id\": \"a\"}}}", 202));
    assert_int_equal(calls, 0);
    assert_null(run("{\"jsonrpc\": \"2.0\", \"id\": 4, \"result\": {}}", 202));
    assert_null(run("{\"jsonrpc\": \"2.0\", \"id\": \"x\", \"error\": {\"code\": 1, "
                    "\"message\": \"m\"}}", 202));
}

static void
test_initialize(void **state)
{
    (void)state;
    json_t *o = run("{\"jsonrpc\": \"2.0\", \"id\": \"init-1\", \"method\": \"initialize\", "
                    "\"params\": {\"protocolVersion\": \"2025-03-26\", \"capabilities\": {}, "
                    "\"clientInfo\": {\"name\": \"t\", \"version\": \"1\"}}}", 200);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "init-1");
    json_t *r = json_object_get(o, "result");
    assert_string_equal(json_string_value(json_object_get(r, "protocolVersion")), "2025-03-26");
    assert_non_null(json_object_get(json_object_get(r, "capabilities"), "tools"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "serverInfo"), "name")),
                        "postern");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "serverInfo"),
                                                          "version")), "9.9.9");
    assert_string_equal(json_string_value(json_object_get(r, "instructions")), "be nice");
    json_decref(o);
    /* a version not spoken here: the server offers its own */
    o = run("{\"jsonrpc\": \"2.0\", \"id\": 2, \"method\": \"initialize\", "
            "\"params\": {\"protocolVersion\": \"2099-01-01\"}}", 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "result"),
                                                          "protocolVersion")), PN_MCP_PROTOCOL);
    json_decref(o);
    expect_params("{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": \"initialize\", \"params\": {}}",
                  "protocolVersion");
    expect_params("{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": \"initialize\"}", "protocolVersion");
    expect_params("{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": \"initialize\", "
                  "\"params\": {\"protocolVersion\": 2025}}", "protocolVersion");
    assert_true(pn_mcp_version_ok("2025-06-18"));
    assert_true(pn_mcp_version_ok("2024-11-05"));
    assert_false(pn_mcp_version_ok("2025-06-1"));
    assert_false(pn_mcp_version_ok(NULL));
}

static void
test_ping_and_unknown_method(void **state)
{
    (void)state;
    json_t *o = run("{\"jsonrpc\": \"2.0\", \"id\": 7, \"method\": \"ping\"}", 200);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 7);
    assert_true(json_is_object(json_object_get(o, "result")));
    assert_int_equal(json_object_size(json_object_get(o, "result")), 0);
    json_decref(o);
    o = run("{\"jsonrpc\": \"2.0\", \"id\": 8, \"method\": \"resources/list\"}", 200);
    assert_non_null(strstr(error_of(o, PN_MCP_NO_METHOD), "resources/list"));
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 8);
    json_decref(o);
}

static void
test_tools_list(void **state)
{
    (void)state;
    json_t *o = run("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/list\", "
                    "\"params\": {}}", 200);
    json_t *tools = json_object_get(json_object_get(o, "result"), "tools");
    assert_int_equal(json_array_size(tools), sizeof(fake) / sizeof(fake[0]));
    for (size_t i = 0; i < json_array_size(tools); i++) {
        json_t *t = json_array_get(tools, i);
        assert_string_equal(json_string_value(json_object_get(t, "name")), fake[i].name);
        assert_string_equal(json_string_value(json_object_get(json_object_get(t, "inputSchema"),
                                                              "type")), "object");
        assert_non_null(json_object_get(t, "description"));
    }
    json_t *ann = json_object_get(json_array_get(tools, 0), "annotations");
    assert_true(json_is_true(json_object_get(ann, "readOnlyHint")));
    assert_true(json_is_false(json_object_get(ann, "destructiveHint")));
    ann = json_object_get(json_array_get(tools, 2), "annotations");
    assert_true(json_is_true(json_object_get(ann, "destructiveHint")));
    json_decref(o);
}

#define CALL(args) "{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \"tools/call\", \"params\": " \
    "{\"name\": \"echo\", \"arguments\": " args "}}"

static void
test_call_bad_arguments(void **state)
{
    static const struct { const char *body; const char *field; } cases[] = {
        { CALL("{}"), "id" },
        { CALL("{\"lines\": 3}"), "id" },
        { CALL("{\"id\": 5}"), "id" },
        { CALL("{\"id\": \"\"}"), "id" },
        { CALL("{\"id\": \"abcde\"}"), "id" },
        { CALL("{\"id\": \"a\", \"lines\": \"3\"}"), "lines" },
        { CALL("{\"id\": \"a\", \"lines\": 2.5}"), "lines" },
        { CALL("{\"id\": \"a\", \"lines\": 0}"), "lines" },
        { CALL("{\"id\": \"a\", \"lines\": 201}"), "lines" },
        { CALL("{\"id\": \"a\", \"action\": \"explode\"}"), "action" },
        { CALL("{\"id\": \"a\", \"on\": 1}"), "on" },
        { CALL("{\"id\": \"a\", \"surplus\": 1}"), "surplus" },
        { CALL("{\"id\": \"a\", \"\": false}"), "arguments" },    /* no name (fuzz_mcp) */
        { CALL("[1]"), "arguments" },
        { CALL("\"id\""), "arguments" },
        { "{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \"tools/call\", \"params\": "
          "{\"name\": \"nope\", \"arguments\": {}}}", "name" },
        { "{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \"tools/call\", \"params\": "
          "{\"arguments\": {}}}", "name" },
        { "{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \"tools/call\"}", "name" },
        { "{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \"tools/call\", \"params\": "
          "{\"name\": [\"echo\"]}}", "name" },
    };
    (void)state;
    calls = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_params(cases[i].body, cases[i].field);
    assert_int_equal(calls, 0);
    /* the enum's message lists the values */
    json_t *o = run(CALL("{\"id\": \"a\", \"action\": \"go\"}"), 200);
    assert_string_equal(error_of(o, PN_MCP_INVALID_PARAMS), "action: must be one of start or stop");
    json_decref(o);
    /* a tool's own BADARG: -32602 with its field */
    expect_params("{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \"tools/call\", \"params\": "
                  "{\"name\": \"badarg\"}}", "url");
    assert_int_equal(calls, 1);
}

static void
test_call_results(void **state)
{
    (void)state;
    calls = 0;
    json_t *o = run(CALL("{\"id\": \"ab\", \"lines\": 200, \"action\": \"stop\", \"on\": true}"), 200);
    json_t *r = json_object_get(o, "result");
    assert_int_equal(calls, 1);
    assert_true(json_is_false(json_object_get(r, "isError")));
    json_t *sc = json_object_get(r, "structuredContent");
    assert_string_equal(json_string_value(json_object_get(sc, "id")), "ab");
    json_t *item = json_array_get(json_object_get(r, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(item, "type")), "text");
    json_t *again = json_loads(json_string_value(json_object_get(item, "text")), 0, NULL);
    assert_true(json_equal(again, sc));
    json_decref(again);
    json_decref(o);

    /* a string result is text only; arguments may be absent or null */
    o = run("{\"jsonrpc\": \"2.0\", \"id\": 6, \"method\": \"tools/call\", \"params\": "
            "{\"name\": \"text\", \"arguments\": null}}", 200);
    r = json_object_get(o, "result");
    assert_null(json_object_get(r, "structuredContent"));
    item = json_array_get(json_object_get(r, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(item, "text")), "plain words");
    json_decref(o);

    /* a failing tool: isError with its message, not a JSON-RPC error */
    o = run("{\"jsonrpc\": \"2.0\", \"id\": 9, \"method\": \"tools/call\", \"params\": "
            "{\"name\": \"failing\"}}", 200);
    r = json_object_get(o, "result");
    assert_null(json_object_get(o, "error"));
    assert_true(json_is_true(json_object_get(r, "isError")));
    item = json_array_get(json_object_get(r, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(item, "text")), "id: no such instance");
    json_decref(o);
    assert_int_equal(calls, 3);
}

/* The master's tools: valid schemas in the checked subset, unique names, and a
 * minimal call of each passes its schema. */
static void
test_master_tools(void **state)
{
    static const char *const want[] = { "list_instances", "get_instance", "create_instance",
                                        "update_instance", "delete_instance", "get_instance_logs",
                                        "get_metrics", "get_info" };
    char err[PN_ERR_LEN], field[PN_MCP_FIELD_LEN];
    size_t n;
    const pn_mcp_tool_t *t = pn_mcp_tools(&n);
    (void)state;
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *s = json_loads(t[i].schema, JSON_REJECT_DUPLICATES, &jerr);
        if (s == NULL)
            fail_msg("%s: schema is not JSON: %s", t[i].name, jerr.text);
        assert_string_equal(t[i].name, want[i]);
        assert_string_equal(json_string_value(json_object_get(s, "type")), "object");
        assert_true(json_is_false(json_object_get(s, "additionalProperties")));
        json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
        assert_true(json_is_object(props));
        const char *k;
        json_t *p;
        json_object_foreach(props, k, p) {
            assert_non_null(json_object_get(p, "type"));
            assert_non_null(json_object_get(p, "description"));
        }
        /* the required arguments alone pass */
        json_t *args = json_object();
        for (size_t j = 0; j < json_array_size(req); j++) {
            const char *name = json_string_value(json_array_get(req, j));
            assert_non_null(json_object_get(props, name));
            json_object_set_new(args, name, json_string(strcmp(name, "id") == 0 ? "0badc0de"
                                                        : "client://127.0.0.1:1/127.0.0.1:2?mode=1"));
        }
        if (pn_mcp_check_args(s, args, err, field) != PN_OK)
            fail_msg("%s: %s", t[i].name, err);
        json_object_set_new(args, "surplus", json_true());
        assert_int_equal(pn_mcp_check_args(s, args, err, field), PN_ERR);
        assert_string_equal(field, "surplus");
        json_decref(args);
        json_decref(s);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(t[i].name, t[j].name);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_notifications_and_responses),
        cmocka_unit_test(test_initialize),
        cmocka_unit_test(test_ping_and_unknown_method),
        cmocka_unit_test(test_tools_list),
        cmocka_unit_test(test_call_bad_arguments),
        cmocka_unit_test(test_call_results),
        cmocka_unit_test(test_master_tools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
