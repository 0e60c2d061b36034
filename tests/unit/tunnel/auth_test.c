/* tests/unit/tunnel/auth_test.c: a hub account's PSK and identity
 * (docs/hub.md §5), against vectors computed with Python's hmac module:
 *   hmac.new(b"postern/hub-psk/v1", token, sha256).hexdigest()
 *   "postern/hub/1/" + hmac.new(b"postern/hub-id/v1", token, sha256).hexdigest()[:32] */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tunnel/auth.h"

#include <stdio.h>
#include <string.h>

static void
hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void
test_hub_vectors(void **state)
{
    uint8_t psk[TUN_PSK_LEN];
    char id[TUN_HUB_ID_LEN + 1], h[2 * TUN_PSK_LEN + 1];
    tun_hub_psk("alice-token-0123456789", psk);
    hex(psk, sizeof(psk), h);
    assert_string_equal(h, "a107f4a59046ead1247e0e21013bf32f451e42bc0a8b48226754588191e6cc1b");
    tun_hub_identity("alice-token-0123456789", id);
    assert_string_equal(id, "postern/hub/1/7a11da4b2a5a69723143e69f5368ceb6");
    assert_int_equal(strlen(id), TUN_HUB_ID_LEN);
}

static void
test_hub_tokens_differ(void **state)
{
    uint8_t a[TUN_PSK_LEN], b[TUN_PSK_LEN], t[TUN_PSK_LEN];
    char ia[TUN_HUB_ID_LEN + 1], ib[TUN_HUB_ID_LEN + 1];
    tun_hub_psk("alice-token-0123456789", a);
    tun_hub_psk("alice-token-0123456788", b);
    assert_memory_not_equal(a, b, sizeof(a));
    tun_hub_identity("alice-token-0123456789", ia);
    tun_hub_identity("alice-token-0123456788", ib);
    assert_string_not_equal(ia, ib);
    /* The identity is not the PSK, nor the tunnel's PSK of the same string. */
    assert_true(strstr(ia, "a107f4a5") == NULL);
    tun_psk_derive("alice-token-0123456789", "7000", t);
    assert_memory_not_equal(a, t, sizeof(a));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hub_vectors),
        cmocka_unit_test(test_hub_tokens_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
