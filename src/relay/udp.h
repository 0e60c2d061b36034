/* relay/udp.h: UDP sessions, with datagram boundaries kept end to end.
 *
 * A session joins an entry end (where the user's datagrams come from) to an
 * exit end (towards the service). Each end is one of:
 *
 *   PEER    a user's address on a shared listening socket (entry only)
 *   CONN    a UDP socket connected to a target (exit only)
 *   STREAM  a tunnel data connection carrying datagrams length-framed:
 *           a 2-byte big-endian length, then that many bytes (0..65535)
 *
 *   single-end:        PEER   -> CONN
 *   tunnel, user end:  PEER   -> STREAM
 *   tunnel, far end:   STREAM -> CONN
 *
 * Every session has its own data connection, so one slow session never holds
 * up another (no head-of-line blocking across sessions). A datagram that does
 * not fit (the stream's output is full, or a socket would block) is dropped and
 * counted, as the network would. Datagrams are read and sent in bursts
 * (recvmmsg/sendmmsg, several frames per write), one at a time with
 * POSTERN_NO_MMSG=1; either way each keeps its boundaries and its order within
 * its session. Sessions end after the idle time, on an error
 * of either end (a target that answers "port unreachable"), or with their
 * group. They belong to a group, which frees them outside their own callbacks. */
#ifndef PN_RELAY_UDP_H
#define PN_RELAY_UDP_H

#include "core/bucket.h"
#include "core/ev.h"
#include "core/list.h"
#include "core/xprt.h"
#include "net/addr.h"
#include "relay/udp_types.h"

#include <stddef.h>
#include <stdint.h>

/** Make a group of sessions on <loop> with idle timeout <idle_ms> and the
 *  borrowed <c> counters (copied). Never NULL. */
udp_group_t *udp_group_new(ev_loop_t *loop, uint64_t idle_ms, const udp_counters_t *c);
/** End every session of <g>. */
void udp_group_close_all(udp_group_t *g);
/** Free <g> and its sessions. NULL is a no-op. */
void udp_group_free_(udp_group_t *g);
#define udp_group_free(p) do { udp_group_free_(p); (p) = NULL; } while (0)

/** Serve the bound UDP socket <fd> (owned from now on): datagrams from known
 *  peers go to their session in <g> (borrowed), others to <cb>. Never NULL. */
udp_table_t *udp_table_new(ev_loop_t *loop, int fd, udp_group_t *g, udp_new_peer_cb cb,
                           void *ctx);
/** Close the socket and free <t>; its sessions stay in their group. NULL is a no-op. */
void udp_table_free_(udp_table_t *t);
#define udp_table_free(p) do { udp_table_free_(p); (p) = NULL; } while (0)

/** Start a session in <t>'s group for <peer>, towards the connected UDP socket
 *  <fd> or the data connection <x> (exactly one; owned from now on). Never NULL. */
udp_sess_t *udp_sess_new_peer(udp_table_t *t, const pn_addr_t *peer, int fd, pn_xprt_t *x);
/** Start a session in <g> from the data connection <x> towards the connected
 *  UDP socket <fd> (both owned from now on), prepending <hdr> (<hdr_len>
 *  bytes, may be 0) to each datagram sent to it. Never NULL. */
udp_sess_t *udp_sess_new_stream(udp_group_t *g, pn_xprt_t *x, int fd, const uint8_t *hdr,
                                size_t hdr_len);
/** Prepend <hdr> (<len> bytes, copied; at most 64) to every datagram <s>
 *  sends out of its CONN end: a PROXY protocol v2 header. */
void udp_sess_set_header(udp_sess_t *s, const uint8_t *hdr, size_t len);
/** The address of the table's listening socket (what its users reach). */
const pn_addr_t *udp_table_local(const udp_table_t *t);
/** Send the datagram <d> (<len> bytes) from the entry end through <s>. */
void udp_sess_from_entry(udp_sess_t *s, const uint8_t *d, size_t len);

#endif
