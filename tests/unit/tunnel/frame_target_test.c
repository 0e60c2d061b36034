/* tests/unit/tunnel/frame_target_test.c: the TARGET TLV of a TCP/UDP signal
 * (docs/protocol.md §5.2): round trips, bounds, malformed values, and that the
 * older decoders skip it as unknown. */
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
