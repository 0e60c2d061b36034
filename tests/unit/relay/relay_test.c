/* tests/unit/relay/relay_test.c: the relay (relay/relay.h) over transports
 * without fd (the in-memory pair of core/xprt_mem.h, woken
 * through pn_xprt_wake) and over real TCP sockets on loopback.
 *
 *   end A <--mem or tcp--> relay side 0 | relay side 1 <--mem or tcp--> end B
 *
 * Each end is driven by the test through the same transport API the relay
 * uses (pn_xprt_watch, read, write, shutdown_wr): it sends its bytes, reads
 * what comes, and may shut its writing side once all is sent. A 1 ms tick
 * stops the loop once the test's condition holds, or fails at a deadline. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/bucket.h"
#include "core/buf.h"
#include "core/ev.h"
#include "core/mem.h"
#include "core/xprt.h"
#include "net/sock.h"
#include "relay/relay.h"
#include "core/xprt_mem.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEADLINE_MS 20000

/* One end of the test, outside the relay. */
struct end {
    pn_xprt_t *x;               /* owned by the test */
    ev_loop_t *loop;            /* borrowed */
    const uint8_t *src;         /* borrowed: bytes to send */
    size_t src_len, sent;
    int shut_when_sent;         /* shut the writing side once all is sent */
    int shut;                   /* done */
    int reading;                /* reads what comes (0: let it pile up) */
    uint8_t *got;               /* owned: bytes received */
    size_t got_len, got_cap;
    int eof;                    /* read end of stream */
    int again_wr;               /* writes that met PN_AGAIN */
    const char *err;
};

static void end_step(struct end *e);

static void
on_end_ready(pn_xprt_t *x, int ready, void *arg)
{
    end_step(arg);
}

static void
end_step(struct end *e)
{
    while (e->err == NULL && e->sent < e->src_len) {
        ssize_t n = e->x->ops->write(e->x, e->src + e->sent, e->src_len - e->sent);
        if (n == PN_AGAIN) {
            e->again_wr++;
            break;
        }
        if (n < 0) {
            e->err = e->x->err ? e->x->err : "write failed";
            break;
        }
        e->sent += (size_t)n;
    }
    if (e->err == NULL && e->sent == e->src_len && e->shut_when_sent && !e->shut) {
        int rc = e->x->ops->shutdown_wr(e->x);
        if (rc == PN_OK)
            e->shut = 1;
        else if (rc == PN_ERR)
            e->err = "shutdown failed";
    }
    while (e->err == NULL && e->reading && !e->eof) {
        if (e->got_cap - e->got_len < 65536) {
            e->got_cap = e->got_cap ? e->got_cap * 2 : 1 << 20;
            e->got = xrealloc(e->got, e->got_cap);
        }
        ssize_t n = e->x->ops->read(e->x, e->got + e->got_len, e->got_cap - e->got_len);
        if (n == PN_AGAIN)
            break;
        if (n < 0) {
            e->err = e->x->err ? e->x->err : "read failed";
            break;
        }
        if (n == 0)
            e->eof = 1;
        e->got_len += (size_t)n;
    }
    int mask = 0;
    if (e->err == NULL) {
        if (e->reading && !e->eof)
            mask |= EV_RD;
        if (e->sent < e->src_len || (e->shut_when_sent && !e->shut))
            mask |= EV_WR;
    }
    pn_xprt_watch(e->x, e->loop, mask, on_end_ready, e);
}

static void
end_start(struct end *e, pn_xprt_t *x, ev_loop_t *loop, const uint8_t *src, size_t len,
          int shut_when_sent)
{
    memset(e, 0, sizeof(*e));
    e->x = x;
    e->loop = loop;
    e->src = src;
    e->src_len = len;
    e->shut_when_sent = shut_when_sent;
    e->reading = 1;
    end_step(e);
}

static void
end_fini(struct end *e)
{
    pn_xprt_free(e->x);
    free(e->got);
}

/* --- the loop and the relay's end ------------------------------------- */

struct run {
    ev_loop_t *loop;
    int (*cond)(void *);
    void *arg;
    uint64_t deadline;
    int timed_out;
    int relay_done;             /* the relay called back */
    const char *relay_err;
};

static void
on_relay_done(relay_t *r, const char *err, void *ctx)
{
    struct run *run = ctx;
    run->relay_done = 1;
    run->relay_err = err;
}

static long
on_tick(ev_timer_t *t, void *arg)
{
    struct run *run = arg;
    if (run->cond(run->arg)) {
        ev_loop_stop(run->loop);
        return EV_TIMER_STOP;
    }
    if (pn_now_ms() >= run->deadline) {
        run->timed_out = 1;
        ev_loop_stop(run->loop);
        return EV_TIMER_STOP;
    }
    return 1;
}

/* Run the loop until <cond>(<arg>) holds (0) or <ms> passed (-1). */
static int
run_until(struct run *run, int (*cond)(void *), void *arg, uint64_t ms)
{
    run->cond = cond;
    run->arg = arg;
    run->deadline = pn_now_ms() + ms;
    run->timed_out = 0;
    ev_timer_t *t = ev_timer_new(run->loop, on_tick, run);
    ev_timer_arm(t, 1);
    ev_loop_run(run->loop);
    ev_timer_free(t);
    return run->timed_out ? -1 : 0;
}

static int
never(void *arg)
{
    return 0;
}

/* Bytes of a pattern no shift can mistake for itself. */
static uint8_t *
pattern(size_t n, unsigned seed)
{
    uint8_t *p = xmalloc(n);
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (uint8_t)(s >> 16);
    }
    return p;
}

/* Pipes of this process with bytes in them: the relay's splice path holds its
 * bytes in a pipe between the two sockets; the buffered path never makes one,
 * and empty pipes kept for reuse hold none. */
static int
pipes_with_bytes(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    char path[300], link[64];
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        ssize_t k = readlink(path, link, sizeof(link) - 1);
        if (k <= 0)
            continue;
        link[k] = '\0';
        int fd = atoi(de->d_name), queued = 0;
        if (strncmp(link, "pipe:", 5) == 0 && ioctl(fd, FIONREAD, &queued) == 0 && queued > 0)
            n++;
    }
    closedir(d);
    return n;
}

/* A connected pair of non-blocking TCP sockets on loopback, with small
 * buffers so that writes come out short and meet EAGAIN. */
static void
tcp_pair(int fd[2])
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
    fd[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 16384, one = 1;
    /* Set before connect(), so the window is agreed small. */
    setsockopt(fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(fd[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    assert_int_equal(connect(fd[0], (struct sockaddr *)&a, sizeof(a)), 0);
    fd[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd[1] >= 0);
    setsockopt(fd[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    close(l);
    for (int i = 0; i < 2; i++) {
        setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        assert_int_equal(fcntl(fd[i], F_SETFL, fcntl(fd[i], F_GETFL) | O_NONBLOCK), 0);
    }
}

enum kind { MEM = 0, TCP };

/* Make the two links: end A <-> relay side 0, relay side 1 <-> end B. <a> and
 * <b> get the test's ends, <s> the relay's. */
static void
links(enum kind k0, enum kind k1, size_t window, pn_xprt_t **a, pn_xprt_t **b, pn_xprt_t *s[2])
{
    pn_xprt_t *p[2];
    enum kind k[2] = { k0, k1 };
    for (int i = 0; i < 2; i++) {
        if (k[i] == MEM) {
            pn_xprt_mem_pair(p, window, 0);
        } else {
            int fd[2];
            tcp_pair(fd);
            p[0] = pn_raw_xprt_new(fd[0]);
            p[1] = pn_raw_xprt_new(fd[1]);
        }
        if (i == 0) {
            *a = p[0];
            s[0] = p[1];
        } else {
            s[1] = p[0];
            *b = p[1];
        }
    }
}

struct pair {
    struct end a, b;
    struct run *run;
};

/* Both ends sent all, received all the other sent, and read end of stream;
 * the relay ended. */
static int
all_done(void *arg)
{
    struct pair *p = arg;
    return p->a.eof && p->b.eof && p->a.sent == p->a.src_len && p->b.sent == p->b.src_len &&
           p->run->relay_done;
}

/* Move <na> bytes A -> B and <nb> bytes B -> A at once, both ends shutting
 * their writing side once done; check every byte and a clean end. */
static void
transfer(enum kind k0, enum kind k1, size_t window, size_t max_io, size_t na, size_t nb)
{
    struct run run = { .loop = ev_loop_new() };
    struct pair p = { .run = &run };
    pn_xprt_t *a = NULL, *b = NULL, *s[2] = { NULL, NULL };
    uint8_t *da = pattern(na, 1), *db = pattern(nb, 2);
    links(k0, k1, window, &a, &b, s);
    if (max_io != 0) {
        for (int i = 0; i < 2; i++)
            if (s[i]->fd < 0)
                pn_xprt_mem_set_max_io(s[i], max_io);
    }
    relay_t *r = relay_new(run.loop, s[0], s[1], NULL, on_relay_done, &run);
    assert_non_null(r);
    end_start(&p.a, a, run.loop, da, na, 1);
    end_start(&p.b, b, run.loop, db, nb, 1);
    assert_int_equal(run_until(&run, all_done, &p, DEADLINE_MS), 0);
    assert_null(run.relay_err);
    assert_null(p.a.err);
    assert_null(p.b.err);
    assert_int_equal(p.b.got_len, na);
    assert_int_equal(p.a.got_len, nb);
    assert_memory_equal(p.b.got, da, na);
    assert_memory_equal(p.a.got, db, nb);
    end_fini(&p.a);
    end_fini(&p.b);
    ev_loop_free(run.loop);
    free(da);
    free(db);
}

/* --- over transports without fd --------------------------------------- */

static void
test_mem_both_ways(void **state)
{
    transfer(MEM, MEM, 16384, 0, 3u << 20, 2u << 20);
    /* Short reads and writes: at most 1000 bytes per call on the relay's sides. */
    transfer(MEM, MEM, 16384, 1000, 1u << 20, 1u << 20);
}

static void
test_mem_empty_both_ways(void **state)
{
    transfer(MEM, MEM, 4096, 0, 0, 0);
}

struct half {
    struct end a, b;
    struct run *run;
    int phase;
};

static int
half_first(void *arg)
{
    struct half *h = arg;
    return h->b.eof && h->a.shut;
}

static int
half_second(void *arg)
{
    struct half *h = arg;
    return h->a.eof && h->run->relay_done;
}

/* A sends "ping" and shuts its side: B reads it then end of stream while the
 * relay goes on carrying B's bytes back to A; the relay ends only once B shuts
 * its side too. Over memory and over TCP. */
static void
half_close(enum kind k)
{
    struct run run = { .loop = ev_loop_new() };
    struct half h = { .run = &run };
    pn_xprt_t *a = NULL, *b = NULL, *s[2] = { NULL, NULL };
    size_t nb = 300000;
    uint8_t *db = pattern(nb, 3);
    links(k, k, 8192, &a, &b, s);
    relay_new(run.loop, s[0], s[1], NULL, on_relay_done, &run);
    end_start(&h.a, a, run.loop, (const uint8_t *)"ping", 4, 1);
    end_start(&h.b, b, run.loop, NULL, 0, 0);
    assert_int_equal(run_until(&run, half_first, &h, DEADLINE_MS), 0);
    assert_int_equal(h.b.got_len, 4);
    assert_memory_equal(h.b.got, "ping", 4);
    assert_false(run.relay_done);
    /* Still open the other way. */
    h.b.src = db;
    h.b.src_len = nb;
    h.b.shut_when_sent = 1;
    end_step(&h.b);
    assert_int_equal(run_until(&run, half_second, &h, DEADLINE_MS), 0);
    assert_null(run.relay_err);
    assert_int_equal(h.a.got_len, nb);
    assert_memory_equal(h.a.got, db, nb);
    end_fini(&h.a);
    end_fini(&h.b);
    ev_loop_free(run.loop);
    free(db);
}

static void
test_mem_half_close(void **state)
{
    half_close(MEM);
}

static void
test_tcp_half_close(void **state)
{
    half_close(TCP);
}

static int
b_got_all(void *arg)
{
    struct pair *p = arg;
    return p->b.got_len == p->a.src_len;
}

/* B does not read: A's writes stall once the windows and the relay's one
 * buffer are full, and the relay holds no more; once B reads, every byte
 * arrives. */
static void
backpressure(enum kind k, size_t window, int *pipes_held)
{
    struct run run = { .loop = ev_loop_new() };
    struct pair p = { .run = &run };
    pn_xprt_t *a = NULL, *b = NULL, *s[2] = { NULL, NULL };
    size_t n = 8u << 20;
    uint8_t *d = pattern(n, 4);
    links(k, k, window, &a, &b, s);
    relay_t *r = relay_new(run.loop, s[0], s[1], NULL, on_relay_done, &run);
    end_start(&p.a, a, run.loop, d, n, 0);
    end_start(&p.b, b, run.loop, NULL, 0, 0);
    p.b.reading = 0;
    end_step(&p.b);
    run_until(&run, never, NULL, 300);
    size_t stalled = p.a.sent;
    assert_true(stalled < n);
    assert_true(p.a.again_wr > 0);
    if (k == MEM) {
        /* Two windows and one relay buffer, nothing more. */
        assert_true(stalled <= 2 * window + PN_BUF_SIZE);
        assert_int_equal(pn_xprt_mem_unread(b), window);
    }
    run_until(&run, never, NULL, 100);
    assert_int_equal(p.a.sent, stalled);        /* still stalled: no spinning write */
    *pipes_held = pipes_with_bytes();
    p.b.reading = 1;
    end_step(&p.b);
    assert_int_equal(run_until(&run, b_got_all, &p, DEADLINE_MS), 0);
    assert_int_equal(p.b.got_len, n);
    assert_memory_equal(p.b.got, d, n);
    assert_false(run.relay_done);
    relay_free(r);
    end_fini(&p.a);
    end_fini(&p.b);
    ev_loop_free(run.loop);
    free(d);
}

static void
test_mem_backpressure(void **state)
{
    int held;
    backpressure(MEM, 32768, &held);
    assert_int_equal(held, 0);          /* nothing to splice without a socket */
}

/* With B not reading, the TCP relay holds its bytes in a pipe: the zero-copy
 * path (splice) is the one in use between two sockets. */
static void
test_tcp_backpressure_splice(void **state)
{
    int held;
    const char *e = getenv("POSTERN_NO_SPLICE");
    if (e != NULL && *e != '\0' && strcmp(e, "0") != 0)
        skip();
    backpressure(TCP, 0, &held);
    assert_true(held >= 1);
}

/* 512 KiB at 1 MiB/s with a 64 KiB burst take at least (512 - 64) / 1024 s. */
static void
test_mem_rate_limit(void **state)
{
    struct run run = { .loop = ev_loop_new() };
    struct pair p = { .run = &run };
    pn_xprt_t *a = NULL, *b = NULL, *s[2] = { NULL, NULL };
    size_t n = 512u << 10;
    uint8_t *d = pattern(n, 5);
    pn_bucket_t bucket;
    pn_bucket_init(&bucket, 1u << 20, 64u << 10, pn_now_us());
    relay_opts_t o = { .limit = &bucket };
    links(MEM, MEM, 65536, &a, &b, s);
    relay_new(run.loop, s[0], s[1], &o, on_relay_done, &run);
    uint64_t t0 = pn_now_ms();
    end_start(&p.a, a, run.loop, d, n, 1);
    end_start(&p.b, b, run.loop, NULL, 0, 1);
    assert_int_equal(run_until(&run, all_done, &p, DEADLINE_MS), 0);
    uint64_t took = pn_now_ms() - t0;
    assert_true(took >= 400);
    assert_true(took < 5000);
    assert_int_equal(p.b.got_len, n);
    assert_memory_equal(p.b.got, d, n);
    end_fini(&p.a);
    end_fini(&p.b);
    ev_loop_free(run.loop);
    free(d);
}

/* --- over sockets, and mixed -------------------------------------------- */

static void
test_tcp_both_ways(void **state)
{
    transfer(TCP, TCP, 0, 0, 4u << 20, 3u << 20);
}

/* A socket on one side, a stream without fd on the other: the buffered path. */
static void
test_mixed_both_ways(void **state)
{
    transfer(TCP, MEM, 8192, 0, 2u << 20, 1u << 20);
    transfer(MEM, TCP, 8192, 777, 1u << 20, 2u << 20);
}

/* A transport that claims zero copy but has no fd is never spliced: the
 * relay would fail on fd -1 (EBADF) if it tried. */
static void
test_zero_copy_needs_fds(void **state)
{
    struct run run = { .loop = ev_loop_new() };
    struct pair p = { .run = &run };
    pn_xprt_t *m[2], *a, *s[2];
    int fd[2];
    size_t n = 1u << 20;
    uint8_t *da = pattern(n, 6), *db = pattern(n, 7);
    tcp_pair(fd);
    pn_xprt_mem_pair(m, 16384, 1);
    assert_int_equal(m[0]->ops->zero_copy, 1);
    a = pn_raw_xprt_new(fd[0]);
    s[0] = pn_raw_xprt_new(fd[1]);
    s[1] = m[0];
    relay_new(run.loop, s[0], s[1], NULL, on_relay_done, &run);
    end_start(&p.a, a, run.loop, da, n, 1);
    end_start(&p.b, m[1], run.loop, db, n, 1);
    assert_int_equal(run_until(&run, all_done, &p, DEADLINE_MS), 0);
    assert_null(run.relay_err);
    assert_int_equal(p.b.got_len, n);
    assert_memory_equal(p.b.got, da, n);
    assert_memory_equal(p.a.got, db, n);
    end_fini(&p.a);
    end_fini(&p.b);
    ev_loop_free(run.loop);
    free(da);
    free(db);
}

/* --- the transport API itself ------------------------------------------ */

struct count {
    int calls, last;
    int stop_after;             /* unwatch at this call */
};

static void
on_count(pn_xprt_t *x, int ready, void *arg)
{
    struct count *c = arg;
    c->calls++;
    c->last = ready;
    if (c->calls == c->stop_after)
        pn_xprt_unwatch(x);
}

/* A wake runs from the loop, not from the call that caused it; the watch is
 * level-triggered (bytes left unread keep calling) and stops when asked. */
static void
test_wake_deferred_level(void **state)
{
    ev_loop_t *loop = ev_loop_new();
    struct run run = { .loop = loop };
    pn_xprt_t *m[2];
    struct count c = { .stop_after = 5 };
    pn_xprt_mem_pair(m, 1024, 0);
    pn_xprt_watch(m[1], loop, EV_RD, on_count, &c);
    assert_int_equal(m[0]->ops->write(m[0], "x", 1), 1);
    assert_int_equal(c.calls, 0);       /* deferred: not inside write() */
    run_until(&run, never, NULL, 30);
    assert_int_equal(c.calls, 5);       /* unread: called again until it stopped */
    assert_int_equal(c.last, EV_RD);
    assert_int_equal(pn_xprt_peek(m[1]), 1);
    /* Nothing to read: no call; end of stream: readable again. */
    char b;
    assert_int_equal(m[1]->ops->read(m[1], &b, 1), 1);
    c = (struct count){ .stop_after = 1 };
    pn_xprt_watch(m[1], loop, EV_RD, on_count, &c);
    run_until(&run, never, NULL, 20);
    assert_int_equal(c.calls, 0);
    assert_int_equal(pn_xprt_peek(m[1]), PN_AGAIN);
    assert_int_equal(m[0]->ops->shutdown_wr(m[0]), PN_OK);
    run_until(&run, never, NULL, 20);
    assert_int_equal(c.calls, 1);
    assert_int_equal(pn_xprt_peek(m[1]), 0);
    assert_int_equal(m[1]->ops->read(m[1], &b, 1), 0);
    /* Writable while the window has room, for a new subscriber. */
    c = (struct count){ .stop_after = 1 };
    pn_xprt_watch(m[1], loop, EV_WR, on_count, &c);
    run_until(&run, never, NULL, 20);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.last, EV_WR);
    pn_xprt_free(m[0]);
    pn_xprt_free(m[1]);
    ev_loop_free(loop);
}

/* A subscriber replaced before a pending wake runs is not called. */
static void
test_wake_replaced(void **state)
{
    ev_loop_t *loop = ev_loop_new();
    struct run run = { .loop = loop };
    pn_xprt_t *m[2];
    struct count c1 = { .stop_after = 1 }, c2 = { .stop_after = 1 };
    pn_xprt_mem_pair(m, 1024, 0);
    pn_xprt_watch(m[1], loop, EV_RD, on_count, &c1);
    assert_int_equal(m[0]->ops->write(m[0], "x", 1), 1);
    pn_xprt_watch(m[1], loop, EV_RD, on_count, &c2);
    run_until(&run, never, NULL, 20);
    assert_int_equal(c1.calls, 0);
    assert_int_equal(c2.calls, 1);
    /* Freeing the watched transport with a wake pending is safe. */
    pn_xprt_watch(m[1], loop, EV_RD, on_count, &c1);
    assert_int_equal(m[0]->ops->write(m[0], "y", 1), 1);
    pn_xprt_free(m[1]);
    run_until(&run, never, NULL, 20);
    assert_int_equal(c1.calls, 0);
    assert_int_equal(m[0]->ops->write(m[0], "z", 1), PN_ERR);
    pn_xprt_free(m[0]);
    ev_loop_free(loop);
}

/* A socket transport watched through the API: its ev_io is made on the first
 * watch, reports readability, and the peek sees bytes then the close. */
static void
test_fd_watch_peek(void **state)
{
    ev_loop_t *loop = ev_loop_new();
    struct run run = { .loop = loop };
    int fd[2];
    tcp_pair(fd);
    pn_xprt_t *x = pn_raw_xprt_new(fd[1]);
    struct count c = { .stop_after = 1 };
    assert_int_equal(pn_xprt_peek(x), PN_AGAIN);
    pn_xprt_watch(x, loop, EV_RD, on_count, &c);
    assert_non_null(x->io);
    assert_int_equal(write(fd[0], "x", 1), 1);
    run_until(&run, never, NULL, 50);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.last, EV_RD);
    assert_int_equal(pn_xprt_peek(x), 1);
    char b;
    assert_int_equal(x->ops->read(x, &b, 1), 1);
    close(fd[0]);
    run_until(&run, never, NULL, 20);
    assert_int_equal(pn_xprt_peek(x), 0);
    pn_xprt_free(x);
    ev_loop_free(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wake_deferred_level),
        cmocka_unit_test(test_wake_replaced),
        cmocka_unit_test(test_fd_watch_peek),
        cmocka_unit_test(test_mem_both_ways),
        cmocka_unit_test(test_mem_empty_both_ways),
        cmocka_unit_test(test_mem_half_close),
        cmocka_unit_test(test_mem_backpressure),
        cmocka_unit_test(test_mem_rate_limit),
        cmocka_unit_test(test_zero_copy_needs_fds),
        cmocka_unit_test(test_mixed_both_ways),
        cmocka_unit_test(test_tcp_both_ways),
        cmocka_unit_test(test_tcp_half_close),
        cmocka_unit_test(test_tcp_backpressure_splice),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    pn_buf_drain();
    return rc;
}
