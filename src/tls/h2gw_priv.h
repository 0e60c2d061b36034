/* tls/h2gw_priv.h: what the parts of the HTTP/2 gateway share (h2gw.c: the
 * connection and the requests; h2gw_resp.c: HTTP/1.x responses to HEADERS
 * and DATA; h2gw_h2c.c: streams that go through as HTTP/2). Private to tls/. */
#ifndef PN_TLS_H2GW_PRIV_H
#define PN_TLS_H2GW_PRIV_H

#include "core/ev.h"
#include "core/list.h"
#include "core/xprt.h"

#include <nghttp2/nghttp2.h>
#include <stdint.h>

#define H2_STREAMS_MAX 100
#define H2_FIELDS_MAX 100               /* request fields per stream */
#define H2_HEAD_MAX 16384               /* a request's fields, as HTTP/1.1 text */
#define H2_BODY_HOLD 65536              /* a body without content-length, held to its end */
#define H2_PAIR_WINDOW 65536            /* each direction of a stream's memory pair */
#define H2_RESP_MAX 65536               /* response bytes read ahead of nghttp2 */
#define H2_RESP_FIRST 4096              /* ...in a buffer of this size first, x4 while full: no
                                         * 64 KiB malloc and free (which consolidates) per stream */
#define H2_IDLE_MS 60000
#define H2_RESETS_MAX 200               /* per second */
#define H2_CONTROL_MAX 1000             /* per second */
#define H2_READ 16384
#define H2_AUTHORITY_MAX 261            /* a DNS name and a port */
#define H2_IDLE_PAIRS H2_STREAMS_MAX   /* pairs kept between streams (keep-alive exchanges):
                                         * a whole window of streams, so a full one never
                                         * builds a new exchange (and data connection) */
#define H2_TRIM_PAIRS 8                 /* pairs kept once the connection has had no stream... */
#define H2_TRIM_MS 5000                 /* ...for this long */
#define H2_OUT_GATHER 65536             /* frames gathered into one write to the user */

struct pn_h2gw {
    ev_loop_t *loop;                    /* borrowed */
    /* The owner's callbacks (tls/h2gw.h: pn_h2gw_stream_cb, _done_cb, _h2c_cb). */
    void (*stream)(pn_xprt_t *stream, int h2c, void *arg);     /* a new stream */
    void (*done)(struct pn_h2gw *g, void *arg);                /* the connection is over */
    void *arg;                          /* borrowed: the owner's */
    pn_xprt_t *x;                       /* owned: the TLS transport; watched */
    nghttp2_session *s;                 /* owned */
    char who[64];                       /* log prefix, e.g. "hub: h2: 192.0.2.1" */
    pn_list_t streams;                  /* struct h2s, owned */
    pn_xprt_t *rest[H2_IDLE_PAIRS];     /* owned: pairs whose exchange is at rest */
    size_t nrest;
    size_t nstreams;
    uint8_t *out;                       /* owned: frames not written yet (gathered) */
    size_t olen, ooff, ocap;
    ev_defer_t *kick;                   /* owned: a step outside the I/O callbacks */
    ev_timer_t *idle;                   /* owned */
    ev_timer_t *trim;                   /* owned: drops pairs at rest on a connection without streams */
    uint64_t win_ms;                    /* the current second of the counters below */
    unsigned resets, controls;
    const char *dead;                   /* closing: why (static), logged once */
    int quiet;                          /* dead without a warning (the user closed, idle) */
    int (*h2c)(const char *authority, const char *path, void *arg);  /* h2c stream? NULL: never */
    void (*pair_io)(pn_xprt_t *m, int ready, void *arg);      /* h2gw.c: a stream's pair is ready */
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
    uint8_t *rbase;                     /* owned: rb's buffer, rcap bytes */
    uint8_t *rb;                        /* in rbase: response bytes read from <m>, rlen of them
                                         * (what went out moves rb on: no move of the rest) */
    size_t rlen, rcap;
    size_t dlen;                        /* of rb: body bytes ready for DATA (decoded), at the front */
    int resp_started, resp_eof, deferred, body_none;
    int done;                           /* the response body is all in (or none) */
    int keep;                           /* the pair may serve another stream after this one */
    int chunked, ck_st, ck_line;        /* a chunked body: the decoder's state */
    unsigned long long ck_left;
    long long rem;                      /* body bytes still to come by Content-Length, -1: none */
    /* h2c (h2gw_h2c.c): the stream goes through as HTTP/2 */
    int h2c;                            /* 1: waiting for the router's 101; 2: relaying */
    int te_trailers;                    /* the user sent "te: trailers" */
    int ws;                             /* extended CONNECT (RFC 8441): 1 websocket, -1 another */
    nghttp2_session *up;                /* owned: the client session to the service over <m> */
    int32_t uid;                        /* the stream on <up> */
    int udeferred;                      /* <up>'s request body waits for the user's bytes */
    uint8_t *uout;                      /* owned: <up>'s frames not written to <m> yet */
    size_t uolen, uooff;
    char *hb;                           /* owned: a header block from the service, "name\0value\0"... */
    size_t hblen, hbn;
    int trailers;                       /* hb holds the trailers, sent at the body's end */
};

/** Append <n> bytes of <p> to the NUL-terminated <*buf> of <*len> bytes (h2gw_resp.c). */
void pn_h2gw_append(char **buf, size_t *len, const char *p, size_t n);
/** The response head is in rb[0, end): submit it (or skip a 1xx). */
int pn_h2gw_submit_head(struct h2s *s, size_t end);
/** The next line of a head at <*l> (before <e>; <*l> moves past it): 0 when
 *  no whole line is left; else 1, with <*name> NULL for a line that is no
 *  field, or the field's name (lowered in place, <*nl> bytes) and its value
 *  [<*v>, <*ve>) without the blanks before it. */
int pn_h2gw_field(char **l, char *e, char **name, size_t *nl, char **v, char **ve);
/** Read the pair into rb, up to H2_RESP_MAX bytes held: PN_ERR at its end. */
int pn_h2gw_read_pair(struct h2s *s);
/** 1 when pn_h2gw_read_pair would read now (room in rb, or room made by a move). */
int pn_h2gw_rb_open(const struct h2s *s);
/** rb's buffer at least <cap> bytes, with room for <n> more after rb's bytes
 *  (moved to the front of the buffer when they must). */
void pn_h2gw_rb_room(struct h2s *s, size_t cap, size_t n);
/** nghttp2's send_data callback of the user's session: a DATA frame of a
 *  response body from rb straight into the connection's output. */
int pn_h2gw_body_send(nghttp2_session *ns, nghttp2_frame *f, const uint8_t *hd, size_t len,
                      nghttp2_data_source *src, void *arg);
/** New callbacks (kept for the process) with these four set. */
nghttp2_session_callbacks *pn_h2gw_callbacks(nghttp2_on_header_callback hd,
                                             nghttp2_on_frame_recv_callback fr,
                                             nghttp2_on_data_chunk_recv_callback dc,
                                             nghttp2_on_stream_close_callback cl);
/** The sessions' options: WINDOW_UPDATE as bytes are consumed, nghttp2's
 *  caps on queued answers and on settings per frame. */
nghttp2_option *pn_h2gw_option(void);
/** nghttp2's data source of a response body: the bytes ready in rb. */
ssize_t pn_h2gw_body_read(nghttp2_session *ns, int32_t id, uint8_t *buf, size_t length,
                          uint32_t *flags, nghttp2_data_source *src, void *arg);
/** Take the bytes read after the head as body (h2gw_resp.c). */
int pn_h2gw_body_take(struct h2s *s);
/** Move an h2c stream on (h2gw_h2c.c): the router's verdict (a 101, or a
 *  page served as usual: 0 back, and <s> is an HTTP/1.x stream from now on),
 *  then HTTP/2 both ways through <m>. 1 when it took the step. */
int pn_h2gw_h2c_step(struct h2s *s);
/** Free what an h2c stream holds. */
void pn_h2gw_h2c_free(struct h2s *s);
/** The header block in hb as nghttp2 fields into <nv> (at most <max>); its count (h2gw_resp.c). */
size_t pn_h2gw_hb_nv(struct h2s *s, nghttp2_nv *nv, size_t max);

#endif
