/* tls/digest.c: SHA-256 and SHA-1 through OpenSSL's one-shot EVP_Digest. */
#include "tls/digest.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

void
pn_sha256(const void *data, size_t len, uint8_t out[PN_SHA256_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != PN_SHA256_LEN) {
        /* Only a broken OpenSSL gets here: refuse to go on with a wrong hash. */
        fprintf(stderr, "postern: SHA-256 is unavailable\n");
        abort();
    }
}

void
pn_sha1_hex(const void *data, size_t len, char out[PN_SHA1_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t md[20];
    unsigned int n = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha1(), NULL) != 1 || n != sizeof(md)) {
        fprintf(stderr, "postern: SHA-1 is unavailable\n");
        abort();
    }
    for (size_t i = 0; i < sizeof(md); i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[PN_SHA1_HEX_LEN] = '\0';
}
