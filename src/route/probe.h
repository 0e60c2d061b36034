/* route/probe.h: one health check of a local service: a TCP connect, or an
 * HTTP GET whose status must be 2xx or 3xx; bounded by a deadline. */
#ifndef PN_ROUTE_PROBE_H
#define PN_ROUTE_PROBE_H

#include "core/ev.h"
#include "net/addr.h"

#include <stdint.h>

typedef struct route_probe route_probe_t;

/** The outcome: <ok> nonzero when the service answered as wanted (<why> is
 *  then NULL); else <why> (static text: "connection refused", "timed out",
 *  "HTTP status 503", "not HTTP", ...). Runs once, from the loop; the probe is
 *  already freed when it runs, so the callback must not cancel it. */
typedef void (*route_probe_cb)(int ok, const char *why, void *ctx);

/** Probe <addr>: connect, and when <path> is non-NULL send
 *  "GET <path> HTTP/1.0\r\nHost: <host>\r\nUser-Agent: postern-probe\r\n
 *  Connection: close\r\n\r\n" and read the status line (at most 4 KiB read).
 *  <host> may be NULL (the address is sent). All within <timeout_ms>. Never
 *  NULL; the callback never runs before this returns. */
route_probe_t *route_probe_start(ev_loop_t *loop, const pn_addr_t *addr, const char *host,
                                 const char *path, uint64_t timeout_ms, route_probe_cb cb,
                                 void *ctx);
/** Abandon <p> without its callback. NULL is a no-op. */
void route_probe_cancel(route_probe_t *p);

#endif
