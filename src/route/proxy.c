/* route/proxy.c: PROXY protocol v1/v2 encoder and decoder (pure). */
#include "route/proxy.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v2_sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49,
                                    0x54, 0x0A };

/* Copy <a> as IPv6 into <ip6> (IPv4 mapped) and return its port. */
static uint16_t
as_v6(const pn_addr_t *a, uint8_t ip6[16])
{
    if (a->ss.ss_family == AF_INET6) {
        memcpy(ip6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
    } else {
        memset(ip6, 0, 10);
        ip6[10] = ip6[11] = 0xff;
        memcpy(ip6 + 12, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    }
    return pn_addr_port(a);
}

size_t
pn_proxyproto_encode(int version, int udp, const pn_addr_t *src, const pn_addr_t *dst, uint8_t *out,
                size_t cap)
{
    int v4 = src->ss.ss_family == AF_INET && dst->ss.ss_family == AF_INET;
    uint8_t s6[16], d6[16];
    uint16_t sp = as_v6(src, s6), dp = as_v6(dst, d6);

    if (version == 1) {
        char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
        if (udp)
            return 0;
        if (v4) {
            inet_ntop(AF_INET, s6 + 12, sa, sizeof(sa));
            inet_ntop(AF_INET, d6 + 12, da, sizeof(da));
        } else {
            inet_ntop(AF_INET6, s6, sa, sizeof(sa));
            inet_ntop(AF_INET6, d6, da, sizeof(da));
        }
        char line[PN_PROXY_MAX + 1];
        int n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n", v4 ? "TCP4" : "TCP6", sa,
                         da, sp, dp);
        if (n < 0 || (size_t)n > cap || (size_t)n >= sizeof(line))
            return 0;
        memcpy(out, line, (size_t)n);      /* no terminator: exactly the header */
        return (size_t)n;
    }
    if (version != 2)
        return 0;
    size_t alen = v4 ? 12 : 36, len = 16 + alen;
    if (cap < len)
        return 0;
    memcpy(out, v2_sig, 12);
    out[12] = 0x21;                                     /* version 2, PROXY */
    out[13] = (uint8_t)((v4 ? 0x10 : 0x20) | (udp ? 0x02 : 0x01));
    out[14] = (uint8_t)(alen >> 8);
    out[15] = (uint8_t)alen;
    uint8_t *p = out + 16;
    if (v4) {
        memcpy(p, s6 + 12, 4);
        memcpy(p + 4, d6 + 12, 4);
        p += 8;
    } else {
        memcpy(p, s6, 16);
        memcpy(p + 16, d6, 16);
        p += 32;
    }
    p[0] = (uint8_t)(sp >> 8);
    p[1] = (uint8_t)sp;
    p[2] = (uint8_t)(dp >> 8);
    p[3] = (uint8_t)dp;
    return len;
}

static int
set_ip(pn_addr_t *a, int family, const void *ip, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    if (family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
        v4->sin_family = AF_INET;
        memcpy(&v4->sin_addr, ip, 4);
        v4->sin_port = htons(port);
        a->len = sizeof(*v4);
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
        v6->sin6_family = AF_INET6;
        memcpy(&v6->sin6_addr, ip, 16);
        v6->sin6_port = htons(port);
        a->len = sizeof(*v6);
    }
    return PN_OK;
}

/* A port in v1: 1 to 5 digits, no sign, no leading zero (but "0" itself). */
static int
parse_port(const char *s, uint16_t *port)
{
    uint32_t v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
        return PN_ERR;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return PN_ERR;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535)
        return PN_ERR;
    *port = (uint16_t)v;
    return PN_OK;
}

static int
decode_v1(const uint8_t *p, size_t n, pn_addr_t *src, pn_addr_t *dst, size_t *used,
          const char **why)
{
    char line[PN_PROXY_MAX + 1], *f[7], *save = NULL;
    /* The spec's longest line is 107 bytes with its CRLF: CR at offset 105 at most. */
    const size_t max_cr = 106;
    const uint8_t *cr = memchr(p, '\r', n < max_cr ? n : max_cr);
    if (cr == NULL) {
        *why = "v1 header without CRLF in 107 bytes";
        return n >= max_cr ? PN_ERR : PN_AGAIN;
    }
    size_t len = (size_t)(cr - p);
    if (memchr(p, '\0', len) != NULL) {
        *why = "v1 header with a NUL byte";
        return PN_ERR;
    }
    if (len + 1 >= n)
        return PN_AGAIN;
    if (cr[1] != '\n') {
        *why = "v1 header: CR without LF";
        return PN_ERR;
    }
    memcpy(line, p, len);
    line[len] = '\0';
    int k = 0;
    for (char *t = strtok_r(line, " ", &save); t != NULL && k < 7; t = strtok_r(NULL, " ", &save))
        f[k++] = t;         /* a 7th field means too many */
    *used = len + 2;
    if (k >= 2 && strcmp(f[1], "UNKNOWN") == 0) {
        memset(src, 0, sizeof(*src));
        memset(dst, 0, sizeof(*dst));
        return PN_OK;
    }
    if (k != 6) {
        *why = "v1 header: expected PROXY TCP4|TCP6 <src> <dst> <sport> <dport>";
        return PN_ERR;
    }
    int family = strcmp(f[1], "TCP4") == 0 ? AF_INET : strcmp(f[1], "TCP6") == 0 ? AF_INET6 : 0;
    uint8_t sa[16], da[16];
    uint16_t sp, dp;
    if (family == 0 || inet_pton(family, f[2], sa) != 1 || inet_pton(family, f[3], da) != 1 ||
        parse_port(f[4], &sp) != PN_OK || parse_port(f[5], &dp) != PN_OK) {
        *why = "v1 header: bad protocol, address or port";
        return PN_ERR;
    }
    set_ip(src, family, sa, sp);
    set_ip(dst, family, da, dp);
    return PN_OK;
}

int
pn_proxyproto_decode(const uint8_t *p, size_t n, int *version, int *udp, pn_addr_t *src,
                pn_addr_t *dst, size_t *used, const char **why)
{
    const char *w = NULL;
    if (why == NULL)
        why = &w;
    *udp = 0;
    if (n >= 1 && p[0] == 'P') {
        if (memcmp(p, "PROXY ", n < 6 ? n : 6) != 0) {
            *why = "not a PROXY header";
            return PN_ERR;
        }
        if (n < 6)
            return PN_AGAIN;
        *version = 1;
        return decode_v1(p, n, src, dst, used, why);
    }
    if (memcmp(p, v2_sig, n < 12 ? n : 12) != 0) {
        *why = "not a PROXY header";
        return PN_ERR;
    }
    if (n < 16)
        return PN_AGAIN;
    *version = 2;
    size_t alen = (size_t)p[14] << 8 | p[15];
    if ((p[12] & 0xF0) != 0x20 || (p[12] & 0x0F) > 1) {
        *why = "v2 header: bad version or command";
        return PN_ERR;
    }
    if (n < 16 + alen)
        return PN_AGAIN;
    *used = 16 + alen;
    memset(src, 0, sizeof(*src));
    memset(dst, 0, sizeof(*dst));
    if ((p[12] & 0x0F) == 0 || (p[13] >> 4) == 0)
        return PN_OK;           /* LOCAL, or AF_UNSPEC: no addresses */
    int fam = p[13] >> 4, proto = p[13] & 0x0F;
    if (proto != 1 && proto != 2) {
        *why = "v2 header: bad transport";
        return PN_ERR;
    }
    *udp = proto == 2;
    const uint8_t *a = p + 16;
    if (fam == 1 && alen >= 12) {
        set_ip(src, AF_INET, a, (uint16_t)(a[8] << 8 | a[9]));
        set_ip(dst, AF_INET, a + 4, (uint16_t)(a[10] << 8 | a[11]));
        return PN_OK;
    }
    if (fam == 2 && alen >= 36) {
        set_ip(src, AF_INET6, a, (uint16_t)(a[32] << 8 | a[33]));
        set_ip(dst, AF_INET6, a + 16, (uint16_t)(a[34] << 8 | a[35]));
        return PN_OK;
    }
    if (fam == 3) {
        return PN_OK;           /* AF_UNIX: nothing we route on */
    }
    *why = "v2 header: bad family or address length";
    return PN_ERR;
}
