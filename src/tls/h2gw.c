/* tls/h2gw.c: an HTTP/2 server connection whose streams come out as
 * HTTP/1.0 byte streams (tls/h2gw.h): the hub's HTTP/2 users (modes/hub_h2.c,
 * docs/hub.md §1.2).
 *
 *   TLS --mem_recv--> nghttp2 --HEADERS--> stream: an HTTP/1.0 request head
 *        (Host from :authority, Content-Length) --xprt_mem pair--> the owner's
 *        callback (the hub's HTTP router: route, rules, limits, pages)
 *   TLS <--mem_send-- nghttp2 <--HEADERS + DATA (data provider)-- the response
 *        read back from the pair: status line and fields, then the body
 *
 * The request goes out as HTTP/1.1; its response body is Content-Length
 * bytes, chunked (decoded here) or runs to the close. After a whole exchange
 * the pair is kept at rest (the router keeps its exchange and data connection)
 * for a later stream. A request body without content-length is held (64 KiB
 * at most) until its end, then sent with its length. Two kinds of stream
 * start at their head and never hold: an h2c stream (h2gw_h2c.c) and an
 * RFC 8441 WebSocket (extended CONNECT: an HTTP/1.1 upgrade for the owner,
 * whose 101 becomes 200 and then a byte relay in DATA, h2gw_resp.c).
 *
 * Limits beyond nghttp2's own (max outbound ACKs, settings per frame): 100
 * streams at once, request fields at most 16 KiB or 100 per stream (an HPACK
 * bomb), 200 streams reset by the user per second (rapid reset,
 * CVE-2023-44487), 1000 PING/SETTINGS/PRIORITY/WINDOW_UPDATE frames per
 * second, a garbage preface: the connection is closed with a log line naming
 * the reason. A connection without streams for 60 s is closed. */
#include "tls/h2gw.h"
#include "tls/h2gw_priv.h"
#include "core/list.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/xprt_mem.h"
#include "tls/tls.h"

#include <nghttp2/nghttp2.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void conn_step(struct pn_h2gw *c);
static void stream_step(struct h2s *s);

static void
conn_fail(struct pn_h2gw *c, const char *why, int quiet)
{
    if (c->dead == NULL) {
        c->dead = why;
        c->quiet = quiet;
    }
    ev_defer_schedule(c->kick);
}

static void
stream_free(struct h2s *s)
{
    pn_list_del(&s->node);
    nghttp2_session_set_stream_user_data(s->c->s, s->id, NULL);
    s->c->nstreams--;
    if (s->c->nstreams == 0) {
        ev_timer_arm(s->c->idle, H2_IDLE_MS);
        ev_timer_arm(s->c->trim, H2_TRIM_MS);
    }
    pn_h2gw_h2c_free(s);
    pn_xprt_free(s->m);
    free(s->path);
    free(s->fields);
    free(s->cookie);
    free(s->in);
    free(s->rbase);
    free(s);
}

/* Free <c> and its streams; NULL is a no-op. */
void
pn_h2gw_free_(pn_h2gw_t *c)
{
    if (c == NULL)
        return;
    while (!pn_list_empty(&c->streams))
        stream_free(pn_container_of(c->streams.next, struct h2s, node));
    while (c->nrest > 0) {
        pn_xprt_t *m = c->rest[--c->nrest];     /* pn_xprt_free evaluates its argument twice */
        pn_xprt_free(m);
    }
    nghttp2_session_del(c->s);
    pn_xprt_free(c->x);
    ev_defer_free(c->kick);
    ev_timer_free(c->idle);
    ev_timer_free(c->trim);
    free(c->out);
    free(c);
}

/* Count a frame of a kind floods are made of; nonzero when over <max> this second. */
static int
over_rate(struct pn_h2gw *c, unsigned *counter, unsigned max)
{
    uint64_t now = pn_now_ms();
    if (now - c->win_ms >= 1000) {
        c->win_ms = now;
        c->resets = c->controls = 0;
    }
    return ++*counter > max;
}

/* ---- requests ---------------------------------------------------------------- */

static int
on_begin_headers(nghttp2_session *ns, const nghttp2_frame *f, void *arg)
{
    struct pn_h2gw *c = arg;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (c->nstreams >= H2_STREAMS_MAX) {
        nghttp2_submit_rst_stream(ns, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    struct h2s *s = xcalloc(sizeof(*s));
    s->c = c;
    s->id = f->hd.stream_id;
    s->content_length = -1;
    s->rem = -1;
    pn_list_add(&c->streams, &s->node);
    c->nstreams++;
    ev_timer_disarm(c->idle);
    ev_timer_disarm(c->trim);
    nghttp2_session_set_stream_user_data(ns, s->id, s);
    return 0;
}

/* <v> (<vlen> bytes, up to a NUL) cut to fit <cap> with its NUL: snprintf's
 * "%.*s" without a format parsed for every field of every stream. */
static void
copy_field(char *dst, size_t cap, const char *v, size_t vlen)
{
    size_t n = strnlen(v, vlen < cap - 1 ? vlen : cap - 1);
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* One request field; past the limits the whole connection goes (an HPACK bomb). */
static int
on_header(nghttp2_session *ns, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
          const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
    struct pn_h2gw *c = arg;
    struct h2s *s = nghttp2_session_get_stream_user_data(ns, f->hd.stream_id);
    if (s == NULL || f->hd.type != NGHTTP2_HEADERS || s->m != NULL)
        return 0;               /* refused, or trailers: not passed on */
    if (++s->nfields > H2_FIELDS_MAX || s->flen + s->clen + nlen + vlen + 4 > H2_HEAD_MAX) {
        c->dead = "request fields over 16 KiB or 100 fields (header list bomb?)";
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    const char *n = (const char *)name, *v = (const char *)value;
    if (nlen == 7 && memcmp(n, ":method", 7) == 0) {
        copy_field(s->method, sizeof(s->method), v, vlen);
    } else if (nlen == 5 && memcmp(n, ":path", 5) == 0) {
        free(s->path);
        s->path = xstrndup(v, vlen);
    } else if ((nlen == 10 && memcmp(n, ":authority", 10) == 0) ||
               (nlen == 4 && memcmp(n, "host", 4) == 0 && s->authority[0] == '\0')) {
        copy_field(s->authority, sizeof(s->authority), v, vlen);
    } else if (nlen == 9 && memcmp(n, ":protocol", 9) == 0) {
        s->ws = vlen == 9 && strncasecmp(v, "websocket", 9) == 0 ? 1 : -1;
    } else if (nlen == 2 && memcmp(n, "te", 2) == 0) {
        s->te_trailers = vlen == 8 && memcmp(v, "trailers", 8) == 0;   /* h2c passes it on */
    } else if (n[0] == ':' || (nlen == 4 && memcmp(n, "host", 4) == 0)) {
        /* other pseudo-fields (:scheme), TE (trailers only), a second Host: not passed */
    } else if (nlen == 6 && memcmp(n, "cookie", 6) == 0) {
        if (s->clen > 0)
            pn_h2gw_append(&s->cookie, &s->clen, "; ", 2);
        pn_h2gw_append(&s->cookie, &s->clen, v, vlen);
    } else {
        if (nlen == 14 && memcmp(n, "content-length", 14) == 0)
            s->content_length = strtoll(v, NULL, 10);     /* nghttp2 checked its digits */
        pn_h2gw_append(&s->fields, &s->flen, n, nlen);
        pn_h2gw_append(&s->fields, &s->flen, ": ", 2);
        pn_h2gw_append(&s->fields, &s->flen, v, vlen);
        pn_h2gw_append(&s->fields, &s->flen, "\r\n", 2);
    }
    return 0;
}

/* A stream's pair is ready: the stream moves now, the connection once the
 * loop's other ready streams have (the kick runs after them), so the
 * responses of a window leave together in one flush. */
static void
on_pair_io(pn_xprt_t *m, int ready, void *arg)
{
    struct h2s *s = arg;
    struct pn_h2gw *c = s->c;
    stream_step(s);
    ev_defer_schedule(c->kick);
}

/* A pair at rest from an earlier stream, still alive, or NULL. */
static pn_xprt_t *
idle_take(struct pn_h2gw *c)
{
    while (c->nrest > 0) {
        pn_xprt_t *m = c->rest[--c->nrest];
        if (pn_xprt_peek(m) == PN_AGAIN)
            return m;
        pn_xprt_free(m);            /* the router closed it meanwhile (idle, drain) */
    }
    return NULL;
}

/* The request's head is complete (and, without content-length, its body):
 * hand it to the HTTP router through a pair at rest, or a fresh one. */
static void
stream_start(struct h2s *s)
{
    struct pn_h2gw *c = s->c;
    pn_xprt_t *p[2];
    char *head = NULL;
    size_t hl = 0;
    char line[64];
    uint8_t key[16];
    char key64[32];
    if (s->method[0] == '\0' || s->path == NULL ||
        (strcmp(s->method, "CONNECT") == 0) != (s->ws == 1) ||
        (s->ws == 1 && pn_random(key, sizeof(key)) != 0)) {     /* a key for WebSockets only */
        nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
        return;
    }
    if (s->ws == 1) {           /* RFC 8441: the service gets an HTTP/1.1 WebSocket upgrade */
        snprintf(s->method, sizeof(s->method), "GET");
        EVP_EncodeBlock((unsigned char *)key64, key, sizeof(key));
    }
    pn_h2gw_append(&head, &hl, s->method, strlen(s->method));
    pn_h2gw_append(&head, &hl, " ", 1);
    pn_h2gw_append(&head, &hl, s->path, strlen(s->path));
    pn_h2gw_append(&head, &hl, " HTTP/1.1\r\nHost: ", 17);
    pn_h2gw_append(&head, &hl, s->authority, strlen(s->authority));
    pn_h2gw_append(&head, &hl, "\r\n", 2);
    if (s->ws == 1) {
        snprintf(line, sizeof(line), "Sec-WebSocket-Key: %s\r\n", key64);
        pn_h2gw_append(&head, &hl, "Connection: Upgrade\r\nUpgrade: websocket\r\n", 41);
        pn_h2gw_append(&head, &hl, line, strlen(line));
    }
    if (s->flen > 0)
        pn_h2gw_append(&head, &hl, s->fields, s->flen);
    if (s->clen > 0) {
        pn_h2gw_append(&head, &hl, "Cookie: ", 8);
        pn_h2gw_append(&head, &hl, s->cookie, s->clen);
        pn_h2gw_append(&head, &hl, "\r\n", 2);
    }
    if (s->content_length < 0 && s->ilen > 0) {
        snprintf(line, sizeof(line), "Content-Length: %zu\r\n", s->ilen);
        pn_h2gw_append(&head, &hl, line, strlen(line));
    }
    pn_h2gw_append(&head, &hl, "\r\n", 2);
    s->body_none = strcmp(s->method, "HEAD") == 0;
    p[1] = NULL;
    s->m = s->h2c || s->ws ? NULL : idle_take(c);    /* h2c: a fresh pair, relayed after the 101 */
    s->reused = s->m != NULL;
    if (s->m == NULL) {
        pn_xprt_mem_pair(p, H2_PAIR_WINDOW, 0);
        s->m = p[0];
    }
    /* The head (< 17 KiB) fits the window: it goes in whole, before the body. */
    ssize_t w = s->m->ops->write(s->m, head, hl);
    free(head);
    if (w != (ssize_t)hl) {
        pn_xprt_free(p[1]);
        nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    if (p[1] != NULL)
        c->stream(p[1], s->h2c, c->arg);
    stream_step(s);
}

static int
on_frame_recv(nghttp2_session *ns, const nghttp2_frame *f, void *arg)
{
    struct pn_h2gw *c = arg;
    struct h2s *s = nghttp2_session_get_stream_user_data(ns, f->hd.stream_id);
    switch (f->hd.type) {
    case NGHTTP2_RST_STREAM:
        if (over_rate(c, &c->resets, H2_RESETS_MAX)) {
            c->dead = "over 200 streams reset by the user in a second (rapid reset, CVE-2023-44487)";
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PRIORITY:
    case NGHTTP2_WINDOW_UPDATE:
        if (over_rate(c, &c->controls, H2_CONTROL_MAX)) {
            c->dead = "over 1000 PING/SETTINGS/PRIORITY/WINDOW_UPDATE frames in a second (flood)";
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
        break;
    default:
        return 0;
    }
    if (s == NULL)
        return 0;
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
        s->end_in = 1;
    if (s->m == NULL && f->hd.type == NGHTTP2_HEADERS && (f->hd.flags & NGHTTP2_FLAG_END_HEADERS) &&
        c->h2c != NULL && s->path != NULL && strcmp(s->method, "CONNECT") != 0)
        s->h2c = c->h2c(s->authority, s->path, c->arg) ? 1 : 0;    /* streams at once, no hold */
    if (s->m == NULL && (f->hd.type == NGHTTP2_DATA || (f->hd.flags & NGHTTP2_FLAG_END_HEADERS)) &&
        (s->end_in || s->content_length >= 0 || s->h2c || s->ws))
        stream_start(s);
    else if (s->m != NULL)
        stream_step(s);
    return 0;
}

static int
on_data_chunk(nghttp2_session *ns, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
              void *arg)
{
    struct pn_h2gw *c = arg;
    struct h2s *s = nghttp2_session_get_stream_user_data(ns, id);
    if (s == NULL) {
        nghttp2_session_consume(ns, id, len);
        return 0;
    }
    /* Bounded by the stream's window (consumed only as bytes go to the pair),
     * or by the hold of a body without length. */
    if (s->ilen + len > H2_BODY_HOLD) {
        nghttp2_session_consume(ns, id, len);
        nghttp2_submit_rst_stream(ns, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
        log_debug("%s: a request body over 64 KiB without content-length", c->who);
        return 0;
    }
    s->in = xrealloc(s->in, s->ilen + len);
    memcpy(s->in + s->ilen, data, len);
    s->ilen += len;
    if (s->m == NULL) {         /* held to its end: the window must not stop it */
        nghttp2_session_consume(ns, id, len);
        s->iconsumed += len;
    }
    return 0;
}

static int
on_stream_close(nghttp2_session *ns, int32_t id, uint32_t code, void *arg)
{
    struct h2s *s = nghttp2_session_get_stream_user_data(ns, id);
    if (s != NULL) {
        struct pn_h2gw *c = s->c;
        /* A whole exchange, nothing left either way: its pair serves the next stream. */
        if (s->m != NULL && code == NGHTTP2_NO_ERROR && s->done && s->keep && s->end_in &&
            s->dlen == 0 && s->rlen == 0 && s->ilen == 0 && c->nrest < H2_IDLE_PAIRS) {
            pn_xprt_unwatch(s->m);
            c->rest[c->nrest++] = s->m;
            s->m = NULL;
        }
        nghttp2_session_set_stream_user_data(ns, id, NULL);
        stream_free(s);
    }
    return 0;
}

/* Move the stream on: body to the router, response from it. */
static void
stream_step(struct h2s *s)
{
    struct pn_h2gw *c = s->c;
    if (s->m == NULL || (s->h2c && pn_h2gw_h2c_step(s)))
        return;
    if (s->ilen > 0) {
        ssize_t w = s->m->ops->write(s->m, s->in, s->ilen);
        if (w > 0) {
            memmove(s->in, s->in + w, s->ilen - (size_t)w);
            s->ilen -= (size_t)w;
            size_t held = (size_t)w < s->iconsumed ? (size_t)w : s->iconsumed;
            s->iconsumed -= held;
            if ((size_t)w > held)
                nghttp2_session_consume(c->s, s->id, (size_t)w - held);
        }
    }
    if (!s->resp_eof && !s->done && pn_h2gw_read_pair(s) != PN_OK)
        s->resp_eof = 1;
    while (!s->resp_started) {
        size_t he = pn_head_end(s->rb, s->rlen);
        if (he == 0 && !s->resp_eof && s->rlen < H2_RESP_MAX)
            break;
        if (he == 0 || pn_h2gw_submit_head(s, he) != PN_OK) {
            nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
            pn_xprt_unwatch(s->m);
            return;
        }
    }
    if (s->resp_started && !s->done && pn_h2gw_body_take(s) != PN_OK) {
        nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        pn_xprt_unwatch(s->m);
        return;
    }
    if (s->resp_started && s->deferred && (s->dlen > 0 || s->done || s->resp_eof)) {
        s->deferred = 0;
        nghttp2_session_resume_data(c->s, s->id);
    }
    int mask = (s->ilen > 0 ? EV_WR : 0) |
               (pn_h2gw_rb_open(s) && !s->resp_eof && !s->done ? EV_RD : 0);
    pn_xprt_watch(s->m, c->loop, mask, on_pair_io, s);
}

/* ---- the connection ---------------------------------------------------------- */

/* Write what nghttp2 has: its frames (one per nghttp2_session_mem_send) are
 * gathered up to H2_OUT_GATHER bytes and written at once, so a window of small
 * responses (HEADERS and a DATA each) leaves in a few TLS records and sends,
 * not two of each per response. */
static int
flush(struct pn_h2gw *c)
{
    for (;;) {
        if (c->ooff < c->olen) {
            ssize_t w = c->x->ops->write(c->x, c->out + c->ooff, c->olen - c->ooff);
            if (w == PN_AGAIN)
                return EV_WR | (c->x->want & EV_RD);
            if (w < 0) {
                conn_fail(c, "the user's connection failed", 1);
                return 0;
            }
            c->ooff += (size_t)w;
            continue;
        }
        c->olen = c->ooff = 0;
        while (c->olen < H2_OUT_GATHER) {
            const uint8_t *p;
            ssize_t n = nghttp2_session_mem_send(c->s, &p);
            if (n < 0) {
                conn_fail(c, nghttp2_strerror((int)n), 0);
                return 0;
            }
            if (n == 0)
                break;
            if (c->olen + (size_t)n > c->ocap) {
                c->ocap = c->olen + (size_t)n > H2_OUT_GATHER ? c->olen + (size_t)n : H2_OUT_GATHER;
                c->out = xrealloc(c->out, c->ocap);
            }
            memcpy(c->out + c->olen, p, (size_t)n);
            c->olen += (size_t)n;
        }
        if (c->olen == 0) {
            if (c->nstreams == 0) {     /* an idle connection holds no buffer */
                free(c->out);
                c->out = NULL;
                c->ocap = 0;
            }
            return 0;
        }
    }
}

static void
on_io(pn_xprt_t *x, int ready, void *arg)
{
    conn_step(arg);
}

/* Read what the user sent, send what nghttp2 has, and wait for the next. */
static void
conn_step(struct pn_h2gw *c)
{
    uint8_t buf[H2_READ];
    int again = 0;
    for (int i = 0; i < 16 && c->dead == NULL && c->ooff >= c->olen; i++) {
        ssize_t n = c->x->ops->read(c->x, buf, sizeof(buf));
        if (n == PN_AGAIN) {
            again = 1;
            break;
        }
        if (n <= 0) {
            conn_fail(c, n == 0 ? "closed by the user" : "the user's connection failed", 1);
            break;
        }
        ssize_t rv = nghttp2_session_mem_recv(c->s, buf, (size_t)n);
        if (rv < 0) {
            conn_fail(c, rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC ? "not an HTTP/2 connection preface"
                         : rv == NGHTTP2_ERR_FLOODED ? "flood of frames that need an answer"
                         : rv == NGHTTP2_ERR_CALLBACK_FAILURE && c->dead ? c->dead
                         : nghttp2_strerror((int)rv), 0);
            break;
        }
    }
    int wmask = c->dead == NULL ? flush(c) : 0;
    if (c->dead != NULL) {
        ev_defer_schedule(c->kick);
        return;
    }
    if (!nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s) &&
        c->ooff >= c->olen) {
        conn_fail(c, "session over (GOAWAY)", 1);
        return;
    }
    int mask = wmask | (c->ooff >= c->olen && nghttp2_session_want_read(c->s) ? EV_RD : 0);
    pn_xprt_watch(c->x, c->loop, mask ? mask : EV_RD, on_io, c);
    /* Records read ahead (SSL_set_read_ahead in pn_h2gw_new) wait in the TLS
     * layer, where no readiness tells of them: read on at the next turn. */
    SSL *ssl = pn_tls_xprt_ssl(c->x);
    if (!again && c->ooff >= c->olen && ssl != NULL && SSL_has_pending(ssl))
        ev_defer_schedule(c->kick);
}

static void
on_kick(void *arg)
{
    struct pn_h2gw *c = arg;
    if (c->dead == NULL) {
        conn_step(c);
        return;
    }
    if (!c->quiet)
        log_warn("%s: %s: closing the connection", c->who, c->dead);
    else
        log_debug("%s: %s", c->who, c->dead);
    c->done(c, c->arg);         /* frees <c> */
}

/* No stream for H2_TRIM_MS: keep a few pairs at rest (with their exchanges
 * and data connections), not a whole window's. */
static long
on_trim(ev_timer_t *t, void *arg)
{
    struct pn_h2gw *c = arg;
    while (c->nstreams == 0 && c->nrest > H2_TRIM_PAIRS) {
        pn_xprt_t *m = c->rest[--c->nrest];
        pn_xprt_free(m);
    }
    return EV_TIMER_STOP;
}

static long
on_idle(ev_timer_t *t, void *arg)
{
    struct pn_h2gw *c = arg;
    if (c->nstreams == 0) {
        nghttp2_submit_goaway(c->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->s),
                              NGHTTP2_NO_ERROR, NULL, 0);
        conn_step(c);
        conn_fail(c, "idle", 1);
    }
    return EV_TIMER_STOP;
}

pn_h2gw_t *
pn_h2gw_new(ev_loop_t *loop, pn_xprt_t *x, const char *who, pn_h2gw_stream_cb stream,
            pn_h2gw_done_cb done, void *arg)
{
    static nghttp2_session_callbacks *cbs;
    if (cbs == NULL) {
        cbs = pn_h2gw_callbacks(on_header, on_frame_recv, on_data_chunk, on_stream_close);
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_send_data_callback(cbs, pn_h2gw_body_send);
    }
    struct pn_h2gw *c = xcalloc(sizeof(*c));
    c->loop = loop;
    c->x = x;
    /* One read brings every record the user sent (a window of requests, a
     * record each), not two reads (header, body) per record. */
    if (pn_tls_xprt_ssl(x) != NULL)
        SSL_set_read_ahead(pn_tls_xprt_ssl(x), 1);
    c->stream = stream;
    c->done = done;
    c->arg = arg;
    c->pair_io = on_pair_io;
    snprintf(c->who, sizeof(c->who), "%s", who);
    pn_list_init(&c->streams);
    c->kick = ev_defer_new(loop, on_kick, c);
    c->idle = ev_timer_new(loop, on_idle, c);
    c->trim = ev_timer_new(loop, on_trim, c);
    c->win_ms = pn_now_ms();
    if (nghttp2_session_server_new2(&c->s, cbs, c, pn_h2gw_option()) != 0)
        abort();
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_STREAMS_MAX },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_HEAD_MAX },
        { NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1 },    /* WebSocket (RFC 8441) */
    };
    nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    ev_timer_arm(c->idle, H2_IDLE_MS);
    ev_defer_schedule(c->kick);     /* the first step runs outside the caller */
    return c;
}

void
pn_h2gw_goaway(pn_h2gw_t *c)
{
    nghttp2_submit_goaway(c->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->s),
                          NGHTTP2_NO_ERROR, NULL, 0);
    ev_defer_schedule(c->kick);
}

size_t
pn_h2gw_streams(const pn_h2gw_t *c)
{
    return c->nstreams;
}

void
pn_h2gw_set_h2c(pn_h2gw_t *c, pn_h2gw_h2c_cb cb)
{
    c->h2c = cb;
}
