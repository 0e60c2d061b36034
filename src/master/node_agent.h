/* master/node_agent.h: the node side of a master (docs/master.md "Nodes"):
 * every master is a node that a manager configures and reads.
 *
 *   PUT <prefix>/v1/node/config   the complete desired state (master/node_conf.h),
 *                                 applied at once: instances created, changed or
 *                                 removed to match, unchanged ones untouched, the
 *                                 users written to the entrances' users file and
 *                                 each running entrance told to reload (SIGHUP)
 *   GET <prefix>/v1/node/config   the version applied and its metadata
 *   GET <prefix>/v1/node/stats    per-user and per-entrance counters
 *
 * The node token is the master's API key (Authorization: Bearer, checked in
 * constant time by the API before these run). The instances a configuration
 * made carry the tag "postern-node" ("entrance:<name>" or "tunnel:<name>"); no
 * other instance is touched. */
#ifndef PN_MASTER_NODE_AGENT_H
#define PN_MASTER_NODE_AGENT_H

#include "master/http.h"
#include "master/store.h"
#include "master/super.h"

#include <jansson.h>

#define PN_NODE_TAG "postern-node"

typedef struct pn_node_agent pn_node_agent_t;

/** Make the node side over <super> and <store> (borrowed): its instances carry
 *  the tag <tag> (PN_NODE_TAG; static), its users file is <db><suffix>
 *  (".users.json", next to the database, mode 0600), its applied version the
 *  setting <state_key> ("node_state"). A second one (the manager's own relay
 *  entrance) uses other names and leaves the first one's instances alone.
 *  Never NULL. */
pn_node_agent_t *pn_node_agent_new(pn_super_t *super, pn_store_t *store, const char *db,
                                   const char *tag, const char *suffix, const char *state_key);
/** Apply the configuration body <text> (<len> bytes) as PUT /node/config does:
 *  the answer object (a new reference, *<status> 200), or NULL with *<status>
 *  400, 409 or 503 and <err>, <field>. */
json_t *pn_node_agent_apply(pn_node_agent_t *g, const char *text, size_t len, int *status,
                            char *err, char field[64]);
/** Free <g>. NULL is a no-op. */
void pn_node_agent_free_(pn_node_agent_t *g);
#define pn_node_agent_free(p) do { pn_node_agent_free_(p); (p) = NULL; } while (0)

/** Serve <r> when <rest> (the path after <prefix>/v1) is /node/config or
 *  /node/stats: 1 when answered, 0 when the path is not the node's. */
int pn_node_agent_route(pn_node_agent_t *g, pn_mhttp_req_t *r, const char *rest);
/** The version <g> applied last (0: none). */
int64_t pn_node_agent_version(const pn_node_agent_t *g);
/** The per-user counters of the node's entrances: an object name ->
 *  [up, down, conns, refused, open] (a new reference). */
json_t *pn_node_agent_users(pn_node_agent_t *g);

#endif
