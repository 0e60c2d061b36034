/* tls/xprt_ss.c: the Shadowsocks transport of tls/ss.h, the server side of
 * a stream whose first chunk was opened by the proxy entrance.
 *
 *   read:  inner --128 KiB blocks--> rbuf --pn_ss_open--> caller (or pbuf when
 *          the caller has less room than a chunk, or to top up a read with
 *          SS_TOPUP bytes of room after whole chunks)
 *   write: caller --pn_ss_seal (salt first)--> obuf --> inner
 *
 * Whole segments: the relay asks ss_write_max how much plaintext seals into
 * whole TCP segments of the socket (65347 bytes into 65483 on loopback) and
 * reads that much for a write, and it asks a plain TCP destination's segments
 * of a read from here (65483: 3 chunks and a top-up), so that neither side
 * sends a full segment followed by a short one (relay/relay.c's buf_room).
 *
 * A write that cannot go out whole keeps its sealed bytes and says PN_AGAIN;
 * the caller comes back with the same bytes and is told how many the sealed
 * ones carried, as TLS does. Buffers are taken when needed and given back when
 * empty, so an idle connection holds none. */
#include "tls/ss.h"
#include "core/log.h"
#include "core/mem.h"
#include "tls/tls.h"

#include <openssl/crypto.h>

#include <stdlib.h>
#include <string.h>

#define SS_READ (128 * 1024)                   /* ciphertext read at once, at most */
#define SS_RBUF (SS_READ + PN_SS_CHUNK_MAX)    /* a block read plus a partial chunk */
/* Plaintext sealed per write: more than the relay's buffer (core/buf.h's 64 KiB)
 * so that a write of it goes out whole, as full chunks in one send, not as
 * 4 x 0x3FFF bytes and then a 4-byte chunk in a send of its own. */
#define SS_WRITE_MAX (5 * PN_SS_PAYLOAD_MAX)
/* A read topped up through pbuf when this much room is left after whole chunks:
 * the relay asks for whole TCP segments of its destination (65483 bytes on
 * loopback: 3 chunks of 0x3FFF and 16334 bytes), and a write of them leaves as
 * full segments; 4 bytes left by 4 chunks in 64 KiB are not worth a copy. */
#define SS_TOPUP (PN_SS_PAYLOAD_MAX / 2)

typedef struct xprt_ss {
    pn_xprt_t base;                 /* first */
    pn_xprt_t *inner;               /* owned: the socket's transport */
    pn_ss_method_t m;
    uint8_t key[PN_SS_KEY_LEN];     /* secret: the user's key, for the salt of our side */
    pn_ss_aead_t *dec;              /* owned: opens what the client sends */
    pn_ss_aead_t *enc;              /* owned: seals what we send, NULL before the first write */
    uint8_t *rbuf;                  /* owned: ciphertext read, NULL when empty */
    size_t rlen, roff;
    uint8_t *pbuf;                  /* owned: an opened payload not read yet, NULL when none */
    size_t plen, poff;
    uint8_t *obuf;                  /* owned: sealed bytes not written yet, NULL when none */
    size_t olen, ooff, oplain;      /* ... and the plaintext bytes they carry */
    pn_xprt_train_t seg;            /* whole TCP segments of the socket (ss_write_max) */
    unsigned in_eof : 1;
    unsigned held_set : 1;          /* a fill met <held> while opened bytes were still to serve */
    ssize_t held;                   /* ... 0 (end of stream) or PN_ERR, given at a later read */
    const char *held_err;           /* ... and its err */
    const char *fault;              /* the stream is broken: every read fails */
} xprt_ss_t;

static ssize_t
ss_fault(xprt_ss_t *s, const char *why)
{
    static pn_ratelim_t lim = { .interval_ms = 1000 };
    uint64_t held;
    if (s->fault == NULL && pn_ratelim_pass(&lim, pn_now_ms(), &held))
        log_warn("shadowsocks: closing a connection: %s (%llu more since the last note)", why,
                 (unsigned long long)held);
    s->fault = why;
    s->base.err = why;
    return PN_ERR;
}

static ssize_t
serve(xprt_ss_t *s, uint8_t *buf, size_t len)
{
    size_t n = s->plen - s->poff < len ? s->plen - s->poff : len;
    memcpy(buf, s->pbuf + s->poff, n);
    s->poff += n;
    if (s->poff == s->plen) {
        free(s->pbuf);
        s->pbuf = NULL;
        s->plen = s->poff = 0;
    }
    return (ssize_t)n;
}

/* Read a block from the inner transport behind what rbuf holds: > 0, 0 at end
 * of stream, PN_AGAIN or PN_ERR (want and err set on <s>). */
static ssize_t
fill(xprt_ss_t *s)
{
    if (s->rbuf == NULL) {
        s->rbuf = xmalloc(SS_RBUF);
        s->rlen = s->roff = 0;
    } else if (s->roff > 0) {
        memmove(s->rbuf, s->rbuf + s->roff, s->rlen - s->roff);
        s->rlen -= s->roff;
        s->roff = 0;
    }
    size_t room = SS_RBUF - s->rlen;
    ssize_t n = s->inner->ops->read(s->inner, s->rbuf + s->rlen, room < SS_READ ? room : SS_READ);
    if (n > 0)
        s->rlen += (size_t)n;
    else if (n == PN_AGAIN)
        s->base.want = s->inner->want;
    else if (n < 0)
        s->base.err = s->inner->err ? s->inner->err : "read failed";
    return n;
}

/* fill(), or what a fill met while a read served opened bytes first (ss_read):
 * the end of stream or an error comes back once, at a read with none left. */
static ssize_t
fill_or_held(xprt_ss_t *s)
{
    if (!s->held_set)
        return fill(s);
    s->held_set = 0;
    if (s->held < 0)
        s->base.err = s->held_err;
    return s->held;
}

static void
rbuf_drop_if_empty(xprt_ss_t *s)
{
    if (s->rbuf != NULL && s->roff == s->rlen) {
        free(s->rbuf);
        s->rbuf = NULL;
        s->rlen = s->roff = 0;
    }
}

static ssize_t
read_chunks(pn_xprt_t *x, void *buf, size_t len)
{
    xprt_ss_t *s = (xprt_ss_t *)x;
    uint8_t *out = buf;
    size_t got = 0;
    if (s->pbuf != NULL) {
        /* The rest of a chunk that topped up the last read, then whole ones:
         * read the socket first when rbuf holds less than a chunk, so that
         * this read is not the rest alone (a send of a few bytes). */
        size_t rest = s->plen - s->poff, have = s->rbuf != NULL ? s->rlen - s->roff : 0;
        if (!s->held_set && rest < len && len - rest >= SS_TOPUP && have < PN_SS_CHUNK_MAX) {
            ssize_t n = fill(s);
            if (n == 0 || n == PN_ERR) {
                s->held = n;
                s->held_err = s->base.err;
                s->held_set = 1;
            }
        }
        got = (size_t)serve(s, out, len);
        if (s->pbuf != NULL || len - got < SS_TOPUP)
            return (ssize_t)got;
    }
    if (s->fault != NULL) {
        if (got > 0)
            return (ssize_t)got;
        x->err = s->fault;
        return PN_ERR;
    }
    if (s->in_eof)
        return (ssize_t)got;
    while (got < len) {
        size_t used = 0;
        ssize_t k = PN_AGAIN;
        if (s->rbuf != NULL) {
            /* Straight into the caller's buffer when a whole payload fits;
             * into pbuf for a caller with less room than a chunk, or to top up
             * a read that has SS_TOPUP bytes of room left. */
            int direct = len - got >= PN_SS_PAYLOAD_MAX;
            if (!direct && got > 0 && len - got < SS_TOPUP)
                break;
            if (!direct)
                s->pbuf = xmalloc(PN_SS_PAYLOAD_MAX);
            k = pn_ss_open(s->dec, s->rbuf + s->roff, s->rlen - s->roff, &used,
                           direct ? out + got : s->pbuf);
            s->roff += used;
            if (k > 0 && direct) {
                got += (size_t)k;
                continue;
            }
            if (k > 0) {
                s->plen = (size_t)k;
                s->poff = 0;
                got += (size_t)serve(s, out + got, len - got);
                break;
            }
            if (!direct) {
                free(s->pbuf);
                s->pbuf = NULL;
            }
            if (k == PN_ERR)
                return got > 0 ? (ssize_t)got : ss_fault(s, "a chunk failed its tag or length");
        }
        if (got > 0)
            break;
        ssize_t n = fill_or_held(s);
        if (n > 0)
            continue;
        if (n == 0) {
            if ((s->rbuf != NULL && s->rlen > s->roff) || pn_ss_open_need(s->dec) != PN_SS_LEN_BLOCK)
                return ss_fault(s, "the stream ended inside a chunk");
            s->in_eof = 1;
        }
        rbuf_drop_if_empty(s);
        return n;
    }
    rbuf_drop_if_empty(s);
    return (ssize_t)got;
}

/* Drained (core/xprt.h): the socket's last recv() returned short and what is
 * held is less than the opener's next step, so the next read would only get
 * EAGAIN. A recv() that emptied the socket in an earlier read still counts:
 * bytes that arrived since raise the level-triggered EV_RD. */
static ssize_t
ss_read(pn_xprt_t *x, void *buf, size_t len)
{
    xprt_ss_t *s = (xprt_ss_t *)x;
    ssize_t n = read_chunks(x, buf, len);
    size_t have = s->rbuf != NULL ? s->rlen - s->roff : 0;
    x->drained = n > 0 && s->inner->drained && s->pbuf == NULL && !s->held_set &&
                 s->fault == NULL && !s->in_eof && have < pn_ss_open_need(s->dec);
    return n;
}

/* Write out what obuf holds: PN_OK when all went, PN_AGAIN or PN_ERR. */
static int
flush(xprt_ss_t *s)
{
    while (s->ooff < s->olen) {
        ssize_t n = s->inner->ops->write(s->inner, s->obuf + s->ooff, s->olen - s->ooff);
        if (n == PN_AGAIN) {
            s->base.want = s->inner->want;
            return PN_AGAIN;
        }
        if (n < 0) {
            s->base.err = s->inner->err ? s->inner->err : "write failed";
            return PN_ERR;
        }
        s->ooff += (size_t)n;
    }
    free(s->obuf);
    s->obuf = NULL;
    s->olen = s->ooff = 0;
    return PN_OK;
}

static ssize_t
ss_write(pn_xprt_t *x, const void *buf, size_t len)
{
    xprt_ss_t *s = (xprt_ss_t *)x;
    if (s->obuf == NULL) {
        size_t n = len < SS_WRITE_MAX ? len : SS_WRITE_MAX, off = 0;
        if (n == 0)
            return 0;
        s->obuf = xmalloc(PN_SS_SALT_LEN + PN_SS_SEALED_LEN(n));
        if (s->enc == NULL) {
            s->enc = pn_ss_aead_new(s->m, 1);
            off = pn_ss_salt_len(s->m);
            if (pn_random(s->obuf, off) != PN_OK || pn_ss_aead_init(s->enc, s->key, s->obuf) != PN_OK) {
                x->err = "shadowsocks: cannot key the stream";
                return PN_ERR;
            }
        }
        s->olen = off + pn_ss_seal(s->enc, buf, n, s->obuf + off);
        s->ooff = 0;
        s->oplain = n;
    }
    int rc = flush(s);
    return rc == PN_OK ? (ssize_t)s->oplain : rc;
}

/* The plaintext that seals into <seg> bytes, whole segments (the first write
 * carries the salt too): a 64 KiB write would leave loopback (MSS 65483) as a
 * full segment and one of 223 bytes, or 65160 + 546 over an MSS of 1448. */
static size_t
ss_write_max(pn_xprt_t *x)
{
    xprt_ss_t *s = (xprt_ss_t *)x;
    size_t seg = pn_xprt_train_get(&s->seg, s->inner->fd);
    size_t salt = s->enc == NULL ? pn_ss_salt_len(s->m) : 0;
    return seg > salt ? pn_ss_seal_fit(seg - salt) : 0;
}

static int
ss_shutdown_wr(pn_xprt_t *x)
{
    xprt_ss_t *s = (xprt_ss_t *)x;
    int rc = s->obuf != NULL ? flush(s) : PN_OK;
    if (rc != PN_OK)
        return rc;
    rc = s->inner->ops->shutdown_wr(s->inner);
    if (rc == PN_AGAIN)
        x->want = s->inner->want;
    else if (rc != PN_OK)
        x->err = s->inner->err;
    return rc;
}

/* Exact, so that the relay never spins: opened bytes, or a block the opener
 * can take a step with (at most one read finds that the chunk is partial). */
static size_t
ss_pending(pn_xprt_t *x)
{
    xprt_ss_t *s = (xprt_ss_t *)x;
    size_t have = s->rbuf ? s->rlen - s->roff : 0;
    if (s->fault != NULL || s->in_eof)
        return 0;
    return (s->plen - s->poff) + (have >= pn_ss_open_need(s->dec) ? 1 : 0) +
           s->inner->ops->pending(s->inner);
}

static int
ss_peek(pn_xprt_t *x)
{
    xprt_ss_t *s = (xprt_ss_t *)x;
    if (s->fault != NULL || s->in_eof)
        return 0;
    if (ss_pending(x) > 0)
        return 1;
    return pn_xprt_fd_peek(x);
}

static void
ss_free(pn_xprt_t *x)
{
    xprt_ss_t *s = (xprt_ss_t *)x;
    pn_xprt_free(s->inner);
    pn_ss_aead_free(s->dec);
    pn_ss_aead_free(s->enc);
    if (s->pbuf != NULL)
        OPENSSL_cleanse(s->pbuf, PN_SS_PAYLOAD_MAX);
    free(s->rbuf);
    free(s->pbuf);
    free(s->obuf);
    OPENSSL_cleanse(s->key, sizeof(s->key));
    free(s);
}

static const struct pn_xprt_ops ss_ops = {
    .name = "ss",
    .split_ready = 1,
    .read = ss_read,
    .write = ss_write,
    .shutdown_wr = ss_shutdown_wr,
    .pending = ss_pending,
    .watch = pn_xprt_fd_watch,
    .peek = ss_peek,
    .free = ss_free,
    .write_max = ss_write_max,
};

pn_xprt_t *
pn_ss_xprt_new(pn_xprt_t *inner, pn_ss_method_t m, const uint8_t key[PN_SS_KEY_LEN],
               pn_ss_aead_t *dec, const uint8_t *pre, size_t npre)
{
    xprt_ss_t *s = xcalloc(sizeof(*s));
    s->base.ops = &ss_ops;
    s->base.fd = inner->fd;         /* borrowed from <inner>, which closes it */
    s->inner = inner;
    s->m = m;
    memcpy(s->key, key, PN_SS_KEY_LEN);
    s->dec = dec;
    if (npre > SS_RBUF)
        abort();                    /* the caller's head buffer is far smaller */
    if (npre > 0) {
        s->rbuf = xmalloc(SS_RBUF);
        memcpy(s->rbuf, pre, npre);
        s->rlen = npre;
    }
    return &s->base;
}
