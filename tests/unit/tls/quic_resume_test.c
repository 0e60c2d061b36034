/* tests/unit/tls/quic_resume_test.c: the client's reconnection cache of
 * type=1 (tls/quic_resume.c) on connections without ngtcp2 (no handshake):
 * a NEW_TOKEN is kept per server address (port included) whatever the
 * certificate check, presented by the next connection to that address only;
 * a token over 256 bytes or empty is ignored (the one kept stays); the cache
 * holds 16 servers, the least recently used forgotten first; the ticket key
 * differs with the pin, the ca, the sni and the check, never with nothing;
 * freeing the connections frees what they hold (ASan). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <string.h>

#include "core/ev.h"
#include "tls/quic_priv.h"

static ev_loop_t *loop;

/* A client connection to 127.0.0.1:<port>, its cache keys set with <o>; the
 * token it would present into <tok> (NULL: none). */
static pn_quic_conn_t *
conn_to(uint16_t port, const pn_quic_client_opts_t *o, ngtcp2_vec *tok)
{
    pn_quic_conn_t *q = pn_quic_conn_new(loop);
    struct sockaddr_in *a = (struct sockaddr_in *)&q->remote;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    q->rlen = sizeof(*a);
    ngtcp2_settings st;
    ngtcp2_settings_default(&st);
    pn_quic_resume_prepare(q, o, &st);
    *tok = st.token;
    return q;
}

static void
give_token(pn_quic_conn_t *q, const uint8_t *b, size_t n)
{
    ngtcp2_vec v = { (uint8_t *)b, n };
    assert_int_equal(pn_quic_resume_cb_token(NULL, &v, q), 0);
}

static void
test_tokens(void **state)
{
    static const uint8_t pin_a[32] = { 1 }, pin_b[32] = { 2 };
    pn_quic_client_opts_t oa = { .verify = 1, .pin = pin_a }, ob = { .verify = 1, .pin = pin_b };
    uint8_t t1[57], big[257];
    memset(t1, 0x36, sizeof(t1));
    memset(big, 0x37, sizeof(big));
    ngtcp2_vec tok;
    pn_quic_conn_t *q = conn_to(4433, &oa, &tok);
    assert_int_equal(tok.len, 0);              /* nothing kept yet */
    give_token(q, t1, sizeof(t1));
    give_token(q, big, sizeof(big));           /* too long: ignored */
    give_token(q, big, 0);                     /* empty: ignored */
    pn_quic_unref(q);
    /* the next connection to that address, another pin: the token (address only) */
    q = conn_to(4433, &ob, &tok);
    assert_int_equal(tok.len, sizeof(t1));
    assert_memory_equal(tok.base, t1, sizeof(t1));
    pn_quic_unref(q);
    /* another port: another server */
    q = conn_to(4434, &oa, &tok);
    assert_int_equal(tok.len, 0);
    pn_quic_unref(q);
}

static void
test_lru(void **state)
{
    pn_quic_client_opts_t o = { .verify = 0 };
    uint8_t t[20];
    ngtcp2_vec tok;
    for (uint16_t i = 0; i < 17; i++) {        /* 17 servers (and 4433) in a cache of 16 */
        pn_quic_conn_t *q = conn_to((uint16_t)(5000 + i), &o, &tok);
        memset(t, (int)i + 1, sizeof(t));
        give_token(q, t, sizeof(t));
        pn_quic_unref(q);
        if (i == 8) {       /* 5000 used again: 5001 the oldest (and test_tokens' 4433) */
            q = conn_to(5000, &o, &tok);
            pn_quic_unref(q);
        }
    }
    pn_quic_conn_t *q = conn_to(5000, &o, &tok);
    assert_int_equal(tok.len, sizeof(t));
    assert_int_equal(((uint8_t *)tok.base)[0], 1);
    pn_quic_unref(q);
    q = conn_to(5001, &o, &tok);               /* forgotten */
    assert_int_equal(tok.len, 0);
    pn_quic_unref(q);
    q = conn_to(5016, &o, &tok);
    assert_int_equal(tok.len, sizeof(t));
    assert_int_equal(((uint8_t *)tok.base)[0], 17);
    pn_quic_unref(q);
}

static void
test_ticket_keys(void **state)
{
    static const uint8_t pin_a[32] = { 1 }, pin_b[32] = { 2 };
    const pn_quic_client_opts_t opts[] = {
        { .verify = 0 },
        { .verify = 1, .pin = pin_a },
        { .verify = 1, .pin = pin_b },
        { .verify = 2, .ca = "/ca.pem", .sni = "a.example" },
        { .verify = 2, .ca = "/ca.pem", .sni = "b.example" },
        { .verify = 2, .ca = "/ca2.pem", .sni = "a.example" },
        { .verify = 2, .ca = NULL, .sni = "a.example" },
        { .verify = 2, .ca = "/ca.pem", .sni = NULL },
        { .verify = 2, .ca = "/ca.pema.", .sni = "example" },  /* strings end apart */
    };
    enum { N = sizeof(opts) / sizeof(opts[0]) };
    uint8_t keys[N][32], tkeys[N][32];
    static const uint8_t zero[32];
    ngtcp2_vec tok;
    for (size_t i = 0; i < N; i++) {
        pn_quic_conn_t *q = conn_to(6000, &opts[i], &tok);
        memcpy(keys[i], q->rkey, 32);
        memcpy(tkeys[i], q->tkey, 32);
        assert_memory_not_equal(keys[i], zero, 32);
        pn_quic_unref(q);
    }
    for (size_t i = 0; i < N; i++) {
        assert_memory_equal(tkeys[i], tkeys[0], 32);   /* the token's: the address only */
        assert_memory_not_equal(keys[i], tkeys[i], 32);
        for (size_t j = i + 1; j < N; j++)
            assert_memory_not_equal(keys[i], keys[j], 32);
    }
    /* the same check again: the same key */
    pn_quic_conn_t *q = conn_to(6000, &opts[1], &tok);
    assert_memory_equal(q->rkey, keys[1], 32);
    pn_quic_unref(q);
}

static int
setup(void **state)
{
    loop = ev_loop_new();
    return 0;
}

static int
teardown(void **state)
{
    ev_loop_free(loop);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_lru),
        cmocka_unit_test(test_ticket_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
