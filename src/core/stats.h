/* core/stats.h: an instance's traffic counters and the CHECK_POINT line.
 *
 * RX counts bytes read from the entry side (the users of the service) and TX the
 * bytes written back to them, for TCP and UDP apart. */
#ifndef PN_CORE_STATS_H
#define PN_CORE_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pn_stats {
    uint64_t tcp_rx, tcp_tx;    /* bytes, TCP, entry side read / written */
    uint64_t udp_rx, udp_tx;    /* bytes, UDP, likewise */
    uint64_t tcps;              /* TCP connections being relayed now */
    uint64_t udps;              /* UDP sessions alive now */
    uint64_t pool;              /* idle pooled data connections */
    uint64_t ping_ms;           /* last control-channel round trip, ms */
    uint64_t tcp_total;         /* TCP connections accepted since start */
    uint64_t dial_fail;         /* failed dials to targets */
    uint64_t refused;           /* connections closed for a limit or a bad proof */
    uint64_t udp_drops;         /* datagrams dropped (no room, no session, malformed) */
} pn_stats_t;

/** Write the CHECK_POINT line for <mode> (0 master/none, 1 single-end, 2 tunnel)
 *  from <s> into <out> (<len> bytes, NUL-terminated, no newline). Return its length,
 *  or -1 when <len> is too small. Pure. */
int pn_stats_checkpoint_format(char *out, size_t len, int mode, const pn_stats_t *s);

#endif
