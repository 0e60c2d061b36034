/* tls/h2_priv.h: what the two halves of the multiplexed HTTP/2 transport
 * share (h2_mux.c: the connection, nghttp2's callbacks and the pump;
 * h2_stream.c: each stream as a pn_xprt_t). Private to tls/. */
#ifndef PN_TLS_H2_PRIV_H
#define PN_TLS_H2_PRIV_H

#include "core/ev.h"
#include "core/list.h"
#include "core/xprt.h"
#include "tls/h2.h"

#include <nghttp2/nghttp2.h>

#define MUX_OUT_HIGH (256 * 1024)   /* frames queued before streams stop taking bytes */

typedef struct pn_h2_mux pn_h2_mux_t;

struct pn_h2_mux {
    ev_loop_t *loop;                /* borrowed */
    pn_xprt_t *inner;               /* owned: tcp or tls; NULL once closed */
    nghttp2_session *s;             /* owned */
    int server;
    int refs;
    const char *path;               /* server: borrowed; client: owned copy */
    char *authority;                /* client: owned */
    int https;
    void (*cb)(pn_xprt_t *x, void *ctx); /* server: where accepted streams go */
    void *ctx;                      /* borrowed */
    pn_list_t streams;              /* struct h2s: every stream nghttp2 knows */
    size_t nstreams;
    pn_list_t fresh;                /* server: accepted, not yet handed to cb */
    uint8_t *obuf;                  /* owned: frames not on the socket yet */
    size_t olen, ooff, ocap;
    ev_defer_t *flush;              /* owned: the deferred pump */
    ev_timer_t *idle;               /* owned, server: ends a connection without stream */
    pn_list_t set_node;             /* server: in the owner's set while the connection lives */
    const char *fault;              /* the connection is done */
    char why[96];
    unsigned busy : 1, goaway : 1, self_ref : 1,
             rd_more : 1;           /* a pump stopped reading with bytes left (MUX_READS) */
};

typedef struct pn_h2s {
    pn_xprt_t base;                 /* first */
    pn_list_t node;                 /* in mux.streams or mux.fresh */
    pn_h2_mux_t *m;                 /* a reference while the stream lives */
    int32_t sid;
    int status;                     /* client: the answer's :status */
    const char *refusal;            /* server: the body of a refusal answered */
    size_t refusal_off;
    uint8_t *rbuf;                  /* owned: DATA not read yet (bounded by the window) */
    size_t rlen, roff, rcap;
    uint8_t *wbuf;                  /* owned: bytes written, not yet taken by nghttp2 */
    size_t wlen, woff;
    const char *err;                /* the stream failed */
    unsigned peer_eof : 1, closed : 1, wr_eof : 1, eof_sent : 1, deferred : 1, owned : 1,
             end_told : 1, orphan : 1, orphan_rst : 1,
             path_ok : 1, post : 1;   /* server: the request's :path and :method */
} pn_h2s_t;

/** The stream <sid> of <m>, NULL when nobody holds it. */
static inline pn_h2s_t *
pn_h2_stream_of(pn_h2_mux_t *m, int32_t sid)
{
    return nghttp2_session_get_stream_user_data(m->s, sid);
}

/** Ask for a pump of <m> from a deferred event (writes of one turn leave together). */
static inline void
pn_h2_schedule(pn_h2_mux_t *m)
{
    if (m->flush != NULL)
        ev_defer_schedule(m->flush);
}
/** Wake the streams of <m> that wait to write. */
void pn_h2_wake_writers(pn_h2_mux_t *m);
/** Forget <st> on the mux side (its owner may still hold the transport). */
void pn_h2_stream_unlink(pn_h2s_t *st);
/** nghttp2's data provider of every tunnel stream: what its writer left. */
ssize_t pn_h2_on_read_data(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *arg);

/** <n> bytes of <st>'s wbuf went out in a DATA frame (h2_mux.c's send_data callback). */
void pn_h2_stream_sent(pn_h2s_t *st, size_t n);

/* The stream transport's calls (h2_stream.c); h2_mux.c holds the table
 * and the free, which ends the stream on the connection. */
ssize_t pn_h2_stream_read(pn_xprt_t *x, void *buf, size_t len);
ssize_t pn_h2_stream_write(pn_xprt_t *x, const void *buf, size_t len);
int pn_h2_stream_shutdown_wr(pn_xprt_t *x);
size_t pn_h2_stream_pending(pn_xprt_t *x);
int pn_h2_stream_ready(pn_xprt_t *x);
int pn_h2_stream_peek(pn_xprt_t *x);

#endif
