/* tests/unit/tunnel/ws_head_test.c: the WebSocket opening heads
 * (tunnel/ws_head.h), table-driven; the accept key (RFC 6455's sample); and
 * the "ws" transport (tls/ws.h) over a socketpair: bytes both ways, ping,
 * close as half-close, and the faults that close a connection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "net/sock.h"
#include "tls/ws.h"
#include "tunnel/ws_head.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define UP "Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define GOOD "GET /t HTTP/1.1\r\nHost: x\r\n" UP "Sec-WebSocket-Key: " KEY \
             "\r\nSec-WebSocket-Version: 13\r\n\r\n"

static const struct req_case {
    const char *in;
    int rc;
    int status;
} req_cases[] = {
    { GOOD, PN_OK, 0 },
    { "GET /t?x=1 HTTP/1.1\r\nhost: x\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
      "sec-websocket-key: " KEY "\r\nsec-websocket-version:13\r\n\r\n", PN_OK, 0 },
    { "GET /t HTTP/1.1\r\nHost: x\r\n\r\n", PN_ERR, 400 },                 /* plain request */
    { "GET / HTTP/1.1\r\nHost: x\r\n\r\n", PN_ERR, 404 },
    { "GET /tt HTTP/1.1\r\nHost: x\r\n" UP "\r\n", PN_ERR, 404 },
    { "POST /t HTTP/1.1\r\nHost: x\r\n" UP "\r\n", PN_ERR, 405 },
    { "GET /t HTTP/1.1\r\nHost: x\r\n" UP "Sec-WebSocket-Key: " KEY "\r\n\r\n", PN_ERR, 426 },
    { "GET /t HTTP/1.1\r\nHost: x\r\n" UP "Sec-WebSocket-Version: 13\r\n\r\n", PN_ERR, 400 },
    { "GET /t HTTP/1.1\r\nHost: x\r\n" UP "Sec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n\r\n", PN_ERR, 400 },      /* bits */
    { "GET /t HTTP/1.1\r\nHost: x\r\n" UP "Sec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Key: " KEY "\r\n\r\n", PN_ERR, 400 },
    { "GET /t HTTP/1.0\r\nHost: x\r\n" UP "Sec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: " KEY "\r\n\r\n", PN_ERR, 400 },
    { "GET /t HTTP/1.1\r\n" UP "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " KEY "\r\n\r\n",
      PN_ERR, 400 },                                                         /* no Host */
    { "GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", PN_ERR, 400 },
    { "GET /t HTTP/1.1\nHost: x\n\n", PN_ERR, 400 },                        /* bare LF */
    { "GET /t HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", PN_ERR, 400 },
    { "GET /t HTTP/1.1\r\nHo st: x\r\n\r\n", PN_ERR, 400 },
    { "GET /t HTTP/1.1\r\nHost: x\0y\r\n\r\n", PN_ERR, 400 },
    { "GET  /t HTTP/1.1\r\n\r\n", PN_ERR, 400 },
    { "GET /t HTTP/2.0\r\n\r\n", PN_ERR, 400 },
    { "\r\n\r\n", PN_ERR, 400 },
    { "GET /t HTTP/1.1\r\nHost: x\r\n", PN_AGAIN, 0 },
};

static void
test_request_table(void **state)
{
    for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
        const struct req_case *c = &req_cases[i];
        size_t len = strlen(c->in);
        if (i == 16)
            len = sizeof("GET /t HTTP/1.1\r\nHost: x\0y\r\n\r\n") - 1;
        tun_ws_req_t r;
        int rc = tun_ws_req_parse((const uint8_t *)c->in, len, "/t", &r);
        if (rc != c->rc || (rc == PN_ERR && r.status != c->status))
            fail_msg("case %zu: rc %d status %d (%s), expected rc %d status %d", i, rc, r.status,
                     r.why ? r.why : "-", c->rc, c->status);
        if (rc == PN_OK) {
            assert_int_equal(r.used, len);
            assert_string_equal(r.key, KEY);
        }
        if (rc == PN_ERR)
            assert_non_null(r.why);
    }
}

/* Every prefix of a good head is incomplete; bytes after it are not part of it. */
static void
test_request_prefixes_and_tail(void **state)
{
    char buf[512];
    size_t n = strlen(GOOD);
    tun_ws_req_t r;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tun_ws_req_parse((const uint8_t *)GOOD, i, "/t", &r), PN_AGAIN);
    snprintf(buf, sizeof(buf), "%sPN\x01" "C", GOOD);
    assert_int_equal(tun_ws_req_parse((const uint8_t *)buf, strlen(buf), "/t", &r), PN_OK);
    assert_int_equal(r.used, n);
}

static void
test_request_bounds(void **state)
{
    static uint8_t big[TUN_WS_HEAD_MAX + 100];
    tun_ws_req_t r;
    /* a line over 4096 bytes */
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /t HTTP/1.1\r\nX: ", 20);
    assert_int_equal(tun_ws_req_parse(big, 5000, "/t", &r), PN_ERR);
    assert_int_equal(r.status, 400);
    /* a head that fills 8192 bytes without its end */
    size_t off = 17;
    memcpy(big, "GET /t HTTP/1.1\r\n", 17);
    while (off + 12 <= TUN_WS_HEAD_MAX) {
        memcpy(big + off, "X-A: 12345\r\n", 12);
        off += 12;
    }
    memset(big + off, 'b', sizeof(big) - off);
    assert_int_equal(tun_ws_req_parse(big, TUN_WS_HEAD_MAX, "/t", &r), PN_ERR);
    /* 65 headers */
    char many[2048];
    size_t m = (size_t)snprintf(many, sizeof(many), "GET /t HTTP/1.1\r\n");
    for (int i = 0; i < 65; i++)
        m += (size_t)snprintf(many + m, sizeof(many) - m, "A%d: b\r\n", i);
    m += (size_t)snprintf(many + m, sizeof(many) - m, "\r\n");
    assert_int_equal(tun_ws_req_parse((uint8_t *)many, m, "/t", &r), PN_ERR);
}

static void
test_response(void **state)
{
    char acc[29];
    pn_ws_accept(KEY, acc);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");   /* RFC 6455 section 1.3 */
    char buf[512];
    size_t used = 0;
    int status = 0;
    const char *why = NULL;
    int n = snprintf(buf, sizeof(buf), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\nrest", acc);
    assert_int_equal(tun_ws_resp_parse((uint8_t *)buf, (size_t)n, acc, &used, &status, &why), PN_OK);
    assert_int_equal(used, (size_t)n - 4);
    assert_int_equal(tun_ws_resp_parse((uint8_t *)buf, 20, acc, &used, &status, &why), PN_AGAIN);
    buf[strlen("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: ")] ^= 1;
    assert_int_equal(tun_ws_resp_parse((uint8_t *)buf, (size_t)n, acc, &used, &status, &why), PN_ERR);
    const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(tun_ws_resp_parse((const uint8_t *)nf, strlen(nf), acc, &used, &status, &why),
                     PN_ERR);
    assert_int_equal(status, 404);
    const char *bad = "HTTP/1.1 1O1 x\r\n\r\n";
    assert_int_equal(tun_ws_resp_parse((const uint8_t *)bad, strlen(bad), acc, &used, &status, &why),
                     PN_ERR);
    assert_int_equal(status, 0);
}

/* ---- the transport over a socketpair ---- */

static void
nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

struct pair {
    int fd[2];
    pn_xprt_t *srv, *cli;
};

static void
pair_open(struct pair *p, const uint8_t *pre, size_t npre)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
    nonblock(p->fd[0]);
    nonblock(p->fd[1]);
    p->srv = pn_ws_xprt_new(pn_raw_xprt_new(p->fd[0]), 1, pre, npre);
    p->cli = pn_ws_xprt_new(pn_raw_xprt_new(p->fd[1]), 0, NULL, 0);
}

static void
pair_close(struct pair *p)
{
    pn_xprt_free(p->srv);
    pn_xprt_free(p->cli);
}

/* Read from <x> until <want> bytes came or it would block. */
static size_t
read_some(pn_xprt_t *x, uint8_t *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        ssize_t n = x->ops->read(x, buf + got, want - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

static void
test_xprt_bytes_both_ways(void **state)
{
    struct pair p;
    static uint8_t out[200000], in[200000];
    pair_open(&p, NULL, 0);
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(i * 7 + 3);
    /* client -> server, masked, through partial writes and reads */
    size_t sent = 0, got = 0;
    while (got < sizeof(out)) {
        if (sent < sizeof(out)) {
            ssize_t n = p.cli->ops->write(p.cli, out + sent, sizeof(out) - sent);
            assert_true(n > 0 || n == PN_AGAIN);
            if (n > 0)
                sent += (size_t)n;
        }
        got += read_some(p.srv, in + got, sizeof(out) - got);
    }
    assert_memory_equal(in, out, sizeof(out));
    assert_int_equal(p.srv->ops->pending(p.srv), 0);
    /* server -> client */
    assert_int_equal(p.srv->ops->write(p.srv, "hello", 5), 5);
    assert_int_equal(read_some(p.cli, in, 5), 5);
    assert_memory_equal(in, "hello", 5);
    assert_int_equal(p.cli->ops->read(p.cli, in, 5), PN_AGAIN);
    assert_int_equal(p.cli->want, EV_RD);
    /* half-close: the client's close frame reads as end of stream; the server still sends */
    assert_int_equal(p.cli->ops->shutdown_wr(p.cli), PN_OK);
    assert_int_equal(p.srv->ops->read(p.srv, in, 10), 0);
    assert_int_equal(p.cli->ops->write(p.cli, "x", 1), PN_ERR);
    assert_int_equal(p.srv->ops->write(p.srv, "late", 4), 4);
    assert_int_equal(read_some(p.cli, in, 4), 4);
    assert_int_equal(p.srv->ops->shutdown_wr(p.srv), PN_OK);
    assert_int_equal(p.cli->ops->read(p.cli, in, 10), 0);
    pair_close(&p);
}

/* Bytes read past the head come first; a ping is answered with its payload. */
static void
test_xprt_pre_and_ping(void **state)
{
    /* a masked binary frame "ab" (mask 0) and a masked ping "pp", as a client sends */
    static const uint8_t pre[] = { 0x82, 0x82, 0, 0, 0, 0, 'a', 'b',
                                   0x89, 0x82, 0, 0, 0, 0, 'p', 'p' };
    struct pair p;
    uint8_t in[16];
    pair_open(&p, pre, sizeof(pre));
    assert_true(p.srv->ops->pending(p.srv) > 0);
    assert_int_equal(p.srv->ops->read(p.srv, in, 1), 1);
    assert_int_equal(p.srv->ops->pending(p.srv), 1 + 8);
    assert_int_equal(p.srv->ops->read(p.srv, in + 1, 1), 1);
    assert_memory_equal(in, "ab", 2);
    assert_int_equal(p.srv->ops->read(p.srv, in, sizeof(in)), PN_AGAIN);
    /* the pong went out, unmasked: 0x8A 0x02 'p' 'p' */
    assert_int_equal(read(p.fd[1], in, sizeof(in)), 4);
    assert_memory_equal(in, "\x8a\x02pp", 4);
    pair_close(&p);
}

static void
test_xprt_faults(void **state)
{
    static const struct { uint8_t b[14]; size_t n; int server; } bad[] = {
        { { 0x82, 0x01, 'x' }, 3, 1 },                        /* unmasked from a client */
        { { 0x82, 0x81, 0, 0, 0, 0, 'x' }, 7, 0 },            /* masked from a server */
        { { 0x81, 0x81, 0, 0, 0, 0, 'x' }, 7, 1 },            /* text */
        { { 0x83, 0x81, 0, 0, 0, 0, 'x' }, 7, 1 },            /* opcode 3 */
        { { 0xC2, 0x81, 0, 0, 0, 0, 'x' }, 7, 1 },            /* RSV1 */
        { { 0x80, 0x81, 0, 0, 0, 0, 'x' }, 7, 1 },            /* continuation, no message */
        { { 0x82, 0xFF, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0 }, 14, 1 }, /* 2 MiB; one byte */
        { { 0x89, 0xFE, 0, 200, 0, 0, 0, 0 }, 8, 1 },        /* a 200-byte ping */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int fd[2];
        uint8_t in[16];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
        nonblock(fd[0]);
        pn_xprt_t *x = pn_ws_xprt_new(pn_raw_xprt_new(fd[0]), bad[i].server, NULL, 0);
        size_t n = bad[i].n;
        uint8_t buf[64];
        memcpy(buf, bad[i].b, n);
        if (i == 6)
            buf[n++] = 0;       /* the first payload byte reveals the oversized frame */
        assert_int_equal(write(fd[1], buf, n), (ssize_t)n);
        ssize_t r = x->ops->read(x, in, sizeof(in));
        if (r != PN_ERR)
            fail_msg("case %zu: read %zd, expected PN_ERR", i, r);
        assert_non_null(x->err);
        assert_int_equal(x->ops->read(x, in, sizeof(in)), PN_ERR);     /* and it stays so */
        pn_xprt_free(x);
        close(fd[1]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_table),
        cmocka_unit_test(test_request_prefixes_and_tail),
        cmocka_unit_test(test_request_bounds),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_xprt_bytes_both_ways),
        cmocka_unit_test(test_xprt_pre_and_ping),
        cmocka_unit_test(test_xprt_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
