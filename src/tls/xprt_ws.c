/* tls/xprt_ws.c: the WebSocket transport (see ws.h): frames read by
 * tls/ws_frame.h's decoder, data frames sealed here, control frames sent by
 * wslay's frame API, which resumes a partial send as TLS does; the transport
 * adds the control frames' handling and the accounting of what is buffered
 * ahead of the socket.
 *
 *   read:  inner --64 KiB--> stage --pn_ws_dec (unmask)--> caller
 *   write: caller --> one buffer: header + (masked) payload --one write--> inner
 *          (control frames: wslay_frame_send --send_cb--> inner)
 *
 * A data frame is sealed whole in one buffer and handed to the inner
 * transport in one write (one TLS record, one segment: wslay would send the
 * header and each 4 KiB of masked payload apart). A write whose frame is not
 * all on the socket answers PN_AGAIN and the next call, with the same bytes,
 * completes it (as TLS does).
 *
 * A read decodes the staged block straight into the caller's buffer, frame
 * after frame, while the bytes are already here: one read of the socket
 * serves one read of up to 64 KiB, so the relay writes the payload on in
 * blocks as large as it read it (wslay's reader handed out 4 KiB chunks, and
 * the decoding end made one send per 4 KiB, most of its system calls, with
 * two copies and a byte-at-a-time unmasking on the way). It reads the socket
 * only when it has nothing to give (no extra EAGAIN). */
#include "tls/ws.h"
#include "tls/ws_frame.h"
#include "core/log.h"
#include "core/mem.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <wslay/wslay.h>

#include <stdlib.h>
#include <string.h>

#define WS_CTL_MAX PN_WS_CTL_MAX
#define WS_CLOSE_NORMAL 1000
#define WS_STAGE (64 * 1024)    /* the socket is read in blocks this large */

typedef struct xprt_ws {
    pn_xprt_t base;             /* first */
    pn_xprt_t *inner;           /* owned: tcp or tls */
    wslay_frame_context_ptr fr; /* owned: sends the control frames */
    int server;
    uint8_t *pre;               /* owned: bytes read past the opening head */
    size_t npre, pre_off;
    uint8_t *stage;             /* owned: a block read from <inner>, NULL when drained
                                 * (idle connections hold none) */
    size_t nstage, stage_off;
    /* input */
    pn_ws_dec_t dec;
    unsigned in_closed : 1, in_eof : 1;
    /* output */
    uint8_t *obuf;              /* owned: the sealed data frame not all written, NULL when none */
    size_t olen, ooff;
    size_t opend;               /* payload bytes of that frame, reported once it is written */
    uint8_t pong[WS_CTL_MAX];   /* the last ping's payload, to answer */
    size_t npong;
    uint8_t ctl[WS_CTL_MAX];    /* the control frame being written */
    size_t nctl, ctl_off;
    uint8_t ctl_op;
    unsigned pong_want : 1, close_want : 1, ctl_busy : 1, close_sent : 1, wr_shut : 1;
    /* what the inner transport said during the last wslay call */
    unsigned inner_again : 1;
    int inner_want;
    const char *inner_err;
    const char *fault;          /* a protocol fault: the connection is done */
} xprt_ws_t;

static const struct pn_xprt_ops ws_ops;

/* wslay only sends: its reader is never called. */
static ssize_t
on_recv(uint8_t *buf, size_t len, int flags, void *arg)
{
    return -1;
}

static ssize_t
on_send(const uint8_t *data, size_t len, int flags, void *arg)
{
    xprt_ws_t *w = arg;
    ssize_t n = w->inner->ops->write(w->inner, data, len);
    if (n > 0)
        return n;
    if (n == PN_AGAIN) {
        w->inner_again = 1;
        w->inner_want = w->inner->want;
    } else {
        w->inner_err = w->inner->err != NULL ? w->inner->err : "i/o error";
    }
    return -1;                  /* wslay: WANT_WRITE */
}

static int
on_genmask(uint8_t *buf, size_t len, void *arg)
{
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

/* A peer's protocol fault: the connection ends, said once in the log. */
static ssize_t
ws_fault(xprt_ws_t *w, const char *why)
{
    static pn_ratelim_t lim = { .interval_ms = 1000 };
    uint64_t held;
    if (w->fault == NULL && pn_ratelim_pass(&lim, pn_now_ms(), &held))
        log_warn("websocket: closing a connection: %s (%llu more since the last note)", why,
                 (unsigned long long)held);
    w->fault = why;
    w->base.err = why;
    return PN_ERR;
}
/* Send the control frames due (one in progress, a pong, our close) when no
 * data frame is half written. PN_OK, PN_AGAIN (want set) or PN_ERR. */
static int
flush_ctl(xprt_ws_t *w)
{
    pn_xprt_t *x = &w->base;
    if (w->obuf != NULL)
        return PN_OK;           /* after the data frame on its way */
    for (;;) {
        if (!w->ctl_busy) {
            if (w->pong_want) {
                memcpy(w->ctl, w->pong, w->npong);
                w->nctl = w->npong;
                w->ctl_op = WSLAY_PONG;
                w->pong_want = 0;
            } else if (w->close_want && !w->close_sent) {
                w->ctl[0] = WS_CLOSE_NORMAL >> 8;
                w->ctl[1] = WS_CLOSE_NORMAL & 0xff;
                w->nctl = 2;
                w->ctl_op = WSLAY_CONNECTION_CLOSE;
            } else {
                return PN_OK;
            }
            w->ctl_busy = 1;
            w->ctl_off = 0;
        }
        struct wslay_frame_iocb io = {
            .fin = 1, .opcode = w->ctl_op, .mask = !w->server, .payload_length = w->nctl,
            .data = w->ctl + w->ctl_off, .data_length = w->nctl - w->ctl_off,
        };
        w->inner_again = 0;
        ssize_t r = wslay_frame_send(w->fr, &io);
        if (r >= 0) {
            w->ctl_off += (size_t)r;
            if (w->ctl_off < w->nctl)
                continue;
            w->ctl_busy = 0;
            if (w->ctl_op == WSLAY_CONNECTION_CLOSE)
                w->close_sent = 1;
            continue;
        }
        if (r == WSLAY_ERR_WANT_WRITE && w->inner_err == NULL) {
            x->want = w->inner_again ? w->inner_want : EV_WR;
            return PN_AGAIN;
        }
        x->err = w->inner_err != NULL ? w->inner_err : "websocket: cannot send a frame";
        return PN_ERR;
    }
}

/* Decode what is here (the bytes past the head, the staged block) into
 * <out>; read the socket only while nothing was gathered. The byte count, 0
 * for end of stream, PN_AGAIN or PN_ERR. Once bytes are gathered, what stops
 * the gathering (a fault, a close frame) is kept for the next call. */
static ssize_t
gather(xprt_ws_t *w, uint8_t *out, size_t room)
{
    pn_xprt_t *x = &w->base;
    size_t got = 0;
    while (got < room && !w->in_closed) {
        const uint8_t *in;
        size_t n, used, k;
        int from_pre = w->pre_off < w->npre;
        if (from_pre) {
            in = w->pre + w->pre_off;
            n = w->npre - w->pre_off;
        } else if (w->stage_off < w->nstage) {
            in = w->stage + w->stage_off;
            n = w->nstage - w->stage_off;
        } else {
            if (got > 0)
                break;
            if (w->stage == NULL)
                w->stage = xmalloc(WS_STAGE);
            ssize_t r = w->inner->ops->read(w->inner, w->stage, WS_STAGE);
            if (r > 0) {
                w->nstage = (size_t)r;
                w->stage_off = 0;
                continue;
            }
            free(w->stage);
            w->stage = NULL;
            if (r == 0) {
                if (pn_ws_dec_inside(&w->dec)) {
                    x->err = "connection closed inside a websocket frame";
                    return PN_ERR;
                }
                w->in_eof = 1;
                return 0;
            }
            if (r == PN_AGAIN) {
                x->want = w->inner->want;
                return PN_AGAIN;
            }
            x->err = w->inner->err != NULL ? w->inner->err : "i/o error";
            return PN_ERR;
        }
        int rc = pn_ws_dec(&w->dec, in, n, &used, out + got, room - got, &k);
        got += k;
        if (from_pre) {
            w->pre_off += used;
        } else if ((w->stage_off += used) == w->nstage) {
            w->nstage = w->stage_off = 0;   /* kept for the next read; freed when one finds
                                             * nothing (an idle connection holds none) */
        }
        if (rc != PN_OK) {
            ws_fault(w, w->dec.why);
            return got > 0 ? (ssize_t)got : PN_ERR;
        }
        if (w->dec.ctl_op == PN_WS_OP_PING) {
            memcpy(w->pong, w->dec.ctl, w->dec.nctl);
            w->npong = w->dec.nctl;
            w->pong_want = 1;
            if (flush_ctl(w) == PN_ERR) {
                w->fault = x->err;      /* the next read says it */
                return got > 0 ? (ssize_t)got : PN_ERR;
            }
            /* PN_AGAIN: the pong goes with the next write */
        } else if (w->dec.ctl_op == PN_WS_OP_CLOSE) {
            w->in_closed = 1;
        }
    }
    return (ssize_t)got;        /* in_closed: 0 when nothing came */
}

static ssize_t
ws_read(pn_xprt_t *x, void *buf, size_t len)
{
    xprt_ws_t *w = (xprt_ws_t *)x;
    if (w->fault != NULL) {
        x->err = w->fault;
        return PN_ERR;
    }
    if (w->in_closed || w->in_eof)
        return 0;
    return gather(w, buf, len);
}

/* Write the sealed frame: PN_OK when all of it went, PN_AGAIN (want set), PN_ERR. */
static int
flush_frame(xprt_ws_t *w)
{
    while (w->ooff < w->olen) {
        ssize_t n = w->inner->ops->write(w->inner, w->obuf + w->ooff, w->olen - w->ooff);
        if (n == PN_AGAIN) {
            w->base.want = w->inner->want;
            return PN_AGAIN;
        }
        if (n <= 0) {
            w->base.err = w->inner->err != NULL ? w->inner->err : "i/o error";
            return PN_ERR;
        }
        w->ooff += (size_t)n;
    }
    free(w->obuf);
    w->obuf = NULL;
    w->olen = w->ooff = 0;
    return PN_OK;
}

/* Seal <len> payload bytes of <buf> as one binary frame (FIN, masked by a
 * client) in w->obuf. */
static int
seal_frame(xprt_ws_t *w, const uint8_t *buf, size_t len)
{
    uint8_t hdr[14], key[4];
    size_t h = 0;
    hdr[h++] = 0x80 | WSLAY_BINARY_FRAME;
    uint8_t m = w->server ? 0 : 0x80;
    if (len < 126) {
        hdr[h++] = m | (uint8_t)len;
    } else if (len <= 0xffff) {
        hdr[h++] = m | 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = m | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (!w->server) {
        if (RAND_bytes(key, sizeof(key)) != 1)
            return PN_ERR;
        memcpy(hdr + h, key, sizeof(key));
        h += sizeof(key);
    }
    w->obuf = xmalloc(h + len);
    memcpy(w->obuf, hdr, h);
    if (w->server) {
        memcpy(w->obuf + h, buf, len);
    } else {
        pn_ws_mask(w->obuf + h, buf, len, key, 0);
    }
    w->olen = h + len;
    w->ooff = 0;
    return PN_OK;
}

static ssize_t
ws_write(pn_xprt_t *x, const void *buf, size_t len)
{
    xprt_ws_t *w = (xprt_ws_t *)x;
    if (w->close_want) {
        x->err = "websocket: write after shutdown";
        return PN_ERR;
    }
    if (len == 0)
        return 0;
    int rc;
    if (w->obuf != NULL) {      /* the retry of a write that answered PN_AGAIN */
        if ((rc = flush_frame(w)) != PN_OK)
            return rc;
        size_t n = w->opend < len ? w->opend : len;
        w->opend = 0;
        return (ssize_t)n;
    }
    if ((rc = flush_ctl(w)) != PN_OK)
        return rc;
    size_t flen = len < PN_WS_FRAME_OUT ? len : PN_WS_FRAME_OUT;
    if (seal_frame(w, buf, flen) != PN_OK) {
        x->err = "websocket: no random bytes for the mask";
        return PN_ERR;
    }
    rc = flush_frame(w);
    if (rc == PN_OK)
        return (ssize_t)flen;
    w->opend = flen;
    return rc;
}

/* Half-close: a close frame, the socket left open for the peer's rest. */
static int
ws_shutdown_wr(pn_xprt_t *x)
{
    xprt_ws_t *w = (xprt_ws_t *)x;
    if (w->wr_shut)
        return PN_OK;
    if (w->obuf != NULL) {
        x->err = "websocket: shutdown inside a frame";
        return PN_ERR;
    }
    w->close_want = 1;
    int rc = flush_ctl(w);
    if (rc != PN_OK)
        return rc;
    w->wr_shut = 1;
    return PN_OK;
}

static size_t
ws_pending(pn_xprt_t *x)
{
    xprt_ws_t *w = (xprt_ws_t *)x;
    return (w->npre - w->pre_off) +
           (w->nstage - w->stage_off) +
           w->inner->ops->pending(w->inner);
}

static int
ws_peek(pn_xprt_t *x)
{
    xprt_ws_t *w = (xprt_ws_t *)x;
    if (w->fault != NULL || w->in_closed || w->in_eof)
        return 0;
    if (ws_pending(x) > 0)
        return 1;
    return pn_xprt_fd_peek(x);
}

static void
ws_free(pn_xprt_t *x)
{
    xprt_ws_t *w = (xprt_ws_t *)x;
    wslay_frame_context_free(w->fr);
    pn_xprt_free(w->inner);
    free(w->stage);
    free(w->pre);
    free(w->obuf);
    free(w);
}

static const struct pn_xprt_ops ws_ops = {
    .name = "ws",
    .read = ws_read,
    .write = ws_write,
    .shutdown_wr = ws_shutdown_wr,
    .pending = ws_pending,
    .watch = pn_xprt_fd_watch,
    .peek = ws_peek,
    .free = ws_free,
};

pn_xprt_t *
pn_ws_xprt_new(pn_xprt_t *inner, int server, const uint8_t *pre, size_t npre)
{
    static const struct wslay_frame_callbacks cbs = { on_send, on_recv, on_genmask };
    xprt_ws_t *w = xcalloc(sizeof(*w));
    w->base.ops = &ws_ops;
    w->base.fd = inner->fd;     /* borrowed from <inner>, which closes it */
    w->inner = inner;
    w->server = server;
    pn_ws_dec_init(&w->dec, server);
    if (npre > 0) {
        w->pre = xmalloc(npre);
        memcpy(w->pre, pre, npre);
        w->npre = npre;
    }
    if (wslay_frame_context_init(&w->fr, &cbs, w) != 0)
        abort();
    return &w->base;
}

int
pn_ws_xprt_is(const pn_xprt_t *x)
{
    return x != NULL && x->ops == &ws_ops;
}

int
pn_ws_new_key(char out[25])
{
    uint8_t raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
    return 0;
}

void
pn_ws_accept(const char *key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char in[64 + sizeof(guid)];
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    size_t klen = strnlen(key, 64);
    memcpy(in, key, klen);
    memcpy(in + klen, guid, sizeof(guid) - 1);
    if (EVP_Digest(in, klen + sizeof(guid) - 1, md, &mdlen, EVP_sha1(), NULL) != 1)
        abort();
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}
