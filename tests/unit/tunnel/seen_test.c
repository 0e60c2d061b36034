/* tests/unit/tunnel/seen_test.c: the replay set of data connection ids
 * (tunnel/seen.h): new ids accepted, repeats refused, keyed on an id's last 8
 * bytes, full (rotate) at TUN_SEEN_MAX ids; the window of three epochs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "../testutil.h"
#include "core/err.h"
#include "tunnel/seen.h"

/* An id: <tag> in the first 8 bytes (a hub's session tag), <rnd> in the last 8. */
static void
mkid(uint8_t id[PN_CONN_ID_LEN], uint64_t tag, uint64_t rnd)
{
    memcpy(id, &tag, 8);
    memcpy(id + PN_CONN_ID_LEN - 8, &rnd, 8);
}

static void
test_new_then_repeat(void **state)
{
    tun_seen_t s = {0};
    uint8_t a[PN_CONN_ID_LEN], b[PN_CONN_ID_LEN];
    mkid(a, 7, 1111);
    mkid(b, 7, 2222);
    assert_int_equal(tun_seen_add(&s, a), PN_OK);
    assert_int_equal(tun_seen_add(&s, b), PN_OK);
    assert_int_equal(tun_seen_add(&s, a), PN_ERR);
    assert_int_equal(tun_seen_add(&s, b), PN_ERR);
    tun_seen_clear(&s);
    /* Cleared: both are new again. */
    assert_int_equal(tun_seen_add(&s, a), PN_OK);
    assert_int_equal(tun_seen_add(&s, b), PN_OK);
    tun_seen_clear(&s);
    tun_seen_clear(&s);         /* twice is harmless */
}

static void
test_keyed_on_last_8_bytes(void **state)
{
    tun_seen_t s = {0};
    uint8_t a[PN_CONN_ID_LEN], b[PN_CONN_ID_LEN];
    /* Same tag, different random part: distinct. */
    mkid(a, 0x1122334455667788ULL, 1);
    mkid(b, 0x1122334455667788ULL, 2);
    assert_int_equal(tun_seen_add(&s, a), PN_OK);
    assert_int_equal(tun_seen_add(&s, b), PN_OK);
    /* Another tag, same random part: the same id as far as the set goes. */
    mkid(a, 0x99, 1);
    assert_int_equal(tun_seen_add(&s, a), PN_ERR);
    tun_seen_clear(&s);
}

static void
test_zero_key(void **state)
{
    /* Last 8 bytes all zero: 0 marks an empty slot inside, yet the id must
     * still be recorded and refused on repeat. */
    tun_seen_t s = {0};
    uint8_t z[PN_CONN_ID_LEN] = {0}, o[PN_CONN_ID_LEN];
    assert_int_equal(tun_seen_add(&s, z), PN_OK);
    assert_int_equal(tun_seen_add(&s, z), PN_ERR);
    mkid(o, 0, 12345);
    assert_int_equal(tun_seen_add(&s, o), PN_OK);
    assert_int_equal(tun_seen_add(&s, z), PN_ERR);
    tun_seen_clear(&s);
}

static void
test_growth_keeps_ids(void **state)
{
    /* Many ids across several table growths: each stays known. */
    tun_seen_t s = {0};
    uint8_t id[PN_CONN_ID_LEN];
    enum { N = 50000 };
    for (uint64_t i = 0; i < N; i++) {
        mkid(id, 42, tu_mix(i));
        assert_int_equal(tun_seen_add(&s, id), PN_OK);
    }
    for (uint64_t i = 0; i < N; i++) {
        mkid(id, 42, tu_mix(i));
        assert_int_equal(tun_seen_add(&s, id), PN_ERR);
    }
    tun_seen_clear(&s);
}

static void
test_full_at_max_then_rotate(void **state)
{
    tun_seen_t s = {0};
    uint8_t id[PN_CONN_ID_LEN];
    for (uint64_t i = 0; i < TUN_SEEN_MAX - 1; i++) {
        mkid(id, 1, tu_mix(i));
        if (tun_seen_add(&s, id) != PN_OK)
            fail_msg("id %llu of %u refused", (unsigned long long)i, TUN_SEEN_MAX);
    }
    /* One below the bound: repeats are still refused as repeats. */
    mkid(id, 1, tu_mix(0));
    assert_int_equal(tun_seen_add(&s, id), PN_ERR);
    mkid(id, 1, tu_mix(TUN_SEEN_MAX - 2));
    assert_int_equal(tun_seen_add(&s, id), PN_ERR);
    mkid(id, 1, tu_mix(TUN_SEEN_MAX - 1));
    assert_int_equal(tun_seen_add(&s, id), PN_OK);      /* the last one that fits */
    /* Full: a new id and a known one both say "rotate". */
    mkid(id, 1, tu_mix(TUN_SEEN_MAX));
    assert_int_equal(tun_seen_add(&s, id), PN_AGAIN);
    mkid(id, 1, tu_mix(0));
    assert_int_equal(tun_seen_add(&s, id), PN_AGAIN);
    /* The session rotates: a fresh set accepts again. */
    tun_seen_clear(&s);
    assert_int_equal(tun_seen_add(&s, id), PN_OK);
    assert_int_equal(tun_seen_add(&s, id), PN_ERR);
    tun_seen_clear(&s);
}

/* The epochs' window: an id is refused again in its epoch only; an epoch's
 * set is emptied when an epoch three later takes its slot; a full epoch
 * refuses more (PN_AGAIN) while the next one accepts. */
static void
test_window(void **state)
{
    tun_seen_win_t w = {0};
    uint8_t a[PN_CONN_ID_LEN], b[PN_CONN_ID_LEN], id[PN_CONN_ID_LEN];
    mkid(a, 3, 1);
    mkid(b, 3, 2);
    assert_int_equal(tun_seen_win_add(&w, 5, a), PN_OK);
    assert_int_equal(tun_seen_win_add(&w, 5, a), PN_ERR);
    assert_int_equal(tun_seen_win_add(&w, 6, a), PN_OK);   /* another epoch's proof */
    assert_int_equal(tun_seen_win_add(&w, 7, b), PN_OK);
    assert_int_equal(tun_seen_win_add(&w, 5, a), PN_ERR);  /* epoch 5 is still held */
    assert_int_equal(tun_seen_win_count(&w), 3);
    /* Epoch 8 takes epoch 5's slot: 5's ids are gone (its proofs no longer admitted). */
    assert_int_equal(tun_seen_win_add(&w, 8, b), PN_OK);
    assert_int_equal(tun_seen_win_count(&w), 3);
    assert_int_equal(tun_seen_win_add(&w, 8, a), PN_OK);
    assert_int_equal(tun_seen_win_add(&w, 6, a), PN_ERR);  /* 6 and 7 kept */
    assert_int_equal(tun_seen_win_add(&w, 7, b), PN_ERR);
    /* Full epoch: refused until the next, whatever the id. */
    for (uint64_t i = 0; i < TUN_SEEN_EPOCH_MAX; i++) {     /* 9 takes 6's slot */
        mkid(id, 3, tu_mix(i + 100));
        assert_int_equal(tun_seen_win_add(&w, 9, id), PN_OK);
    }
    mkid(id, 3, tu_mix(7));
    assert_int_equal(tun_seen_win_add(&w, 9, id), PN_AGAIN);
    assert_int_equal(tun_seen_win_add(&w, 10, id), PN_OK);
    /* Memory bounded: three epochs' ids (8: 2, 9: full, 10: 1). */
    assert_int_equal(tun_seen_win_count(&w), 2 + TUN_SEEN_EPOCH_MAX + 1);
    tun_seen_win_clear(&w);
    assert_int_equal(tun_seen_win_count(&w), 0);
    assert_int_equal(tun_seen_win_add(&w, 5, a), PN_OK);
    tun_seen_win_clear(&w);
    tun_seen_win_clear(&w);
}

int
main(void)
{
    alarm(20);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_then_repeat),
        cmocka_unit_test(test_keyed_on_last_8_bytes),
        cmocka_unit_test(test_zero_key),
        cmocka_unit_test(test_growth_keeps_ids),
        cmocka_unit_test(test_full_at_max_then_rotate),
        cmocka_unit_test(test_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
