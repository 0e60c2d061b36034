/* tests/unit/route/sni_test.c: the server name of a TLS ClientHello
 * (route/sni.h): real ClientHellos captured from openssl s_client, and ones
 * built here to reach every length check, record split and name rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "route/sni.h"

/* ---- real ClientHellos (captured with a python listener on loopback) ---- */

/* openssl s_client -servername Example.COM (TLS 1.3) */
static const uint8_t hello_openssl13[] = {
    0x16, 0x03, 0x01, 0x01, 0x38, 0x01, 0x00, 0x01, 0x34, 0x03, 0x03, 0xe4,
    0xcb, 0x2f, 0x1d, 0xf8, 0x6f, 0x2c, 0x66, 0xe3, 0xb4, 0xf0, 0x71, 0x72,
    0xe8, 0x4f, 0x22, 0x2e, 0x2c, 0xcb, 0x9c, 0xe2, 0x7c, 0x10, 0x95, 0x99,
    0x79, 0x1c, 0xc3, 0xed, 0x33, 0x94, 0x80, 0x20, 0xf5, 0xbc, 0xd8, 0x37,
    0x04, 0xef, 0xe4, 0xc0, 0xab, 0xe3, 0x90, 0xcc, 0x76, 0xe6, 0x3c, 0x2b,
    0x35, 0x4f, 0xcb, 0x7e, 0x0c, 0x74, 0x7e, 0x44, 0x9a, 0x98, 0x14, 0x78,
    0x5b, 0x0c, 0xb5, 0xce, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
    0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
    0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
    0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
    0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xad,
    0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x00, 0x0b, 0x45, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x43, 0x4f, 0x4d, 0x00, 0x0b, 0x00, 0x04,
    0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d,
    0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01,
    0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16,
    0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28,
    0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09,
    0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01,
    0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02,
    0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03,
    0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00,
    0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xfa, 0xac, 0x09,
    0x22, 0x3c, 0x01, 0x0d, 0x10, 0x82, 0x00, 0xe8, 0x5f, 0x95, 0xb2, 0x31,
    0xae, 0x8e, 0xe1, 0x5a, 0x0a, 0x66, 0xf4, 0x3d, 0x45, 0x6f, 0xa2, 0x4e,
    0x39, 0x5d, 0xfa, 0x6b, 0x2a,
};

/* openssl s_client -tls1_2 -servername www.Example.org. */
static const uint8_t hello_openssl12[] = {
    0x16, 0x03, 0x01, 0x00, 0xd0, 0x01, 0x00, 0x00, 0xcc, 0x03, 0x03, 0xef,
    0xbf, 0xae, 0xd9, 0x97, 0x8d, 0x41, 0x02, 0x57, 0x32, 0xa4, 0xf0, 0xa4,
    0x5e, 0x34, 0x61, 0x34, 0x7d, 0xcd, 0xe4, 0x95, 0xab, 0x30, 0x12, 0x96,
    0xad, 0x01, 0x77, 0x43, 0x91, 0x0c, 0x5d, 0x00, 0x00, 0x38, 0xc0, 0x2c,
    0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b,
    0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23,
    0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09,
    0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
    0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x6b, 0x00, 0x00,
    0x00, 0x15, 0x00, 0x13, 0x00, 0x00, 0x10, 0x77, 0x77, 0x77, 0x2e, 0x45,
    0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x2e, 0x00,
    0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x0c, 0x00,
    0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x00,
    0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00,
    0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08,
    0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08,
    0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03,
    0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
};

/* openssl s_client -noservername */
static const uint8_t hello_nosni[] = {
    0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0xec,
    0xa8, 0xa0, 0xb2, 0xfa, 0x6d, 0x63, 0xa4, 0x23, 0xc4, 0xe6, 0xcb, 0xb0,
    0xe4, 0x1b, 0x1a, 0x01, 0xd7, 0xe9, 0xfa, 0x4d, 0x9a, 0x09, 0xdc, 0x69,
    0xab, 0xe9, 0xfa, 0x9a, 0x67, 0xfb, 0xec, 0x20, 0xa3, 0xdb, 0x51, 0xad,
    0xaf, 0xd8, 0xb1, 0xa1, 0xc9, 0xa4, 0xcf, 0x12, 0x73, 0x27, 0xbe, 0x2b,
    0x59, 0x13, 0xbf, 0x0e, 0x0c, 0xa7, 0xe6, 0xe3, 0xa8, 0x9c, 0x0d, 0x48,
    0xa4, 0x83, 0x1c, 0x75, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
    0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
    0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
    0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
    0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
    0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16,
    0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
    0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23,
    0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
    0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
    0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
    0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01,
    0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
    0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
    0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
    0x20, 0x81, 0x1b, 0x48, 0x09, 0x5f, 0x30, 0x36, 0xdc, 0xd3, 0xe2, 0xab,
    0x05, 0x02, 0xb6, 0x5e, 0x55, 0x67, 0x77, 0x24, 0x50, 0x49, 0x79, 0xd0,
    0x86, 0x5b, 0xa5, 0xe8, 0xa0, 0x66, 0x0f, 0x68, 0x70,
};

/* ---- a ClientHello builder ---- */

#define BUF_MAX 40000

struct b {
    uint8_t p[BUF_MAX];
    size_t n;
};

static void
put(struct b *b, const void *p, size_t n)
{
    assert_true(b->n + n <= BUF_MAX);
    if (n > 0)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void
put8(struct b *b, size_t v)
{
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void
put16(struct b *b, size_t v)
{
    put8(b, v >> 8);
    put8(b, v);
}

static void
put24(struct b *b, size_t v)
{
    put8(b, v >> 16);
    put16(b, v);
}

/* Append extension <type> carrying <n> bytes at <data>. */
static void
ext(struct b *e, uint16_t type, const void *data, size_t n)
{
    put16(e, type);
    put16(e, n);
    put(e, data, n);
}

/* Append a server_name extension naming <host> (one host_name entry). */
static void
ext_sni(struct b *e, const char *host)
{
    size_t n = strlen(host);
    put16(e, 0);
    put16(e, n + 5);
    put16(e, n + 3);
    put8(e, 0);
    put16(e, n);
    put(e, host, n);
}

/* Append a padding extension (RFC 7685) of <n> zero bytes. */
static void
ext_pad(struct b *e, size_t n)
{
    static const uint8_t zeros[BUF_MAX];
    ext(e, 21, zeros, n);
}

/* Append the fixed head of a ClientHello body: legacy_version 3.3, random,
 * a 32-byte session id, two cipher suites, the null compression method. */
static void
body_head(struct b *m)
{
    static const uint8_t rnd[32] = { 1, 2, 3, 4 };
    static const uint8_t suites[] = { 0x13, 0x01, 0x13, 0x02 };
    put16(m, 0x0303);
    put(m, rnd, sizeof(rnd));
    put8(m, 32);
    put(m, rnd, 32);
    put16(m, sizeof(suites));
    put(m, suites, sizeof(suites));
    put8(m, 1);
    put8(m, 0);
}

/* Make the handshake message ClientHello around <body>. */
static void
message(struct b *msg, const struct b *body)
{
    msg->n = 0;
    put8(msg, 1);
    put24(msg, body->n);
    put(msg, body->p, body->n);
}

/* Make a ClientHello message whose extension block is <exts> (NULL: none). */
static void
hello(struct b *msg, const struct b *exts)
{
    static struct b body;
    body.n = 0;
    body_head(&body);
    if (exts != NULL) {
        put16(&body, exts->n);
        put(&body, exts->p, exts->n);
    }
    message(msg, &body);
}

/* Make a ClientHello message with just a server_name extension for <host>
 * and another extension (supported_versions) after it. */
static void
hello_for(struct b *msg, const char *host)
{
    static const uint8_t versions[] = { 2, 0x03, 0x04 };
    static struct b e;
    e.n = 0;
    ext_sni(&e, host);
    ext(&e, 43, versions, sizeof(versions));
    hello(msg, &e);
}

/* Wrap <n> bytes of handshake <msg> into handshake records of at most
 * <frag> bytes each, record version 3.1. */
static void
records(struct b *out, const uint8_t *msg, size_t n, size_t frag)
{
    out->n = 0;
    for (size_t off = 0; off < n; off += frag) {
        size_t len = n - off < frag ? n - off : frag;
        put8(out, 22);
        put16(out, 0x0301);
        put16(out, len);
        put(out, msg + off, len);
    }
}

/* The handshake message inside a single-record capture. */
static void
unwrap(struct b *msg, const uint8_t *rec, size_t n)
{
    assert_true(n > 5 && rec[0] == 22 && (size_t)(rec[3] << 8 | rec[4]) == n - 5);
    msg->n = 0;
    put(msg, rec + 5, n - 5);
}

/* ---- expectations ---- */

/* Parse <n> bytes at <p>, copied into a buffer of exactly <n> bytes so an
 * over-read trips the sanitizer. Fill <name>, return the code; on PN_ERR the
 * why must be set and the name empty. */
static int
parse(const void *p, size_t n, char name[PN_SNI_MAX + 1], const char **why)
{
    uint8_t *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    if (n > 0)
        memcpy(buf, p, n);
    memset(name, 'X', PN_SNI_MAX + 1);
    *why = NULL;
    int rc = pn_sni_parse(buf, n, name, why);
    free(buf);
    assert_true(memchr(name, '\0', PN_SNI_MAX + 1) != NULL);
    if (rc == PN_ERR) {
        assert_non_null(*why);
        assert_string_equal(name, "");
    } else {
        assert_null(*why);
    }
    return rc;
}

static void
sni_is(const void *p, size_t n, const char *want)
{
    char name[PN_SNI_MAX + 1];
    const char *why;
    int rc = parse(p, n, name, &why);
    if (rc != PN_OK)
        fail_msg("pn_sni_parse(%zu bytes) = %d (%s), expected \"%s\"", n, rc,
                 why ? why : "-", want);
    assert_string_equal(name, want);
}

static void
sni_again(const void *p, size_t n)
{
    char name[PN_SNI_MAX + 1];
    const char *why;
    int rc = parse(p, n, name, &why);
    if (rc != PN_AGAIN)
        fail_msg("pn_sni_parse(%zu bytes) = %d (%s \"%s\"), expected PN_AGAIN", n, rc,
                 why ? why : "-", name);
    assert_string_equal(name, "");
}

/* Expect PN_ERR, with a why containing <what> when non-NULL. */
static void
sni_fails(const void *p, size_t n, const char *what)
{
    char name[PN_SNI_MAX + 1];
    const char *why;
    int rc = parse(p, n, name, &why);
    if (rc != PN_ERR)
        fail_msg("pn_sni_parse(%zu bytes) = %d (\"%s\"), expected PN_ERR (%s)", n, rc, name,
                 what ? what : "");
    if (what != NULL && strstr(why, what) == NULL)
        fail_msg("pn_sni_parse: why \"%s\", expected it to mention \"%s\"", why, what);
}

/* Every proper prefix of <p> asks for more; the whole gives <want>. */
static void
prefixes_wait(const uint8_t *p, size_t n, const char *want)
{
    for (size_t k = 0; k < n; k++)
        sni_again(p, k);
    sni_is(p, n, want);
}

/* The ClientHello <msg> wrapped into one record, expected to fail. */
static void
hello_fails(const struct b *msg, const char *what)
{
    static struct b in;
    records(&in, msg->p, msg->n, 16384);
    sni_fails(in.p, in.n, what);
}

/* A ClientHello for <host>, expected to give <want> (NULL: to fail). */
static void
host_gives(const char *host, const char *want)
{
    static struct b msg, in;
    hello_for(&msg, host);
    records(&in, msg.p, msg.n, 16384);
    if (want != NULL)
        sni_is(in.p, in.n, want);
    else
        sni_fails(in.p, in.n, "server name");
}

/* ---- real ClientHellos ---- */

static void
test_real_hellos(void **state)
{
    sni_is(hello_openssl13, sizeof(hello_openssl13), "example.com");
    sni_is(hello_openssl12, sizeof(hello_openssl12), "www.example.org");
    sni_is(hello_nosni, sizeof(hello_nosni), "");
}

static void
test_byte_by_byte(void **state)
{
    prefixes_wait(hello_openssl13, sizeof(hello_openssl13), "example.com");
    prefixes_wait(hello_openssl12, sizeof(hello_openssl12), "www.example.org");
    prefixes_wait(hello_nosni, sizeof(hello_nosni), "");
}

static void
test_bytes_after_hello(void **state)
{
    /* The client's next records (TLS 1.3 compatibility CCS, early data) may
     * already be there: they are not looked at. */
    static const uint8_t ccs[] = { 0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0xff, 0xff };
    static struct b in;
    in.n = 0;
    put(&in, hello_openssl13, sizeof(hello_openssl13));
    put(&in, ccs, sizeof(ccs));
    sni_is(in.p, in.n, "example.com");
}

/* ---- records ---- */

static void
test_split_two_records(void **state)
{
    static struct b msg, in;
    unwrap(&msg, hello_openssl13, sizeof(hello_openssl13));
    /* Every split point, the first record holding <k> bytes of the message. */
    for (size_t k = 1; k < msg.n; k++) {
        in.n = 0;
        put8(&in, 22);
        put16(&in, 0x0303);
        put16(&in, k);
        put(&in, msg.p, k);
        put8(&in, 22);
        put16(&in, 0x0301);
        put16(&in, msg.n - k);
        put(&in, msg.p + k, msg.n - k);
        sni_is(in.p, in.n, "example.com");
    }
    /* Fed byte by byte across the record boundary. */
    prefixes_wait(in.p, in.n, "example.com");
}

static void
test_many_records(void **state)
{
    static struct b msg, in;
    unwrap(&msg, hello_openssl12, sizeof(hello_openssl12));
    records(&in, msg.p, msg.n, 1);         /* a record per byte */
    prefixes_wait(in.p, in.n, "www.example.org");
    records(&in, msg.p, msg.n, 7);
    prefixes_wait(in.p, in.n, "www.example.org");
}

static void
test_record_versions(void **state)
{
    static struct b msg, in;
    hello_for(&msg, "a.test");
    records(&in, msg.p, msg.n, 16384);
    for (uint8_t v = 1; v <= 4; v++) {
        in.p[2] = v;
        sni_is(in.p, in.n, "a.test");
    }
    in.p[2] = 0;        /* SSL 3.0 */
    sni_fails(in.p, in.n, "version");
    sni_fails(in.p, 3, "version");
    in.p[2] = 5;
    sni_fails(in.p, in.n, "version");
    in.p[2] = 1;
    in.p[1] = 2;
    sni_fails(in.p, 2, "version");
}

static void
test_not_tls(void **state)
{
    static const char get[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    /* An SSL 2.0-compatible ClientHello header. */
    static const uint8_t sslv2[] = { 0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15 };
    static const uint8_t appdata[] = { 0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5 };
    static const uint8_t alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28 };
    sni_fails(get, 1, "not a TLS");     /* refused on its first byte */
    sni_fails(get, sizeof(get) - 1, "not a TLS");
    sni_fails(sslv2, sizeof(sslv2), "not a TLS");
    sni_fails(appdata, sizeof(appdata), "not a TLS");
    sni_fails(alert, sizeof(alert), "not a TLS");
    sni_fails("\x00", 1, "not a TLS");
    sni_again("\x16", 1);
    sni_again("", 0);
}

static void
test_not_client_hello(void **state)
{
    /* A ServerHello (type 2), and a ClientHello interrupted by an alert. */
    static uint8_t rec[sizeof(hello_openssl13)];
    memcpy(rec, hello_openssl13, sizeof(rec));
    rec[5] = 2;
    sni_fails(rec, 6, "not a ClientHello");
    sni_fails(rec, sizeof(rec), "not a ClientHello");

    static struct b msg, in;
    unwrap(&msg, hello_openssl13, sizeof(hello_openssl13));
    records(&in, msg.p, 100, 100);
    put8(&in, 21);
    put16(&in, 0x0303);
    put16(&in, 2);
    sni_fails(in.p, in.n, "not a TLS");
}

static void
test_record_lengths(void **state)
{
    static const uint8_t empty[] = { 0x16, 0x03, 0x01, 0x00, 0x00, 0x16, 0x03, 0x01 };
    static const uint8_t big[] = { 0x16, 0x03, 0x01, 0x40, 0x01, 0x01 };    /* 16385 */
    static const uint8_t max[] = { 0x16, 0x03, 0x01, 0x40, 0x00, 0x01 };    /* 16384 */
    sni_fails(empty, sizeof(empty), "empty");
    sni_fails(big, 5, "16384");
    sni_fails(big, sizeof(big), "16384");
    /* A full 16384-byte record ends past what the caller reads. */
    sni_fails(max, sizeof(max), "16 KiB");
}

/* ---- the 16 KiB bound ---- */

/* A ClientHello for "big.test" whose message is exactly <len> bytes, grown
 * with a padding extension. */
static void
hello_sized(struct b *msg, size_t len)
{
    static struct b e;
    e.n = 0;
    ext_sni(&e, "big.test");
    hello(msg, &e);
    size_t base = msg->n + 4;           /* with an empty padding extension */
    assert_true(len >= base);
    ext_pad(&e, len - base);
    hello(msg, &e);
    assert_int_equal(msg->n, len);
}

static void
test_size_limit(void **state)
{
    static struct b msg, in;
    /* One record: 5 + message <= 16384 is the largest that fits. */
    hello_sized(&msg, PN_SNI_READ_MAX - 5);
    records(&in, msg.p, msg.n, 16384);
    assert_int_equal(in.n, PN_SNI_READ_MAX);
    sni_is(in.p, in.n, "big.test");

    hello_sized(&msg, PN_SNI_READ_MAX - 4);
    records(&in, msg.p, msg.n, 16384);
    sni_fails(in.p, in.n, "16 KiB");
    sni_fails(in.p, 9, "16 KiB");          /* known from the message header */

    /* Split into records: their headers count too. */
    hello_sized(&msg, PN_SNI_READ_MAX - 10);
    records(&in, msg.p, msg.n, 8000);
    assert_true(in.n > PN_SNI_READ_MAX);
    sni_fails(in.p, in.n, "16 KiB");
    hello_sized(&msg, PN_SNI_READ_MAX - 15);
    records(&in, msg.p, msg.n, 8000);
    assert_int_equal(in.n, PN_SNI_READ_MAX);
    sni_is(in.p, in.n, "big.test");

    /* A message claiming more than fits, however little arrived. */
    static const uint8_t huge[] = { 0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff };
    sni_fails(huge, sizeof(huge), "16 KiB");
}

static void
test_over_16k_input(void **state)
{
    /* Handshake records of 1 byte each: the ClientHello never completes
     * within 16 KiB, whatever follows. */
    static struct b msg, in;
    hello_sized(&msg, 4000);
    records(&in, msg.p, msg.n, 1);
    assert_true(in.n > PN_SNI_READ_MAX);
    /* 2730 records of 6 bytes end at 16380: a next one cannot fit. */
    sni_again(in.p, 16379);
    sni_fails(in.p, 16380, "16 KiB");
    sni_fails(in.p, in.n, "16 KiB");
}

/* ---- malformed ClientHello bodies ---- */

static void
test_truncated_fields(void **state)
{
    static struct b body, msg;
    static const uint8_t rnd[32];
    /* Each prefix of a valid body, declared as the whole message. */
    hello_for(&msg, "a.test");
    size_t full = msg.n - 4;
    for (size_t k = 0; k < full; k++) {
        body.n = 0;
        put(&body, msg.p + 4, k);
        struct b *m = malloc(sizeof(*m));
        assert_non_null(m);
        message(m, &body);
        /* Stopping right after the compression methods is a valid hello
         * without extensions; every other cut is malformed. */
        if (k == 2 + 32 + 1 + 32 + 2 + 4 + 1 + 1) {
            static struct b in;
            records(&in, m->p, m->n, 16384);
            sni_is(in.p, in.n, "");
        } else {
            hello_fails(m, NULL);
        }
        free(m);
    }

    /* session id over 32 */
    body.n = 0;
    put16(&body, 0x0303);
    put(&body, rnd, 32);
    put8(&body, 33);
    put(&body, rnd, 32);
    put8(&body, 0);
    message(&msg, &body);
    hello_fails(&msg, "session id");
}

/* A body with the given cipher suite and compression vectors. */
static void
body_vectors(struct b *body, size_t suites, size_t comps)
{
    static const uint8_t zeros[64];
    body->n = 0;
    put16(body, 0x0303);
    put(body, zeros, 32);
    put8(body, 0);
    put16(body, suites);
    put(body, zeros, suites);
    put8(body, comps);
    put(body, zeros, comps);
}

static void
test_bad_vectors(void **state)
{
    static struct b body, msg;
    body_vectors(&body, 3, 1);
    message(&msg, &body);
    hello_fails(&msg, "cipher suites");
    body_vectors(&body, 0, 1);
    message(&msg, &body);
    hello_fails(&msg, "cipher suites");
    body_vectors(&body, 2, 0);
    message(&msg, &body);
    hello_fails(&msg, "compression");

    /* legacy_version 2.0 */
    body_vectors(&body, 2, 1);
    body.p[0] = 2;
    message(&msg, &body);
    hello_fails(&msg, "version");
    body_vectors(&body, 2, 1);
    message(&msg, &body);
    static struct b in;
    records(&in, msg.p, msg.n, 16384);
    sni_is(in.p, in.n, "");
}

static void
test_bad_extensions(void **state)
{
    static struct b e, msg, body;

    /* extension block longer than the rest */
    body.n = 0;
    body_head(&body);
    put16(&body, 10);
    put16(&body, 43);
    put16(&body, 1);
    put8(&body, 0);
    message(&msg, &body);
    hello_fails(&msg, "extensions");

    /* bytes after the extension block */
    e.n = 0;
    ext_sni(&e, "a.test");
    body.n = 0;
    body_head(&body);
    put16(&body, e.n);
    put(&body, e.p, e.n);
    put8(&body, 0);
    message(&msg, &body);
    hello_fails(&msg, "extensions");

    /* an extension running past the block */
    e.n = 0;
    put16(&e, 43);
    put16(&e, 9);
    put8(&e, 0);
    hello(&msg, &e);
    hello_fails(&msg, "extensions");

    /* a lone byte of extension type */
    e.n = 0;
    ext_sni(&e, "a.test");
    put8(&e, 0);
    hello(&msg, &e);
    hello_fails(&msg, "extensions");

    /* a message longer than its fields: trailing garbage inside */
    hello_for(&msg, "a.test");
    put8(&msg, 0);
    msg.p[3]++;
    hello_fails(&msg, "extensions");

    /* an empty extension block: no SNI */
    e.n = 0;
    hello(&msg, &e);
    static struct b in;
    records(&in, msg.p, msg.n, 16384);
    sni_is(in.p, in.n, "");
}

/* A ClientHello whose server_name extension carries <n> bytes at <data>. */
static void
sni_ext_fails(const void *data, size_t n, const char *what)
{
    static struct b e, msg;
    e.n = 0;
    ext(&e, 0, data, n);
    hello(&msg, &e);
    hello_fails(&msg, what);
}

static void
test_bad_server_name_ext(void **state)
{
    /* list length past the extension, short of it, empty, a name past the list */
    sni_ext_fails("\x00\x09\x00\x00\x01" "a", 6, "server_name");
    sni_ext_fails("\x00\x04\x00\x00\x01" "a" "x", 7, "server_name");
    sni_ext_fails("\x00\x00", 2, "server_name");
    sni_ext_fails("", 0, "server_name");
    sni_ext_fails("\x00\x04\x00\x00\x05" "a", 6, "server_name");
    sni_ext_fails("\x00\x02\x00\x00", 4, "server_name");
    /* an empty host_name */
    sni_ext_fails("\x00\x03\x00\x00\x00", 5, "empty");
    /* two host_names */
    sni_ext_fails("\x00\x08\x00\x00\x01" "a" "\x00\x00\x01" "b", 10, "host_name");
}

static void
test_server_name_list(void **state)
{
    static struct b e, msg, in;
    /* another name type first: skipped */
    static const uint8_t other[] = { 0x00, 0x0b, 0x07, 0x00, 0x02, 'z', 'z',
                                     0x00, 0x00, 0x03, 'A', '.', 'b' };
    e.n = 0;
    ext(&e, 0, other, sizeof(other));
    hello(&msg, &e);
    records(&in, msg.p, msg.n, 16384);
    sni_is(in.p, in.n, "a.b");
    /* only another name type: no host name */
    static const uint8_t only[] = { 0x00, 0x05, 0x07, 0x00, 0x02, 'z', 'z' };
    e.n = 0;
    ext(&e, 0, only, sizeof(only));
    hello(&msg, &e);
    records(&in, msg.p, msg.n, 16384);
    sni_is(in.p, in.n, "");
    /* two server_name extensions */
    e.n = 0;
    ext_sni(&e, "a.test");
    ext_sni(&e, "b.test");
    hello(&msg, &e);
    hello_fails(&msg, "more than one server_name");
    /* server_name last, after other extensions */
    e.n = 0;
    ext(&e, 43, "\x02\x03\x04", 3);
    ext_pad(&e, 100);
    ext_sni(&e, "Last.Example");
    hello(&msg, &e);
    records(&in, msg.p, msg.n, 16384);
    sni_is(in.p, in.n, "last.example");
}

/* ---- names ---- */

static void
test_names(void **state)
{
    char label63[64], name253[254], name254[255], dotted[256];
    memset(label63, 'a', 63);
    label63[63] = '\0';
    /* 4 labels of 63 and one of 1: 63 * 4 + 3 dots = 255; trim to 253. */
    snprintf(name253, sizeof(name253), "%s.%s.%s.%.61s", label63, label63, label63, label63);
    assert_int_equal(strlen(name253), 253);
    snprintf(name254, sizeof(name254), "%s.%s.%s.%.62s", label63, label63, label63, label63);
    snprintf(dotted, sizeof(dotted), "%s.", name253);

    host_gives("example.com", "example.com");
    host_gives("Example.COM", "example.com");
    host_gives("example.com.", "example.com");
    host_gives("localhost", "localhost");
    host_gives("xn--bcher-kva.example", "xn--bcher-kva.example");
    host_gives("a-b.c-d.e", "a-b.c-d.e");
    host_gives("123.example", "123.example");
    host_gives(label63, label63);
    host_gives(name253, name253);
    host_gives(dotted, name253);

    host_gives(name254, NULL);
    host_gives("a", "a");
    host_gives(".", NULL);
    host_gives("example.com..", NULL);
    host_gives(".example.com", NULL);
    host_gives("a..b", NULL);
    host_gives("-a.com", NULL);
    host_gives("a-.com", NULL);
    host_gives("a.com-", NULL);
    host_gives("a_b.com", NULL);
    host_gives("exa mple.com", NULL);
    host_gives("a.com:443", NULL);
    host_gives("a/b", NULL);
    host_gives("b\xc3\xbc" "cher.example", NULL);
    char label64[70];
    snprintf(label64, sizeof(label64), "%sa.com", label63);
    host_gives(label64, NULL);
    /* A NUL inside the name. */
    sni_ext_fails("\x00\x06\x00\x00\x03" "a\0b", 8, "server name");
}

static void
test_why_may_be_null(void **state)
{
    char name[PN_SNI_MAX + 1];
    assert_int_equal(pn_sni_parse((const uint8_t *)"GET", 3, name, NULL), PN_ERR);
    assert_int_equal(pn_sni_parse(hello_openssl13, sizeof(hello_openssl13), name, NULL), PN_OK);
    assert_string_equal(name, "example.com");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_hellos),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_bytes_after_hello),
        cmocka_unit_test(test_split_two_records),
        cmocka_unit_test(test_many_records),
        cmocka_unit_test(test_record_versions),
        cmocka_unit_test(test_not_tls),
        cmocka_unit_test(test_not_client_hello),
        cmocka_unit_test(test_record_lengths),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_over_16k_input),
        cmocka_unit_test(test_truncated_fields),
        cmocka_unit_test(test_bad_vectors),
        cmocka_unit_test(test_bad_extensions),
        cmocka_unit_test(test_bad_server_name_ext),
        cmocka_unit_test(test_server_name_list),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_why_may_be_null),
    };
    return cmocka_run_group_tests_name("route/sni", tests, NULL, NULL);
}
