/* core/bucket.h: a token bucket (pure: the caller passes the time).
 *
 * One bucket is shared by everything it limits (an instance's connections in
 * both directions, TCP and UDP; later an account's or a connection's), all on
 * one loop, so it needs no lock. Tokens are bytes; they accrue at <rate> per
 * second up to <burst>. */
#ifndef PN_CORE_BUCKET_H
#define PN_CORE_BUCKET_H

#include <stdint.h>

typedef struct pn_bucket {
    uint64_t rate;              /* bytes per second; 0 = unlimited */
    uint64_t burst;             /* most tokens held, bytes */
    uint64_t tokens;            /* bytes available now */
    uint64_t last_us;           /* when tokens were last added, microseconds */
    uint64_t rem;               /* fraction of a byte accrued, in byte-microseconds per second (< 1e6) */
    uint64_t taken;             /* bytes granted and not given back since init (a limited
                                 * bucket only): what its users used, for sharing a rate */
} pn_bucket_t;

/** Set <b> to <rate> bytes/s with room for <burst> bytes, full, at <now_us>. */
void pn_bucket_init(pn_bucket_t *b, uint64_t rate, uint64_t burst, uint64_t now_us);
/** Take up to <want> bytes at <now_us>; return how many were granted (0 when
 *  empty). An unlimited bucket grants everything. */
uint64_t pn_bucket_take(pn_bucket_t *b, uint64_t want, uint64_t now_us);
/** Change the rate and burst of a running bucket at <now_us>; the tokens held
 *  are kept, up to the new burst. <rate> 0 makes it unlimited. */
void pn_bucket_set_rate(pn_bucket_t *b, uint64_t rate, uint64_t burst, uint64_t now_us);
/** Take exactly <n> bytes or nothing (a datagram is sent whole or dropped);
 *  nonzero when taken. */
int pn_bucket_take_all(pn_bucket_t *b, uint64_t n, uint64_t now_us);
/** Give back <n> bytes taken but not used (capped at the burst). */
void pn_bucket_put_back(pn_bucket_t *b, uint64_t n);
/** Take up to <want> bytes at <now_us>, but only once at least
 *  min(<chunk>, <want>, burst) are there: a limited stream then moves in
 *  pieces of a useful size at a steady pace instead of spinning on slivers.
 *  Return how many were granted; when 0, *<wait_us> is how long until a
 *  piece is there (arm a timer for it; never wait for writability). */
uint64_t pn_bucket_take_chunk(pn_bucket_t *b, uint64_t want, uint64_t chunk, uint64_t now_us,
                              uint64_t *wait_us);
/** Microseconds from <now_us> until at least <want> bytes (capped at the
 *  burst) are available; 0 when they already are. */
uint64_t pn_bucket_wait_us(pn_bucket_t *b, uint64_t want, uint64_t now_us);
/** Microseconds on the monotonic clock. */
uint64_t pn_now_us(void);

#endif
