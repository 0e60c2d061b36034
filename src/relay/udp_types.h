/* relay/udp_types.h: the types of the UDP sessions (relay/udp.h), types
 * only, so that the files behind udp.h (udp_priv.h) can name them without
 * including the interface they implement. */
#ifndef PN_RELAY_UDP_TYPES_H
#define PN_RELAY_UDP_TYPES_H

#include "core/bucket.h"
#include "net/addr.h"

#include <stddef.h>
#include <stdint.h>

#define UDP_DGRAM_MAX 65535         /* largest datagram a frame carries */

typedef struct udp_sess udp_sess_t;
typedef struct udp_group udp_group_t;
typedef struct udp_table udp_table_t;

typedef struct udp_counters {
    uint64_t *rx;               /* borrowed: payload bytes from the entry end */
    uint64_t *tx;               /* borrowed: payload bytes to the entry end */
    uint64_t *sessions;         /* borrowed: live sessions (a gauge) */
    uint64_t *drops;            /* borrowed: datagrams dropped */
    pn_bucket_t *limit;         /* borrowed: bandwidth; a datagram over it is dropped */
} udp_counters_t;

/** Called for a datagram from a <peer> with no session: the owner creates one
 *  (udp_sess_new_peer) and passes the datagram on, or drops it. <d> is
 *  borrowed for the call. */
typedef void (*udp_new_peer_cb)(udp_table_t *t, const pn_addr_t *peer, const uint8_t *d,
                                size_t len, void *ctx);

#endif
