/* master/mcp_tools.h: the master's MCP tools over the API's own functions, and
 * the HTTP side of <prefix>/v1/mcp (docs/master.md, "MCP").
 *
 *   POST <prefix>/v1/mcp --api.c: key, 64 KiB cap--> pn_mcp_serve
 *        --headers checked--> pn_mcp_dispatch (master/mcp.h) --> tools below
 *
 * Tools: list_instances, get_instance, create_instance, update_instance,
 * delete_instance, get_instance_logs, get_metrics, get_info. */
#ifndef PN_MASTER_MCP_TOOLS_H
#define PN_MASTER_MCP_TOOLS_H

#include "master/api.h"
#include "master/http.h"
#include "master/mcp.h"

#include <stddef.h>

#define PN_MCP_LOG_LINES 50         /* get_instance_logs' default */

/** Answer the POST <r> to <prefix>/v1/mcp of the API <a> (key and size already
 *  checked by the API): JSON-RPC in, application/json or 202 out. */
void pn_mcp_serve(pn_api_t *a, pn_mhttp_req_t *r);
/** The master's tool table (static) and its length in *<n>; their context is a
 *  pn_api_t. */
const pn_mcp_tool_t *pn_mcp_tools(size_t *n);

#endif
