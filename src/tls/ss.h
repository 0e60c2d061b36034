/* tls/ss.h: Shadowsocks AEAD (SIP004) for the proxy entrance (docs/proxy.md):
 * the key from a password, the per-connection subkey, sealing and opening
 * chunks (pure functions over buffers, OpenSSL EVP), and the transport that
 * seals and opens a stream over another transport.
 *
 *   stream = salt (16 or 32) | chunk | chunk | ...
 *   chunk  = seal(length, 2 bytes big-endian) tag (16) | seal(payload) tag (16)
 *
 * The key, the salt and the subkey are as long as the method's key: 16 bytes
 * for aes-128-gcm, 32 for aes-256-gcm and chacha20-ietf-poly1305.
 * The subkey is HKDF-SHA1(key, salt, info "ss-subkey"); the 12-byte nonce is a
 * little-endian counter from 0, incremented after each seal or open (two per
 * chunk). A payload holds 1 to 0x3FFF bytes; the first chunk a client sends
 * begins with the target address (ATYP ADDR PORT, route/socks.h's
 * socks_parse_addr). The key of a password is EVP_BytesToKey(MD5), as
 * shadowsocks-libev derives it from -k <password>; a 16-byte key is the first
 * 16 bytes of the 32-byte one, so one derived key serves every method. */
#ifndef PN_TLS_SS_H
#define PN_TLS_SS_H

#include "core/err.h"
#include "core/xprt.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PN_SS_KEY_LEN 32                /* the longest method's key (pn_ss_key_len) */
#define PN_SS_SALT_LEN 32               /* the longest method's salt (pn_ss_salt_len) */
#define PN_SS_TAG_LEN 16
#define PN_SS_PAYLOAD_MAX 0x3FFF
#define PN_SS_LEN_BLOCK (2 + PN_SS_TAG_LEN)     /* the sealed length */
#define PN_SS_CHUNK_MAX (PN_SS_LEN_BLOCK + PN_SS_PAYLOAD_MAX + PN_SS_TAG_LEN)
/** Bytes pn_ss_seal writes for <n> bytes of payload. */
#define PN_SS_SEALED_LEN(n) \
    ((n) + ((n) + PN_SS_PAYLOAD_MAX - 1) / PN_SS_PAYLOAD_MAX * (PN_SS_LEN_BLOCK + PN_SS_TAG_LEN))

typedef enum pn_ss_method {
    PN_SS_CHACHA20_POLY1305 = 0,        /* chacha20-ietf-poly1305 */
    PN_SS_AES_256_GCM,                  /* aes-256-gcm */
    PN_SS_AES_128_GCM,                  /* aes-128-gcm */
} pn_ss_method_t;
#define PN_SS_METHODS 3                 /* methods, numbered from 0 */

/* One direction of one connection: a cipher context keyed with the subkey,
 * its nonce, and the opener's state between calls. */
typedef struct pn_ss_aead pn_ss_aead_t;

/** The method named <name> into *<m>: PN_OK, or PN_ERR for another name. */
int pn_ss_method_parse(const char *name, pn_ss_method_t *m);
/** The name of <m>. */
const char *pn_ss_method_name(pn_ss_method_t m);
/** The key (and subkey) length of <m>: 16 or 32, at most PN_SS_KEY_LEN. */
size_t pn_ss_key_len(pn_ss_method_t m);
/** The salt length of <m> (its key's): 16 or 32, at most PN_SS_SALT_LEN. */
size_t pn_ss_salt_len(pn_ss_method_t m);
/** The key of <password> (NUL-terminated): EVP_BytesToKey with MD5, no salt,
 *  one round, as shadowsocks-libev's -k. */
void pn_ss_password_key(const char *password, uint8_t key[PN_SS_KEY_LEN]);

/** A context for <m> sealing (<seal> nonzero) or opening; keyless until
 *  pn_ss_aead_init. Never NULL. */
pn_ss_aead_t *pn_ss_aead_new(pn_ss_method_t m, int seal);
/** Key <a> with the subkey of <key> (its first pn_ss_key_len bytes) and
 *  <salt> (pn_ss_salt_len bytes) and restart its nonce and opener. PN_OK, or
 *  PN_ERR when OpenSSL fails. */
int pn_ss_aead_init(pn_ss_aead_t *a, const uint8_t key[PN_SS_KEY_LEN], const uint8_t *salt);
/** Wipe and free <a>. NULL is a no-op. */
void pn_ss_aead_free_(pn_ss_aead_t *a);
#define pn_ss_aead_free(p) do { pn_ss_aead_free_(p); (p) = NULL; } while (0)

/** Seal the <n> > 0 bytes <in> as chunks of at most PN_SS_PAYLOAD_MAX into
 *  <out> (PN_SS_SEALED_LEN(n) bytes); the count written. */
size_t pn_ss_seal(pn_ss_aead_t *a, const uint8_t *in, size_t n, uint8_t *out);
/** The most payload pn_ss_seal turns into at most <room> bytes (0 when not
 *  even one byte fits): full chunks, the last one shorter. */
size_t pn_ss_seal_fit(size_t room);
/** Open the next chunk from the <n> bytes <in> received so far: the payload
 *  length (> 0) with the payload in <out> (PN_SS_PAYLOAD_MAX bytes), PN_AGAIN
 *  when more bytes are needed, PN_ERR when a tag fails or the length is 0 or
 *  over PN_SS_PAYLOAD_MAX (the stream is then dead). *<used> is what was
 *  consumed, also on PN_AGAIN (the length block, once opened, is kept). */
ssize_t pn_ss_open(pn_ss_aead_t *a, const uint8_t *in, size_t n, size_t *used, uint8_t *out);
/** The bytes pn_ss_open needs for its next step: the length block, or the
 *  payload and its tag once the length was opened. */
size_t pn_ss_open_need(const pn_ss_aead_t *a);
/** Identify a stream's key: try the <nkeys> keys <keys> in order on the length
 *  block <lenblk> after <salt> (pn_ss_salt_len bytes of <a>'s method); the
 *  index of the first whose tag holds (then <a> is keyed with it and its
 *  length block consumed), or -1. The AEAD's tag check is constant time; the
 *  work is <nkeys> subkeys at most. */
long pn_ss_identify(pn_ss_aead_t *a, const uint8_t *salt, const uint8_t lenblk[PN_SS_LEN_BLOCK],
                    const uint8_t (*keys)[PN_SS_KEY_LEN], size_t nkeys);

/* UDP (SIP004's relay): each datagram is salt (16 or 32) | seal(payload) tag
 * (16), under the subkey of its own salt with the nonce 0; the payload is the
 * address (ATYP ADDR PORT) then the data, both ways. */
#define PN_SS_UDP_DGRAM_MAX 65507       /* an IPv4 datagram's room */
#define PN_SS_UDP_OVERHEAD (PN_SS_SALT_LEN + PN_SS_TAG_LEN)     /* the largest */
/* The largest payload of any method (the smallest salt, 16): for buffers. */
#define PN_SS_UDP_PAYLOAD_MAX (PN_SS_UDP_DGRAM_MAX - 16 - PN_SS_TAG_LEN)

/** The bytes a datagram of <m> adds to its payload: its salt and the tag. */
size_t pn_ss_udp_overhead(pn_ss_method_t m);

/** Open the datagram <pkt> (<n> bytes) with the first of the <nkeys> keys
 *  <keys> whose tag holds, using <a> (an opener): the key's index, with the
 *  payload in <out> (<n> - pn_ss_udp_overhead bytes) and its length in *<len>;
 *  -1 when none does or <n> is out of bounds (under the overhead, over
 *  PN_SS_UDP_DGRAM_MAX). Each try is a subkey and one tag check over the
 *  whole payload (constant time): the work is <nkeys> times the datagram at
 *  most. */
long pn_ss_udp_open(pn_ss_aead_t *a, const uint8_t *pkt, size_t n, const uint8_t (*keys)[PN_SS_KEY_LEN],
                    size_t nkeys, uint8_t *out, size_t *len);
/** Seal the payload <in> (<n> bytes, at most PN_SS_UDP_DGRAM_MAX minus the
 *  method's overhead) as one datagram under <key> with a fresh random salt
 *  into <out> (<n> + pn_ss_udp_overhead bytes), using <a> (a sealer): its
 *  length, 0 when <n> is too long or randomness failed. */
size_t pn_ss_udp_seal(pn_ss_aead_t *a, const uint8_t key[PN_SS_KEY_LEN], const uint8_t *in, size_t n,
                      uint8_t *out);

/** Wrap <inner> (owned from now on; a socket transport) as the server side of a
 *  Shadowsocks stream: reads open what comes with <dec> (owned; keyed, past
 *  the first chunk), starting with the <npre> bytes <pre> (copied) read ahead;
 *  writes are sealed with a fresh salt (pn_ss_salt_len(m) bytes) under <key>
 *  (copied) and <m>. A tag failure or a bad length is PN_ERR (the connection
 *  is done, one log line). Like TLS it keeps the socket's fd for readiness
 *  and is no zero-copy transport. Never NULL. */
pn_xprt_t *pn_ss_xprt_new(pn_xprt_t *inner, pn_ss_method_t m, const uint8_t key[PN_SS_KEY_LEN],
                          pn_ss_aead_t *dec, const uint8_t *pre, size_t npre);

#endif
