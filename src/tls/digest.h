/* tls/digest.h: SHA-256 of a byte string (the master stores its API key as
 * one), and SHA-1 in hex (how Redis names a Lua script, EVALSHA). A separate
 * file from tls.c so that hashing needs no TLS context. */
#ifndef PN_TLS_DIGEST_H
#define PN_TLS_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define PN_SHA256_LEN 32
#define PN_SHA1_HEX_LEN 40

/** Write the SHA-256 of <data> (<len> bytes) into <out>. */
void pn_sha256(const void *data, size_t len, uint8_t out[PN_SHA256_LEN]);
/** Write the SHA-1 of <data> (<len> bytes) into <out> as 40 lowercase hex digits. */
void pn_sha1_hex(const void *data, size_t len, char out[PN_SHA1_HEX_LEN + 1]);

#endif
