/* tls/h2gw_resp.c: the responses of an HTTP/2 gateway's streams
 * (tls/h2gw.h): the HTTP/1.x response read back from a stream's pair becomes
 * HEADERS (hop-by-hop fields dropped) and DATA (a chunked body decoded, a
 * Content-Length body counted, or up to the close). */
#include "tls/h2gw_priv.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "tls/h2_data.h"

#include <ctype.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Grown by doubling from 256 bytes: a head is built of many small appends
 * (four per field), one realloc each before. The room is what the allocator
 * says the block holds, so a length its owner moves (h2gw_h2c.c) stays true. */
void
pn_h2gw_append(char **buf, size_t *len, const char *p, size_t n)
{
    size_t need = *len + n + 1, room = *buf != NULL ? malloc_usable_size(*buf) : 0;
    if (need > room) {
        size_t cap = room < 128 ? 256 : room * 2;
        *buf = xrealloc(*buf, cap < need ? need : cap);
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

size_t
pn_h2gw_hb_nv(struct h2s *s, nghttp2_nv *nv, size_t max)
{
    size_t n = 0;
    for (size_t off = 0; off < s->hblen && n < max; n++) {
        char *name = s->hb + off, *value = name + strlen(name) + 1;
        nv[n] = (nghttp2_nv){ (uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                              NGHTTP2_NV_FLAG_NONE };
        off = (size_t)(value - s->hb) + strlen(value) + 1;
    }
    return n;
}

int
pn_h2gw_field(char **l, char *e, char **name, size_t *nl, char **v, char **ve)
{
    char *le = *l < e ? memchr(*l, '\n', (size_t)(e - *l)) : NULL;
    if (le == NULL)
        return 0;
    *ve = le > *l && le[-1] == '\r' ? le - 1 : le;
    char *colon = memchr(*l, ':', (size_t)(*ve - *l));
    *name = NULL;
    if (colon != NULL && colon > *l) {
        *name = *l;
        *nl = (size_t)(colon - *l);
        for (char *k = *l; k < colon; k++)
            if (*k >= 'A' && *k <= 'Z')
                *k = (char)(*k + ('a' - 'A'));
        for (*v = colon + 1; *v < *ve && (**v == ' ' || **v == '\t'); (*v)++) {
        }
    }
    *l = le + 1;
    return 1;
}

/* Bytes of rbase before rb: gone out already. */
static size_t
rb_off(const struct h2s *s)
{
    return s->rb != NULL ? (size_t)(s->rb - s->rbase) : 0;
}

/* With no room after rb's bytes, whether moving them to the front is worth
 * it now: always while no DATA will drain them (the head, a body part not
 * ready yet), else once they are at most half the space gone out (each byte
 * moved makes room for two); until then the DATA frames drain rb first. */
static int
rb_movable(const struct h2s *s)
{
    size_t off = rb_off(s);
    return off > 0 && (!s->resp_started || s->dlen == 0 || s->rlen * 2 <= off);
}

int
pn_h2gw_rb_open(const struct h2s *s)
{
    return s->rlen < H2_RESP_MAX && (rb_off(s) + s->rlen < s->rcap || rb_off(s) == 0 || rb_movable(s));
}

void
pn_h2gw_rb_room(struct h2s *s, size_t cap, size_t n)
{
    size_t off = rb_off(s);
    if (off > 0 && off + s->rlen + n > s->rcap) {
        memmove(s->rbase, s->rb, s->rlen);
        s->rb = s->rbase;
    }
    if (s->rcap < cap || s->rlen + n > s->rcap) {
        s->rcap = s->rlen + n > cap ? s->rlen + n : cap;
        s->rbase = xrealloc(s->rbase, s->rcap);
        s->rb = s->rbase;
    }
}

int
pn_h2gw_read_pair(struct h2s *s)
{
    while (s->rlen < H2_RESP_MAX) {
        if (rb_off(s) + s->rlen == s->rcap) {
            if (rb_movable(s)) {
                pn_h2gw_rb_room(s, 0, s->rcap - s->rlen);
            } else if (rb_off(s) > 0) {
                break;              /* the DATA frames drain rb first (rb_movable) */
            } else {                /* grown as needed: a small response, a small buffer */
                size_t cap = s->rcap == 0 ? H2_RESP_FIRST
                           : s->rcap * 4 < H2_RESP_MAX ? s->rcap * 4 : H2_RESP_MAX;
                pn_h2gw_rb_room(s, cap, 0);
            }
        }
        size_t off = rb_off(s);
        ssize_t r = s->m->ops->read(s->m, s->rb + s->rlen, s->rcap - off - s->rlen);
        if (r == PN_AGAIN)
            break;
        if (r <= 0)
            return PN_ERR;
        s->rlen += (size_t)r;
    }
    return PN_OK;
}

nghttp2_session_callbacks *
pn_h2gw_callbacks(nghttp2_on_header_callback hd, nghttp2_on_frame_recv_callback fr,
                  nghttp2_on_data_chunk_recv_callback dc, nghttp2_on_stream_close_callback cl)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        abort();
    nghttp2_session_callbacks_set_on_header_callback(cbs, hd);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, fr);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, dc);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cl);
    return cbs;
}

nghttp2_option *
pn_h2gw_option(void)
{
    static nghttp2_option *opt;
    if (opt == NULL) {
        if (nghttp2_option_new(&opt) != 0)
            abort();
        nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_option_set_max_outbound_ack(opt, 1000);
        nghttp2_option_set_max_settings(opt, 32);
    }
    return opt;
}

/* The body's bytes ready in rb go as DATA frames: nghttp2 learns here how
 * many and whether the body ends with them; the bytes themselves go by
 * pn_h2gw_body_send (NGHTTP2_DATA_FLAG_NO_COPY: no copy into nghttp2's
 * buffer). */
ssize_t
pn_h2gw_body_read(nghttp2_session *ns, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                  nghttp2_data_source *src, void *arg)
{
    struct h2s *s = src->ptr;
    size_t n = s->dlen < length ? s->dlen : length;
    if (n > 0)
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if ((s->done || s->resp_eof) && s->dlen == n) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        nghttp2_nv nv[H2_FIELDS_MAX];
        size_t nn = s->trailers ? pn_h2gw_hb_nv(s, nv, H2_FIELDS_MAX) : 0;
        if (nn > 0 && nghttp2_submit_trailer(ns, id, nv, nn) == 0)
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;      /* the trailers end it */
    } else if (n == 0) {
        s->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* The DATA frame of <len> body bytes that pn_h2gw_body_read announced: its
 * header and the bytes from rb straight into the connection's output
 * (pn_h2_data_put); rb moves on past them. */
int
pn_h2gw_body_send(nghttp2_session *ns, nghttp2_frame *f, const uint8_t *hd, size_t len,
                  nghttp2_data_source *src, void *arg)
{
    struct pn_h2gw *c = arg;
    struct h2s *s = src->ptr;
    if (s->dlen < len)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* that stream is reset */
    int rv = pn_h2_data_put(&c->out, &c->olen, &c->ocap, H2_OUT_GATHER, f, hd, s->rb, len);
    if (rv != 0)
        return rv;      /* NGHTTP2_ERR_WOULDBLOCK: the output leaves first; called again then */
    s->rb += len;
    s->rlen -= len;
    s->dlen -= len;
    if (s->rlen == 0)
        s->rb = s->rbase;
    if (len > 0 && s->up != NULL)   /* h2c: the service may send as much again */
        nghttp2_session_consume(s->up, s->uid, len);
    if (len > 0 && s->m != NULL)    /* room again: read the pair (h2c: send the WINDOW_UPDATE) */
        pn_xprt_watch(s->m, s->c->loop, s->up != NULL ? EV_RD | EV_WR : EV_RD, s->c->pair_io, s);
    return 0;
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
int
pn_h2gw_submit_head(struct h2s *s, size_t end)
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
    int tunnel = s->ws == 1 && code == 101;     /* RFC 8441: 200, then the frames both ways */
    if (tunnel) {
        memcpy(status, "200", 4);
        code = 200;
    }
    if (code < 200) {           /* interim: the final head follows */
        s->rb += end;
        s->rlen -= end;
        return PN_OK;
    }
    nv[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE };
    char *l = eol + 1, *name, *v, *ve;
    size_t nl;
    while (n < H2_FIELDS_MAX && pn_h2gw_field(&l, e, &name, &nl, &v, &ve)) {
        if (name == NULL)
            continue;
        if (nl == 17 && memcmp(name, "transfer-encoding", 17) == 0)
            s->chunked = 1;         /* the router let only "chunked" through */
        if (nl == 10 && memcmp(name, "connection", 10) == 0 &&
            memmem(v, (size_t)(ve - v), "close", 5) != NULL)
            s->keep = 0;
        if (!hop_field(name, nl) &&
            !(tunnel && nl == 20 && memcmp(name, "sec-websocket-accept", 20) == 0)) {
            if (nl == 14 && memcmp(name, "content-length", 14) == 0)
                s->rem = strtoll(v, NULL, 10);
            nv[n++] = (nghttp2_nv){ (uint8_t *)name, (uint8_t *)v, nl, (size_t)(ve - v),
                                    NGHTTP2_NV_FLAG_NONE };
        }
    }
    if (code == 204 || code == 304)
        s->body_none = 1;
    if (tunnel) {
        s->chunked = 0;
        s->rem = -1;                /* the service's frames, up to its close */
    }
    if (s->body_none) {
        s->chunked = 0;
        s->rem = -1;
        s->done = 1;
    } else if (!s->chunked && s->rem < 0) {
        s->keep = 0;                /* to the close */
    }
    nghttp2_data_provider prd = { .source.ptr = s, .read_callback = pn_h2gw_body_read };
    int rv = nghttp2_submit_response(s->c->s, s->id, nv, n, s->body_none ? NULL : &prd);
    s->rb += end;               /* past the head (nv was copied by nghttp2): no move */
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
int
pn_h2gw_body_take(struct h2s *s)
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

