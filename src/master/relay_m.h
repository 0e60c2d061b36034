/* master/relay_m.h: the manager's own relay entrance over its available nodes,
 * and the counting of its users' bytes (see relay_m.c). */
#ifndef PN_MASTER_RELAY_M_H
#define PN_MASTER_RELAY_M_H

#include "master/manager.h"

/** Apply the relay entrance again when the available nodes' relay tunnels or
 *  the users changed since it was last applied (nothing without a relay URL
 *  ever set, or without pn_manager_t.local_apply). */
void pn_relay_update(pn_manager_t *m);
/** Add the bytes this master's own entrances counted for each user since the
 *  last call to the users' usage. */
void pn_relay_count(pn_manager_t *m);

#endif
