/* tests/fuzz/fuzz_ss.c: Shadowsocks AEAD (tls/ss.h) and its target header
 * (route/socks.h's socks_parse_addr), as the proxy entrance meets them.
 *
 * The input's first byte picks the method (its value modulo the three) and a
 * split size (the rest of it); the rest of the input is used
 * twice: as ciphertext a client might send (opened with a fixed key: whatever
 * it holds, the opener consumes only what it was given, never returns a
 * payload over 0x3FFF bytes, and fails or waits), and as plaintext sealed and
 * opened back in pieces of the split size (the same bytes come out, the first
 * payload's address parses within it, and a flipped byte is refused).
 * The UDP relay's datagrams too: the input as a datagram a client sent
 * (pn_ss_udp_open with two keys: no key opens random bytes; whatever opens
 * stays within the datagram, its address parses within it), and as a payload
 * sealed with pn_ss_udp_seal (opened back whole by the second key, never the
 * first; one flipped byte opens with neither). */
#include "fuzz.h"
#include "route/socks.h"
#include "tls/ss.h"

static void
check_udp(pn_ss_method_t m, const uint8_t *data, size_t size)
{
    static uint8_t keys[2][PN_SS_KEY_LEN], out[65536], pkt[65536 + PN_SS_UDP_OVERHEAD];
    const uint8_t (*k)[PN_SS_KEY_LEN] = (const uint8_t (*)[PN_SS_KEY_LEN])keys;
    pn_ss_password_key("fuzz-a", keys[0]);
    pn_ss_password_key("fuzz-b", keys[1]);
    pn_ss_aead_t *o = pn_ss_aead_new(m, 0), *s = pn_ss_aead_new(m, 1);
    size_t len = 1;
    if (size <= sizeof(pkt)) {
        long i = pn_ss_udp_open(o, data, size, k, 2, out, &len);
        FUZZ_ASSERT(i == -1 ? len == 0 : (i < 2 && len + pn_ss_udp_overhead(m) == size));
        if (i >= 0) {
            socks_dest_t d;
            int a = socks_parse_addr(out, len, &d);
            FUZZ_ASSERT(a == PN_AGAIN || a == PN_ERR || (a > 0 && (size_t)a <= len));
        }
    }
    if (size <= PN_SS_UDP_DGRAM_MAX - pn_ss_udp_overhead(m)) {
        size_t w = pn_ss_udp_seal(s, keys[1], data, size, pkt);
        FUZZ_ASSERT(w == size + pn_ss_udp_overhead(m));
        FUZZ_ASSERT(pn_ss_udp_open(o, pkt, w, k, 1, out, &len) == -1);
        FUZZ_ASSERT(pn_ss_udp_open(o, pkt, w, k, 2, out, &len) == 1 && len == size);
        FUZZ_ASSERT(size == 0 || memcmp(out, data, size) == 0);
        pkt[(size * 31 + 7) % w] ^= 0x40;
        FUZZ_ASSERT(pn_ss_udp_open(o, pkt, w, k, 2, out, &len) == -1);
    }
    pn_ss_aead_free(o);
    pn_ss_aead_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t key[PN_SS_KEY_LEN], salt[PN_SS_SALT_LEN], out[PN_SS_PAYLOAD_MAX];
    if (size < 1 || size > 200000)
        return 0;
    pn_ss_method_t m = (pn_ss_method_t)(data[0] % PN_SS_METHODS);
    size_t step = 1 + (size_t)(data[0] / PN_SS_METHODS) * 97;
    data++;
    size--;
    check_udp(m, data, size);
    pn_ss_password_key("fuzz", key);
    memset(salt, 0x5a, sizeof(salt));

    /* As ciphertext. */
    pn_ss_aead_t *o = pn_ss_aead_new(m, 0);
    FUZZ_ASSERT(pn_ss_aead_init(o, key, salt) == PN_OK);
    size_t off = 0, used;
    for (;;) {
        ssize_t k = pn_ss_open(o, data + off, size - off, &used, out);
        FUZZ_ASSERT(used <= size - off);
        off += used;
        if (k <= 0) {
            FUZZ_ASSERT(k == PN_AGAIN || k == PN_ERR);
            break;
        }
        FUZZ_ASSERT(k <= PN_SS_PAYLOAD_MAX);
    }
    const uint8_t (*keys)[PN_SS_KEY_LEN] = (const uint8_t (*)[PN_SS_KEY_LEN])key;
    if (size >= PN_SS_LEN_BLOCK)
        FUZZ_ASSERT(pn_ss_identify(o, salt, data, keys, 1) <= 0);

    /* As plaintext: seal, open back in pieces, parse the target header. */
    if (size > 0) {
        pn_ss_aead_t *s = pn_ss_aead_new(m, 1);
        FUZZ_ASSERT(pn_ss_aead_init(s, key, salt) == PN_OK);
        uint8_t *sealed = malloc(PN_SS_SEALED_LEN(size)), *back = malloc(size);
        size_t w = pn_ss_seal(s, data, size, sealed), got = 0, have = 0;
        FUZZ_ASSERT(w == PN_SS_SEALED_LEN(size));
        FUZZ_ASSERT(pn_ss_identify(o, salt, sealed, keys, 1) == 0);
        FUZZ_ASSERT(pn_ss_aead_init(o, key, salt) == PN_OK);
        off = 0;
        while (got < size) {
            have = have + step < w ? have + step : w;
            ssize_t k;
            while ((k = pn_ss_open(o, sealed + off, have - off, &used, back + got)) > 0) {
                if (got == 0) {
                    socks_dest_t d;
                    int a = socks_parse_addr(back, (size_t)k, &d);
                    FUZZ_ASSERT(a == PN_AGAIN || a == PN_ERR || (a > 0 && a <= k));
                }
                off += used;
                got += (size_t)k;
            }
            off += used;
            FUZZ_ASSERT(k == PN_AGAIN);
            FUZZ_ASSERT(have < w || got == size);
        }
        FUZZ_ASSERT(off == w && memcmp(back, data, size) == 0);
        sealed[(size * 31 + data[0]) % w] ^= 0x80;
        FUZZ_ASSERT(pn_ss_aead_init(o, key, salt) == PN_OK);
        off = 0;
        ssize_t k;
        while ((k = pn_ss_open(o, sealed + off, w - off, &used, back)) > 0)
            off += used;
        FUZZ_ASSERT(k == PN_ERR);
        free(sealed);
        free(back);
        pn_ss_aead_free(s);
    }
    pn_ss_aead_free(o);
    return 0;
}
