/* master/http_gate.h: net/gate.h for the master's evhttp server.
 *
 * libevent 2.1 has no hook with the new connection's address (no
 * evhttp_set_newreqcb), so admission is deferred: the bufferevent callback
 * notes each new connection's bufferevent; a deferred step, once evhttp has
 * given it its socket, reads the peer and counts the connection in the gate.
 * A complete request (head and body) takes it out; on a kept-alive
 * connection the first byte of the next request (seen by a callback on the
 * bufferevent's input buffer) puts it back in, with the same deadline. One
 * that is late (10 s for the whole request, not an idle timer) or evicted is
 * shut down (shutdown(2): evhttp then sees the end and frees its connection).
 * Connections are found by descriptor; a descriptor's inode tells a reused
 * number from the connection it was. accept() failures (EMFILE, ...) disable
 * the listener and enable it again after the gate's back-off. */
#ifndef PN_MASTER_HTTP_GATE_H
#define PN_MASTER_HTTP_GATE_H

#include "core/ev.h"

#define PN_MHTTP_HEAD_MS 10000

struct evconnlistener;
struct bufferevent;

typedef struct pn_mhttp_gate pn_mhttp_gate_t;

/** A gate for the connections <l> (borrowed; outlives the gate) accepts. Never NULL. */
pn_mhttp_gate_t *pn_mhttp_gate_new(ev_loop_t *loop, struct evconnlistener *l);
/** Called from evhttp's bufferevent callback with the new connection's <bev>. */
void pn_mhttp_gate_accepted(pn_mhttp_gate_t *g, struct bufferevent *bev);
/** The request on <bev> is complete: its connection is out of the gate. */
void pn_mhttp_gate_done(pn_mhttp_gate_t *g, struct bufferevent *bev);
/** Free <g> (after the evhttp server). NULL is a no-op. */
void pn_mhttp_gate_free_(pn_mhttp_gate_t *g);
#define pn_mhttp_gate_free(p) do { pn_mhttp_gate_free_(p); (p) = NULL; } while (0)

#endif
