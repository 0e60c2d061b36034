/* net/admit.h: the table behind admission (pure: the caller passes the time).
 *
 * It counts connections that have not finished their head or handshake, per
 * source and in all, and names the one to give up when a new one comes and
 * there is no room:
 *
 *   the source is at its cap     -> that source's oldest unfinished
 *   the table is full            -> the oldest unfinished of the source that
 *                                   holds the most (a flooding source pays,
 *                                   not the others)
 *
 * A source is an IPv4 address, or an IPv6 /64 (one host usually owns a /64).
 * Entries are intrusive (pn_admit_ent_t lives in the caller's connection) and
 * listed oldest first, so one timer over the list's head serves a deadline
 * that is the same for all. net/gate.h puts this on a loop. */
#ifndef PN_NET_ADMIT_H
#define PN_NET_ADMIT_H

#include "core/list.h"
#include "net/addr.h"

#include <stdint.h>

struct admit_src;

typedef struct pn_admit_ent {
    pn_list_t all;              /* in pn_admit.all, oldest first */
    pn_list_t mine;             /* in its source's list, oldest first */
    struct admit_src *src;      /* NULL while not in a table */
    uint64_t since_ms;          /* when it came in */
    void (*kill)(void *arg);    /* net/gate.h: how to end it (evicted, deadline) */
    void *arg;
} pn_admit_ent_t;

typedef struct pn_admit {
    uint32_t max;               /* unfinished connections in all */
    uint32_t per_src;           /* unfinished connections per source */
    uint32_t count;             /* in the table now */
    pn_list_t all;              /* pn_admit_ent_t, oldest first */
    struct admit_src **tab;     /* owned: open addressing over sources, linear probing */
    uint32_t mask;              /* slots - 1 (a power of two >= 2 * nsrc: grows with it) */
    uint32_t nsrc;              /* sources in the table */
} pn_admit_t;

/** Prepare <a> for at most <max> unfinished connections, <per_src> from one
 *  source (both at least 1; per_src is capped at max). */
void pn_admit_init(pn_admit_t *a, uint32_t max, uint32_t per_src);
/** Free what <a> owns; its entries are left out of any table. */
void pn_admit_clear(pn_admit_t *a);
/** The entry to give up so that one more from <src> fits, or NULL when it fits. */
pn_admit_ent_t *pn_admit_victim(pn_admit_t *a, const pn_addr_t *src);
/** Count <e> (not in a table) from <src> at <now_ms>. The caller made room
 *  first (pn_admit_victim): over a cap, the add is refused with PN_ERR. */
int pn_admit_add(pn_admit_t *a, pn_admit_ent_t *e, const pn_addr_t *src, uint64_t now_ms);
/** Take <e> out of its table; a no-op when it is in none (or zeroed). */
void pn_admit_del(pn_admit_t *a, pn_admit_ent_t *e);
/** The oldest entry, or NULL. */
pn_admit_ent_t *pn_admit_oldest(const pn_admit_t *a);
/** How many unfinished connections <src> has now. */
uint32_t pn_admit_held(const pn_admit_t *a, const pn_addr_t *src);

#endif
