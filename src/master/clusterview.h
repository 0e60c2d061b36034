/* master/clusterview.h: the cluster the master's hubs belong to (docs/master.md
 * "Cluster"), put together from the hub states it keeps (master/hubstate.h):
 * every hub that one of them lists as live, with its heartbeat's age, and what
 * it holds: for a hub this master runs, its agents and routes from its own
 * state; for another, its routes as the master's hubs list them. */
#ifndef PN_MASTER_CLUSTERVIEW_H
#define PN_MASTER_CLUSTERVIEW_H

#include "master/super.h"

#include <jansson.h>

/** Return a new object {"hubs": [...], "instances": <n>, "updated": <RFC 3339>|null}
 *  from the hub instances of <s> that are in a cluster; hubs sorted by id. */
json_t *pn_clview_json(pn_super_t *s);

#endif
