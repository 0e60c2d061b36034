/* tests/unit/tunnel/frame_test.c: the tunnel frame codec against docs/protocol.md. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tunnel/frame.h"

/* ---- helpers ---- */

static uint8_t frame_buf[PN_FRAME_MAX + 16];

static const uint8_t id_a[PN_CONN_ID_LEN] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
};

/* Append a TLV with a 1- or 4-byte big-endian value. */
static size_t
tlv(uint8_t *p, uint8_t type, uint16_t len, uint32_t v)
{
    p[0] = type;
    p[1] = (uint8_t)(len >> 8);
    p[2] = (uint8_t)len;
    if (len == 1) {
        p[3] = (uint8_t)v;
    } else if (len == 4) {
        p[3] = (uint8_t)(v >> 24);
        p[4] = (uint8_t)(v >> 16);
        p[5] = (uint8_t)(v >> 8);
        p[6] = (uint8_t)v;
    } else {
        memset(p + 3, 0xA5, len);
    }
    return 3u + len;
}

/* Build a HELLO payload from the given values, leaving out TLV <skip> (0 = none). */
static size_t
hello_raw(uint8_t *p, uint8_t skip, uint32_t flow, uint32_t tls, uint32_t max, uint32_t proto,
          uint32_t interval)
{
    size_t n = 0;
    if (skip != PN_HT_FLOW)
        n += tlv(p + n, PN_HT_FLOW, 1, flow);
    if (skip != PN_HT_TLS)
        n += tlv(p + n, PN_HT_TLS, 1, tls);
    if (skip != PN_HT_MAX)
        n += tlv(p + n, PN_HT_MAX, 4, max);
    if (skip != PN_HT_PROTO)
        n += tlv(p + n, PN_HT_PROTO, 1, proto);
    if (skip != PN_HT_INTERVAL)
        n += tlv(p + n, PN_HT_INTERVAL, 4, interval);
    return n;
}

/* Decode a whole buffer that must hold exactly one valid frame. */
static void
decode_one(const uint8_t *buf, size_t n, pn_frame_t *f)
{
    size_t used = 0;
    const char *why = NULL;
    assert_int_equal(pn_frame_decode(buf, n, f, &used, &why), PN_OK);
    assert_int_equal(used, n);
    assert_null(why);
}

/* ---- frame header ---- */

static void
test_roundtrip_every_type(void **state)
{
    static const struct { uint8_t type; size_t len; const char *name; } cases[] = {
        { PN_FT_HELLO, 26, "HELLO" }, { PN_FT_TCP, 16, "TCP" }, { PN_FT_UDP, 16, "UDP" },
        { PN_FT_PING, 8, "PING" }, { PN_FT_PONG, 8, "PONG" }, { PN_FT_FLUSH, 0, "FLUSH" },
        { PN_FT_VERIFY, 32, "VERIFY" }, { PN_FT_ERROR, 7, "ERROR" },
        { PN_FT_DATA_HELLO, 48, "DATA_HELLO" }, { PN_FT_DATA_OK, 0, "DATA_OK" },
        { PN_FT_ROUTE_ADD, 11, "ROUTE_ADD" }, { PN_FT_ROUTE_OK, 4, "ROUTE_OK" },
        { PN_FT_ROUTE_FAIL, 9, "ROUTE_FAIL" }, { PN_FT_ROUTE_DEL, 4, "ROUTE_DEL" },
        { PN_FT_ROUTE_STATE, 8, "ROUTE_STATE" },
    };
    uint8_t payload[64], out[128];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7 + 1);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint32_t stream = c == 3 ? 0xDEADBEEFu : 0;
        size_t n = pn_frame_encode(out, sizeof(out), cases[c].type, 0, stream,
                                   cases[c].len ? payload : NULL, cases[c].len);
        assert_int_equal(n, PN_FRAME_HDR + cases[c].len);
        assert_int_equal(out[0], 1);
        assert_int_equal(out[1], cases[c].type);
        assert_int_equal(out[2], 0);
        assert_int_equal(out[3], 0);
        pn_frame_t f;
        decode_one(out, n, &f);
        assert_int_equal(f.type, cases[c].type);
        assert_int_equal(f.flags, 0);
        assert_int_equal(f.stream, stream);
        assert_int_equal(f.len, cases[c].len);
        assert_ptr_equal(f.payload, out + PN_FRAME_HDR);
        if (cases[c].len)
            assert_memory_equal(f.payload, payload, cases[c].len);
        assert_int_equal(pn_frame_check(&f, NULL), PN_OK);
        assert_string_equal(pn_frame_type_name(f.type), cases[c].name);
    }
}

static void
test_header_layout_big_endian(void **state)
{
    uint8_t out[PN_FRAME_HDR + 3];
    assert_int_equal(pn_frame_encode(out, sizeof(out), PN_FT_TCP, 0x80, 0x01020304u, "xyz", 3),
                     sizeof(out));
    static const uint8_t want[] = { 1, 2, 0x80, 0, 1, 2, 3, 4, 0, 0, 0, 3, 'x', 'y', 'z' };
    assert_memory_equal(out, want, sizeof(want));
    pn_frame_t f;
    decode_one(out, sizeof(out), &f);
    assert_int_equal(f.flags, 0x80);   /* unknown flag bits are reported, not refused */
}

static void
test_partial_input(void **state)
{
    uint8_t out[PN_FRAME_HDR + 5];
    size_t n = pn_frame_encode(out, sizeof(out), PN_FT_PING, 0, 0, "hello", 5);
    assert_int_equal(n, sizeof(out));
    for (size_t avail = 0; avail < n; avail++) {
        pn_frame_t f = { .type = 0x77 };
        size_t used = 12345;
        const char *why = "untouched";
        assert_int_equal(pn_frame_decode(out, avail, &f, &used, &why), PN_AGAIN);
        assert_int_equal(used, 12345);
        assert_int_equal(f.type, 0x77);
        assert_string_equal(why, "untouched");
    }
    pn_frame_t f;
    size_t used = 0;
    assert_int_equal(pn_frame_decode(out, n, &f, &used, NULL), PN_OK);
    assert_int_equal(used, n);
}

static void
test_two_frames_back_to_back(void **state)
{
    uint8_t buf[64];
    size_t a = pn_frame_encode(buf, sizeof(buf), PN_FT_FLUSH, 0, 0, NULL, 0);
    size_t b = pn_frame_encode(buf + a, sizeof(buf) - a, PN_FT_PONG, 0, 0, "12345678", 8);
    assert_int_equal(a, 12);
    assert_int_equal(b, 20);
    pn_frame_t f;
    size_t used;
    assert_int_equal(pn_frame_decode(buf, a + b, &f, &used, NULL), PN_OK);
    assert_int_equal(used, a);
    assert_int_equal(f.type, PN_FT_FLUSH);
    assert_int_equal(pn_frame_decode(buf + used, a + b - used, &f, &used, NULL), PN_OK);
    assert_int_equal(used, b);
    assert_int_equal(f.type, PN_FT_PONG);
    assert_memory_equal(f.payload, "12345678", 8);
}

static void
test_bad_version(void **state)
{
    uint8_t out[PN_FRAME_HDR];
    pn_frame_t f;
    size_t used = 99;
    const char *why = NULL;
    assert_int_equal(pn_frame_encode(out, sizeof(out), PN_FT_FLUSH, 0, 0, NULL, 0), 12);
    for (unsigned v = 0; v < 256; v += 1) {
        if (v == PN_PROTO_VERSION)
            continue;
        out[0] = (uint8_t)v;
        why = NULL;
        /* Refused from its first byte, and with a whole header as well. */
        assert_int_equal(pn_frame_decode(out, 1, &f, &used, &why), PN_ERR);
        assert_ptr_equal(why, pn_why_version);
        why = NULL;
        assert_int_equal(pn_frame_decode(out, sizeof(out), &f, &used, &why), PN_ERR);
        assert_ptr_equal(why, pn_why_version);
    }
    assert_int_equal(used, 99);
    /* "GET / HTTP/1.1" on the tunnel port is refused at once. */
    assert_int_equal(pn_frame_decode((const uint8_t *)"GET / HTTP/1.1", 14, &f, &used, NULL),
                     PN_ERR);
}

static void
test_reserved_byte(void **state)
{
    uint8_t out[PN_FRAME_HDR];
    pn_frame_t f;
    size_t used;
    const char *why = NULL;
    assert_int_equal(pn_frame_encode(out, sizeof(out), PN_FT_FLUSH, 0, 0, NULL, 0), 12);
    out[3] = 0x01;
    assert_int_equal(pn_frame_decode(out, 3, &f, &used, &why), PN_AGAIN);
    assert_int_equal(pn_frame_decode(out, 4, &f, &used, &why), PN_ERR);
    assert_non_null(why);
    assert_ptr_not_equal(why, pn_why_version);
    why = NULL;
    out[3] = 0x80;
    assert_int_equal(pn_frame_decode(out, sizeof(out), &f, &used, &why), PN_ERR);
    assert_non_null(why);
}

static void
test_oversize_length(void **state)
{
    uint8_t hdr[PN_FRAME_HDR] = { 1, PN_FT_TCP, 0, 0, 0, 0, 0, 0 };
    const uint32_t lens[] = { PN_FRAME_MAX_PAYLOAD + 1, 0x00100000u, 0xFFFFFFFFu };
    for (size_t i = 0; i < 3; i++) {
        hdr[8] = (uint8_t)(lens[i] >> 24);
        hdr[9] = (uint8_t)(lens[i] >> 16);
        hdr[10] = (uint8_t)(lens[i] >> 8);
        hdr[11] = (uint8_t)lens[i];
        pn_frame_t f;
        size_t used;
        const char *why = NULL;
        /* Refused from the header alone: the payload is never waited for. */
        assert_int_equal(pn_frame_decode(hdr, sizeof(hdr), &f, &used, &why), PN_ERR);
        assert_non_null(why);
    }
}

static void
test_exact_max_length(void **state)
{
    static uint8_t payload[PN_FRAME_MAX_PAYLOAD + 1];
    memset(payload, 0x5A, sizeof(payload));
    payload[PN_FRAME_MAX_PAYLOAD - 1] = 0x01;
    size_t n = pn_frame_encode(frame_buf, PN_FRAME_MAX, PN_FT_TCP, 0, 0, payload,
                               PN_FRAME_MAX_PAYLOAD);
    assert_int_equal(n, PN_FRAME_MAX);
    assert_int_equal(frame_buf[8], 0x00);
    assert_int_equal(frame_buf[9], 0x01);
    assert_int_equal(frame_buf[10], 0x04);
    assert_int_equal(frame_buf[11], 0x00);
    pn_frame_t f;
    size_t used;
    assert_int_equal(pn_frame_decode(frame_buf, n - 1, &f, &used, NULL), PN_AGAIN);
    assert_int_equal(pn_frame_decode(frame_buf, n, &f, &used, NULL), PN_OK);
    assert_int_equal(used, PN_FRAME_MAX);
    assert_int_equal(f.len, PN_FRAME_MAX_PAYLOAD);
    assert_int_equal(f.payload[PN_FRAME_MAX_PAYLOAD - 1], 0x01);
    /* One more byte is refused by the encoder, even with room to spare. */
    assert_int_equal(pn_frame_encode(frame_buf, sizeof(frame_buf), PN_FT_TCP, 0, 0, payload,
                                     PN_FRAME_MAX_PAYLOAD + 1), 0);
}

static void
test_encode_capacity(void **state)
{
    uint8_t out[PN_FRAME_HDR + 8];
    assert_int_equal(pn_frame_encode(out, 0, PN_FT_FLUSH, 0, 0, NULL, 0), 0);
    assert_int_equal(pn_frame_encode(out, PN_FRAME_HDR - 1, PN_FT_FLUSH, 0, 0, NULL, 0), 0);
    assert_int_equal(pn_frame_encode(out, PN_FRAME_HDR, PN_FT_FLUSH, 0, 0, NULL, 0), 12);
    assert_int_equal(pn_frame_encode(out, PN_FRAME_HDR + 7, PN_FT_PING, 0, 0, "abcdefgh", 8), 0);
    assert_int_equal(pn_frame_encode(out, PN_FRAME_HDR + 8, PN_FT_PING, 0, 0, "abcdefgh", 8), 20);
    /* A missing payload with a non-zero length is a caller bug, refused. */
    assert_int_equal(pn_frame_encode(out, sizeof(out), PN_FT_PING, 0, 0, NULL, 8), 0);
}

static void
test_encode_in_place(void **state)
{
    uint8_t out[PN_FRAME_HDR + 26];
    pn_hello_t h = { .flow = 1, .tls = 2, .proto = 3, .max = 1024, .interval_ms = 5000 };
    size_t plen = pn_hello_encode(&h, out + PN_FRAME_HDR, sizeof(out) - PN_FRAME_HDR);
    assert_int_equal(plen, 26);
    uint8_t copy[26];
    memcpy(copy, out + PN_FRAME_HDR, 26);
    assert_int_equal(pn_frame_encode(out, sizeof(out), PN_FT_HELLO, 0, 0, out + PN_FRAME_HDR,
                                     plen), sizeof(out));
    assert_memory_equal(out + PN_FRAME_HDR, copy, 26);
    /* A payload overlapping its destination is moved, not clobbered. */
    uint8_t buf[PN_FRAME_HDR + 8];
    memcpy(buf + 6, "ABCDEFGH", 8);
    assert_int_equal(pn_frame_encode(buf, sizeof(buf), PN_FT_PING, 0, 0, buf + 6, 8), 20);
    assert_memory_equal(buf + PN_FRAME_HDR, "ABCDEFGH", 8);
    assert_int_equal(buf[0], 1);
}

static void
test_frame_check_sizes(void **state)
{
    static const struct { uint8_t type; uint32_t len; int rc; } cases[] = {
        { PN_FT_HELLO, 0, PN_OK },          /* content checked by pn_hello_decode */
        { PN_FT_TCP, 15, PN_ERR }, { PN_FT_TCP, 16, PN_OK }, { PN_FT_TCP, 40, PN_OK },
        { PN_FT_UDP, 0, PN_ERR }, { PN_FT_UDP, 16, PN_OK },
        { PN_FT_PING, 7, PN_ERR }, { PN_FT_PING, 9, PN_ERR }, { PN_FT_PING, 8, PN_OK },
        { PN_FT_PONG, 0, PN_ERR }, { PN_FT_PONG, 8, PN_OK },
        { PN_FT_FLUSH, 1, PN_ERR }, { PN_FT_FLUSH, 0, PN_OK },
        { PN_FT_DATA_OK, 4, PN_ERR }, { PN_FT_DATA_OK, 0, PN_OK },
        { PN_FT_VERIFY, 31, PN_ERR }, { PN_FT_VERIFY, 33, PN_ERR }, { PN_FT_VERIFY, 32, PN_OK },
        { PN_FT_ERROR, 1, PN_ERR }, { PN_FT_ERROR, 2, PN_OK }, { PN_FT_ERROR, 258, PN_OK },
        { PN_FT_ERROR, 259, PN_ERR },
        { PN_FT_DATA_HELLO, 47, PN_ERR }, { PN_FT_DATA_HELLO, 49, PN_ERR },
        { PN_FT_DATA_HELLO, 48, PN_OK },
        /* Hub route frames: a route id, then TLVs up to the frame bound. */
        { PN_FT_ROUTE_ADD, 0, PN_ERR }, { PN_FT_ROUTE_ADD, 3, PN_ERR },
        { PN_FT_ROUTE_ADD, 4, PN_OK }, { PN_FT_ROUTE_ADD, PN_FRAME_MAX_PAYLOAD, PN_OK },
        { PN_FT_ROUTE_ADD, PN_FRAME_MAX_PAYLOAD + 1, PN_ERR },
        { PN_FT_ROUTE_OK, 3, PN_ERR }, { PN_FT_ROUTE_OK, 4, PN_OK },
        { PN_FT_ROUTE_FAIL, 3, PN_ERR }, { PN_FT_ROUTE_FAIL, 300, PN_OK },
        { PN_FT_ROUTE_DEL, 3, PN_ERR }, { PN_FT_ROUTE_DEL, 4, PN_OK },
        { PN_FT_ROUTE_STATE, 3, PN_ERR }, { PN_FT_ROUTE_STATE, 8, PN_OK },
        { PN_FT_ROUTE_STATE, PN_FRAME_MAX_PAYLOAD + 1, PN_ERR },
        { 0x00, 0, PN_ERR }, { 0x09, 0, PN_ERR }, { 0x11, 4, PN_ERR }, { 0xFF, 0, PN_ERR },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pn_frame_t f = { .type = cases[i].type, .len = cases[i].len, .payload = frame_buf };
        const char *why = NULL;
        assert_int_equal(pn_frame_check(&f, &why), cases[i].rc);
        if (cases[i].rc == PN_ERR)
            assert_non_null(why);
        else
            assert_null(why);
    }
}

static void
test_names(void **state)
{
    assert_string_equal(pn_frame_type_name(0x00), "UNKNOWN");
    assert_string_equal(pn_frame_type_name(0x09), "UNKNOWN");
    assert_string_equal(pn_frame_type_name(0x11), "UNKNOWN");
    assert_string_equal(pn_frame_type_name(0xFF), "UNKNOWN");
    static const char *codes[] = { "UNKNOWN", "BUSY", "PROTOCOL", "VERIFY_FAILED", "SHUTDOWN",
                                   "INTERNAL", "VERSION", "UNKNOWN" };
    for (uint16_t c = 0; c < 8; c++)
        assert_string_equal(pn_frame_err_name(c), codes[c]);
    assert_string_equal(pn_frame_err_name(0xFFFF), "UNKNOWN");
    static const char *fails[] = { "UNKNOWN", "TAKEN", "DENIED", "LIMIT", "INVALID", "EXISTS",
                                   "UNAVAILABLE", "UNKNOWN" };
    for (uint16_t c = 0; c < 8; c++)
        assert_string_equal(pn_frame_route_fail_name(c), fails[c]);
    assert_string_equal(pn_frame_route_fail_name(0xFFFF), "UNKNOWN");
}

/* ---- HELLO ---- */

static void
test_hello_roundtrip(void **state)
{
    const pn_hello_t in[] = {
        { .flow = 0, .tls = 0, .proto = 1, .max = 1, .interval_ms = 100 },
        { .flow = 1, .tls = 1, .proto = 2, .max = 65536, .interval_ms = 3600000 },
        { .flow = 1, .tls = 2, .proto = 3, .max = 1024, .interval_ms = 5000 },
    };
    for (size_t i = 0; i < 3; i++) {
        uint8_t buf[64];
        size_t n = pn_hello_encode(&in[i], buf, sizeof(buf));
        assert_int_equal(n, 26);
        pn_hello_t out;
        const char *why = NULL;
        assert_int_equal(pn_hello_decode(buf, n, &out, &why), PN_OK);
        assert_null(why);
        assert_int_equal(out.flow, in[i].flow);
        assert_int_equal(out.tls, in[i].tls);
        assert_int_equal(out.proto, in[i].proto);
        assert_int_equal(out.max, in[i].max);
        assert_int_equal(out.interval_ms, in[i].interval_ms);
        assert_int_equal(out.has_session, 0);
    }
}

/* EPOCH: after the others when given (7 bytes), absent otherwise; 0 and
 * more than an hour are refused both ways. */
static void
test_hello_epoch(void **state)
{
    pn_hello_t h = { .flow = 0, .tls = 0, .proto = 3, .max = 64, .interval_ms = 5000,
                     .epoch_s = 30 };
    uint8_t buf[400];
    const char *why = NULL;
    size_t n = pn_hello_encode(&h, buf, sizeof(buf));
    assert_int_equal(n, 26 + 7);
    assert_memory_equal(buf + 26, "\x09\x00\x04\x00\x00\x00\x1e", 7);
    pn_hello_t out;
    assert_int_equal(pn_hello_decode(buf, n, &out, &why), PN_OK);
    assert_int_equal(out.epoch_s, 30);
    assert_int_equal(pn_hello_decode(buf, 26, &out, &why), PN_OK);
    assert_int_equal(out.epoch_s, 0);
    buf[32] = 0;
    assert_int_equal(pn_hello_decode(buf, n, &out, &why), PN_ERR);
    buf[31] = 0x10;             /* 4096 s */
    assert_int_equal(pn_hello_decode(buf, n, &out, &why), PN_ERR);
    h.epoch_s = PN_EPOCH_MAX_S + 1;
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 0);
}

/* type=2: TRANSPORT and PATH after the five TLVs; absent, transport 0. */
static void
test_hello_transport(void **state)
{
    pn_hello_t h = { .flow = 0, .tls = 0, .proto = 3, .max = 64, .interval_ms = 5000,
                     .transport = PN_XPORT_WS, .path = "/tunnel" };
    uint8_t buf[400];
    const char *why = NULL;
    size_t n = pn_hello_encode(&h, buf, sizeof(buf));
    assert_int_equal(n, 26 + 4 + 3 + 7);
    assert_memory_equal(buf + 26, "\x07\x00\x01\x02\x08\x00\x07/tunnel", 14);
    assert_int_equal(pn_hello_encode(&h, buf, n - 1), 0);
    pn_hello_t out;
    assert_int_equal(pn_hello_decode(buf, n, &out, &why), PN_OK);
    assert_int_equal(out.transport, PN_XPORT_WS);
    assert_string_equal(out.path, "/tunnel");
    /* TRANSPORT without PATH: "/" */
    assert_int_equal(pn_hello_decode(buf, 30, &out, &why), PN_OK);
    assert_string_equal(out.path, "/");
    /* bad paths and transports are refused, both ways */
    buf[26 + 7] = 'x';
    assert_int_equal(pn_hello_decode(buf, n, &out, &why), PN_ERR);
    buf[26 + 7] = '/';
    buf[26 + 8] = ' ';
    assert_int_equal(pn_hello_decode(buf, n, &out, &why), PN_ERR);
    buf[26 + 8] = 't';
    buf[26 + 3] = 4;
    assert_int_equal(pn_hello_decode(buf, n, &out, &why), PN_ERR);
    h.path[0] = '\0';
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 0);
    /* a 255-byte path fits, an empty PATH TLV does not */
    memset(h.path, 'a', PN_PATH_MAX);
    h.path[0] = '/';
    h.path[PN_PATH_MAX] = '\0';
    n = pn_hello_encode(&h, buf, sizeof(buf));
    assert_int_equal(n, 26 + 4 + 3 + PN_PATH_MAX);
    assert_int_equal(pn_hello_decode(buf, n, &out, &why), PN_OK);
    assert_int_equal(strlen(out.path), PN_PATH_MAX);
    n = hello_raw(buf, 0, 0, 0, 64, 1, 5000);
    n += tlv(buf + n, PN_HT_PATH, 0, 0);
    assert_int_equal(pn_hello_decode(buf, n, &out, &why), PN_ERR);
    /* type=0 adds nothing */
    h.transport = 0;
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 26);
}

/* A hub's HELLO: SESSION (8 bytes) after the five TLVs of a tunnel's HELLO. */
static void
test_hello_session(void **state)
{
    pn_hello_t h = { .flow = 0, .tls = 1, .proto = 3, .max = 1024, .interval_ms = 5000,
                     .has_session = 1,
                     .session = { 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04 } };
    static const uint8_t want[37] = {
        0x01, 0x00, 0x01, 0x00,
        0x02, 0x00, 0x01, 0x01,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x04, 0x00,
        0x04, 0x00, 0x01, 0x03,
        0x05, 0x00, 0x04, 0x00, 0x00, 0x13, 0x88,
        0x06, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
    };
    uint8_t buf[64];
    assert_int_equal(pn_hello_encode(&h, buf, 36), 0);
    assert_int_equal(pn_hello_encode(&h, buf, 37), 37);
    assert_memory_equal(buf, want, sizeof(want));
    pn_hello_t out;
    const char *why = NULL;
    assert_int_equal(pn_hello_decode(buf, 37, &out, &why), PN_OK);
    assert_null(why);
    assert_int_equal(out.has_session, 1);
    assert_memory_equal(out.session, h.session, PN_SESSION_TAG_LEN);
    assert_int_equal(out.flow, 0);
    assert_int_equal(out.max, 1024);
    /* Without SESSION: the tunnel's 26 bytes, and has_session 0 on decode even
     * when the session bytes are set. */
    h.has_session = 0;
    assert_int_equal(pn_hello_encode(&h, buf, 26), 26);
    assert_memory_equal(buf, want, 26);
    memset(&out, 0xFF, sizeof(out));
    assert_int_equal(pn_hello_decode(buf, 26, &out, NULL), PN_OK);
    assert_int_equal(out.has_session, 0);
    static const uint8_t zero[PN_SESSION_TAG_LEN] = { 0 };
    assert_memory_equal(out.session, zero, PN_SESSION_TAG_LEN);
    /* SESSION first, and an all-zero tag, are fine too. */
    size_t n = 0;
    n += tlv(buf, PN_HT_SESSION, 8, 0);
    memset(buf + 3, 0, 8);
    n += hello_raw(buf + n, 0, 0, 0, 64, 1, 5000);
    assert_int_equal(pn_hello_decode(buf, n, &out, NULL), PN_OK);
    assert_int_equal(out.has_session, 1);
    assert_memory_equal(out.session, zero, PN_SESSION_TAG_LEN);
    /* An invalid HELLO is refused even with a session. */
    h.has_session = 1;
    h.max = 0;
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 0);
}

static void
test_hello_wire_bytes(void **state)
{
    pn_hello_t h = { .flow = 1, .tls = 2, .proto = 3, .max = 0x00010000, .interval_ms = 5000 };
    uint8_t buf[26];
    static const uint8_t want[26] = {
        0x01, 0x00, 0x01, 0x01,
        0x02, 0x00, 0x01, 0x02,
        0x03, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00,
        0x04, 0x00, 0x01, 0x03,
        0x05, 0x00, 0x04, 0x00, 0x00, 0x13, 0x88,
    };
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 26);
    assert_memory_equal(buf, want, sizeof(want));
    assert_int_equal(pn_hello_encode(&h, buf, 25), 0);
}

static void
test_hello_encode_refuses_invalid(void **state)
{
    const pn_hello_t good = { .flow = 0, .tls = 0, .proto = 1, .max = 64, .interval_ms = 5000 };
    uint8_t buf[64];
    assert_int_equal(pn_hello_encode(&good, buf, sizeof(buf)), 26);
    pn_hello_t h;
    h = good, h.flow = 2;
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 0);
    h = good, h.tls = 3;
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 0);
    h = good, h.max = 0;
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 0);
    h = good, h.max = 65537;
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 0);
    h = good, h.proto = 0;
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 0);
    h = good, h.proto = 5;       /* unknown bit next to a known one */
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 0);
    h = good, h.interval_ms = 0;
    assert_int_equal(pn_hello_encode(&h, buf, sizeof(buf)), 0);
}

static void
test_hello_missing_required(void **state)
{
    static const uint8_t required[] = { PN_HT_FLOW, PN_HT_TLS, PN_HT_MAX, PN_HT_PROTO };
    for (size_t i = 0; i < sizeof(required); i++) {
        uint8_t buf[64];
        size_t n = hello_raw(buf, required[i], 0, 0, 64, 1, 5000);
        pn_hello_t h;
        const char *why = NULL;
        assert_int_equal(pn_hello_decode(buf, n, &h, &why), PN_ERR);
        assert_non_null(why);
        assert_non_null(strstr(why, "lacks"));
    }
    /* An empty payload lacks everything; a NULL pointer with length 0 is fine to pass. */
    pn_hello_t h;
    const char *why = NULL;
    assert_int_equal(pn_hello_decode(NULL, 0, &h, &why), PN_ERR);
    assert_string_equal(why, "HELLO lacks the FLOW TLV");
}

static void
test_hello_interval_optional(void **state)
{
    uint8_t buf[64];
    size_t n = hello_raw(buf, PN_HT_INTERVAL, 1, 1, 10, 2, 0);
    pn_hello_t h;
    assert_int_equal(pn_hello_decode(buf, n, &h, NULL), PN_OK);
    assert_int_equal(h.interval_ms, PN_INTERVAL_DEFAULT_MS);
    assert_int_equal(h.flow, 1);
    assert_int_equal(h.tls, 1);
    assert_int_equal(h.max, 10);
    assert_int_equal(h.proto, 2);
}

static void
test_hello_ranges(void **state)
{
    static const struct { uint32_t flow, tls, max, proto, interval; int rc; } cases[] = {
        { 0, 0, 1, 1, 100, PN_OK },
        { 1, 2, 65536, 3, 3600000, PN_OK },
        { 2, 0, 64, 1, 5000, PN_ERR },
        { 255, 0, 64, 1, 5000, PN_ERR },
        { 0, 3, 64, 1, 5000, PN_ERR },
        { 0, 0, 0, 1, 5000, PN_ERR },
        { 0, 0, 65537, 1, 5000, PN_ERR },
        { 0, 0, 0xFFFFFFFF, 1, 5000, PN_ERR },
        { 0, 0, 64, 0, 5000, PN_ERR },
        { 0, 0, 64, 4, 5000, PN_ERR },          /* only unknown bits: nothing usable */
        { 0, 0, 64, 0xF0, 5000, PN_ERR },
        { 0, 0, 64, 1, 99, PN_ERR },
        { 0, 0, 64, 1, 0, PN_ERR },
        { 0, 0, 64, 1, 3600001, PN_ERR },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[64];
        size_t n = hello_raw(buf, 0, cases[i].flow, cases[i].tls, cases[i].max, cases[i].proto,
                             cases[i].interval);
        pn_hello_t h;
        const char *why = NULL;
        assert_int_equal(pn_hello_decode(buf, n, &h, &why), cases[i].rc);
        if (cases[i].rc == PN_ERR)
            assert_non_null(why);
    }
}

static void
test_hello_unknown_proto_bits_dropped(void **state)
{
    uint8_t buf[64];
    size_t n = hello_raw(buf, 0, 0, 0, 64, 0xFF, 5000);
    pn_hello_t h;
    assert_int_equal(pn_hello_decode(buf, n, &h, NULL), PN_OK);
    assert_int_equal(h.proto, PN_PROTO_TCP | PN_PROTO_UDP);
}

static void
test_hello_duplicate(void **state)
{
    static const struct { uint8_t type; uint16_t len; uint32_t v; } dups[] = {
        { PN_HT_FLOW, 1, 0 }, { PN_HT_TLS, 1, 0 }, { PN_HT_MAX, 4, 64 },
        { PN_HT_PROTO, 1, 1 }, { PN_HT_INTERVAL, 4, 5000 }, { PN_HT_SESSION, 8, 0 },
    };
    for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
        uint8_t buf[64];
        size_t n = hello_raw(buf, 0, 0, 0, 64, 1, 5000);
        n += tlv(buf + n, PN_HT_SESSION, 8, 0);
        n += tlv(buf + n, dups[i].type, dups[i].len, dups[i].v);
        pn_hello_t h;
        const char *why = NULL;
        assert_int_equal(pn_hello_decode(buf, n, &h, &why), PN_ERR);
        assert_string_equal(why, "HELLO repeats a TLV");
    }
}

static void
test_hello_wrong_length(void **state)
{
    static const struct { uint8_t type; uint16_t len; } bad[] = {
        { PN_HT_FLOW, 0 }, { PN_HT_FLOW, 4 }, { PN_HT_TLS, 2 }, { PN_HT_MAX, 1 },
        { PN_HT_MAX, 8 }, { PN_HT_PROTO, 4 }, { PN_HT_INTERVAL, 2 },
        { PN_HT_SESSION, 0 }, { PN_HT_SESSION, 4 }, { PN_HT_SESSION, 7 }, { PN_HT_SESSION, 9 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t buf[64];
        size_t n = tlv(buf, bad[i].type, bad[i].len, 1);
        n += hello_raw(buf + n, bad[i].type, 0, 0, 64, 1, 5000);
        pn_hello_t h;
        const char *why = NULL;
        assert_int_equal(pn_hello_decode(buf, n, &h, &why), PN_ERR);
        assert_string_equal(why, "HELLO TLV has the wrong length for its type");
    }
}

static void
test_hello_unknown_tlv_skipped(void **state)
{
    uint8_t buf[128];
    size_t n = 0;
    n += tlv(buf + n, 0x00, 0, 0);
    n += tlv(buf + n, 0x7F, 9, 0);
    /* Known TLVs in reverse order, unknown ones between them. */
    n += tlv(buf + n, PN_HT_INTERVAL, 4, 250);
    n += tlv(buf + n, 0x3A, 4, 0xFFFFFFFF);
    n += tlv(buf + n, PN_HT_PROTO, 1, 3);
    n += tlv(buf + n, PN_HT_MAX, 4, 300);
    n += tlv(buf + n, 0xFF, 1, 0xEE);
    n += tlv(buf + n, PN_HT_TLS, 1, 2);
    n += tlv(buf + n, PN_HT_FLOW, 1, 1);
    n += tlv(buf + n, 0x20, 2, 0);
    pn_hello_t h;
    const char *why = NULL;
    assert_int_equal(pn_hello_decode(buf, n, &h, &why), PN_OK);
    assert_int_equal(h.flow, 1);
    assert_int_equal(h.tls, 2);
    assert_int_equal(h.max, 300);
    assert_int_equal(h.proto, 3);
    assert_int_equal(h.interval_ms, 250);
}

static void
test_hello_truncated_tlv(void **state)
{
    uint8_t buf[64];
    size_t n = hello_raw(buf, 0, 0, 0, 64, 1, 5000);
    pn_hello_t h;
    const char *why;
    /* Cut at every point inside the last TLV (INTERVAL: 7 bytes). */
    for (size_t cut = 1; cut < 7; cut++) {
        why = NULL;
        assert_int_equal(pn_hello_decode(buf, n - cut, &h, &why), PN_ERR);
        assert_string_equal(why, "HELLO has a truncated TLV");
    }
    /* An unknown TLV claiming more than is left is truncated too. */
    size_t m = n;
    m += tlv(buf + m, 0x40, 0, 0);
    buf[m - 1] = 0x10;              /* length 0x0010 with no value bytes */
    why = NULL;
    assert_int_equal(pn_hello_decode(buf, m, &h, &why), PN_ERR);
    assert_string_equal(why, "HELLO has a truncated TLV");
}

/* ---- ERROR ---- */

static void
test_error_roundtrip(void **state)
{
    uint8_t buf[300];
    size_t n = pn_error_encode(PN_EC_BUSY, "another client is attached", buf, sizeof(buf));
    assert_int_equal(n, 2 + 26);
    assert_int_equal(buf[0], 0);
    assert_int_equal(buf[1], 1);
    uint16_t code = 0;
    char reason[PN_ERROR_REASON_MAX + 1];
    const char *why = NULL;
    assert_int_equal(pn_error_decode(buf, n, &code, reason, &why), PN_OK);
    assert_int_equal(code, PN_EC_BUSY);
    assert_string_equal(reason, "another client is attached");
    /* Unknown codes pass through; the caller logs them. */
    n = pn_error_encode(0xBEEF, "", buf, sizeof(buf));
    assert_int_equal(n, 2);
    assert_int_equal(pn_error_decode(buf, n, &code, reason, NULL), PN_OK);
    assert_int_equal(code, 0xBEEF);
    assert_string_equal(reason, "");
    n = pn_error_encode(PN_EC_SHUTDOWN, NULL, buf, sizeof(buf));
    assert_int_equal(n, 2);
}

static void
test_error_encode_truncation(void **state)
{
    char text[400];
    uint8_t buf[300];
    uint16_t code;
    char reason[PN_ERROR_REASON_MAX + 1];

    memset(text, 'r', 256);
    text[256] = '\0';
    assert_int_equal(pn_error_encode(2, text, buf, sizeof(buf)), 258);
    text[256] = 's';
    text[257] = '\0';
    assert_int_equal(pn_error_encode(2, text, buf, sizeof(buf)), 258);
    assert_int_equal(buf[257], 'r');
    memset(text, 'x', 399);
    text[399] = '\0';
    assert_int_equal(pn_error_encode(2, text, buf, sizeof(buf)), 258);
    assert_int_equal(pn_error_decode(buf, 258, &code, reason, NULL), PN_OK);
    assert_int_equal(strlen(reason), 256);

    /* A two-byte character straddling the cut is dropped whole. */
    memset(text, 'a', 255);
    strcpy(text + 255, "\xc3\xa9tail");
    assert_int_equal(pn_error_encode(2, text, buf, sizeof(buf)), 2 + 255);
    /* A three-byte character ending exactly at 256 is kept. */
    memset(text, 'a', 253);
    strcpy(text + 253, "\xe2\x82\xac" "more");
    assert_int_equal(pn_error_encode(2, text, buf, sizeof(buf)), 2 + 256);
    /* A four-byte character starting at 254 is dropped whole. */
    memset(text, 'a', 254);
    strcpy(text + 254, "\xf0\x9f\x98\x80");
    assert_int_equal(pn_error_encode(2, text, buf, sizeof(buf)), 2 + 254);
    assert_int_equal(pn_error_decode(buf, 2 + 254, &code, reason, NULL), PN_OK);
    assert_int_equal(strlen(reason), 254);

    /* Invalid text (continuation bytes only) backs off at most 3 bytes. */
    memset(text, 0x80, 300);
    text[300] = '\0';
    assert_int_equal(pn_error_encode(2, text, buf, sizeof(buf)), 2 + 253);

    /* Capacity. */
    assert_int_equal(pn_error_encode(2, "abc", buf, 0), 0);
    assert_int_equal(pn_error_encode(2, "abc", buf, 1), 0);
    assert_int_equal(pn_error_encode(2, "abc", buf, 4), 0);
    assert_int_equal(pn_error_encode(2, "abc", buf, 5), 5);
    assert_int_equal(pn_error_encode(2, NULL, buf, 2), 2);
}

static void
test_error_decode_bounds(void **state)
{
    uint8_t buf[300];
    memset(buf, 'z', sizeof(buf));
    uint16_t code;
    char reason[PN_ERROR_REASON_MAX + 1];
    const char *why = NULL;
    assert_int_equal(pn_error_decode(buf, 0, &code, reason, &why), PN_ERR);
    assert_non_null(why);
    why = NULL;
    assert_int_equal(pn_error_decode(buf, 1, &code, reason, &why), PN_ERR);
    assert_non_null(why);
    why = NULL;
    assert_int_equal(pn_error_decode(buf, 259, &code, reason, &why), PN_ERR);
    assert_non_null(why);
    assert_int_equal(pn_error_decode(buf, 258, &code, reason, NULL), PN_OK);
    assert_int_equal(strlen(reason), 256);
    assert_int_equal(code, ('z' << 8) | 'z');
    /* A character cut by the end of the payload is invalid, even when the bytes
     * that would complete it follow in memory. */
    memcpy(buf, "\0\2x\xe2\x82\xac", 6);
    assert_int_equal(pn_error_decode(buf, 5, &code, reason, NULL), PN_OK);
    assert_string_equal(reason, "x??");
    assert_int_equal(pn_error_decode(buf, 6, &code, reason, NULL), PN_OK);
    assert_string_equal(reason, "x\xe2\x82\xac");
}

/* Decode an ERROR whose reason bytes are <raw> and compare the sanitised text. */
static void
check_sanitised(const char *raw, size_t rawlen, const char *want)
{
    uint8_t buf[300] = { 0, PN_EC_PROTOCOL };
    memcpy(buf + 2, raw, rawlen);
    uint16_t code;
    char reason[PN_ERROR_REASON_MAX + 1];
    assert_int_equal(pn_error_decode(buf, 2 + rawlen, &code, reason, NULL), PN_OK);
    assert_string_equal(reason, want);
}

static void
test_error_sanitising(void **state)
{
    check_sanitised("line\nforged", 11, "line?forged");
    check_sanitised("\x1b[31mred", 8, "?[31mred");
    check_sanitised("a\0b", 3, "a?b");
    check_sanitised("tab\there\r", 9, "tab?here?");
    check_sanitised("del\x7f", 4, "del?");
    check_sanitised("\x1f \x1e~", 4, "? ?~");                /* 0x20 and 0x7E are text */
    check_sanitised("c1\xc2\x85x\xc2\x9b", 7, "c1?x?");        /* NEL, CSI */
    check_sanitised("\xe2\x80\xa8|\xe2\x80\xae|\xe2\x81\xa6", 11, "?|?|?");  /* LS, RLO, LRI */
    check_sanitised("ok \xc2\xa0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 14,
                    "ok \xc2\xa0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");   /* valid UTF-8 kept */
    check_sanitised("\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa", 12,
                    "\xe2\x80\xa7\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa");  /* range edges kept */
    /* Invalid UTF-8: one '?' per offending byte. */
    check_sanitised("\xff\xfe", 2, "??");
    check_sanitised("\x80x", 2, "?x");                     /* lone continuation */
    check_sanitised("\xc0\xaf", 2, "??");                  /* overlong '/' */
    check_sanitised("\xc1\xbf", 2, "??");
    check_sanitised("\xe0\x80\xaf", 3, "???");             /* overlong, 3 bytes */
    check_sanitised("\xf0\x80\x80\xaf", 4, "????");        /* overlong, 4 bytes */
    check_sanitised("\xed\xa0\x80", 3, "???");             /* surrogate U+D800 */
    check_sanitised("\xed\xbf\xbf", 3, "???");             /* surrogate U+DFFF */
    check_sanitised("\xed\x9f\xbf\xee\x80\x80", 6, "\xed\x9f\xbf\xee\x80\x80"); /* U+D7FF, U+E000 */
    check_sanitised("\xf4\x90\x80\x80", 4, "????");        /* U+110000 */
    check_sanitised("\xf5\x80\x80\x80", 4, "????");
    check_sanitised("\xc3(", 2, "?(");                     /* bad continuation */
    check_sanitised("x\xe2\x82", 3, "x??");                /* cut short at the end */
    check_sanitised("\xf0\x9f\x98", 3, "???");
    check_sanitised("\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf");  /* U+10FFFF kept */
}

/* ---- TCP/UDP signals, DATA_HELLO ---- */

/* SRC and DST TLVs: both families round-trip; absent ones read as family 0;
 * malformed ones are refused. */
static void
test_signal_addrs(void **state)
{
    uint8_t buf[128];
    pn_sig_addr_t src = { .family = 4, .ip = { 127, 0, 0, 2 }, .port = 4242 };
    pn_sig_addr_t dst = { .family = 6, .port = 443 }, s2, d2;
    dst.ip[15] = 1;
    size_t n = pn_signal_encode_addrs(id_a, &src, &dst, buf, sizeof(buf));
    assert_int_equal(n, PN_CONN_ID_LEN + (3 + 7) + (3 + 19));
    const uint8_t *id = NULL;
    const char *why = NULL;
    assert_int_equal(pn_signal_decode_addrs(buf, n, &id, &s2, &d2, &why), PN_OK);
    assert_memory_equal(id, id_a, PN_CONN_ID_LEN);
    assert_int_equal(s2.family, 4);
    assert_memory_equal(s2.ip, src.ip, 4);
    assert_int_equal(s2.port, 4242);
    assert_int_equal(d2.family, 6);
    assert_memory_equal(d2.ip, dst.ip, 16);
    assert_int_equal(d2.port, 443);
    /* Only a source. */
    n = pn_signal_encode_addrs(id_a, &src, NULL, buf, sizeof(buf));
    assert_int_equal(pn_signal_decode_addrs(buf, n, &id, &s2, &d2, &why), PN_OK);
    assert_int_equal(s2.family, 4);
    assert_int_equal(d2.family, 0);
    /* Too small a buffer for the TLVs. */
    assert_int_equal(pn_signal_encode_addrs(id_a, &src, &dst, buf, PN_CONN_ID_LEN + 5), 0);
    /* A SRC TLV with a bad family or length. */
    n = PN_CONN_ID_LEN;
    memcpy(buf, id_a, PN_CONN_ID_LEN);
    n += tlv(buf + n, PN_ST_SRC, 7, 5);
    assert_int_equal(pn_signal_decode_addrs(buf, n, &id, &s2, &d2, &why), PN_ERR);
    assert_string_equal(why, "signal has a malformed address TLV");
    /* Empty, or a length that does not match the family (4 with 19 bytes, 6 with 7). */
    static const struct { uint8_t type; uint16_t len; uint8_t family; } bad[] = {
        { PN_ST_SRC, 0, 0 }, { PN_ST_SRC, 19, 4 }, { PN_ST_DST, 7, 6 }, { PN_ST_DST, 1, 4 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = PN_CONN_ID_LEN + tlv(buf + PN_CONN_ID_LEN, bad[i].type, bad[i].len, 0);
        if (bad[i].len > 0)
            buf[PN_CONN_ID_LEN + 3] = bad[i].family;
        why = NULL;
        assert_int_equal(pn_signal_decode_addrs(buf, n, &id, &s2, &d2, &why), PN_ERR);
        assert_string_equal(why, "signal has a malformed address TLV");
    }
    /* A family other than 4 or 6 on the encoder's side means absent. */
    pn_sig_addr_t none = { .family = 0 }, odd = { .family = 5 };
    assert_int_equal(pn_signal_encode_addrs(id_a, &none, &odd, buf, sizeof(buf)), PN_CONN_ID_LEN);
    assert_int_equal(pn_signal_encode_addrs(id_a, &odd, &src, buf, sizeof(buf)),
                     PN_CONN_ID_LEN + 10);
    assert_int_equal(buf[PN_CONN_ID_LEN], PN_ST_DST);
    /* Room for SRC but not for DST. */
    assert_int_equal(pn_signal_encode_addrs(id_a, &src, &dst, buf, PN_CONN_ID_LEN + 10 + 21), 0);
    assert_int_equal(pn_signal_encode_addrs(id_a, &src, &dst, buf, PN_CONN_ID_LEN + 10 + 22),
                     PN_CONN_ID_LEN + 10 + 22);
    /* An IPv6 source. */
    n = pn_signal_encode_addrs(id_a, &dst, NULL, buf, sizeof(buf));
    assert_int_equal(n, PN_CONN_ID_LEN + 22);
    assert_int_equal(pn_signal_decode_addrs(buf, n, &id, &s2, &d2, &why), PN_OK);
    assert_int_equal(s2.family, 6);
    assert_memory_equal(s2.ip, dst.ip, 16);
    assert_int_equal(d2.family, 0);
}

static void
test_signal(void **state)
{
    uint8_t buf[64];
    assert_int_equal(pn_signal_encode(id_a, buf, 15), 0);
    assert_int_equal(pn_signal_encode(id_a, buf, sizeof(buf)), PN_CONN_ID_LEN);
    const uint8_t *id = NULL;
    const char *why = NULL;
    assert_int_equal(pn_signal_decode(buf, 16, &id, &why), PN_OK);
    assert_ptr_equal(id, buf);
    assert_memory_equal(id, id_a, PN_CONN_ID_LEN);
    /* Too short. */
    id = NULL;
    assert_int_equal(pn_signal_decode(buf, 15, &id, &why), PN_ERR);
    assert_non_null(why);
    assert_null(id);
    /* Unknown trailing TLVs are skipped. */
    size_t n = 16;
    n += tlv(buf + n, 0x7f, 4, 7);
    n += tlv(buf + n, 0x99, 0, 0);
    why = NULL;
    assert_int_equal(pn_signal_decode(buf, n, &id, &why), PN_OK);
    assert_ptr_equal(id, buf);
    /* A malformed trailing TLV is not. */
    id = NULL;
    assert_int_equal(pn_signal_decode(buf, n - 1, &id, &why), PN_ERR);
    assert_string_equal(why, "signal has a truncated TLV");
    assert_null(id);
    assert_int_equal(pn_signal_decode(buf, 17, &id, &why), PN_ERR);
}

static void
test_signal_in_frame(void **state)
{
    uint8_t buf[64];
    size_t plen = pn_signal_encode(id_a, buf + PN_FRAME_HDR, sizeof(buf) - PN_FRAME_HDR);
    size_t n = pn_frame_encode(buf, sizeof(buf), PN_FT_UDP, 0, 0, buf + PN_FRAME_HDR, plen);
    assert_int_equal(n, 28);
    pn_frame_t f;
    decode_one(buf, n, &f);
    assert_int_equal(pn_frame_check(&f, NULL), PN_OK);
    const uint8_t *id;
    assert_int_equal(pn_signal_decode(f.payload, f.len, &id, NULL), PN_OK);
    assert_memory_equal(id, id_a, PN_CONN_ID_LEN);
}

static void
test_data_hello(void **state)
{
    uint8_t proof[PN_PROOF_LEN], buf[64];
    for (int i = 0; i < PN_PROOF_LEN; i++)
        proof[i] = (uint8_t)(0xF0 ^ i);
    assert_int_equal(pn_data_hello_encode(id_a, proof, buf, 47), 0);
    assert_int_equal(pn_data_hello_encode(id_a, proof, buf, 48), 48);
    assert_memory_equal(buf, id_a, 16);
    assert_memory_equal(buf + 16, proof, 32);
    const uint8_t *id = NULL, *pr = NULL;
    const char *why = NULL;
    assert_int_equal(pn_data_hello_decode(buf, 48, &id, &pr, &why), PN_OK);
    assert_ptr_equal(id, buf);
    assert_ptr_equal(pr, buf + 16);
    assert_int_equal(pn_data_hello_decode(buf, 47, &id, &pr, &why), PN_ERR);
    assert_non_null(why);
    assert_int_equal(pn_data_hello_decode(buf, 49, &id, &pr, NULL), PN_ERR);
    assert_int_equal(pn_data_hello_decode(buf, 0, &id, &pr, NULL), PN_ERR);
}

static void
test_proof_msg_and_hex(void **state)
{
    uint8_t msg[PN_PROOF_MSG_LEN];
    pn_proof_msg(id_a, msg);
    assert_int_equal(PN_PROOF_MSG_LEN, 31);
    assert_int_equal(strlen(PN_PROOF_LABEL), PN_PROOF_LABEL_LEN);
    assert_memory_equal(msg, "postern-data-v1", 15);
    assert_memory_equal(msg + 15, id_a, 16);
    char hex[33];
    memset(hex, 'Q', sizeof(hex));
    pn_conn_id_hex(id_a, hex);
    assert_string_equal(hex, "00112233445566778899aabbccddeeff");
}

/* ---- hub route frames ---- */

/* Append a TLV whose value is the <len> bytes at <val>. */
static size_t
tlvb(uint8_t *p, uint8_t type, const void *val, uint16_t len)
{
    p[0] = type;
    p[1] = (uint8_t)(len >> 8);
    p[2] = (uint8_t)len;
    if (len > 0)
        memcpy(p + 3, val, len);
    return 3u + len;
}

/* Write route id <id> at <p>; return 4. */
static size_t
route_id(uint8_t *p, uint32_t id)
{
    p[0] = (uint8_t)(id >> 24);
    p[1] = (uint8_t)(id >> 16);
    p[2] = (uint8_t)(id >> 8);
    p[3] = (uint8_t)id;
    return 4;
}

/* Decode <n> bytes at <buf> as route frame <ftype>; expect PN_ERR with <want>. */
static void
route_refused(uint8_t ftype, const uint8_t *buf, size_t n, const char *want)
{
    pn_frame_route_t m;
    const char *why = NULL;
    assert_int_equal(pn_frame_route_decode(ftype, buf, n, &m, &why), PN_ERR);
    assert_non_null(why);
    if (want != NULL)
        assert_string_equal(why, want);
}

/* Encode <m> as <ftype>, check the size, that one byte less of room is refused,
 * and decode it back into <out>. */
static size_t
route_roundtrip(uint8_t ftype, const pn_frame_route_t *m, size_t want, pn_frame_route_t *out)
{
    static uint8_t buf[1024];
    size_t n = pn_frame_route_encode(ftype, m, buf, sizeof(buf));
    assert_int_equal(n, want);
    for (size_t cap = 0; cap < n; cap++)
        assert_int_equal(pn_frame_route_encode(ftype, m, buf, cap), 0);
    assert_int_equal(pn_frame_route_encode(ftype, m, buf, n), n);
    const char *why = NULL;
    assert_int_equal(pn_frame_route_decode(ftype, buf, n, out, &why), PN_OK);
    assert_null(why);
    return n;
}

static void
test_route_add(void **state)
{
    pn_frame_route_t m = { .id = 0x01020304, .type = 3, .port = 8080, .online = 0 }, out;
    strcpy(m.host, "app.hub.test");
    strcpy(m.group, "web");
    strcpy(m.group_key, "s3cret \x01\xff");
    /* Members ADD does not carry are not written. */
    m.code = 7;
    strcpy(m.reason, "not sent");
    route_roundtrip(PN_FT_ROUTE_ADD, &m, 4 + 4 + 5 + (3 + 12) + (3 + 3) + (3 + 9) + 4, &out);
    assert_int_equal(out.id, 0x01020304);
    assert_int_equal(out.type, 3);
    assert_int_equal(out.port, 8080);
    assert_string_equal(out.host, "app.hub.test");
    assert_string_equal(out.group, "web");
    assert_string_equal(out.group_key, "s3cret \x01\xff");
    assert_int_equal(out.online, 0);
    assert_int_equal(out.code, 0);
    assert_string_equal(out.reason, "");

    /* The smallest ADD: TYPE and ONLINE; port 0 and empty texts are left out. */
    pn_frame_route_t t = { .id = 1, .type = 1, .online = 1 };
    route_roundtrip(PN_FT_ROUTE_ADD, &t, 4 + 4 + 4, &out);
    assert_int_equal(out.type, 1);
    assert_int_equal(out.port, 0);
    assert_string_equal(out.host, "");
    assert_int_equal(out.online, 1);

    /* Wire bytes: ADD id 1, TYPE http, HOST "app", ONLINE 1 (docs/protocol.md §12). */
    pn_frame_route_t a = { .id = 1, .type = 3, .online = 1 };
    strcpy(a.host, "app");
    static const uint8_t want[] = {
        0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x01, 0x03,
        0x03, 0x00, 0x03, 'a', 'p', 'p', 0x06, 0x00, 0x01, 0x01,
    };
    uint8_t buf[64];
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &a, buf, sizeof(buf)), sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));

    /* ONLINE defaults to 1 when absent; TLVs may come in any order. */
    size_t n = route_id(buf, 9);
    n += tlvb(buf + n, 3, "h", 1);
    n += tlvb(buf + n, 2, "\xff\xfe", 2);
    n += tlvb(buf + n, 1, "\x04", 1);
    memset(&out, 0, sizeof(out));
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_ADD, buf, n, &out, NULL), PN_OK);
    assert_int_equal(out.id, 9);
    assert_int_equal(out.type, 4);
    assert_int_equal(out.port, 0xfffe);
    assert_string_equal(out.host, "h");
    assert_int_equal(out.online, 1);
}

static void
test_route_add_limits(void **state)
{
    pn_frame_route_t m = { .id = 0xFFFFFFFF, .type = 2, .port = 65535, .online = 1 }, out;
    memset(m.host, '~', PN_ROUTE_HOST_MAX);
    memset(m.group, ' ', PN_ROUTE_GROUP_MAX);
    memset(m.group_key, 0x80, PN_ROUTE_GROUP_KEY_MAX);
    route_roundtrip(PN_FT_ROUTE_ADD, &m,
                    4 + 4 + 5 + (3 + 253) + (3 + 64) + (3 + 128) + 4, &out);
    assert_int_equal(strlen(out.host), PN_ROUTE_HOST_MAX);
    assert_int_equal(strlen(out.group), PN_ROUTE_GROUP_MAX);
    assert_int_equal(strlen(out.group_key), PN_ROUTE_GROUP_KEY_MAX);
    assert_int_equal(out.id, 0xFFFFFFFF);
}

static void
test_route_other_types(void **state)
{
    pn_frame_route_t m = { .id = 42, .type = 9, .port = 10022, .online = 7, .code = 3 }, out;
    strcpy(m.host, "app.hub.test");
    strcpy(m.group, "\n");          /* ignored by every type but ADD */
    strcpy(m.reason, "over max_routes");

    /* OK: PORT and HOST only (TYPE, ONLINE, ... are not looked at). */
    route_roundtrip(PN_FT_ROUTE_OK, &m, 4 + 5 + (3 + 12), &out);
    assert_int_equal(out.id, 42);
    assert_int_equal(out.port, 10022);
    assert_string_equal(out.host, "app.hub.test");
    assert_int_equal(out.type, 0);
    assert_string_equal(out.group, "");
    assert_int_equal(out.online, 1);
    pn_frame_route_t bare = { .id = 42 };
    route_roundtrip(PN_FT_ROUTE_OK, &bare, 4, &out);
    assert_int_equal(out.port, 0);
    assert_string_equal(out.host, "");

    /* FAIL: CODE and REASON. */
    route_roundtrip(PN_FT_ROUTE_FAIL, &m, 4 + 5 + (3 + 15), &out);
    assert_int_equal(out.code, PN_RF_LIMIT);
    assert_string_equal(out.reason, "over max_routes");
    assert_int_equal(out.port, 0);
    assert_string_equal(out.host, "");
    bare.code = 0xBEEF;             /* unknown codes pass; an empty REASON is left out */
    route_roundtrip(PN_FT_ROUTE_FAIL, &bare, 4 + 5, &out);
    assert_int_equal(out.code, 0xBEEF);
    assert_string_equal(out.reason, "");

    /* DEL: nothing but the id. */
    route_roundtrip(PN_FT_ROUTE_DEL, &m, 4, &out);
    assert_int_equal(out.id, 42);
    assert_int_equal(out.port, 0);
    assert_int_equal(out.code, 0);

    /* STATE: ONLINE. */
    m.online = 0;
    route_roundtrip(PN_FT_ROUTE_STATE, &m, 4 + 4, &out);
    assert_int_equal(out.online, 0);
    assert_int_equal(out.port, 0);
    m.online = 1;
    route_roundtrip(PN_FT_ROUTE_STATE, &m, 4 + 4, &out);
    assert_int_equal(out.online, 1);
}

static void
test_route_encode_refuses(void **state)
{
    uint8_t buf[1024];
    const pn_frame_route_t good = { .id = 5, .type = 1, .online = 1 };
    pn_frame_route_t m;
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &good, buf, sizeof(buf)), 12);
    /* Not a route frame type. */
    assert_int_equal(pn_frame_route_encode(PN_FT_HELLO, &good, buf, sizeof(buf)), 0);
    assert_int_equal(pn_frame_route_encode(PN_FT_DATA_OK, &good, buf, sizeof(buf)), 0);
    assert_int_equal(pn_frame_route_encode(0x11, &good, buf, sizeof(buf)), 0);
    /* Route id 0, for every type. */
    m = good, m.id = 0;
    for (uint8_t t = PN_FT_ROUTE_ADD; t <= PN_FT_ROUTE_STATE; t++)
        assert_int_equal(pn_frame_route_encode(t, &m, buf, sizeof(buf)), 0);
    /* TYPE out of 1..4, ONLINE not 0/1. */
    m = good, m.type = 0;
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf)), 0);
    m = good, m.type = 5;
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf)), 0);
    m = good, m.online = 2;
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf)), 0);
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_STATE, &m, buf, sizeof(buf)), 0);
    /* Texts the decoder would refuse: too long (no NUL within the array) or not
     * printable ASCII. */
    m = good;
    memset(m.host, 'a', sizeof(m.host));
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf)), 0);
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_OK, &m, buf, sizeof(buf)), 0);
    m = good;
    strcpy(m.host, "a\tb");
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf)), 0);
    strcpy(m.host, "caf\xc3\xa9");
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_OK, &m, buf, sizeof(buf)), 0);
    strcpy(m.host, "del\x7f");
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf)), 0);
    m = good;
    memset(m.group, 'g', sizeof(m.group));
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf)), 0);
    m = good;
    strcpy(m.group, "\x1f");
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf)), 0);
    m = good;
    memset(m.group_key, 'k', sizeof(m.group_key));
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf)), 0);
    /* ...but the members a type does not carry are not looked at. */
    m = good, m.type = 0, m.online = 9;
    memset(m.host, 'a', sizeof(m.host));
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_DEL, &m, buf, sizeof(buf)), 4);
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_FAIL, &m, buf, sizeof(buf)), 4 + 5);
}

static void
test_route_reason_cut(void **state)
{
    pn_frame_route_t m = { .id = 1, .code = PN_RF_INVALID }, out;
    uint8_t buf[600];
    /* 256 bytes exactly: kept; the array's last byte is never needed. */
    memset(m.reason, 'r', PN_ERROR_REASON_MAX);
    route_roundtrip(PN_FT_ROUTE_FAIL, &m, 4 + 5 + 3 + 256, &out);
    assert_int_equal(strlen(out.reason), 256);
    /* A reason with no NUL in the array is cut to 256 bytes... */
    memset(m.reason, 'r', sizeof(m.reason));
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_FAIL, &m, buf, sizeof(buf)), 4 + 5 + 3 + 256);
    /* ...on a character boundary: a two-byte character across 256 goes whole. */
    memset(m.reason, 'a', 255);
    m.reason[255] = (char)0xc3;
    m.reason[256] = (char)0xa9;
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_FAIL, &m, buf, sizeof(buf)), 4 + 5 + 3 + 255);
    assert_int_equal(buf[4 + 5 + 1], 0);
    assert_int_equal(buf[4 + 5 + 2], 255);
}

static void
test_route_decode_errors(void **state)
{
    uint8_t buf[1024];
    size_t n;
    pn_frame_route_t m;
    const char *why = NULL;

    /* Not a route frame type; no or short id; id 0. */
    n = route_id(buf, 1);
    n += tlvb(buf + n, 1, "\x01", 1);
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_ADD, buf, n, &m, NULL), PN_OK);
    route_refused(PN_FT_HELLO, buf, n, "not a route frame type");
    route_refused(0x11, buf, n, "not a route frame type");
    route_refused(PN_FT_ROUTE_ADD, NULL, 0, "route frame lacks its route id");
    route_refused(PN_FT_ROUTE_DEL, buf, 3, "route frame lacks its route id");
    route_id(buf, 0);
    route_refused(PN_FT_ROUTE_ADD, buf, n, "route id is 0");
    route_refused(PN_FT_ROUTE_DEL, buf, 4, "route id is 0");

    /* Truncated TLVs: cut at every point inside the last one. */
    route_id(buf, 1);
    for (size_t cut = 1; cut < 4; cut++)
        route_refused(PN_FT_ROUTE_ADD, buf, n - cut, "route frame has a truncated TLV");
    route_refused(PN_FT_ROUTE_DEL, buf, 5, "route frame has a truncated TLV");

    /* Missing required TLVs. */
    route_refused(PN_FT_ROUTE_ADD, buf, 4, "ROUTE_ADD lacks the TYPE TLV");
    route_refused(PN_FT_ROUTE_FAIL, buf, 4, "ROUTE_FAIL lacks the CODE TLV");
    route_refused(PN_FT_ROUTE_STATE, buf, 4, "ROUTE_STATE lacks the ONLINE TLV");
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_OK, buf, 4, &m, &why), PN_OK);
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_DEL, buf, 4, &m, &why), PN_OK);
    assert_int_equal(m.id, 1);
    assert_int_equal(m.online, 1);
    n = route_id(buf, 1);
    n += tlvb(buf + n, 6, "\x00", 1);       /* ONLINE is not TYPE */
    route_refused(PN_FT_ROUTE_ADD, buf, n, "ROUTE_ADD lacks the TYPE TLV");

    /* Wrong sizes of each known TLV, in every route frame type. */
    static const struct { uint8_t type; uint16_t len; const char *why; } sizes[] = {
        { 1, 0, "route TYPE is not 1 byte" }, { 1, 2, "route TYPE is not 1 byte" },
        { 2, 1, "route PORT is not 2 bytes" }, { 2, 3, "route PORT is not 2 bytes" },
        { 3, 0, "route HOST is not 1..253 bytes" }, { 3, 254, "route HOST is not 1..253 bytes" },
        { 4, 0, "route GROUP is not 1..64 bytes" }, { 4, 65, "route GROUP is not 1..64 bytes" },
        { 5, 0, "route GROUP_KEY is not 1..128 bytes" },
        { 5, 129, "route GROUP_KEY is not 1..128 bytes" },
        { 6, 0, "route ONLINE is not 1 byte" }, { 6, 4, "route ONLINE is not 1 byte" },
        { 7, 1, "route CODE is not 2 bytes" }, { 7, 4, "route CODE is not 2 bytes" },
        { 8, 257, "route REASON is over 256 bytes" },
    };
    uint8_t val[300];
    memset(val, 'v', sizeof(val));
    val[0] = 1;                     /* a valid TYPE / ONLINE first byte */
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (uint8_t t = PN_FT_ROUTE_ADD; t <= PN_FT_ROUTE_STATE; t++) {
            n = route_id(buf, 1);
            n += tlvb(buf + n, sizes[i].type, val, sizes[i].len);
            route_refused(t, buf, n, sizes[i].why);
        }
    }

    /* Repeats, also of a TLV the frame type does not carry. */
    static const struct { uint8_t type; const char *val; uint16_t len; } reps[] = {
        { 1, "\x01", 1 }, { 2, "\0\0", 2 }, { 3, "h", 1 }, { 4, "g", 1 }, { 5, "k", 1 },
        { 6, "\x01", 1 }, { 7, "\0\1", 2 }, { 8, "", 0 },
    };
    for (size_t i = 0; i < sizeof(reps) / sizeof(reps[0]); i++) {
        for (uint8_t t = PN_FT_ROUTE_ADD; t <= PN_FT_ROUTE_STATE; t++) {
            n = route_id(buf, 1);
            n += tlvb(buf + n, reps[i].type, reps[i].val, reps[i].len);
            n += tlvb(buf + n, 0x42, NULL, 0);
            n += tlvb(buf + n, reps[i].type, reps[i].val, reps[i].len);
            route_refused(t, buf, n, "route frame repeats a TLV");
        }
    }

    /* Values out of range. */
    static const struct { uint8_t type; const char *val; uint16_t len; const char *why; } vals[] = {
        { 1, "\x00", 1, "route TYPE is not 1..4" },
        { 1, "\x05", 1, "route TYPE is not 1..4" },
        { 1, "\xff", 1, "route TYPE is not 1..4" },
        { 6, "\x02", 1, "route ONLINE is not 0 or 1" },
        { 6, "\xff", 1, "route ONLINE is not 0 or 1" },
        { 3, "a\0b", 3, "route HOST is not printable ASCII" },
        { 3, "a\nb", 3, "route HOST is not printable ASCII" },
        { 3, "\x1f", 1, "route HOST is not printable ASCII" },
        { 3, "del\x7f", 4, "route HOST is not printable ASCII" },
        { 3, "caf\xc3\xa9", 5, "route HOST is not printable ASCII" },
        { 4, "\0", 1, "route GROUP is not printable ASCII" },
        { 4, "g\x80", 2, "route GROUP is not printable ASCII" },
        { 5, "key\0", 4, "route GROUP_KEY holds a NUL" },
        { 8, "bad\0reason", 10, "route REASON holds a NUL" },
    };
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        for (uint8_t t = PN_FT_ROUTE_ADD; t <= PN_FT_ROUTE_STATE; t++) {
            n = route_id(buf, 1);
            n += tlvb(buf + n, vals[i].type, vals[i].val, vals[i].len);
            route_refused(t, buf, n, vals[i].why);
        }
    }
    /* Printable ASCII includes space and '~'. */
    n = route_id(buf, 1);
    n += tlvb(buf + n, 1, "\x02", 1);
    n += tlvb(buf + n, 3, " ~", 2);
    n += tlvb(buf + n, 4, "!}", 2);
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_ADD, buf, n, &m, NULL), PN_OK);
    assert_string_equal(m.host, " ~");
    assert_string_equal(m.group, "!}");
}

/* The http rules of ROUTE_ADD (PATH 9, HOST_HEADER 10, AUTH 11, ALLOW 12,
 * REDIRECT 13) go through encode and decode; bad values are refused. */
static void
test_route_http_rules(void **state)
{
    uint8_t buf[4096];
    pn_frame_route_t m, d;
    memset(&m, 0, sizeof(m));
    m.id = 9;
    m.type = 3;
    m.online = 1;
    snprintf(m.host, sizeof(m.host), "app");
    snprintf(m.path, sizeof(m.path), "/api");
    snprintf(m.host_header, sizeof(m.host_header), "internal.local");
    snprintf(m.auth, sizeof(m.auth), "u:sha256$00$11");
    snprintf(m.allow, sizeof(m.allow), "10.0.0.0/8;::1");
    m.redirect = 1;
    m.h2c = 1;
    size_t n = pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_ADD, buf, n, &d, NULL), PN_OK);
    assert_string_equal(d.path, "/api");
    assert_string_equal(d.host_header, "internal.local");
    assert_string_equal(d.auth, "u:sha256$00$11");
    assert_string_equal(d.allow, "10.0.0.0/8;::1");
    assert_int_equal(d.redirect, 1);
    assert_int_equal(d.h2c, 1);
    m.h2c = 2;
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf)), 0);
    m.h2c = 0;
    n = pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf));
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_ADD, buf, n, &d, NULL), PN_OK);
    assert_int_equal(d.h2c, 0);
    n = route_id(buf, 5);
    n += tlvb(buf + n, 1, "\x03", 1);
    n += tlvb(buf + n, 14, "\x02", 1);
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_ADD, buf, n, &d, NULL), PN_ERR);
    m.redirect = 2;
    assert_int_equal(pn_frame_route_encode(PN_FT_ROUTE_ADD, &m, buf, sizeof(buf)), 0);
    n = route_id(buf, 5);
    n += tlvb(buf + n, 1, "\x03", 1);
    n += tlvb(buf + n, 13, "\x02", 1);
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_ADD, buf, n, &d, NULL), PN_ERR);
    n = route_id(buf, 5);
    n += tlvb(buf + n, 1, "\x03", 1);
    n += tlvb(buf + n, 9, "/a\x01", 3);
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_ADD, buf, n, &d, NULL), PN_ERR);
}

static void
test_route_unknown_and_foreign_tlvs(void **state)
{
    uint8_t buf[256];
    pn_frame_route_t m;
    /* Unknown TLV types (0, 15 and up) are skipped wherever they are. */
    size_t n = route_id(buf, 77);
    n += tlvb(buf + n, 0x00, "zz", 2);
    n += tlvb(buf + n, 7, "\x00\x02", 2);
    n += tlvb(buf + n, 0x0F, "\x00\x01\x02\x03\x04", 5);
    n += tlvb(buf + n, 8, "no", 2);
    n += tlvb(buf + n, 0xFF, NULL, 0);
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_FAIL, buf, n, &m, NULL), PN_OK);
    assert_int_equal(m.id, 77);
    assert_int_equal(m.code, PN_RF_DENIED);
    assert_string_equal(m.reason, "no");
    /* Known TLVs a frame type does not carry are checked but not kept. */
    n = route_id(buf, 78);
    n += tlvb(buf + n, 1, "\x03", 1);
    n += tlvb(buf + n, 2, "\x01\x02", 2);
    n += tlvb(buf + n, 3, "h.test", 6);
    n += tlvb(buf + n, 4, "g", 1);
    n += tlvb(buf + n, 5, "k", 1);
    n += tlvb(buf + n, 6, "\x00", 1);
    n += tlvb(buf + n, 7, "\x00\x05", 2);
    n += tlvb(buf + n, 8, "why", 3);
    for (uint8_t t = PN_FT_ROUTE_ADD; t <= PN_FT_ROUTE_STATE; t++) {
        memset(&m, 0x5A, sizeof(m));
        assert_int_equal(pn_frame_route_decode(t, buf, n, &m, NULL), PN_OK);
        assert_int_equal(m.id, 78);
        int add = t == PN_FT_ROUTE_ADD, ok = t == PN_FT_ROUTE_OK, fl = t == PN_FT_ROUTE_FAIL;
        assert_int_equal(m.type, add ? 3 : 0);
        assert_int_equal(m.port, add || ok ? 0x0102 : 0);
        assert_string_equal(m.host, add || ok ? "h.test" : "");
        assert_string_equal(m.group, add ? "g" : "");
        assert_string_equal(m.group_key, add ? "k" : "");
        assert_int_equal(m.online, add || t == PN_FT_ROUTE_STATE ? 0 : 1);
        assert_int_equal(m.code, fl ? 5 : 0);
        assert_string_equal(m.reason, fl ? "why" : "");
    }
}

/* Decode a ROUTE_FAIL whose REASON bytes are <raw> and compare the sanitised text. */
static void
check_route_reason(const char *raw, size_t rawlen, const char *want)
{
    uint8_t buf[300];
    size_t n = route_id(buf, 3);
    n += tlvb(buf + n, 7, "\x00\x01", 2);
    n += tlvb(buf + n, 8, raw, (uint16_t)rawlen);
    pn_frame_route_t m;
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_FAIL, buf, n, &m, NULL), PN_OK);
    assert_string_equal(m.reason, want);
}

static void
test_route_reason_sanitising(void **state)
{
    check_route_reason("", 0, "");
    check_route_reason("port 10022 is taken", 19, "port 10022 is taken");
    check_route_reason("line\nforged", 11, "line?forged");
    check_route_reason("\x1b[31mred\x7f", 9, "?[31mred?");
    check_route_reason("c1\xc2\x85x", 5, "c1?x");                       /* NEL */
    check_route_reason("\xe2\x80\xae|\xe2\x81\xa6", 7, "?|?");          /* RLO, LRI */
    check_route_reason("\xff\xc0\xaf\xed\xa0\x80", 6, "??????");        /* invalid UTF-8 */
    check_route_reason("x\xe2\x82", 3, "x??");                          /* cut short */
    check_route_reason("caf\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80", 13,
                       "caf\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80");     /* valid text kept */
    /* 256 bytes of text is the most. */
    char big[256];
    memset(big, 'q', sizeof(big));
    uint8_t buf[300];
    size_t n = route_id(buf, 3);
    n += tlvb(buf + n, 7, "\x00\x01", 2);
    n += tlvb(buf + n, 8, big, sizeof(big));
    pn_frame_route_t m;
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_FAIL, buf, n, &m, NULL), PN_OK);
    assert_int_equal(strlen(m.reason), 256);
}

static void
test_route_in_frame(void **state)
{
    uint8_t buf[128];
    pn_frame_route_t m = { .id = 7, .online = 0 }, out;
    size_t plen = pn_frame_route_encode(PN_FT_ROUTE_STATE, &m, buf + PN_FRAME_HDR,
                                  sizeof(buf) - PN_FRAME_HDR);
    assert_int_equal(plen, 8);
    size_t n = pn_frame_encode(buf, sizeof(buf), PN_FT_ROUTE_STATE, 0, 0, buf + PN_FRAME_HDR,
                               plen);
    static const uint8_t want[] = {
        0x01, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 7, 0x06, 0x00, 0x01, 0x00,
    };
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    pn_frame_t f;
    decode_one(buf, n, &f);
    assert_int_equal(pn_frame_check(&f, NULL), PN_OK);
    assert_int_equal(pn_frame_route_decode(f.type, f.payload, f.len, &out, NULL), PN_OK);
    assert_int_equal(out.id, 7);
    assert_int_equal(out.online, 0);
}

/* TCP/UDP signals of a hub: the ROUTE TLV. */
static void
test_signal_route(void **state)
{
    uint8_t buf[128];
    pn_sig_addr_t src = { .family = 4, .ip = { 192, 0, 2, 7 }, .port = 54321 }, s2, d2;
    const uint8_t *id = NULL;
    uint32_t route = 99;
    const char *why = NULL;

    /* ROUTE alone, after the id. */
    size_t n = pn_signal_encode_route(id_a, NULL, NULL, 0x0A0B0C0D, buf, sizeof(buf));
    assert_int_equal(n, PN_CONN_ID_LEN + 7);
    static const uint8_t tail[] = { 0x03, 0x00, 0x04, 0x0A, 0x0B, 0x0C, 0x0D };
    assert_memory_equal(buf + PN_CONN_ID_LEN, tail, sizeof(tail));
    assert_int_equal(pn_signal_decode_route(buf, n, &id, &s2, &d2, &route, &why), PN_OK);
    assert_ptr_equal(id, buf);
    assert_int_equal(route, 0x0A0B0C0D);
    assert_int_equal(s2.family, 0);
    assert_int_equal(d2.family, 0);
    /* With the addresses: ROUTE comes last; NULL outputs are fine. */
    n = pn_signal_encode_route(id_a, &src, NULL, 1, buf, sizeof(buf));
    assert_int_equal(n, PN_CONN_ID_LEN + 10 + 7);
    assert_int_equal(buf[PN_CONN_ID_LEN + 10], PN_ST_ROUTE);
    assert_int_equal(pn_signal_decode_route(buf, n, &id, &s2, NULL, &route, &why), PN_OK);
    assert_int_equal(route, 1);
    assert_int_equal(s2.family, 4);
    assert_int_equal(s2.port, 54321);
    assert_int_equal(pn_signal_decode_route(buf, n, &id, NULL, NULL, &route, &why), PN_OK);
    /* Capacity: the ROUTE TLV must fit whole. */
    for (size_t cap = PN_CONN_ID_LEN + 10; cap < n; cap++)
        assert_int_equal(pn_signal_encode_route(id_a, &src, NULL, 1, buf, cap), 0);
    assert_int_equal(pn_signal_encode_route(id_a, &src, NULL, 1, buf, n), n);
    /* Route 0 = absent: the bytes of pn_signal_encode_addrs. */
    uint8_t other[128];
    n = pn_signal_encode_route(id_a, &src, &src, 0, buf, sizeof(buf));
    assert_int_equal(pn_signal_encode_addrs(id_a, &src, &src, other, sizeof(other)), n);
    assert_memory_equal(buf, other, n);
    assert_int_equal(pn_signal_decode_route(buf, n, &id, &s2, &d2, &route, &why), PN_OK);
    assert_int_equal(route, 0);
    assert_int_equal(d2.family, 4);

    /* Malformed ROUTE TLVs: wrong size, 0, repeated. */
    static const struct { uint16_t len; uint32_t v; } bad[] = {
        { 0, 0 }, { 1, 1 }, { 3, 0 }, { 5, 0 }, { 8, 0 }, { 4, 0 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(buf, id_a, PN_CONN_ID_LEN);
        n = PN_CONN_ID_LEN + tlv(buf + PN_CONN_ID_LEN, PN_ST_ROUTE, bad[i].len, bad[i].v);
        id = NULL;
        why = NULL;
        assert_int_equal(pn_signal_decode_route(buf, n, &id, NULL, NULL, &route, &why), PN_ERR);
        assert_string_equal(why, "signal has a malformed ROUTE TLV");
        assert_null(id);
        /* The tunnel's decoders skip it, as before the hub. */
        assert_int_equal(pn_signal_decode_addrs(buf, n, &id, &s2, &d2, NULL), PN_OK);
        assert_int_equal(pn_signal_decode(buf, n, &id, NULL), PN_OK);
        assert_int_equal(pn_signal_decode_route(buf, n, &id, NULL, NULL, NULL, NULL), PN_OK);
    }
    n = pn_signal_encode_route(id_a, NULL, NULL, 5, buf, sizeof(buf));
    n += tlv(buf + n, 0x44, 0, 0);
    n += tlv(buf + n, PN_ST_ROUTE, 4, 5);
    why = NULL;
    assert_int_equal(pn_signal_decode_route(buf, n, &id, NULL, NULL, &route, &why), PN_ERR);
    assert_string_equal(why, "signal repeats the ROUTE TLV");
    assert_int_equal(pn_signal_decode_addrs(buf, n, &id, NULL, NULL, NULL), PN_OK);
    /* The other errors are those of pn_signal_decode_addrs. */
    assert_int_equal(pn_signal_decode_route(buf, 15, &id, NULL, NULL, &route, &why), PN_ERR);
    assert_string_equal(why, "signal shorter than a connection id");
    assert_int_equal(pn_signal_decode_route(buf, n - 1, &id, NULL, NULL, &route, &why), PN_ERR);
    assert_string_equal(why, "signal has a truncated TLV");
    memcpy(buf, id_a, PN_CONN_ID_LEN);
    n = PN_CONN_ID_LEN + tlv(buf + PN_CONN_ID_LEN, PN_ST_DST, 4, 6);
    n += tlv(buf + n, PN_ST_ROUTE, 4, 5);
    assert_int_equal(pn_signal_decode_route(buf, n, &id, NULL, NULL, &route, &why), PN_ERR);
    assert_string_equal(why, "signal has a malformed address TLV");
    /* In a frame. */
    n = pn_signal_encode_route(id_a, NULL, NULL, 3, buf + PN_FRAME_HDR,
                               sizeof(buf) - PN_FRAME_HDR);
    n = pn_frame_encode(buf, sizeof(buf), PN_FT_TCP, 0, 0, buf + PN_FRAME_HDR, n);
    pn_frame_t f;
    decode_one(buf, n, &f);
    assert_int_equal(pn_frame_check(&f, NULL), PN_OK);
    assert_int_equal(pn_signal_decode_route(f.payload, f.len, &id, NULL, NULL, &route, NULL),
                     PN_OK);
    assert_int_equal(route, 3);
    assert_memory_equal(id, id_a, PN_CONN_ID_LEN);
}

/* ---- preamble ---- */

static void
test_preamble(void **state)
{
    uint8_t p[4], kind = 0;
    const char *why = NULL;
    pn_preamble_encode(p, PN_KIND_CONTROL);
    assert_memory_equal(p, "PN\x01" "C", 4);
    assert_int_equal(pn_preamble_decode(p, &kind, &why), PN_OK);
    assert_int_equal(kind, 'C');
    pn_preamble_encode(p, PN_KIND_DATA);
    assert_memory_equal(p, "PN\x01" "D", 4);
    assert_int_equal(pn_preamble_decode(p, &kind, &why), PN_OK);
    assert_int_equal(kind, 'D');
    assert_null(why);

    static const char *bad[] = { "XN\x01" "C", "PX\x01" "C", "pn\x01" "C", "GET ",
                                 "\x16\x03\x01\x02", "PN\x01" "c", "PN\x01" "E", "PN\x01" "\0" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kind = 0;
        why = NULL;
        assert_int_equal(pn_preamble_decode((const uint8_t *)bad[i], &kind, &why), PN_ERR);
        assert_non_null(why);
        assert_ptr_not_equal(why, pn_why_version);
        assert_int_equal(kind, 0);
    }
    static const char *badver[] = { "PN\x00" "C", "PN\x02" "D", "PN\xff" "C" };
    for (size_t i = 0; i < 3; i++) {
        why = NULL;
        assert_int_equal(pn_preamble_decode((const uint8_t *)badver[i], &kind, &why), PN_ERR);
        assert_ptr_equal(why, pn_why_version);
    }
    assert_int_equal(pn_preamble_decode((const uint8_t *)"PN\x02" "C", &kind, NULL), PN_ERR);
}

/* ---- TLV walking ---- */

static void
test_tlv_next(void **state)
{
    uint8_t buf[32] = { 0 };
    size_t n = 0;
    n += tlv(buf + n, 0x09, 0, 0);
    n += tlv(buf + n, 0x0A, 4, 0x01020304);
    const uint8_t *p = buf, *val;
    uint8_t type;
    uint16_t len;

    assert_int_equal(pn_tlv_next(&p, buf + n, &type, &val, &len), PN_OK);
    assert_int_equal(type, 0x09);
    assert_int_equal(len, 0);
    assert_ptr_equal(val, buf + 3);
    assert_ptr_equal(p, buf + 3);
    assert_int_equal(pn_tlv_next(&p, buf + n, &type, &val, &len), PN_OK);
    assert_int_equal(type, 0x0A);
    assert_int_equal(len, 4);
    assert_memory_equal(val, "\x01\x02\x03\x04", 4);
    assert_ptr_equal(p, buf + n);
    assert_int_equal(pn_tlv_next(&p, buf + n, &type, &val, &len), PN_AGAIN);
    assert_ptr_equal(p, buf + n);

    /* Empty range. */
    p = buf;
    assert_int_equal(pn_tlv_next(&p, buf, &type, &val, &len), PN_AGAIN);
    /* Header cut short: 1 or 2 bytes left. */
    for (size_t left = 1; left < 3; left++) {
        p = buf + 3;
        assert_int_equal(pn_tlv_next(&p, buf + 3 + left, &type, &val, &len), PN_ERR);
        assert_ptr_equal(p, buf + 3);
    }
    /* Value cut short: 0..3 of the 4 value bytes. */
    for (size_t have = 0; have < 4; have++) {
        p = buf + 3;
        assert_int_equal(pn_tlv_next(&p, buf + 6 + have, &type, &val, &len), PN_ERR);
        assert_ptr_equal(p, buf + 3);
    }
    /* The largest length a TLV can claim, with nothing behind it. */
    uint8_t big[3] = { 0x01, 0xFF, 0xFF };
    p = big;
    assert_int_equal(pn_tlv_next(&p, big + 3, &type, &val, &len), PN_ERR);
}

/* ---- keys ---- */

static void
test_fnv1a32_vectors(void **state)
{
    assert_int_equal(pn_fnv1a32("", 0), 0x811c9dc5u);
    assert_int_equal(pn_fnv1a32(NULL, 0), 0x811c9dc5u);
    assert_int_equal(pn_fnv1a32("a", 1), 0xe40c292cu);
    assert_int_equal(pn_fnv1a32("foobar", 6), 0xbf9cf968u);
}

static void
test_default_key(void **state)
{
    char key[PN_DEFAULT_KEY_LEN + 1];
    memset(key, 'Q', sizeof(key));
    assert_int_equal(pn_default_key("10101", key), 8);
    assert_string_equal(key, "e68be2b4");
    assert_int_equal(pn_default_key("443", key), 8);
    assert_string_equal(key, "2339c1b2");
    /* FNV-1a("68") = 0x0de8d5a3: the leading zero digit is kept (hex of 4 bytes). */
    assert_int_equal(pn_default_key("68", key), 8);
    assert_string_equal(key, "0de8d5a3");
    assert_int_equal(pn_default_key("", key), 8);
    assert_string_equal(key, "811c9dc5");
    assert_int_equal(pn_default_key(NULL, key), 8);
    assert_string_equal(key, "811c9dc5");
}

/* ---- the examples of docs/protocol.md §10 ---- */

static void
test_doc_vectors(void **state)
{
    uint8_t buf[128];
    size_t n;

    pn_hello_t h = { .flow = 1, .tls = 1, .max = 1024, .proto = 3, .interval_ms = 5000 };
    static const uint8_t hello[] = {
        0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1a,
        0x01, 0x00, 0x01, 0x01, 0x02, 0x00, 0x01, 0x01, 0x03, 0x00, 0x04, 0x00, 0x00, 0x04, 0x00,
        0x04, 0x00, 0x01, 0x03, 0x05, 0x00, 0x04, 0x00, 0x00, 0x13, 0x88,
    };
    n = pn_hello_encode(&h, buf + PN_FRAME_HDR, sizeof(buf) - PN_FRAME_HDR);
    n = pn_frame_encode(buf, sizeof(buf), PN_FT_HELLO, 0, 0, buf + PN_FRAME_HDR, n);
    assert_int_equal(n, sizeof(hello));
    assert_memory_equal(buf, hello, sizeof(hello));

    static const uint8_t err[] = {
        0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x01,
        'a', 'n', 'o', 't', 'h', 'e', 'r', ' ', 'c', 'l', 'i', 'e', 'n', 't', ' ',
        'i', 's', ' ', 'a', 't', 't', 'a', 'c', 'h', 'e', 'd',
    };
    n = pn_error_encode(PN_EC_BUSY, "another client is attached", buf + PN_FRAME_HDR,
                        sizeof(buf) - PN_FRAME_HDR);
    n = pn_frame_encode(buf, sizeof(buf), PN_FT_ERROR, 0, 0, buf + PN_FRAME_HDR, n);
    assert_int_equal(n, sizeof(err));
    assert_memory_equal(buf, err, sizeof(err));

    static const uint8_t ping[] = {
        0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08,
        0x00, 0x00, 0x01, 0x8f, 0x2c, 0x1d, 0x0a, 0x40,
    };
    n = pn_frame_encode(buf, sizeof(buf), PN_FT_PING, 0, 0, ping + PN_FRAME_HDR, 8);
    assert_int_equal(n, sizeof(ping));
    assert_memory_equal(buf, ping, sizeof(ping));

    static const uint8_t tcp_hdr[] = { 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10 };
    n = pn_signal_encode(id_a, buf + PN_FRAME_HDR, sizeof(buf) - PN_FRAME_HDR);
    n = pn_frame_encode(buf, sizeof(buf), PN_FT_TCP, 0, 0, buf + PN_FRAME_HDR, n);
    assert_int_equal(n, 28);
    assert_memory_equal(buf, tcp_hdr, sizeof(tcp_hdr));
    assert_memory_equal(buf + PN_FRAME_HDR, id_a, 16);

    static const uint8_t ok[] = { 0x01, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    assert_int_equal(pn_frame_encode(buf, sizeof(buf), PN_FT_DATA_OK, 0, 0, NULL, 0), 12);
    assert_memory_equal(buf, ok, sizeof(ok));
    static const uint8_t flush[] = { 0x01, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    assert_int_equal(pn_frame_encode(buf, sizeof(buf), PN_FT_FLUSH, 0, 0, NULL, 0), 12);
    assert_memory_equal(buf, flush, sizeof(flush));

    uint8_t msg[PN_PROOF_MSG_LEN];
    static const uint8_t want_msg[] = {
        0x70, 0x6f, 0x73, 0x74, 0x65, 0x72, 0x6e, 0x2d, 0x64, 0x61, 0x74, 0x61, 0x2d, 0x76, 0x31,
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    };
    pn_proof_msg(id_a, msg);
    assert_memory_equal(msg, want_msg, sizeof(want_msg));

    /* §12: a hub's ROUTE_ADD. */
    pn_frame_route_t r = { .id = 1, .type = 3, .online = 1 };
    strcpy(r.host, "app");
    static const uint8_t add[] = {
        0x01, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12,
        0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x01, 0x03, 0x03, 0x00, 0x03, 0x61, 0x70, 0x70,
        0x06, 0x00, 0x01, 0x01,
    };
    n = pn_frame_route_encode(PN_FT_ROUTE_ADD, &r, buf + PN_FRAME_HDR, sizeof(buf) - PN_FRAME_HDR);
    n = pn_frame_encode(buf, sizeof(buf), PN_FT_ROUTE_ADD, 0, 0, buf + PN_FRAME_HDR, n);
    assert_int_equal(n, sizeof(add));
    assert_memory_equal(buf, add, sizeof(add));
}

/* ---- NULL <why> on every error path still reports the error ---- */

static void
test_null_why(void **state)
{
    uint8_t bad[PN_FRAME_HDR] = { 2 };
    pn_frame_t f = { .type = 0x42 };
    size_t used;
    pn_hello_t h;
    uint16_t code;
    char reason[PN_ERROR_REASON_MAX + 1];
    const uint8_t *id, *proof;
    uint8_t kind;
    pn_frame_route_t m;
    uint32_t route;

    assert_int_equal(pn_frame_decode(bad, sizeof(bad), &f, &used, NULL), PN_ERR);
    assert_int_equal(pn_frame_check(&f, NULL), PN_ERR);
    assert_int_equal(pn_hello_decode(bad, 1, &h, NULL), PN_ERR);
    assert_int_equal(pn_error_decode(bad, 1, &code, reason, NULL), PN_ERR);
    assert_int_equal(pn_signal_decode(bad, 1, &id, NULL), PN_ERR);
    assert_int_equal(pn_signal_decode_route(bad, 1, &id, NULL, NULL, &route, NULL), PN_ERR);
    assert_int_equal(pn_frame_route_decode(PN_FT_ROUTE_DEL, bad, 1, &m, NULL), PN_ERR);
    assert_int_equal(pn_frame_route_decode(PN_FT_PING, bad, 4, &m, NULL), PN_ERR);
    assert_int_equal(pn_data_hello_decode(bad, 1, &id, &proof, NULL), PN_ERR);
    assert_int_equal(pn_preamble_decode(bad, &kind, NULL), PN_ERR);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_header_layout_big_endian),
        cmocka_unit_test(test_partial_input),
        cmocka_unit_test(test_two_frames_back_to_back),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_reserved_byte),
        cmocka_unit_test(test_oversize_length),
        cmocka_unit_test(test_exact_max_length),
        cmocka_unit_test(test_encode_capacity),
        cmocka_unit_test(test_encode_in_place),
        cmocka_unit_test(test_frame_check_sizes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_hello_roundtrip),
        cmocka_unit_test(test_hello_session),
        cmocka_unit_test(test_hello_transport),
        cmocka_unit_test(test_hello_epoch),
        cmocka_unit_test(test_hello_wire_bytes),
        cmocka_unit_test(test_hello_encode_refuses_invalid),
        cmocka_unit_test(test_hello_missing_required),
        cmocka_unit_test(test_hello_interval_optional),
        cmocka_unit_test(test_hello_ranges),
        cmocka_unit_test(test_hello_unknown_proto_bits_dropped),
        cmocka_unit_test(test_hello_duplicate),
        cmocka_unit_test(test_hello_wrong_length),
        cmocka_unit_test(test_hello_unknown_tlv_skipped),
        cmocka_unit_test(test_hello_truncated_tlv),
        cmocka_unit_test(test_error_roundtrip),
        cmocka_unit_test(test_error_encode_truncation),
        cmocka_unit_test(test_error_decode_bounds),
        cmocka_unit_test(test_error_sanitising),
        cmocka_unit_test(test_signal),
        cmocka_unit_test(test_signal_addrs),
        cmocka_unit_test(test_signal_in_frame),
        cmocka_unit_test(test_signal_route),
        cmocka_unit_test(test_route_add),
        cmocka_unit_test(test_route_add_limits),
        cmocka_unit_test(test_route_other_types),
        cmocka_unit_test(test_route_encode_refuses),
        cmocka_unit_test(test_route_reason_cut),
        cmocka_unit_test(test_route_decode_errors),
        cmocka_unit_test(test_route_unknown_and_foreign_tlvs),
        cmocka_unit_test(test_route_http_rules),
        cmocka_unit_test(test_route_reason_sanitising),
        cmocka_unit_test(test_route_in_frame),
        cmocka_unit_test(test_data_hello),
        cmocka_unit_test(test_proof_msg_and_hex),
        cmocka_unit_test(test_preamble),
        cmocka_unit_test(test_tlv_next),
        cmocka_unit_test(test_fnv1a32_vectors),
        cmocka_unit_test(test_default_key),
        cmocka_unit_test(test_doc_vectors),
        cmocka_unit_test(test_null_why),
    };
    return cmocka_run_group_tests_name("tunnel/frame", tests, NULL, NULL);
}
