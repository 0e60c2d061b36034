/* tls/xprt_ws.c: the WebSocket transport (see ws.h), frames by wslay's frame
 * API, which streams payloads in chunks and resumes a partial send as TLS
 * does: the transport adds the rules (opcodes, masking, sizes, control
 * frames) and the accounting of what is buffered ahead of the socket.
 *
 *   read:  inner --64 KiB--> stage --recv_cb--> wslay (4 KiB) --chunk--> caller (or rbuf
 *          for what does not fit)
 *   write: caller --> one buffer: header + (masked) payload --one write--> inner
 *          (control frames: wslay_frame_send --send_cb--> inner)
 *
 * A data frame is sealed whole in one buffer and handed to the inner
 * transport in one write (one TLS record, one segment: wslay would send the
 * header and each 4 KiB of masked payload apart). A write whose frame is not
 * all on the socket answers PN_AGAIN and the next call, with the same bytes,
 * completes it (as TLS does).
 *
 * A read gathers chunk after chunk into the caller's buffer while the bytes
 * are already here (the staged block, wslay's own buffer): one read of the
 * socket serves one read of up to 64 KiB, not sixteen of 4 KiB, so the relay
 * writes the payload on in blocks as large as it read it (with 4 KiB reads
 * the decoding end made one send per 4 KiB, most of its system calls). It
 * reads the socket only when it has nothing to give (no extra EAGAIN). */
#include "tls/ws.h"
#include "core/log.h"
#include "core/mem.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <wslay/wslay.h>

#include <stdlib.h>
#include <string.h>

#define WS_RBUF 4096            /* wslay hands out at most its 4 KiB input buffer */
#define WS_CTL_MAX 125          /* a control frame's payload */
#define WS_CLOSE_NORMAL 1000
#define WS_STAGE (64 * 1024)    /* the socket is read in blocks this large */

typedef struct xprt_ws {
    pn_xprt_t base;             /* first */
    pn_xprt_t *inner;           /* owned: tcp or tls */
    wslay_frame_context_ptr fr; /* owned */
    int server;
    uint8_t *pre;               /* owned: bytes read past the opening head */
    size_t npre, pre_off;
    uint8_t *stage;             /* owned: a block read from <inner> for wslay, NULL when
                                 * drained (idle connections hold none) */
    size_t nstage, stage_off;
    /* input */
    uint8_t rbuf[WS_RBUF];      /* payload decoded and not read yet */
    size_t rlen, roff;
    uint64_t fed, used;         /* bytes given to wslay; consumed by frames seen */
    uint64_t in_rem;            /* payload left of the frame being read */
    uint8_t in_op;              /* its opcode */
    uint8_t ctl_in[WS_CTL_MAX]; /* a control frame's payload being gathered */
    size_t nctl_in;
    unsigned in_frame : 1, in_msg : 1, in_closed : 1, in_eof : 1;
    unsigned no_io : 1;         /* gathering: recv_cb gives only bytes already here */
    unsigned held : 1;          /* recv_cb had none of those to give */
    uint8_t *dst;               /* gathering: where data chunks go first */
    size_t dst_room, dst_got;
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
    unsigned inner_again : 1, inner_eof : 1;
    int inner_want;
    const char *inner_err;
    const char *fault;          /* a protocol fault: the connection is done */
} xprt_ws_t;

static const struct pn_xprt_ops ws_ops;

static ssize_t
on_recv(uint8_t *buf, size_t len, int flags, void *arg)
{
    xprt_ws_t *w = arg;
    ssize_t n;
    if (w->pre_off < w->npre) {
        n = (ssize_t)(w->npre - w->pre_off < len ? w->npre - w->pre_off : len);
        memcpy(buf, w->pre + w->pre_off, (size_t)n);
        w->pre_off += (size_t)n;
        w->fed += (uint64_t)n;
        return n;
    }
    /* wslay asks for at most its 4 KiB buffer: read the socket in bigger blocks. */
    if (w->stage_off == w->nstage && w->no_io) {
        w->held = 1;
        return -1;              /* wslay: WANT_READ; the caller has bytes already */
    }
    if (w->stage_off == w->nstage) {
        if (w->stage == NULL)
            w->stage = xmalloc(WS_STAGE);
        n = w->inner->ops->read(w->inner, w->stage, WS_STAGE);
        if (n > 0) {
            w->nstage = (size_t)n;
            w->stage_off = 0;
        }
    } else {
        n = 1;
    }
    if (n > 0) {
        n = (ssize_t)(w->nstage - w->stage_off < len ? w->nstage - w->stage_off : len);
        memcpy(buf, w->stage + w->stage_off, (size_t)n);
        w->stage_off += (size_t)n;
        w->fed += (uint64_t)n;
        if (w->stage_off == w->nstage) {
            free(w->stage);
            w->stage = NULL;
            w->nstage = w->stage_off = 0;
        }
        return n;
    }
    if (n == 0) {
        w->inner_eof = 1;
    } else if (n == PN_AGAIN) {
        w->inner_again = 1;
        w->inner_want = w->inner->want;
    } else {
        w->inner_err = w->inner->err != NULL ? w->inner->err : "i/o error";
    }
    return -1;                  /* wslay: WANT_READ */
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

/* The first chunk of a frame: judge its header. */
static int
frame_start(xprt_ws_t *w, const struct wslay_frame_iocb *io)
{
    uint64_t len = io->payload_length;
    if (io->rsv != 0)
        return (int)ws_fault(w, "websocket frame with reserved bits set");
    if (w->server && !io->mask)
        return (int)ws_fault(w, "unmasked websocket frame from the client");
    if (!w->server && io->mask)
        return (int)ws_fault(w, "masked websocket frame from the server");
    switch (io->opcode) {
    case WSLAY_BINARY_FRAME:
        if (w->in_msg)
            return (int)ws_fault(w, "websocket message started inside a fragmented one");
        break;
    case WSLAY_CONTINUATION_FRAME:
        if (!w->in_msg)
            return (int)ws_fault(w, "websocket continuation frame without a message");
        break;
    case WSLAY_TEXT_FRAME:
        return (int)ws_fault(w, "websocket text frame (the tunnel uses binary frames)");
    case WSLAY_CONNECTION_CLOSE:
    case WSLAY_PING:
    case WSLAY_PONG:
        break;
    default:
        return (int)ws_fault(w, "websocket frame with an unknown opcode");
    }
    if (len > PN_WS_FRAME_MAX)
        return (int)ws_fault(w, "oversized websocket frame (over 1 MiB)");
    if (!wslay_is_ctrl_frame(io->opcode))
        w->in_msg = !io->fin;
    w->used += 2 + (len >= 65536 ? 8 : len >= 126 ? 2 : 0) + (io->mask ? 4 : 0);
    w->in_frame = 1;
    w->in_rem = len;
    w->in_op = io->opcode;
    w->nctl_in = 0;
    return PN_OK;
}

/* A chunk wslay returned: data goes to rbuf (empty now), control payloads
 * are gathered and acted on once whole. */
static int
on_chunk(xprt_ws_t *w, const struct wslay_frame_iocb *io)
{
    if (!w->in_frame && frame_start(w, io) != PN_OK)
        return PN_ERR;
    w->used += io->data_length;
    w->in_rem -= io->data_length;
    if (!wslay_is_ctrl_frame(w->in_op)) {
        size_t n = io->data_length, k = n < w->dst_room - w->dst_got ? n : w->dst_room - w->dst_got;
        memcpy(w->dst + w->dst_got, io->data, k);
        w->dst_got += k;
        memcpy(w->rbuf, io->data + k, n - k);   /* rbuf is empty (ws_read) */
        w->rlen = n - k;
        w->roff = 0;
    } else {
        memcpy(w->ctl_in + w->nctl_in, io->data, io->data_length);
        w->nctl_in += io->data_length;
    }
    if (w->in_rem > 0)
        return PN_OK;
    w->in_frame = 0;
    if (w->in_op == WSLAY_PING) {
        memcpy(w->pong, w->ctl_in, w->nctl_in);
        w->npong = w->nctl_in;
        w->pong_want = 1;
    } else if (w->in_op == WSLAY_CONNECTION_CLOSE) {
        w->in_closed = 1;
    }
    return PN_OK;
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

static ssize_t
serve(xprt_ws_t *w, void *buf, size_t len)
{
    size_t n = w->rlen - w->roff < len ? w->rlen - w->roff : len;
    memcpy(buf, w->rbuf + w->roff, n);
    w->roff += n;
    if (w->roff == w->rlen)
        w->rlen = w->roff = 0;
    return (ssize_t)n;
}

/* Decode until <w->dst> holds something and no more is here without a read
 * of the socket (or it is full, or rbuf holds the rest of a chunk). The byte
 * count, 0 for end of stream, PN_AGAIN or PN_ERR. Once bytes are gathered,
 * what stops the gathering (a fault, a close frame) is kept for the next call. */
static ssize_t
gather(xprt_ws_t *w)
{
    pn_xprt_t *x = &w->base;
    for (;;) {
        struct wslay_frame_iocb io;
        w->no_io = w->dst_got > 0;
        w->held = w->inner_again = w->inner_eof = 0;
        ssize_t r = wslay_frame_recv(w->fr, &io);
        w->no_io = 0;
        if (r >= 0) {
            if (on_chunk(w, &io) != PN_OK)
                return w->dst_got > 0 ? (ssize_t)w->dst_got : PN_ERR;
            if (w->pong_want && flush_ctl(w) == PN_ERR) {
                w->fault = x->err;      /* the next read says it */
                return w->dst_got > 0 ? (ssize_t)w->dst_got : PN_ERR;
            }
            /* PN_AGAIN: the pong goes with the next write */
            if (w->rlen > 0 || w->dst_got == w->dst_room || w->in_closed)
                return (ssize_t)w->dst_got;     /* in_closed: 0 when nothing came */
            continue;
        }
        if (r != WSLAY_ERR_WANT_READ) {
            ssize_t rc = ws_fault(w, "malformed websocket frame");
            return w->dst_got > 0 ? (ssize_t)w->dst_got : rc;
        }
        if (w->held)
            return (ssize_t)w->dst_got;         /* > 0: no_io was set */
        if (w->inner_err != NULL) {
            x->err = w->inner_err;
            return PN_ERR;
        }
        if (w->inner_eof) {
            if (w->in_frame) {
                x->err = "connection closed inside a websocket frame";
                return PN_ERR;
            }
            w->in_eof = 1;
            return 0;
        }
        if (w->inner_again) {
            x->want = w->inner_want;
            return PN_AGAIN;
        }
        /* Bytes came but not a whole header yet: read on. */
    }
}

static ssize_t
ws_read(pn_xprt_t *x, void *buf, size_t len)
{
    xprt_ws_t *w = (xprt_ws_t *)x;
    size_t got = 0;
    if (w->rlen > 0) {
        got = (size_t)serve(w, buf, len);
        if (got == len || w->rlen > 0)
            return (ssize_t)got;
    }
    if (w->fault != NULL) {
        if (got > 0)
            return (ssize_t)got;
        x->err = w->fault;
        return PN_ERR;
    }
    if (w->in_closed || w->in_eof)
        return (ssize_t)got;
    w->dst = buf;
    w->dst_room = len;
    w->dst_got = got;
    ssize_t r = gather(w);
    w->dst = NULL;
    w->dst_room = w->dst_got = 0;
    return r;
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
        for (size_t i = 0; i < len; i++)
            w->obuf[h + i] = buf[i] ^ key[i & 3];
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
    return (w->rlen - w->roff) + (size_t)(w->fed - w->used) + (w->npre - w->pre_off) +
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
