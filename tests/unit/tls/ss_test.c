/* tests/unit/tls/ss_test.c: Shadowsocks AEAD (tls/ss.h): known answers
 * computed with Python's `cryptography` (hashlib MD5, HKDF-SHA1, AESGCM,
 * ChaCha20Poly1305; not OpenSSL's EVP path used here), round trips, refusals,
 * user identification, and the transport over a socketpair. */
#include "tls/ss.h"
#include "net/sock.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

static size_t
unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* key = EVP_BytesToKey(MD5, "test-password") (its first 16 bytes for
 * aes-128-gcm); salt = 00 01 ... 1f (00 ... 0f for aes-128-gcm);
 * two chunks: the address of example.org:80 and a request, then "second". */
static const char KEY[] = "dfb450efddbb5387197c84460623675b69f2cebcd8ef520a3dfddef7c3d540b2";
static const uint8_t PAYLOAD[] = "\x03\x0b" "example.org\x00\x50GET / HTTP/1.0\r\n\r\n";
static const struct kat {
    pn_ss_method_t m;
    const char *stream;         /* the two chunks */
    const char *len_big;        /* a length block of 0x4000 at nonce 0 */
    const char *len_zero;       /* a length block of 0 at nonce 0 */
} KATS[] = {
    { PN_SS_CHACHA20_POLY1305,
      "7a3ed00431d8281da6bbc4cf8d5b4a60b269f4d230873748dd3c17a7e2a8a0429dcd5129136d6ba7f866"
      "2553fa683a9b44df6bca8c0150151403e3c4f8d0b99046e609722f65772c3cdb80a4a64283be55e515dc"
      "6d2d4449f490b482cb2bd1b2d4263c8c25ed4b3345ea91",
      "3a1fcc5404fbc89f0d369084989d641508c9", "7a1f71607744b5f23dbcbfc8fcee7a55af84" },
    { PN_SS_AES_256_GCM,
      "e0f12bfb6ff91c7c7d7a9900b47877de8310ab1c2f94cb201cb1e8ee179fab58686dc91994ce5f5f1366"
      "33e581c67dd30c86ac78bc2640626bd3f389ac3ebbcf7705897c5fa717c003bf254801886d927d54f887"
      "653c23d4dd855baaafa5f7f822ce6d5e60f9c6c56357b3",
      "a0d0af1fe9b1d82dc6a06541ccd530c42f05", "e0d0e98e75710f14bd22b6626924188e072c" },
    { PN_SS_AES_128_GCM,
      "e8e1b84e609ebe883985a8769f7bbe3cb942edd8a78e85106507fc6a8d596911da4da2c9542e513977c1"
      "ef62394bc01c787fb04ecc0f10569ce34112c762ba31be118c7cb98178b0a86177c8730a956193242582"
      "f120bca937a23506b5453d05564ca642aa801085e55c18",
      "a8c05c06179385b820e0d7f3054a90ec92b6", "e8c0e56594d112c9dcbc77544e4316d9bb02" },
};

static void
salt_of(uint8_t salt[PN_SS_SALT_LEN])
{
    for (int i = 0; i < PN_SS_SALT_LEN; i++)
        salt[i] = (uint8_t)i;
}

static void
test_methods_and_key(void **st)
{
    pn_ss_method_t m;
    uint8_t key[PN_SS_KEY_LEN], want[PN_SS_KEY_LEN];
    assert_int_equal(pn_ss_method_parse("aes-256-gcm", &m), PN_OK);
    assert_int_equal(m, PN_SS_AES_256_GCM);
    assert_string_equal(pn_ss_method_name(m), "aes-256-gcm");
    assert_int_equal(pn_ss_key_len(m), 32);
    assert_int_equal(pn_ss_salt_len(m), 32);
    assert_int_equal(pn_ss_method_parse("chacha20-ietf-poly1305", &m), PN_OK);
    assert_int_equal(m, PN_SS_CHACHA20_POLY1305);
    assert_string_equal(pn_ss_method_name(m), "chacha20-ietf-poly1305");
    assert_int_equal(pn_ss_key_len(m), 32);
    assert_int_equal(pn_ss_salt_len(m), 32);
    assert_int_equal(pn_ss_method_parse("aes-128-gcm", &m), PN_OK);
    assert_int_equal(m, PN_SS_AES_128_GCM);
    assert_string_equal(pn_ss_method_name(m), "aes-128-gcm");
    assert_int_equal(pn_ss_key_len(m), 16);
    assert_int_equal(pn_ss_salt_len(m), 16);
    assert_int_equal(pn_ss_udp_overhead(m), 32);
    assert_int_equal(pn_ss_method_parse("aes-192-gcm", &m), PN_ERR);
    assert_int_equal(pn_ss_method_parse("rc4-md5", &m), PN_ERR);
    pn_ss_password_key("test-password", key);
    unhex(KEY, want);
    assert_memory_equal(key, want, sizeof(key));
}

static void
test_seal_known_answer(void **st)
{
    uint8_t key[PN_SS_KEY_LEN], salt[PN_SS_SALT_LEN], want[256], out[256];
    unhex(KEY, key);
    salt_of(salt);
    for (size_t i = 0; i < sizeof(KATS) / sizeof(KATS[0]); i++) {
        pn_ss_aead_t *a = pn_ss_aead_new(KATS[i].m, 1);
        assert_int_equal(pn_ss_aead_init(a, key, salt), PN_OK);
        size_t n = unhex(KATS[i].stream, want);
        size_t w = pn_ss_seal(a, PAYLOAD, sizeof(PAYLOAD) - 1, out);
        w += pn_ss_seal(a, (const uint8_t *)"second", 6, out + w);
        assert_int_equal(w, n);
        assert_int_equal(PN_SS_SEALED_LEN(sizeof(PAYLOAD) - 1) + PN_SS_SEALED_LEN(6), n);
        assert_memory_equal(out, want, n);
        pn_ss_aead_free(a);
        assert_null(a);
    }
}

/* Open the <w> sealed bytes <sealed> chunk by chunk into <back>: the count. */
static size_t
open_all(pn_ss_aead_t *o, const uint8_t *sealed, size_t w, uint8_t *back)
{
    size_t off = 0, got = 0, used;
    while (off < w) {
        ssize_t k = pn_ss_open(o, sealed + off, w - off, &used, back + got);
        assert_true(k > 0 && k <= PN_SS_PAYLOAD_MAX);
        off += used;
        got += (size_t)k;
    }
    return got;
}

/* Chunks long enough for ChaCha20's update in two calls (tls/ss.c: the whole
 * KiBs, then the rest): a full chunk (15360 + 1023 bytes) and one of 1500
 * (1024 + 476), sealed by two calls against the SHA-256 of the stream Python's
 * `cryptography` seals (same key and salt as KATS), then opened back. */
static void
test_seal_long_chunks(void **st)
{
    enum { N = PN_SS_PAYLOAD_MAX + 1500 };
    static uint8_t in[N], sealed[PN_SS_SEALED_LEN(N)], back[N];
    uint8_t key[PN_SS_KEY_LEN], salt[PN_SS_SALT_LEN], md[32], want[32];
    unsigned mdlen = 0;
    unhex(KEY, key);
    salt_of(salt);
    for (size_t i = 0; i < N; i++)
        in[i] = (uint8_t)(i * 7 + 3);
    pn_ss_aead_t *e = pn_ss_aead_new(PN_SS_CHACHA20_POLY1305, 1);
    pn_ss_aead_t *d = pn_ss_aead_new(PN_SS_CHACHA20_POLY1305, 0);
    assert_int_equal(pn_ss_aead_init(e, key, salt), PN_OK);
    assert_int_equal(pn_ss_aead_init(d, key, salt), PN_OK);
    size_t w = pn_ss_seal(e, in, PN_SS_PAYLOAD_MAX, sealed);
    w += pn_ss_seal(e, in + PN_SS_PAYLOAD_MAX, 1500, sealed + w);
    assert_int_equal(w, 17951);
    assert_int_equal(EVP_Digest(sealed, w, md, &mdlen, EVP_sha256(), NULL), 1);
    unhex("b4333bb4947b4e28a872ed764869fd772ee683f5f1b84c691cca15dde8ecf0a2", want);
    assert_memory_equal(md, want, sizeof(md));
    assert_int_equal(open_all(d, sealed, w, back), N);
    assert_memory_equal(back, in, N);
    pn_ss_aead_free(e);
    pn_ss_aead_free(d);
}

/* How a long write is cut: as few chunks as 0x3FFF allows; ChaCha20's of
 * whole KiBs (64 KiB: 4 x 13 KiB + 12 KiB), AES-GCM's full (4 x 0x3FFF + 4). */
static void
test_seal_chunking(void **st)
{
    enum { N = 65536 };
    static uint8_t in[N], sealed[PN_SS_SEALED_LEN(N)], back[N];
    static const size_t want[2][5] = { { 13312, 13312, 13312, 13312, 12288 },
                                       { 0x3FFF, 0x3FFF, 0x3FFF, 0x3FFF, 4 } };
    const pn_ss_method_t ms[2] = { PN_SS_CHACHA20_POLY1305, PN_SS_AES_256_GCM };
    uint8_t key[PN_SS_KEY_LEN], salt[PN_SS_SALT_LEN];
    unhex(KEY, key);
    salt_of(salt);
    for (size_t i = 0; i < N; i++)
        in[i] = (uint8_t)(i * 5 + 1);
    for (int m = 0; m < 2; m++) {
        pn_ss_aead_t *e = pn_ss_aead_new(ms[m], 1), *d = pn_ss_aead_new(ms[m], 0);
        assert_int_equal(pn_ss_aead_init(e, key, salt), PN_OK);
        assert_int_equal(pn_ss_aead_init(d, key, salt), PN_OK);
        size_t w = pn_ss_seal(e, in, N, sealed), off = 0, got = 0, used;
        assert_int_equal(w, PN_SS_SEALED_LEN(N));
        for (int c = 0; c < 5; c++) {
            ssize_t k = pn_ss_open(d, sealed + off, w - off, &used, back + got);
            assert_int_equal(k, want[m][c]);
            off += used;
            got += (size_t)k;
        }
        assert_int_equal(off, w);
        assert_memory_equal(back, in, N);
        pn_ss_aead_free(e);
        pn_ss_aead_free(d);
    }
}

/* The known stream opened one byte at a time, as a socket may deliver it. A
 * 16-byte method reads only the first 16 bytes of the key and the salt (the
 * rest is spoiled here). */
static void
test_open_incremental(void **st)
{
    uint8_t key[PN_SS_KEY_LEN], salt[PN_SS_SALT_LEN], in[256], out[PN_SS_PAYLOAD_MAX];
    for (size_t i = 0; i < sizeof(KATS) / sizeof(KATS[0]); i++) {
        size_t kl = pn_ss_key_len(KATS[i].m);
        unhex(KEY, key);
        salt_of(salt);
        memset(key + kl, 0xff, PN_SS_KEY_LEN - kl);
        memset(salt + pn_ss_salt_len(KATS[i].m), 0xff, PN_SS_SALT_LEN - pn_ss_salt_len(KATS[i].m));
        pn_ss_aead_t *a = pn_ss_aead_new(KATS[i].m, 0);
        assert_int_equal(pn_ss_aead_init(a, key, salt), PN_OK);
        size_t n = unhex(KATS[i].stream, in), off = 0, have = 0, used;
        int chunks = 0;
        while (have < n) {
            have++;
            ssize_t k = pn_ss_open(a, in + off, have - off, &used, out);
            off += used;
            if (k == PN_AGAIN)
                continue;
            assert_true(k > 0);
            if (chunks++ == 0) {
                assert_int_equal(k, sizeof(PAYLOAD) - 1);
                assert_memory_equal(out, PAYLOAD, (size_t)k);
            } else {
                assert_int_equal(k, 6);
                assert_memory_equal(out, "second", 6);
            }
        }
        assert_int_equal(chunks, 2);
        assert_int_equal(off, n);
        assert_int_equal(pn_ss_open_need(a), PN_SS_LEN_BLOCK);
        pn_ss_aead_free(a);
    }
}

static void
test_round_trip_large(void **st)
{
    uint8_t key[PN_SS_KEY_LEN], salt[PN_SS_SALT_LEN];
    size_t n = 200000;
    uint8_t *in = malloc(n), *sealed = malloc(PN_SS_SEALED_LEN(n)), *back = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)(i * 7 + 3);
    pn_ss_password_key("another", key);
    memset(salt, 0xa5, sizeof(salt));
    for (int m = 0; m < PN_SS_METHODS; m++) {
        pn_ss_aead_t *s = pn_ss_aead_new((pn_ss_method_t)m, 1), *o = pn_ss_aead_new((pn_ss_method_t)m, 0);
        assert_int_equal(pn_ss_aead_init(s, key, salt), PN_OK);
        assert_int_equal(pn_ss_aead_init(o, key, salt), PN_OK);
        size_t w = pn_ss_seal(s, in, n, sealed);
        assert_int_equal(w, PN_SS_SEALED_LEN(n));
        assert_int_equal(open_all(o, sealed, w, back), n);
        assert_memory_equal(back, in, n);
        pn_ss_aead_free(s);
        pn_ss_aead_free(o);
    }
    free(in);
    free(sealed);
    free(back);
}

/* pn_ss_seal_fit: for every room up to 200000 bytes, the payload it gives
 * seals into that room and one byte more would not (PN_SS_SEALED_LEN is what
 * pn_ss_seal writes, test_round_trip_large); 65347 bytes make a loopback
 * segment (65483). */
static void
test_seal_fit(void **st)
{
    (void)st;
    assert_int_equal(pn_ss_seal_fit(0), 0);
    assert_int_equal(pn_ss_seal_fit(PN_SS_LEN_BLOCK + PN_SS_TAG_LEN), 0);
    assert_int_equal(pn_ss_seal_fit(65483), 65347);
    for (size_t room = PN_SS_LEN_BLOCK + PN_SS_TAG_LEN + 1; room <= 200000; room++) {
        size_t p = pn_ss_seal_fit(room);
        assert_true(p > 0);
        assert_true(PN_SS_SEALED_LEN(p) <= room);
        assert_true(PN_SS_SEALED_LEN(p + 1) > room);
    }
}

static void
test_refusals(void **st)
{
    uint8_t key[PN_SS_KEY_LEN], salt[PN_SS_SALT_LEN], in[256], out[PN_SS_PAYLOAD_MAX];
    size_t used;
    unhex(KEY, key);
    salt_of(salt);
    for (size_t i = 0; i < sizeof(KATS) / sizeof(KATS[0]); i++) {
        size_t n = unhex(KATS[i].stream, in), last = pn_ss_salt_len(KATS[i].m) - 1;
        pn_ss_aead_t *a = pn_ss_aead_new(KATS[i].m, 0);
        /* A flipped bit in the length's tag, in the payload, in the payload's tag. */
        size_t spots[] = { 2, PN_SS_LEN_BLOCK + 1, PN_SS_LEN_BLOCK + sizeof(PAYLOAD) - 1 + 3 };
        for (size_t j = 0; j < 3; j++) {
            assert_int_equal(pn_ss_aead_init(a, key, salt), PN_OK);
            in[spots[j]] ^= 0x10;
            assert_int_equal(pn_ss_open(a, in, n, &used, out), PN_ERR);
            in[spots[j]] ^= 0x10;
        }
        /* The wrong key, the wrong salt (its last byte). */
        uint8_t other[PN_SS_KEY_LEN];
        pn_ss_password_key("test-passwore", other);
        assert_int_equal(pn_ss_aead_init(a, other, salt), PN_OK);
        assert_int_equal(pn_ss_open(a, in, n, &used, out), PN_ERR);
        salt[last] ^= 1;
        assert_int_equal(pn_ss_aead_init(a, key, salt), PN_OK);
        assert_int_equal(pn_ss_open(a, in, n, &used, out), PN_ERR);
        salt[last] ^= 1;
        /* Chunks out of order: the second chunk first fails (the nonce). */
        assert_int_equal(pn_ss_aead_init(a, key, salt), PN_OK);
        size_t first = PN_SS_SEALED_LEN(sizeof(PAYLOAD) - 1);
        assert_int_equal(pn_ss_open(a, in + first, n - first, &used, out), PN_ERR);
        /* Lengths sealed right but over 0x3FFF, or 0. */
        n = unhex(KATS[i].len_big, in);
        assert_int_equal(pn_ss_aead_init(a, key, salt), PN_OK);
        assert_int_equal(pn_ss_open(a, in, n, &used, out), PN_ERR);
        n = unhex(KATS[i].len_zero, in);
        assert_int_equal(pn_ss_aead_init(a, key, salt), PN_OK);
        assert_int_equal(pn_ss_open(a, in, n, &used, out), PN_ERR);
        /* Too short is no answer yet. */
        assert_int_equal(pn_ss_aead_init(a, key, salt), PN_OK);
        assert_int_equal(pn_ss_open(a, in, PN_SS_LEN_BLOCK - 1, &used, out), PN_AGAIN);
        assert_int_equal(used, 0);
        pn_ss_aead_free(a);
    }
}

static void
test_identify(void **st)
{
    uint8_t keys[3][PN_SS_KEY_LEN], salt[PN_SS_SALT_LEN], in[256], out[PN_SS_PAYLOAD_MAX];
    size_t used;
    pn_ss_password_key("alice", keys[0]);
    pn_ss_password_key("bob", keys[1]);
    unhex(KEY, keys[2]);
    salt_of(salt);
    for (size_t i = 0; i < sizeof(KATS) / sizeof(KATS[0]); i++) {
        size_t n = unhex(KATS[i].stream, in);
        pn_ss_aead_t *a = pn_ss_aead_new(KATS[i].m, 0);
        assert_int_equal(pn_ss_identify(a, salt, in, (const uint8_t (*)[PN_SS_KEY_LEN])keys, 3), 2);
        /* Keyed and past the length block: the payload opens. */
        ssize_t k = pn_ss_open(a, in + PN_SS_LEN_BLOCK, n - PN_SS_LEN_BLOCK, &used, out);
        assert_int_equal(k, sizeof(PAYLOAD) - 1);
        assert_memory_equal(out, PAYLOAD, (size_t)k);
        assert_int_equal(pn_ss_identify(a, salt, in, (const uint8_t (*)[PN_SS_KEY_LEN])keys, 2), -1);
        assert_int_equal(pn_ss_identify(a, salt, in, (const uint8_t (*)[PN_SS_KEY_LEN])keys, 0), -1);
        pn_ss_aead_free(a);
    }
}

/* UDP (SIP004's relay): one datagram = salt | seal(payload, nonce 0) tag, the
 * payload the address of 127.0.0.1:53 and "hello", under the key of the
 * password "udp-key" and the salt 00 01 ... 1f, or 00 ... 0f for aes-128-gcm
 * (sealed by Python's cryptography). */
static const uint8_t UDP_BODY[] = "\x01\x7f\x00\x00\x01\x00\x35hello";
static const char *const UDP_KAT[] = {
    [PN_SS_CHACHA20_POLY1305] = "f6407cdc37e15729d291bcfb8a23781e72cd0f2d0b640af8504fa4f4",
    [PN_SS_AES_256_GCM] = "916df1cf1ebafd8aed50dc9f19e777f38196592ee61b4ebd593ae2b8",
    [PN_SS_AES_128_GCM] = "9862fabdd2ea7d9bbc30dc1bbac2618ae35319e1a11a5e9dcef69cfe",
};

static void
test_udp(void **st)
{
    static uint8_t pkt[70000], out[70000], back[70000];
    uint8_t keys[3][PN_SS_KEY_LEN];
    const uint8_t (*k)[PN_SS_KEY_LEN] = (const uint8_t (*)[PN_SS_KEY_LEN])keys;
    size_t len = 99;
    pn_ss_password_key("alice", keys[0]);
    pn_ss_password_key("udp-key", keys[1]);
    pn_ss_password_key("bob", keys[2]);
    for (int m = 0; m < PN_SS_METHODS; m++) {
        pn_ss_aead_t *o = pn_ss_aead_new(m, 0), *s = pn_ss_aead_new(m, 1);
        size_t sl = pn_ss_salt_len(m), ov = pn_ss_udp_overhead(m), max = PN_SS_UDP_DGRAM_MAX - ov;
        assert_true(ov <= PN_SS_UDP_OVERHEAD && max <= PN_SS_UDP_PAYLOAD_MAX);
        salt_of(pkt);
        size_t n = sl + unhex(UDP_KAT[m], pkt + sl);
        assert_int_equal(n, sizeof(UDP_BODY) - 1 + ov);
        /* The second key opens it: its index, the payload. */
        assert_int_equal(pn_ss_udp_open(o, pkt, n, k, 3, out, &len), 1);
        assert_int_equal(len, sizeof(UDP_BODY) - 1);
        assert_memory_equal(out, UDP_BODY, len);
        assert_int_equal(pn_ss_udp_open(o, pkt, n, k, 1, out, &len), -1);     /* not tried */
        assert_int_equal(len, 0);
        /* A flipped byte anywhere (salt, body, tag) opens with no key. */
        for (size_t i = 0; i < n; i += 7) {
            pkt[i] ^= 1;
            assert_int_equal(pn_ss_udp_open(o, pkt, n, k, 3, out, &len), -1);
            pkt[i] ^= 1;
        }
        /* Too short for a salt and a tag; over the datagram bound. */
        assert_int_equal(pn_ss_udp_open(o, pkt, ov - 1, k, 3, out, &len), -1);
        assert_int_equal(pn_ss_udp_open(o, pkt, PN_SS_UDP_DGRAM_MAX + 1, k, 3, out, &len), -1);
        /* Sealing: a fresh salt each time, opened back by its key; the largest payload
         * (a whole IPv4 datagram). */
        memset(back, 0x5a, max);
        size_t w = pn_ss_udp_seal(s, keys[2], back, max, pkt);
        assert_int_equal(w, PN_SS_UDP_DGRAM_MAX);
        assert_int_equal(pn_ss_udp_open(o, pkt, w, k, 3, out, &len), 2);
        assert_int_equal(len, max);
        assert_memory_equal(out, back, len);
        uint8_t salt1[PN_SS_SALT_LEN];
        memcpy(salt1, pkt, sl);
        assert_int_equal(pn_ss_udp_seal(s, keys[2], back, 1, pkt), 1 + ov);
        assert_memory_not_equal(salt1, pkt, sl);
        assert_int_equal(pn_ss_udp_seal(s, keys[2], back, max + 1, pkt), 0);
        pn_ss_aead_free(o);
        pn_ss_aead_free(s);
    }
}

/* Wait until <fd> is ready for <ev> (tests only; bounded). */
static void
wait_fd(int fd, short ev)
{
    struct pollfd p = { .fd = fd, .events = ev };
    assert_true(poll(&p, 1, 5000) == 1);
}

/* The transport over a socketpair: the client's sealed stream (salt, first
 * chunk given as read ahead, then 300 KB) is read back; 300 KB written by the
 * transport open on the client side; end of stream crosses. */
static void
test_transport(void **st)
{
    int sv[2];
    uint8_t key[PN_SS_KEY_LEN], salt[PN_SS_SALT_LEN];
    size_t n = 300000;
    uint8_t *data = malloc(n), *sealed = malloc(PN_SS_SALT_LEN + PN_SS_SEALED_LEN(n) + 64);
    uint8_t *back = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i % 251);
    pn_ss_password_key("pw", key);
    for (int m = 0; m < PN_SS_METHODS; m++) {
        size_t sl = pn_ss_salt_len((pn_ss_method_t)m);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
        salt_of(salt);
        pn_ss_aead_t *cs = pn_ss_aead_new((pn_ss_method_t)m, 1);
        assert_int_equal(pn_ss_aead_init(cs, key, salt), PN_OK);
        size_t w = pn_ss_seal(cs, data, n, sealed);
        /* The server identified the stream from its first length block. */
        pn_ss_aead_t *dec = pn_ss_aead_new((pn_ss_method_t)m, 0);
        assert_int_equal(pn_ss_identify(dec, salt, sealed, (const uint8_t (*)[PN_SS_KEY_LEN])&key, 1), 0);
        pn_xprt_t *x = pn_ss_xprt_new(pn_raw_xprt_new(sv[0]), (pn_ss_method_t)m, key, dec,
                                      sealed + PN_SS_LEN_BLOCK, 1000);
        size_t off = PN_SS_LEN_BLOCK + 1000, got = 0;
        while (got < n) {
            if (off < w) {
                ssize_t k = write(sv[1], sealed + off, w - off < 7777 ? w - off : 7777);
                if (k > 0)
                    off += (size_t)k;
            }
            ssize_t r = x->ops->read(x, back + got, got % 3 ? 100 : 70000);
            if (r == PN_AGAIN) {
                assert_int_equal(x->ops->pending(x), 0);
                continue;
            }
            assert_true(r > 0);
            got += (size_t)r;
        }
        assert_memory_equal(back, data, n);
        /* Our side: its own salt, then chunks. */
        size_t sent = 0, rd = 0;
        pn_ss_aead_t *co = pn_ss_aead_new((pn_ss_method_t)m, 0);
        uint8_t *raw = malloc(PN_SS_SALT_LEN + PN_SS_SEALED_LEN(n));
        size_t rawn = 0, used;
        got = 0;
        while (got < n) {
            if (sent < n) {
                ssize_t k = x->ops->write(x, data + sent, n - sent);
                if (k > 0)
                    sent += (size_t)k;
                else
                    assert_int_equal(k, PN_AGAIN);
            }
            ssize_t k = read(sv[1], raw + rawn, PN_SS_SALT_LEN + PN_SS_SEALED_LEN(n) - rawn);
            if (k > 0)
                rawn += (size_t)k;
            if (rd == 0 && rawn >= sl) {
                assert_int_equal(pn_ss_aead_init(co, key, raw), PN_OK);
                assert_memory_not_equal(raw, salt, sl);
                rd = sl;
            }
            while (rd > 0) {
                ssize_t o = pn_ss_open(co, raw + rd, rawn - rd, &used, back + got);
                rd += used;
                if (o == PN_AGAIN)
                    break;
                assert_true(o > 0);
                got += (size_t)o;
            }
        }
        assert_memory_equal(back, data, n);
        /* End of stream both ways; then a tampered chunk is an error. */
        assert_int_equal(x->ops->shutdown_wr(x), PN_OK);
        assert_int_equal(read(sv[1], raw, 16), 0);
        uint8_t bad[64];
        size_t bn = pn_ss_seal(cs, (const uint8_t *)"x", 1, bad);
        bad[bn - 1] ^= 1;
        assert_int_equal(write(sv[1], bad, bn), (ssize_t)bn);
        wait_fd(sv[0], POLLIN);
        assert_int_equal(x->ops->read(x, back, 100), PN_ERR);
        assert_non_null(x->err);
        assert_int_equal(x->ops->read(x, back, 100), PN_ERR);
        free(raw);
        pn_ss_aead_free(cs);
        pn_ss_aead_free(co);
        pn_xprt_free(x);
        close(sv[1]);
    }
    free(data);
    free(sealed);
    free(back);
}

/* End of stream inside a chunk is an error, between chunks a clean end. */
static void
test_transport_eof(void **st)
{
    uint8_t key[PN_SS_KEY_LEN], salt[PN_SS_SALT_LEN], sealed[128], buf[64];
    pn_ss_password_key("pw", key);
    salt_of(salt);
    for (int cut = 0; cut < 2; cut++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
        pn_ss_aead_t *cs = pn_ss_aead_new(PN_SS_CHACHA20_POLY1305, 1);
        pn_ss_aead_init(cs, key, salt);
        size_t w = pn_ss_seal(cs, (const uint8_t *)"ab", 2, sealed);
        w += pn_ss_seal(cs, (const uint8_t *)"cd", 2, sealed + w);
        pn_ss_aead_t *dec = pn_ss_aead_new(PN_SS_CHACHA20_POLY1305, 0);
        pn_ss_aead_init(dec, key, salt);
        pn_xprt_t *x = pn_ss_xprt_new(pn_raw_xprt_new(sv[0]), PN_SS_CHACHA20_POLY1305, key, dec,
                                      NULL, 0);
        assert_int_equal(write(sv[1], sealed, w - (cut ? 5 : 0)), (ssize_t)(w - (cut ? 5 : 0)));
        shutdown(sv[1], SHUT_WR);
        wait_fd(sv[0], POLLIN);
        assert_int_equal(x->ops->read(x, buf, sizeof(buf)), 2);
        ssize_t r = x->ops->read(x, buf, sizeof(buf));
        if (cut) {
            assert_int_equal(r, PN_ERR);
        } else {
            assert_int_equal(r, 2);
            assert_int_equal(x->ops->read(x, buf, sizeof(buf)), 0);
            assert_int_equal(x->ops->peek(x), 0);
        }
        pn_ss_aead_free(cs);
        pn_xprt_free(x);
        close(sv[1]);
    }
}

/* An AES-256-GCM transport over a socketpair (sv[0] non-blocking, sv[1] the
 * client's end), keyed with "pw" and a salt; <*cs> seals what the client sends. */
static pn_xprt_t *
aes_pair(int sv[2], uint8_t key[PN_SS_KEY_LEN], pn_ss_aead_t **cs)
{
    uint8_t salt[PN_SS_SALT_LEN];
    pn_ss_password_key("pw", key);
    salt_of(salt);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    pn_ss_aead_t *dec = pn_ss_aead_new(PN_SS_AES_256_GCM, 0);
    *cs = pn_ss_aead_new(PN_SS_AES_256_GCM, 1);
    pn_ss_aead_init(*cs, key, salt);
    pn_ss_aead_init(dec, key, salt);
    return pn_ss_xprt_new(pn_raw_xprt_new(sv[0]), PN_SS_AES_256_GCM, key, dec, NULL, 0);
}

/* A read with room for 3 chunks and 9000 bytes is topped up from the 4th
 * chunk; the next one gives the rest of it even though the end of stream came
 * meanwhile (held for the read after), then the end. Over a socketpair no MSS
 * is known: write_max says 0; over TCP what seals into whole segments. */
static void
test_transport_topup(void **st)
{
    uint8_t key[PN_SS_KEY_LEN];
    size_t n = 4 * PN_SS_PAYLOAD_MAX, len = 3 * PN_SS_PAYLOAD_MAX + 9000;
    uint8_t *data = malloc(n), *sealed = malloc(PN_SS_SEALED_LEN(n)), *back = malloc(n);
    int sv[2];
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i % 253);
    pn_ss_aead_t *cs, *dec;
    pn_xprt_t *x = aes_pair(sv, key, &cs);
    size_t w = pn_ss_seal(cs, data, n, sealed);
    assert_int_equal(x->ops->write_max(x), 0);
    assert_int_equal(write(sv[1], sealed, w), (ssize_t)w);
    wait_fd(sv[0], POLLIN);
    assert_int_equal(x->ops->read(x, back, len), (ssize_t)len);
    shutdown(sv[1], SHUT_WR);
    assert_int_equal(x->ops->read(x, back + len, len), (ssize_t)(n - len));
    assert_memory_equal(back, data, n);
    assert_int_equal(x->ops->read(x, back, len), 0);
    pn_ss_aead_free(cs);
    pn_xprt_free(x);
    close(sv[1]);

    /* Over loopback TCP: the plaintext of whole segments, the salt counted. */
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    int fd = accept(l, NULL, NULL);
    assert_true(fd >= 0);
    dec = pn_ss_aead_new(PN_SS_AES_256_GCM, 0);
    x = pn_ss_xprt_new(pn_raw_xprt_new(fd), PN_SS_AES_256_GCM, key, dec, NULL, 0);
    size_t seg = pn_xprt_fd_train(fd);
    assert_true(seg > PN_SS_SALT_LEN);
    assert_int_equal(x->ops->write_max(x), pn_ss_seal_fit(seg - pn_ss_salt_len(PN_SS_AES_256_GCM)));
    pn_xprt_free(x);
    close(c);
    close(l);
    free(data);
    free(sealed);
    free(back);
}

/* x->drained (core/xprt.h): said by a read after which the next one would only
 * get EAGAIN (the socket's recv() returned short and less than the opener's
 * next step is held), never while a whole chunk or opened bytes wait, so that
 * a relay may wait for EV_RD instead of reading again. A raw socket says it
 * when its recv() returned less than asked. */
static void
test_transport_drained(void **st)
{
    static uint8_t buf[PN_SS_PAYLOAD_MAX + 100];    /* room for a whole payload: the relay's reads */
    uint8_t key[PN_SS_KEY_LEN], c1[200], c2[1200], c3[200], c4[200];
    int sv[2];
    pn_ss_aead_t *cs;
    pn_xprt_t *x = aes_pair(sv, key, &cs);
    memset(buf, 'a', sizeof(buf));
    size_t n1 = pn_ss_seal(cs, buf, 100, c1), n2 = pn_ss_seal(cs, buf, 1000, c2);
    size_t n3 = pn_ss_seal(cs, buf, 100, c3), n4 = pn_ss_seal(cs, buf, 100, c4);

    /* A whole chunk and part of the next: the first read empties the socket. */
    assert_int_equal(write(sv[1], c1, n1), (ssize_t)n1);
    assert_int_equal(write(sv[1], c2, 500), 500);
    assert_int_equal(x->ops->read(x, buf, sizeof(buf)), 100);
    assert_true(x->drained);
    assert_int_equal(x->ops->read(x, buf, sizeof(buf)), PN_AGAIN);
    assert_int_equal(x->ops->pending(x), 0);

    /* The rest of it and a whole chunk behind, read one payload at a time: not
     * drained while the whole chunk is held, drained once it is served. */
    assert_int_equal(write(sv[1], c2 + 500, n2 - 500), (ssize_t)(n2 - 500));
    assert_int_equal(write(sv[1], c3, n3), (ssize_t)n3);
    assert_int_equal(x->ops->read(x, buf, 1000), 1000);
    assert_false(x->drained);
    assert_true(x->ops->pending(x) > 0);
    assert_int_equal(x->ops->read(x, buf, sizeof(buf)), 100);
    assert_true(x->drained);
    assert_int_equal(x->ops->read(x, buf, sizeof(buf)), PN_AGAIN);

    /* A caller with less room than the payload: not drained while opened
     * bytes wait, drained after the last of them. */
    assert_int_equal(write(sv[1], c4, n4), (ssize_t)n4);
    assert_int_equal(x->ops->read(x, buf, 10), 10);
    assert_false(x->drained);
    assert_int_equal(x->ops->read(x, buf, sizeof(buf)), 90);
    assert_true(x->drained);
    assert_int_equal(x->ops->read(x, buf, sizeof(buf)), PN_AGAIN);

    /* The raw socket: drained only by a read that got less than it asked. */
    pn_xprt_t *r = pn_raw_xprt_new(sv[1]);
    assert_int_equal(write(sv[0], "0123456789", 10), 10);
    assert_int_equal(r->ops->read(r, buf, 4), 4);
    assert_false(r->drained);
    assert_int_equal(r->ops->read(r, buf, sizeof(buf)), 6);
    assert_true(r->drained);
    assert_true(r->ops->split_ready && x->ops->split_ready);
    pn_ss_aead_free(cs);
    pn_xprt_free(x);
    pn_xprt_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods_and_key),
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_seal_known_answer),
        cmocka_unit_test(test_seal_long_chunks),
        cmocka_unit_test(test_seal_chunking),
        cmocka_unit_test(test_open_incremental),
        cmocka_unit_test(test_round_trip_large),
        cmocka_unit_test(test_seal_fit),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_identify),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_transport_eof),
        cmocka_unit_test(test_transport_topup),
        cmocka_unit_test(test_transport_drained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
