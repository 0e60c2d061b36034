/* tls/h2gw_h2c.c: the streams of an HTTP/2 gateway that go through as HTTP/2
 * (tls/h2gw.h, pn_h2gw_h2c_cb; docs/hub.md §1.2, "h2c routes").
 *
 *   user stream --HTTP/1.1 head--> pair --> the router (route, rules, pages)
 *   pair <-- "HTTP/1.1 101 h2c" + the head as rewritten for the service
 *   user stream <==> h2s <==(nghttp2 client, one stream)==> pair <==relay==> h2c service
 *
 * The user's DATA become the request's DATA (its window consumed as they go
 * up), the service's HEADERS, DATA and trailers become the user's; a reset
 * either way resets the other side. The service's header blocks are at most
 * 100 fields in 16 KiB, its DATA held at most 64 KiB (its window). */
#include "tls/h2gw_priv.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UP_STATUS "HTTP/1.1 101 h2c\r\n"

void
pn_h2gw_h2c_free(struct h2s *s)
{
    nghttp2_session_del(s->up);
    s->up = NULL;
    free(s->uout);
    free(s->hb);
}

static void
hb_add(struct h2s *s, const char *n, size_t nl, const char *v, size_t vl)
{
    pn_h2gw_append(&s->hb, &s->hblen, n, nl);
    s->hblen++;                 /* the NUL pn_h2gw_append wrote stays */
    pn_h2gw_append(&s->hb, &s->hblen, v, vl);
    s->hblen++;
    s->hbn++;
}

/* ---- the service's side (nghttp2 client callbacks, arg: the h2s) -------------- */

static int
up_on_header(nghttp2_session *up, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
             const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
    struct h2s *s = arg;
    if (f->hd.type != NGHTTP2_HEADERS || f->hd.stream_id != s->uid)
        return 0;
    if (s->hbn >= H2_FIELDS_MAX || s->hblen + nlen + vlen + 2 > H2_HEAD_MAX)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;       /* resets the stream */
    hb_add(s, (const char *)name, nlen, (const char *)value, vlen);
    return 0;
}

static int
up_on_frame(nghttp2_session *up, const nghttp2_frame *f, void *arg)
{
    struct h2s *s = arg;
    struct pn_h2gw *c = s->c;
    if (f->hd.stream_id != s->uid || (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA))
        return 0;
    int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (f->hd.type == NGHTTP2_HEADERS && !s->resp_started) {
        nghttp2_nv nv[H2_FIELDS_MAX];
        size_t n = pn_h2gw_hb_nv(s, nv, H2_FIELDS_MAX);
        int interim = n > 0 && nv[0].valuelen == 3 && nv[0].value[0] == '1';
        if (!interim) {         /* a 1xx is not passed on; the final head follows */
            nghttp2_data_provider prd = { .source.ptr = s, .read_callback = pn_h2gw_body_read };
            s->done = end;
            s->resp_started = 1;
            if (nghttp2_submit_response(c->s, s->id, nv, n, end ? NULL : &prd) != 0)
                nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        }
        s->hblen = s->hbn = 0;
        return 0;
    }
    if (f->hd.type == NGHTTP2_HEADERS)
        s->trailers = 1;        /* kept in hb until the body is out (h2gw_resp.c) */
    if (end) {
        s->done = 1;
        if (s->deferred) {
            s->deferred = 0;
            nghttp2_session_resume_data(c->s, s->id);
        }
    }
    return 0;
}

static int
up_on_data(nghttp2_session *up, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
           void *arg)
{
    struct h2s *s = arg;
    if (id != s->uid)
        return 0;
    if (s->rlen + len > H2_RESP_MAX)    /* over the window we gave */
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    pn_h2gw_rb_room(s, H2_RESP_MAX, len);   /* the whole window's room */
    memcpy(s->rb + s->rlen, data, len);
    s->rlen += len;
    s->dlen = s->rlen;
    if (s->deferred) {
        s->deferred = 0;
        nghttp2_session_resume_data(s->c->s, s->id);
    }
    return 0;
}

static int
up_on_close(nghttp2_session *up, int32_t id, uint32_t code, void *arg)
{
    struct h2s *s = arg;
    if (id == s->uid && (code != NGHTTP2_NO_ERROR || !s->done))
        nghttp2_submit_rst_stream(s->c->s, NGHTTP2_FLAG_NONE, s->id,
                                  code != NGHTTP2_NO_ERROR ? code : NGHTTP2_INTERNAL_ERROR);
    return 0;
}

/* The request's body for the service: the user's DATA as they come. */
static ssize_t
up_body_read(nghttp2_session *up, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
             nghttp2_data_source *src, void *arg)
{
    struct h2s *s = src->ptr;
    size_t n = s->ilen < length ? s->ilen : length;
    if (n > 0) {
        memcpy(buf, s->in, n);
        memmove(s->in, s->in + n, s->ilen - n);
        s->ilen -= n;
        nghttp2_session_consume(s->c->s, s->id, n);
    }
    if (s->end_in && s->ilen == 0)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (n == 0) {
        s->udeferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* ---- the switch --------------------------------------------------------------- */

static int
conn_field(const char *n, size_t len)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host", "te",
        NULL,
    };
    for (size_t i = 0; hop[i] != NULL; i++)
        if (strlen(hop[i]) == len && strncasecmp(hop[i], n, len) == 0)
            return 1;
    return 0;
}

/* The head in rb[0, end) as the service should get it: the request on <up>. */
static int
up_start(struct h2s *s, size_t end)
{
    static nghttp2_session_callbacks *cbs;
    if (cbs == NULL)
        cbs = pn_h2gw_callbacks(up_on_header, up_on_frame, up_on_data, up_on_close);
    char *p = (char *)s->rb, *e = p + end;
    char *sp1 = memchr(p, ' ', (size_t)(e - p));
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(e - sp1 - 1)) : NULL;
    char *eol = memchr(p, '\n', (size_t)(e - p));
    if (sp1 == NULL || sp2 == NULL || eol == NULL || sp2 > eol)
        return PN_ERR;
    s->hblen = s->hbn = 0;
    hb_add(s, ":method", 7, p, (size_t)(sp1 - p));
    hb_add(s, ":scheme", 7, "http", 4);
    hb_add(s, ":path", 5, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    char *l = eol + 1, *name, *v, *ve;
    size_t nl;
    while (s->hbn < H2_FIELDS_MAX && pn_h2gw_field(&l, e, &name, &nl, &v, &ve)) {
        if (name != NULL && nl == 4 && memcmp(name, "host", 4) == 0)
            hb_add(s, ":authority", 10, v, (size_t)(ve - v));
        else if (name != NULL && !conn_field(name, nl))
            hb_add(s, name, nl, v, (size_t)(ve - v));
    }
    if (s->te_trailers)
        hb_add(s, "te", 2, "trailers", 8);
    if (nghttp2_session_client_new2(&s->up, cbs, s, pn_h2gw_option()) != 0)
        abort();
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_RESP_MAX },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_HEAD_MAX },
    };
    nghttp2_submit_settings(s->up, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    nghttp2_nv nv[H2_FIELDS_MAX + 1];
    size_t n = pn_h2gw_hb_nv(s, nv, H2_FIELDS_MAX + 1);
    nghttp2_data_provider prd = { .source.ptr = s, .read_callback = up_body_read };
    s->uid = nghttp2_submit_request(s->up, NULL, nv, n, &prd, NULL);
    s->hblen = s->hbn = 0;
    return s->uid > 0 ? PN_OK : PN_ERR;
}

/* Waiting for the router: a 101 (and the rewritten head), or a page that the
 * HTTP/1.x path serves. PN_AGAIN: not all here yet. */
static int
await_switch(struct h2s *s)
{
    pn_h2gw_rb_room(s, H2_RESP_MAX, 0);     /* even before a byte: the body's buffer later */
    if (pn_h2gw_read_pair(s) != PN_OK)
        return PN_ERR;
    size_t sl = sizeof(UP_STATUS) - 1;
    if (s->rlen < sl + 2)
        return PN_AGAIN;
    if (memcmp(s->rb, UP_STATUS "\r\n", sl + 2) != 0)
        return PN_ERR;          /* a page */
    size_t he = pn_head_end(s->rb + sl + 2, s->rlen - sl - 2);
    if (he == 0)
        return s->rlen < H2_RESP_MAX ? PN_AGAIN : PN_ERR;
    memmove(s->rb, s->rb + sl + 2, s->rlen - sl - 2);
    s->rlen -= sl + 2;
    if (up_start(s, he) != PN_OK) {
        s->rlen = 0;
        return PN_ERR;
    }
    /* What the service sent already (the relay started): read it again below. */
    uint8_t *early = NULL;
    size_t nearly = s->rlen - he;
    if (nearly > 0) {
        early = xmalloc(nearly);
        memcpy(early, s->rb + he, nearly);
    }
    s->rlen = s->dlen = 0;
    s->h2c = 2;
    ssize_t rv = nearly > 0 ? nghttp2_session_mem_recv(s->up, early, nearly) : 0;
    free(early);
    return rv < 0 ? PN_ERR : PN_OK;
}

/* Frames both ways between <up> and the pair. PN_ERR: the service's
 * connection failed or broke HTTP/2. */
static int
pump(struct h2s *s, int *mask)
{
    uint8_t buf[H2_READ];
    *mask = 0;
    for (int i = 0; i < 16; i++) {
        if (s->rlen >= H2_RESP_MAX)
            break;          /* the user's side first */
        ssize_t r = s->m->ops->read(s->m, buf, sizeof(buf));
        if (r == PN_AGAIN) {
            *mask |= EV_RD;
            break;
        }
        ssize_t rv = r > 0 ? nghttp2_session_mem_recv(s->up, buf, (size_t)r) : 0;
        if (r <= 0 || rv < 0) {
            log_debug("%s: stream %d: h2c: %s", s->c->who, (int)s->id,
                      r <= 0 ? "the service's connection closed" : nghttp2_strerror((int)rv));
            return PN_ERR;
        }
    }
    if (s->udeferred && (s->ilen > 0 || s->end_in)) {
        s->udeferred = 0;
        nghttp2_session_resume_data(s->up, s->uid);
    }
    for (;;) {
        if (s->uooff < s->uolen) {
            ssize_t w = s->m->ops->write(s->m, s->uout + s->uooff, s->uolen - s->uooff);
            if (w == PN_AGAIN) {
                *mask |= EV_WR;
                break;
            }
            if (w < 0)
                return PN_ERR;
            s->uooff += (size_t)w;
            continue;
        }
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(s->up, &p);
        if (n < 0)
            return PN_ERR;
        if (n == 0)
            break;
        s->uout = xrealloc(s->uout, (size_t)n);
        memcpy(s->uout, p, (size_t)n);
        s->uolen = (size_t)n;
        s->uooff = 0;
    }
    return PN_OK;
}

int
pn_h2gw_h2c_step(struct h2s *s)
{
    struct pn_h2gw *c = s->c;
    int mask;
    if (s->h2c == 1) {
        int rc = await_switch(s);
        if (rc == PN_AGAIN) {
            pn_xprt_watch(s->m, c->loop, EV_RD, c->pair_io, s);
            return 1;
        }
        if (rc != PN_OK && s->up == NULL) {
            s->h2c = 0;         /* a page from the router: served as HTTP/1.x */
            return 0;
        }
        if (rc != PN_OK) {
            log_debug("%s: stream %d: h2c: a bad switch", c->who, (int)s->id);
            goto fail;
        }
    }
    if (pump(s, &mask) != PN_OK)
        goto fail;
    if (s->resp_started && s->deferred && (s->dlen > 0 || s->done)) {
        s->deferred = 0;
        nghttp2_session_resume_data(c->s, s->id);
    }
    pn_xprt_watch(s->m, c->loop, mask, c->pair_io, s);
    return 1;
fail:
    log_debug("%s: stream %d: the h2c service's connection failed", c->who, (int)s->id);
    nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    pn_xprt_unwatch(s->m);
    return 1;
}
