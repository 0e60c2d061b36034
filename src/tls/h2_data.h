/* tls/h2_data.h: the DATA frame that nghttp2's send_data callback writes
 * (NGHTTP2_DATA_FLAG_NO_COPY), shared by the two HTTP/2 users of tls/: the
 * transport's connection (h2_mux.c on_send_data: a type=3 stream's bytes from
 * its wbuf) and the hub's gateway (h2gw_resp.c pn_h2gw_body_send: a response
 * body's bytes from rb). Both gather frames in one flat output buffer that is
 * written to the peer later. Inline: it runs for every DATA frame, and a call
 * cost some 30 instructions a frame (callgrind). Private to tls/. */
#ifndef PN_TLS_H2_DATA_H
#define PN_TLS_H2_DATA_H

#include "core/mem.h"

#include <nghttp2/nghttp2.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/** Append the DATA frame <f> (head <hd>, <len> bytes from <data>, <f>'s padding)
 *  to the output <*out> of <*olen> bytes in <*ocap>: 0, or NGHTTP2_ERR_WOULDBLOCK
 *  when the output must leave first. An empty output too small becomes at least
 *  <gather> bytes.
 *
 *  The frame is what nghttp2 asks of a send_data callback for a NO_COPY data
 *  source (nghttp2_send_data_callback): the 9 bytes of <hd>, then when
 *  f->data.padlen is not 0 the Pad Length byte (padlen - 1), the <len> bytes
 *  of <data>, and padlen - 1 zero bytes. 0 once all of it is in <*out> (the
 *  caller then moves its source past <len> bytes); NGHTTP2_ERR_WOULDBLOCK with
 *  nothing written when <*out> holds frames and has no room for this one:
 *  nghttp2 calls again for the same frame once the caller wrote <*out> out and
 *  emptied it. An empty output smaller than the frame is replaced (free and
 *  malloc, not realloc: nothing to keep) by one of max(frame, <gather>) bytes,
 *  so a frame never waits on an empty output. The bytes are copied once, here.
 *  The caller answers NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE itself when its
 *  stream no longer has the <len> bytes (reset). */
static inline int
pn_h2_data_put(uint8_t **out, size_t *olen, size_t *ocap, size_t gather,
               const nghttp2_frame *f, const uint8_t *hd, const uint8_t *data, size_t len)
{
    size_t pad = f->data.padlen, need = 9 + pad + len;
    if (*olen > 0 && *olen + need > *ocap)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (*olen + need > *ocap) {
        free(*out);
        *ocap = need > gather ? need : gather;
        *out = xmalloc(*ocap);
    }
    uint8_t *o = *out + *olen;
    memcpy(o, hd, 9);
    o += 9;
    if (pad > 0)
        *o++ = (uint8_t)(pad - 1);
    memcpy(o, data, len);
    o += len;
    if (pad > 1) {
        memset(o, 0, pad - 1);
        o += pad - 1;
    }
    *olen = (size_t)(o - *out);
    return 0;
}

#endif
