/* master/events.c: SSE streams (see master/events.h). */
#include "master/events.h"
#include "core/list.h"
#include "core/log.h"
#include "core/mem.h"
#include "master/view.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct sse {
    pn_list_t node;             /* in pn_events.streams */
    pn_events_t *hub;           /* back pointer */
    pn_mhttp_stream_t *stream;   /* owned (ended in sse_free) */
    ev_timer_t *keepalive;      /* owned */
    int dead;                   /* to be freed by the sweep */
} sse_t;

struct pn_events {
    ev_loop_t *loop;            /* borrowed */
    uint64_t keepalive_ms;
    pn_list_t streams;          /* sse_t, owned */
    size_t n;
    ev_defer_t *sweep;          /* owned: frees dead streams outside their callbacks */
};

static void
sse_free(sse_t *c)
{
    pn_list_del(&c->node);
    c->hub->n--;
    ev_timer_free(c->keepalive);
    pn_mhttp_stream_end(c->stream);
    free(c);
}

static void
on_sweep(void *arg)
{
    pn_events_t *e = arg;
    pn_list_t *n, *next;
    for (n = e->streams.next; n != &e->streams; n = next) {
        next = n->next;
        sse_t *c = pn_container_of(n, sse_t, node);
        if (c->dead)
            sse_free(c);
    }
}

static void
sse_send(sse_t *c, const char *data, size_t len)
{
    if (c->dead)
        return;
    if (pn_mhttp_stream_send(c->stream, data, len) != PN_OK) {
        c->dead = 1;
        ev_timer_disarm(c->keepalive);
        ev_defer_schedule(c->hub->sweep);
        return;
    }
    ev_timer_arm(c->keepalive, c->hub->keepalive_ms);
}

static long
on_keepalive(ev_timer_t *t, void *arg)
{
    sse_t *c = arg;
    static const char ka[] = ": keepalive\n\n";
    sse_send(c, ka, sizeof(ka) - 1);
    return EV_TIMER_STOP;       /* sse_send re-armed it */
}

/* "event: <name>\ndata: <o>\n\n"; <o> is released. */
static char *
event_frame(const char *name, json_t *o, size_t *len)
{
    char *data = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size_t n = strlen("event: ") + strlen(name) + strlen("\ndata: ") + strlen(data) + 2;
    char *out = xmalloc(n + 1);
    snprintf(out, n + 1, "event: %s\ndata: %s\n\n", name, data);
    *len = n;
    free(data);
    return out;
}

/* "event: instance\ndata: {...}\n\n" for <type> at the current time. */
static char *
event_text(const char *type, const pn_inst_t *in, const char *line, size_t *len)
{
    char now[PN_TIME_LEN];
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "time", json_string(pn_time_rfc3339((int64_t)time(NULL), now)));
    if (in != NULL)
        json_object_set_new(o, "instance", pn_inst_json(in));
    if (line != NULL) {
        /* A line that is not UTF-8 is sent with its bad bytes replaced. */
        json_t *l = json_string(line);
        if (l == NULL) {
            char *fixed = xstrdup(line);
            for (char *p = fixed; *p; p++)
                if ((unsigned char)*p >= 0x80)
                    *p = '?';
            l = json_string(fixed);
            free(fixed);
        }
        json_object_set_new(o, "logs", l);
    }
    return event_frame("instance", o, len);
}

pn_events_t *
pn_events_new(ev_loop_t *loop, uint64_t keepalive_ms)
{
    pn_events_t *e = xcalloc(sizeof(*e));
    e->loop = loop;
    e->keepalive_ms = keepalive_ms;
    pn_list_init(&e->streams);
    e->sweep = ev_defer_new(loop, on_sweep, e);
    return e;
}

void
pn_events_free_(pn_events_t *e)
{
    if (e == NULL)
        return;
    while (!pn_list_empty(&e->streams))
        sse_free(pn_container_of(e->streams.next, sse_t, node));
    ev_defer_free(e->sweep);
    free(e);
}

void
pn_events_add(pn_events_t *e, pn_mhttp_req_t *r, pn_super_t *s)
{
    sse_t *c = xcalloc(sizeof(*c));
    static const char retry[] = "retry: 3000\n\n";
    c->hub = e;
    c->stream = pn_mhttp_stream_start(r, "text/event-stream; charset=utf-8");
    c->keepalive = ev_timer_new(e->loop, on_keepalive, c);
    pn_list_add(&e->streams, &c->node);
    e->n++;
    sse_send(c, retry, sizeof(retry) - 1);
    pn_list_t *head = pn_super_list(s), *n;
    for (n = head->next; n != head && !c->dead; n = n->next) {
        size_t len;
        char *t = event_text("initial", pn_container_of(n, pn_inst_t, node), NULL, &len);
        sse_send(c, t, len);
        free(t);
    }
    log_debug("master: event stream opened (%zu open)", e->n);
}

void
pn_events_publish(pn_events_t *e, const char *type, const pn_inst_t *in, const char *line)
{
    size_t len;
    pn_list_t *n;
    if (pn_list_empty(&e->streams))
        return;
    char *t = event_text(type, in, line, &len);
    for (n = e->streams.next; n != &e->streams; n = n->next)
        sse_send(pn_container_of(n, sse_t, node), t, len);
    free(t);
}

void
pn_events_publish_hub(pn_events_t *e, const pn_inst_t *in)
{
    static const char *const lists[] = { "clients", "routes", "accounts" };
    char now[PN_TIME_LEN], at[PN_TIME_LEN];
    size_t len;
    pn_list_t *n;
    if (pn_list_empty(&e->streams))
        return;
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("hub"));
    json_object_set_new(o, "time", json_string(pn_time_rfc3339((int64_t)time(NULL), now)));
    json_object_set_new(o, "id", json_string(in->id));
    json_object_set_new(o, "updated", in->hub ? json_string(pn_time_rfc3339(in->hub_updated, at))
                                              : json_null());
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        size_t count = json_array_size(json_object_get(in->hub, lists[i]));    /* 0: none */
        json_object_set_new(o, lists[i], json_integer((json_int_t)count));
    }
    char *t = event_frame("hub", o, &len);
    for (n = e->streams.next; n != &e->streams; n = n->next)
        sse_send(pn_container_of(n, sse_t, node), t, len);
    free(t);
}

void
pn_events_publish_state(pn_events_t *e, const pn_inst_t *in)
{
    char now[PN_TIME_LEN];
    size_t len;
    pn_list_t *n;
    if (pn_list_empty(&e->streams))
        return;
    json_t *o = pn_inst_health_json(in);
    json_object_set_new(o, "type", json_string("state"));
    json_object_set_new(o, "time", json_string(pn_time_rfc3339((int64_t)time(NULL), now)));
    json_object_set_new(o, "id", json_string(in->id));
    json_object_set_new(o, "alias", json_string(in->alias));
    json_object_set_new(o, "status", json_string(pn_inst_status_name(in->status)));
    char *t = event_frame("state", o, &len);
    for (n = e->streams.next; n != &e->streams; n = n->next)
        sse_send(pn_container_of(n, sse_t, node), t, len);
    free(t);
}

void
pn_events_publish_json(pn_events_t *e, const char *name, const char *type, const char *member,
                       json_t *o)
{
    char now[PN_TIME_LEN];
    size_t len;
    pn_list_t *n;
    if (pn_list_empty(&e->streams)) {
        json_decref(o);
        return;
    }
    json_t *ev = json_object();
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "time", json_string(pn_time_rfc3339((int64_t)time(NULL), now)));
    json_object_set_new(ev, member, o);
    char *t = event_frame(name, ev, &len);
    for (n = e->streams.next; n != &e->streams; n = n->next)
        sse_send(pn_container_of(n, sse_t, node), t, len);
    free(t);
}

void
pn_events_shutdown(pn_events_t *e)
{
    pn_events_publish(e, "shutdown", NULL, NULL);
    while (!pn_list_empty(&e->streams))
        sse_free(pn_container_of(e->streams.next, sse_t, node));
}

size_t
pn_events_count(const pn_events_t *e)
{
    return e->n;
}
