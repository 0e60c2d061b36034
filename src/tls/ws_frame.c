/* tls/ws_frame.c: the WebSocket frame decoder (see ws_frame.h).
 *
 *   header: 2 bytes, then 0/2/8 bytes of length and 0/4 of mask, gathered in hdr
 *   payload: data --unmask--> out; control --unmask--> ctl (whole, then ctl_op)
 *
 * The header is judged as soon as its first two bytes are in (opcode, bits,
 * mask, a control frame's length) and again once whole (the extended length). */
#include "tls/ws_frame.h"
#include "tls/ws.h"
#include "core/err.h"

#include <string.h>

void
pn_ws_dec_init(pn_ws_dec_t *d, int server)
{
    memset(d, 0, sizeof(*d));
    d->server = server;
    d->hneed = 2;
}

int
pn_ws_dec_inside(const pn_ws_dec_t *d)
{
    return d->in_frame || d->nhdr > 0;
}

void
pn_ws_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], uint64_t off)
{
    uint8_t k8[8];
    uint64_t k;
    size_t i = 0;
    for (int j = 0; j < 8; j++)
        k8[j] = key[(off + (uint64_t)j) & 3];
    memcpy(&k, k8, 8);
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= k;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ k8[i & 7];
}

static int
fail(pn_ws_dec_t *d, const char *why)
{
    d->why = why;
    return PN_ERR;
}

/* The first two header bytes are in: judge them, say how long the header is. */
static int
head_start(pn_ws_dec_t *d)
{
    uint8_t b0 = d->hdr[0], b1 = d->hdr[1], op = b0 & 0x0f, len7 = b1 & 0x7f;
    int fin = b0 >> 7, ctl = (op & 0x08) != 0;
    if ((b0 & 0x70) != 0)
        return fail(d, "websocket frame with reserved bits set");
    if (d->server && !(b1 & 0x80))
        return fail(d, "unmasked websocket frame from the client");
    if (!d->server && (b1 & 0x80))
        return fail(d, "masked websocket frame from the server");
    switch (op) {
    case PN_WS_OP_BINARY:
        if (d->in_msg)
            return fail(d, "websocket message started inside a fragmented one");
        break;
    case PN_WS_OP_CONT:
        if (!d->in_msg)
            return fail(d, "websocket continuation frame without a message");
        break;
    case 0x1:
        return fail(d, "websocket text frame (the tunnel uses binary frames)");
    case PN_WS_OP_CLOSE:
    case PN_WS_OP_PING:
    case PN_WS_OP_PONG:
        break;
    default:
        return fail(d, "websocket frame with an unknown opcode");
    }
    if (ctl && (!fin || len7 > PN_WS_CTL_MAX))
        return fail(d, "malformed websocket frame (a control frame fragmented or over 125 bytes)");
    d->op = op;
    d->masked = (b1 >> 7) & 1;
    d->hneed = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (d->masked ? 4 : 0));
    return PN_OK;
}

/* The whole header is in: the length, the mask; the payload follows. */
static int
head_end(pn_ws_dec_t *d)
{
    uint8_t len7 = d->hdr[1] & 0x7f;
    size_t h = 2;
    uint64_t len = len7;
    if (len7 == 126) {
        len = (uint64_t)d->hdr[2] << 8 | d->hdr[3];
        h = 4;
        if (len < 126)
            return fail(d, "malformed websocket frame (a length not in its shortest form)");
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | d->hdr[2 + i];
        h = 10;
        if (len >> 63)
            return fail(d, "malformed websocket frame (a length with the top bit set)");
        if (len <= 0xffff)
            return fail(d, "malformed websocket frame (a length not in its shortest form)");
    }
    if (len > PN_WS_FRAME_MAX)
        return fail(d, "oversized websocket frame (over 1 MiB)");
    if (d->masked)
        memcpy(d->key, d->hdr + h, 4);
    if (!(d->op & 0x08))
        d->in_msg = !(d->hdr[0] >> 7);
    d->rem = len;
    d->off = 0;
    d->nctl = 0;
    d->in_frame = 1;
    d->nhdr = 0;
    d->hneed = 2;
    return PN_OK;
}

/* Move up to <n> payload bytes from <in> to <dst>, unmasked. */
static void
take(pn_ws_dec_t *d, uint8_t *dst, const uint8_t *in, size_t n)
{
    if (d->masked)
        pn_ws_mask(dst, in, n, d->key, d->off);
    else
        memcpy(dst, in, n);
    d->off += n;
    d->rem -= n;
}

int
pn_ws_dec(pn_ws_dec_t *d, const uint8_t *in, size_t n, size_t *used, uint8_t *out,
          size_t room, size_t *got)
{
    size_t i = 0, o = 0;
    int rc = PN_OK;
    d->ctl_op = 0;
    if (d->why != NULL) {
        *used = *got = 0;
        return PN_ERR;
    }
    for (;;) {
        if (!d->in_frame) {
            if (i == n)
                break;
            size_t k = (size_t)(d->hneed - d->nhdr) < n - i ? (size_t)(d->hneed - d->nhdr) : n - i;
            memcpy(d->hdr + d->nhdr, in + i, k);
            d->nhdr = (uint8_t)(d->nhdr + k);
            i += k;
            if (d->nhdr == 2 && d->hneed == 2 && (rc = head_start(d)) != PN_OK)
                break;
            if (d->nhdr < d->hneed)
                continue;
            if ((rc = head_end(d)) != PN_OK)
                break;
        }
        if (d->op & 0x08) {
            size_t k = d->rem < n - i ? (size_t)d->rem : n - i;
            take(d, d->ctl + d->nctl, in + i, k);
            d->nctl += k;
            i += k;
            if (d->rem > 0)
                break;          /* input used up */
            d->in_frame = 0;
            d->ctl_op = d->op;
            break;
        }
        size_t k = d->rem < n - i ? (size_t)d->rem : n - i;
        if (k > room - o)
            k = room - o;
        take(d, out + o, in + i, k);
        o += k;
        i += k;
        if (d->rem == 0) {
            d->in_frame = 0;
            continue;
        }
        break;                  /* input used up or out full */
    }
    *used = i;
    *got = o;
    return rc;
}
