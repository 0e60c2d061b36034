/* tests/fuzz/fuzz_mcp.c: a POST body to <prefix>/v1/mcp (src/master/mcp.h).
 *
 * The input is the raw body given to pn_mcp_dispatch, over the master's own tool
 * table (pn_mcp_tools: the real names and input schemas) with each tool's call
 * replaced by a stub that checks what it was given; a second server with no
 * tools sees the same body.
 *
 * Invariants checked besides memory safety and leaks:
 *   - nothing to send exactly when the status is 202; otherwise the answer is a
 *     JSON object with "jsonrpc": "2.0", an "id" and exactly one of result/error;
 *   - status 400 only with -32700 or -32600, 200 otherwise;
 *   - -32602 names its field: data.field non-empty and the message starts with it
 *     and ": ";
 *   - a stub runs only on an object that passes its tool's schema, and at most once;
 *   - a tools/call result has content[0].text and a boolean isError. */
#include "fuzz.h"
#include "master/mcp.h"
#include "master/mcp_tools.h"

#include <jansson.h>

static int runs;
static const pn_mcp_tool_t *real;
static size_t nreal;

static enum pn_mcp_rc
stub(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    const pn_mcp_tool_t *t = ctx;       /* the table: which tool is found from args below */
    char e[PN_ERR_LEN], f[PN_MCP_FIELD_LEN];
    int fits = 0;
    runs++;
    FUZZ_ASSERT(json_is_object(args));
    for (size_t i = 0; i < nreal; i++) {
        json_t *s = json_loads(t[i].schema, 0, NULL);
        FUZZ_ASSERT(s != NULL);
        fits |= pn_mcp_check_args(s, args, e, f) == PN_OK;
        json_decref(s);
    }
    FUZZ_ASSERT(fits);
    /* vary the outcome with the arguments: ok, failed, bad argument */
    switch (json_object_size(args) % 3) {
    case 0: *out = json_deep_copy(args); return PN_MCP_OK;
    case 1: pn_err_set(err, "id: no such instance"); return PN_MCP_FAILED;
    default:
        snprintf(field, PN_MCP_FIELD_LEN, "url");
        pn_err_set(err, "url: refused");
        return PN_MCP_BADARG;
    }
}

static void
check(const pn_mcp_server_t *srv, const uint8_t *data, size_t size)
{
    int status = -1;
    runs = 0;
    char *out = pn_mcp_dispatch(srv, (const char *)data, size, &status);
    FUZZ_ASSERT(runs <= 1);
    if (out == NULL) {
        FUZZ_ASSERT(status == 202);
        FUZZ_ASSERT(runs == 0);
        return;
    }
    FUZZ_ASSERT(status == 200 || status == 400);
    json_t *o = json_loads(out, 0, NULL);
    FUZZ_ASSERT(json_is_object(o));
    FUZZ_ASSERT(json_is_string(json_object_get(o, "jsonrpc")));
    FUZZ_ASSERT(strcmp(json_string_value(json_object_get(o, "jsonrpc")), "2.0") == 0);
    json_t *id = json_object_get(o, "id");
    FUZZ_ASSERT(json_is_null(id) || json_is_string(id) || json_is_integer(id));
    json_t *res = json_object_get(o, "result"), *e = json_object_get(o, "error");
    FUZZ_ASSERT((res == NULL) != (e == NULL));
    if (e != NULL) {
        json_int_t code = json_integer_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        FUZZ_ASSERT(msg != NULL);
        if (status == 400)
            FUZZ_ASSERT(code == PN_MCP_PARSE_ERROR || code == PN_MCP_INVALID_REQUEST);
        else
            FUZZ_ASSERT(code == PN_MCP_NO_METHOD || code == PN_MCP_INVALID_PARAMS);
        if (code == PN_MCP_INVALID_PARAMS) {
            const char *f = json_string_value(json_object_get(json_object_get(e, "data"), "field"));
            FUZZ_ASSERT(f != NULL && *f != '\0');
            FUZZ_ASSERT(strncmp(msg, f, strlen(f)) == 0 && msg[strlen(f)] == ':');
        }
    } else {
        FUZZ_ASSERT(status == 200);
        json_t *content = json_object_get(res, "content");
        if (content != NULL) {
            FUZZ_ASSERT(runs == 1);
            FUZZ_ASSERT(json_is_string(json_object_get(json_array_get(content, 0), "text")));
            FUZZ_ASSERT(json_is_boolean(json_object_get(res, "isError")));
        }
    }
    json_decref(o);
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pn_mcp_tool_t tools[16];
    if (real == NULL) {
        real = pn_mcp_tools(&nreal);
        FUZZ_ASSERT(nreal <= sizeof(tools) / sizeof(tools[0]));
        for (size_t i = 0; i < nreal; i++) {
            tools[i] = real[i];
            tools[i].call = stub;
        }
    }
    const pn_mcp_server_t srv = { .tools = tools, .ntools = nreal, .ctx = (void *)real,
                                  .name = "postern", .version = "0", .instructions = NULL };
    const pn_mcp_server_t none = { .tools = NULL, .ntools = 0, .ctx = NULL, .name = "postern",
                                   .version = "0", .instructions = "i" };
    uint8_t *copy = fuzz_dup(data, size);   /* exact size: a read past the body is caught */
    check(&srv, copy, size);
    check(&none, copy, size);
    free(copy);
    return 0;
}
