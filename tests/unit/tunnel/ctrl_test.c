/* tests/unit/tunnel/ctrl_test.c: the control channel (tunnel/ctrl.h) over a
 * socketpair with a real event loop. The test plays the peer on the other end
 * with plain reads and writes of frames (tunnel/frame.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../testutil.h"
#include "core/err.h"
#include "core/ev.h"
#include "net/sock.h"
#include "tunnel/ctrl.h"
#include "tunnel/frame.h"

#define MAXF 16

typedef struct t {
    ev_loop_t *loop;
    tun_ctrl_t *c;
    int peer;                   /* the test's end of the socketpair */
    /* what the channel handed to the owner */
    int nframes;
    uint8_t types[MAXF];
    uint32_t lens[MAXF];
    uint32_t streams[MAXF];
    uint8_t last_payload[256];
    int free_on_frame;          /* free the channel from its frame callback */
    int closed;                 /* close callback calls */
    char err[256];
    /* what the peer read */
    uint8_t in[1 << 17];
    size_t in_len;
    int pings, pongs, errors, peer_eof;
    uint8_t ping_payload[PN_PING_LEN];
    uint8_t pong_payload[PN_PING_LEN];
    uint16_t error_code;
    char error_reason[PN_ERROR_REASON_MAX + 1];
    int answer_pings;           /* the peer echoes every PING as a PONG */
} t_t;

/* ---- loop helpers ---- */

TU_DEFINE_RUN_UNTIL(t_t)

/* ---- the peer ---- */

static void
peer_write(t_t *t, const void *p, size_t n)
{
    ssize_t w = send(t->peer, p, n, MSG_NOSIGNAL);
    if (w != (ssize_t)n)
        fail_msg("peer write: %zd of %zu (%s)", w, n, strerror(errno));
}

static void
peer_frame(t_t *t, uint8_t type, uint32_t stream, const void *payload, size_t len)
{
    uint8_t buf[PN_FRAME_HDR + 256];
    size_t n = pn_frame_encode(buf, sizeof(buf), type, 0, stream, payload, len);
    assert_int_not_equal(n, 0);
    peer_write(t, buf, n);
}

/* Read what the channel sent and record its frames; answer PINGs if asked. */
static void
peer_pump(t_t *t)
{
    for (;;) {
        ssize_t n = recv(t->peer, t->in + t->in_len, sizeof(t->in) - t->in_len, MSG_DONTWAIT);
        if (n == 0) {
            t->peer_eof = 1;
            break;
        }
        if (n < 0)
            break;
        t->in_len += (size_t)n;
        size_t off = 0;
        for (;;) {
            pn_frame_t f;
            size_t used;
            const char *why;
            int rc = pn_frame_decode(t->in + off, t->in_len - off, &f, &used, &why);
            if (rc == PN_AGAIN)
                break;
            if (rc != PN_OK)
                fail_msg("peer: bad frame from the channel: %s", why);
            assert_int_equal(f.stream, 0);
            if (f.type == PN_FT_PING) {
                assert_int_equal(f.len, PN_PING_LEN);
                t->pings++;
                memcpy(t->ping_payload, f.payload, PN_PING_LEN);
                if (t->answer_pings)
                    peer_frame(t, PN_FT_PONG, 0, f.payload, f.len);
            } else if (f.type == PN_FT_PONG) {
                assert_int_equal(f.len, PN_PING_LEN);
                t->pongs++;
                memcpy(t->pong_payload, f.payload, PN_PING_LEN);
            } else if (f.type == PN_FT_ERROR) {
                const char *why2;
                t->errors++;
                assert_int_equal(pn_error_decode(f.payload, f.len, &t->error_code,
                                                 t->error_reason, &why2), PN_OK);
            }
            off += used;
        }
        memmove(t->in, t->in + off, t->in_len - off);
        t->in_len -= off;
    }
}

static int p_nframes1(t_t *t) { return t->nframes >= 1; }
static int p_nframes2(t_t *t) { return t->nframes >= 2; }
static int p_nframes4(t_t *t) { return t->nframes >= 4; }
static int p_closed(t_t *t) { peer_pump(t); return t->closed; }
static int p_pong(t_t *t) { peer_pump(t); return t->pongs > 0; }
static int p_ping(t_t *t) { peer_pump(t); return t->pings > 0; }
static int p_eof(t_t *t) { peer_pump(t); return t->peer_eof; }
static int p_rtt(t_t *t) { peer_pump(t); return t->c != NULL && tun_ctrl_rtt(t->c) != 0; }
static int p_never(t_t *t) { peer_pump(t); return t->closed; }

/* ---- the owner ---- */

static void
on_frame(tun_ctrl_t *c, const pn_frame_t *f, void *ctx)
{
    t_t *t = ctx;
    assert_ptr_equal(c, t->c);
    assert_false(t->closed);
    if (t->nframes < MAXF) {
        t->types[t->nframes] = f->type;
        t->lens[t->nframes] = f->len;
        t->streams[t->nframes] = f->stream;
    }
    if (f->len <= sizeof(t->last_payload))
        memcpy(t->last_payload, f->payload, f->len);
    t->nframes++;
    if (t->free_on_frame)
        tun_ctrl_free(t->c);
}

static void
on_close(tun_ctrl_t *c, const char *err, void *ctx)
{
    t_t *t = ctx;
    assert_ptr_equal(c, t->c);
    assert_non_null(err);
    t->closed++;
    snprintf(t->err, sizeof(t->err), "%s", err);
    tun_ctrl_free(t->c);        /* from inside its own callback */
}

/* ---- fixture ---- */

static t_t *
start(uint64_t interval_ms, int sndbuf)
{
    t_t *t = calloc(1, sizeof(*t));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    if (sndbuf > 0) {
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf));
    }
    t->loop = ev_loop_new();
    t->peer = sv[1];
    t->c = tun_ctrl_new(t->loop, pn_raw_xprt_new(sv[0]), interval_ms, on_frame, on_close, t);
    assert_non_null(t->c);
    return t;
}

static void
finish(t_t *t)
{
    tun_ctrl_free(t->c);
    run_until(t, NULL, 5);      /* a free deferred from a callback completes */
    close(t->peer);
    ev_loop_free(t->loop);
    free(t);
}

static const uint8_t ID[PN_CONN_ID_LEN] = "0123456789abcdef";

/* ---- frames in ---- */

static void
test_whole_frames_delivered(void **state)
{
    t_t *t = start(10000, 0);
    uint8_t two[2 * PN_FRAME_HDR + PN_CONN_ID_LEN];
    size_t n = pn_frame_encode(two, sizeof(two), PN_FT_FLUSH, 0, 0, NULL, 0);
    n += pn_frame_encode(two + n, sizeof(two) - n, PN_FT_TCP, 0, 0, ID, sizeof(ID));
    peer_write(t, two, n);
    assert_true(run_until(t, p_nframes2, 2000));
    run_until(t, NULL, 20);
    assert_int_equal(t->nframes, 2);
    assert_int_equal(t->types[0], PN_FT_FLUSH);
    assert_int_equal(t->lens[0], 0);
    assert_int_equal(t->types[1], PN_FT_TCP);
    assert_int_equal(t->lens[1], PN_CONN_ID_LEN);
    assert_memory_equal(t->last_payload, ID, PN_CONN_ID_LEN);
    assert_int_equal(t->closed, 0);
    finish(t);
}

static void
test_split_into_single_bytes(void **state)
{
    t_t *t = start(10000, 0);
    uint8_t p[PN_CONN_ID_LEN + 20];
    for (size_t i = 0; i < sizeof(p); i++)
        p[i] = (uint8_t)(i * 7 + 1);
    uint8_t f[PN_FRAME_HDR + sizeof(p)];
    size_t n = pn_frame_encode(f, sizeof(f), PN_FT_TCP, 0, 0, p, sizeof(p));
    for (size_t i = 0; i < n; i++) {
        peer_write(t, f + i, 1);
        if (i + 1 < n) {
            run_until(t, NULL, 2);
            assert_int_equal(t->nframes, 0);
        }
    }
    assert_true(run_until(t, p_nframes1, 2000));
    assert_int_equal(t->nframes, 1);
    assert_int_equal(t->types[0], PN_FT_TCP);
    assert_int_equal(t->lens[0], sizeof(p));
    assert_memory_equal(t->last_payload, p, sizeof(p));
    assert_int_equal(t->closed, 0);
    finish(t);
}

/* A frame larger than the channel's small input buffer, then a small one:
 * the buffer grows for the first (in pieces) and both arrive whole. */
static void
test_large_frame_then_small(void **state)
{
    enum { BIG = 60000 };
    t_t *t = start(10000, 0);
    static uint8_t p[BIG], f[PN_FRAME_HDR + BIG + PN_FRAME_HDR + PN_CONN_ID_LEN];
    for (size_t i = 0; i < sizeof(p); i++)
        p[i] = (uint8_t)(i * 13 + 5);
    size_t n = pn_frame_encode(f, sizeof(f), PN_FT_ROUTE_ADD, 0, 0, p, sizeof(p));
    assert_int_not_equal(n, 0);
    n += pn_frame_encode(f + n, sizeof(f) - n, PN_FT_TCP, 0, 0, ID, sizeof(ID));
    for (size_t off = 0; off < n; off += 7000) {
        peer_write(t, f + off, n - off < 7000 ? n - off : 7000);
        run_until(t, NULL, 2);
    }
    assert_true(run_until(t, p_nframes2, 2000));
    assert_int_equal(t->types[0], PN_FT_ROUTE_ADD);
    assert_int_equal(t->lens[0], BIG);
    assert_int_equal(t->types[1], PN_FT_TCP);
    assert_memory_equal(t->last_payload, ID, PN_CONN_ID_LEN);
    /* And again, now that the buffer went back to small. */
    peer_write(t, f, n);
    assert_true(run_until(t, p_nframes4, 2000));
    assert_int_equal(t->lens[2], BIG);
    assert_int_equal(t->types[3], PN_FT_TCP);
    assert_int_equal(t->closed, 0);
    finish(t);
}

/* ---- pings ---- */

static void
test_ping_answered_with_pong(void **state)
{
    t_t *t = start(10000, 0);
    const uint8_t ping[PN_PING_LEN] = "pingpong";
    peer_frame(t, PN_FT_PING, 0, ping, sizeof(ping));
    assert_true(run_until(t, p_pong, 2000));
    assert_memory_equal(t->pong_payload, ping, PN_PING_LEN);
    assert_int_equal(t->nframes, 0);        /* PING is not the owner's */
    assert_int_equal(t->closed, 0);
    finish(t);
}

static void
test_rtt_measured(void **state)
{
    enum { DELAY = 60 };
    t_t *t = start(100, 0);
    assert_int_equal(tun_ctrl_rtt(t->c), 0);
    assert_true(run_until(t, p_ping, 2000));        /* the channel's own PING */
    uint8_t echo[PN_PING_LEN];
    memcpy(echo, t->ping_payload, PN_PING_LEN);
    run_until(t, NULL, DELAY);
    peer_frame(t, PN_FT_PONG, 0, echo, sizeof(echo));
    assert_true(run_until(t, p_rtt, 2000));
    uint64_t rtt = tun_ctrl_rtt(t->c);
    if (rtt < DELAY || rtt > DELAY + 1000)
        fail_msg("rtt %llu ms for a PONG held %d ms", (unsigned long long)rtt, DELAY);
    assert_int_equal(t->nframes, 0);
    assert_int_equal(t->closed, 0);
    finish(t);
}

/* ---- liveness ---- */

static void
test_silent_peer_declared_dead(void **state)
{
    t_t *t = start(50, 0);
    uint64_t t0 = pn_now_ms();
    assert_true(run_until(t, p_closed, 3000));
    uint64_t took = pn_now_ms() - t0;
    if (took < 145 || took > 800)
        fail_msg("dead after %llu ms, not 3 intervals of 50 ms", (unsigned long long)took);
    assert_non_null(strstr(t->err, "silent"));
    assert_true(t->pings >= 2);
    assert_int_equal(t->closed, 1);
    finish(t);
}

static void
test_answering_peer_stays_alive(void **state)
{
    t_t *t = start(50, 0);
    t->answer_pings = 1;
    assert_false(run_until(t, p_never, 500));       /* 10 intervals */
    assert_int_equal(t->closed, 0);
    assert_true(t->pings >= 5);
    assert_true(tun_ctrl_rtt(t->c) < 1000);
    finish(t);
}

/* ---- bad input ---- */

static void
expect_protocol_close(t_t *t, uint16_t code, const char *err_part)
{
    assert_true(run_until(t, p_closed, 2000));
    assert_true(run_until(t, p_eof, 2000));         /* freed in the close callback */
    assert_int_equal(t->closed, 1);
    if (strstr(t->err, err_part) == NULL)
        fail_msg("close reason \"%s\" lacks \"%s\"", t->err, err_part);
    assert_int_equal(t->errors, 1);
    assert_int_equal(t->error_code, code);
}

static void
test_unknown_type_closes(void **state)
{
    t_t *t = start(10000, 0);
    uint8_t b[3 * PN_FRAME_HDR];
    size_t n = pn_frame_encode(b, sizeof(b), PN_FT_FLUSH, 0, 0, NULL, 0);
    n += pn_frame_encode(b + n, sizeof(b) - n, 0x7E, 0, 0, NULL, 0);
    n += pn_frame_encode(b + n, sizeof(b) - n, PN_FT_FLUSH, 0, 0, NULL, 0);
    peer_write(t, b, n);
    expect_protocol_close(t, PN_EC_PROTOCOL, "");
    assert_int_equal(t->nframes, 1);                /* none after the bad one */
    finish(t);
}

static void
test_bad_size_closes(void **state)
{
    t_t *t = start(10000, 0);
    peer_frame(t, PN_FT_PING, 0, "abc", 3);         /* PING is 8 bytes */
    expect_protocol_close(t, PN_EC_PROTOCOL, "");
    assert_int_equal(t->pongs, 0);
    finish(t);
}

static void
test_bad_version_closes(void **state)
{
    t_t *t = start(10000, 0);
    uint8_t b[PN_FRAME_HDR];
    pn_frame_encode(b, sizeof(b), PN_FT_FLUSH, 0, 0, NULL, 0);
    b[0] = PN_PROTO_VERSION + 1;
    peer_write(t, b, 1);                            /* refused from the first byte */
    expect_protocol_close(t, PN_EC_VERSION, "version");
    assert_int_equal(t->nframes, 0);
    finish(t);
}

static void
test_nonzero_stream_closes(void **state)
{
    t_t *t = start(10000, 0);
    peer_frame(t, PN_FT_FLUSH, 5, NULL, 0);
    expect_protocol_close(t, PN_EC_PROTOCOL, "stream");
    assert_int_equal(t->nframes, 0);
    finish(t);
}

static void
test_peer_close_reported(void **state)
{
    t_t *t = start(10000, 0);
    shutdown(t->peer, SHUT_WR);
    assert_true(run_until(t, p_closed, 2000));
    assert_non_null(strstr(t->err, "closed"));
    assert_int_equal(t->closed, 1);
    assert_int_equal(t->errors, 0);
    finish(t);
}

static void
test_fail_sends_error(void **state)
{
    t_t *t = start(10000, 0);
    tun_ctrl_fail(t->c, PN_EC_SHUTDOWN, "going away");
    assert_int_equal(tun_ctrl_send(t->c, PN_FT_FLUSH, NULL, 0), PN_ERR);
    assert_int_equal(t->closed, 0);                 /* reported from the loop, not inline */
    expect_protocol_close(t, PN_EC_SHUTDOWN, "going away");
    assert_string_equal(t->error_reason, "going away");
    finish(t);
}

/* ---- output ---- */

static void
test_send_reaches_peer(void **state)
{
    t_t *t = start(10000, 0);
    const uint8_t ping[PN_PING_LEN] = "12345678";
    assert_int_equal(tun_ctrl_send(t->c, PN_FT_PONG, ping, sizeof(ping)), PN_OK);
    assert_true(run_until(t, p_pong, 2000));
    assert_memory_equal(t->pong_payload, ping, PN_PING_LEN);
    finish(t);
}

static void
test_output_queue_bounded(void **state)
{
    /* The peer never reads: the queue grows until its bound, then the channel
     * refuses and ends. */
    t_t *t = start(10000, 16384);
    static uint8_t big[64 * 1024];
    memset(big, 'x', sizeof(big));
    int ok = 0, rc = PN_OK;
    while (ok < 200 && (rc = tun_ctrl_send(t->c, PN_FT_HELLO, big, sizeof(big))) == PN_OK)
        ok++;
    assert_int_equal(rc, PN_ERR);
    size_t accepted = (size_t)ok * (sizeof(big) + PN_FRAME_HDR);
    if (accepted < 1024 * 1024 - sizeof(big) || accepted > 1024 * 1024 + 512 * 1024)
        fail_msg("%zu bytes accepted before the refusal", accepted);
    assert_int_equal(tun_ctrl_send(t->c, PN_FT_FLUSH, NULL, 0), PN_ERR);
    assert_true(run_until(t, p_closed, 2000));
    assert_non_null(strstr(t->err, "overflow"));
    finish(t);
}

/* ---- free from inside a callback ---- */

static void
test_free_inside_frame_callback(void **state)
{
    t_t *t = start(10000, 0);
    t->free_on_frame = 1;
    uint8_t b[3 * PN_FRAME_HDR];
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        n += pn_frame_encode(b + n, sizeof(b) - n, PN_FT_FLUSH, 0, 0, NULL, 0);
    peer_write(t, b, n);
    assert_true(run_until(t, p_eof, 2000));         /* the transport is closed */
    assert_null(t->c);
    assert_int_equal(t->nframes, 1);                /* nothing after the free */
    assert_int_equal(t->closed, 0);                 /* no close callback after a free */
    finish(t);
}

int
main(void)
{
    alarm(30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_frames_delivered),
        cmocka_unit_test(test_split_into_single_bytes),
        cmocka_unit_test(test_large_frame_then_small),
        cmocka_unit_test(test_ping_answered_with_pong),
        cmocka_unit_test(test_rtt_measured),
        cmocka_unit_test(test_silent_peer_declared_dead),
        cmocka_unit_test(test_answering_peer_stays_alive),
        cmocka_unit_test(test_unknown_type_closes),
        cmocka_unit_test(test_bad_size_closes),
        cmocka_unit_test(test_bad_version_closes),
        cmocka_unit_test(test_nonzero_stream_closes),
        cmocka_unit_test(test_peer_close_reported),
        cmocka_unit_test(test_fail_sends_error),
        cmocka_unit_test(test_send_reaches_peer),
        cmocka_unit_test(test_output_queue_bounded),
        cmocka_unit_test(test_free_inside_frame_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
