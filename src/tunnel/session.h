/* tunnel/session.h: one tunnel session, on either end: the control channel,
 * the data secret and the replay set of its data channels, the VERIFY state,
 * pool health and statistics, the exchanges it carries (links), and the
 * asynchronous take of a data channel.
 *
 *   accepting end (server: one; hub: one per agent, keyed by tag)
 *       tun_accept (tunnel/accept.h) ─control─> owner ─> tun_sess_attach + tun_sess_hello
 *       tun_accept ─data (proof ok, id new)────> tun_sess_put ─> oldest take, else the pool
 *   dialing end (client, agent)
 *       tun_open control ─> tun_sess_attach; HELLO/VERIFY reach the owner's frame hook
 *       tun_open data ───> tun_sess_put
 *
 *   user ─> tun_sess_take(cb) ─ now, or when a channel is put, or NULL after the wait
 *   signal TCP/UDP(id) ─> tun_sess_take_id ─> the far end of the exchange
 *
 * The session answers FLUSH (close idle channels), VERIFY on the accepting
 * end (the fingerprint the peer saw, once, tls=1 only) and ERROR (logged, then
 * the owner's ended hook); every other frame goes to the owner's frame hook.
 *
 * An owner keeps its session across control channels (server, client) or
 * frees it with its channel (hub): tun_sess_detach ends a channel's state and
 * exchanges but keeps the takes waiting (a client coming back may serve
 * them); tun_sess_clear also fails them. */
#ifndef PN_TUNNEL_SESSION_H
#define PN_TUNNEL_SESSION_H

#include "core/prom.h"
#include "core/ev.h"
#include "core/list.h"
#include "core/log.h"
#include "core/xprt.h"
#include "net/addr.h"
#include "relay/link.h"
#include "tls/tls.h"
#include "tunnel/ctrl.h"
#include "tunnel/dchan.h"
#include "tunnel/frame.h"
#include "tunnel/seen.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tun_sess tun_sess_t;
typedef struct tun_take tun_take_t;

/** A take is done: <data> (owned by the callee) named <id>, or <data> NULL
 *  when the wait passed or the session was cleared. Called once, never from
 *  inside tun_take_cancel(). */
typedef void (*tun_take_cb)(pn_xprt_t *data, const uint8_t *id, void *arg);

typedef struct tun_sess_hooks {
    void *ctx;                  /* borrowed, passed to each hook */
    /** A frame the session does not handle itself (borrowed for the call).
     *  Return PN_OK when handled (the hook may fail the channel itself), PN_ERR
     *  for an unexpected frame (the session fails the channel). */
    int (*frame)(tun_sess_t *s, const pn_frame_t *f, void *ctx);
    /** The control channel ended (<why>: closed, timed out, the peer's
     *  ERROR...). Runs once per attach; the owner detaches or clears the
     *  session (it may free it: nothing of <s> is touched afterwards). */
    void (*ended)(tun_sess_t *s, const char *why, void *ctx);
    /** Optional: a take was asked for (the dialing end refills). */
    void (*taken)(tun_sess_t *s, void *ctx);
} tun_sess_hooks_t;

typedef struct tun_sess_opts {
    const char *who;            /* static: log prefix ("server", "hub", "client", "agent") */
    const char *peer;           /* static: the other end in log lines ("client", "agent", "server") */
    int accepting;              /* the accepting end: judges VERIFY and DATA_HELLO */
    int tls;                    /* the data channels' TLS mode (0, 1, 2) */
    const uint8_t *fp;          /* borrowed: accepting, tls=1: our data certificate's fingerprint */
    uint64_t interval_ms;       /* control channel pings */
    uint64_t wait_ms;           /* how long a take waits for a channel */
    size_t max;                 /* accepting: idle channels accepted from the peer */
} tun_sess_opts_t;

struct tun_sess {
    ev_loop_t *loop;            /* borrowed */
    tun_sess_opts_t o;          /* copied */
    tun_sess_hooks_t hooks;     /* copied */
    tun_ctrl_t *ctrl;           /* owned; NULL while detached */
    tun_dchan_t *dchan;         /* owned; NULL while detached */
    int ready;                  /* may carry exchanges (the owner sets it) */
    uint8_t secret[PN_DATA_SECRET_LEN];
    tun_seen_t seen;            /* accepting: ids proved without epoch (a client that ignores
                                 * HELLO EPOCH), till TUN_SEEN_MAX and the session's rotation */
    tun_seen_win_t win;         /* accepting: ids proved in the last epochs (HELLO EPOCH) */
    uint32_t epoch_s;           /* HELLO EPOCH, sent (accepting) or read (dialing); 0 none */
    uint64_t hello_ms;          /* when HELLO left (accepting) or arrived (dialing) */
    int epoch_proofs;           /* accepting: the peer proved in epochs: no proof without one */
    uint8_t tag[PN_SESSION_TAG_LEN]; /* a hub's session tag (leads every data channel id) */
    int verified;               /* accepting: the peer's VERIFY arrived */
    uint64_t takes, fails;      /* channel takes in this interval, and signals that found none */
    uint64_t takes_total;       /* statistics: every take served */
    pn_links_t links;           /* exchanges (closed on detach); the owner fills its fields */
    pn_list_t takes_waiting;    /* struct tun_take, oldest first */
    size_t nwaiting;
    pn_prom_hist_t *take_hist;  /* borrowed, optional: the wait of every take served
                                 * (0 when a channel was idle), for metrics= */
};

#define TUN_EPOCH_S 30             /* HELLO EPOCH: a data proof's epoch, in seconds */

/** Prepare <s> (detached) with <o> and <h> (copied). The owner then prepares
 *  s->links (pn_links_init and its fields). */
void tun_sess_init(tun_sess_t *s, ev_loop_t *loop, const tun_sess_opts_t *o,
                   const tun_sess_hooks_t *h);
/** Run the session's control channel over the authenticated <x> (owned from
 *  now on): derive the data secret, start pinging, make an empty pool.
 *  PN_ERR (and <x> closed) when the secret cannot be derived. */
int tun_sess_attach(tun_sess_t *s, pn_xprt_t *x);
/** As tun_sess_attach, with the data <secret> (PN_DATA_SECRET_LEN bytes,
 *  copied) given: for a channel whose secret comes another way (tests, a
 *  transport with its own key schedule). */
void tun_sess_attach_keyed(tun_sess_t *s, pn_xprt_t *x, const uint8_t *secret);
/** Accepting end: send HELLO <h> (and VERIFY with our fingerprint for tls=1). */
void tun_sess_hello(tun_sess_t *s, const pn_hello_t *h);
/** End the control channel's state: channel, data channels, replay set,
 *  secret, exchanges. Takes waiting stay. Never calls the ended hook. */
void tun_sess_detach(tun_sess_t *s);
/** Detach, then fail every waiting take (its callback with NULL). */
void tun_sess_clear(tun_sess_t *s);
/** Tell the peer why (ERROR <code>, <why>) and end the channel; the ended
 *  hook follows. No-op while detached. */
void tun_sess_kick(tun_sess_t *s, uint16_t code, const char *why);

/** A data channel for a new exchange: <cb> runs now (and NULL is returned)
 *  or once a channel is put, or with NULL after o.wait_ms or on clear. The
 *  handle returned cancels the wait. */
tun_take_t *tun_sess_take(tun_sess_t *s, tun_take_cb cb, void *arg);
/** Forget a waiting take without its callback. NULL is a no-op. */
void tun_take_cancel(tun_take_t *t);
/** The channel the peer's signal named <id>, counted as a take (or a failed
 *  one); NULL when it is not there. */
pn_xprt_t *tun_sess_take_id(tun_sess_t *s, const uint8_t *id);
/** A ready data channel <x> (owned from now on) named <id>: to the oldest
 *  waiting take, else idle in the data channels (closed when detached). */
void tun_sess_put(tun_sess_t *s, pn_xprt_t *x, const uint8_t *id);
/** Accepting end: judge a DATA_HELLO: <proof> of <id> right under the secret
 *  and <id> new on this channel; a channel whose ids ran out is told to start
 *  again. Nonzero to accept. */
int tun_sess_admit(tun_sess_t *s, const uint8_t *id, const uint8_t *proof);
/** Dialing end: the DATA_HELLO proof of <id> into <proof>, in the current
 *  epoch when the server's HELLO gave one (s->epoch_s, s->hello_ms). */
void tun_sess_proof(const tun_sess_t *s, const uint8_t *id, uint8_t *proof);
/** Once per interval: when more than half the takes of channels failed, the
 *  idle channels are stale on one side: flush ours, tell the peer. Resets the
 *  interval's counts. */
void tun_sess_check(tun_sess_t *s);
/** Idle data channels (0 while detached). */
size_t tun_sess_idle(const tun_sess_t *s);
/** Last round trip of the control channel in ms (0 while detached). */
uint64_t tun_sess_rtt(const tun_sess_t *s);

/** Send a TCP or UDP signal (<type>) naming <id>, with the user's address
 *  <src> and the address it reached <dst> (either may be NULL), and for a
 *  hub the agent's route id <route> (0: none). PN_ERR while detached. */
int tun_sess_signal(tun_sess_t *s, uint8_t type, const uint8_t *id, const pn_addr_t *src,
                    const pn_addr_t *dst, uint32_t route);
/** As tun_sess_signal (no route), plus a TARGET TLV: the far end dials
 *  <host>:<port> (docs/protocol.md §5.2). PN_ERR when detached or <host> is
 *  not valid for a TARGET. */
int tun_sess_signal_target(tun_sess_t *s, uint8_t type, const uint8_t *id, const pn_addr_t *src,
                           const pn_addr_t *dst, const char *host, uint16_t port);
/** Turn <a> (may be NULL or AF_UNSPEC) into a signal's address TLV <sa>. */
void tun_sig_from_addr(const pn_addr_t *a, pn_sig_addr_t *sa);
/** Turn a signal's address TLV into <a> (AF_UNSPEC, zeroed, when absent). */
void tun_sig_to_addr(const pn_sig_addr_t *sa, pn_addr_t *a);

#endif
