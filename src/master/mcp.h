/* master/mcp.h: the Model Context Protocol's JSON-RPC 2.0 dispatcher (pure).
 *
 * One POST body of the Streamable HTTP transport in, one response body out:
 *
 *   body --json--> request? --method--> initialize | ping | tools/list | tools/call
 *                  notification or response (no id) --> nothing to send (HTTP 202)
 *
 * tools/call checks the arguments against the tool's input schema (the subset of
 * JSON Schema described in mcp.c) before the tool runs, so a tool sees only
 * arguments of the right names and types. Errors: parse -32700 and invalid request
 * -32600 (HTTP 400), unknown method -32601, invalid params -32602 whose message
 * starts with "<field>: " and whose data is {"field": "<field>"}; a tool that
 * fails answers a result with isError true and its message as text.
 *
 * The master's tools and the HTTP side are master/mcp_tools.h. */
#ifndef PN_MASTER_MCP_H
#define PN_MASTER_MCP_H

#include "core/err.h"

#include <jansson.h>
#include <stddef.h>

#define PN_MCP_PROTOCOL "2025-06-18"    /* the newest version spoken; also 2025-03-26, 2024-11-05 */
#define PN_MCP_FIELD_LEN 64

#define PN_MCP_PARSE_ERROR (-32700)
#define PN_MCP_INVALID_REQUEST (-32600)
#define PN_MCP_NO_METHOD (-32601)
#define PN_MCP_INVALID_PARAMS (-32602)

enum pn_mcp_rc {
    PN_MCP_OK = 0,              /* *out holds the result */
    PN_MCP_FAILED,              /* the tool failed: <err> is its message (isError) */
    PN_MCP_BADARG,              /* an argument is wrong: <err> "<field>: ...", <field> set */
};

/* Tool hints (MCP tool annotations). */
#define PN_MCP_READONLY 0x1u
#define PN_MCP_DESTRUCTIVE 0x2u
#define PN_MCP_IDEMPOTENT 0x4u

/** Run a tool on <args> (an object that fits its schema; borrowed). On PN_MCP_OK
 *  *<out> gets a new JSON value: a string is sent as text, an object as text and
 *  as structuredContent. Otherwise fill <err> (PN_ERR_LEN) and, for PN_MCP_BADARG,
 *  <field>. */
typedef enum pn_mcp_rc (*pn_mcp_call_cb)(void *ctx, json_t *args, json_t **out, char *err,
                                         char field[PN_MCP_FIELD_LEN]);

typedef struct pn_mcp_tool {
    const char *name;           /* static, like every string here */
    const char *title;
    const char *description;
    const char *schema;         /* the input schema as JSON text */
    unsigned hints;             /* PN_MCP_READONLY... */
    pn_mcp_call_cb call;
} pn_mcp_tool_t;

typedef struct pn_mcp_server {
    const pn_mcp_tool_t *tools; /* borrowed */
    size_t ntools;
    void *ctx;                  /* passed to every tool */
    const char *name;           /* serverInfo */
    const char *version;
    const char *instructions;   /* for the client's model; may be NULL */
} pn_mcp_server_t;

/** Answer the POST body <body> (<len> bytes) for <s>: return the response body as
 *  a new string (the caller frees it), or NULL when there is nothing to answer (a
 *  notification or a response: HTTP 202). *<status> gets the HTTP status. */
char *pn_mcp_dispatch(const pn_mcp_server_t *s, const char *body, size_t len, int *status);
/** Check <args> (borrowed, any JSON) against the input <schema>: PN_OK, or
 *  PN_ERR with <err> "<field>: <reason>" and <field>. */
int pn_mcp_check_args(const json_t *schema, const json_t *args, char *err,
                      char field[PN_MCP_FIELD_LEN]);
/** Nonzero when protocol version <v> (may be NULL) is one this server speaks. */
int pn_mcp_version_ok(const char *v);
/** Return a new JSON-RPC error response {"jsonrpc","id","error":{"code","message"}}
 *  as text; <id> may be NULL (sent as null). */
char *pn_mcp_error_text(const json_t *id, int code, const char *msg);

#endif
