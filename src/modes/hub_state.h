/* modes/hub_state.h: the hub's HUB_STATE line (docs/hub.md), printed at the
 * event level before each CHECK_POINT for the master: the agents attached
 * (account, peer, routes, pool, ping), the routes (type, key, members online,
 * connections) and the accounts' counters, as one compact JSON object; the
 * routes are left out (and "truncated" set) when the line would pass 1 MiB. */
#ifndef PN_MODES_HUB_STATE_H
#define PN_MODES_HUB_STATE_H

#include "modes/hub_types.h"

/** Print the HUB_STATE line of <h>. */
void hub_state_print(struct hub *h);

#endif
