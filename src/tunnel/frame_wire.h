/* tunnel/frame_wire.h: byte helpers shared by the codec files of tunnel/
 * (frame.c, frame_msg.c, frame_route.c, frame_target.c); not for use outside them. The
 * functions are defined in frame_msg.c, the inline helpers here.
 *
 * All integers on the wire are big-endian (docs/protocol.md). */
#ifndef PN_TUNNEL_FRAME_WIRE_H
#define PN_TUNNEL_FRAME_WIRE_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

/* Set *<why> (if the caller asked for it) and return PN_ERR. */
static inline int
fail(const char **why, const char *msg)
{
    if (why != NULL)
        *why = msg;
    return PN_ERR;
}

static inline uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void
hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/** Return how many bytes of the NUL-terminated <reason> (NULL means empty) an
 * ERROR or ROUTE_FAIL carries: all of them up to PN_ERROR_REASON_MAX, a longer
 * reason cut at a UTF-8 character boundary. Reads at most reason[256]. */
size_t pn_frame_reason_len(const char *reason);
/** As pn_frame_reason_len, with the bound <max> (>= 3) instead of 256. */
size_t pn_frame_text_len(const char *text, size_t max);

/** Write into <out> a NUL-terminated, log-safe copy of the <n> bytes of peer
 * text at <s> (unsafe characters and invalid UTF-8 become '?'). <out> needs
 * room for <n> + 1 bytes. */
void pn_frame_log_safe(const uint8_t *s, size_t n, char *out);

#endif
