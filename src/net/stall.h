/* net/stall.h: a progress deadline for writes toward a peer that stopped
 * reading (a user that pipelines requests, or asks for a large body, and never
 * reads the answers). One per loop, shared by every listener on it.
 *
 *   bytes wait for the peer ──> pn_stall_note(pending > 0)  clock starts
 *   some bytes went out     ──> pn_stall_note(moved)        clock starts over
 *   nothing left to write   ──> pn_stall_note(pending 0)    out of the list
 *   no byte for <timeout>   ──> kill(arg)                   once, after it is out
 *
 * Entries are intrusive and listed by their last progress, oldest first
 * (progress moves one to the tail), so one timer over the head serves them
 * all. A close is logged at most once a second, with a count. */
#ifndef PN_NET_STALL_H
#define PN_NET_STALL_H

#include "core/ev.h"
#include "core/list.h"

#include <stdint.h>

typedef struct pn_stall pn_stall_t;

typedef struct pn_stall_ent {
    pn_list_t node;             /* in the stall list while bytes wait */
    uint64_t since_ms;          /* the last progress */
    int in;                     /* listed */
    void (*kill)(void *arg);
    void *arg;
    const char *peer;           /* borrowed: the peer's address, for the log; or NULL */
} pn_stall_ent_t;

/** A stall watch on <loop>: <timeout_ms> without a byte drained ends a connection
 *  (0: never). Never NULL. */
pn_stall_t *pn_stall_new(ev_loop_t *loop, uint64_t timeout_ms);
/** Free <d>; its entries are left to their owners. NULL is a no-op. */
void pn_stall_free_(pn_stall_t *d);
#define pn_stall_free(p) do { pn_stall_free_(p); (p) = NULL; } while (0)
/** After a write attempt on the connection holding <e> (zeroed at first):
 *  <pending> bytes still wait for the peer, <moved> nonzero when some went
 *  out (or when the wait is not the peer's doing, e.g. bandwidth pacing).
 *  kill(arg) ends the connection when <pending> stays above 0 for the timeout
 *  without progress; <who> (static) and e->peer name it in the log. */
void pn_stall_note(pn_stall_t *d, pn_stall_ent_t *e, size_t pending, int moved,
                   const char *who, void (*kill)(void *arg), void *arg);
/** The connection holding <e> ends. Idempotent. */
void pn_stall_del(pn_stall_t *d, pn_stall_ent_t *e);
/** Connections ended for not reading, since <d> was made. */
uint64_t pn_stall_killed(const pn_stall_t *d);

#endif
