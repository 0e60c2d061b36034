/* tests/fuzz/fuzz_ws_frame.c: the WebSocket frame decoder (src/tls/ws_frame.h).
 *
 * The input's first byte picks the side (bit 0: decoding a client's frames)
 * and a seed for the splits; the rest is the stream. It is decoded twice:
 * whole, into a buffer as large as the input, and in pieces of 1-64 bytes into
 * buffers of 1-64 bytes, each piece an exact-size heap copy (a read past it
 * hits an ASan redzone) as the transport feeds it. Invariants:
 *   - the code is PN_OK or PN_ERR, PN_ERR with a why, and stays PN_ERR;
 *   - *used is within the input, *got within the room, a control frame's
 *     payload at most 125 bytes, ctl_op a control opcode or 0;
 *   - a call that stops short of its input did so on a full buffer or a
 *     whole control frame;
 *   - the split decoding gives the same payload bytes, the same control frames
 *     (opcode and payload, in order) and the same verdict as the whole one;
 *   - pn_ws_mask at any offset undone by itself gives the bytes back. */
#include "fuzz.h"
#include "core/err.h"
#include "tls/ws_frame.h"

#define EV_MAX 4096

typedef struct {
    uint8_t *data;              /* payload bytes, in order */
    size_t n;
    uint8_t ev[EV_MAX];         /* control opcodes, payload lengths and payloads, in order */
    size_t nev;
    int rc;
} run_t;

static void
note_ctl(run_t *r, const pn_ws_dec_t *d)
{
    FUZZ_ASSERT(d->ctl_op == PN_WS_OP_CLOSE || d->ctl_op == PN_WS_OP_PING ||
                d->ctl_op == PN_WS_OP_PONG);
    FUZZ_ASSERT(d->nctl <= PN_WS_CTL_MAX);
    if (r->nev + 2 + d->nctl > EV_MAX)
        return;                 /* (both runs stop noting at the same point) */
    r->ev[r->nev++] = d->ctl_op;
    r->ev[r->nev++] = (uint8_t)d->nctl;
    memcpy(r->ev + r->nev, d->ctl, d->nctl);
    r->nev += d->nctl;
}

/* Feed <in> in pieces of <piece(i)> bytes (0: all), into rooms of <room(i)>. */
static void
decode(run_t *r, int server, const uint8_t *in, size_t n, uint32_t seed, int whole)
{
    pn_ws_dec_t d;
    size_t off = 0;
    uint32_t s = seed;
    pn_ws_dec_init(&d, server);
    r->data = malloc(n + 1);
    r->n = r->nev = 0;
    r->rc = PN_OK;
    while (off < n) {
        s = s * 1103515245u + 12345u;
        size_t pn = whole ? n - off : 1 + (s >> 16) % 64;
        size_t room = whole ? n + 1 : 1 + (s >> 8) % 64;
        if (pn > n - off)
            pn = n - off;
        uint8_t *piece = fuzz_dup(in + off, pn);
        uint8_t *out = malloc(room);
        size_t used = 99999, got = 99999;
        int rc = pn_ws_dec(&d, piece, pn, &used, out, room, &got);
        FUZZ_ASSERT(rc == PN_OK || rc == PN_ERR);
        FUZZ_ASSERT(used <= pn && got <= room);
        memcpy(r->data + r->n, out, got);
        r->n += got;
        free(piece);
        free(out);
        off += used;
        if (rc == PN_ERR) {
            FUZZ_ASSERT(d.why != NULL);
            r->rc = PN_ERR;
            size_t u2, g2;
            uint8_t one;
            FUZZ_ASSERT(pn_ws_dec(&d, in, n, &u2, &one, 1, &g2) == PN_ERR);
            break;
        }
        if (d.ctl_op != 0)
            note_ctl(r, &d);
        else if (used < pn)
            FUZZ_ASSERT(got == room);       /* stopped short: the buffer is full */
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int server = data[0] & 1;
    uint32_t seed = data[0];
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    run_t a, b;
    decode(&a, server, in, n, seed, 1);
    decode(&b, server, in, n, seed, 0);
    FUZZ_ASSERT(a.rc == b.rc);
    FUZZ_ASSERT(a.n == b.n && memcmp(a.data, b.data, a.n) == 0);
    FUZZ_ASSERT(a.nev == b.nev && memcmp(a.ev, b.ev, a.nev) == 0);
    free(a.data);
    free(b.data);

    uint8_t key[4] = { 0x12, 0x34, 0x56, 0x78 };
    uint64_t moff = seed % 7;
    uint8_t *m = fuzz_dup(in, n), *back = malloc(n + 1);
    pn_ws_mask(m, in, n, key, moff);
    pn_ws_mask(back, m, n, key, moff);
    FUZZ_ASSERT(n == 0 || memcmp(back, in, n) == 0);
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT(m[i] == (in[i] ^ key[(i + moff) & 3]));
    free(m);
    free(back);
    return 0;
}
