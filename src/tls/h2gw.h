/* tls/h2gw.h: an HTTP/2 server connection (nghttp2) whose streams come out
 * as HTTP/1.0 byte streams: each request becomes an in-memory transport
 * (core/xprt_mem.h) on which the owner reads "METHOD path HTTP/1.0", Host
 * (from :authority), the fields and the body, and writes an HTTP/1.x
 * response (Content-Length or close-delimited), which goes back to the user
 * as HEADERS and DATA. The hub's HTTP/2 users (modes/hub_h2.c) use it. An
 * extended CONNECT (RFC 8441, :protocol websocket) comes out as an HTTP/1.1
 * WebSocket upgrade; its 101 goes back as 200, then the bytes both ways.
 * Abuse limits and the log lines are in h2gw.c's header. */
#ifndef PN_TLS_H2GW_H
#define PN_TLS_H2GW_H

#include "core/ev.h"
#include "core/xprt.h"

#include <stddef.h>

typedef struct pn_h2gw pn_h2gw_t;

/** A new stream: <stream> (owned by the callee from now on) carries one
 *  HTTP/1.0 request and its response. Runs inside the gateway's callbacks:
 *  the callee must not call back into the gateway. */
typedef void (*pn_h2gw_stream_cb)(pn_xprt_t *stream, int h2c, void *arg);
/** Nonzero when a request to <authority> <path> goes through as HTTP/2 (h2c):
 *  its stream, handed over with h2c 1, carries the HTTP/1.1 head only; the
 *  owner answers a page, or "HTTP/1.1 101 h2c" and the head as it should
 *  reach the service (rewritten), then relays the pair's bytes to a service
 *  that speaks HTTP/2 without TLS: the gateway is its client, one HTTP/2
 *  connection per stream, trailers and interleaved bodies both ways. */
typedef int (*pn_h2gw_h2c_cb)(const char *authority, const char *path, void *arg);
/** The connection is over (closed by the user, idle, GOAWAY done, or a fault
 *  already logged): the owner frees <g> (pn_h2gw_free) inside the call. */
typedef void (*pn_h2gw_done_cb)(pn_h2gw_t *g, void *arg);

/** Serve HTTP/2 on <x> (owned from now on; the TLS handshake done, ALPN h2)
 *  on <loop>; <who> prefixes log lines. Never NULL. No callback runs before
 *  this returns. */
pn_h2gw_t *pn_h2gw_new(ev_loop_t *loop, pn_xprt_t *x, const char *who, pn_h2gw_stream_cb stream,
                       pn_h2gw_done_cb done, void *arg);
/** Ask <cb> for each stream whether it goes through as HTTP/2. */
void pn_h2gw_set_h2c(pn_h2gw_t *g, pn_h2gw_h2c_cb cb);
/** Send GOAWAY: no new stream; the connection ends when its streams have. */
void pn_h2gw_goaway(pn_h2gw_t *g);
/** Streams open. */
size_t pn_h2gw_streams(const pn_h2gw_t *g);
/** Free <g>, its streams (their transports see the end) and its transport.
 *  NULL is a no-op. */
void pn_h2gw_free_(pn_h2gw_t *g);
#define pn_h2gw_free(p) do { pn_h2gw_free_(p); (p) = NULL; } while (0)

#endif
