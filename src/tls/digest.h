/* tls/digest.h: SHA-256 of a byte string (the master stores its API key as
 * one). A separate file from tls.c so that hashing needs no TLS context. */
#ifndef PN_TLS_DIGEST_H
#define PN_TLS_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define PN_SHA256_LEN 32

/** Write the SHA-256 of <data> (<len> bytes) into <out>. */
void pn_sha256(const void *data, size_t len, uint8_t out[PN_SHA256_LEN]);

#endif
