/* master/http.c: master/http.h over evhttp, evconnlistener and
 * bufferevent_openssl. */
#include "master/http.h"
#include "master/http_gate.h"
#include "core/log.h"
#include "core/mem.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include <string.h>
#include <unistd.h>

struct pn_mhttp {
    struct evhttp *http;        /* owned */
    pn_tls_ctx_t *tls;          /* borrowed, or NULL */
    pn_mhttp_gate_t *gate;      /* owned: admission (master/http_gate.h) */
    pn_mhttp_handler_cb cb;
    void *ctx;                  /* borrowed */
};

/* One request in the API's hands, until its reply. */
struct pn_mhttp_req {
    struct evhttp_request *req; /* libevent's, freed by libevent after the reply */
    char *body;                 /* owned copy, NUL-terminated */
    size_t body_len;
};

struct pn_mhttp_stream {
    struct evhttp_request *req; /* libevent's, until pn_mhttp_stream_end */
};

static struct bufferevent *
on_new_bev(struct event_base *base, void *arg)
{
    pn_mhttp_t *h = arg;
    if (h->tls == NULL) {
        struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (bev != NULL)
            pn_mhttp_gate_accepted(h->gate, bev);
        return bev;
    }
    SSL *ssl = pn_tls_server_ssl(h->tls);
    if (ssl == NULL) {
        log_error("master: https: cannot make a TLS session");
        return NULL;
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl,
                                                             BUFFEREVENT_SSL_ACCEPTING,
                                                             BEV_OPT_CLOSE_ON_FREE);
    if (bev != NULL) {
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        pn_mhttp_gate_accepted(h->gate, bev);
    }
    return bev;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
    pn_mhttp_t *h = arg;
    pn_mhttp_req_t *r = xcalloc(sizeof(*r));
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    pn_mhttp_gate_done(h->gate, c ? evhttp_connection_get_bufferevent(c) : NULL);
    r->req = req;
    r->body_len = evbuffer_get_length(in);
    r->body = xmalloc(r->body_len + 1);
    if (r->body_len > 0)
        evbuffer_copyout(in, r->body, r->body_len);
    r->body[r->body_len] = '\0';
    h->cb(r, h->ctx);
}

pn_mhttp_t *
pn_mhttp_new(ev_loop_t *loop, int lfd, pn_tls_ctx_t *tls, pn_mhttp_handler_cb cb, void *ctx)
{
    struct event_base *base = ev_loop_base(loop);
    pn_mhttp_t *h = xcalloc(sizeof(*h));
    h->tls = tls;
    h->cb = cb;
    h->ctx = ctx;
    h->http = evhttp_new(base);
    /* Our own listener, so that accepted sockets are close-on-exec: the
     * instances the master forks must not inherit API connections. Backlog 0:
     * <lfd> keeps the backlog it listens with (-1 would listen() again with
     * 128, and under a flood of connections a good client's SYN is dropped and
     * retried only 1 s, then 3 s later). */
    struct evconnlistener *l = evconnlistener_new(base, NULL, NULL,
                                                  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0,
                                                  lfd);
    if (h->http == NULL || l == NULL || evhttp_bind_listener(h->http, l) == NULL) {
        log_error("master: cannot start the HTTP server");
        abort();
    }
    evhttp_set_max_headers_size(h->http, PN_MHTTP_MAX_HEADERS);
    evhttp_set_max_body_size(h->http, PN_MHTTP_MAX_BODY);
    evhttp_set_timeout(h->http, PN_MHTTP_TIMEOUT_S);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                               EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |
                               EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(h->http, on_request, h);
    h->gate = pn_mhttp_gate_new(loop, l);
    evhttp_set_bevcb(h->http, on_new_bev, h);
    return h;
}

void
pn_mhttp_free_(pn_mhttp_t *h)
{
    if (h == NULL)
        return;
    evhttp_free(h->http);
    pn_mhttp_gate_free(h->gate);
    free(h);
}

enum pn_mhttp_method
pn_mhttp_method(const pn_mhttp_req_t *r)
{
    switch (evhttp_request_get_command(r->req)) {
    case EVHTTP_REQ_GET: return PN_MHTTP_GET;
    case EVHTTP_REQ_HEAD: return PN_MHTTP_HEAD;
    case EVHTTP_REQ_POST: return PN_MHTTP_POST;
    case EVHTTP_REQ_PUT: return PN_MHTTP_PUT;
    case EVHTTP_REQ_PATCH: return PN_MHTTP_PATCH;
    case EVHTTP_REQ_DELETE: return PN_MHTTP_DELETE;
    default: return PN_MHTTP_OTHER;
    }
}

const char *
pn_mhttp_path(const pn_mhttp_req_t *r)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
    const char *p = u ? evhttp_uri_get_path(u) : NULL;
    return (p && *p) ? p : "/";
}

char *
pn_mhttp_query(pn_mhttp_req_t *r, const char *key)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
    const char *q = u ? evhttp_uri_get_query(u) : NULL;
    struct evkeyvalq kv;
    char *out = NULL;
    if (q == NULL || evhttp_parse_query_str(q, &kv) != 0)
        return NULL;
    const char *v = evhttp_find_header(&kv, key);
    if (v != NULL)
        out = xstrdup(v);
    evhttp_clear_headers(&kv);
    return out;
}

const char *
pn_mhttp_header(const pn_mhttp_req_t *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

const char *
pn_mhttp_body(pn_mhttp_req_t *r, size_t *len)
{
    *len = r->body_len;
    return r->body;
}

int
pn_mhttp_gone(const pn_mhttp_req_t *r)
{
    return evhttp_request_get_connection(r->req) == NULL;
}

void
pn_mhttp_set_header(pn_mhttp_req_t *r, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->req), name, value);
}

static const char *
reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 503: return "Service Unavailable";
    default: return status < 400 ? "OK" : "Error";
    }
}

void
pn_mhttp_reply(pn_mhttp_req_t *r, int status, const char *ctype, const void *body, size_t len)
{
    struct evbuffer *out = NULL;
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(r->req);
    if (ctype != NULL)
        evhttp_add_header(hdr, "Content-Type", ctype);
    evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(hdr, "Cache-Control", "no-store");
    /* A refused request (no key, a bad one) does not keep its connection:
     * keep-alive is for clients that are served. */
    if (status >= 400)
        evhttp_add_header(hdr, "Connection", "close");
    if (body != NULL && len > 0) {
        out = evbuffer_new();
        evbuffer_add(out, body, len);
    }
    /* With the client gone, libevent only frees the request. */
    evhttp_send_reply(r->req, status, reason(status), out);
    if (out != NULL)
        evbuffer_free(out);
    free(r->body);
    free(r);
}

pn_mhttp_stream_t *
pn_mhttp_stream_start(pn_mhttp_req_t *r, const char *ctype)
{
    pn_mhttp_stream_t *s = xcalloc(sizeof(*s));
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(r->req);
    s->req = r->req;
    evhttp_add_header(hdr, "Content-Type", ctype);
    evhttp_add_header(hdr, "Cache-Control", "no-store");
    evhttp_add_header(hdr, "X-Accel-Buffering", "no");
    evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(hdr, "Connection", "close");
    evhttp_send_reply_start(s->req, 200, "OK");
    struct evhttp_connection *c = evhttp_request_get_connection(s->req);
    if (c != NULL) {
        /* A stream may stay silent between keepalives: no read timeout (a
         * close is still noticed: evhttp keeps reading for it), a write
         * timeout for a client that stops reading; and a client that sends
         * data on it fills at most 4 KiB before reading stops. */
        struct bufferevent *bev = evhttp_connection_get_bufferevent(c);
        struct timeval wr = { .tv_sec = PN_MHTTP_TIMEOUT_S, .tv_usec = 0 };
        bufferevent_set_timeouts(bev, NULL, &wr);
        bufferevent_setwatermark(bev, EV_READ, 0, 4096);
    }
    free(r->body);
    free(r);
    return s;
}

int
pn_mhttp_stream_gone(const pn_mhttp_stream_t *s)
{
    return evhttp_request_get_connection(s->req) == NULL;
}

int
pn_mhttp_stream_send(pn_mhttp_stream_t *s, const char *data, size_t len)
{
    struct evhttp_connection *c = evhttp_request_get_connection(s->req);
    if (c == NULL)
        return PN_ERR;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c);
    if (evbuffer_get_length(bufferevent_get_output(bev)) > PN_MHTTP_STREAM_BACKLOG)
        return PN_ERR;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, data, len);
    evhttp_send_reply_chunk(s->req, b);
    evbuffer_free(b);
    return PN_OK;
}

void
pn_mhttp_stream_end(pn_mhttp_stream_t *s)
{
    if (s == NULL)
        return;
    /* Frees the request (at once when the client is gone, else once the last
     * chunk is written; "Connection: close" then closes the connection). */
    evhttp_send_reply_end(s->req);
    free(s);
}
