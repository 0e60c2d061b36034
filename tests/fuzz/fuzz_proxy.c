/* tests/fuzz/fuzz_proxy.c: the PROXY protocol header codec (src/route/proxy.h).
 *
 * Each input is used twice:
 *   1. as received bytes for pn_proxyproto_decode. A header it accepts with
 *      addresses is re-encoded (same version, same transport) and decoded
 *      again: the addresses must come back unchanged. Every strict prefix of an
 *      accepted header must give PN_AGAIN ("more bytes needed").
 *   2. as the arguments of pn_proxyproto_encode: version, transport, families,
 *      addresses, ports and <cap> all come from the first 38 bytes. The output
 *      buffer is a heap block of exactly <cap> bytes, so ASan reports any write
 *      past it; the length must be exact (0 exactly when <cap> is short) and the
 *      header must decode to what was encoded (mixed families as IPv6 with the
 *      IPv4 address mapped). */
#include "fuzz.h"
#include "route/proxy.h"

#include <netinet/in.h>

/* Fill <a> with <family>, the first 4 or 16 bytes of <ip> and <port>. */
static void
addr_build(pn_addr_t *a, int family, const uint8_t ip[16], uint16_t port)
{
    memset(a, 0, sizeof(*a));
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&a->ss;
        s->sin_family = AF_INET;
        memcpy(&s->sin_addr, ip, 4);
        s->sin_port = htons(port);
        a->len = sizeof(*s);
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a->ss;
        s->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, ip, 16);
        s->sin6_port = htons(port);
        a->len = sizeof(*s);
    }
}

/* Write the IP of <a> into <ip> as 16 bytes, IPv4 mapped (::ffff:a.b.c.d). */
static void
addr_ip6(const pn_addr_t *a, uint8_t ip[16])
{
    if (a->ss.ss_family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
    } else {
        memset(ip, 0, 10);
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    }
}

/* Nonzero when <a> and <b> have the same family, IP and port. */
static int
addr_same(const pn_addr_t *a, const pn_addr_t *b)
{
    uint8_t ia[16], ib[16];
    if (a->ss.ss_family != b->ss.ss_family || pn_addr_port(a) != pn_addr_port(b))
        return 0;
    if (a->ss.ss_family == AF_UNSPEC)
        return 1;
    addr_ip6(a, ia);
    addr_ip6(b, ib);
    return memcmp(ia, ib, 16) == 0;
}

/* Decode the <n> bytes at <p> from an exact-size copy. */
static int
decode_exact(const uint8_t *p, size_t n, int *version, int *udp, pn_addr_t *src,
             pn_addr_t *dst, size_t *used)
{
    uint8_t *buf = fuzz_dup(p, n);
    const char *why = NULL;
    int rc = pn_proxyproto_decode(buf, n, version, udp, src, dst, used, &why);
    FUZZ_ASSERT(rc != PN_ERR || why != NULL);
    free(buf);
    return rc;
}

/* Encode <src> -> <dst> as <version>/<udp> and check it decodes back. Return
 * the header length (0 when the encoder refuses the request). */
static size_t
roundtrip(int version, int udp, const pn_addr_t *src, const pn_addr_t *dst)
{
    uint8_t *out = malloc(PN_PROXY_MAX);
    size_t n = pn_proxyproto_encode(version, udp, src, dst, out, PN_PROXY_MAX);
    FUZZ_ASSERT(n <= PN_PROXY_MAX);
    if (n > 0) {
        int v2 = 0, u2 = 0;
        pn_addr_t s2, d2, es = *src, ed = *dst;
        size_t used = 0;
        FUZZ_ASSERT(decode_exact(out, n, &v2, &u2, &s2, &d2, &used) == PN_OK);
        FUZZ_ASSERT(used == n && v2 == version && u2 == udp);
        if (src->ss.ss_family != dst->ss.ss_family) {
            /* Mixed families travel as IPv6, the IPv4 side mapped. */
            uint8_t ip[16];
            addr_ip6(src, ip);
            addr_build(&es, AF_INET6, ip, pn_addr_port(src));
            addr_ip6(dst, ip);
            addr_build(&ed, AF_INET6, ip, pn_addr_port(dst));
        }
        FUZZ_ASSERT(addr_same(&s2, &es) && addr_same(&d2, &ed));
    }
    free(out);
    return n;
}

static void
fuzz_decode(const uint8_t *data, size_t size)
{
    int version = 0, udp = 0, v, u;
    pn_addr_t src, dst, s, d;
    size_t used = 0, x;

    if (decode_exact(data, size, &version, &udp, &src, &dst, &used) != PN_OK)
        return;
    FUZZ_ASSERT(used >= 1 && used <= size);
    FUZZ_ASSERT(version == 1 || version == 2);
    FUZZ_ASSERT(src.ss.ss_family == dst.ss.ss_family);
    FUZZ_ASSERT(version == 2 || udp == 0);

    /* Strict prefixes of an accepted header are incomplete, not malformed: all
     * of them for a short header, about 64 spread over a long v2 one. */
    size_t step = used <= 128 ? 1 : used / 64;
    for (size_t k = 0; k < used; k += step)
        FUZZ_ASSERT(decode_exact(data, k, &v, &u, &s, &d, &x) == PN_AGAIN);
    FUZZ_ASSERT(decode_exact(data, used - 1, &v, &u, &s, &d, &x) == PN_AGAIN);

    if (src.ss.ss_family == AF_INET || src.ss.ss_family == AF_INET6)
        FUZZ_ASSERT(roundtrip(version, udp, &src, &dst) > 0);
}

/* The encoder's arguments, read from the start of the input (zero-padded). */
struct enc_args {
    uint8_t sel;                /* bits 0-1 version 0..3, bit 2 udp, bit 3/4 src/dst is IPv6 */
    uint8_t cap;                /* output buffer size, taken modulo PN_PROXY_MAX + 9 */
    uint8_t sip[16], dip[16];
    uint8_t sport[2], dport[2];
};

static void
fuzz_encode(const uint8_t *data, size_t size)
{
    struct enc_args a;
    pn_addr_t src, dst;

    memset(&a, 0, sizeof(a));
    memcpy(&a, data, size < sizeof(a) ? size : sizeof(a));
    int version = a.sel & 3, udp = (a.sel >> 2) & 1;
    addr_build(&src, a.sel & 0x08 ? AF_INET6 : AF_INET, a.sip,
               (uint16_t)(a.sport[0] << 8 | a.sport[1]));
    addr_build(&dst, a.sel & 0x10 ? AF_INET6 : AF_INET, a.dip,
               (uint16_t)(a.dport[0] << 8 | a.dport[1]));

    /* The full header, checked by a round trip; v1 cannot carry UDP. */
    size_t full = roundtrip(version, udp, &src, &dst);
    FUZZ_ASSERT((full > 0) == ((version == 1 && !udp) || version == 2));

    /* The same header into exactly <cap> bytes: the whole header when it fits
     * (no terminator or slack needed), else 0. */
    size_t cap = a.cap % (PN_PROXY_MAX + 9);
    uint8_t *out = malloc(cap);
    size_t n = pn_proxyproto_encode(version, udp, &src, &dst, out, cap);
    FUZZ_ASSERT(n <= cap);
    FUZZ_ASSERT(n == (cap >= full ? full : 0));
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(data, size);
    fuzz_encode(data, size);
    return 0;
}
