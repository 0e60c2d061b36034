/* tunnel/dchan.h: the data channels of one tunnel session behind one
 * interface. An exchange (a user's TCP connection, a UDP user) travels on a
 * data channel of its own: a byte stream to the peer, named by a connection
 * id that a TCP/UDP signal on the control channel carries.
 *
 *   pool (tun_dchan_pool_new): pre-warmed TCP (+TLS) connections, opened by the
 *   dialing end ahead of need and handed over idle: put() adds one, take()
 *   hands out the oldest, take_id() the one a signal names.
 *
 * The multiplexed HTTP/2 transport (type=3, tls/h2_mux.h) uses the pool as
 * it is: its channels are streams of one connection, opened ahead of need by
 * the dialing end (only an HTTP/2 client opens streams, and the accepting end
 * takes channels too). The contract of each call is in
 * docs/internals/tunnel.md. */
#ifndef PN_TUNNEL_DCHAN_H
#define PN_TUNNEL_DCHAN_H

#include "core/ev.h"
#include "core/xprt.h"
#include "tunnel/frame.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tun_dchan tun_dchan_t;

typedef struct tun_dchan_ops {
    const char *name;           /* static: "pool", ... */
    /** A ready channel <x> (owned from now on) named <id>: from the peer, or
     *  one this end opened. Kept until taken or closed. */
    void (*put)(tun_dchan_t *d, const uint8_t id[PN_CONN_ID_LEN], pn_xprt_t *x);
    /** A channel for a new exchange now, its id in <id>; NULL when none can
     *  be had this instant (the session then waits for put()). Caller owns it. */
    pn_xprt_t *(*take)(tun_dchan_t *d, uint8_t id[PN_CONN_ID_LEN]);
    /** The channel the peer named <id> in a signal; NULL when unknown. */
    pn_xprt_t *(*take_id)(tun_dchan_t *d, const uint8_t id[PN_CONN_ID_LEN]);
    /** Channels ready and not taken (the POOL gauge). */
    size_t (*idle)(const tun_dchan_t *d);
    /** How many channels the dialing end should open now to have <target>
     *  ready (0 for a transport whose take() opens streams itself). */
    size_t (*want)(const tun_dchan_t *d, size_t target);
    /** Close idle channels, oldest first, until at most <keep> remain. */
    void (*trim)(tun_dchan_t *d, size_t keep);
    /** Close every channel not taken and free <d>. */
    void (*free)(tun_dchan_t *d);
} tun_dchan_ops_t;

/* Implementations embed this first. */
struct tun_dchan {
    const tun_dchan_ops_t *ops; /* static */
};

static inline void
tun_dchan_put(tun_dchan_t *d, const uint8_t *id, pn_xprt_t *x)
{
    d->ops->put(d, id, x);
}

static inline pn_xprt_t *
tun_dchan_take(tun_dchan_t *d, uint8_t *id)
{
    return d->ops->take(d, id);
}

static inline pn_xprt_t *
tun_dchan_take_id(tun_dchan_t *d, const uint8_t *id)
{
    return d->ops->take_id(d, id);
}

static inline size_t
tun_dchan_idle(const tun_dchan_t *d)
{
    return d->ops->idle(d);
}

static inline size_t
tun_dchan_want(const tun_dchan_t *d, size_t target)
{
    return d->ops->want(d, target);
}

static inline void
tun_dchan_trim(tun_dchan_t *d, size_t keep)
{
    d->ops->trim(d, keep);
}

/** Close every channel (close all) and free <d>. NULL is a no-op. */
static inline void
tun_dchan_free_(tun_dchan_t *d)
{
    if (d != NULL)
        d->ops->free(d);
}
#define tun_dchan_free(p) do { tun_dchan_free_(p); (p) = NULL; } while (0)

/** The first implementation: a pool of idle pre-warmed connections
 *  (tunnel/pool.h). Never NULL. */
tun_dchan_t *tun_dchan_pool_new(ev_loop_t *loop);

#endif
