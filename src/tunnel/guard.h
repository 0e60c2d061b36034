/* tunnel/guard.h: failed handshakes counted per source address (pure: the
 * caller passes the time). A source with too many failures in a window is
 * refused at accept for a penalty time, before any TLS work is spent on it; a
 * cap on handshakes in progress per source keeps one flooding address from
 * taking every pre-authentication slot. */
#ifndef PN_TUNNEL_GUARD_H
#define PN_TUNNEL_GUARD_H

#include "net/addr.h"

#include <stddef.h>
#include <stdint.h>

#define GUARD_SLOTS 4096            /* sources tracked at once (oldest forgotten first) */

struct guard_entry {
    uint8_t ip[16];             /* the source, IPv4 mapped into IPv6 */
    uint32_t fails;             /* failures in the current window */
    uint32_t pending;           /* handshakes in progress */
    uint64_t window_ms;         /* when the current window started */
    uint64_t banned_until_ms;   /* refused until then, 0 when not */
    uint64_t seen_ms;           /* last activity, for eviction */
    int used;
};

typedef struct tun_guard {
    uint32_t max_fails;         /* failures per window before a ban */
    uint64_t window_ms;         /* the window */
    uint64_t ban_ms;            /* the penalty */
    uint32_t max_pending;       /* handshakes in progress per source */
    struct guard_entry *slots;  /* owned: GUARD_SLOTS entries, open addressing */
} tun_guard_t;

/** Prepare <g>: a ban after <max_fails> failures within <window_ms>, lasting
 *  <ban_ms>; at most <max_pending> handshakes in progress per source. */
void tun_guard_init(tun_guard_t *g, uint32_t max_fails, uint64_t window_ms, uint64_t ban_ms,
                    uint32_t max_pending);
/** Free what <g> owns. */
void tun_guard_clear(tun_guard_t *g);
/** A connection from <src> arrived at <now_ms>: nonzero to greet it (and count
 *  it as pending), zero to close it at once (banned, or too many pending). */
int tun_guard_admit(tun_guard_t *g, const pn_addr_t *src, uint64_t now_ms);
/** The handshake of a connection admitted from <src> ended, <ok> or not.
 *  Return 1 when this failure started a ban (the caller logs it once). */
int tun_guard_done(tun_guard_t *g, const pn_addr_t *src, int ok, uint64_t now_ms);

#endif
