/* relay/link.h: one user exchange from its entry transport to its exit, shared
 * by every mode. A link either dials a target of the mode's set (single-end,
 * the tunnel end that reaches the service) or is given its exit (the tunnel end
 * that holds the user), then relays until both directions end.
 *
 * Links belong to a pn_links_t, which holds what every exchange of a mode
 * shares: the instance's counters, the bandwidth bucket, the slot limit, the
 * protocols to block and the PROXY header to send, and closes them all on
 * demand (shutdown, or the end of a tunnel session). */
#ifndef PN_RELAY_LINK_H
#define PN_RELAY_LINK_H

#include "core/bucket.h"
#include "core/ev.h"
#include "core/list.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/xprt.h"
#include "route/lb.h"

typedef struct pn_links {
    ev_loop_t *loop;            /* borrowed */
    pn_stats_t *stats;          /* borrowed: tcps, udps, tcp_rx, tcp_tx, dial_fail, refused */
    lb_set_t *set;              /* borrowed: targets for pn_link_dial, may be NULL */
    const pn_addr_t *src;       /* borrowed: dial source or NULL */
    uint64_t idle_ms;           /* relay idle timeout, 0 = none */
    uint64_t dial_timeout_ms;
    pn_bucket_t *limit;         /* borrowed: instance bandwidth, or NULL */
    uint32_t slot;              /* TCP links + UDP sessions at once; 0 = unlimited */
    unsigned block;             /* 1 << PN_SNIFF_* refused from users */
    int proxy;                  /* PROXY protocol version for dialed targets, 0 = none */
    const char *name;           /* static: log prefix, e.g. "single-end" */
    pn_list_t all;              /* struct pn_link, each owned */
    size_t n;                   /* links in <all> */
    pn_ratelim_t slot_log;      /* "slot limit" warnings, once a second */
    pn_ratelim_t block_log;     /* "blocked" notes, once a second */
    pn_ratelim_t dial_log;      /* failed dials, once a second (out of descriptors: each one) */
} pn_links_t;

#define PN_LINK_PRE_MAX 49152    /* bytes of pn_link_info.pre a pair passes on (a ClientHello, or a
                                  * head and what followed it before an upgrade) */

/* Where an exchange comes from: the user's address and the address it reached. */
typedef struct pn_link_info {
    pn_addr_t src;              /* the user (AF_UNSPEC when unknown) */
    pn_addr_t dst;              /* the address the user connected to */
    int user;                   /* the entry is a user's connection accepted here: sniff it */
    lb_set_t *set;              /* borrowed: pn_link_dial's targets instead of ls->set, or NULL */
    const uint8_t *pre;         /* bytes the user already sent, for the exit first (copied), or NULL */
    size_t pre_len;
    const uint8_t *back;        /* bytes the exit already sent, for the user first (copied), or NULL */
    size_t back_len;            /* at most 64 KiB */
    uint64_t *gauge;            /* borrowed: counts the link while it lives (a hub's route), or NULL */
} pn_link_info_t;

/** Prepare <ls>; fill its fields before use. */
void pn_links_init(pn_links_t *ls, ev_loop_t *loop, pn_stats_t *stats, const char *name);
/** Nonzero when one more exchange (TCP link or UDP session) fits in the slot
 *  limit; otherwise count the refusal and warn (at most once a second). */
int pn_links_admit(pn_links_t *ls);
/** Dial a target of ls->set for <entry> (owned from now on) and relay; <info>
 *  is copied. When no target answers the entry is closed and counted. */
void pn_link_dial(pn_links_t *ls, pn_xprt_t *entry, const pn_link_info_t *info);
/** Relay <entry> and <exit> (both owned from now on); <info> is copied. */
void pn_link_pair(pn_links_t *ls, pn_xprt_t *entry, pn_xprt_t *exit_, const pn_link_info_t *info);
/** Stop counting the links of <ls> in <gauge> (about to be freed). */
void pn_links_forget_gauge(pn_links_t *ls, uint64_t *gauge);
/** Close every link of <ls> now. */
void pn_links_close_all(pn_links_t *ls);

#endif
