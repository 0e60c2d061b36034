/* master/events.h: the Server-Sent Events stream of GET <prefix>/v1/events.
 *
 * Each client gets "retry: 3000", one `initial` event per instance, then
 * every change as it happens; a ": keepalive" comment after each
 * <keepalive_ms> of silence (15 s; POSTERN_SSE_KEEPALIVE overrides it). A
 * client that is gone, or that lets more than 1 MiB pile up unread, is
 * dropped. */
#ifndef PN_MASTER_EVENTS_H
#define PN_MASTER_EVENTS_H

#include "core/ev.h"
#include "master/http.h"
#include "master/super.h"

typedef struct pn_events pn_events_t;

/** Make the event hub on <loop>. Never NULL. */
pn_events_t *pn_events_new(ev_loop_t *loop, uint64_t keepalive_ms);
/** End every stream and free <e>. NULL is a no-op. */
void pn_events_free_(pn_events_t *e);
#define pn_events_free(p) do { pn_events_free_(p); (p) = NULL; } while (0)

/** Answer <r> with a new stream: retry, then an `initial` event for each
 *  instance of <s>. */
void pn_events_add(pn_events_t *e, pn_mhttp_req_t *r, pn_super_t *s);
/** Send an event of <type> ("create", "update", "delete", "log") about <in>
 *  (with <line> for "log") to every stream. */
void pn_events_publish(pn_events_t *e, const char *type, const pn_inst_t *in, const char *line);
/** Send a `hub` event (the SSE event name, docs/master.md) about the hub
 *  <in>: its state was replaced or cleared; the counts of its lists, not the
 *  lists (GET /instances/{id}/hub has them). */
void pn_events_publish_hub(pn_events_t *e, const pn_inst_t *in);
/** Send a `state` event (the SSE event name, docs/master.md "States") about
 *  <in>: its health changed. */
void pn_events_publish_state(pn_events_t *e, const pn_inst_t *in);
/** Send the event <name> ("node", "user") {"type": <type>, "time", <member>: <o>}
 *  to every stream; the reference <o> is taken. */
void pn_events_publish_json(pn_events_t *e, const char *name, const char *type, const char *member,
                            json_t *o);
/** Send the `shutdown` event and end every stream. */
void pn_events_shutdown(pn_events_t *e);
/** Number of open streams. */
size_t pn_events_count(const pn_events_t *e);

#endif
