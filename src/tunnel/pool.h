/* tunnel/pool.h: the idle pooled data connections of one tunnel session, on
 * either end, found by id (a TCP/UDP signal names one) or oldest first.
 *
 * Idle connections are watched: one whose peer closes is dropped at once. One
 * that turns readable (the peer started using it, its signal is on its way) is
 * left alone, unwatched, until it is taken. */
#ifndef PN_TUNNEL_POOL_H
#define PN_TUNNEL_POOL_H

#include "core/ev.h"
#include "core/xprt.h"
#include "tunnel/frame.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tun_pool tun_pool_t;

/** Make an empty pool. Never NULL. */
tun_pool_t *tun_pool_new(ev_loop_t *loop);
/** Add the ready data connection <x> (owned by the pool from now on) under <id>. */
void tun_pool_add(tun_pool_t *p, const uint8_t id[PN_CONN_ID_LEN], pn_xprt_t *x);
/** Take the oldest connection, copying its id into <id>; NULL when empty. The
 *  caller owns the result. */
pn_xprt_t *tun_pool_take(tun_pool_t *p, uint8_t id[PN_CONN_ID_LEN]);
/** Take the connection named <id>; NULL when it is not in the pool. */
pn_xprt_t *tun_pool_take_id(tun_pool_t *p, const uint8_t id[PN_CONN_ID_LEN]);
/** Number of idle connections. */
size_t tun_pool_size(const tun_pool_t *p);
/** Close idle connections, oldest first, until at most <keep> remain. */
void tun_pool_trim(tun_pool_t *p, size_t keep);
/** Close every idle connection and free <p>. NULL is a no-op. */
void tun_pool_free_(tun_pool_t *p);
#define tun_pool_free(p) do { tun_pool_free_(p); (p) = NULL; } while (0)

#endif
