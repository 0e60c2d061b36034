/* tests/fuzz/fuzz_socks.c: the SOCKS5 messages of route/socks.h, each parsed
 * from the input (greeting, RFC 1929 auth, request, UDP header).
 *
 * Invariants besides memory safety: a parser consumes at most what it was
 * given and at most SOCKS_MSG_MAX bytes; a prefix of an accepted message is
 * PN_AGAIN or PN_ERR, never accepted with another length; names are
 * printable and NUL-terminated; an address written back parses to itself
 * (an IPv4-mapped one as IPv4). */
#include "fuzz.h"
#include "route/socks.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char user[256], pass[256];
    int up, cmd;
    socks_dest_t d, d2;
    int k = socks_parse_greeting(data, size, &up);
    FUZZ_ASSERT(k == PN_AGAIN || k == PN_ERR || (k > 0 && (size_t)k <= size && k <= 257));
    k = socks_parse_auth(data, size, user, pass);
    FUZZ_ASSERT(k == PN_AGAIN || k == PN_ERR || (k > 0 && (size_t)k <= size && k <= SOCKS_MSG_MAX));
    if (k > 0) {
        FUZZ_ASSERT(strlen(user) >= 1 && strlen(pass) >= 1);
        for (size_t i = 1; i < (size_t)k; i++)
            FUZZ_ASSERT(socks_parse_auth(data, i, user, pass) != (int)i);
    }
    k = socks_parse_request(data, size, &cmd, &d);
    FUZZ_ASSERT(k == PN_AGAIN || k == PN_ERR || (k > 0 && (size_t)k <= size && k <= 3 + SOCKS_ADDR_MAX));
    if (k > 0) {
        FUZZ_ASSERT(strlen(d.host) < sizeof(d.host));
        if (d.atyp == SOCKS_ATYP_NAME) {
            for (const char *p = d.host; *p; p++)
                FUZZ_ASSERT(*p > 0x20 && *p < 0x7f);
        } else {
            uint8_t out[32];
            size_t n = socks_write_addr(out, &d.addr);
            FUZZ_ASSERT(socks_parse_addr(out, n, &d2) == (int)n);
            /* An IPv4-mapped IPv6 address is written back as IPv4. */
            FUZZ_ASSERT(d2.port == d.port);
            FUZZ_ASSERT(d.atyp != SOCKS_ATYP_V4 || strcmp(d2.host, d.host) == 0);
        }
    }
    k = socks_parse_udp(data, size, &d);
    FUZZ_ASSERT(k == PN_ERR || (k > 0 && (size_t)k <= size));
    return 0;
}
