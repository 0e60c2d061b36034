/* master/fleet.h: the node and manager sides of a master (docs/master.md
 * "Nodes"), behind the API's one hook (pn_api_t.fleet): every master is a node
 * (master/node_agent.h) and may manage nodes and users (master/nodes.h). */
#ifndef PN_MASTER_FLEET_H
#define PN_MASTER_FLEET_H

#include "core/ev.h"
#include "master/api.h"

typedef struct pn_fleet pn_fleet_t;

/** Make the node and manager sides for the API <a> (borrowed: its loop,
 *  store, supervisor and events) with the database path <db>. Never NULL. */
pn_fleet_t *pn_fleet_new(pn_api_t *a, const char *db);
/** Free <f>; pushes and pulls in flight are cancelled. NULL is a no-op. */
void pn_fleet_free_(pn_fleet_t *f);
#define pn_fleet_free(p) do { pn_fleet_free_(p); (p) = NULL; } while (0)
/** The pn_api_t.fleet hook: <a>->fleet_ctx is the pn_fleet_t. */
int pn_fleet_route(pn_api_t *a, pn_mhttp_req_t *r, const char *rest);

#endif
