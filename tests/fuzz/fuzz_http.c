/* tests/fuzz/fuzz_http.c: HTTP/1.x framing, head rewrite, error pages and host
 * names (src/route/http.h).
 *
 * Each input is used four ways:
 *   1. as a stream of requests, then 2. as a stream of responses (bit 0 of the
 *      first byte: they answer HEAD). The stream is fed in one go and again in
 *      two pieces split at a point taken from the first two bytes; messages
 *      are parsed one after the other, with a reset after each. Both runs must
 *      end the same messages at the same offsets with the same result. Along
 *      the way: *used <= what was given, all of it unless the message ended;
 *      the state never goes back; the head is sane from PN_HTTP_IN_BODY on
 *      (host valid or empty, method and status as the kind says). An
 *      accepted request head, found as its first CRLFCRLF, must be at most
 *      PN_HTTP_HEAD_MAX bytes, rewrite into exactly the predicted length
 *      (and 0 into one byte less), and the rewrite must parse to the same head.
 *   3. as the detail of an error page with a status from the input: its
 *      Content-Length must match, and the page must parse as one response.
 *   4. as a host name for pn_http_host_valid, checked against its definition. */
#include "fuzz.h"
#include "core/err.h"
#include "route/http.h"

#define MAX_MSGS 32

/* What a run over a stream gave. */
struct trace {
    int rc;                         /* of the last feed */
    size_t nmsg;                    /* messages that ended */
    size_t ends[MAX_MSGS];          /* offset of each end */
    enum pn_http_state last;        /* state of the message in progress */
};

static void
check_head(const pn_http_head_t *h, enum pn_http_kind kind)
{
    FUZZ_ASSERT(memchr(h->method, '\0', sizeof(h->method)) != NULL);
    FUZZ_ASSERT(memchr(h->host, '\0', sizeof(h->host)) != NULL);
    FUZZ_ASSERT(h->host[0] == '\0' || pn_http_host_valid(h->host));
    FUZZ_ASSERT(h->minor == 0 || h->minor == 1);
    FUZZ_ASSERT(h->keep_alive == 0 || h->keep_alive == 1);
    FUZZ_ASSERT(h->upgrade == 0 || h->upgrade == 1);
    FUZZ_ASSERT(h->body >= PN_HTTP_BODY_NONE && h->body <= PN_HTTP_BODY_CLOSE);
    FUZZ_ASSERT(h->body == PN_HTTP_BODY_LENGTH ? h->length > 0 : h->length == 0);
    if (kind == PN_HTTP_REQUEST) {
        FUZZ_ASSERT(h->status == 0 && h->method[0] != '\0');
        FUZZ_ASSERT(h->body != PN_HTTP_BODY_CLOSE);
        FUZZ_ASSERT(h->minor == 1 ? h->host[0] != '\0' : 1);
    } else {
        FUZZ_ASSERT(h->status >= 100 && h->status <= 999);
        FUZZ_ASSERT(h->method[0] == '\0' && h->host[0] == '\0');
        FUZZ_ASSERT(h->upgrade == (h->status == 101));
    }
}

static const char *
find_crlfcrlf(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(p + i, "\r\n\r\n", 4) == 0)
            return (const char *)p + i;
    return NULL;
}

/* Parse <n> bytes at <p> as one request head; PN_OK with *<h> when the head
 * is accepted whole. */
static int
parse_head(const uint8_t *p, size_t n, pn_http_head_t *h)
{
    pn_http_msg_t *m = pn_http_msg_new(PN_HTTP_REQUEST);
    uint8_t *buf = fuzz_dup(p, n);
    size_t used = 0;
    enum pn_http_state st = PN_HTTP_IN_HEAD;
    const char *why = NULL;
    int rc = pn_http_msg_feed(m, buf, n, &used, &st, &why);
    if (rc == PN_OK && st >= PN_HTTP_IN_BODY && used == n)
        *h = *pn_http_msg_head(m);
    else
        rc = PN_ERR;
    free(buf);
    pn_http_msg_free(m);
    return rc;
}

/* Count the X-Forwarded-Proto field lines of a valid head. */
static size_t
xfp_bytes(const uint8_t *p, size_t n)
{
    static const char name[] = "x-forwarded-proto:";
    size_t dropped = 0;
    for (size_t i = 0; i + 2 <= n;) {
        const uint8_t *cr = memchr(p + i, '\r', n - i);
        size_t len = (size_t)(cr - (p + i));
        if (i > 0 && len >= sizeof(name) - 1) {
            size_t k = 0;
            while (k < sizeof(name) - 1 && (p[i + k] | 0x20) == (uint8_t)(name[k] | 0x20))
                k++;
            if (k == sizeof(name) - 1)
                dropped += len + 2;
        }
        i += len + 2;
    }
    return dropped;
}

/* The head of an accepted request starts at <p>: check it and its rewrite. */
static void
check_request_head(const uint8_t *p, size_t avail, const pn_http_head_t *h)
{
    const char *end = find_crlfcrlf(p, avail);
    FUZZ_ASSERT(end != NULL);
    size_t len = (size_t)(end - (const char *)p) + 4;
    FUZZ_ASSERT(len <= PN_HTTP_HEAD_MAX);

    static const char ip[] = "2001:db8::1", proto[] = "http";
    size_t added = strlen("X-Forwarded-For: \r\nX-Forwarded-Proto: \r\n") + strlen(ip) +
                   strlen(proto);
    size_t want = len - xfp_bytes(p, len - 2) + added;
    uint8_t *head = fuzz_dup(p, len);
    uint8_t *out = malloc(want);
    FUZZ_ASSERT(out != NULL);
    size_t n = pn_http_head_rewrite(head, len, ip, proto, out, want);
    FUZZ_ASSERT(n == want);
    FUZZ_ASSERT(pn_http_head_rewrite(head, len, ip, proto, out, want - 1) == 0);
    n = pn_http_head_rewrite(head, len, ip, proto, out, want);
    const uint8_t *line_end = memchr(head, '\r', len);
    FUZZ_ASSERT(memcmp(out, head, (size_t)(line_end - head) + 2) == 0);
    FUZZ_ASSERT(memcmp(out + n - 27, "X-Forwarded-Proto: http\r\n\r\n", 27) == 0);
    if (n <= PN_HTTP_HEAD_MAX) {
        pn_http_head_t again;
        FUZZ_ASSERT(parse_head(out, n, &again) == PN_OK);
        FUZZ_ASSERT(strcmp(again.host, h->host) == 0 && strcmp(again.method, h->method) == 0);
        FUZZ_ASSERT(again.body == h->body && again.length == h->length);
        FUZZ_ASSERT(again.keep_alive == h->keep_alive && again.upgrade == h->upgrade);
        FUZZ_ASSERT(again.minor == h->minor);
    }
    free(out);
    free(head);
}

/* Nonzero when the message whose head is <h> is the last HTTP one of its stream. */
static int
stream_ends(const pn_http_head_t *h, enum pn_http_kind kind)
{
    if (kind == PN_HTTP_RESPONSE && h->status / 100 == 1 && h->status != 101)
        return 0;
    return h->upgrade || !h->keep_alive;
}

/* Parse the stream <d> (<n>) of <kind>, fed in pieces ending at each of the
 * <ncut> offsets <cuts> (the last one n). */
static struct trace
run(enum pn_http_kind kind, int head_req, const uint8_t *d, size_t n, const size_t *cuts,
    size_t ncut, int check)
{
    struct trace t = { PN_OK, 0, { 0 }, PN_HTTP_IN_HEAD };
    pn_http_msg_t *m = pn_http_msg_new(kind);
    size_t off = 0, start = 0;
    int checked = 0;
    pn_http_msg_reset(m, head_req);
    for (size_t c = 0; c < ncut && t.rc == PN_OK; c++) {
        while (off < cuts[c]) {
            size_t k = cuts[c] - off, used = 0;
            enum pn_http_state st = PN_HTTP_IN_HEAD;
            const char *why = NULL;
            uint8_t *buf = fuzz_dup(d + off, k);
            t.rc = pn_http_msg_feed(m, buf, k, &used, &st, &why);
            free(buf);
            if (t.rc != PN_OK) {
                FUZZ_ASSERT(t.rc == PN_ERR && why != NULL);
                break;
            }
            FUZZ_ASSERT(used <= k);
            FUZZ_ASSERT(st >= t.last);
            FUZZ_ASSERT(st == PN_HTTP_DONE || used == k);
            t.last = st;
            off += used;
            if (st >= PN_HTTP_IN_BODY && !checked) {
                const pn_http_head_t *h = pn_http_msg_head(m);
                check_head(h, kind);
                if (check && kind == PN_HTTP_REQUEST)
                    check_request_head(d + start, off - start, h);
                checked = 1;
            }
            if (st != PN_HTTP_DONE)
                continue;
            t.ends[t.nmsg++] = off;
            if (t.nmsg == MAX_MSGS || stream_ends(pn_http_msg_head(m), kind))
                goto out;
            pn_http_msg_reset(m, head_req);
            t.last = PN_HTTP_IN_HEAD;
            start = off;
            checked = 0;
        }
    }
    if (t.rc == PN_OK) {
        /* The peer closes: only a close-delimited body (or nothing left) is fine. */
        int eof = pn_http_msg_eof(m);
        const pn_http_head_t *h = pn_http_msg_head(m);
        int close_body = t.last == PN_HTTP_IN_BODY && h->body == PN_HTTP_BODY_CLOSE;
        FUZZ_ASSERT((eof == PN_OK) == (t.last == PN_HTTP_DONE || close_body));
    }
out:
    pn_http_msg_free(m);
    return t;
}

static void
fuzz_stream(enum pn_http_kind kind, const uint8_t *data, size_t size)
{
    int head_req = size > 0 && (data[0] & 1);
    size_t split = size >= 2 ? ((size_t)data[0] << 8 | data[1]) % (size + 1) : 0;
    size_t whole[1] = { size }, two[2] = { split, size };
    struct trace a = run(kind, head_req, data, size, whole, 1, 1);
    struct trace b = run(kind, head_req, data, size, two, 2, 0);
    FUZZ_ASSERT(a.rc == b.rc && a.nmsg == b.nmsg);
    FUZZ_ASSERT(memcmp(a.ends, b.ends, a.nmsg * sizeof(a.ends[0])) == 0);
    FUZZ_ASSERT(a.rc != PN_OK || a.last == b.last);
}

/* The number of <c> in the <n> bytes at <p>. */
static size_t
count(const char *p, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == c;
    return k;
}

/* Write the page of <status> and <detail> into a fresh block of <cap> bytes. */
static size_t
page(int status, const char *detail, size_t cap, char **out)
{
    *out = malloc(cap ? cap : 1);
    FUZZ_ASSERT(*out != NULL);
    return pn_http_error_page(status, detail, *out, cap);
}

static void
fuzz_error_page(const uint8_t *data, size_t size)
{
    static const int statuses[] = { 400, 404, 429, 502, 503, 504, 100, 200, 204, 418, 999, 0,
                                    1000, -1 };
    int status = statuses[(size > 2 ? data[2] : 0) % (sizeof(statuses) / sizeof(statuses[0]))];
    char *text = fuzz_cstr(data, size > 512 ? 512 : size);
    const char *detail = size > 3 && data[3] == 0xff ? NULL : text;
    char *out, *exact, *empty;
    size_t n = page(status, detail, 8192, &out);
    FUZZ_ASSERT((n == 0) == (status < 100 || status > 999));
    if (n > 0) {
        FUZZ_ASSERT(n < 8192 && out[n] == '\0');
        const char *body = strstr(out, "\r\n\r\n");
        const char *cl = strstr(out, "\r\nContent-Length: ");
        FUZZ_ASSERT(body != NULL && cl != NULL && cl < body);
        body += 4;
        FUZZ_ASSERT(strtoul(cl + 18, NULL, 10) == n - (size_t)(body - out));
        /* The detail adds no markup and no control character to the page. */
        size_t e = page(status, detail ? "" : NULL, 8192, &empty);
        const char *ebody = strstr(empty, "\r\n\r\n") + 4;
        size_t blen = n - (size_t)(body - out), elen = e - (size_t)(ebody - empty);
        FUZZ_ASSERT(count(body, blen, '<') == count(ebody, elen, '<'));
        FUZZ_ASSERT(count(body, blen, '>') == count(ebody, elen, '>'));
        FUZZ_ASSERT(count(body, blen, '"') == count(ebody, elen, '"'));
        FUZZ_ASSERT(count(body, blen, '\'') == 0 && count(body, blen, '\r') == 0);
        for (size_t i = 0; i < blen; i++)
            FUZZ_ASSERT(body[i] == '\n' || (uint8_t)body[i] >= 0x20);
        free(empty);
        /* Exactly n bytes are enough, n - 1 are not. */
        FUZZ_ASSERT(page(status, detail, n, &exact) == n);
        FUZZ_ASSERT(memcmp(exact, out, n) == 0);
        free(exact);
        FUZZ_ASSERT(page(status, detail, n - 1, &exact) == 0);
        free(exact);
        /* It is one whole response (a 1xx, 204 or 304 has no body to carry it). */
        if (status >= 200 && status != 204 && status != 304) {
            size_t whole[1] = { n };
            struct trace t = run(PN_HTTP_RESPONSE, 0, (const uint8_t *)out, n, whole, 1, 0);
            FUZZ_ASSERT(t.rc == PN_OK && t.nmsg == 1 && t.ends[0] == n);
        }
    }
    free(out);
    free(text);
}

static void
fuzz_host(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    if (pn_http_host_valid(s)) {
        size_t n = strlen(s), label = 0;
        FUZZ_ASSERT(n >= 1 && n <= PN_HTTP_HOST_MAX);
        FUZZ_ASSERT(s[0] != '.' && s[0] != '-' && s[n - 1] != '.' && s[n - 1] != '-');
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            FUZZ_ASSERT((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
            if (c == '.') {
                FUZZ_ASSERT(label >= 1 && s[i - 1] != '-' && s[i + 1] != '-');
                label = 0;
            } else {
                FUZZ_ASSERT(++label <= 63);
            }
        }
    }
    free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_stream(PN_HTTP_REQUEST, data, size);
    fuzz_stream(PN_HTTP_RESPONSE, data, size);
    fuzz_error_page(data, size);
    fuzz_host(data, size);
    return 0;
}
