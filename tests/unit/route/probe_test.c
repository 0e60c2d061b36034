/* tests/unit/route/probe_test.c: the health probe (route/probe.h) against
 * real loopback sockets on the project's loop: a listener, a closed port, an
 * HTTP responder written here, a silent acceptor, and cancellation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/ev.h"
#include "net/addr.h"
#include "net/sock.h"
#include "route/probe.h"

#define GUARD_MS 3000           /* no test waits longer than this */

/* ---- helpers ---- */

/* Open descriptors of this process, to catch leaks. */
static int
fd_count(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* Listen on 127.0.0.1 at a port the kernel picks; fill <a> with it. */
static int
listen_local(pn_addr_t *a)
{
    char err[PN_ERR_LEN];
    assert_int_equal(pn_addr_parse_ip("127.0.0.1", a), PN_OK);
    int fd = pn_listen_tcp(a, 16, NULL, err);
    if (fd == -1)
        fail_msg("listen: %s", err);
    a->len = sizeof(a->ss);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a->ss, &a->len), 0);
    return fd;
}

/* What a probe's callback saw. */
struct outcome {
    ev_loop_t *loop;
    int calls, ok;
    const char *why;
    int in_start;               /* set while route_probe_start() runs */
    uint64_t at;                /* ms when it ran */
};

static void
on_done(int ok, const char *why, void *arg)
{
    struct outcome *o = arg;
    if (o->in_start)
        fail_msg("the callback ran inside route_probe_start()");
    o->calls++;
    o->ok = ok;
    o->why = why;
    o->at = pn_now_ms();
    ev_loop_stop(o->loop);
}

static route_probe_t *
start(struct outcome *o, const pn_addr_t *a, const char *host, const char *path,
      uint64_t timeout_ms)
{
    o->in_start = 1;
    route_probe_t *p = route_probe_start(o->loop, a, host, path, timeout_ms, on_done, o);
    o->in_start = 0;
    assert_non_null(p);
    return p;
}

static long
on_guard(ev_timer_t *t, void *arg)
{
    ev_loop_stop(arg);
    return EV_TIMER_STOP;
}

/* Run <loop> until something stops it, at most <ms>. */
static void
run_for(ev_loop_t *loop, uint64_t ms)
{
    ev_timer_t *guard = ev_timer_new(loop, on_guard, loop);
    ev_timer_arm(guard, ms);
    ev_loop_run(loop);
    ev_timer_free(guard);
}

/* Probe <a> and wait for the outcome, which must come exactly once. */
static void
probe(struct outcome *o, const pn_addr_t *a, const char *host, const char *path,
      uint64_t timeout_ms)
{
    o->calls = 0;
    start(o, a, host, path, timeout_ms);
    run_for(o->loop, GUARD_MS);
    if (o->calls != 1)
        fail_msg("callback ran %d times", o->calls);
}

static void
expect_fail(const struct outcome *o, const char *why)
{
    if (o->ok)
        fail_msg("probe succeeded, expected \"%s\"", why);
    assert_non_null(o->why);
    assert_string_equal(o->why, why);
}

static void
expect_ok(const struct outcome *o)
{
    if (!o->ok)
        fail_msg("probe failed: %s", o->why ? o->why : "(null)");
    assert_null(o->why);
}

/* ---- an HTTP responder: accepts one connection, reads the request head,
 * answers <answer> (in two writes, <later> after the first <split> bytes,
 * when <split> is nonzero; nothing when NULL) and closes ---- */

struct responder {
    ev_loop_t *loop;
    int lfd, cfd;
    ev_io_t *lio, *cio;
    ev_timer_t *rest;
    const char *answer;
    size_t split;
    char req[2048];
    size_t req_len;
};

static void
responder_close(struct responder *r)
{
    ev_io_free(r->cio);
    pn_close(r->cfd);
    r->cfd = -1;
}

static void
send_all(int fd, const char *s, size_t n)
{
    assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

static long
on_rest(ev_timer_t *t, void *arg)
{
    struct responder *r = arg;
    send_all(r->cfd, r->answer + r->split, strlen(r->answer) - r->split);
    responder_close(r);
    return EV_TIMER_STOP;
}

static void
on_request(int fd, int ready, void *arg)
{
    struct responder *r = arg;
    ssize_t n = recv(fd, r->req + r->req_len, sizeof(r->req) - 1 - r->req_len, 0);
    if (n <= 0) {
        responder_close(r);
        return;
    }
    r->req_len += (size_t)n;
    r->req[r->req_len] = '\0';
    if (strstr(r->req, "\r\n\r\n") == NULL)
        return;
    ev_io_set(r->cio, 0);
    if (r->answer == NULL) {
        responder_close(r);
    } else if (r->split == 0) {
        send_all(fd, r->answer, strlen(r->answer));
        responder_close(r);
    } else {
        send_all(fd, r->answer, r->split);
        ev_timer_arm(r->rest, 30);
    }
}

static void
on_accept(int fd, int ready, void *arg)
{
    struct responder *r = arg;
    int c = pn_accept(fd, NULL);
    if (c == -1)
        return;
    if (r->cfd != -1) {
        pn_close(c);
        return;
    }
    r->cfd = c;
    r->cio = ev_io_new(r->loop, c, on_request, r);
    ev_io_set(r->cio, EV_RD);
}

static void
responder_start(struct responder *r, ev_loop_t *loop, pn_addr_t *a, const char *answer,
                size_t split)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->answer = answer;
    r->split = split;
    r->cfd = -1;
    r->lfd = listen_local(a);
    r->lio = ev_io_new(loop, r->lfd, on_accept, r);
    ev_io_set(r->lio, EV_RD);
    r->rest = ev_timer_new(loop, on_rest, r);
}

static void
responder_stop(struct responder *r)
{
    responder_close(r);
    ev_io_free(r->lio);
    ev_timer_free(r->rest);
    pn_close(r->lfd);
}

/* Probe an HTTP responder answering <answer> for "/health"; return the
 * outcome and leave the request it got in <req>. */
static struct outcome
probe_http(const char *answer, size_t split, char req[2048])
{
    struct outcome o = { 0 };
    struct responder r;
    pn_addr_t a;
    int fds = fd_count();
    o.loop = ev_loop_new();
    responder_start(&r, o.loop, &a, answer, split);
    probe(&o, &a, "app.test", "/health", 2000);
    responder_stop(&r);
    ev_loop_free(o.loop);
    if (req != NULL)
        memcpy(req, r.req, sizeof(r.req));
    assert_int_equal(fd_count(), fds);
    return o;
}

/* Expect the answer <answer> to pass, or to fail with <why>. */
static void
http_passes(const char *answer, size_t split)
{
    struct outcome o = probe_http(answer, split, NULL);
    expect_ok(&o);
}

static void
http_fails(const char *answer, size_t split, const char *why)
{
    struct outcome o = probe_http(answer, split, NULL);
    expect_fail(&o, why);
}

/* ---- TCP probes ---- */

static void
test_tcp_listening(void **state)
{
    struct outcome o = { 0 };
    pn_addr_t a;
    int fds = fd_count();
    o.loop = ev_loop_new();
    int lfd = listen_local(&a);
    /* Never accepted: the kernel completes the handshake on its own. */
    probe(&o, &a, NULL, NULL, 1000);
    expect_ok(&o);
    pn_close(lfd);
    ev_loop_free(o.loop);
    assert_int_equal(fd_count(), fds);
}

static void
test_tcp_refused(void **state)
{
    struct outcome o = { 0 };
    pn_addr_t a;
    int fds = fd_count();
    o.loop = ev_loop_new();
    pn_close(listen_local(&a));         /* a port nobody listens on now */
    probe(&o, &a, NULL, NULL, 1000);
    expect_fail(&o, "connection refused");
    probe(&o, &a, NULL, "/", 1000);
    expect_fail(&o, "connection refused");
    ev_loop_free(o.loop);
    assert_int_equal(fd_count(), fds);
}

static void
test_tcp_fails_at_once(void **state)
{
    /* A TCP connect to the broadcast address fails inside connect() itself
     * (ENETUNREACH or EACCES, by the host's routes): the outcome must still
     * come from the loop, after route_probe_start() returned. */
    struct outcome o = { 0 };
    pn_addr_t a;
    int fds = fd_count();
    o.loop = ev_loop_new();
    assert_int_equal(pn_addr_parse_ip("255.255.255.255", &a), PN_OK);
    pn_addr_set_port(&a, 80);
    probe(&o, &a, NULL, NULL, 1000);
    assert_false(o.ok);
    assert_non_null(o.why);
    if (strcmp(o.why, "network unreachable") != 0 && strcmp(o.why, "permission denied") != 0 &&
        strcmp(o.why, "host unreachable") != 0)
        fail_msg("why \"%s\"", o.why);
    ev_loop_free(o.loop);
    assert_int_equal(fd_count(), fds);
}

/* ---- HTTP probes ---- */

static void
test_http_ok(void **state)
{
    char req[2048];
    struct outcome o = probe_http("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, req);
    expect_ok(&o);
    assert_string_equal(req, "GET /health HTTP/1.0\r\nHost: app.test\r\n"
                             "User-Agent: postern-probe\r\nConnection: close\r\n\r\n");
    http_passes("HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n", 0);
    http_passes("HTTP/1.1 204\r\n\r\n", 0);
    http_passes("HTTP/1.1 399 X\r\n\r\n", 0);
}

static void
test_http_status_in_pieces(void **state)
{
    /* The status code arrives in two writes 30 ms apart. */
    http_passes("HTTP/1.1 200 OK\r\n\r\n", 10);
    http_fails("HTTP/1.1 503 Unavailable\r\n\r\n", 3, "HTTP status 503");
}

static void
test_http_bad_status(void **state)
{
    http_fails("HTTP/1.0 503 Service Unavailable\r\n\r\n", 0, "HTTP status 503");
    http_fails("HTTP/1.1 404 Not Found\r\n\r\n", 0, "HTTP status 404");
    http_fails("HTTP/1.1 400 Bad\r\n\r\n", 0, "HTTP status 400");
    http_fails("HTTP/1.1 599 X\r\n\r\n", 0, "HTTP status 599");
    http_fails("HTTP/1.1 101 Up\r\n\r\n", 0, "HTTP status 101");
    http_fails("HTTP/1.1 199 X\r\n\r\n", 0, "HTTP status 199");
    http_fails("HTTP/1.1 600 X\r\n\r\n", 0, "HTTP status out of range");
    http_fails("HTTP/1.1 099 X\r\n\r\n", 0, "HTTP status out of range");
}

static void
test_http_not_http(void **state)
{
    http_fails("SSH-2.0-OpenSSH_9.6\r\n", 0, "not HTTP");
    http_fails("HTTP/2 200\r\n\r\n", 0, "not HTTP");
    http_fails("HTTP/1.1 2000 OK\r\n\r\n", 0, "not HTTP");
    http_fails("HTTP/1.1 20 OK\r\n\r\n", 0, "not HTTP");
    http_fails("http/1.1 200 OK\r\n\r\n", 0, "not HTTP");
    http_fails(NULL, 0, "closed without answering");
    http_fails("HTTP/1.1 2", 0, "closed within the status line");
}

static void
test_http_host_defaults_to_address(void **state)
{
    struct outcome o = { 0 };
    struct responder r;
    pn_addr_t a;
    char want[128], s[PN_ADDRSTRLEN];
    o.loop = ev_loop_new();
    responder_start(&r, o.loop, &a, "HTTP/1.0 200 OK\r\n\r\n", 0);
    probe(&o, &a, NULL, "/", 1000);
    expect_ok(&o);
    snprintf(want, sizeof(want), "GET / HTTP/1.0\r\nHost: %s\r\n", pn_addr_str(&a, s));
    if (strncmp(r.req, want, strlen(want)) != 0)
        fail_msg("request \"%s\", expected it to start with \"%s\"", r.req, want);
    responder_stop(&r);
    ev_loop_free(o.loop);
}

static void
test_http_invalid_request(void **state)
{
    struct outcome o = { 0 };
    pn_addr_t a;
    int fds = fd_count();
    o.loop = ev_loop_new();
    int lfd = listen_local(&a);
    /* Refused before any connect, and still reported from the loop. */
    probe(&o, &a, NULL, "/a b", 1000);
    expect_fail(&o, "invalid probe path or host");
    probe(&o, &a, NULL, "", 1000);
    expect_fail(&o, "invalid probe path or host");
    probe(&o, &a, "x\r\nEvil: 1", "/", 1000);
    expect_fail(&o, "invalid probe path or host");
    pn_close(lfd);
    ev_loop_free(o.loop);
    assert_int_equal(fd_count(), fds);
}

/* ---- deadlines ---- */

static void
test_silent_acceptor_times_out(void **state)
{
    struct outcome o = { 0 };
    pn_addr_t a;
    int fds = fd_count();
    o.loop = ev_loop_new();
    int lfd = listen_local(&a);         /* connects, never answers */
    uint64_t t0 = pn_now_ms();
    probe(&o, &a, "app.test", "/health", 200);
    expect_fail(&o, "timed out");
    uint64_t took = o.at - t0;
    if (took < 190 || took > 1000)
        fail_msg("timed out after %llu ms, expected about 200", (unsigned long long)took);
    pn_close(lfd);
    ev_loop_free(o.loop);
    assert_int_equal(fd_count(), fds);
}

static void
test_zero_timeout(void **state)
{
    struct outcome o = { 0 };
    pn_addr_t a;
    o.loop = ev_loop_new();
    int lfd = listen_local(&a);
    probe(&o, &a, NULL, "/", 0);
    expect_fail(&o, "timed out");
    pn_close(lfd);
    ev_loop_free(o.loop);
}

/* ---- cancellation ---- */

struct canceller {
    route_probe_t *p;
    ev_loop_t *loop;
};

static long
on_cancel(ev_timer_t *t, void *arg)
{
    struct canceller *c = arg;
    route_probe_cancel(c->p);
    ev_loop_stop(c->loop);
    return EV_TIMER_STOP;
}

static void
test_cancel_while_waiting(void **state)
{
    struct outcome o = { 0 };
    pn_addr_t a;
    int fds = fd_count();
    o.loop = ev_loop_new();
    int lfd = listen_local(&a);
    struct canceller c = { start(&o, &a, NULL, "/", 2000), o.loop };
    ev_timer_t *t = ev_timer_new(o.loop, on_cancel, &c);
    ev_timer_arm(t, 50);
    ev_loop_run(o.loop);
    ev_timer_free(t);
    run_for(o.loop, 100);               /* nothing may still be pending */
    assert_int_equal(o.calls, 0);
    pn_close(lfd);
    ev_loop_free(o.loop);
    assert_int_equal(fd_count(), fds);
}

static void
test_cancel_at_once(void **state)
{
    struct outcome o = { 0 };
    pn_addr_t a, closed;
    int fds = fd_count();
    o.loop = ev_loop_new();
    int lfd = listen_local(&a);
    pn_close(listen_local(&closed));
    /* Connecting, refused (maybe known at once), invalid (known at once). */
    route_probe_cancel(start(&o, &a, NULL, NULL, 1000));
    route_probe_cancel(start(&o, &a, "h", "/", 1000));
    route_probe_cancel(start(&o, &closed, NULL, NULL, 1000));
    route_probe_cancel(start(&o, &a, NULL, "bad path", 1000));
    route_probe_cancel(NULL);
    run_for(o.loop, 50);
    assert_int_equal(o.calls, 0);
    pn_close(lfd);
    ev_loop_free(o.loop);
    assert_int_equal(fd_count(), fds);
}

/* Several probes at once on one loop, each reported once. */
struct multi {
    int calls, oks;
    ev_loop_t *loop;
};

static void
on_multi(int ok, const char *why, void *arg)
{
    struct multi *m = arg;
    m->oks += ok != 0;
    if (++m->calls == 3)
        ev_loop_stop(m->loop);
}

static void
test_concurrent(void **state)
{
    struct multi m = { 0 };
    pn_addr_t a, closed;
    int fds = fd_count();
    m.loop = ev_loop_new();
    int lfd = listen_local(&a);
    pn_close(listen_local(&closed));
    route_probe_start(m.loop, &a, NULL, NULL, 1000, on_multi, &m);
    route_probe_start(m.loop, &closed, NULL, NULL, 1000, on_multi, &m);
    route_probe_start(m.loop, &a, NULL, "/", 100, on_multi, &m);
    run_for(m.loop, GUARD_MS);
    assert_int_equal(m.calls, 3);
    assert_int_equal(m.oks, 1);
    pn_close(lfd);
    ev_loop_free(m.loop);
    assert_int_equal(fd_count(), fds);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_listening),
        cmocka_unit_test(test_tcp_refused),
        cmocka_unit_test(test_tcp_fails_at_once),
        cmocka_unit_test(test_http_ok),
        cmocka_unit_test(test_http_status_in_pieces),
        cmocka_unit_test(test_http_bad_status),
        cmocka_unit_test(test_http_not_http),
        cmocka_unit_test(test_http_host_defaults_to_address),
        cmocka_unit_test(test_http_invalid_request),
        cmocka_unit_test(test_silent_acceptor_times_out),
        cmocka_unit_test(test_zero_timeout),
        cmocka_unit_test(test_cancel_while_waiting),
        cmocka_unit_test(test_cancel_at_once),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests_name("route/probe", tests, NULL, NULL);
}
