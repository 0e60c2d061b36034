/* tunnel/frame_target.c: the TARGET TLV of a TCP/UDP signal (docs/protocol.md
 * §5.2): the destination the far end dials for this one exchange, chosen by
 * the side that accepted the user (the proxy entrance, docs/proxy.md). */
#include "tunnel/frame.h"

#include "core/err.h"

#include <string.h>

static int
bad(const char **why, const char *msg)
{
    if (why != NULL)
        *why = msg;
    return PN_ERR;
}

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
        return bad(why, "signal shorter than a connection id");
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
        return bad(why, msg);
    }
    return PN_OK;
}
