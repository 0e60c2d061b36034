/* tls/ss.c: the Shadowsocks AEAD codec of tls/ss.h (keys, subkeys, chunks),
 * over OpenSSL EVP. No I/O: the transport is tls/xprt_ss.c. */
#include "tls/ss.h"
#include "core/mem.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <stdlib.h>
#include <string.h>

#define NONCE_LEN 12

struct pn_ss_aead {
    pn_ss_method_t m;
    int seal;                       /* sealing, else opening */
    EVP_CIPHER_CTX *ctx;            /* owned */
    EVP_KDF_CTX *kdf;               /* owned: HKDF-SHA1 */
    uint8_t nonce[NONCE_LEN];       /* little-endian counter */
    size_t plen;                    /* opener: the payload length opened, 0 before */
    int init_iv;                    /* set each nonce with EVP_CipherInit_ex (start()) */
};

static const struct {
    const char *name;
    size_t key_len;                 /* also the salt's and the subkey's */
} METHODS[PN_SS_METHODS] = {
    [PN_SS_CHACHA20_POLY1305] = { "chacha20-ietf-poly1305", 32 },
    [PN_SS_AES_256_GCM] = { "aes-256-gcm", 32 },
    [PN_SS_AES_128_GCM] = { "aes-128-gcm", 16 },
};

int
pn_ss_method_parse(const char *name, pn_ss_method_t *m)
{
    for (int i = 0; i < PN_SS_METHODS; i++)
        if (strcmp(name, METHODS[i].name) == 0) {
            *m = (pn_ss_method_t)i;
            return PN_OK;
        }
    return PN_ERR;
}

const char *
pn_ss_method_name(pn_ss_method_t m)
{
    return METHODS[m].name;
}

size_t
pn_ss_key_len(pn_ss_method_t m)
{
    return METHODS[m].key_len;
}

size_t
pn_ss_salt_len(pn_ss_method_t m)
{
    return METHODS[m].key_len;
}

size_t
pn_ss_udp_overhead(pn_ss_method_t m)
{
    return pn_ss_salt_len(m) + PN_SS_TAG_LEN;
}

static const EVP_CIPHER *
method_cipher(pn_ss_method_t m)
{
    switch (m) {
    case PN_SS_AES_256_GCM:
        return EVP_aes_256_gcm();
    case PN_SS_AES_128_GCM:
        return EVP_aes_128_gcm();
    default:
        return EVP_chacha20_poly1305();
    }
}

/* D_1 = MD5(password), D_i = MD5(D_{i-1} | password); the key is D_1 | D_2. */
void
pn_ss_password_key(const char *password, uint8_t key[PN_SS_KEY_LEN])
{
    size_t n = strlen(password);
    uint8_t *in = xmalloc(16 + n + 1);
    unsigned len = 0;
    memcpy(in, password, n);
    if (EVP_Digest(in, n, key, &len, EVP_md5(), NULL) != 1)
        abort();
    memcpy(in, key, 16);
    memcpy(in + 16, password, n);
    if (EVP_Digest(in, 16 + n, key + 16, &len, EVP_md5(), NULL) != 1)
        abort();
    OPENSSL_cleanse(in, 16 + n);
    free(in);
}

pn_ss_aead_t *
pn_ss_aead_new(pn_ss_method_t m, int seal)
{
    pn_ss_aead_t *a = xcalloc(sizeof(*a));
    a->m = m;
    a->seal = seal;
    a->ctx = EVP_CIPHER_CTX_new();
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    a->kdf = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (a->ctx == NULL || a->kdf == NULL)
        abort();                    /* out of memory, or an OpenSSL without HKDF */
    return a;
}

int
pn_ss_aead_init(pn_ss_aead_t *a, const uint8_t key[PN_SS_KEY_LEN], const uint8_t *salt)
{
    uint8_t sub[PN_SS_KEY_LEN];
    size_t kl = pn_ss_key_len(a->m);
    static char info[] = "ss-subkey", md[] = "SHA1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, kl),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, pn_ss_salt_len(a->m)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info) - 1),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(a->kdf, sub, kl, params) == 1 &&
             EVP_CipherInit_ex(a->ctx, method_cipher(a->m), NULL, sub, NULL, a->seal) == 1;
    OPENSSL_cleanse(sub, sizeof(sub));
    memset(a->nonce, 0, sizeof(a->nonce));
    a->plen = 0;
    if (!ok) {
        ERR_clear_error();
        return PN_ERR;
    }
    return PN_OK;
}

void
pn_ss_aead_free_(pn_ss_aead_t *a)
{
    if (a == NULL)
        return;
    EVP_CIPHER_CTX_free(a->ctx);
    EVP_KDF_CTX_free(a->kdf);
    OPENSSL_cleanse(a, sizeof(*a));
    free(a);
}

static void
nonce_inc(uint8_t *n)
{
    for (int i = 0; i < NONCE_LEN; i++)
        if (++n[i] != 0)
            break;
}

/* EVP_CipherUpdate of <n> bytes <in> into <out> (the same buffer or apart),
 * the count in *<l>: 1 or 0. ChaCha20 goes in two calls, the whole KiBs then
 * the rest: OpenSSL 3.0's ChaCha20 code takes a tail of up to 511 bytes a
 * byte at a time, so one call over 16383 bytes (a full chunk) costs about 25 %
 * more than two (0.31 against 0.24 s/GiB measured here). */
static int
update(pn_ss_aead_t *a, uint8_t *out, const uint8_t *in, size_t n, int *l)
{
    size_t h = a->m == PN_SS_CHACHA20_POLY1305 ? n & ~(size_t)1023 : n;
    int l2 = 0;
    if (h == 0)
        h = n;
    if (EVP_CipherUpdate(a->ctx, out, l, in, (int)h) != 1)
        return 0;
    if (h < n && EVP_CipherUpdate(a->ctx, out + h, &l2, in + h, (int)(n - h)) != 1)
        return 0;
    *l += l2;
    return 1;
}

/* Start an operation under the next nonce; for an opener, <tag> is the tag to
 * check (at its Final). AES-GCM in one EVP_CIPHER_CTX_set_params: the whole IV
 * (the parameter of EVP_CTRL_GCM_SET_IV_FIXED, whose length -1 means the whole
 * IV) and the tag. EVP_CipherInit_ex with an IV costs about twice as much in
 * OpenSSL 3.0 (it asks the context its IV length through the get-parameters
 * path, a dozen strcmp), then the tag's EVP_CIPHER_CTX_ctrl as much again.
 * ChaCha20-Poly1305 has no whole-IV parameter; and should an OpenSSL refuse
 * it, the context falls back to EVP_CipherInit_ex for good. */
static int
start(pn_ss_aead_t *a, const uint8_t *tag)
{
    if (a->m != PN_SS_CHACHA20_POLY1305 && !a->init_iv) {
        OSSL_PARAM p[] = {
            OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, a->nonce, (size_t)-1),
            OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)tag, PN_SS_TAG_LEN),
            OSSL_PARAM_construct_end(),
        };
        if (tag == NULL)
            p[1] = p[2];
        if (EVP_CIPHER_CTX_set_params(a->ctx, p) == 1)
            return 1;
        ERR_clear_error();
        a->init_iv = 1;
    }
    return EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, a->nonce, a->seal) == 1 &&
           (tag == NULL ||
            EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, PN_SS_TAG_LEN, (void *)tag) == 1);
}

/* The tag of the operation just finished into <tag>: 1 or 0. */
static int
get_tag(pn_ss_aead_t *a, uint8_t *tag)
{
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, PN_SS_TAG_LEN),
        OSSL_PARAM_construct_end(),
    };
    return EVP_CIPHER_CTX_get_params(a->ctx, p);
}

/* Seal <n> bytes <in> into <out>, the tag after them. */
static void
seal1(pn_ss_aead_t *a, const uint8_t *in, size_t n, uint8_t *out)
{
    int l = 0, f = 0;
    if (start(a, NULL) != 1 ||
        update(a, out, in, n, &l) != 1 ||
        EVP_CipherFinal_ex(a->ctx, out + l, &f) != 1 || get_tag(a, out + n) != 1)
        abort();                    /* sealing with a keyed context cannot fail */
    nonce_inc(a->nonce);
}

/* Open <n> bytes <in> and their tag into <out>: PN_OK or PN_ERR. */
static int
open1(pn_ss_aead_t *a, const uint8_t *in, size_t n, uint8_t *out)
{
    int l = 0, f = 0;
    if (start(a, in + n) != 1 ||
        update(a, out, in, n, &l) != 1 ||
        EVP_CipherFinal_ex(a->ctx, out + l, &f) != 1) {
        ERR_clear_error();
        return PN_ERR;
    }
    nonce_inc(a->nonce);
    return PN_OK;
}

/* The payload of the chunks that carry <n> bytes: as few chunks as
 * PN_SS_PAYLOAD_MAX allows (so PN_SS_SEALED_LEN holds), and for ChaCha20 of
 * whole KiBs when that keeps their number, the last one shorter: 64 KiB go as
 * 4 x 13 KiB + 12 KiB rather than 4 x 0x3FFF + 4 bytes, each sealed in one
 * update at 0.22 s/GiB instead of 0.24 (see update()). */
static size_t
chunk_len(const pn_ss_aead_t *a, size_t n)
{
    if (n <= PN_SS_PAYLOAD_MAX || a->m != PN_SS_CHACHA20_POLY1305)
        return n < PN_SS_PAYLOAD_MAX ? n : PN_SS_PAYLOAD_MAX;
    size_t c = (n + PN_SS_PAYLOAD_MAX - 1) / PN_SS_PAYLOAD_MAX;
    size_t k = ((n + c - 1) / c + 1023) & ~(size_t)1023;
    return k < PN_SS_PAYLOAD_MAX ? k : PN_SS_PAYLOAD_MAX;
}

size_t
pn_ss_seal(pn_ss_aead_t *a, const uint8_t *in, size_t n, uint8_t *out)
{
    size_t w = 0, each = chunk_len(a, n);
    while (n > 0) {
        size_t k = n < each ? n : each;
        uint8_t len[2] = { (uint8_t)(k >> 8), (uint8_t)k };
        seal1(a, len, 2, out + w);
        seal1(a, in, k, out + w + PN_SS_LEN_BLOCK);
        w += PN_SS_LEN_BLOCK + k + PN_SS_TAG_LEN;
        in += k;
        n -= k;
    }
    return w;
}

size_t
pn_ss_seal_fit(size_t room)
{
    const size_t over = PN_SS_LEN_BLOCK + PN_SS_TAG_LEN, full = PN_SS_PAYLOAD_MAX + over;
    size_t c = (room + full - 1) / full;       /* chunks when the last one is partial */
    if (room <= over)
        return 0;
    size_t p = room - c * over;
    /* When the c-th chunk's share went to overheads, c - 1 full chunks hold more. */
    return p > (c - 1) * PN_SS_PAYLOAD_MAX ? p : (c - 1) * PN_SS_PAYLOAD_MAX;
}

/* Open the length block <in>: PN_OK with a->plen set, or PN_ERR. */
static int
open_len(pn_ss_aead_t *a, const uint8_t *in)
{
    uint8_t len[2];
    if (open1(a, in, 2, len) != PN_OK)
        return PN_ERR;
    size_t k = (size_t)len[0] << 8 | len[1];
    if (k == 0 || k > PN_SS_PAYLOAD_MAX)
        return PN_ERR;
    a->plen = k;
    return PN_OK;
}

ssize_t
pn_ss_open(pn_ss_aead_t *a, const uint8_t *in, size_t n, size_t *used, uint8_t *out)
{
    *used = 0;
    if (a->plen == 0) {
        if (n < PN_SS_LEN_BLOCK)
            return PN_AGAIN;
        if (open_len(a, in) != PN_OK)
            return PN_ERR;
        *used = PN_SS_LEN_BLOCK;
        in += PN_SS_LEN_BLOCK;
        n -= PN_SS_LEN_BLOCK;
    }
    size_t k = a->plen;
    if (n < k + PN_SS_TAG_LEN)
        return PN_AGAIN;
    if (open1(a, in, k, out) != PN_OK)
        return PN_ERR;
    a->plen = 0;
    *used += k + PN_SS_TAG_LEN;
    return (ssize_t)k;
}

size_t
pn_ss_open_need(const pn_ss_aead_t *a)
{
    return a->plen == 0 ? PN_SS_LEN_BLOCK : a->plen + PN_SS_TAG_LEN;
}

long
pn_ss_identify(pn_ss_aead_t *a, const uint8_t *salt, const uint8_t lenblk[PN_SS_LEN_BLOCK], const uint8_t (*keys)[PN_SS_KEY_LEN],
               size_t nkeys)
{
    for (size_t i = 0; i < nkeys; i++)
        if (pn_ss_aead_init(a, keys[i], salt) == PN_OK && open_len(a, lenblk) == PN_OK)
            return (long)i;
    return -1;
}

long
pn_ss_udp_open(pn_ss_aead_t *a, const uint8_t *pkt, size_t n, const uint8_t (*keys)[PN_SS_KEY_LEN],
               size_t nkeys, uint8_t *out, size_t *len)
{
    size_t sl = pn_ss_salt_len(a->m);
    *len = 0;
    if (n < sl + PN_SS_TAG_LEN || n > PN_SS_UDP_DGRAM_MAX)
        return -1;
    size_t body = n - sl - PN_SS_TAG_LEN;
    for (size_t i = 0; i < nkeys; i++) {
        /* Each try: a subkey, then the whole body's tag (checked in constant time). */
        if (pn_ss_aead_init(a, keys[i], pkt) == PN_OK && open1(a, pkt + sl, body, out) == PN_OK) {
            *len = body;
            return (long)i;
        }
    }
    return -1;
}

size_t
pn_ss_udp_seal(pn_ss_aead_t *a, const uint8_t key[PN_SS_KEY_LEN], const uint8_t *in, size_t n,
               uint8_t *out)
{
    size_t sl = pn_ss_salt_len(a->m);
    if (n > PN_SS_UDP_DGRAM_MAX - sl - PN_SS_TAG_LEN || RAND_bytes(out, (int)sl) != 1 ||
        pn_ss_aead_init(a, key, out) != PN_OK)
        return 0;
    seal1(a, in, n, out + sl);
    return n + sl + PN_SS_TAG_LEN;
}
