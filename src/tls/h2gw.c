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
 * at most) until its end, then sent with its length.
 *
 * Limits beyond nghttp2's own (max outbound ACKs, settings per frame): 100
 * streams at once, request fields at most 16 KiB or 100 per stream (an HPACK
 * bomb), 200 streams reset by the user per second (rapid reset,
 * CVE-2023-44487), 1000 PING/SETTINGS/PRIORITY/WINDOW_UPDATE frames per
 * second, a garbage preface: the connection is closed with a log line naming
 * the reason. A connection without streams for 60 s is closed. */
#include "tls/h2gw.h"
#include "core/list.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/xprt_mem.h"

#include <nghttp2/nghttp2.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define H2_STREAMS_MAX 100
#define H2_FIELDS_MAX 100               /* request fields per stream */
#define H2_HEAD_MAX 16384               /* a request's fields, as HTTP/1.1 text */
#define H2_BODY_HOLD 65536              /* a body without content-length, held to its end */
#define H2_PAIR_WINDOW 65536            /* each direction of a stream's memory pair */
#define H2_RESP_MAX 65536               /* response bytes read ahead of nghttp2 */
#define H2_IDLE_MS 60000
#define H2_RESETS_MAX 200               /* per second */
#define H2_CONTROL_MAX 1000             /* per second */
#define H2_READ 16384
#define H2_AUTHORITY_MAX 261            /* a DNS name and a port */
#define H2_IDLE_PAIRS 64                /* pairs kept between streams (keep-alive exchanges) */

struct pn_h2gw {
    ev_loop_t *loop;                    /* borrowed */
    pn_h2gw_stream_cb stream;           /* a new stream for the owner */
    pn_h2gw_done_cb done;               /* the connection is over */
    void *arg;                          /* borrowed: the owner's */
    pn_xprt_t *x;                       /* owned: the TLS transport; watched */
    nghttp2_session *s;                 /* owned */
    char who[64];                       /* log prefix, e.g. "hub: h2: 192.0.2.1" */
    pn_list_t streams;                  /* struct h2s, owned */
    pn_xprt_t *rest[H2_IDLE_PAIRS];     /* owned: pairs whose exchange is at rest */
    size_t nrest;
    size_t nstreams;
    uint8_t *out;                       /* owned: frames not written yet */
    size_t olen, ooff;
    ev_defer_t *kick;                   /* owned: a step outside the I/O callbacks */
    ev_timer_t *idle;                   /* owned */
    uint64_t win_ms;                    /* the current second of the counters below */
    unsigned resets, controls;
    const char *dead;                   /* closing: why (static), logged once */
    int quiet;                          /* dead without a warning (the user closed, idle) */
};

struct h2s {
    pn_list_t node;                     /* in h2c.streams */
    struct pn_h2gw *c;
    int32_t id;
    int reused;                         /* <m> served a stream before */
    pn_xprt_t *m;                       /* owned: our end of the pair; NULL before the head */
    char method[24];
    char authority[H2_AUTHORITY_MAX + 1];
    char *path;                         /* owned */
    char *fields;                       /* owned: "name: value\r\n"... */
    size_t flen, nfields;
    char *cookie;                       /* owned: cookies joined by "; " */
    size_t clen;
    long long content_length;           /* -1 when none */
    int end_in;                         /* the user ended its side */
    uint8_t *in;                        /* owned: body bytes not written to <m> */
    size_t ilen;
    size_t iconsumed;                   /* of which consumed already (a body held to its end) */
    uint8_t *rb;                        /* owned: response bytes read from <m> */
    size_t rlen;
    size_t dlen;                        /* of rb: body bytes ready for DATA (decoded), at the front */
    int resp_started, resp_eof, deferred, body_none;
    int done;                           /* the response body is all in (or none) */
    int keep;                           /* the pair may serve another stream after this one */
    int chunked, ck_st, ck_line;        /* a chunked body: the decoder's state */
    unsigned long long ck_left;
    long long rem;                      /* body bytes still to come by Content-Length, -1: none */
};

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
    if (s->c->nstreams == 0)
        ev_timer_arm(s->c->idle, H2_IDLE_MS);
    pn_xprt_free(s->m);
    free(s->path);
    free(s->fields);
    free(s->cookie);
    free(s->in);
    free(s->rb);
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
    nghttp2_session_set_stream_user_data(ns, s->id, s);
    return 0;
}

static void
append(char **buf, size_t *len, const char *p, size_t n)
{
    *buf = xrealloc(*buf, *len + n + 1);
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
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
        snprintf(s->method, sizeof(s->method), "%.*s", (int)vlen, v);
    } else if (nlen == 5 && memcmp(n, ":path", 5) == 0) {
        free(s->path);
        s->path = xstrndup(v, vlen);
    } else if ((nlen == 10 && memcmp(n, ":authority", 10) == 0) ||
               (nlen == 4 && memcmp(n, "host", 4) == 0 && s->authority[0] == '\0')) {
        snprintf(s->authority, sizeof(s->authority), "%.*s", (int)vlen, v);
    } else if (n[0] == ':' || (nlen == 2 && memcmp(n, "te", 2) == 0) ||
               (nlen == 4 && memcmp(n, "host", 4) == 0)) {
        /* other pseudo-fields (:scheme), TE (trailers only), a second Host: not passed */
    } else if (nlen == 6 && memcmp(n, "cookie", 6) == 0) {
        if (s->clen > 0)
            append(&s->cookie, &s->clen, "; ", 2);
        append(&s->cookie, &s->clen, v, vlen);
    } else {
        if (nlen == 14 && memcmp(n, "content-length", 14) == 0)
            s->content_length = strtoll(v, NULL, 10);     /* nghttp2 checked its digits */
        append(&s->fields, &s->flen, n, nlen);
        append(&s->fields, &s->flen, ": ", 2);
        append(&s->fields, &s->flen, v, vlen);
        append(&s->fields, &s->flen, "\r\n", 2);
    }
    return 0;
}

static void
on_pair_io(pn_xprt_t *m, int ready, void *arg)
{
    struct h2s *s = arg;
    struct pn_h2gw *c = s->c;
    stream_step(s);
    conn_step(c);
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
    if (s->method[0] == '\0' || s->path == NULL || strcmp(s->method, "CONNECT") == 0) {
        nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
        return;
    }
    append(&head, &hl, s->method, strlen(s->method));
    append(&head, &hl, " ", 1);
    append(&head, &hl, s->path, strlen(s->path));
    append(&head, &hl, " HTTP/1.1\r\nHost: ", 17);
    append(&head, &hl, s->authority, strlen(s->authority));
    append(&head, &hl, "\r\n", 2);
    if (s->flen > 0)
        append(&head, &hl, s->fields, s->flen);
    if (s->clen > 0) {
        append(&head, &hl, "Cookie: ", 8);
        append(&head, &hl, s->cookie, s->clen);
        append(&head, &hl, "\r\n", 2);
    }
    if (s->content_length < 0 && s->ilen > 0) {
        snprintf(line, sizeof(line), "Content-Length: %zu\r\n", s->ilen);
        append(&head, &hl, line, strlen(line));
    }
    append(&head, &hl, "\r\n", 2);
    s->body_none = strcmp(s->method, "HEAD") == 0;
    p[1] = NULL;
    s->m = idle_take(c);
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
        c->stream(p[1], c->arg);
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
    if (s->m == NULL && (f->hd.type == NGHTTP2_DATA || (f->hd.flags & NGHTTP2_FLAG_END_HEADERS)) &&
        (s->end_in || s->content_length >= 0))
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

/* ---- responses --------------------------------------------------------------- */

static ssize_t
on_body_read(nghttp2_session *ns, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
             nghttp2_data_source *src, void *arg)
{
    struct h2s *s = src->ptr;
    size_t n = s->dlen < length ? s->dlen : length;
    memcpy(buf, s->rb, n);
    memmove(s->rb, s->rb + n, s->rlen - n);
    s->rlen -= n;
    s->dlen -= n;
    if ((s->done || s->resp_eof) && s->dlen == 0)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (n == 0) {
        s->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (n > 0 && s->m != NULL)      /* room again: read the pair */
        pn_xprt_watch(s->m, s->c->loop, EV_RD, on_pair_io, s);
    return (ssize_t)n;
}

static int
hop_field(const char *n, size_t len)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", NULL,
    };
    for (size_t i = 0; hop[i] != NULL; i++)
        if (strlen(hop[i]) == len && strncasecmp(hop[i], n, len) == 0)
            return 1;
    return 0;
}

/* The response head is in rb[0, end): submit it (or skip a 1xx). */
static int
submit_head(struct h2s *s, size_t end)
{
    char *p = (char *)s->rb, *e = (char *)s->rb + end;
    nghttp2_nv nv[H2_FIELDS_MAX + 1];
    char status[4];
    size_t n = 0;
    char *eol = memchr(p, '\n', (size_t)(e - p));
    if (eol == NULL || eol - p < 12 || strncmp(p, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)p[9]))
        return PN_ERR;
    memcpy(status, p + 9, 3);
    status[3] = '\0';
    int code = atoi(status);
    s->keep = p[7] == '1';         /* HTTP/1.1: keep-alive unless it says close */
    if (code < 200) {           /* interim: the final head follows */
        memmove(s->rb, s->rb + end, s->rlen - end);
        s->rlen -= end;
        return PN_OK;
    }
    nv[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE };
    for (char *l = eol + 1; l < e && n < H2_FIELDS_MAX; ) {
        char *le = memchr(l, '\n', (size_t)(e - l));
        if (le == NULL)
            break;
        char *ve = le > l && le[-1] == '\r' ? le - 1 : le;
        char *colon = memchr(l, ':', (size_t)(ve - l));
        if (colon != NULL && colon > l) {
            size_t nl = (size_t)(colon - l);
            char *v = colon + 1;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            if (nl == 17 && strncasecmp(l, "transfer-encoding", 17) == 0)
                s->chunked = 1;     /* the router let only "chunked" through */
            if (nl == 10 && strncasecmp(l, "connection", 10) == 0 &&
                memmem(v, (size_t)(ve - v), "close", 5) != NULL)
                s->keep = 0;
            if (!hop_field(l, nl)) {
                for (char *c = l; c < colon; c++)
                    *c = (char)tolower((unsigned char)*c);
                if (nl == 14 && memcmp(l, "content-length", 14) == 0)
                    s->rem = strtoll(v, NULL, 10);
                nv[n++] = (nghttp2_nv){ (uint8_t *)l, (uint8_t *)v, nl, (size_t)(ve - v),
                                        NGHTTP2_NV_FLAG_NONE };
            }
        }
        l = le + 1;
    }
    if (code == 204 || code == 304)
        s->body_none = 1;
    if (s->body_none) {
        s->chunked = 0;
        s->rem = -1;
        s->done = 1;
    } else if (!s->chunked && s->rem < 0) {
        s->keep = 0;                /* to the close */
    }
    nghttp2_data_provider prd = { .source.ptr = s, .read_callback = on_body_read };
    int rv = nghttp2_submit_response(s->c->s, s->id, nv, n, s->body_none ? NULL : &prd);
    memmove(s->rb, s->rb + end, s->rlen - end);     /* nv was copied by nghttp2 */
    s->rlen -= end;
    s->resp_started = 1;
    return rv == 0 ? PN_OK : PN_ERR;
}

enum { CK_SIZE = 0, CK_EXT, CK_DATA, CK_DATA_END, CK_TRAILER, CK_DONE };

/* Decode the chunked bytes after rb[dlen] in place (the body to the front,
 * framing dropped): PN_OK, or PN_ERR for framing the router would not have
 * let through. */
static int
dechunk(struct h2s *s)
{
    size_t i = s->dlen;
    while (i < s->rlen && s->ck_st != CK_DONE) {
        uint8_t ch = s->rb[i];
        switch (s->ck_st) {
        case CK_SIZE:
        case CK_EXT:
            i++;
            if (ch == '\n') {
                s->ck_st = s->ck_left == 0 ? CK_TRAILER : CK_DATA;
                s->ck_line = 0;
            } else if (ch == '\r' || s->ck_st == CK_EXT) { /* nothing */
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                s->ck_st = CK_EXT;
            } else if (isxdigit(ch) && s->ck_left < (1ULL << 40)) {
                s->ck_left = s->ck_left * 16 + (unsigned)(isdigit(ch) ? ch - '0' : (ch | 0x20) - 'a' + 10);
            } else {
                return PN_ERR;
            }
            break;
        case CK_DATA: {
            size_t n = s->rlen - i < s->ck_left ? s->rlen - i : (size_t)s->ck_left;
            memmove(s->rb + s->dlen, s->rb + i, n);
            s->dlen += n;
            i += n;
            s->ck_left -= n;
            if (s->ck_left == 0)
                s->ck_st = CK_DATA_END;
            break;
        }
        case CK_DATA_END:
            i++;
            if (ch == '\n')
                s->ck_st = CK_SIZE;
            else if (ch != '\r')
                return PN_ERR;
            break;
        default:                    /* CK_TRAILER: lines up to an empty one */
            i++;
            if (ch == '\n') {
                if (s->ck_line == 0)
                    s->ck_st = CK_DONE;
                s->ck_line = 0;
            } else if (ch != '\r') {
                s->ck_line++;
            }
            break;
        }
    }
    memmove(s->rb + s->dlen, s->rb + i, s->rlen - i);
    s->rlen = s->dlen + (s->rlen - i);
    if (s->ck_st == CK_DONE)
        s->done = 1;
    return PN_OK;
}

/* Take the response bytes read after the head as body: decoded, or counted
 * against Content-Length, or up to the close. Bytes after the end (there
 * should be none) make the pair unfit for another stream. */
static int
body_take(struct h2s *s)
{
    if (s->chunked) {
        if (dechunk(s) != PN_OK)
            return PN_ERR;
    } else if (s->rem >= 0) {
        size_t n = s->rlen - s->dlen;
        if ((long long)n >= s->rem)
            n = (size_t)s->rem;
        s->dlen += n;
        s->rem -= (long long)n;
        if (s->rem == 0)
            s->done = 1;
    } else {
        s->dlen = s->rlen;
    }
    if (s->done && s->rlen > s->dlen) {
        s->rlen = s->dlen;
        s->keep = 0;
    }
    if (s->resp_eof && !s->done)
        s->keep = 0;
    return PN_OK;
}

/* Move the stream on: body to the router, response from it. */
static void
stream_step(struct h2s *s)
{
    struct pn_h2gw *c = s->c;
    if (s->m == NULL)
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
    while (s->rlen < H2_RESP_MAX && !s->resp_eof && !s->done) {
        if (s->rb == NULL)
            s->rb = xmalloc(H2_RESP_MAX);
        ssize_t r = s->m->ops->read(s->m, s->rb + s->rlen, H2_RESP_MAX - s->rlen);
        if (r == PN_AGAIN)
            break;
        if (r <= 0)
            s->resp_eof = 1;
        else
            s->rlen += (size_t)r;
    }
    while (!s->resp_started) {
        size_t he = pn_head_end(s->rb, s->rlen);
        if (he == 0 && !s->resp_eof && s->rlen < H2_RESP_MAX)
            break;
        if (he == 0 || submit_head(s, he) != PN_OK) {
            nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
            pn_xprt_unwatch(s->m);
            return;
        }
    }
    if (s->resp_started && !s->done && body_take(s) != PN_OK) {
        nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        pn_xprt_unwatch(s->m);
        return;
    }
    if (s->resp_started && s->deferred && (s->dlen > 0 || s->done || s->resp_eof)) {
        s->deferred = 0;
        nghttp2_session_resume_data(c->s, s->id);
    }
    int mask = (s->ilen > 0 ? EV_WR : 0) |
               (s->rlen < H2_RESP_MAX && !s->resp_eof && !s->done ? EV_RD : 0);
    pn_xprt_watch(s->m, c->loop, mask, on_pair_io, s);
}

/* ---- the connection ---------------------------------------------------------- */

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
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(c->s, &p);
        if (n < 0) {
            conn_fail(c, nghttp2_strerror((int)n), 0);
            return 0;
        }
        if (n == 0)
            return 0;
        c->out = xrealloc(c->out, (size_t)n);
        memcpy(c->out, p, (size_t)n);
        c->olen = (size_t)n;
        c->ooff = 0;
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
    for (int i = 0; i < 16 && c->dead == NULL && c->ooff >= c->olen; i++) {
        ssize_t n = c->x->ops->read(c->x, buf, sizeof(buf));
        if (n == PN_AGAIN)
            break;
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
    static nghttp2_option *opt;
    if (cbs == NULL) {
        if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
            abort();
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_option_set_max_outbound_ack(opt, 1000);
        nghttp2_option_set_max_settings(opt, 32);
    }
    struct pn_h2gw *c = xcalloc(sizeof(*c));
    c->loop = loop;
    c->x = x;
    c->stream = stream;
    c->done = done;
    c->arg = arg;
    snprintf(c->who, sizeof(c->who), "%s", who);
    pn_list_init(&c->streams);
    c->kick = ev_defer_new(loop, on_kick, c);
    c->idle = ev_timer_new(loop, on_idle, c);
    c->win_ms = pn_now_ms();
    if (nghttp2_session_server_new2(&c->s, cbs, c, opt) != 0)
        abort();
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_STREAMS_MAX },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_HEAD_MAX },
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
