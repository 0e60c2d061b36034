/* route/sniff.c: first-bytes protocol recognition (pure). */
#include "route/sniff.h"
#include "core/err.h"

#include <string.h>

/* Request methods of HTTP/1.x, followed by a space, and the HTTP/2 preface. */
static const char *const http_starts[] = {
    "GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE ",
    "PRI * HTTP/2.0",
};

static int
http_prefix(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < sizeof(http_starts) / sizeof(http_starts[0]); i++) {
        size_t m = strlen(http_starts[i]);
        if (memcmp(p, http_starts[i], n < m ? n : m) == 0)
            return 1;
    }
    return 0;
}

enum pn_sniff
pn_sniff(const uint8_t *p, size_t n)
{
    if (n == 0)
        return PN_SNIFF_OTHER;
    switch (p[0]) {
    case 0x05:
        /* SOCKS5 greeting: VER=5, NMETHODS >= 1, then the methods. */
        if (n == 1 || p[1] >= 1)
            return PN_SNIFF_SOCKS;
        return PN_SNIFF_OTHER;
    case 0x04:
        /* SOCKS4 request: VN=4, CD=1 (connect) or 2 (bind). */
        if (n == 1 || p[1] == 1 || p[1] == 2)
            return PN_SNIFF_SOCKS;
        return PN_SNIFF_OTHER;
    case 0x16:
        /* TLS record: content type handshake, legacy version 3.x. */
        if (n == 1 || p[1] == 0x03)
            return PN_SNIFF_TLS;
        return PN_SNIFF_OTHER;
    default:
        return http_prefix(p, n) ? PN_SNIFF_HTTP : PN_SNIFF_OTHER;
    }
}

int
pn_sniff_parse_block(const char *s, unsigned *mask)
{
    unsigned m = 0;
    if (s == NULL || *s == '\0')
        return PN_ERR;
    for (; *s; s++) {
        if (*s < '1' || *s > '3')
            return PN_ERR;
        unsigned bit = 1u << (*s - '0');
        if (m & bit)
            return PN_ERR;
        m |= bit;
    }
    *mask = m;
    return PN_OK;
}
