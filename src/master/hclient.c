/* master/hclient.c: the manager's requests to its nodes over evhttp's client.
 *
 *   pn_hclient_request ─> evhttp_make_request ─> on_done: callback with the
 *                    │                          answer in place ─> finish (defer): free
 *                    └─> deadline timer ─> cancel ─> finish (defer): callback, free
 *
 * The connection is freed from the deferred finish, never inside evhttp's own
 * callback; the answer is read where evhttp holds it (no copy). */
#include "master/hclient.h"
#include "core/mem.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>

#include <stdio.h>
#include <string.h>

struct pn_hclient {
    struct evhttp_connection *conn; /* owned */
    struct evhttp_request *req;     /* owned by evhttp; NULL once it called back */
    ev_timer_t *deadline;           /* owned */
    ev_defer_t *finish;             /* owned */
    pn_hclient_cb cb;               /* NULL once cancelled */
    void *ctx;
    uint64_t deadline_ms;
    int status;                     /* 0: no answer */
    int tls;                        /* HTTPS */
    char err[128];
};

static void
hclient_free(pn_hclient_t *h)
{
    if (h->req != NULL)
        evhttp_cancel_request(h->req);
    if (h->conn != NULL)
        evhttp_connection_free(h->conn);
    ev_timer_free(h->deadline);
    ev_defer_free(h->finish);
    free(h);
}

pn_hbody_t *
pn_hbody_new(char *data, size_t len)
{
    pn_hbody_t *b = xcalloc(sizeof(*b));
    b->refs = 1;
    b->len = len;
    b->data = data;
    return b;
}

void
pn_hbody_unref(pn_hbody_t *b)
{
    if (b == NULL || --b->refs > 0)
        return;
    memset(b->data, 0, b->len);     /* it may hold passwords */
    free(b->data);
    free(b);
}

static void
on_tail_sent(const void *data, size_t len, void *arg)
{
    pn_hbody_unref(arg);
}

static void
on_finish(void *arg)
{
    pn_hclient_t *h = arg;
    if (h->cb != NULL && h->status == 0)
        h->cb(0, "", 0, h->err, h->ctx);
    hclient_free(h);
}

static void
on_done(struct evhttp_request *req, void *arg)
{
    pn_hclient_t *h = arg;
    h->req = NULL;              /* evhttp frees it after this call */
    ev_timer_disarm(h->deadline);
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (code <= 0) {
        snprintf(h->err, sizeof(h->err), "no HTTP answer (connection refused, closed or malformed%s)",
                 h->tls ? ", or the TLS handshake failed: not the certificate expected" : "");
    } else {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
        h->status = code;
        pn_hclient_cb cb = h->cb;
        h->cb = NULL;           /* answered: the finish only frees */
        if (cb != NULL)
            cb(code, body ? body : "", body ? len : 0, NULL, h->ctx);
    }
    ev_defer_schedule(h->finish);
}

static long
on_deadline(ev_timer_t *t, void *arg)
{
    pn_hclient_t *h = arg;
    if (h->req != NULL) {
        evhttp_cancel_request(h->req);
        h->req = NULL;
    }
    snprintf(h->err, sizeof(h->err), "no answer within %llu ms", (unsigned long long)h->deadline_ms);
    ev_defer_schedule(h->finish);
    return EV_TIMER_STOP;
}

/* <in> in base64 into <out> (<cap> bytes; cut when longer); returns <out>. */
static const char *
base64(const char *in, char *out, size_t cap)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n && o + 5 <= cap; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

pn_hclient_t *
pn_hclient_request(ev_loop_t *loop, const char *host, int port, const pn_hclient_tls_t *tls,
                   const pn_hclient_via_t *via, const char *method,
                   const char *path, const char *token, const char *head, size_t len,
                   pn_hbody_t *tail, uint64_t deadline_ms, pn_hclient_cb cb, void *ctx)
{
    pn_hclient_t *h = xcalloc(sizeof(*h));
    char auth[512];
    h->cb = cb;
    h->ctx = ctx;
    h->deadline_ms = deadline_ms;
    h->deadline = ev_timer_new(loop, on_deadline, h);
    h->finish = ev_defer_new(loop, on_finish, h);
    ev_timer_arm(h->deadline, deadline_ms);
    struct event_base *base = ev_loop_base(loop);
    if (tls != NULL) {
        SSL *ssl = pn_tls_client_ssl(tls->ctx, tls->name);
        if (ssl != NULL && tls->pin != NULL && pn_tls_ssl_pin(ssl, tls->pin) != PN_OK) {
            pn_tls_ssl_free(ssl);
            ssl = NULL;
        }
        struct bufferevent *bev = ssl == NULL ? NULL :
            bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                           BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (ssl != NULL && bev == NULL)
            pn_tls_ssl_free(ssl);
        h->conn = bev ? evhttp_connection_base_bufferevent_new(base, NULL, bev, host,
                                                               (unsigned short)port) : NULL;
        h->tls = 1;
    } else if (via != NULL) {
        h->conn = evhttp_connection_base_new(base, NULL, via->host, (unsigned short)via->port);
    } else {
        h->conn = evhttp_connection_base_new(base, NULL, host, (unsigned short)port);
    }
    h->req = h->conn ? evhttp_request_new(on_done, h) : NULL;
    if (h->req == NULL) {
        snprintf(h->err, sizeof(h->err), "cannot make a request to %s:%d", host, port);
        ev_timer_disarm(h->deadline);
        ev_defer_schedule(h->finish);
        return h;
    }
    evhttp_connection_set_max_body_size(h->conn, PN_HCLIENT_BODY_MAX);
    evhttp_connection_set_timeout(h->conn, (int)((deadline_ms + 999) / 1000));
    evhttp_connection_set_retries(h->conn, 0);
    struct evkeyvalq *hd = evhttp_request_get_output_headers(h->req);
    char target[600], hostport[80];
    snprintf(hostport, sizeof(hostport), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    evhttp_add_header(hd, "Host", via != NULL ? hostport : host);
    snprintf(target, sizeof(target), "%s", path);
    if (via != NULL) {
        /* through the proxy: the absolute URI, its credentials in Basic */
        snprintf(target, sizeof(target), "http://%s%s", hostport, path);
        if (via->auth != NULL) {
            char b64[400];
            snprintf(auth, sizeof(auth), "Basic %s", base64(via->auth, b64, sizeof(b64)));
            evhttp_add_header(hd, "Proxy-Authorization", auth);
            memset(b64, 0, sizeof(b64));
            memset(auth, 0, sizeof(auth));
        }
    }
    evhttp_add_header(hd, "Connection", "close");
    evhttp_add_header(hd, "Accept", "application/json");
    snprintf(auth, sizeof(auth), "Bearer %s", token);
    evhttp_add_header(hd, "Authorization", auth);
    memset(auth, 0, sizeof(auth));
    if (head != NULL || tail != NULL) {
        struct evbuffer *out = evhttp_request_get_output_buffer(h->req);
        evhttp_add_header(hd, "Content-Type", "application/json");
        if (head != NULL)
            evbuffer_add(out, head, len);
        if (tail != NULL) {
            tail->refs++;
            if (evbuffer_add_reference(out, tail->data, tail->len, on_tail_sent, tail) != 0)
                pn_hbody_unref(tail);
        }
    }
    enum evhttp_cmd_type cmd = strcmp(method, "PUT") == 0 ? EVHTTP_REQ_PUT : EVHTTP_REQ_GET;
    if (evhttp_make_request(h->conn, h->req, cmd, target) != 0) {
        h->req = NULL;          /* freed by evhttp on failure */
        snprintf(h->err, sizeof(h->err), "cannot send a request to %s:%d", host, port);
        ev_timer_disarm(h->deadline);
        ev_defer_schedule(h->finish);
    }
    return h;
}

void
pn_hclient_cancel(pn_hclient_t *h)
{
    if (h == NULL)
        return;
    h->cb = NULL;
    hclient_free(h);
}
