/* tls/ws_frame.h: the WebSocket frame decoder of the "ws" transport (RFC 6455
 * section 5), pure: bytes in, payload out, no I/O.
 *
 *   socket bytes --pn_ws_dec--> data payload (unmasked) into the caller's buffer
 *                           \-> a control frame whole in dec->ctl (ping, pong, close)
 *
 * It takes the input in any splits and writes a data frame's payload straight
 * into the caller's buffer, unmasking 8 bytes at a time: no copy of its own, no
 * 4 KiB chunks (wslay's frame reader copied each byte through its buffer and
 * unmasked it one at a time). The rules are the transport's (tls/ws.h): binary
 * and continuation frames carry the data; text frames, unknown opcodes,
 * reserved bits, a frame over PN_WS_FRAME_MAX, a masked frame to the client or
 * an unmasked one to the server, a control frame fragmented or over 125 bytes,
 * a length not in its shortest form or with the top bit set, a message started
 * inside another or a continuation without one are faults: PN_ERR with a why,
 * and the decoder stays failed. */
#ifndef PN_TLS_WS_FRAME_H
#define PN_TLS_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PN_WS_CTL_MAX 125       /* a control frame's payload */
#define PN_WS_OP_CONT 0x0
#define PN_WS_OP_BINARY 0x2
#define PN_WS_OP_CLOSE 0x8
#define PN_WS_OP_PING 0x9
#define PN_WS_OP_PONG 0xa

typedef struct pn_ws_dec {
    int server;                 /* decoding what a client sent: frames must be masked */
    uint8_t hdr[14];            /* the header being gathered */
    uint8_t nhdr, hneed;        /* bytes of it held; bytes it has (2 until the second is known) */
    uint8_t key[4];             /* the frame's mask */
    uint8_t op;                 /* the frame's opcode */
    unsigned in_frame : 1;      /* header done: <rem> payload bytes follow */
    unsigned in_msg : 1;        /* a fragmented data message is open */
    unsigned masked : 1;
    uint64_t rem;               /* payload bytes left of the frame */
    uint64_t off;               /* payload bytes of the frame already decoded (mask phase) */
    uint8_t ctl[PN_WS_CTL_MAX]; /* a control frame's payload */
    size_t nctl;
    uint8_t ctl_op;             /* set by pn_ws_dec when a control frame is whole, 0 otherwise */
    const char *why;            /* the fault, once PN_ERR */
} pn_ws_dec_t;

/** A decoder for frames sent by a client (<server> 1: masked) or by a server. */
void pn_ws_dec_init(pn_ws_dec_t *d, int server);
/** Decode from the <n> bytes at <in>: data payload into <out> (at most <room>
 *  bytes). Stops when the input is used up, <out> is full inside a data
 *  payload, or a control frame is whole (then d->ctl_op is its opcode and
 *  d->ctl, d->nctl its payload, until the next call). *used: input bytes
 *  taken; *got: payload bytes written. PN_OK, or PN_ERR (d->why, the
 *  decoder failed for good; *used and *got count what came before). */
int pn_ws_dec(pn_ws_dec_t *d, const uint8_t *in, size_t n, size_t *used, uint8_t *out,
              size_t room, size_t *got);
/** 1 while a frame is begun (header or payload part read) and not whole. */
int pn_ws_dec_inside(const pn_ws_dec_t *d);
/** XOR the <n> bytes of <src> with the mask <key> from payload offset <off>
 *  into <dst> (may be <src>). */
void pn_ws_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], uint64_t off);

#endif
