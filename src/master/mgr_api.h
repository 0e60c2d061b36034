/* master/mgr_api.h: the manager's endpoints (docs/master.md "Manager"):
 * <prefix>/v1/nodes[/{id}] and <prefix>/v1/users[/{name}]. */
#ifndef PN_MASTER_MGR_API_H
#define PN_MASTER_MGR_API_H

#include "master/http.h"
#include "master/manager.h"

/** Serve <r> when <rest> (after <prefix>/v1) is a manager path: 1 when
 *  answered, 0 otherwise. */
int pn_mgr_api_route(pn_manager_t *m, pn_mhttp_req_t *r, const char *rest);

#endif
