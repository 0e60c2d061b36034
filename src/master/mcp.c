/* master/mcp.c: the MCP JSON-RPC dispatcher (see master/mcp.h).
 *
 * One message per POST: a JSON array (a JSON-RPC batch, which MCP 2025-06-18
 * dropped) is an invalid request. The server keeps no session: every request
 * stands alone, so initialize only negotiates the version and says what the
 * server offers.
 *
 * Input schemas use this subset of JSON Schema, which the checker enforces
 * exactly: {"type": "object", "properties": {<name>: {"type": string | integer
 * | boolean | number | object | array, "enum", "minimum", "maximum",
 * "minLength", "maxLength", "description"}}, "required": [...],
 * "additionalProperties": false}. */
#include "master/mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METHOD_SHOWN 64             /* bytes of an unknown method name echoed back */

static const char *const versions[] = { PN_MCP_PROTOCOL, "2025-03-26", "2024-11-05" };

int
pn_mcp_version_ok(const char *v)
{
    if (v == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (strcmp(v, versions[i]) == 0)
            return 1;
    return 0;
}

/* ---- argument checks ------------------------------------------------------ */

static int
bad(char *err, char field[PN_MCP_FIELD_LEN], const char *name, const char *reason)
{
    snprintf(field, PN_MCP_FIELD_LEN, "%s", name);
    return pn_err_set(err, "%s: %s", field, reason);
}

/* Characters (UTF-8 code points) of <s>: JSON Schema's lengths count those. */
static size_t
utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static int
type_ok(const json_t *v, const char *type)
{
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v);
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    return 0;
}

/* The enum of <prop> as "a, b or c" into <out>. */
static void
enum_list(const json_t *en, char *out, size_t size)
{
    size_t i, n = json_array_size(en), used = 0;
    out[0] = '\0';
    for (i = 0; i < n && used < size; i++) {
        const char *s = json_string_value(json_array_get(en, i));
        int w = snprintf(out + used, size - used, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                         s ? s : "?");
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static int
check_value(const char *name, const json_t *prop, const json_t *v, char *err,
            char field[PN_MCP_FIELD_LEN])
{
    char reason[PN_ERR_LEN], list[160];
    const char *type = json_string_value(json_object_get(prop, "type"));
    const json_t *en = json_object_get(prop, "enum"), *lim;

    if (type != NULL && !type_ok(v, type)) {
        snprintf(reason, sizeof(reason), "expected %s %s", type[0] == 'i' || type[0] == 'o' ||
                 type[0] == 'a' ? "an" : "a", type);
        return bad(err, field, name, reason);
    }
    if (json_is_array(en)) {
        size_t i;
        for (i = 0; i < json_array_size(en); i++)
            if (json_equal(json_array_get(en, i), (json_t *)v))
                break;
        if (i == json_array_size(en)) {
            enum_list(en, list, sizeof(list));
            snprintf(reason, sizeof(reason), "must be one of %s", list);
            return bad(err, field, name, reason);
        }
    }
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if ((lim = json_object_get(prop, "minimum")) != NULL && json_is_integer(lim) &&
            x < json_integer_value(lim)) {
            snprintf(reason, sizeof(reason), "must be at least %lld", (long long)json_integer_value(lim));
            return bad(err, field, name, reason);
        }
        if ((lim = json_object_get(prop, "maximum")) != NULL && json_is_integer(lim) &&
            x > json_integer_value(lim)) {
            snprintf(reason, sizeof(reason), "must be at most %lld", (long long)json_integer_value(lim));
            return bad(err, field, name, reason);
        }
    }
    if (json_is_string(v)) {
        size_t n = utf8_len(json_string_value(v));
        if ((lim = json_object_get(prop, "minLength")) != NULL && json_is_integer(lim) &&
            (json_int_t)n < json_integer_value(lim))
            return bad(err, field, name, n == 0 ? "must not be empty" : "too short");
        if ((lim = json_object_get(prop, "maxLength")) != NULL && json_is_integer(lim) &&
            (json_int_t)n > json_integer_value(lim)) {
            snprintf(reason, sizeof(reason), "longer than %lld characters",
                     (long long)json_integer_value(lim));
            return bad(err, field, name, reason);
        }
    }
    return PN_OK;
}

int
pn_mcp_check_args(const json_t *schema, const json_t *args, char *err, char field[PN_MCP_FIELD_LEN])
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *req = json_object_get(schema, "required");
    const char *k;
    json_t *v;

    field[0] = '\0';
    if (!json_is_object(args))
        return bad(err, field, "arguments", "expected an object");
    json_object_foreach((json_t *)args, k, v) {
        if (*k == '\0')            /* no name to report the field by */
            return bad(err, field, "arguments", "an argument with an empty name");
        const json_t *prop = json_object_get(props, k);
        if (prop == NULL) {
            if (json_is_false(json_object_get(schema, "additionalProperties")))
                return bad(err, field, k, "unknown argument");
            continue;
        }
        if (check_value(k, prop, v, err, field) != PN_OK)
            return PN_ERR;
    }
    for (size_t i = 0; i < json_array_size(req); i++) {
        const char *name = json_string_value(json_array_get(req, i));
        if (name != NULL && json_object_get(args, name) == NULL)
            return bad(err, field, name, "missing");
    }
    return PN_OK;
}

/* ---- responses ------------------------------------------------------------- */

static char *
dump(json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static json_t *
envelope(const json_t *id)
{
    json_t *o = json_object();
    json_object_set_new(o, "jsonrpc", json_string("2.0"));
    json_object_set_new(o, "id", id ? json_deep_copy(id) : json_null());
    return o;
}

char *
pn_mcp_error_text(const json_t *id, int code, const char *msg)
{
    json_t *o = envelope(id), *e = json_object();
    json_object_set_new(e, "code", json_integer(code));
    /* jansson refuses a string that is not UTF-8; the code alone still tells. */
    json_t *m = json_string(msg);
    json_object_set_new(e, "message", m ? m : json_string("(message not UTF-8)"));
    json_object_set_new(o, "error", e);
    return dump(o);
}

/* -32602 naming <field>: {"message": "<err>", "data": {"field": "<field>"}}. */
static char *
params_error(const json_t *id, const char *err, const char *field)
{
    json_t *o = envelope(id), *e = json_object(), *data = json_object();
    json_t *m = json_string(err), *f = json_string(field);
    json_object_set_new(e, "code", json_integer(PN_MCP_INVALID_PARAMS));
    json_object_set_new(e, "message", m ? m : json_string("invalid params"));
    json_object_set_new(data, "field", f ? f : json_string("?"));
    json_object_set_new(e, "data", data);
    json_object_set_new(o, "error", e);
    return dump(o);
}

static char *
result(const json_t *id, json_t *res)
{
    json_t *o = envelope(id);
    json_object_set_new(o, "result", res);
    return dump(o);
}

/* ---- methods ---------------------------------------------------------------- */

static char *
do_initialize(const pn_mcp_server_t *s, const json_t *id, const json_t *params)
{
    const json_t *v = json_object_get(params, "protocolVersion");
    if (v == NULL)
        return params_error(id, "protocolVersion: missing", "protocolVersion");
    if (!json_is_string(v))
        return params_error(id, "protocolVersion: expected a string", "protocolVersion");
    const char *want = json_string_value(v);
    json_t *res = json_object(), *caps = json_object(), *tools = json_object(), *info = json_object();
    /* The client's version when spoken here, else ours (the client then decides). */
    json_object_set_new(res, "protocolVersion", json_string(pn_mcp_version_ok(want) ? want
                                                                                  : PN_MCP_PROTOCOL));
    json_object_set_new(tools, "listChanged", json_false());
    json_object_set_new(caps, "tools", tools);
    json_object_set_new(res, "capabilities", caps);
    json_object_set_new(info, "name", json_string(s->name));
    json_object_set_new(info, "version", json_string(s->version));
    json_object_set_new(res, "serverInfo", info);
    if (s->instructions != NULL)
        json_object_set_new(res, "instructions", json_string(s->instructions));
    return result(id, res);
}

static json_t *
tool_json(const pn_mcp_tool_t *t)
{
    json_t *o = json_object(), *ann = json_object();
    json_t *schema = json_loads(t->schema, 0, NULL);
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "title", json_string(t->title));
    json_object_set_new(o, "description", json_string(t->description));
    json_object_set_new(o, "inputSchema", schema ? schema : json_pack("{ss}", "type", "object"));
    json_object_set_new(ann, "title", json_string(t->title));
    json_object_set_new(ann, "readOnlyHint", json_boolean(t->hints & PN_MCP_READONLY));
    json_object_set_new(ann, "destructiveHint", json_boolean(t->hints & PN_MCP_DESTRUCTIVE));
    json_object_set_new(ann, "idempotentHint", json_boolean(t->hints & PN_MCP_IDEMPOTENT));
    json_object_set_new(ann, "openWorldHint", json_false());
    json_object_set_new(o, "annotations", ann);
    return o;
}

static char *
do_list(const pn_mcp_server_t *s, const json_t *id)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < s->ntools; i++)
        json_array_append_new(arr, tool_json(&s->tools[i]));
    return result(id, json_pack("{so}", "tools", arr));
}

/* {"content": [{"type": "text", "text"}], "structuredContent"?, "isError"}. */
static json_t *
tool_result(json_t *out, const char *fail)
{
    json_t *res = json_object(), *item = json_object(), *content = json_array();
    char *text = NULL;
    json_t *t;
    if (fail != NULL)
        t = json_string(fail);
    else if (json_is_string(out))
        t = json_incref(out);
    else
        t = json_string(text = json_dumps(out, JSON_INDENT(1)));
    free(text);
    json_object_set_new(item, "type", json_string("text"));
    json_object_set_new(item, "text", t ? t : json_string("(output not UTF-8)"));
    json_array_append_new(content, item);
    json_object_set_new(res, "content", content);
    if (fail == NULL && json_is_object(out))
        json_object_set(res, "structuredContent", out);
    json_object_set_new(res, "isError", json_boolean(fail != NULL));
    json_decref(out);
    return res;
}

static char *
do_call(const pn_mcp_server_t *s, const json_t *id, const json_t *params)
{
    char err[PN_ERR_LEN], field[PN_MCP_FIELD_LEN];
    const json_t *nv = json_object_get(params, "name");
    const pn_mcp_tool_t *t = NULL;
    if (nv == NULL)
        return params_error(id, "name: missing (the tool to call)", "name");
    if (!json_is_string(nv))
        return params_error(id, "name: expected a string", "name");
    for (size_t i = 0; i < s->ntools && t == NULL; i++)
        if (strcmp(s->tools[i].name, json_string_value(nv)) == 0)
            t = &s->tools[i];
    if (t == NULL) {
        snprintf(err, sizeof(err), "name: unknown tool \"%.*s\"", METHOD_SHOWN, json_string_value(nv));
        return params_error(id, err, "name");
    }
    json_t *args = json_object_get(params, "arguments");
    args = args == NULL || json_is_null(args) ? json_object() : json_incref(args);
    json_t *schema = json_loads(t->schema, 0, NULL);
    int ok = pn_mcp_check_args(schema, args, err, field);
    json_decref(schema);
    if (ok != PN_OK) {
        json_decref(args);
        return params_error(id, err, field);
    }
    json_t *out = NULL;
    err[0] = '\0';
    field[0] = '\0';
    enum pn_mcp_rc rc = t->call(s->ctx, args, &out, err, field);
    json_decref(args);
    if (rc != PN_MCP_OK)
        json_decref(out);
    if (rc == PN_MCP_BADARG)
        return params_error(id, err, field[0] ? field : "arguments");
    if (rc != PN_MCP_OK)
        return result(id, tool_result(NULL, err[0] ? err : "the tool failed"));
    return result(id, tool_result(out ? out : json_object(), NULL));
}

static char *
invalid(const json_t *id, const char *msg, int *status)
{
    *status = 400;
    return pn_mcp_error_text(id, PN_MCP_INVALID_REQUEST, msg);
}

char *
pn_mcp_dispatch(const pn_mcp_server_t *s, const char *body, size_t len, int *status)
{
    json_error_t jerr;
    char msg[PN_ERR_LEN];
    char *out;

    *status = 200;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        *status = 400;
        snprintf(msg, sizeof(msg), "Parse error: line %d, column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return pn_mcp_error_text(NULL, PN_MCP_PARSE_ERROR, msg);
    }
    if (!json_is_object(root)) {
        out = invalid(NULL, json_is_array(root) ? "Invalid Request: batches are not supported "
                      "(send one message per POST)" : "Invalid Request: expected a JSON object", status);
        goto done;
    }
    const json_t *id = json_object_get(root, "id");
    const json_t *method = json_object_get(root, "method");
    const json_t *params = json_object_get(root, "params");
    if (id != NULL && !json_is_string(id) && !json_is_integer(id)) {
        out = invalid(NULL, "Invalid Request: id must be a string or an integer", status);
        goto done;
    }
    if (!json_is_string(json_object_get(root, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(root, "jsonrpc")), "2.0") != 0) {
        out = invalid(id, "Invalid Request: jsonrpc must be \"2.0\"", status);
        goto done;
    }
    if (method == NULL && id != NULL &&
        (json_object_get(root, "result") != NULL || json_object_get(root, "error") != NULL)) {
        *status = 202;      /* a response: this server sends no requests, nothing to do */
        out = NULL;
        goto done;
    }
    if (!json_is_string(method)) {
        out = invalid(id, "Invalid Request: method must be a string", status);
        goto done;
    }
    if (params != NULL && !json_is_object(params)) {
        out = invalid(id, "Invalid Request: params must be an object", status);
        goto done;
    }
    if (id == NULL) {
        *status = 202;      /* a notification (initialized, cancelled...): no answer */
        out = NULL;
        goto done;
    }
    const char *m = json_string_value(method);
    if (strcmp(m, "initialize") == 0) {
        out = do_initialize(s, id, params);
    } else if (strcmp(m, "ping") == 0) {
        out = result(id, json_object());
    } else if (strcmp(m, "tools/list") == 0) {
        out = do_list(s, id);
    } else if (strcmp(m, "tools/call") == 0) {
        out = do_call(s, id, params);
    } else {
        snprintf(msg, sizeof(msg), "Method not found: %.*s", METHOD_SHOWN, m);
        out = pn_mcp_error_text(id, PN_MCP_NO_METHOD, msg);
    }
done:
    json_decref(root);
    return out;
}
