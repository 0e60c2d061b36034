/* tests/fuzz/fuzz_http_acl.c: what the hub's http route rules read from a
 * user's request head (src/route/http_acl.h): the target's path, its
 * normalised form, a field's value, Basic credentials; and the route auth
 * spec parser on the same bytes as a C string.
 *
 * Every call gets an exact-size heap copy, so a read past the end hits an ASan
 * redzone. Invariants:
 *   - pn_http_req_path gives a NUL-terminated string shorter than its buffer,
 *     starting with '/' or "*", without '?' or '#';
 *   - pn_http_path_norm accepts only what has no dot segment, no "//", no
 *     backslash or control byte, and is idempotent on its own output;
 *   - pn_http_field gives a value inside the head, without outer spaces;
 *   - pn_http_basic_decode gives a non-empty user of at most 64 bytes
 *     without ':' and a password of at most 256 bytes, neither with a control
 *     byte, and "Basic " + base64 of "user:pass" decodes to the same two;
 *   - pn_http_auth_parse gives a user of 1-64 bytes and a salt of 8-64 bytes. */
#include "fuzz.h"
#include "route/http_acl.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t
b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64[w >> 18 & 63];
        out[o++] = b64[w >> 12 & 63];
        out[o++] = i + 1 < n ? b64[w >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64[w & 63] : '=';
    }
    return o;
}

static void
check_path(const uint8_t *data, size_t size)
{
    uint8_t *p = fuzz_dup(data, size);
    char out[300], norm[300], again[300];
    if (pn_http_req_path(p, size, out, sizeof(out)) == 0) {
        size_t n = strlen(out);
        FUZZ_ASSERT(n < sizeof(out));
        FUZZ_ASSERT(strpbrk(out, "?#") == NULL);
        if (pn_http_path_norm(out, norm, sizeof(norm)) == 0) {
            FUZZ_ASSERT(strstr(norm, "//") == NULL);
            FUZZ_ASSERT(strchr(norm, '\\') == NULL);
            for (const char *c = norm; *c; c++)
                FUZZ_ASSERT((unsigned char)*c >= 0x20 && *c != 0x7f);
            FUZZ_ASSERT(strstr(norm, "/./") == NULL && strstr(norm, "/../") == NULL);
            FUZZ_ASSERT(pn_http_path_norm(norm, again, sizeof(again)) == 0);
            FUZZ_ASSERT(strcmp(norm, again) == 0);
        }
    }
    free(p);
}

static void
check_field(const uint8_t *data, size_t size)
{
    uint8_t *p = fuzz_dup(data, size);
    const uint8_t *v;
    size_t vn;
    if (pn_http_field(p, size, "authorization", &v, &vn)) {
        FUZZ_ASSERT(v >= p && v + vn <= p + size);
        FUZZ_ASSERT(vn == 0 || (v[0] != ' ' && v[vn - 1] != ' '));
        char user[PN_HTTP_AUTH_USER_MAX + 1], pass[PN_HTTP_AUTH_PASS_MAX + 1];
        uint8_t *val = fuzz_dup(v, vn);
        if (pn_http_basic_decode(val, vn, user, pass) == 0) {
            size_t ul = strlen(user), pl = strlen(pass);
            FUZZ_ASSERT(ul >= 1 && ul <= PN_HTTP_AUTH_USER_MAX && pl <= PN_HTTP_AUTH_PASS_MAX);
            FUZZ_ASSERT(strchr(user, ':') == NULL);
            uint8_t plain[PN_HTTP_AUTH_USER_MAX + 1 + PN_HTTP_AUTH_PASS_MAX];
            char enc[6 + 2 * sizeof(plain)];
            memcpy(plain, user, ul);
            plain[ul] = ':';
            memcpy(plain + ul + 1, pass, pl);
            memcpy(enc, "Basic ", 6);
            size_t en = 6 + b64_encode(plain, ul + 1 + pl, enc + 6);
            char u2[PN_HTTP_AUTH_USER_MAX + 1], p2[PN_HTTP_AUTH_PASS_MAX + 1];
            uint8_t *e = fuzz_dup((const uint8_t *)enc, en);
            FUZZ_ASSERT(pn_http_basic_decode(e, en, u2, p2) == 0);
            FUZZ_ASSERT(strcmp(u2, user) == 0 && strcmp(p2, pass) == 0);
            free(e);
        }
        free(val);
    }
    free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_path(data, size);
    check_field(data, size);
    char *s = fuzz_cstr(data, size);
    pn_http_auth_t a;
    if (pn_http_auth_parse(s, &a) == 0) {
        size_t ul = strlen(a.user);
        FUZZ_ASSERT(ul >= 1 && ul <= PN_HTTP_AUTH_USER_MAX);
        FUZZ_ASSERT(a.salt_len >= 8 && a.salt_len <= PN_HTTP_AUTH_SALT_MAX);
    }
    char norm[64];
    (void)pn_http_path_norm(s, norm, sizeof(norm));
    free(s);
    return 0;
}
