/* master/node_sync.h: the manager's pushes and pulls (master/manager.h), on
 * three timers: a push soon after a change, the sync round (POSTERN_NODE_SYNC)
 * for the nodes still behind, the pull round (POSTERN_NODE_PULL). */
#ifndef PN_MASTER_NODE_SYNC_H
#define PN_MASTER_NODE_SYNC_H

#include "master/manager.h"

/** Make and arm the timers of <m>. */
void pn_sync_start(pn_manager_t *m);
/** Push the desired state to <n> now unless a push is in flight. */
void pn_sync_push(pn_mnode_t *n);
/** Push to every node behind the version that has no push in flight. */
void pn_sync_push_behind(pn_manager_t *m);
/** Pull the statistics of every node that has no pull in flight; mark those
 *  not pulled for the down time unavailable. */
void pn_sync_pull_all(pn_manager_t *m);

#endif
