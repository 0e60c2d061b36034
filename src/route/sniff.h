/* route/sniff.h: which protocol a connection speaks, from its first bytes
 * (pure). Judged on whatever arrived first, however short (a single byte, a
 * 3-byte SOCKS5 greeting): the caller never waits for more, so a protocol
 * whose client speaks little, or a server-speaks-first protocol, never stalls. */
#ifndef PN_ROUTE_SNIFF_H
#define PN_ROUTE_SNIFF_H

#include <stddef.h>
#include <stdint.h>

enum pn_sniff {
    PN_SNIFF_OTHER = 0,         /* none of the below */
    PN_SNIFF_SOCKS = 1,         /* SOCKS4, SOCKS4a or SOCKS5 (block=1) */
    PN_SNIFF_HTTP = 2,          /* an HTTP/1.x request line or the HTTP/2 preface (block=2) */
    PN_SNIFF_TLS = 3,           /* a TLS handshake record (block=3) */
};

/** Classify the first <n> bytes (n >= 1) a client sent at <p>. */
enum pn_sniff pn_sniff(const uint8_t *p, size_t n);
/** Parse "block=<digits>" (each of 1, 2, 3, at most once) into a bit mask of
 *  1 << PN_SNIFF_*; 0 or -1 when malformed. */
int pn_sniff_parse_block(const char *s, unsigned *mask);

#endif
