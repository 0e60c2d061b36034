/* modes/tunnel.h: pieces the tunnel server and client share. */
#ifndef PN_MODES_TUNNEL_H
#define PN_MODES_TUNNEL_H

#include "core/ev.h"
#include "core/list.h"
#include "core/stats.h"
#include "core/xprt.h"
#include "modes/instance.h"
#include "relay/link.h"
#include "net/addr.h"
#include "relay/udp.h"
#include "tunnel/ctrl.h"
#include "tunnel/pool.h"
#include "tunnel/seen.h"
#include "tls/tls.h"

#include <stdint.h>

/* A user connection waiting for a pooled data connection, at most the pool
 * wait; owned by its list. */
struct tun_waiter {
    pn_list_t node;             /* in the mode's waiters list */
    pn_xprt_t *x;               /* owned */
    pn_addr_t src, dst;         /* the user, and the address it reached */
    ev_timer_t *timer;          /* owned: the wait's deadline */
};

/* What both tunnel ends share while a session lives: the control channel and
 * pool of the session, and the exchanges on either side of it. The ends
 * (modes/server.c, modes/client.c) embed it and own the session objects. */
struct tun_side {
    pn_instance_t *in;          /* borrowed */
    const char *name;           /* static: "server" or "client" */
    tun_ctrl_t *ctrl;           /* owned by the end; NULL between sessions */
    tun_pool_t *pool;           /* owned by the end; NULL between sessions */
    int ready;                  /* the session may carry exchanges */
    pn_links_t links;           /* TCP exchanges (closed with the session) */
    udp_group_t *udp;           /* UDP sessions (closed with the session); owned */
    pn_list_t waiters;          /* users waiting for a pooled connection */
    pn_list_t udp_waiters;      /* first datagrams of new UDP users waiting likewise */
    size_t n_udp_waiters;
    uint64_t takes, fails;      /* pool takes in this interval */
    lb_set_t *set;              /* borrowed: the targets this end dials */
    const pn_addr_t *src;       /* borrowed: dial source or NULL */
    void (*on_take)(struct tun_side *sd);  /* optional: a pooled connection was used */
};

/** Prepare <sd> for <in>; the caller then sets <set>, <src>, <on_take>. */
void tun_side_init(struct tun_side *sd, pn_instance_t *in, const char *name);
/** End the session's exchanges (links, UDP sessions); waiters stay. */
void tun_side_close(struct tun_side *sd);
/** Free what <sd> owns (after tun_side_close). */
void tun_side_clear(struct tun_side *sd);
/** A user's TCP connection <x> (owned from now on) from <peer> to <local>:
 *  pair it with a pooled connection (signal, relay) or let it wait. */
void tun_side_user(struct tun_side *sd, pn_xprt_t *x, const pn_addr_t *peer,
                   const pn_addr_t *local);
/** A datagram from a new UDP user (udp_new_peer_cb's arguments). */
void tun_side_udp_peer(struct tun_side *sd, udp_table_t *t, const pn_addr_t *peer,
                       const uint8_t *d, size_t len);
/** A data connection <x> (owned from now on) named <id> became ready: give it
 *  to the oldest waiting user (TCP first, then a UDP user's first datagram);
 *  return 0 when none waits (the caller pools it). */
int tun_side_serve_waiter(struct tun_side *sd, pn_xprt_t *x, const uint8_t *id);
/** The far end: carry the exchange of <type> (PN_FT_TCP/UDP) on <data> (owned
 *  from now on) to a target, telling it about <src>/<dst> with PROXY when set. */
void tun_side_exit(struct tun_side *sd, uint8_t type, pn_xprt_t *data, const pn_addr_t *src,
                   const pn_addr_t *dst);

/** Queue <x> (owned from now on), from <src> to <dst>, on <list> for at most <ms>. */
void tun_waiter_add(ev_loop_t *loop, pn_list_t *list, pn_xprt_t *x, const pn_addr_t *src,
                    const pn_addr_t *dst, uint64_t ms);
/** Pop the oldest waiter's connection (owned by the caller) and its addresses
 *  into <src> and <dst>, or NULL. */
pn_xprt_t *tun_waiter_pop(pn_list_t *list, pn_addr_t *src, pn_addr_t *dst);
/** Close every waiter of <list>. */
void tun_waiters_clear(pn_list_t *list);

/** Once per interval, on either end: when more than half of the <takes> of
 *  pooled connections failed (<fails>), the pooled connections are stale on
 *  one side: flush ours and tell the peer to flush its own. Reset both counts.
 *  <who> prefixes the log line. */
void tun_pool_check(tun_ctrl_t *ctrl, tun_pool_t *pool, uint64_t *takes, uint64_t *fails,
                    const char *who);
/** Set the POOL and PING gauges of <st> from the session's <pool> and <ctrl>
 *  (either may be NULL between sessions). */
void tun_stats_refresh(pn_stats_t *st, const tun_pool_t *pool, const tun_ctrl_t *ctrl);

/** Send a TCP or UDP signal (<type>) naming <id> on <ctrl>, with the user's
 *  address <src> and the address it reached <dst> (either may be NULL). */
int tun_send_signal(tun_ctrl_t *ctrl, uint8_t type, const uint8_t *id, const pn_addr_t *src,
                    const pn_addr_t *dst);
/** Turn <a> (may be NULL or AF_UNSPEC: family 0) into a signal's address TLV <s>. */
void tun_sig_from_addr(const pn_addr_t *a, pn_sig_addr_t *s);
/** Turn a signal's address TLV into <a> (AF_UNSPEC, zeroed, when absent). */
void tun_sig_to_addr(const pn_sig_addr_t *s, pn_addr_t *a);

/** Log the peer's ERROR frame <f> at <lvl> as "<who>: <what> <CODE>: <reason>". */
void tun_log_peer_error(const pn_frame_t *f, enum log_level lvl, const char *who,
                        const char *what);

/** The server side of a greeting that failed with <err> on a connection of
 *  <kind>: nonzero when it counts towards a ban of its source. */
int tun_greet_fault(uint8_t kind, const char *err);
/** Judge a DATA_HELLO for a session: the <proof> of <id> is right under
 *  <secret> and <id> is new in <seen>; a session whose ids ran out is told to
 *  start again (on <ctrl>). Nonzero to accept. */
int tun_data_admit(tun_ctrl_t *ctrl, const uint8_t *secret, tun_seen_t *seen, const uint8_t *id,
                   const uint8_t *proof);
/** A VERIFY frame <f> on the server side of <c>: the fingerprint of the data
 *  certificate the peer saw, against ours <fp>; allowed once (*<verified>)
 *  and only with <tls> 1. <who> names the peer in the log line. */
void tun_verify_check(tun_ctrl_t *c, const pn_frame_t *f, int tls, int *verified,
                      const uint8_t fp[PN_TLS_FP_LEN], const char *who);

/** Exponential backoff with jitter: return the delay to wait now, in ms, from
 *  *<cur> (doubled for next time, capped at <max>). */
uint64_t tun_backoff_next(uint64_t *cur, uint64_t max);

#endif
