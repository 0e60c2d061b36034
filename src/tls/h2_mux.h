/* tls/h2_mux.h: the multiplexed HTTP/2 transport (type=3): one HTTP/2
 * connection carries many long-lived POST streams, each a pn_xprt_t of its
 * own (no fd: readiness is computed and woken, core/xprt.h).
 *
 *   stream (pn_xprt_t) --write--> wbuf --DATA of its stream--+
 *   stream (pn_xprt_t) --write--> wbuf --DATA of its stream--+--> nghttp2 --> obuf --> inner
 *   stream <--read-- rbuf <--on_data_chunk--- nghttp2 <--mem_recv-- inner (tcp or tls) <-+
 *
 * The mux watches the inner transport itself (read always, write while
 * frames wait) and pumps nghttp2; streams only copy bytes in and out of their
 * buffers and ask for a flush, which runs from a deferred event so that the
 * writes of one loop turn leave in one system call. nghttp2 decides each DATA
 * frame (flow control, size) and makes its header; the bytes go from wbuf
 * into obuf directly (its send_data callback), not through nghttp2's buffer.
 *
 * Client (pn_h2_mux_client): pn_h2_mux_open() submits POST <path> at once and
 * the stream can be written at once (no round trip waits for the answer's
 * HEADERS: a status other than 200 fails that stream). Server
 * (pn_h2_mux_server): each request on <path> with method POST is answered 200
 * and handed to the stream callback; another path 404, another method 405, on
 * that stream only. A stream the owner frees before both ends ended it is
 * reset (RST_STREAM CANCEL), and a reset from the peer ends only that stream:
 * the other streams of the connection go on.
 *
 * Flow control: every stream opens a window of PN_H2_WINDOW bytes and the
 * connection one of PN_H2_CONN_WINDOW; both are given back as the stream's
 * reader consumes, so a slow reader stalls its stream only, and what one
 * connection buffers for its readers is bounded by the connection window.
 *
 * Lifetime: the mux is reference counted: each stream holds one, a client's
 * owner holds one while it keeps the connection as its carrier, and a server
 * connection holds one of its own until the connection ends (the peer closed
 * it, a fault, or PN_H2_IDLE_MS without any stream). At zero the mux sends
 * GOAWAY (best effort) and closes the connection. */
#ifndef PN_TLS_H2_MUX_H
#define PN_TLS_H2_MUX_H

#include "core/ev.h"
#include "core/list.h"
#include "core/xprt.h"
#include "tls/h2.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pn_h2_mux pn_h2_mux_t;

/** Server: a new stream <x> (owned by the callee) whose request was accepted
 *  (200 answered). */
typedef void (*pn_h2_stream_cb)(pn_xprt_t *x, void *ctx);

/** Client over <inner> (owned from now on, connected, its TLS done): the
 *  preface goes at once; streams come from pn_h2_mux_open(). The caller holds
 *  one reference. Never NULL. */
pn_h2_mux_t *pn_h2_mux_client(ev_loop_t *loop, pn_xprt_t *inner, const char *path,
                              const char *authority, int https);
/** Server over <inner> (owned from now on): each accepted stream goes to
 *  <cb>(x, <ctx>), from the loop (or pn_h2_mux_pump), never inside this call.
 *  <path> is borrowed and outlives the mux. The connection holds its own
 *  reference and is listed in <set> (pn_list_init'ed by the caller) until it
 *  ends. Returns the mux, borrowed: valid until the connection ends. */
pn_h2_mux_t *pn_h2_mux_server(ev_loop_t *loop, pn_xprt_t *inner, const char *path, pn_h2_stream_cb cb,
                      void *ctx, pn_list_t *set);
/** End every server connection listed in <set> (their owner goes away): their
 *  streams fail, the sockets close. */
void pn_h2_mux_close_all(pn_list_t *set);
/** Client: a new stream (owned by the caller), writable at once; NULL when the
 *  connection ended or has no stream id left. */
pn_xprt_t *pn_h2_mux_open(pn_h2_mux_t *m);
/** 1 while <m> can open streams (connected, no GOAWAY, no fault). */
int pn_h2_mux_alive(const pn_h2_mux_t *m);
/** The mux a stream <x> belongs to, or NULL when <x> is no mux stream. */
pn_h2_mux_t *pn_h2_mux_of(const pn_xprt_t *x);
/** The connection's socket (for its peer's address); -1 once closed. */
int pn_h2_mux_fd(const pn_h2_mux_t *m);
/** Take one more reference. */
void pn_h2_mux_ref(pn_h2_mux_t *m);
/** Drop a reference; the last one closes the connection. NULL is a no-op. */
void pn_h2_mux_unref(pn_h2_mux_t *m);
/** Read what the socket has and send what is queued, now (the loop does it
 *  by itself; tests and fuzzers drive a mux by hand). May end the connection. */
void pn_h2_mux_pump(pn_h2_mux_t *m);
/** Streams open on <m> now (statistics, tests). */
size_t pn_h2_mux_streams(const pn_h2_mux_t *m);

#endif
