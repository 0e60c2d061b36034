/* tests/unit/route/http_test.c: HTTP/1.x message framing, the request head
 * rewrite, error pages and host names (route/http.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "route/http.h"

/* ---- helpers ---- */

/* What feeding a message gave. */
struct res {
    int rc;
    size_t used;                /* bytes of the input the message took */
    enum pn_http_state state;
    const char *why;
    pn_http_head_t head;        /* a copy, valid when state >= IN_BODY */
};

static const char *
state_name(enum pn_http_state s)
{
    switch (s) {
    case PN_HTTP_IN_HEAD: return "IN_HEAD";
    case PN_HTTP_IN_BODY: return "IN_BODY";
    case PN_HTTP_DONE: return "DONE";
    }
    return "?";
}

/* Feed <n> bytes at <p> into <m> in pieces of <piece> bytes (0: in one go),
 * each piece copied to a block of exactly its size so that an over-read trips
 * ASan. Stop at the end of the message or at an error. The state never goes
 * back, and *used is never more than was given. */
static struct res
feed_into(pn_http_msg_t *m, const void *p, size_t n, size_t piece)
{
    struct res r = { PN_OK, 0, PN_HTTP_IN_HEAD, NULL, { 0 } };
    size_t off = 0;
    if (piece == 0)
        piece = n ? n : 1;
    while (off < n) {
        size_t k = n - off < piece ? n - off : piece, used = 0;
        enum pn_http_state st = PN_HTTP_IN_HEAD;
        uint8_t *buf = malloc(k);
        assert_non_null(buf);
        memcpy(buf, (const uint8_t *)p + off, k);
        r.rc = pn_http_msg_feed(m, buf, k, &used, &st, &r.why);
        free(buf);
        if (r.rc != PN_OK) {
            assert_non_null(r.why);
            break;
        }
        assert_true(used <= k);
        assert_true(st >= r.state);
        r.state = st;
        off += used;
        if (st == PN_HTTP_DONE)
            break;
        assert_int_equal(used, k);          /* not ended: every byte is the message's */
    }
    r.used = off;
    if (r.rc == PN_OK && r.state >= PN_HTTP_IN_BODY)
        r.head = *pn_http_msg_head(m);
    return r;
}

static struct res
feed_msg(enum pn_http_kind kind, int head_req, const void *p, size_t n, size_t piece)
{
    pn_http_msg_t *m = pn_http_msg_new(kind);
    pn_http_msg_reset(m, head_req);
    struct res r = feed_into(m, p, n, piece);
    pn_http_msg_free(m);
    assert_null(m);
    return r;
}

/* Feed as a request in one go, byte by byte and in pieces of 7. */
static struct res
req_all_ways(const char *s, size_t n)
{
    struct res one = feed_msg(PN_HTTP_REQUEST, 0, s, n, 0);
    static const size_t pieces[] = { 1, 7 };
    for (size_t i = 0; i < 2; i++) {
        struct res r = feed_msg(PN_HTTP_REQUEST, 0, s, n, pieces[i]);
        /* A refused message took however many pieces came before the bad one. */
        if (r.rc != one.rc || (r.rc == PN_OK && (r.used != one.used || r.state != one.state)))
            fail_msg("request fed in pieces of %zu: rc %d used %zu %s; in one go: rc %d used %zu "
                     "%s",
                     pieces[i], r.rc, r.used, state_name(r.state), one.rc, one.used,
                     state_name(one.state));
        if (r.rc == PN_OK && r.state >= PN_HTTP_IN_BODY)
            assert_memory_equal(&r.head, &one.head, sizeof(r.head));
    }
    return one;
}

#define REQ(s) req_all_ways((s), sizeof(s) - 1)
#define RESP(s) feed_msg(PN_HTTP_RESPONSE, 0, (s), sizeof(s) - 1, 0)

/* Expect the request <s> to be refused, however it is fed. */
static void
refused_n(const char *s, size_t n, const char *what)
{
    struct res r = req_all_ways(s, n);
    if (r.rc != PN_ERR)
        fail_msg("%s: accepted (used %zu, %s)", what, r.used, state_name(r.state));
}

#define REFUSED(s) refused_n((s), sizeof(s) - 1, #s)

static void
resp_refused_n(const char *s, size_t n, const char *what)
{
    struct res r = feed_msg(PN_HTTP_RESPONSE, 0, s, n, 0);
    struct res r1 = feed_msg(PN_HTTP_RESPONSE, 0, s, n, 1);
    if (r.rc != PN_ERR || r1.rc != PN_ERR)
        fail_msg("%s: accepted as a response", what);
}

#define RESP_REFUSED(s) resp_refused_n((s), sizeof(s) - 1, #s)

/* ---- requests ---- */

static void
test_get_simple(void **state)
{
    static const char s[] = "GET /index.html?q=1 HTTP/1.1\r\n"
                            "Host: app.example.com\r\n"
                            "User-Agent: test\r\n"
                            "\r\n";
    struct res r = REQ(s);
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.used, sizeof(s) - 1);
    assert_string_equal(r.head.method, "GET");
    assert_string_equal(r.head.host, "app.example.com");
    assert_int_equal(r.head.status, 0);
    assert_int_equal(r.head.minor, 1);
    assert_int_equal(r.head.keep_alive, 1);
    assert_int_equal(r.head.upgrade, 0);
    assert_int_equal(r.head.body, PN_HTTP_BODY_NONE);
    assert_int_equal(r.head.length, 0);
}

static void
test_methods(void **state)
{
    struct res r = REQ("DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(r.rc, PN_OK);
    assert_string_equal(r.head.method, "DELETE");
    r = REQ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(r.rc, PN_OK);
    assert_string_equal(r.head.method, "OPTIONS");
    r = REQ("M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(r.rc, PN_OK);
    assert_string_equal(r.head.method, "M-SEARCH");
}

/* Host "<in>" gives the routing name <want> (NULL: the request is refused). */
static void
host_is(const char *in, const char *want)
{
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost:%s\r\n\r\n", in);
    assert_true(n > 0 && (size_t)n < sizeof(req));
    struct res r = req_all_ways(req, (size_t)n);
    if (want == NULL) {
        if (r.rc != PN_ERR)
            fail_msg("Host:%s accepted as \"%s\"", in, r.head.host);
        return;
    }
    if (r.rc != PN_OK)
        fail_msg("Host:%s refused: %s", in, r.why);
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_string_equal(r.head.host, want);
}

static void
test_host_normalised(void **state)
{
    host_is(" app.example.com", "app.example.com");
    host_is(" App.Example.COM", "app.example.com");
    host_is(" app.example.com:8080", "app.example.com");
    host_is(" app.example.com.", "app.example.com");
    host_is(" APP.example.com.:80", "app.example.com");
    host_is("app", "app");
    host_is(" \tapp.test \t", "app.test");
    host_is(" app.test:", "app.test");                 /* empty port: RFC 3986 allows it */
    host_is(" 127.0.0.1:8080", "127.0.0.1");
    host_is(" xn--bcher-kva.example", "xn--bcher-kva.example");
}

static void
test_host_refused(void **state)
{
    host_is("", NULL);
    host_is("   ", NULL);
    host_is(" [::1]:80", NULL);                       /* IP literals are not routed */
    host_is(" [::1]", NULL);
    host_is(" a..b", NULL);
    host_is(" .a", NULL);
    host_is(" a.b..", NULL);
    host_is(" -a.b", NULL);
    host_is(" a-.b", NULL);
    host_is(" a_b.test", NULL);
    host_is(" a b", NULL);
    host_is(" a.test:123456", NULL);
    host_is(" a.test:8x", NULL);
    host_is(" a.test:80:80", NULL);
    host_is(" user@a.test", NULL);
    host_is(" a.test\xc3\xa9", NULL);
}

static void
test_host_lengths(void **state)
{
    char name[300], hostv[310];
    /* 4 labels of 63 = 255 with dots: too long; 3 of 63 + 61 = 253 exactly: fine. */
    memset(name, 'a', sizeof(name));
    for (int i = 63; i < 253; i += 64)
        name[i] = '.';
    name[253] = '\0';
    snprintf(hostv, sizeof(hostv), " %s", name);
    host_is(hostv, name);
    snprintf(hostv, sizeof(hostv), " %s.", name);     /* the trailing dot is not counted */
    host_is(hostv, name);
    name[253] = 'a';
    name[254] = '\0';
    snprintf(hostv, sizeof(hostv), " %s", name);
    host_is(hostv, NULL);
    /* A label of 64, and of 63. */
    memset(name, 'b', 64);
    strcpy(name + 64, ".test");
    snprintf(hostv, sizeof(hostv), " %s", name);
    host_is(hostv, NULL);
    snprintf(hostv, sizeof(hostv), " %s", name + 1);
    host_is(hostv, name + 1);
}

static void
test_keep_alive(void **state)
{
    struct res r = REQ("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(r.head.keep_alive, 1);
    r = REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_int_equal(r.head.keep_alive, 0);
    r = REQ("GET / HTTP/1.0\r\n\r\n");               /* 1.0 without Host is fine */
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.head.minor, 0);
    assert_string_equal(r.head.host, "");
    assert_int_equal(r.head.keep_alive, 0);
    r = REQ("GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(r.head.minor, 0);
    assert_int_equal(r.head.keep_alive, 1);
}

static const char post_len[] = "POST /upload HTTP/1.1\r\n"
                               "Host: a.test\r\n"
                               "Content-Length: 11\r\n"
                               "\r\n"
                               "hello world";

static void
test_body_length(void **state)
{
    struct res r = REQ(post_len);
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.used, sizeof(post_len) - 1);
    assert_int_equal(r.head.body, PN_HTTP_BODY_LENGTH);
    assert_int_equal(r.head.length, 11);

    /* Zero: no body. */
    r = REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.head.body, PN_HTTP_BODY_NONE);
}

/* Byte by byte: IN_HEAD through the head, IN_BODY from its last byte on, DONE
 * at the last body byte, and the head is there as soon as IN_BODY is. */
static void
test_body_length_bytewise_states(void **state)
{
    size_t n = sizeof(post_len) - 1, head = strstr(post_len, "\r\n\r\n") + 4 - post_len;
    pn_http_msg_t *m = pn_http_msg_new(PN_HTTP_REQUEST);
    for (size_t i = 0; i < n; i++) {
        size_t used = 0;
        enum pn_http_state st;
        const char *why = NULL;
        assert_int_equal(pn_http_msg_feed(m, (const uint8_t *)post_len + i, 1, &used, &st, &why),
                         PN_OK);
        assert_int_equal(used, 1);
        if (i + 1 < head)
            assert_int_equal(st, PN_HTTP_IN_HEAD);
        else if (i + 1 < n)
            assert_int_equal(st, PN_HTTP_IN_BODY);
        else
            assert_int_equal(st, PN_HTTP_DONE);
        if (st != PN_HTTP_IN_HEAD)
            assert_string_equal(pn_http_msg_head(m)->host, "a.test");
    }
    pn_http_msg_free(m);
}

static const char post_chunked[] = "POST /c HTTP/1.1\r\n"
                                   "Host: a.test\r\n"
                                   "Transfer-Encoding: chunked\r\n"
                                   "\r\n"
                                   "5;name=value\r\n"
                                   "hello\r\n"
                                   "10\r\n"
                                   "0123456789abcdef\r\n"
                                   "0\r\n"
                                   "Trailer-One: 1\r\n"
                                   "\r\n";

static void
test_body_chunked(void **state)
{
    struct res r = REQ(post_chunked);
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.used, sizeof(post_chunked) - 1);
    assert_int_equal(r.head.body, PN_HTTP_BODY_CHUNKED);
    assert_int_equal(r.head.keep_alive, 1);

    r = REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked \r\n\r\n0\r\n\r\n");
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.state, PN_HTTP_DONE);
    r = REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            "00000000003\r\nabc\r\n0 \r\n\r\n");
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.state, PN_HTTP_DONE);
}

/* A chunked request followed by a pipelined one, split at every byte: the
 * first always ends at the same byte, and the second parses after a reset. */
static void
test_chunked_every_split(void **state)
{
    static const char second[] = "GET /next HTTP/1.1\r\nHost: b.test\r\n\r\n";
    char both[sizeof(post_chunked) + sizeof(second)];
    size_t n1 = sizeof(post_chunked) - 1, n = n1 + sizeof(second) - 1;
    memcpy(both, post_chunked, n1);
    memcpy(both + n1, second, sizeof(second));
    for (size_t k = 1; k < n; k++) {
        pn_http_msg_t *m = pn_http_msg_new(PN_HTTP_REQUEST);
        struct res a = feed_into(m, both, k, 0);
        assert_int_equal(a.rc, PN_OK);
        struct res b = feed_into(m, both + a.used, n - a.used, 0);
        assert_int_equal(b.rc, PN_OK);
        assert_int_equal(b.state, PN_HTTP_DONE);
        if (a.used + b.used != n1)
            fail_msg("split at %zu: the first request took %zu bytes, not %zu", k,
                     a.used + b.used, n1);
        pn_http_msg_reset(m, 0);
        struct res c = feed_into(m, both + n1, n - n1, 0);
        assert_int_equal(c.rc, PN_OK);
        assert_int_equal(c.state, PN_HTTP_DONE);
        assert_int_equal(c.used, n - n1);
        assert_string_equal(c.head.host, "b.test");
        pn_http_msg_free(m);
    }
}

static void
test_pipelined(void **state)
{
    static const char two[] = "GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n"
                              "POST /2 HTTP/1.1\r\nHost: b.test\r\nContent-Length: 2\r\n\r\nhi"
                              "GET /3 HTTP/1.1\r\nHost: c.test\r\n\r\n";
    size_t n = sizeof(two) - 1, off = 0;
    const char *hosts[] = { "a.test", "b.test", "c.test" };
    pn_http_msg_t *m = pn_http_msg_new(PN_HTTP_REQUEST);
    for (int i = 0; i < 3; i++) {
        size_t used = 0;
        enum pn_http_state st;
        const char *why = NULL;
        pn_http_msg_reset(m, 0);
        assert_int_equal(pn_http_msg_feed(m, (const uint8_t *)two + off, n - off, &used, &st,
                                          &why),
                         PN_OK);
        assert_int_equal(st, PN_HTTP_DONE);
        assert_string_equal(pn_http_msg_head(m)->host, hosts[i]);
        /* The next request starts right where this one stopped. */
        off += used;
        if (i < 2)
            assert_memory_equal(two + off, i == 0 ? "POST /2" : "GET /3", i == 0 ? 7 : 6);
        /* Fed again before a reset: nothing more is taken. */
        size_t again = 1;
        assert_int_equal(pn_http_msg_feed(m, (const uint8_t *)two + off, n - off, &again, &st,
                                          &why),
                         PN_OK);
        assert_int_equal(again, 0);
        assert_int_equal(st, PN_HTTP_DONE);
    }
    assert_int_equal(off, n);
    pn_http_msg_free(m);
}

static void
test_upgrade_request(void **state)
{
    static const char s[] = "GET /ws HTTP/1.1\r\n"
                            "Host: a.test\r\n"
                            "Connection: keep-alive, Upgrade\r\n"
                            "Upgrade: websocket\r\n"
                            "Sec-WebSocket-Version: 13\r\n"
                            "\r\n"
                            "\x81\x85 not http";
    size_t head = strstr(s, "\r\n\r\n") + 4 - s;
    struct res r = req_all_ways(s, sizeof(s) - 1);
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.used, head);
    assert_int_equal(r.head.upgrade, 1);

    /* Upgrade without "Connection: upgrade" is only a header. */
    r = REQ("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.head.upgrade, 0);
}

static void
test_absolute_form(void **state)
{
    struct res r = REQ("GET http://a.test:80/x?y HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_int_equal(r.rc, PN_OK);
    assert_string_equal(r.head.host, "a.test");
    r = REQ("GET HTTPS://A.test HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_int_equal(r.rc, PN_OK);
    /* The target names another host than the one routed on. */
    REFUSED("GET http://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n");
    REFUSED("GET http://u@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n");
    REFUSED("GET ftp://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n");
    REFUSED("GET http://a.test/ HTTP/1.0\r\n\r\n");
}

/* ---- refusals ---- */

static void
test_refuse_framing_conflicts(void **state)
{
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\n");
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
            "0\r\n\r\n");
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello");
    /* The same length twice is refused as well (RFC 9112 6.3 allows either). */
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello");
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello");
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: five\r\n\r\nhello");
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n");
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    REFUSED("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    REFUSED("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
}

static void
test_refuse_host(void **state)
{
    REFUSED("GET / HTTP/1.1\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost:\r\n\r\n");
    REFUSED("GET / HTTP/1.0\r\nHost: a_b\r\n\r\n");
}

static void
test_refuse_obs_fold(void **state)
{
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n\ttwo\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\n Host: a\r\n\r\n");
    RESP_REFUSED("HTTP/1.1 200 OK\r\nX: one\r\n two\r\nContent-Length: 0\r\n\r\n");
}

static void
test_refuse_header_chars(void **state)
{
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX: a\x00z\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bz\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHo st: a\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost : a\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nX(y): a\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n");
    RESP_REFUSED("HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n");
    RESP_REFUSED("HTTP/1.1 200 O\x01K\r\n\r\n");
    /* obs-text (bytes 0x80-0xFF) and HT are allowed in values. */
    struct res r = REQ("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\tb\r\n\r\n");
    assert_int_equal(r.rc, PN_OK);
}

static void
test_refuse_line_endings(void **state)
{
    REFUSED("GET / HTTP/1.1\nHost: a\n\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n");
    REFUSED("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n");
    RESP_REFUSED("HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n");
}

static void
test_refuse_request_line(void **state)
{
    REFUSED("GET  / HTTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("GET /  HTTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("GET / HTTP/1.1 \r\nHost: a\r\n\r\n");
    REFUSED(" GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("GET /\r\n\r\n");                          /* HTTP/0.9 */
    REFUSED("GET / HTTP/2.0\r\nHost: a\r\n\r\n");
    REFUSED("GET / HTTP/1.2\r\nHost: a\r\n\r\n");
    REFUSED("GET / HTTP/0.9\r\nHost: a\r\n\r\n");
    REFUSED("GET / FTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("GET / HTXP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("GET / HTTP/1.1.1\r\nHost: a\r\n\r\n");
    REFUSED("GET / HTTP/1\r\nHost: a\r\n\r\n");
    REFUSED("FOO / HTTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("get / HTTP/1.1\r\nHost: a\r\n\r\n");
    REFUSED("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n");
    REFUSED("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
}

static void
test_refuse_chunk_framing(void **state)
{
#define TE "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    REFUSED(TE "5\r\nhelloXY0\r\n\r\n");               /* http-parser takes any 2 bytes as CRLF */
    REFUSED(TE "5\r\nhello\n0\r\n\r\n");
    REFUSED(TE "5\nhello\r\n0\r\n\r\n");
    REFUSED(TE "5\rXhello\r\n0\r\n\r\n");
    REFUSED(TE "5;a\nb\r\nhello\r\n0\r\n\r\n");
    REFUSED(TE "5;a\x01\r\nhello\r\n0\r\n\r\n");
    REFUSED(TE "x\r\n\r\n");
    REFUSED(TE "-5\r\nhello\r\n0\r\n\r\n");
    REFUSED(TE "\r\n0\r\n\r\n");
    REFUSED(TE "5\t\r\nhello\r\n0\r\n\r\n");
    REFUSED(TE "10000000000000000\r\n");              /* 2^64 */
    REFUSED(TE "0\r\nX: a\r\n folded\r\n\r\n");
    REFUSED(TE "0\r\nX: a\n\r\n");
    REFUSED(TE "0\r\n\n");
#undef TE
}

static void
test_refusal_sticky(void **state)
{
    static const char bad[] = "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    pn_http_msg_t *m = pn_http_msg_new(PN_HTTP_REQUEST);
    size_t used = 99;
    enum pn_http_state st;
    const char *why = NULL, *why2 = NULL;
    assert_int_equal(pn_http_msg_feed(m, (const uint8_t *)bad, sizeof(bad) - 1, &used, &st, &why),
                     PN_ERR);
    assert_non_null(why);
    assert_int_equal(pn_http_msg_feed(m, (const uint8_t *)"x", 1, &used, &st, &why2), PN_ERR);
    assert_string_equal(why, why2);
    assert_int_equal(pn_http_msg_eof(m), PN_ERR);
    /* A reset starts afresh. */
    pn_http_msg_reset(m, 0);
    struct res r = feed_into(m, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, 0);
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.state, PN_HTTP_DONE);
    pn_http_msg_free(m);
    pn_http_msg_free(m);                               /* NULL: a no-op */
}

/* ---- head size ---- */

/* A request whose head is exactly <size> bytes (a padding field makes it up). */
static char *
head_of_size(size_t size, size_t *n)
{
    static const char pre[] = "GET / HTTP/1.1\r\nHost: a.test\r\nX-Pad: ";
    static const char post[] = "\r\n\r\n";
    size_t fixed = sizeof(pre) - 1 + sizeof(post) - 1;
    assert_true(size > fixed);
    char *s = malloc(size);
    assert_non_null(s);
    memcpy(s, pre, sizeof(pre) - 1);
    memset(s + sizeof(pre) - 1, 'p', size - fixed);
    memcpy(s + size - (sizeof(post) - 1), post, sizeof(post) - 1);
    *n = size;
    return s;
}

static void
test_head_max(void **state)
{
    size_t n;
    static const size_t pieces[] = { 0, 1, 7, 4096 };
    for (size_t i = 0; i < 4; i++) {
        char *s = head_of_size(PN_HTTP_HEAD_MAX, &n);
        struct res r = feed_msg(PN_HTTP_REQUEST, 0, s, n, pieces[i]);
        assert_int_equal(r.rc, PN_OK);
        assert_int_equal(r.state, PN_HTTP_DONE);
        assert_int_equal(r.used, PN_HTTP_HEAD_MAX);
        free(s);
        s = head_of_size(PN_HTTP_HEAD_MAX + 1, &n);
        r = feed_msg(PN_HTTP_REQUEST, 0, s, n, pieces[i]);
        assert_int_equal(r.rc, PN_ERR);
        free(s);
        /* A response head too. */
        s = head_of_size(PN_HTTP_HEAD_MAX + 1, &n);
        memcpy(s, "HTTP/1.1 200 OK\r\n", 17);
        r = feed_msg(PN_HTTP_RESPONSE, 0, s, n, pieces[i]);
        assert_int_equal(r.rc, PN_ERR);
        free(s);
    }
}

/* A head that never ends is refused at its 16384th byte, not later. */
static void
test_head_endless(void **state)
{
    static const char pre[] = "GET / HTTP/1.1\r\nHost: a.test\r\nX-Pad: ";
    size_t n = PN_HTTP_HEAD_MAX + 100;
    uint8_t *s = malloc(n);
    assert_non_null(s);
    memcpy(s, pre, sizeof(pre) - 1);
    memset(s + sizeof(pre) - 1, 'p', n - (sizeof(pre) - 1));
    pn_http_msg_t *m = pn_http_msg_new(PN_HTTP_REQUEST);
    size_t used, off = 0;
    enum pn_http_state st;
    const char *why = NULL;
    while (off < PN_HTTP_HEAD_MAX - 1000) {
        assert_int_equal(pn_http_msg_feed(m, s + off, 1000, &used, &st, &why), PN_OK);
        assert_int_equal(used, 1000);
        off += used;
    }
    assert_int_equal(pn_http_msg_feed(m, s + off, PN_HTTP_HEAD_MAX - off - 1, &used, &st, &why),
                     PN_OK);
    off += used;
    assert_int_equal(off, PN_HTTP_HEAD_MAX - 1);
    assert_int_equal(pn_http_msg_feed(m, s + off, 1, &used, &st, &why), PN_ERR);
    assert_non_null(strstr(why, "16 KiB"));
    pn_http_msg_free(m);
    free(s);
}

/* ---- responses ---- */

static void
test_response_length(void **state)
{
    static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n";
    struct res r = RESP(s);
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.used, strstr(s, "abc") + 3 - s);
    assert_int_equal(r.head.status, 200);
    assert_string_equal(r.head.method, "");
    assert_string_equal(r.head.host, "");
    assert_int_equal(r.head.body, PN_HTTP_BODY_LENGTH);
    assert_int_equal(r.head.length, 3);
    assert_int_equal(r.head.keep_alive, 1);

    r = RESP("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.head.minor, 0);
    assert_int_equal(r.head.keep_alive, 0);
    r = RESP("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.head.status, 404);
    assert_int_equal(r.head.body, PN_HTTP_BODY_NONE);
    /* A status line without a reason phrase, and bare LF line ends. */
    r = RESP("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(r.state, PN_HTTP_DONE);
    r = RESP("HTTP/1.1 200 OK\nContent-Length: 2\n\nok");
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.used, 37);
}

static void
test_response_chunked(void **state)
{
    static const char s[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n0\r\n\r\nHTTP";
    for (size_t piece = 0; piece < 4; piece++) {
        struct res r = feed_msg(PN_HTTP_RESPONSE, 0, s, sizeof(s) - 1, piece);
        assert_int_equal(r.rc, PN_OK);
        assert_int_equal(r.state, PN_HTTP_DONE);
        assert_int_equal(r.used, sizeof(s) - 1 - 4);
        assert_int_equal(r.head.body, PN_HTTP_BODY_CHUNKED);
    }
    RESP_REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n");
    RESP_REFUSED("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
}

static void
test_response_close(void **state)
{
    static const char s[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
    pn_http_msg_t *m = pn_http_msg_new(PN_HTTP_RESPONSE);
    struct res r = feed_into(m, s, sizeof(s) - 1, 5);
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.state, PN_HTTP_IN_BODY);
    assert_int_equal(r.used, sizeof(s) - 1);
    assert_int_equal(r.head.body, PN_HTTP_BODY_CLOSE);
    assert_int_equal(r.head.keep_alive, 0);
    assert_int_equal(pn_http_msg_eof(m), PN_OK);
    size_t used;
    enum pn_http_state st;
    const char *why;
    assert_int_equal(pn_http_msg_feed(m, (const uint8_t *)"x", 1, &used, &st, &why), PN_OK);
    assert_int_equal(st, PN_HTTP_DONE);
    assert_int_equal(used, 0);
    assert_int_equal(pn_http_msg_eof(m), PN_OK);
    pn_http_msg_free(m);

    /* A transfer coding other than chunked: until close as well. */
    r = RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz");
    assert_int_equal(r.state, PN_HTTP_IN_BODY);
    assert_int_equal(r.head.body, PN_HTTP_BODY_CLOSE);
}

static void
test_response_eof_early(void **state)
{
    pn_http_msg_t *m = pn_http_msg_new(PN_HTTP_RESPONSE);
    assert_int_equal(pn_http_msg_eof(m), PN_ERR);      /* nothing at all */
    struct res r = feed_into(m, "HTTP/1.1 200 OK\r\nContent-Le", 27, 0);
    assert_int_equal(r.state, PN_HTTP_IN_HEAD);
    assert_int_equal(pn_http_msg_eof(m), PN_ERR);
    pn_http_msg_reset(m, 0);
    r = feed_into(m, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 41, 0);
    assert_int_equal(r.state, PN_HTTP_IN_BODY);
    assert_int_equal(pn_http_msg_eof(m), PN_ERR);
    pn_http_msg_reset(m, 0);
    r = feed_into(m, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", 52, 0);
    assert_int_equal(r.state, PN_HTTP_IN_BODY);
    assert_int_equal(pn_http_msg_eof(m), PN_ERR);
    pn_http_msg_free(m);
}

static void
test_response_head_request(void **state)
{
    static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 ...";
    struct res r = feed_msg(PN_HTTP_RESPONSE, 1, s, sizeof(s) - 1, 0);
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.used, strstr(s, "\r\n\r\n") + 4 - s);
    assert_int_equal(r.head.body, PN_HTTP_BODY_NONE);
    assert_int_equal(r.head.keep_alive, 1);
    r = feed_msg(PN_HTTP_RESPONSE, 1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 47,
                 0);
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.head.body, PN_HTTP_BODY_NONE);
    /* Without the HEAD flag, the same head has a body. */
    r = feed_msg(PN_HTTP_RESPONSE, 0, s, sizeof(s) - 1, 0);
    assert_int_equal(r.state, PN_HTTP_IN_BODY);
}

static void
test_response_no_body_status(void **state)
{
    static const char *const heads[] = {
        "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < 4; i++) {
        char buf[256];
        int n = snprintf(buf, sizeof(buf), "%sHTTP/1.1 200 OK\r\n", heads[i]);
        struct res r = feed_msg(PN_HTTP_RESPONSE, 0, buf, (size_t)n, 0);
        assert_int_equal(r.rc, PN_OK);
        assert_int_equal(r.state, PN_HTTP_DONE);
        assert_int_equal(r.used, strlen(heads[i]));
        assert_int_equal(r.head.body, PN_HTTP_BODY_NONE);
        assert_int_equal(r.head.keep_alive, 1);
    }
}

static void
test_response_continue(void **state)
{
    static const char s[] = "HTTP/1.1 100 Continue\r\n\r\n"
                            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    pn_http_msg_t *m = pn_http_msg_new(PN_HTTP_RESPONSE);
    struct res r = feed_into(m, s, sizeof(s) - 1, 0);
    assert_int_equal(r.rc, PN_OK);
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.used, 25);
    assert_int_equal(r.head.status, 100);
    assert_int_equal(r.head.body, PN_HTTP_BODY_NONE);
    assert_int_equal(r.head.upgrade, 0);
    assert_int_equal(r.head.keep_alive, 1);
    pn_http_msg_reset(m, 0);
    struct res r2 = feed_into(m, s + r.used, sizeof(s) - 1 - r.used, 0);
    assert_int_equal(r2.state, PN_HTTP_DONE);
    assert_int_equal(r2.head.status, 200);
    assert_int_equal(r.used + r2.used, sizeof(s) - 1);
    pn_http_msg_free(m);

    /* 1xx with a Content-Length still has no body. */
    r = RESP("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\nContent-Length: 5\r\n\r\n");
    assert_int_equal(r.state, PN_HTTP_DONE);
}

static void
test_response_switching(void **state)
{
    static const char s[] = "HTTP/1.1 101 Switching Protocols\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: Upgrade\r\n"
                            "\r\n"
                            "\x81\x05hello";
    size_t head = strstr(s, "\r\n\r\n") + 4 - s;
    for (size_t piece = 0; piece < 3; piece++) {
        struct res r = feed_msg(PN_HTTP_RESPONSE, 0, s, sizeof(s) - 1, piece);
        assert_int_equal(r.rc, PN_OK);
        assert_int_equal(r.state, PN_HTTP_DONE);
        assert_int_equal(r.used, head);
        assert_int_equal(r.head.status, 101);
        assert_int_equal(r.head.upgrade, 1);
        assert_int_equal(r.head.keep_alive, 0);
        assert_int_equal(r.head.body, PN_HTTP_BODY_NONE);
    }
    /* Without the Upgrade fields the status still says it. */
    struct res r = RESP("HTTP/1.1 101 Switching Protocols\r\n\r\nxx");
    assert_int_equal(r.state, PN_HTTP_DONE);
    assert_int_equal(r.used, 36);
    assert_int_equal(r.head.upgrade, 1);
}

static void
test_response_refused(void **state)
{
    RESP_REFUSED("HTTP/2.0 200 OK\r\n\r\n");
    RESP_REFUSED("HTTP/1.1 20 OK\r\n\r\n");
    RESP_REFUSED("HTTP/1.1 099 OK\r\n\r\n");
    RESP_REFUSED("HTTP/1.1 OK\r\n\r\n");
    RESP_REFUSED("HTTX/1.1 200 OK\r\n\r\n");
    RESP_REFUSED("HTTP/1.1  200 OK\r\n\r\n");
    RESP_REFUSED("HTTP/11 200 OK\r\n\r\n");
    RESP_REFUSED("HTTP/1.1 2000 OK\r\n\r\n");
    RESP_REFUSED("HTTP/1.1 200\tOK\r\n\r\n");
    RESP_REFUSED("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    RESP_REFUSED("GET / HTTP/1.1\r\n\r\n");
}

/* ---- pn_http_head_rewrite ---- */

static void
test_rewrite_exact(void **state)
{
    static const char in[] = "GET /p HTTP/1.1\r\n"
                             "Host: a.test\r\n"
                             "X-Forwarded-Proto: https\r\n"
                             "X-Forwarded-For: 192.0.2.1\r\n"
                             "x-forwarded-PROTO: spoofed\r\n"
                             "X-Forwarded-Protocol: kept\r\n"
                             "Accept: */*\r\n"
                             "\r\n";
    static const char want[] = "GET /p HTTP/1.1\r\n"
                               "Host: a.test\r\n"
                               "X-Forwarded-For: 192.0.2.1\r\n"
                               "X-Forwarded-Protocol: kept\r\n"
                               "Accept: */*\r\n"
                               "X-Forwarded-For: 2001:db8::7\r\n"
                               "X-Forwarded-Proto: http\r\n"
                               "\r\n";
    uint8_t out[512];
    size_t n = pn_http_head_rewrite((const uint8_t *)in, sizeof(in) - 1, "2001:db8::7", "http",
                                    out, sizeof(out));
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);

    /* The exact size is enough; one byte less is not. */
    uint8_t *tight = malloc(n);
    assert_non_null(tight);
    assert_int_equal(pn_http_head_rewrite((const uint8_t *)in, sizeof(in) - 1, "2001:db8::7",
                                          "http", tight, n),
                     n);
    assert_memory_equal(tight, want, n);
    assert_int_equal(pn_http_head_rewrite((const uint8_t *)in, sizeof(in) - 1, "2001:db8::7",
                                          "http", tight, n - 1),
                     0);
    free(tight);
}

static void
test_rewrite_minimal(void **state)
{
    static const char in[] = "GET / HTTP/1.0\r\n\r\n";
    static const char want[] = "GET / HTTP/1.0\r\n"
                               "X-Forwarded-For: 10.0.0.1\r\n"
                               "X-Forwarded-Proto: https\r\n\r\n";
    uint8_t out[128];
    size_t n = pn_http_head_rewrite((const uint8_t *)in, sizeof(in) - 1, "10.0.0.1", "https", out,
                                    sizeof(out));
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);
}

static void
rewrite_refused(const char *in, const char *ip, const char *proto)
{
    uint8_t out[512];
    size_t n = pn_http_head_rewrite((const uint8_t *)in, strlen(in), ip, proto, out, sizeof(out));
    if (n != 0)
        fail_msg("rewrite of \"%s\" (%s, %s) accepted", in, ip ? ip : "NULL",
                 proto ? proto : "NULL");
}

static void
test_rewrite_malformed(void **state)
{
    rewrite_refused("", "1.2.3.4", "http");
    rewrite_refused("\r\n\r\n", "1.2.3.4", "http");
    rewrite_refused("GET / HTTP/1.1\r\nHost: a\r\n", "1.2.3.4", "http");
    rewrite_refused("GET / HTTP/1.1\r\n\r\nHost: a\r\n\r\n", "1.2.3.4", "http");
    rewrite_refused("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", "1.2.3.4", "http");
    rewrite_refused("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", "1.2.3.4", "http");
    rewrite_refused("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "1.2.3.4", "http");
    rewrite_refused("GET / HTTP/1.1\r\nNoColon\r\n\r\n", "1.2.3.4", "http");
    rewrite_refused("GET / HTTP/1.1\r\nX-Forwarded-Proto : https\r\n\r\n", "1.2.3.4", "http");
    rewrite_refused("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", "1.2.3.4", "http");
    rewrite_refused(" GET / HTTP/1.1\r\n\r\n", "1.2.3.4", "http");
    rewrite_refused("GET / HTTP/1.1\r\n\r\r\n\r\n", "1.2.3.4", "http");
    /* Arguments that would break the head. */
    rewrite_refused("GET / HTTP/1.1\r\n\r\n", NULL, "http");
    rewrite_refused("GET / HTTP/1.1\r\n\r\n", "", "http");
    rewrite_refused("GET / HTTP/1.1\r\n\r\n", "1.2.3.4\r\nX: y", "http");
    rewrite_refused("GET / HTTP/1.1\r\n\r\n", "1.2.3.4", NULL);
    rewrite_refused("GET / HTTP/1.1\r\n\r\n", "1.2.3.4", "ht tp");
    rewrite_refused("GET / HTTP/1.1\r\n\r\n", "1.2.3.4", "");
}

/* Every request head the parser accepts can be rewritten. */
static void
test_rewrite_accepts_parsed_heads(void **state)
{
    static const char *const reqs[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nX-Forwarded-Proto: ftp\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\t \r\nEmpty:\r\n\r\n",
    };
    for (size_t i = 0; i < 4; i++) {
        struct res r = feed_msg(PN_HTTP_REQUEST, 0, reqs[i], strlen(reqs[i]), 0);
        assert_int_equal(r.rc, PN_OK);
        uint8_t out[512];
        assert_true(pn_http_head_rewrite((const uint8_t *)reqs[i], strlen(reqs[i]), "::1",
                                         "http", out, sizeof(out)) > 0);
    }
}

/* ---- pn_http_error_page ---- */

/* The page's body, checked against its Content-Length. */
static const char *
page_body_of(const char *page, size_t n)
{
    const char *body = strstr(page, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    const char *cl = strstr(page, "\r\nContent-Length: ");
    assert_non_null(cl);
    assert_true(cl < body);
    assert_int_equal(strtoul(cl + 18, NULL, 10), n - (size_t)(body - page));
    return body;
}

static void
test_error_page_404(void **state)
{
    char out[2048];
    size_t n = pn_http_error_page(404, "no route for host \"<a>&'b'\"", out, sizeof(out));
    assert_true(n > 0 && n < sizeof(out));
    assert_int_equal(out[n], '\0');
    assert_int_equal(strlen(out), n);
    assert_memory_equal(out, "HTTP/1.1 404 Not Found\r\n", 24);
    assert_non_null(strstr(out, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
    assert_non_null(strstr(out, "\r\nCache-Control: no-store\r\n"));
    assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
    assert_null(strstr(out, "Retry-After"));
    const char *body = page_body_of(out, n);
    assert_non_null(strstr(body, "no route for host &quot;&lt;a&gt;&amp;&#39;b&#39;&quot;"));
    assert_null(strchr(body, '\''));
    assert_null(strstr(body, "<a>"));
    assert_non_null(strstr(body, "<title>404 Not Found</title>"));
}

static void
test_error_page_statuses(void **state)
{
    static const struct { int status; const char *line; int retry; } cases[] = {
        { 400, "HTTP/1.1 400 Bad Request\r\n", 0 },
        { 404, "HTTP/1.1 404 Not Found\r\n", 0 },
        { 429, "HTTP/1.1 429 Too Many Requests\r\n", 1 },
        { 502, "HTTP/1.1 502 Bad Gateway\r\n", 0 },
        { 503, "HTTP/1.1 503 Service Unavailable\r\n", 1 },
        { 504, "HTTP/1.1 504 Gateway Timeout\r\n", 0 },
        { 500, "HTTP/1.1 500 Error\r\n", 0 },
        { 418, "HTTP/1.1 418 Error\r\n", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[1024];
        size_t n = pn_http_error_page(cases[i].status, "x", out, sizeof(out));
        assert_true(n > 0);
        assert_memory_equal(out, cases[i].line, strlen(cases[i].line));
        assert_int_equal(strstr(out, "\r\nRetry-After: 1\r\n") != NULL, cases[i].retry);
        page_body_of(out, n);
        /* The page is a response the framing parser takes whole. */
        struct res r = feed_msg(PN_HTTP_RESPONSE, 0, out, n, 0);
        assert_int_equal(r.rc, PN_OK);
        assert_int_equal(r.state, PN_HTTP_DONE);
        assert_int_equal(r.used, n);
        assert_int_equal(r.head.status, cases[i].status);
        assert_int_equal(r.head.keep_alive, 0);
    }
}

static void
test_error_page_detail(void **state)
{
    char out[1024];
    size_t n = pn_http_error_page(502, NULL, out, sizeof(out));
    assert_true(n > 0);
    assert_null(strstr(page_body_of(out, n), "<p>"));
    n = pn_http_error_page(400, "a\x01\nb", out, sizeof(out));
    assert_true(n > 0);
    assert_non_null(strstr(page_body_of(out, n), "<p>a??b</p>"));
    n = pn_http_error_page(400, "", out, sizeof(out));
    assert_non_null(strstr(page_body_of(out, n), "<p></p>"));
}

static void
test_error_page_cap(void **state)
{
    char big[1024];
    size_t n = pn_http_error_page(503, "too many connections", big, sizeof(big));
    assert_true(n > 0);
    char *exact = malloc(n);
    assert_non_null(exact);
    assert_int_equal(pn_http_error_page(503, "too many connections", exact, n), n);
    assert_memory_equal(exact, big, n);
    assert_int_equal(pn_http_error_page(503, "too many connections", exact, n - 1), 0);
    assert_int_equal(pn_http_error_page(503, "too many connections", exact, 0), 0);
    free(exact);
    assert_int_equal(pn_http_error_page(0, "x", big, sizeof(big)), 0);
    assert_int_equal(pn_http_error_page(1000, "x", big, sizeof(big)), 0);
    assert_int_equal(pn_http_error_page(-404, "x", big, sizeof(big)), 0);
}

/* ---- pn_http_host_valid ---- */

static void
test_host_valid(void **state)
{
    static const char *const good[] = {
        "a", "a.b", "app.example.com", "a-b.c-d", "0", "123.example", "xn--p1ai", "a1-2b.c3",
    };
    static const char *const bad[] = {
        "", ".", "a.", ".a", "a..b", "-a", "a-", "a.-b", "a-.b", "A.b", "a_b", "a b", "a:80",
        "[::1]", "a/b", "caf\xc3\xa9", "a.b.", "a\tb",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!pn_http_host_valid(good[i]))
            fail_msg("\"%s\" refused", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (pn_http_host_valid(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
    assert_false(pn_http_host_valid(NULL));

    char s[300];
    memset(s, 'a', 63);
    s[63] = '\0';
    assert_true(pn_http_host_valid(s));
    s[63] = 'a';
    s[64] = '\0';
    assert_false(pn_http_host_valid(s));
    /* 253 bytes in all is the most. */
    memset(s, 'a', sizeof(s));
    for (int i = 50; i < 253; i += 51)
        s[i] = '.';
    s[253] = '\0';
    assert_true(pn_http_host_valid(s));
    s[253] = 'a';
    s[254] = '\0';
    assert_false(pn_http_host_valid(s));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_simple),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_host_normalised),
        cmocka_unit_test(test_host_refused),
        cmocka_unit_test(test_host_lengths),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_body_length),
        cmocka_unit_test(test_body_length_bytewise_states),
        cmocka_unit_test(test_body_chunked),
        cmocka_unit_test(test_chunked_every_split),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_upgrade_request),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_refuse_framing_conflicts),
        cmocka_unit_test(test_refuse_host),
        cmocka_unit_test(test_refuse_obs_fold),
        cmocka_unit_test(test_refuse_header_chars),
        cmocka_unit_test(test_refuse_line_endings),
        cmocka_unit_test(test_refuse_request_line),
        cmocka_unit_test(test_refuse_chunk_framing),
        cmocka_unit_test(test_refusal_sticky),
        cmocka_unit_test(test_head_max),
        cmocka_unit_test(test_head_endless),
        cmocka_unit_test(test_response_length),
        cmocka_unit_test(test_response_chunked),
        cmocka_unit_test(test_response_close),
        cmocka_unit_test(test_response_eof_early),
        cmocka_unit_test(test_response_head_request),
        cmocka_unit_test(test_response_no_body_status),
        cmocka_unit_test(test_response_continue),
        cmocka_unit_test(test_response_switching),
        cmocka_unit_test(test_response_refused),
        cmocka_unit_test(test_rewrite_exact),
        cmocka_unit_test(test_rewrite_minimal),
        cmocka_unit_test(test_rewrite_malformed),
        cmocka_unit_test(test_rewrite_accepts_parsed_heads),
        cmocka_unit_test(test_error_page_404),
        cmocka_unit_test(test_error_page_statuses),
        cmocka_unit_test(test_error_page_detail),
        cmocka_unit_test(test_error_page_cap),
        cmocka_unit_test(test_host_valid),
    };
    return cmocka_run_group_tests_name("route/http", tests, NULL, NULL);
}
