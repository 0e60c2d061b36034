/* modes/link.h: one user exchange from its entry transport to its exit, shared
 * by every mode. A link either dials a target of the mode's set (single-end,
 * the tunnel end that reaches the service) or is given its exit (the tunnel end
 * that holds the user), then relays until both directions end.
 *
 * Links belong to a pn_links_t, which counts them into the instance's stats
 * and closes them all on demand (shutdown, or the end of a tunnel session). */
#ifndef PN_MODES_LINK_H
#define PN_MODES_LINK_H

#include "core/ev.h"
#include "core/list.h"
#include "core/stats.h"
#include "core/xprt.h"
#include "route/lb.h"

typedef struct pn_links {
    ev_loop_t *loop;            /* borrowed */
    pn_stats_t *stats;          /* borrowed: tcps, tcp_rx, tcp_tx, dial_fail */
    lb_set_t *set;              /* borrowed: targets for pn_link_dial, may be NULL */
    const pn_addr_t *src;       /* borrowed: dial source or NULL */
    uint64_t idle_ms;           /* relay idle timeout, 0 = none */
    uint64_t dial_timeout_ms;
    const char *name;           /* static: log prefix, e.g. "single-end" */
    pn_list_t all;              /* struct pn_link, each owned */
} pn_links_t;

/** Prepare <ls>; fill its fields before use. */
void pn_links_init(pn_links_t *ls, ev_loop_t *loop, pn_stats_t *stats, const char *name);
/** Dial a target of ls->set for <entry> (owned from now on) and relay. When no
 *  target answers the entry is closed and stats->dial_fail counted. */
void pn_link_dial(pn_links_t *ls, pn_xprt_t *entry);
/** Relay <entry> and <exit> (both owned from now on). */
void pn_link_pair(pn_links_t *ls, pn_xprt_t *entry, pn_xprt_t *exit_);
/** Close every link of <ls> now. */
void pn_links_close_all(pn_links_t *ls);
/** Number of links in <ls> (dialing or relaying). */
size_t pn_links_count(const pn_links_t *ls);

#endif
