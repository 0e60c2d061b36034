/* core/xprt_mem.h: an in-memory transport pair: the hub's HTTP/2 streams
 * (modes/hub_h2.c) each reach the HTTP/1.1 router through one, and unit tests
 * use it as a peer.
 *
 * Two transports wired to each other with no fd (fd = -1): what one writes,
 * the other reads, through a bounded window per direction. Each wakes the
 * other through pn_xprt_wake() when bytes, room or end of stream appear, the
 * way a stream inside a multiplexed connection (WebSocket, HTTP/2, QUIC)
 * would: it is the proof that core/xprt.h fits a transport without fd, and a
 * peer for unit tests of anything that runs over a transport.
 *
 *   a --write--> [window of b] --read--> b
 *   a <--read--- [window of a] <--write-- b
 *
 * Freeing one end makes the other read end of stream (after what is left)
 * and fail its writes ("peer gone"), as a reset stream would. */
#ifndef PN_CORE_XPRT_MEM_H
#define PN_CORE_XPRT_MEM_H

#include "core/xprt.h"

#include <stddef.h>

/** Make a connected pair into <x>[0], <x>[1] (each owned by the caller, freed
 *  with pn_xprt_free), each holding at most <window> unread bytes (> 0).
 *  With <zero_copy> set, the pair claims ops->zero_copy (as a transport that
 *  carries bytes as they are would): users must still see fd = -1 and not
 *  splice. Never fails. */
void pn_xprt_mem_pair(pn_xprt_t *x[2], size_t window, int zero_copy);
/** Let each read and write of <x> move at most <n> bytes (0: no bound), to
 *  force short reads and writes. */
void pn_xprt_mem_set_max_io(pn_xprt_t *x, size_t n);
/** Bytes written to <x> by its peer and not read yet. */
size_t pn_xprt_mem_unread(const pn_xprt_t *x);

#endif
