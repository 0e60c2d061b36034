/* modes/tunnel.h: what the tunnel server and client (and the agent) share
 * around their one session (tunnel/session.h): the users waiting for a data
 * channel, the UDP sessions, the far end of an exchange, and backoff. */
#ifndef PN_MODES_TUNNEL_H
#define PN_MODES_TUNNEL_H

#include "core/ev.h"
#include "core/list.h"
#include "core/stats.h"
#include "core/xprt.h"
#include "modes/instance.h"
#include "net/addr.h"
#include "relay/entry.h"
#include "relay/link.h"
#include "relay/udp.h"
#include "tunnel/session.h"

#include <stdint.h>

/* One tunnel end's session and the exchanges on either side of it. The ends
 * (modes/server.c, modes/client.c) embed it; the session is kept across
 * control channels (attached while one lives). */
struct pn_mode_side {
    pn_instance_t *in;          /* borrowed */
    const char *name;           /* static: "server", "client" or "agent" */
    tun_sess_t sess;            /* the session; its links are the TCP exchanges */
    udp_group_t *udp;           /* UDP sessions (closed with the session); owned */
    pn_list_t udp_waiters;      /* first datagrams of new UDP users waiting for a channel */
    size_t n_udp_waiters;
    lb_set_t *set;              /* borrowed: the targets this end dials */
    const pn_addr_t *src;       /* borrowed: dial source or NULL */
    pn_entry_t **user_entry;    /* borrowed: the mode's user listener (closed by a drain), or NULL */
    int draining;               /* stopping gracefully: new exchanges from the peer refused */
    struct pn_mode_egress *egress; /* owned: egress=1's state (modes/egress.h), or NULL */
};

/** Prepare <sd> for <in> with its session's options <o> and hooks <h>; the
 *  caller then sets <set>, <src> (and the links' set and src). */
void pn_mode_side_init(struct pn_mode_side *sd, pn_instance_t *in, const char *name,
                   const tun_sess_opts_t *o, const tun_sess_hooks_t *h);
/** End the control channel's state and its exchanges (links, UDP sessions);
 *  users waiting stay. */
void pn_mode_side_close(struct pn_mode_side *sd);
/** Free what <sd> owns (users waiting are closed). */
void pn_mode_side_clear(struct pn_mode_side *sd);
/** A user's TCP connection <x> (owned from now on) from <peer> to <local>:
 *  take a data channel (now or when one comes), signal, relay. */
void pn_mode_side_user(struct pn_mode_side *sd, pn_xprt_t *x, const pn_addr_t *peer,
                   const pn_addr_t *local);
/** A datagram from a new UDP user (udp_new_peer_cb's arguments). */
void pn_mode_side_udp_peer(struct pn_mode_side *sd, udp_table_t *t, const pn_addr_t *peer,
                       const uint8_t *d, size_t len);
/** The far end: carry the exchange of <type> (PN_FT_TCP/UDP) on <data> (owned
 *  from now on) to a target, telling it about <src>/<dst> with PROXY when set. */
void pn_mode_side_exit(struct pn_mode_side *sd, uint8_t type, pn_xprt_t *data, const pn_addr_t *src,
                   const pn_addr_t *dst);
/** Give <in> the graceful shutdown of the tunnel end <sd>: on the signal the
 *  user listener *<sd>.user_entry (if any) closes and the exchanges the peer
 *  starts are refused; the drain waits for the open TCP exchanges. UDP is
 *  served until the final stop, as in the single-end forwarder. */
void pn_mode_side_drains(struct pn_mode_side *sd, pn_instance_t *in);

/** Set the POOL and PING gauges of <st> from the session. */
void pn_mode_side_stats(const struct pn_mode_side *sd, pn_stats_t *st);

/** Exponential backoff with jitter: return the delay to wait now, in ms, from
 *  *<cur> (doubled for next time, capped at <max>). */
uint64_t pn_mode_backoff_next(uint64_t *cur, uint64_t max);

#endif
