/* master/mcp_tools.c: the master's MCP tools and <prefix>/v1/mcp (see
 * master/mcp_tools.h). Each tool is the REST endpoint's own path: bodies are
 * checked by master/body.h, instances changed by master/super.h and
 * pn_api_patch, shown by master/view.h; nothing here is logged (a URL may hold
 * a tunnel key). */
#include "master/mcp_tools.h"
#include "master/body.h"
#include "master/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ID_SCHEMA "\"id\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 16, " \
    "\"description\": \"The instance's id (8 hex characters, from list_instances)\"}"
#define URL_SCHEMA "\"url\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 4096, " \
    "\"description\": \"A postern URL, as on the command line, e.g. " \
    "client://127.0.0.1:8080/127.0.0.1:80?mode=1 (a TCP/UDP forwarder), " \
    "server://:10101/:8080 (a tunnel server), hub://... or agent://...\"}"
#define ALIAS_SCHEMA "\"alias\": {\"type\": \"string\", \"maxLength\": 64, " \
    "\"description\": \"A display name\"}"
#define RESTART_SCHEMA "\"restart\": {\"type\": \"boolean\", " \
    "\"description\": \"Restart the process when it exits on its own (default true)\"}"

static const char *const instructions =
    "postern's master supervises instances: postern processes, each run from one URL "
    "(server://, client://, hub://, agent://, proxy://). Start with list_instances; an "
    "instance's id is 8 hex characters. A URL may hold a tunnel key: do not repeat it "
    "needlessly.";

/* ---- helpers --------------------------------------------------------------- */

/* The instance named by args.id, or NULL with <err> set. */
static pn_inst_t *
find(pn_api_t *a, json_t *args, char *err)
{
    const char *id = json_string_value(json_object_get(args, "id"));
    pn_inst_t *in = pn_super_find(a->super, id ? id : "");
    if (in == NULL)
        pn_err_set(err, "id: no such instance \"%.16s\" (list_instances shows the ids)", id ? id : "");
    return in;
}

/* Check <obj> (borrowed) as a REST body of <kind>: the API's own checks. */
static enum pn_mcp_rc
body(enum pn_body_kind kind, json_t *obj, pn_body_t *b, char *err, char field[PN_MCP_FIELD_LEN])
{
    char f[PN_FIELD_LEN];
    char *text = json_dumps(obj, JSON_COMPACT);
    int rc = pn_body_parse(kind, text, strlen(text), b, err, f);
    free(text);
    if (rc == PN_OK)
        return PN_MCP_OK;
    snprintf(field, PN_MCP_FIELD_LEN, "%s", f);
    return PN_MCP_BADARG;
}

/* ---- the tools ------------------------------------------------------------- */

static enum pn_mcp_rc
t_list(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    pn_api_t *a = ctx;
    json_t *arr = json_array();
    pn_list_t *head = pn_super_list(a->super), *n;
    (void)args, (void)err, (void)field;
    for (n = head->next; n != head; n = n->next)
        json_array_append_new(arr, pn_inst_json(pn_container_of(n, pn_inst_t, node)));
    *out = json_pack("{so}", "instances", arr);
    return PN_MCP_OK;
}

static enum pn_mcp_rc
t_get(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    pn_inst_t *in = find(ctx, args, err);
    (void)field;
    if (in == NULL)
        return PN_MCP_FAILED;
    *out = pn_inst_json(in);
    return PN_MCP_OK;
}

static enum pn_mcp_rc
t_create(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    pn_api_t *a = ctx;
    pn_body_t b;
    if (body(PN_BODY_CREATE, args, &b, err, field) != PN_MCP_OK)
        return PN_MCP_BADARG;
    pn_inst_t *in = pn_super_create(a->super, b.url, b.type, b.alias, b.restart != 0, b.tags);
    pn_body_clear(&b);
    if (in == NULL) {
        pn_err_set(err, "db: cannot store the instance");
        return PN_MCP_FAILED;
    }
    *out = pn_inst_json(in);
    return PN_MCP_OK;
}

/* A new url (PUT's checks) and/or alias, restart, action (PATCH's), all checked
 * before anything changes. */
static enum pn_mcp_rc
t_update(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    pn_body_t put, patch;
    json_t *url = json_object_get(args, "url");
    json_t *rest = json_deep_copy(args);
    json_object_del(rest, "id");
    json_object_del(rest, "url");
    if (url == NULL && json_object_size(rest) == 0) {
        json_decref(rest);
        snprintf(field, PN_MCP_FIELD_LEN, "arguments");
        pn_err_set(err, "arguments: nothing to change (give url, action, alias or restart)");
        return PN_MCP_BADARG;
    }
    pn_inst_t *in = find(ctx, args, err);
    if (in == NULL) {
        json_decref(rest);
        return PN_MCP_FAILED;
    }
    memset(&put, 0, sizeof(put));
    memset(&patch, 0, sizeof(patch));
    enum pn_mcp_rc rc = PN_MCP_OK;
    if (url != NULL) {
        json_t *o = json_pack("{sO}", "url", url);
        rc = body(PN_BODY_PUT, o, &put, err, field);
        json_decref(o);
    }
    if (rc == PN_MCP_OK && json_object_size(rest) > 0)
        rc = body(PN_BODY_PATCH, rest, &patch, err, field);
    json_decref(rest);
    if (rc != PN_MCP_OK) {
        pn_body_clear(&put);
        return rc;
    }
    if (put.url != NULL)
        pn_super_set_url(in, put.url, put.type);
    if (patch.root != NULL)
        pn_api_patch(in, &patch);
    pn_body_clear(&put);
    pn_body_clear(&patch);
    *out = pn_inst_json(in);
    return PN_MCP_OK;
}

static enum pn_mcp_rc
t_delete(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    pn_inst_t *in = find(ctx, args, err);
    (void)field;
    if (in == NULL)
        return PN_MCP_FAILED;
    *out = json_pack("{ss}", "deleted", in->id);
    pn_super_delete(in);
    return PN_MCP_OK;
}

static void
add_line(const char *line, void *ctx)
{
    json_t *l = json_string(line);
    json_array_append_new(ctx, l ? l : json_string("(a line that is not UTF-8)"));
}

static enum pn_mcp_rc
t_logs(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    pn_inst_t *in = find(ctx, args, err);
    json_t *n = json_object_get(args, "lines");
    size_t want = n ? (size_t)json_integer_value(n) : PN_MCP_LOG_LINES;
    (void)field;
    if (in == NULL)
        return PN_MCP_FAILED;
    json_t *arr = json_array();
    pn_inst_logs(in, add_line, arr);
    while (json_array_size(arr) > want)
        json_array_remove(arr, 0);
    *out = json_pack("{ss so}", "id", in->id, "logs", arr);
    return PN_MCP_OK;
}

static enum pn_mcp_rc
t_metrics(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    static const char *const keys[] = { "id", "alias", "status", "restarts", "tcprx", "tcptx",
                                        "udprx", "udptx", "tcps", "udps", "pool", "ping" };
    pn_api_t *a = ctx;
    (void)field;
    if (json_object_get(args, "id") == NULL) {
        size_t len;
        char *text = pn_api_metrics_text(a, &len);
        *out = json_stringn(text, len);
        free(text);
        return PN_MCP_OK;
    }
    pn_inst_t *in = find(a, args, err);
    if (in == NULL)
        return PN_MCP_FAILED;
    json_t *all = pn_inst_json(in), *o = json_object();
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        json_object_set(o, keys[i], json_object_get(all, keys[i]));
    json_decref(all);
    *out = o;
    return PN_MCP_OK;
}

static enum pn_mcp_rc
t_info(void *ctx, json_t *args, json_t **out, char *err, char field[PN_MCP_FIELD_LEN])
{
    (void)args, (void)err, (void)field;
    *out = pn_api_info_json(ctx);
    return PN_MCP_OK;
}

static const pn_mcp_tool_t tools[] = {
    { "list_instances", "List instances",
      "List every instance the master supervises: id, alias, type, status, url, counters.",
      "{\"type\": \"object\", \"properties\": {}, \"additionalProperties\": false}",
      PN_MCP_READONLY | PN_MCP_IDEMPOTENT, t_list },
    { "get_instance", "Get an instance",
      "One instance: its URL, status (running, stopped, error), error, restarts and byte "
      "counters.",
      "{\"type\": \"object\", \"properties\": {" ID_SCHEMA "}, \"required\": [\"id\"], "
      "\"additionalProperties\": false}",
      PN_MCP_READONLY | PN_MCP_IDEMPOTENT, t_get },
    { "create_instance", "Create an instance",
      "Create an instance from a postern URL and start it. The URL is checked by the command "
      "line's own parser; a bad one is refused naming its field.",
      "{\"type\": \"object\", \"properties\": {" URL_SCHEMA ", " ALIAS_SCHEMA ", " RESTART_SCHEMA
      "}, \"required\": [\"url\"], \"additionalProperties\": false}",
      0, t_create },
    { "update_instance", "Change an instance",
      "Change an instance: a new url (the process restarts with it), an action (start, stop, "
      "restart; reset zeroes its counters), an alias or the restart policy.",
      "{\"type\": \"object\", \"properties\": {" ID_SCHEMA ", " URL_SCHEMA ", "
      "\"action\": {\"type\": \"string\", \"enum\": [\"start\", \"stop\", \"restart\", \"reset\"], "
      "\"description\": \"What to do with the process\"}, " ALIAS_SCHEMA ", " RESTART_SCHEMA
      "}, \"required\": [\"id\"], \"additionalProperties\": false}",
      0, t_update },
    { "delete_instance", "Delete an instance",
      "Stop an instance's process and forget the instance.",
      "{\"type\": \"object\", \"properties\": {" ID_SCHEMA "}, \"required\": [\"id\"], "
      "\"additionalProperties\": false}",
      PN_MCP_DESTRUCTIVE | PN_MCP_IDEMPOTENT, t_delete },
    { "get_instance_logs", "Read an instance's log",
      "The last lines an instance's process printed (the master keeps 200), oldest first.",
      "{\"type\": \"object\", \"properties\": {" ID_SCHEMA ", \"lines\": {\"type\": \"integer\", "
      "\"minimum\": 1, \"maximum\": 200, \"description\": \"How many of the last lines (default "
      "50)\"}}, \"required\": [\"id\"], \"additionalProperties\": false}",
      PN_MCP_READONLY | PN_MCP_IDEMPOTENT, t_logs },
    { "get_metrics", "Read metrics",
      "Without id: the master's Prometheus metrics page (text). With id: that instance's "
      "counters (bytes, connections, pool, ping, restarts).",
      "{\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"string\", \"minLength\": 1, "
      "\"maxLength\": 16, \"description\": \"An instance's id; omit for every metric\"}}, "
      "\"additionalProperties\": false}",
      PN_MCP_READONLY | PN_MCP_IDEMPOTENT, t_metrics },
    { "get_info", "Master info",
      "The master's name, version, host (cpu, memory, network), uptime and instance count.",
      "{\"type\": \"object\", \"properties\": {}, \"additionalProperties\": false}",
      PN_MCP_READONLY | PN_MCP_IDEMPOTENT, t_info },
};

const pn_mcp_tool_t *
pn_mcp_tools(size_t *n)
{
    *n = sizeof(tools) / sizeof(tools[0]);
    return tools;
}

/* ---- HTTP ------------------------------------------------------------------ */

static int
is_json_type(const char *ct)
{
    return strncasecmp(ct, "application/json", 16) == 0 &&
           (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ');
}

void
pn_mcp_serve(pn_api_t *a, pn_mhttp_req_t *r)
{
    pn_mcp_server_t srv = {
        .tools = tools, .ntools = sizeof(tools) / sizeof(tools[0]), .ctx = a,
        .name = "postern", .version = POSTERN_VERSION, .instructions = instructions,
    };
    const char *ctype = pn_mhttp_header(r, "Content-Type");
    const char *ver = pn_mhttp_header(r, "MCP-Protocol-Version");
    int status;
    char *out;
    size_t len;

    if (ctype != NULL && !is_json_type(ctype)) {
        status = 415;
        out = pn_mcp_error_text(NULL, PN_MCP_INVALID_REQUEST,
                                "Invalid Request: Content-Type must be application/json");
    } else if (ver != NULL && !pn_mcp_version_ok(ver)) {
        status = 400;
        out = pn_mcp_error_text(NULL, PN_MCP_INVALID_REQUEST, "Invalid Request: unsupported "
                                "MCP-Protocol-Version (this server speaks " PN_MCP_PROTOCOL
                                ", 2025-03-26, 2024-11-05)");
    } else {
        const char *text = pn_mhttp_body(r, &len);
        out = pn_mcp_dispatch(&srv, text, len, &status);
    }
    if (out == NULL) {
        pn_mhttp_reply(r, status, NULL, NULL, 0);
        return;
    }
    pn_mhttp_reply(r, status, "application/json", out, strlen(out));
    free(out);
}
