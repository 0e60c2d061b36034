/* net/gate.h: admission for a listener, on the loop: the one mechanism every
 * port facing users or peers uses (net/admit.h is its table).
 *
 *   accept ──> pn_gate_enter(e, src)   counted as unfinished; room is made
 *                 │                     first (a source's oldest, or the
 *                 │                     heaviest source's oldest) and the
 *                 │                     one given up is ended by its kill()
 *   head done ──> pn_gate_leave(e)      (or the connection closed)
 *   deadline  ──> kill()                the whole head or handshake, once, from
 *                                       entry: one timer over the oldest
 *
 *   accept() fails for want of a resource (EMFILE, ENFILE, ENOBUFS, ENOMEM)
 *   ──> pn_gate_accept_failed: the caller has stopped accepting; the oldest
 *       unfinished connections are ended to free descriptors, and resume()
 *       runs after a back-off (50 ms doubling to 1 s, back to 50 ms after an
 *       accept that works). Log lines: at most one a second, with a count.
 *
 * The caps default from RLIMIT_NOFILE (a quarter of it for unfinished
 * connections, at least 16 and at most 4096; an eighth of that per source,
 * at least 8), so that slow clients can never take every descriptor.
 *
 * A plain TCP port (no head) also caps its LIVE connections per source
 * (pn_gate_live_on, pn_gate_live): counted from accept until the transport is
 * freed; one over the cap is closed at once. */
#ifndef PN_NET_GATE_H
#define PN_NET_GATE_H

#include "core/ev.h"
#include "core/xprt.h"
#include "net/admit.h"

#include <stdint.h>

typedef struct pn_gate pn_gate_t;

typedef struct pn_gate_opts {
    const char *who;            /* log prefix ("hub: http"), copied (63 bytes at most) */
    uint64_t deadline_ms;       /* the whole head or handshake */
    uint32_t max;               /* unfinished in all; 0: from RLIMIT_NOFILE */
    uint32_t per_src;           /* unfinished per source; 0: max / 8, at least 8 */
} pn_gate_opts_t;

typedef struct pn_gate_stats {
    uint64_t evicted;           /* ended to make room */
    uint64_t expired;           /* ended at the deadline */
    uint64_t pauses;            /* accept failures that paused the listener */
    uint64_t refused_live;      /* refused: their source held the live cap */
} pn_gate_stats_t;

/** A gate on <loop> with <o> (copied). Never NULL. POSTERN_GATE_MAX and
 *  POSTERN_GATE_PER_SRC, when set, replace the defaults (tests). */
pn_gate_t *pn_gate_new(ev_loop_t *loop, const pn_gate_opts_t *o);
/** Free <g>; its connections are left to their owners. NULL is a no-op. */
void pn_gate_free_(pn_gate_t *g);
#define pn_gate_free(p) do { pn_gate_free_(p); (p) = NULL; } while (0)
/** Count the connection holding <e> (zeroed, or left) from <src> as
 *  unfinished until pn_gate_leave. kill(arg) ends it when it is evicted or its
 *  deadline passes (after it has been taken out: kill may call pn_gate_leave).
 *  Other connections may be ended (their kill) before this returns. */
void pn_gate_enter(pn_gate_t *g, pn_admit_ent_t *e, const pn_addr_t *src,
                   void (*kill)(void *arg), void *arg);
/** The head or handshake of <e> finished, or its connection ended. Idempotent. */
void pn_gate_leave(pn_gate_t *g, pn_admit_ent_t *e);
/** Nonzero while <e> is counted. */
int pn_gate_holds(const pn_admit_ent_t *e);
/** accept() failed with <err>. Return 0 when it is transient (EAGAIN,
 *  ECONNABORTED, ...: accept again on the next readiness). Otherwise the
 *  caller must stop watching its listener: return 1, and resume(arg) runs
 *  after the back-off, once. */
int pn_gate_accept_failed(pn_gate_t *g, int err, void (*resume)(void *arg), void *arg);
/** An accept worked: the back-off starts over. */
void pn_gate_accept_ok(pn_gate_t *g);
/** Cap the LIVE connections per source on this listener (a plain TCP port, where
 *  a connection has no head to wait for): POSTERN_LIVE_PER_SRC, by default a
 *  quarter of RLIMIT_NOFILE (each relay takes two descriptors), at least 64; 0
 *  turns it off. Not for ports one peer legitimately fills (the tunnel port). */
void pn_gate_live_on(pn_gate_t *g);
/** A connection from <src> was accepted as <x>: PN_OK, and it is counted until
 *  <x> is freed (x->on_free); PN_ERR when <src> already holds the cap (the caller
 *  closes it; counted, logged at most once a second). PN_OK when not capped. */
int pn_gate_live(pn_gate_t *g, pn_xprt_t *x, const pn_addr_t *src);
/** Counters since <g> was made. */
void pn_gate_stats(const pn_gate_t *g, pn_gate_stats_t *out);

#endif
