/* tests/unit/tunnel/session_test.c: the tunnel session (tunnel/session.h):
 * the asynchronous take of a data channel and its cancel, the take by id and
 * the health counts, the pool as a data channel (tunnel/dchan.h), and the
 * session's own frames (FLUSH, VERIFY, ERROR, others to the owner) and
 * DATA_HELLO admission, over socketpairs and a real loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/ev.h"
#include "net/sock.h"
#include "tunnel/auth.h"
#include "tunnel/dchan.h"
#include "tunnel/session.h"

#define MAXCH 8

/* ---- helpers ---- */

struct fix {
    ev_loop_t *loop;
    tun_sess_t s;
    int peer[MAXCH];            /* the far ends of the channels made */
    int nch;
    int ctrl_peer;              /* the far end of the control channel, or -1 */
    /* what the callbacks saw */
    int takes_done;
    pn_xprt_t *got[MAXCH];
    uint8_t got_id[MAXCH][PN_CONN_ID_LEN];
    int ended;
    char why[128];
    int frames;
    uint8_t last_type;
    int frame_rc;
};

static int
on_frame(tun_sess_t *s, const pn_frame_t *f, void *ctx)
{
    struct fix *fx = ctx;
    fx->frames++;
    fx->last_type = f->type;
    return fx->frame_rc;
}

static void
on_ended(tun_sess_t *s, const char *why, void *ctx)
{
    struct fix *fx = ctx;
    fx->ended++;
    snprintf(fx->why, sizeof(fx->why), "%s", why);
    tun_sess_detach(s);
}

static void
on_take(pn_xprt_t *x, const uint8_t *id, void *arg)
{
    struct fix *fx = arg;
    int i = fx->takes_done++;
    assert_true(i < MAXCH);
    fx->got[i] = x;
    if (id != NULL)
        memcpy(fx->got_id[i], id, PN_CONN_ID_LEN);
}

static int
fix_setup(void **state)
{
    struct fix *fx = calloc(1, sizeof(*fx));
    fx->loop = ev_loop_new();
    fx->ctrl_peer = -1;
    fx->frame_rc = PN_OK;
    tun_sess_opts_t o = {
        .who = "test", .peer = "client", .accepting = 1, .tls = 0,
        .interval_ms = 10000, .wait_ms = 30, .max = 16,
    };
    tun_sess_hooks_t h = { .ctx = fx, .frame = on_frame, .ended = on_ended };
    tun_sess_init(&fx->s, fx->loop, &o, &h);
    pn_links_init(&fx->s.links, fx->loop, NULL, "test");
    *state = fx;
    return 0;
}

static int
fix_teardown(void **state)
{
    struct fix *fx = *state;
    tun_sess_clear(&fx->s);
    for (int i = 0; i < MAXCH; i++)
        pn_xprt_free(fx->got[i]);
    for (int i = 0; i < fx->nch; i++)
        if (fx->peer[i] != -1)
            close(fx->peer[i]);
    if (fx->ctrl_peer != -1)
        close(fx->ctrl_peer);
    ev_loop_free(fx->loop);
    free(fx);
    return 0;
}

/* A detached session made ready with an empty pool, as on the dialing end. */
static void
ready_pool(struct fix *fx)
{
    fx->s.dchan = tun_dchan_pool_new(fx->loop);
    fx->s.ready = 1;
}

/* One end of a new socketpair (non-blocking, as accepted sockets are) as a
 * transport; the other end is kept. */
static pn_xprt_t *
chan(struct fix *fx)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_true(fx->nch < MAXCH);
    fx->peer[fx->nch++] = sv[1];
    pn_xprt_t *x = pn_raw_xprt_new(sv[0]);
    assert_non_null(x);
    return x;
}

static void
mkid(uint8_t id[PN_CONN_ID_LEN], uint8_t v)
{
    memset(id, v, PN_CONN_ID_LEN);
}

static long
on_stop(ev_timer_t *t, void *arg)
{
    ev_loop_stop(arg);
    return EV_TIMER_STOP;
}

/* Run the loop for about <ms>. */
static void
spin(struct fix *fx, uint64_t ms)
{
    ev_timer_t *t = ev_timer_new(fx->loop, on_stop, fx->loop);
    ev_timer_arm(t, ms);
    ev_loop_run(fx->loop);
    ev_timer_free(t);
}

/* Attach a control channel over a socketpair, keyed with <secret>. */
static void
attach(struct fix *fx, const uint8_t *secret)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    fx->ctrl_peer = sv[1];
    tun_sess_attach_keyed(&fx->s, pn_raw_xprt_new(sv[0]), secret);
    fx->s.ready = 1;
}

static void
peer_send(struct fix *fx, uint8_t type, const void *p, size_t len)
{
    uint8_t buf[PN_FRAME_HDR + 512];
    size_t n = pn_frame_encode(buf, sizeof(buf), type, 0, 0, p, len);
    assert_true(n > 0);
    assert_int_equal(write(fx->ctrl_peer, buf, n), (ssize_t)n);
}

/* Read what the session sent to the peer (after a spin) and find the first
 * frame of <type> other than PING; copy its payload into <out>. */
static int
peer_find(struct fix *fx, uint8_t type, uint8_t *out, size_t cap, size_t *outlen)
{
    static uint8_t buf[65536];
    ssize_t n = read(fx->ctrl_peer, buf, sizeof(buf));
    size_t off = 0;
    if (n <= 0)
        return 0;
    while (off < (size_t)n) {
        pn_frame_t f;
        size_t used;
        const char *why;
        if (pn_frame_decode(buf + off, (size_t)n - off, &f, &used, &why) != PN_OK)
            return 0;
        off += used;
        if (f.type == type) {
            if (out != NULL) {
                assert_true(f.len <= cap);
                memcpy(out, f.payload, f.len);
                *outlen = f.len;
            }
            return 1;
        }
    }
    return 0;
}

/* The session sent the peer an ERROR with <code>; its reason into <reason>. */
static void
expect_error(struct fix *fx, uint16_t code, char reason[PN_ERROR_REASON_MAX + 1])
{
    uint8_t p[300];
    size_t n = 0;
    uint16_t got;
    const char *why;
    assert_true(peer_find(fx, PN_FT_ERROR, p, sizeof(p), &n));
    assert_int_equal(pn_error_decode(p, n, &got, reason, &why), PN_OK);
    assert_int_equal(got, code);
}

/* ---- the take ---- */

static void
test_take_now(void **state)
{
    struct fix *fx = *state;
    uint8_t id[PN_CONN_ID_LEN];
    ready_pool(fx);
    mkid(id, 0xA1);
    tun_sess_put(&fx->s, chan(fx), id);
    assert_int_equal(tun_sess_idle(&fx->s), 1);
    assert_null(tun_sess_take(&fx->s, on_take, fx));
    assert_int_equal(fx->takes_done, 1);
    assert_non_null(fx->got[0]);
    assert_memory_equal(fx->got_id[0], id, PN_CONN_ID_LEN);
    assert_int_equal(fx->s.takes, 1);
    assert_int_equal(tun_sess_idle(&fx->s), 0);
}

static void
test_take_waits_for_put(void **state)
{
    struct fix *fx = *state;
    uint8_t a[PN_CONN_ID_LEN], b[PN_CONN_ID_LEN];
    ready_pool(fx);
    mkid(a, 1);
    mkid(b, 2);
    assert_non_null(tun_sess_take(&fx->s, on_take, fx));
    assert_non_null(tun_sess_take(&fx->s, on_take, fx));
    assert_int_equal(fx->takes_done, 0);
    assert_int_equal(fx->s.nwaiting, 2);
    /* Oldest first; nothing reaches the pool while takes wait. */
    tun_sess_put(&fx->s, chan(fx), a);
    assert_int_equal(fx->takes_done, 1);
    assert_memory_equal(fx->got_id[0], a, PN_CONN_ID_LEN);
    tun_sess_put(&fx->s, chan(fx), b);
    assert_int_equal(fx->takes_done, 2);
    assert_memory_equal(fx->got_id[1], b, PN_CONN_ID_LEN);
    assert_int_equal(tun_sess_idle(&fx->s), 0);
    assert_int_equal(fx->s.nwaiting, 0);
}

static void
test_take_cancel(void **state)
{
    struct fix *fx = *state;
    uint8_t id[PN_CONN_ID_LEN];
    ready_pool(fx);
    mkid(id, 3);
    tun_take_t *t = tun_sess_take(&fx->s, on_take, fx);
    assert_non_null(t);
    tun_take_cancel(t);
    tun_take_cancel(NULL);
    assert_int_equal(fx->s.nwaiting, 0);
    tun_sess_put(&fx->s, chan(fx), id);
    assert_int_equal(fx->takes_done, 0);
    assert_int_equal(tun_sess_idle(&fx->s), 1);
    /* The cancelled take's deadline never fires either. */
    spin(fx, 60);
    assert_int_equal(fx->takes_done, 0);
}

static void
test_take_deadline(void **state)
{
    struct fix *fx = *state;
    ready_pool(fx);
    assert_non_null(tun_sess_take(&fx->s, on_take, fx));
    spin(fx, 10);
    assert_int_equal(fx->takes_done, 0);
    spin(fx, 80);
    assert_int_equal(fx->takes_done, 1);
    assert_null(fx->got[0]);
    assert_int_equal(fx->s.nwaiting, 0);
}

static void
test_take_waits_while_not_ready(void **state)
{
    struct fix *fx = *state;
    uint8_t id[PN_CONN_ID_LEN];
    ready_pool(fx);
    mkid(id, 4);
    tun_dchan_put(fx->s.dchan, id, chan(fx));
    fx->s.ready = 0;
    assert_non_null(tun_sess_take(&fx->s, on_take, fx));
    assert_int_equal(fx->takes_done, 0);
    assert_int_equal(tun_sess_idle(&fx->s), 1);
}

static void
test_clear_fails_waiting_takes(void **state)
{
    struct fix *fx = *state;
    assert_non_null(tun_sess_take(&fx->s, on_take, fx));
    assert_non_null(tun_sess_take(&fx->s, on_take, fx));
    /* Detach keeps them (a next control channel may serve them) ... */
    tun_sess_detach(&fx->s);
    assert_int_equal(fx->takes_done, 0);
    /* ... clear ends them, with no channel. */
    tun_sess_clear(&fx->s);
    assert_int_equal(fx->takes_done, 2);
    assert_null(fx->got[0]);
    assert_null(fx->got[1]);
}

static void
test_put_detached_closes(void **state)
{
    struct fix *fx = *state;
    uint8_t id[PN_CONN_ID_LEN], c;
    mkid(id, 5);
    tun_sess_put(&fx->s, chan(fx), id);
    assert_int_equal(read(fx->peer[0], &c, 1), 0);     /* EOF: closed */
}

static void
test_take_id_and_check(void **state)
{
    struct fix *fx = *state;
    uint8_t a[PN_CONN_ID_LEN], b[PN_CONN_ID_LEN], c[PN_CONN_ID_LEN];
    ready_pool(fx);
    mkid(a, 6);
    mkid(b, 7);
    mkid(c, 8);
    tun_sess_put(&fx->s, chan(fx), a);
    tun_sess_put(&fx->s, chan(fx), b);
    pn_xprt_t *x = tun_sess_take_id(&fx->s, b);
    assert_non_null(x);
    pn_xprt_free(x);
    assert_null(tun_sess_take_id(&fx->s, c));
    assert_int_equal(fx->s.takes, 2);
    assert_int_equal(fx->s.fails, 1);
    assert_int_equal(fx->s.takes_total, 1);
    tun_sess_check(&fx->s);     /* detached: counts reset, nothing flushed */
    assert_int_equal(fx->s.takes, 0);
    assert_int_equal(fx->s.fails, 0);
    assert_int_equal(tun_sess_idle(&fx->s), 1);
}

/* ---- the pool as a data channel ---- */

static void
test_pool_order_want_trim(void **state)
{
    struct fix *fx = *state;
    tun_dchan_t *d = tun_dchan_pool_new(fx->loop);
    uint8_t id[PN_CONN_ID_LEN], got[PN_CONN_ID_LEN];
    assert_string_equal(d->ops->name, "pool");
    for (uint8_t i = 1; i <= 3; i++) {
        mkid(id, i);
        tun_dchan_put(d, id, chan(fx));
    }
    assert_int_equal(tun_dchan_idle(d), 3);
    assert_int_equal(tun_dchan_want(d, 5), 2);
    assert_int_equal(tun_dchan_want(d, 2), 0);
    pn_xprt_t *x = tun_dchan_take(d, got);      /* oldest first */
    mkid(id, 1);
    assert_memory_equal(got, id, PN_CONN_ID_LEN);
    pn_xprt_free(x);
    tun_dchan_trim(d, 1);                       /* closes the oldest: 2 */
    assert_int_equal(tun_dchan_idle(d), 1);
    mkid(id, 2);
    assert_null(tun_dchan_take_id(d, id));
    mkid(id, 3);
    x = tun_dchan_take_id(d, id);
    assert_non_null(x);
    pn_xprt_free(x);
    assert_null(tun_dchan_take(d, got));
    tun_dchan_free(d);
    assert_null(d);
}

static void
test_pool_drops_closed_and_free_closes(void **state)
{
    struct fix *fx = *state;
    tun_dchan_t *d = tun_dchan_pool_new(fx->loop);
    uint8_t id[PN_CONN_ID_LEN], c;
    mkid(id, 1);
    tun_dchan_put(d, id, chan(fx));
    mkid(id, 2);
    tun_dchan_put(d, id, chan(fx));
    close(fx->peer[0]);                         /* the peer closes an idle one */
    fx->peer[0] = -1;
    spin(fx, 50);
    assert_int_equal(tun_dchan_idle(d), 1);
    tun_dchan_free(d);                          /* close all */
    assert_int_equal(read(fx->peer[1], &c, 1), 0);
}

/* ---- frames and admission ---- */

static const uint8_t SECRET[PN_DATA_SECRET_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static void
test_flush_trims(void **state)
{
    struct fix *fx = *state;
    uint8_t id[PN_CONN_ID_LEN];
    attach(fx, SECRET);
    mkid(id, 1);
    tun_sess_put(&fx->s, chan(fx), id);
    mkid(id, 2);
    tun_sess_put(&fx->s, chan(fx), id);
    assert_int_equal(tun_sess_idle(&fx->s), 2);
    peer_send(fx, PN_FT_FLUSH, NULL, 0);
    spin(fx, 50);
    assert_int_equal(tun_sess_idle(&fx->s), 0);
    assert_int_equal(fx->ended, 0);
    assert_int_equal(fx->frames, 0);
}

/* A peer that says SHUTDOWN stopped normally: the session ends with that, not
 * "error from the client". */
static void
test_shutdown_is_a_normal_end(void **state)
{
    struct fix *fx = *state;
    uint8_t p[64];
    attach(fx, SECRET);
    peer_send(fx, PN_FT_ERROR, p, pn_error_encode(PN_EC_SHUTDOWN, "bye", p, sizeof(p)));
    spin(fx, 50);
    assert_int_equal(fx->ended, 1);
    assert_string_equal(fx->why, "the client stopped");
}

static void
test_error_ends(void **state)
{
    struct fix *fx = *state;
    uint8_t p[64];
    attach(fx, SECRET);
    peer_send(fx, PN_FT_ERROR, p, pn_error_encode(PN_EC_BUSY, "busy", p, sizeof(p)));
    spin(fx, 50);
    assert_int_equal(fx->ended, 1);
    assert_string_equal(fx->why, "error from the client");
    assert_null(fx->s.ctrl);
}

static uint8_t FP[PN_TLS_FP_LEN], OTHER[PN_TLS_FP_LEN];

/* An accepting session of tls=1 whose data certificate's fingerprint is FP. */
static void
attach_tls1(struct fix *fx)
{
    memset(FP, 0xAA, sizeof(FP));
    memset(OTHER, 0xBB, sizeof(OTHER));
    fx->s.o.tls = 1;
    fx->s.o.fp = FP;
    attach(fx, SECRET);
}

static void
test_verify(void **state)
{
    struct fix *fx = *state;
    const uint8_t *fp = FP, *other = OTHER;
    char reason[PN_ERROR_REASON_MAX + 1];
    attach_tls1(fx);
    peer_send(fx, PN_FT_VERIFY, fp, PN_TLS_FP_LEN);     /* the same: fine */
    spin(fx, 30);
    assert_int_equal(fx->ended, 0);
    assert_int_equal(fx->s.verified, 1);
    peer_send(fx, PN_FT_VERIFY, other, PN_TLS_FP_LEN);  /* twice: a protocol error */
    spin(fx, 50);
    expect_error(fx, PN_EC_PROTOCOL, reason);
    assert_int_equal(fx->ended, 1);
}

static void
test_verify_mismatch(void **state)
{
    struct fix *fx = *state;
    char reason[PN_ERROR_REASON_MAX + 1];
    attach_tls1(fx);
    peer_send(fx, PN_FT_VERIFY, OTHER, PN_TLS_FP_LEN);
    spin(fx, 50);
    expect_error(fx, PN_EC_VERIFY_FAILED, reason);
    assert_int_equal(fx->ended, 1);
}

static void
test_other_frames_to_owner(void **state)
{
    struct fix *fx = *state;
    uint8_t id[PN_CONN_ID_LEN];
    char reason[PN_ERROR_REASON_MAX + 1];
    attach(fx, SECRET);
    mkid(id, 9);
    peer_send(fx, PN_FT_TCP, id, sizeof(id));
    spin(fx, 30);
    assert_int_equal(fx->frames, 1);
    assert_int_equal(fx->last_type, PN_FT_TCP);
    assert_int_equal(fx->ended, 0);
    fx->frame_rc = PN_ERR;      /* the owner does not know it: unexpected */
    peer_send(fx, PN_FT_TCP, id, sizeof(id));
    spin(fx, 50);
    assert_int_equal(fx->frames, 2);
    expect_error(fx, PN_EC_PROTOCOL, reason);
    assert_string_equal(reason, "unexpected frame");
    assert_int_equal(fx->ended, 1);
}

static void
test_admit(void **state)
{
    struct fix *fx = *state;
    uint8_t id[PN_CONN_ID_LEN], proof[PN_PROOF_LEN];
    mkid(id, 0x42);
    tun_proof(SECRET, id, proof);
    assert_false(tun_sess_admit(&fx->s, id, proof));    /* detached: nothing is admitted */
    attach(fx, SECRET);
    assert_true(tun_sess_admit(&fx->s, id, proof));
    assert_false(tun_sess_admit(&fx->s, id, proof));    /* a replay */
    mkid(id, 0x43);
    assert_false(tun_sess_admit(&fx->s, id, proof));    /* the proof of another id */
}

/* HELLO EPOCH: proofs good in the epoch next to ours only, once each; once
 * the peer proved in an epoch, a proof without one is refused. */
static void
test_admit_epochs(void **state)
{
    struct fix *fx = *state;
    uint8_t id[PN_CONN_ID_LEN], proof[PN_PROOF_LEN];
    attach(fx, SECRET);
    fx->s.epoch_s = 30;
    fx->s.hello_ms = pn_now_ms() - 95000;       /* epoch 3 */
    mkid(id, 0x50);
    tun_proof(SECRET, id, proof);
    assert_true(tun_sess_admit(&fx->s, id, proof));     /* a client that ignores EPOCH */
    static const struct { uint32_t epoch; int ok; } cases[] = {
        { 3, 1 }, { 2, 1 }, { 4, 1 }, { 1, 0 }, { 5, 0 }, { 0, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mkid(id, 0x60 + (uint8_t)i);
        tun_proof_at(SECRET, id, cases[i].epoch, proof);
        assert_int_equal(tun_sess_admit(&fx->s, id, proof), cases[i].ok);
        if (cases[i].ok)
            assert_false(tun_sess_admit(&fx->s, id, proof));    /* a replay */
    }
    mkid(id, 0x70);
    tun_proof(SECRET, id, proof);
    assert_false(tun_sess_admit(&fx->s, id, proof));    /* no proof without epoch now */
    /* The dialing end's proof is in its current epoch. */
    mkid(id, 0x71);
    tun_sess_proof(&fx->s, id, proof);
    assert_true(tun_sess_admit(&fx->s, id, proof));
}

static void
test_hello_and_signal(void **state)
{
    struct fix *fx = *state;
    const uint8_t *fp = FP;
    uint8_t id[PN_CONN_ID_LEN];
    const uint8_t *gid;
    const char *why;
    pn_sig_addr_t ss, sd;
    pn_addr_t src, dst, back;
    uint32_t route;
    attach_tls1(fx);
    pn_hello_t h = { .flow = PN_FLOW_REVERSE, .tls = 1, .proto = PN_PROTO_TCP, .max = 8,
                     .interval_ms = 10000 };
    tun_sess_hello(&fx->s, &h);
    assert_int_equal(pn_addr_parse_ip("127.0.0.1", &src), PN_OK);
    pn_addr_set_port(&src, 4000);
    assert_int_equal(pn_addr_parse_ip("::1", &dst), PN_OK);
    pn_addr_set_port(&dst, 80);
    mkid(id, 0x55);
    assert_int_equal(tun_sess_signal(&fx->s, PN_FT_TCP, id, &src, &dst, 7), PN_OK);
    spin(fx, 30);
    static uint8_t buf[4096];
    ssize_t got = read(fx->ctrl_peer, buf, sizeof(buf));
    assert_true(got > 0);
    size_t off = 0;
    int seen_hello = 0, seen_verify = 0, seen_tcp = 0;
    while (off < (size_t)got) {
        pn_frame_t f;
        size_t used;
        assert_int_equal(pn_frame_decode(buf + off, (size_t)got - off, &f, &used, &why), PN_OK);
        off += used;
        if (f.type == PN_FT_HELLO) {
            pn_hello_t hh;
            assert_int_equal(pn_hello_decode(f.payload, f.len, &hh, &why), PN_OK);
            assert_int_equal(hh.max, 8);
            seen_hello = 1;
        } else if (f.type == PN_FT_VERIFY) {
            assert_int_equal(f.len, PN_TLS_FP_LEN);
            assert_memory_equal(f.payload, fp, PN_TLS_FP_LEN);
            seen_verify = seen_hello;
        } else if (f.type == PN_FT_TCP) {
            assert_int_equal(pn_signal_decode_route(f.payload, f.len, &gid, &ss, &sd, &route, &why),
                             PN_OK);
            assert_memory_equal(gid, id, PN_CONN_ID_LEN);
            assert_int_equal(route, 7);
            tun_sig_to_addr(&ss, &back);
            assert_true(pn_addr_equal(&back, &src));
            tun_sig_to_addr(&sd, &back);
            assert_true(pn_addr_equal(&back, &dst));
            seen_tcp = 1;
        }
    }
    assert_true(seen_hello && seen_verify && seen_tcp);
    tun_sess_detach(&fx->s);
    assert_int_equal(tun_sess_signal(&fx->s, PN_FT_TCP, id, NULL, NULL, 0), PN_ERR);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fix_setup, fix_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_take_now),
        T(test_take_waits_for_put),
        T(test_take_cancel),
        T(test_take_deadline),
        T(test_take_waits_while_not_ready),
        T(test_clear_fails_waiting_takes),
        T(test_put_detached_closes),
        T(test_take_id_and_check),
        T(test_pool_order_want_trim),
        T(test_pool_drops_closed_and_free_closes),
        T(test_flush_trims),
        T(test_error_ends),
        T(test_shutdown_is_a_normal_end),
        T(test_verify),
        T(test_verify_mismatch),
        T(test_other_frames_to_owner),
        T(test_admit),
        T(test_admit_epochs),
        T(test_hello_and_signal),
    };
    return cmocka_run_group_tests_name("tunnel/session", tests, NULL, NULL);
}
