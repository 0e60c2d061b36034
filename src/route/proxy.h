/* route/proxy.h: the PROXY protocol header (haproxy's proxy-protocol.txt),
 * version 1 (text, TCP) and version 2 (binary, TCP and UDP), pure.
 *
 * postern sends it to a target, ahead of the user's bytes (TCP) or ahead of
 * every datagram (UDP, version 2 only: DGRAM has no connection to carry it
 * once), so the target sees the user's address instead of postern's. The
 * decoder exists for tests and fuzzing, and for listeners that accept it later. */
#ifndef PN_ROUTE_PROXY_H
#define PN_ROUTE_PROXY_H

#include "net/addr.h"

#include <stddef.h>
#include <stdint.h>

#define PN_PROXY_MAX 108            /* longest header we write (v1's bound; v2 IPv6 is 52) */

/** Write the PROXY header of <version> (1 or 2) for a connection (or, with
 *  <udp>, a datagram; version 2 only) from <src> (the user) to <dst> (the
 *  address the user reached). Mixed families are written as IPv6 with the IPv4
 *  address mapped. Return its length, or 0 when <cap> is short or the request
 *  is impossible (v1 with UDP). */
size_t pn_proxyproto_encode(int version, int udp, const pn_addr_t *src, const pn_addr_t *dst,
                       uint8_t *out, size_t cap);
/** Read a PROXY header at <p> (<n> bytes): PN_OK with <version>, <udp>, <src>,
 *  <dst> and *<used>; PN_AGAIN when more bytes are needed; PN_ERR with <why>.
 *  "PROXY UNKNOWN" and v2 LOCAL give PN_OK with families AF_UNSPEC. */
int pn_proxyproto_decode(const uint8_t *p, size_t n, int *version, int *udp, pn_addr_t *src,
                    pn_addr_t *dst, size_t *used, const char **why);

#endif
