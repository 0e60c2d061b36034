/* tests/unit/relay/relay_sock_test.c: the byte relay (relay/relay.h) between
 * two connected socket pairs, with a real event loop. The test plays both ends:
 * the user on the entry's other end and the target on the exit's, each a
 * reader that checks every byte against a seeded stream and a writer that
 * sends one.
 *
 *   user <-pair-> [entry | relay | exit] <-pair-> target
 *
 * The relay reads POSTERN_NO_SPLICE once per process, so CTest runs this
 * program twice: relay/relay_sock (splice path) and relay/relay_sock_nosplice
 * (the variable set: buffered path). Pairs are TCP over 127.0.0.1 (the kernel
 * splices those), or AF_UNIX socketpairs where said. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../testutil.h"
#include "core/buf.h"
#include "core/bucket.h"
#include "core/ev.h"
#include "net/sock.h"
#include "relay/relay.h"

#define CHUNK (64 * 1024)
#define MiB (1024 * 1024)

enum kind { TCP_PAIR, UNIX_PAIR };

typedef struct t t_t;

/* One end the test plays. */
typedef struct peer {
    t_t *t;
    int fd;
    ev_io_t *io;
    ev_timer_t *resume;
    /* writing */
    uint64_t send_seed, send_total, sent;
    int shut_after;             /* shutdown(SHUT_WR) once send_total went out */
    int shut;
    uint64_t send_on_eof;       /* when EOF is read, start sending this many */
    /* reading */
    uint64_t recv_seed, got;
    int eof;
    int bad;                    /* a byte differed from the stream */
    uint64_t bad_at;
    uint64_t reads;             /* read callbacks that brought bytes */
    uint64_t pause_at;          /* stop reading once this many arrived (0: never) */
    int pause_ms;
    int paused, was_paused;
    int relay_done_at_eof;      /* whether the relay had ended when EOF arrived */
} peer_t;

struct t {
    ev_loop_t *loop;            /* owned unless <shared> */
    int shared;                 /* the loop is another fixture's */
    relay_t *r;
    peer_t user, target;
    int done;
    char err[128];
    int err_null;
    uint64_t rx, tx;
    size_t max_in_use;          /* most 64 KiB buffers seen in use at once */
};

static int
nosplice(void)
{
    const char *e = getenv("POSTERN_NO_SPLICE");
    return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
}

/* ---- the byte streams ---- */

/* Fill <p> with <n> bytes of stream <seed> from offset <off>. */
static void
gen(uint8_t *p, size_t n, uint64_t seed, uint64_t off)
{
    uint64_t v = 0;
    for (size_t j = 0; j < n; j++) {
        uint64_t i = off + j;
        if (j == 0 || (i & 7) == 0)
            v = tu_mix(seed ^ (i >> 3));
        p[j] = (uint8_t)(v >> ((i & 7) * 8));
    }
}

/* ---- the ends ---- */

static void
sample(t_t *t)
{
    if (pn_buf_in_use() > t->max_in_use)
        t->max_in_use = pn_buf_in_use();
}

static void
peer_update(peer_t *p)
{
    int mask = 0;
    if (!p->eof && !p->paused)
        mask |= EV_RD;
    if (p->sent < p->send_total || (p->shut_after && !p->shut))
        mask |= EV_WR;
    ev_io_set(p->io, mask);
}

static long
on_resume(ev_timer_t *tm, void *arg)
{
    peer_t *p = arg;
    p->paused = 0;
    peer_update(p);
    return EV_TIMER_STOP;
}

static void
peer_read(peer_t *p)
{
    static uint8_t buf[CHUNK], want[CHUNK];
    int brought = 0;
    while (!p->paused && !p->eof) {
        ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0) {
            p->eof = 1;
            p->relay_done_at_eof = p->t->done;
            if (p->send_on_eof > 0) {
                p->send_total = p->send_on_eof;
                p->shut_after = 1;
            }
            break;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                fail_msg("peer recv: %s", strerror(errno));
            break;
        }
        brought = 1;
        gen(want, (size_t)n, p->recv_seed, p->got);
        if (!p->bad && memcmp(buf, want, (size_t)n) != 0) {
            p->bad = 1;
            for (ssize_t j = 0; j < n; j++)
                if (buf[j] != want[j]) {
                    p->bad_at = p->got + (uint64_t)j;
                    break;
                }
        }
        p->got += (uint64_t)n;
        if (p->pause_at != 0 && !p->was_paused && p->got >= p->pause_at) {
            p->paused = p->was_paused = 1;
            ev_timer_arm(p->resume, (uint64_t)p->pause_ms);
        }
    }
    p->reads += (uint64_t)brought;
}

static void
peer_write(peer_t *p)
{
    static uint8_t buf[CHUNK];
    while (p->sent < p->send_total) {
        size_t n = p->send_total - p->sent < CHUNK ? (size_t)(p->send_total - p->sent) : CHUNK;
        gen(buf, n, p->send_seed, p->sent);
        ssize_t w = send(p->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno != EAGAIN && errno != EINTR)
                fail_msg("peer send: %s", strerror(errno));
            return;
        }
        p->sent += (uint64_t)w;
    }
    if (p->shut_after && !p->shut) {
        assert_int_equal(shutdown(p->fd, SHUT_WR), 0);
        p->shut = 1;
    }
}

static void
on_peer(int fd, int ready, void *arg)
{
    peer_t *p = arg;
    if (ready & EV_RD)
        peer_read(p);
    if (ready & EV_WR)
        peer_write(p);
    sample(p->t);
    peer_update(p);
}

/* ---- fixture ---- */

static void
set_nonblock(int fd)
{
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

/* Shrink <fd>'s kernel buffers to <n> bytes each way (for TCP, before the
 * connection exists: shrinking an advertised window stalls it). */
static void
small_bufs(int fd, int n)
{
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
}

/* A connected pair: sv[0] for the relay, sv[1] for the test. <bufsz> > 0
 * shrinks kernel buffers so that the relay's writes come out short. */
static void
mkpair(enum kind k, int sv[2], int bufsz)
{
    if (k == UNIX_PAIR) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        /* AF_UNIX: what a reader finds is bounded by the writer's send
         * buffer, so only the relay's is shrunk: it then reads more than
         * it can write at once. */
        if (bufsz > 0)
            setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET};
        socklen_t alen = sizeof(a);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(l >= 0);
        if (bufsz > 0)
            small_bufs(l, bufsz);           /* inherited by the accepted socket */
        assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(l, 1), 0);
        assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
        sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (bufsz > 0)
            small_bufs(sv[1], bufsz);
        assert_int_equal(connect(sv[1], (struct sockaddr *)&a, sizeof(a)), 0);
        sv[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        assert_true(sv[0] >= 0);
        close(l);
    }
    set_nonblock(sv[0]);
    set_nonblock(sv[1]);
}

static void
on_done(relay_t *r, const char *err, void *ctx)
{
    t_t *t = ctx;
    assert_ptr_equal(r, t->r);
    assert_int_equal(t->done, 0);
    t->done = 1;
    t->err_null = err == NULL;
    snprintf(t->err, sizeof(t->err), "%s", err ? err : "");
}

static void
peer_init(t_t *t, peer_t *p, int fd, uint64_t send_seed, uint64_t recv_seed)
{
    p->t = t;
    p->fd = fd;
    p->send_seed = send_seed;
    p->recv_seed = recv_seed;
    p->io = ev_io_new(t->loop, fd, on_peer, p);
    p->resume = ev_timer_new(t->loop, on_resume, p);
}

/* Counted transports: raw TCP whose reads that said PN_AGAIN are counted per
 * side, always through the buffer (no splice), split_ready as raw is. */
static const struct pn_xprt_ops *raw_ops;
static struct pn_xprt_ops counting_ops;
static pn_xprt_t *counted[2];
static uint64_t again_reads[2];
static int count_reads;         /* start_on() makes counted transports */

static ssize_t
counting_read(pn_xprt_t *x, void *buf, size_t len)
{
    ssize_t n = raw_ops->read(x, buf, len);
    for (int i = 0; i < 2; i++)
        if (n == PN_AGAIN && x == counted[i])
            again_reads[i]++;
    return n;
}

static pn_xprt_t *
side_xprt(int fd, int side)
{
    pn_xprt_t *x = pn_raw_xprt_new(fd);
    if (!count_reads)
        return x;
    raw_ops = x->ops;
    counting_ops = *raw_ops;
    counting_ops.read = counting_read;
    counting_ops.zero_copy = 0;
    x->ops = &counting_ops;
    counted[side] = x;
    again_reads[side] = 0;
    return x;
}

/* Start a relay between two fresh pairs on <loop> (NULL: a loop of its own);
 * the caller then sets what the ends do and calls go(). */
static t_t *
start_on(ev_loop_t *loop, enum kind k, int sndbuf, relay_opts_t *o)
{
    t_t *t = calloc(1, sizeof(*t));
    int e[2], x[2];
    t->shared = loop != NULL;
    t->loop = loop != NULL ? loop : ev_loop_new();
    mkpair(k, e, sndbuf);
    mkpair(k, x, sndbuf);
    peer_init(t, &t->user, e[1], 0x1111, 0x2222);
    peer_init(t, &t->target, x[1], 0x2222, 0x1111);
    relay_opts_t def = {0};
    if (o == NULL)
        o = &def;
    o->rx = &t->rx;
    o->tx = &t->tx;
    t->r = relay_new(t->loop, side_xprt(e[0], 0), side_xprt(x[0], 1), o, on_done, t);
    assert_non_null(t->r);
    return t;
}

static t_t *
start(enum kind k, int sndbuf, relay_opts_t *o)
{
    return start_on(NULL, k, sndbuf, o);
}

static void
go(t_t *t)
{
    peer_update(&t->user);
    peer_update(&t->target);
}

static void
finish(t_t *t)
{
    if (!t->done)
        relay_free(t->r);
    peer_t *ps[2] = {&t->user, &t->target};
    for (int i = 0; i < 2; i++) {
        ev_io_free(ps[i]->io);
        ev_timer_free(ps[i]->resume);
        close(ps[i]->fd);
    }
    tu_run_until(t->loop, NULL, NULL, 2);
    if (!t->shared)
        ev_loop_free(t->loop);
    free(t);
    pn_buf_set_limit(0);
    assert_int_equal(pn_buf_in_use(), 0);
}

static int
p_done(void *arg)
{
    t_t *t = arg;
    sample(t);
    return t->done;
}

static int
p_sample(void *arg)
{
    sample(arg);
    return 0;
}

/* Both ends got everything intact and EOF, and the relay ended cleanly. */
static void
expect_clean(t_t *t, uint64_t up, uint64_t down)
{
    if (!tu_run_until(t->loop, p_done, t, 4000))
        fail_msg("relay still running: target got %llu/%llu eof %d, user got %llu/%llu eof %d",
                 (unsigned long long)t->target.got, (unsigned long long)up, t->target.eof,
                 (unsigned long long)t->user.got, (unsigned long long)down, t->user.eof);
    if (!t->err_null)
        fail_msg("relay ended with \"%s\"", t->err);
    assert_false(t->target.bad);
    assert_false(t->user.bad);
    assert_true(t->target.eof);
    assert_true(t->user.eof);
    assert_int_equal(t->target.got, up);
    assert_int_equal(t->user.got, down);
    assert_int_equal(t->rx, up);
    assert_int_equal(t->tx, down);
}

/* ---- tests ---- */

static void
both_ways(enum kind k)
{
    t_t *t = start(k, 0, NULL);
    t->user.send_total = 3 * MiB;
    t->user.shut_after = 1;
    t->target.send_total = 2 * MiB + 12345;
    t->target.shut_after = 1;
    go(t);
    expect_clean(t, 3 * MiB, 2 * MiB + 12345);
    finish(t);
}

static void
test_both_ways_tcp(void **state)
{
    both_ways(TCP_PAIR);
}

static void
test_both_ways_unix(void **state)
{
    both_ways(UNIX_PAIR);
}

/* Small kernel buffers: every write the relay makes is cut short. */
static void
short_writes(enum kind k)
{
    t_t *t = start(k, 4096, NULL);
    t->user.send_total = 512 * 1024 + 7;
    t->user.shut_after = 1;
    t->target.send_total = 512 * 1024 + 3;
    t->target.shut_after = 1;
    go(t);
    expect_clean(t, 512 * 1024 + 7, 512 * 1024 + 3);
    finish(t);
}

static void
test_short_writes_unix(void **state)
{
    short_writes(UNIX_PAIR);
}

static void
test_short_writes_tcp(void **state)
{
    short_writes(TCP_PAIR);
}

static void
test_eagain_both_sides(void **state)
{
    /* Each reader stops for a while midway: the relay's writes to it would
     * block, then resume. */
    t_t *t = start(TCP_PAIR, 16384, NULL);
    t->user.send_total = 2 * MiB;
    t->user.shut_after = 1;
    t->target.send_total = 2 * MiB;
    t->target.shut_after = 1;
    t->target.pause_at = t->user.pause_at = 256 * 1024;
    t->target.pause_ms = t->user.pause_ms = 150;
    go(t);
    expect_clean(t, 2 * MiB, 2 * MiB);
    assert_true(t->target.was_paused);
    assert_true(t->user.was_paused);
    if (nosplice())
        assert_true(t->max_in_use >= 1);    /* bytes waited in a buffer */
    else
        assert_int_equal(t->max_in_use, 0); /* bytes waited in a pipe */
    finish(t);
}

static void
test_buffer_pool_exhausted(void **state)
{
    /* One buffer for two directions: one waits for the pool, both finish. */
    pn_buf_set_limit(1);
    t_t *t = start(TCP_PAIR, 0, NULL);
    t->user.send_total = 1 * MiB;
    t->user.shut_after = 1;
    t->target.send_total = 1 * MiB;
    t->target.shut_after = 1;
    go(t);
    expect_clean(t, 1 * MiB, 1 * MiB);
    assert_true(t->max_in_use <= 1);
    finish(t);
}

static int
p_a_stuck(void *arg)
{
    t_t *t = arg;
    return t->target.paused && pn_buf_in_use() == 1;
}

static int
p_both_done(void *arg)
{
    t_t **ts = arg;
    sample(ts[0]);
    return ts[0]->done && ts[1]->done;
}

static void
test_waits_for_another_relays_buffer(void **state)
{
    /* Relay A holds the only buffer (its target stopped reading); relay B
     * has bytes to move and nothing else will wake it: it must retry the
     * pool by itself once A gives the buffer back. Buffered path only (the
     * splice path holds no buffer). */
    if (!nosplice())
        skip();
    pn_buf_set_limit(1);
    t_t *a = start(TCP_PAIR, 16384, NULL);
    a->user.send_total = 1 * MiB;
    a->user.shut_after = 1;
    a->target.shut_after = 1;
    a->target.pause_at = 1;
    a->target.pause_ms = 300;
    go(a);
    assert_true(tu_run_until(a->loop, p_a_stuck, a, 2000));
    t_t *b = start_on(a->loop, TCP_PAIR, 0, NULL);
    b->user.send_total = 64 * 1024;
    b->user.shut_after = 1;
    b->target.send_total = 64 * 1024;
    b->target.shut_after = 1;
    go(b);
    t_t *ts[2] = {a, b};
    assert_true(tu_run_until(a->loop, p_both_done, ts, 4000));
    assert_true(a->err_null);
    assert_true(b->err_null);
    assert_false(a->target.bad || b->target.bad || b->user.bad);
    assert_int_equal(a->target.got, 1 * MiB);
    assert_int_equal(b->target.got, 64 * 1024);
    assert_int_equal(b->user.got, 64 * 1024);
    assert_true(a->max_in_use <= 1);
    finish(b);
    finish(a);
}

/* Send <n> pieces of <len> bytes of <p>'s stream, each its own segment
 * (TCP_NODELAY), before the loop runs; then <p> shuts down its writing half. */
static void
send_pieces(peer_t *p, int n, size_t len)
{
    uint8_t buf[64];
    int one = 1;
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));    /* fails on AF_UNIX: fine */
    for (int i = 0; i < n; i++) {
        gen(buf, len, p->send_seed, p->sent);
        assert_int_equal(send(p->fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
        p->sent += len;
    }
    p->send_total = p->sent;
    p->shut_after = 1;
}

static void
small_pieces(enum kind k)
{
    /* Many tiny segments wait on both sides, then EOF: a splice into a pipe
     * stops when the pipe's slots are used, a few hundred bytes short of
     * what was asked, and AF_UNIX splices one piece a call; taken for "the
     * socket is drained", the rest must still come from the (level-
     * triggered) readiness, and the EOF after it. */
    int n = k == TCP_PAIR ? 300 : 100;  /* AF_UNIX: each piece costs ~1 KiB of send buffer */
    t_t *t = start(k, 0, NULL);
    send_pieces(&t->user, n + 50, 7);
    send_pieces(&t->target, n, 11);
    go(t);
    expect_clean(t, (uint64_t)(n + 50) * 7, (uint64_t)n * 11);
    finish(t);
}

static void
test_small_pieces_tcp(void **state)
{
    small_pieces(TCP_PAIR);
}

static void
test_small_pieces_unix(void **state)
{
    small_pieces(UNIX_PAIR);
}

static void
test_half_close(void **state)
{
    /* The user sends and shuts down its writing half; the target sees EOF
     * and only then answers; the answer still reaches the user. */
    t_t *t = start(TCP_PAIR, 0, NULL);
    t->user.send_total = 100 * 1024;
    t->user.shut_after = 1;
    t->target.send_on_eof = 1 * MiB;
    go(t);
    expect_clean(t, 100 * 1024, 1 * MiB);
    assert_false(t->target.relay_done_at_eof);  /* the other way was still open */
    finish(t);
}

static void
test_half_close_from_target(void **state)
{
    t_t *t = start(UNIX_PAIR, 0, NULL);
    t->target.send_total = 200 * 1024;
    t->target.shut_after = 1;
    t->user.send_on_eof = 300 * 1024;
    go(t);
    expect_clean(t, 300 * 1024, 200 * 1024);
    assert_false(t->user.relay_done_at_eof);
    finish(t);
}

static void
test_idle_timeout(void **state)
{
    relay_opts_t o = {.idle_ms = 200};
    t_t *t = start(TCP_PAIR, 0, &o);
    go(t);
    uint64_t t0 = pn_now_ms();
    assert_true(tu_run_until(t->loop, p_done, t, 3000));
    uint64_t took = pn_now_ms() - t0;
    if (took < 195)
        fail_msg("idle timeout after %llu ms, set to 200", (unsigned long long)took);
    assert_string_equal(t->err, "idle timeout");
    finish(t);
}

static long
on_trickle(ev_timer_t *tm, void *arg)
{
    t_t *t = arg;
    t->user.send_total++;
    peer_update(&t->user);
    return t->user.send_total < 10 ? 30 : EV_TIMER_STOP;
}

static void
test_traffic_defers_idle_timeout(void **state)
{
    relay_opts_t o = {.idle_ms = 200};
    t_t *t = start(TCP_PAIR, 0, &o);
    go(t);
    ev_timer_t *tm = ev_timer_new(t->loop, on_trickle, t);
    ev_timer_arm(tm, 30);
    assert_false(tu_run_until(t->loop, p_done, t, 280));   /* 1 byte / 30 ms: never 200 ms idle */
    assert_true(tu_run_until(t->loop, p_done, t, 3000));
    assert_string_equal(t->err, "idle timeout");
    assert_int_equal(t->target.got, 10);
    assert_false(t->target.bad);
    ev_timer_free(tm);
    finish(t);
}

static double
cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
           + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
test_rate_limit(void **state)
{
    enum { RATE = 256 * 1024, BURST = 32 * 1024, RUN_MS = 700 };
    pn_bucket_t b;
    pn_bucket_init(&b, RATE, BURST, pn_now_us());
    relay_opts_t o = {.limit = &b};
    t_t *t = start(TCP_PAIR, 0, &o);
    t->user.send_total = 256 * MiB;                 /* more than can go */
    go(t);
    uint64_t t0 = pn_now_ms();
    double c0 = cpu_seconds();
    tu_run_until(t->loop, p_sample, t, RUN_MS);
    double cpu = cpu_seconds() - c0;
    uint64_t ms = pn_now_ms() - t0;
    uint64_t most = BURST + RATE * ms / 1000 + 16 * 1024;
    uint64_t least = RATE * ms / 1000 / 2;
    if (t->target.got > most || t->target.got < least)
        fail_msg("%llu bytes in %llu ms at %d B/s (burst %d)", (unsigned long long)t->target.got,
                 (unsigned long long)ms, RATE, BURST);
    assert_false(t->target.bad);
    assert_false(t->done);
    /* No busy loop while waiting for tokens: the bytes came in pieces (a
     * spinning relay moves slivers, each a wake-up of the reader), and the
     * process mostly slept. */
    if (t->target.reads > 150)
        fail_msg("%llu reads for %llu bytes: the relay moves slivers",
                 (unsigned long long)t->target.reads, (unsigned long long)t->target.got);
    if (cpu > 0.5 * (double)ms / 1000)
        fail_msg("%.3f s of CPU in %llu ms of rate-limited relaying", cpu, (unsigned long long)ms);
    print_message("rate limit: %llu bytes in %llu ms, %llu reads, %.3f s CPU\n",
                  (unsigned long long)t->target.got, (unsigned long long)ms,
                  (unsigned long long)t->target.reads, cpu);
    /* relay_free() while running cuts the transfer short: no callback, and
     * the ends see a reset, not an end of stream (a FIN would pass the cut for
     * a complete transfer). */
    ev_io_set(t->user.io, 0);
    ev_io_set(t->target.io, 0);
    relay_free(t->r);
    t->done = 1;
    char c;
    tu_run_until(t->loop, NULL, NULL, 5);
    ssize_t rn;
    do
        rn = recv(t->target.fd, &c, 1, MSG_DONTWAIT);
    while (rn == 1);
    assert_int_equal(rn, -1);
    assert_int_equal(errno, ECONNRESET);
    finish(t);
}

/* One way only (8 MiB from the user; the target answers after the end): the
 * idle direction is not read for nothing. A readiness of one side concerns
 * one direction (split_ready), and a deferred step pumps only the direction
 * that left work (core/xprt.h, relay.c's on_ready and on_defer): reading the
 * target's socket at each of them said EAGAIN hundreds of times. */
static void
test_idle_direction_not_read(void **state)
{
    count_reads = 1;
    t_t *t = start(TCP_PAIR, 0, NULL);
    count_reads = 0;
    t->user.send_total = 8 * MiB;
    t->user.shut_after = 1;
    t->target.send_on_eof = 1000;
    go(t);
    expect_clean(t, 8 * MiB, 1000);
    print_message("reads that said EAGAIN: %llu from the user's side, %llu from the target's\n",
                  (unsigned long long)again_reads[0], (unsigned long long)again_reads[1]);
    if (again_reads[1] > 3)
        fail_msg("the idle direction was read %llu times for nothing",
                 (unsigned long long)again_reads[1]);
    finish(t);
}

int
main(void)
{
    alarm(30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_ways_tcp),
        cmocka_unit_test(test_both_ways_unix),
        cmocka_unit_test(test_short_writes_unix),
        cmocka_unit_test(test_short_writes_tcp),
        cmocka_unit_test(test_eagain_both_sides),
        cmocka_unit_test(test_buffer_pool_exhausted),
        cmocka_unit_test(test_waits_for_another_relays_buffer),
        cmocka_unit_test(test_small_pieces_tcp),
        cmocka_unit_test(test_small_pieces_unix),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_half_close_from_target),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_traffic_defers_idle_timeout),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_idle_direction_not_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
