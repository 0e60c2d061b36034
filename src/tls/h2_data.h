/* tls/h2_data.h: the DATA frame that nghttp2's send_data callback writes
 * (NGHTTP2_DATA_FLAG_NO_COPY), shared by the two HTTP/2 users of tls/: the
 * transport's connection (h2_mux.c: a type=3 stream's bytes from its wbuf)
 * and the hub's gateway (h2gw_resp.c: a response body's bytes from rb). Both
 * gather frames in one flat output buffer written to the peer later. Private
 * to tls/. */
#ifndef PN_TLS_H2_DATA_H
#define PN_TLS_H2_DATA_H

#include <nghttp2/nghttp2.h>

#include <stddef.h>
#include <stdint.h>

/** Append the DATA frame <f> (head <hd>, <len> bytes from <data>, <f>'s padding)
 *  to the output <*out> of <*olen> bytes in <*ocap>: 0, or NGHTTP2_ERR_WOULDBLOCK
 *  when the output must leave first. An empty output too small becomes at least
 *  <gather> bytes. */
int pn_h2_data_put(uint8_t **out, size_t *olen, size_t *ocap, size_t gather,
                   const nghttp2_frame *f, const uint8_t *hd, const uint8_t *data, size_t len);

#endif
