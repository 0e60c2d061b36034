/* tunnel/ctrl.h: the control channel: frames over an authenticated transport.
 *
 * Reads frames as they arrive and hands each to the owner's callback, except
 * PING and PONG, which it answers and measures itself. Sends a PING every
 * interval; a channel with nothing received for three intervals is dead.
 * Output is queued (bounded) and flushed as the transport allows. */
#ifndef PN_TUNNEL_CTRL_H
#define PN_TUNNEL_CTRL_H

#include "core/ev.h"
#include "core/xprt.h"
#include "tunnel/frame.h"

#include <stdint.h>

typedef struct tun_ctrl tun_ctrl_t;

/** A frame arrived (never PING/PONG); <f> and its payload are borrowed for the
 *  call. The callback may call tun_ctrl_free(). */
typedef void (*tun_ctrl_frame_cb)(tun_ctrl_t *c, const pn_frame_t *f, void *ctx);
/** The channel ended: <err> says why (peer closed, timeout, malformed input).
 *  Called at most once, never after tun_ctrl_free(); the owner then frees it. */
typedef void (*tun_ctrl_close_cb)(tun_ctrl_t *c, const char *err, void *ctx);

/** Run a control channel over the established <x> (owned from now on), pinging
 *  every <interval_ms>. Never NULL. */
tun_ctrl_t *tun_ctrl_new(ev_loop_t *loop, pn_xprt_t *x, uint64_t interval_ms,
                         tun_ctrl_frame_cb on_frame, tun_ctrl_close_cb on_close, void *ctx);
/** Queue one frame of <type> with <payload> (<len> bytes). PN_ERR when the
 *  channel is closing or its output queue is over its bound. */
int tun_ctrl_send(tun_ctrl_t *c, uint8_t type, const void *payload, size_t len);
/** Send ERROR(<code>, <reason>), try to flush it right away, and end the channel
 *  (the close callback follows with <reason>). */
void tun_ctrl_fail(tun_ctrl_t *c, uint16_t code, const char *reason);
/** Last measured round trip in ms (0 before the first PONG). */
uint64_t tun_ctrl_rtt(const tun_ctrl_t *c);
/** The transport (borrowed), e.g. to export keying material. */
pn_xprt_t *tun_ctrl_xprt(tun_ctrl_t *c);
/** Close the transport and free <c>, now or, from inside one of its own
 *  callbacks, as soon as that callback returns. NULL is a no-op. */
void tun_ctrl_free_(tun_ctrl_t *c);
#define tun_ctrl_free(p) do { tun_ctrl_free_(p); (p) = NULL; } while (0)

#endif
