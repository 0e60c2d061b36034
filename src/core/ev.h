/* core/ev.h: the event loop facade. Only core/ev.c includes libevent's headers
 * (as Tor's compat_libevent does), so the rest of postern sees this small API:
 * a loop, I/O watchers with a read/write mask, timers whose callback returns its
 * next delay, deferred callbacks (run on the next loop turn, used to reap
 * objects outside their own callbacks) and signal watchers. */
#ifndef PN_CORE_EV_H
#define PN_CORE_EV_H

#include <stdint.h>

#define EV_RD 0x1   /* readable */
#define EV_WR 0x2   /* writable */

#define EV_TIMER_STOP (-1L)   /* returned by a timer callback: do not re-arm */

typedef struct ev_loop ev_loop_t;
typedef struct ev_io ev_io_t;
typedef struct ev_timer ev_timer_t;
typedef struct ev_defer ev_defer_t;

/** Called with the <fd>, the ready mask (EV_RD|EV_WR) and the watcher's <ctx>. */
typedef void (*ev_io_cb)(int fd, int ready, void *ctx);
/** Return the delay in ms before the next call, or EV_TIMER_STOP. */
typedef long (*ev_timer_cb)(ev_timer_t *t, void *ctx);
/** A deferred or signal callback. */
typedef void (*ev_defer_cb)(void *ctx);

/** Create a loop; never NULL (aborts when libevent cannot start). */
ev_loop_t *ev_loop_new(void);
/** Free <loop>; every watcher must have been freed first. */
void ev_loop_free_(ev_loop_t *loop);
#define ev_loop_free(l) do { ev_loop_free_(l); (l) = NULL; } while (0)
/** Run until ev_loop_stop() or until nothing is left to watch; 0 or -1. */
int ev_loop_run(ev_loop_t *loop);
/** Make ev_loop_run() return after the current callbacks. */
void ev_loop_stop(ev_loop_t *loop);
/** The libevent base behind <loop>, for modules wrapping libevent's own servers
 *  (evhttp, evdns). Returned as void * so callers need libevent's headers to use it. */
void *ev_loop_base(ev_loop_t *loop);

/** Watch <fd>; nothing is armed until ev_io_set(). Never NULL. */
ev_io_t *ev_io_new(ev_loop_t *loop, int fd, ev_io_cb cb, void *ctx);
/** Arm exactly the events in <mask> (EV_RD|EV_WR, 0 for none); cheap when unchanged. */
void ev_io_set(ev_io_t *io, int mask);
/** Return the mask currently armed. */
int ev_io_mask(const ev_io_t *io);
/** Disarm and free <io>; the fd is not closed. NULL is a no-op. */
void ev_io_free_(ev_io_t *io);
#define ev_io_free(p) do { ev_io_free_(p); (p) = NULL; } while (0)

/** Create a disarmed timer. Never NULL. */
ev_timer_t *ev_timer_new(ev_loop_t *loop, ev_timer_cb cb, void *ctx);
/** (Re)arm <t> to fire once in <ms> milliseconds (its callback may re-arm it). */
void ev_timer_arm(ev_timer_t *t, uint64_t ms);
/** Disarm <t> if it is pending. */
void ev_timer_disarm(ev_timer_t *t);
/** Disarm and free <t>. NULL is a no-op. */
void ev_timer_free_(ev_timer_t *t);
#define ev_timer_free(p) do { ev_timer_free_(p); (p) = NULL; } while (0)

/** Create a deferred callback that runs once per ev_defer_schedule(). Never NULL. */
ev_defer_t *ev_defer_new(ev_loop_t *loop, ev_defer_cb cb, void *ctx);
/** Run <d>'s callback on the next loop turn (once, however often scheduled). */
void ev_defer_schedule(ev_defer_t *d);
/** Cancel and free <d>. NULL is a no-op. */
void ev_defer_free_(ev_defer_t *d);
#define ev_defer_free(p) do { ev_defer_free_(p); (p) = NULL; } while (0)

/** Call <cb>(<ctx>) from the loop when <signum> arrives. Never NULL. */
ev_defer_t *ev_signal_new(ev_loop_t *loop, int signum, ev_defer_cb cb, void *ctx);

/** Milliseconds on the monotonic clock. */
uint64_t pn_now_ms(void);

#endif
