/* tests/unit/tunnel/frame_target_test.c: the TARGET TLV of a TCP/UDP signal
 * (docs/protocol.md §5.2): round trips, bounds, malformed values, and that the
 * older decoders skip it as unknown; the RESULT frame that answers it (§6.5):
 * byte layout, reading it byte by byte, bounds, malformed headers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "tunnel/frame.h"

static const uint8_t id_a[PN_CONN_ID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

static void
test_round_trip(void **state)
{
    (void)state;
    uint8_t buf[512];
    char host[PN_TARGET_HOST_MAX + 1];
    uint16_t port;
    const char *why = NULL;
    pn_sig_addr_t src = { .family = 4, .ip = { 10, 0, 0, 1 }, .port = 4000 }, s2, d2;
    size_t n = pn_signal_encode_addrs(id_a, &src, NULL, buf, sizeof(buf));
    assert_true(n > 0);
    size_t m = pn_signal_append_target(buf, sizeof(buf), n, "example.org", 443);
    assert_int_equal(m, n + PN_TLV_HDR + 2 + 11);
    assert_int_equal(buf[n], PN_ST_TARGET);
    assert_int_equal(pn_signal_decode_target(buf, m, host, &port, &why), PN_OK);
    assert_string_equal(host, "example.org");
    assert_int_equal(port, 443);
    /* The address decoders (and so an older peer) skip it. */
    const uint8_t *id;
    assert_int_equal(pn_signal_decode_addrs(buf, m, &id, &s2, &d2, &why), PN_OK);
    assert_int_equal(s2.family, 4);
    assert_int_equal(s2.port, 4000);
    /* An IPv6 literal, without brackets. */
    m = pn_signal_append_target(buf, sizeof(buf), PN_CONN_ID_LEN, "::1", 8080);
    assert_int_equal(pn_signal_decode_target(buf, m, host, &port, &why), PN_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    /* Absent: an empty host, PN_OK. */
    memcpy(buf, id_a, PN_CONN_ID_LEN);
    assert_int_equal(pn_signal_decode_target(buf, PN_CONN_ID_LEN, host, &port, &why), PN_OK);
    assert_string_equal(host, "");
    assert_int_equal(port, 0);
}

static void
test_bounds(void **state)
{
    (void)state;
    uint8_t buf[600];
    char host[PN_TARGET_HOST_MAX + 1], longest[PN_TARGET_HOST_MAX + 2];
    uint16_t port;
    const char *why;
    memcpy(buf, id_a, PN_CONN_ID_LEN);
    memset(longest, 'a', sizeof(longest) - 1);
    longest[PN_TARGET_HOST_MAX] = '\0';
    size_t m = pn_signal_append_target(buf, sizeof(buf), PN_CONN_ID_LEN, longest, 1);
    assert_int_equal(m, PN_CONN_ID_LEN + PN_TLV_HDR + 2 + PN_TARGET_HOST_MAX);
    assert_int_equal(pn_signal_decode_target(buf, m, host, &port, &why), PN_OK);
    assert_int_equal(strlen(host), PN_TARGET_HOST_MAX);
    longest[PN_TARGET_HOST_MAX] = 'a';
    longest[PN_TARGET_HOST_MAX + 1] = '\0';
    assert_int_equal(pn_signal_append_target(buf, sizeof(buf), PN_CONN_ID_LEN, longest, 1), 0);
    /* Not valid to send: empty host, port 0, a space, a control byte, short room. */
    assert_int_equal(pn_signal_append_target(buf, sizeof(buf), PN_CONN_ID_LEN, "", 1), 0);
    assert_int_equal(pn_signal_append_target(buf, sizeof(buf), PN_CONN_ID_LEN, NULL, 1), 0);
    assert_int_equal(pn_signal_append_target(buf, sizeof(buf), PN_CONN_ID_LEN, "a", 0), 0);
    assert_int_equal(pn_signal_append_target(buf, sizeof(buf), PN_CONN_ID_LEN, "a b", 1), 0);
    assert_int_equal(pn_signal_append_target(buf, sizeof(buf), PN_CONN_ID_LEN, "a\nb", 1), 0);
    assert_int_equal(pn_signal_append_target(buf, PN_CONN_ID_LEN + 5, PN_CONN_ID_LEN, "ab", 1), 0);
    assert_int_equal(pn_signal_append_target(buf, PN_CONN_ID_LEN + 7, PN_CONN_ID_LEN, "ab", 1),
                     PN_CONN_ID_LEN + 7);
}

static void
test_malformed(void **state)
{
    (void)state;
    static const struct {
        uint8_t tlv[8];
        size_t len;
        const char *why;
    } cases[] = {
        { { PN_ST_TARGET, 0, 2, 0, 80 }, 5, "signal has a malformed TARGET TLV" },        /* no host */
        { { PN_ST_TARGET, 0, 3, 0, 0, 'a' }, 6, "signal has a malformed TARGET TLV" },    /* port 0 */
        { { PN_ST_TARGET, 0, 3, 0, 80, ' ' }, 6, "signal has a malformed TARGET TLV" },   /* space */
        { { PN_ST_TARGET, 0, 3, 0, 80, 0x7F }, 6, "signal has a malformed TARGET TLV" },
        { { PN_ST_TARGET, 0, 0 }, 3, "signal has a malformed TARGET TLV" },
        { { PN_ST_TARGET, 0, 9, 0, 80, 'a' }, 6, "signal has a truncated TLV" },
        { { PN_ST_TARGET, 0 }, 2, "signal has a truncated TLV" },
    };
    uint8_t buf[64];
    char host[PN_TARGET_HOST_MAX + 1];
    uint16_t port;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        memcpy(buf, id_a, PN_CONN_ID_LEN);
        memcpy(buf + PN_CONN_ID_LEN, cases[i].tlv, cases[i].len);
        assert_int_equal(pn_signal_decode_target(buf, PN_CONN_ID_LEN + cases[i].len, host, &port, &why),
                         PN_ERR);
        assert_string_equal(why, cases[i].why);
        assert_string_equal(host, "");
    }
    /* Twice is an error; shorter than an id too. */
    const char *why = NULL;
    size_t m = pn_signal_append_target(buf, sizeof(buf), PN_CONN_ID_LEN, "a", 1);
    m = pn_signal_append_target(buf, sizeof(buf), m, "b", 2);
    assert_int_equal(pn_signal_decode_target(buf, m, host, &port, &why), PN_ERR);
    assert_string_equal(why, "signal repeats the TARGET TLV");
    assert_string_equal(host, "");      /* nothing of the first one is left */
    assert_int_equal(port, 0);
    assert_int_equal(pn_signal_decode_target(buf, PN_CONN_ID_LEN - 1, host, &port, &why), PN_ERR);
}

/* Feed <n> bytes of <in> as a reader does: never more than the decoder asks for. */
static int
read_result(const uint8_t *in, size_t n, uint8_t *code, char *reason, size_t *taken, const char **why)
{
    size_t have = 0, need = 0;
    for (;;) {
        int rc = pn_result_decode(in, have, code, reason, &need, why);
        if (rc != PN_AGAIN) {
            *taken = have;
            return rc;
        }
        assert_true(need > have && need <= PN_RESULT_MAX);
        if (have == n)
            return PN_AGAIN;
        have++;                 /* one byte at a time: the worst a stream can do */
    }
}

static void
test_result(void **state)
{
    (void)state;
    uint8_t buf[PN_RESULT_MAX + 16], code = 99;
    char reason[PN_RESULT_REASON_MAX + 1], longest[400];
    const char *why = NULL;
    size_t taken = 0;
    /* OK: 13 bytes, version 1, type 0x11, zero flags/reserved/stream, length 1, code 0. */
    static const uint8_t ok[] = { 1, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
    assert_int_equal(pn_result_encode(PN_RC_OK, NULL, buf, sizeof(buf)), sizeof(ok));
    assert_memory_equal(buf, ok, sizeof(ok));
    memcpy(buf + sizeof(ok), "relayed", 7);     /* what follows is not read */
    assert_int_equal(read_result(buf, sizeof(ok) + 7, &code, reason, &taken, &why), PN_OK);
    assert_int_equal(taken, sizeof(ok));
    assert_int_equal(code, PN_RC_OK);
    assert_string_equal(reason, "");
    /* A refusal with its reason; control bytes come out as '?'. */
    size_t n = pn_result_encode(PN_RC_REFUSED, "Connection refused\n", buf, sizeof(buf));
    assert_int_equal(n, PN_FRAME_HDR + 1 + 19);
    assert_int_equal(read_result(buf, n, &code, reason, &taken, &why), PN_OK);
    assert_int_equal(code, PN_RC_REFUSED);
    assert_string_equal(reason, "Connection refused?");
    assert_int_equal(read_result(buf, n - 1, &code, reason, &taken, &why), PN_AGAIN);
    /* The longest reason is 255 bytes; a longer one is cut, on a UTF-8 boundary. */
    memset(longest, 'x', sizeof(longest));
    longest[sizeof(longest) - 1] = '\0';
    assert_int_equal(pn_result_encode(PN_RC_TIMEOUT, longest, buf, sizeof(buf)), PN_RESULT_MAX);
    assert_int_equal(pn_result_encode(PN_RC_TIMEOUT, longest, buf, PN_RESULT_MAX - 1), 0);
    assert_int_equal(read_result(buf, PN_RESULT_MAX, &code, reason, &taken, &why), PN_OK);
    assert_int_equal(strlen(reason), PN_RESULT_REASON_MAX);
    memcpy(longest + 254, "\xc3\xa9", 2);     /* an e-acute across the cut */
    n = pn_result_encode(PN_RC_TIMEOUT, longest, buf, sizeof(buf));
    assert_int_equal(n, PN_FRAME_HDR + 1 + 254);
    /* Unknown codes pass (they are failures to the reader). */
    n = pn_result_encode(200, "later", buf, sizeof(buf));
    assert_int_equal(read_result(buf, n, &code, reason, &taken, &why), PN_OK);
    assert_int_equal(code, 200);
}

static void
test_result_malformed(void **state)
{
    (void)state;
    static const struct {
        uint8_t hdr[PN_FRAME_HDR];
        size_t bad_at;          /* the first prefix length the decoder refuses */
        const char *why;
    } cases[] = {
        { { 2, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 1, "unsupported protocol version" },
        { { 1, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 2,
          "the data connection did not start with a RESULT frame" },
        { { 1, 0x11, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1 }, 4, "reserved header byte is not zero" },
        { { 1, 0x11, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1 }, 12, "RESULT has a non-zero stream id" },
        { { 1, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 12, "RESULT payload is not 1..256 bytes" },
        { { 1, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1 }, 12, "RESULT payload is not 1..256 bytes" },
        { { 1, 0x11, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 1 }, 12, "RESULT payload is not 1..256 bytes" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t code;
        char reason[PN_RESULT_REASON_MAX + 1];
        size_t taken = 0;
        const char *why = NULL;
        assert_int_equal(read_result(cases[i].hdr, PN_FRAME_HDR, &code, reason, &taken, &why),
                         PN_ERR);
        assert_int_equal(taken, cases[i].bad_at);
        assert_string_equal(why, cases[i].why);
    }
    /* Flags are ignored; a payload of 256 bytes is the most. */
    uint8_t f[PN_RESULT_MAX] = { 1, 0x11, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0, 4 };
    memset(f + PN_FRAME_HDR + 1, 'a', PN_RESULT_REASON_MAX);
    uint8_t code;
    char reason[PN_RESULT_REASON_MAX + 1];
    size_t taken;
    const char *why = NULL;
    assert_int_equal(read_result(f, sizeof(f), &code, reason, &taken, &why), PN_OK);
    assert_int_equal(code, PN_RC_REFUSED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_result),
        cmocka_unit_test(test_result_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
