/* relay/udp_seg.h: the pure arithmetic of the kernel's bulk datagram
 * offloads, no I/O (unit-tested in tests/unit/relay/udp_seg_test.c):
 *
 *   GSO (UDP_SEGMENT, send):  datagrams of one size, the last possibly
 *                             shorter, leave as one buffer the kernel cuts
 *   GRO (UDP_GRO, receive):   datagrams of one sender arrive as one buffer
 *                             with the size to cut it by (the last shorter)
 *
 * Boundaries are kept exactly: a buffer is cut only at multiples of its
 * segment size, and a group is only ever made of datagrams that cut back the
 * same way. */
#ifndef PN_RELAY_UDP_SEG_H
#define PN_RELAY_UDP_SEG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UDP_GSO_SEGS 64             /* datagrams per GSO send (the oldest kernels' limit) */
#define UDP_GSO_BYTES 65507         /* bytes per GSO send: one IPv4 datagram's payload */
#define UDP_SEG_CMSG_SPACE CMSG_SPACE(sizeof(uint16_t))

/** How many datagrams, from the first of the <n> whose sizes are <len> (each
 *  sent behind a header of <hdr> bytes), form one GSO send: every one of the
 *  first's size but the last, which may be shorter (not empty), at most
 *  UDP_GSO_SEGS and UDP_GSO_BYTES in all, a segment at most <seg_max> bytes
 *  (0: no GSO). 1 when the first goes alone; 0 when <n> is 0. */
unsigned udp_gso_take(const size_t *len, unsigned n, size_t hdr, size_t seg_max);

/** How many datagrams a buffer of <len> bytes received with the GRO segment
 *  size <gso> (0: none, a single datagram) holds. At least 1. */
size_t udp_gro_count(size_t len, size_t gso);
/** The size of datagram <i> (< udp_gro_count) of that buffer; it starts at
 *  offset <i> * <gso>. */
size_t udp_gro_seg(size_t len, size_t gso, size_t i);

/** Write into <buf> (<cap> bytes, aligned for a cmsghdr) a control message
 *  asking the kernel to cut what is sent into <gso>-byte datagrams; return its
 *  length (UDP_SEG_CMSG_SPACE), or 0 if it does not fit. */
size_t udp_cmsg_segment(void *buf, size_t cap, uint16_t gso);
/** The GRO segment size carried in the control messages of <m> (what
 *  recvmsg filled), 0 when there is none. */
size_t udp_cmsg_gro(const struct msghdr *m);

#endif
