/* tunnel/frame_target.c: the TARGET TLV of a TCP/UDP signal (docs/protocol.md
 * §5.2): the destination the far end dials for this one exchange, chosen by
 * the side that accepted the user (the proxy entrance, docs/proxy.md); and the
 * RESULT frame (§6.5) by which the far end answers it on the data connection. */
#include "tunnel/frame.h"

#include "core/err.h"
#include "tunnel/frame_wire.h"

#include <string.h>

/* A host name or address literal as TARGET carries it: 1..253 bytes of
 * printable ASCII without spaces. */
static int
host_ok(const uint8_t *h, size_t n)
{
    if (n < 1 || n > PN_TARGET_HOST_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (h[i] < 0x21 || h[i] > 0x7E)
            return 0;
    return 1;
}

size_t
pn_signal_append_target(uint8_t *out, size_t cap, size_t off, const char *host, uint16_t port)
{
    size_t n = host != NULL ? strlen(host) : 0;
    if (port == 0 || !host_ok((const uint8_t *)host, n) || off > cap ||
        cap - off < PN_TLV_HDR + 2 + n)
        return 0;
    uint8_t *p = out + off;
    p[0] = PN_ST_TARGET;
    p[1] = (uint8_t)((2 + n) >> 8);
    p[2] = (uint8_t)(2 + n);
    p[3] = (uint8_t)(port >> 8);
    p[4] = (uint8_t)port;
    memcpy(p + 5, host, n);
    return off + PN_TLV_HDR + 2 + n;
}

int
pn_signal_decode_target(const uint8_t *p, size_t len, char host[PN_TARGET_HOST_MAX + 1],
                        uint16_t *port, const char **why)
{
    const char *msg = NULL;
    host[0] = '\0';
    *port = 0;
    if (len < PN_CONN_ID_LEN)
        return fail(why, "signal shorter than a connection id");
    const uint8_t *cur = p + PN_CONN_ID_LEN, *end = p + len, *val;
    uint8_t type;
    uint16_t vlen;
    int rc = PN_AGAIN;
    while (msg == NULL && (rc = pn_tlv_next(&cur, end, &type, &val, &vlen)) == PN_OK) {
        if (type != PN_ST_TARGET)
            continue;
        if (host[0] != '\0') {
            msg = "signal repeats the TARGET TLV";
        } else if (vlen < 3 || !host_ok(val + 2, (size_t)vlen - 2) || (val[0] == 0 && val[1] == 0)) {
            msg = "signal has a malformed TARGET TLV";
        } else {
            *port = (uint16_t)(val[0] << 8 | val[1]);
            memcpy(host, val + 2, (size_t)vlen - 2);
            host[vlen - 2] = '\0';
        }
    }
    if (msg == NULL && rc != PN_AGAIN)
        msg = "signal has a truncated TLV";
    if (msg != NULL) {
        /* Nothing half-read is left behind. */
        host[0] = '\0';
        *port = 0;
        return fail(why, msg);
    }
    return PN_OK;
}

size_t
pn_result_encode(uint8_t code, const char *reason, uint8_t *out, size_t cap)
{
    size_t n = pn_frame_text_len(reason, PN_RESULT_REASON_MAX);
    if (cap < PN_FRAME_HDR + 1 + n)
        return 0;
    out[PN_FRAME_HDR] = code;
    if (n > 0)
        memcpy(out + PN_FRAME_HDR + 1, reason, n);
    return pn_frame_encode(out, cap, PN_FT_RESULT, 0, 0, out + PN_FRAME_HDR, 1 + n);
}

int
pn_result_decode(const uint8_t *in, size_t avail, uint8_t *code,
                 char reason[PN_RESULT_REASON_MAX + 1], size_t *need, const char **why)
{
    *need = PN_FRAME_HDR;
    if (avail >= 1 && in[0] != PN_PROTO_VERSION)
        return fail(why, pn_why_version);
    if (avail >= 2 && in[1] != PN_FT_RESULT)
        return fail(why, "the data connection did not start with a RESULT frame");
    if (avail >= 4 && in[3] != 0)
        return fail(why, "reserved header byte is not zero");
    if (avail < PN_FRAME_HDR)
        return PN_AGAIN;
    if (get32(in + 4) != 0)
        return fail(why, "RESULT has a non-zero stream id");
    uint32_t len = get32(in + 8);
    if (len < 1 || len > 1 + PN_RESULT_REASON_MAX)
        return fail(why, "RESULT payload is not 1..256 bytes");
    *need = PN_FRAME_HDR + len;
    if (avail < *need)
        return PN_AGAIN;
    *code = in[PN_FRAME_HDR];
    pn_frame_log_safe(in + PN_FRAME_HDR + 1, len - 1, reason);
    return PN_OK;
}
