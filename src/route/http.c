/* route/http.c: HTTP/1.x message framing for the hub's HTTP router (pure).
 *
 * Owns the per-connection message parser (pn_http_msg_*), the request head
 * rewrite for backends, the hub's error pages and the host name check.
 *
 * The parsing itself is http-parser's (libhttp-parser 2.9.4): method, version,
 * status, Content-Length, Transfer-Encoding, Connection/Upgrade and body modes.
 * Debian builds that library with HTTP_PARSER_STRICT=0, which accepts bare CR
 * or any byte where CRLF belongs, obs-fold, spaces in field names, control
 * characters in the request target, "\r\r\n" as the end of the head, and any
 * two bytes after chunk data as its CRLF. A router that passes bytes to another
 * parser must not disagree with it on where a message ends, so a small strict
 * checker (struct scan) reads the head, the chunk framing and the trailers
 * first, and http-parser only ever sees bytes the checker accepted; where the
 * two disagree on a boundary the message is refused. Identity bodies are left
 * to http-parser alone: there a length says everything.
 *
 * A request head ends at its first CRLFCRLF (bare CR or LF, obs-fold and empty
 * lines before the request line are refused), which is how the caller finds
 * the bytes to hand to pn_http_head_rewrite().
 *
 * The checker is route/http_scan.c; the head rewrite and the error pages are
 * route/http_out.c. */
#include "route/http.h"
#include "route/http_scan.h"
#include "core/err.h"
#include "core/mem.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#define HOST_RAW_MAX  (PN_HTTP_HOST_MAX + 64)   /* a Host value kept to check: name, port, OWS */
#define TARGET_KEEP   (PN_HTTP_HOST_MAX + 64)   /* start of a target: holds scheme://authority */
#define NAME_KEEP     24                        /* longest name we look for: transfer-encoding */
#define TE_KEEP       32                        /* a Transfer-Encoding value worth comparing */

/* ---- the message parser ---- */

/* Fields of a request head we look at ourselves. */
enum field { F_OTHER = 0, F_HOST, F_TE };

struct pn_http_msg {
    http_parser hp;
    enum pn_http_kind kind;
    int head_request;           /* response: it answers HEAD */
    enum pn_http_state state;
    int failed;                 /* sticky: every later feed fails */
    const char *why;            /* the refusal, when failed */
    const char *cb_why;         /* set by a callback that refused the message */
    pn_http_head_t head;
    size_t head_len;            /* head bytes seen so far */
    int head_cb;                /* on_headers_complete ran (and paused the parser) */
    int done_cb;                /* on_message_complete ran (and paused the parser) */
    struct scan sc;
    /* The field being parsed: its name (enough of it to recognise), its kind. */
    char name[NAME_KEEP];
    size_t name_len;
    int in_value;
    enum field cur;
    char host_raw[HOST_RAW_MAX];
    size_t host_len;
    int host_count;
    char te[TE_KEEP];
    size_t te_len;
    int te_count, te_bad;
    char target[TARGET_KEEP];   /* the start of the request target */
    size_t target_len;          /* TARGET_KEEP + 1: it goes on */
};

static pn_http_msg_t *
msg_of(http_parser *hp)
{
    return hp->data;
}

/* Refuse the message from a callback: http-parser then stops with HPE_CB_*. */
static int
cb_refuse(pn_http_msg_t *m, const char *why)
{
    m->cb_why = why;
    return -1;
}

/* Trim SP and HT on both sides of the <*n> bytes at <*s>. */
static void
trim_ows(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t'))
        (*s)++, (*n)--;
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* Normalise the host <v> (<n> bytes, "name[:port]") into <out>: lower case,
 * the port and a trailing dot removed. PN_ERR when it is no valid name; an
 * IP-literal ("[::1]:80") is refused too, since routes are names. */
int
pn_http_host_norm(const char *v, size_t n, char out[PN_HTTP_HOST_MAX + 1])
{
    trim_ows(&v, &n);
    if (n == 0 || v[0] == '[')
        return PN_ERR;
    const char *colon = memchr(v, ':', n);
    if (colon != NULL) {
        size_t plen = n - (size_t)(colon - v) - 1;
        if (plen > 5)
            return PN_ERR;
        for (size_t i = 1; i <= plen; i++)
            if (colon[i] < '0' || colon[i] > '9')
                return PN_ERR;
        n = (size_t)(colon - v);
    }
    if (n > 0 && v[n - 1] == '.')
        n--;
    if (n == 0 || n > PN_HTTP_HOST_MAX)
        return PN_ERR;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)lower((uint8_t)v[i]);
    out[n] = '\0';
    return pn_http_host_valid(out) ? PN_OK : PN_ERR;
}

/* The field whose value just ended: note Host and Transfer-Encoding. */
static int
field_end(pn_http_msg_t *m)
{
    m->in_value = 0;
    m->name_len = 0;
    if (m->cur == F_HOST) {
        if (++m->host_count > 1)
            return cb_refuse(m, "Host given more than once");
        if (m->host_len > sizeof(m->host_raw) ||
            pn_http_host_norm(m->host_raw, m->host_len, m->head.host) != PN_OK)
            return cb_refuse(m, "invalid Host");
    } else if (m->cur == F_TE) {
        const char *v = m->te;
        size_t n = m->te_len;
        m->te_count++;
        if (n > sizeof(m->te))
            m->te_bad = 1;
        else {
            trim_ows(&v, &n);
            if (!same_ci(v, n, "chunked"))
                m->te_bad = 1;
        }
    }
    m->cur = F_OTHER;
    return 0;
}

/* Keep up to <cap> bytes of a value in <buf>; *<len> counts on past <cap> so
 * that an overlong value is known as such. */
static void
keep(char *buf, size_t cap, size_t *len, const char *at, size_t n)
{
    if (*len < cap) {
        size_t k = cap - *len < n ? cap - *len : n;
        memcpy(buf + *len, at, k);
    }
    *len = *len + n > cap ? cap + 1 : *len + n;
}

static int
on_url(http_parser *hp, const char *at, size_t n)
{
    pn_http_msg_t *m = msg_of(hp);
    keep(m->target, sizeof(m->target), &m->target_len, at, n);
    return 0;
}

static int
on_header_field(http_parser *hp, const char *at, size_t n)
{
    pn_http_msg_t *m = msg_of(hp);
    if (m->state != PN_HTTP_IN_HEAD || m->kind != PN_HTTP_REQUEST)
        return 0;                       /* trailers, responses: only the checker reads them */
    if (m->in_value && field_end(m) != 0)
        return -1;
    keep(m->name, sizeof(m->name), &m->name_len, at, n);
    return 0;
}

static int
on_header_value(http_parser *hp, const char *at, size_t n)
{
    pn_http_msg_t *m = msg_of(hp);
    if (m->state != PN_HTTP_IN_HEAD || m->kind != PN_HTTP_REQUEST)
        return 0;
    if (!m->in_value) {
        m->in_value = 1;
        size_t k = m->name_len;
        if (same_ci(m->name, k, "host"))
            m->cur = F_HOST;
        else if (same_ci(m->name, k, "transfer-encoding"))
            m->cur = F_TE;
        else
            m->cur = F_OTHER;
    }
    if (m->cur == F_HOST)
        keep(m->host_raw, sizeof(m->host_raw), &m->host_len, at, n);
    else if (m->cur == F_TE)
        keep(m->te, sizeof(m->te), &m->te_len, at, n);
    return 0;
}

/* An absolute-form target ("http://name/path") must name the Host's host:
 * RFC 9112 3.2.2 has it win over Host, and routing is by Host. */
static int
target_ok(pn_http_msg_t *m)
{
    const char *t = m->target;
    size_t n = m->target_len > sizeof(m->target) ? sizeof(m->target) : m->target_len;
    if (n > 0 && (t[0] == '/' || (n == 1 && t[0] == '*')))
        return PN_OK;
    const char *sep = memchr(t, ':', n);
    if (sep == NULL)
        return PN_ERR;
    size_t slen = (size_t)(sep - t);
    if (!same_ci(t, slen, "http") && !same_ci(t, slen, "https"))
        return PN_ERR;
    if (n - slen < 3 || memcmp(sep, "://", 3) != 0)
        return PN_ERR;
    const char *a = sep + 3, *end = t + n;
    size_t alen = 0;
    while (a + alen < end && a[alen] != '/' && a[alen] != '?' && a[alen] != '#')
        alen++;
    if (a + alen == end && m->target_len > sizeof(m->target))
        return PN_ERR;                  /* the authority goes on past what we kept */
    if (memchr(a, '@', alen) != NULL)
        return PN_ERR;                  /* userinfo */
    char host[PN_HTTP_HOST_MAX + 1];
    if (pn_http_host_norm(a, alen, host) != PN_OK || strcmp(host, m->head.host) != 0)
        return PN_ERR;
    return PN_OK;
}

static int
request_head(pn_http_msg_t *m)
{
    http_parser *hp = &m->hp;
    if (hp->method == HTTP_CONNECT)
        return cb_refuse(m, "CONNECT is not routed");
    if (m->head.minor == 1 && m->host_count == 0)
        return cb_refuse(m, "HTTP/1.1 request without Host");
    if (m->te_count > 0 && (m->te_count > 1 || m->te_bad || m->head.minor == 0))
        return cb_refuse(m, "unsupported Transfer-Encoding");
    if (target_ok(m) != PN_OK)
        return cb_refuse(m, "request target does not match Host");
    snprintf(m->head.method, sizeof(m->head.method), "%s",
             http_method_str((enum http_method)hp->method));
    m->head.upgrade = (hp->flags & F_UPGRADE) && (hp->flags & F_CONNECTION_UPGRADE);
    m->head.keep_alive = http_should_keep_alive(hp);
    if (hp->flags & F_CHUNKED)
        m->head.body = PN_HTTP_BODY_CHUNKED;
    else if ((hp->flags & F_CONTENTLENGTH) && hp->content_length > 0) {
        m->head.body = PN_HTTP_BODY_LENGTH;
        m->head.length = hp->content_length;
    }
    return 0;
}

/* Return 1 (no body) or 0 as on_headers_complete does, -1 to refuse. */
static int
response_head(pn_http_msg_t *m)
{
    http_parser *hp = &m->hp;
    int st = (int)hp->status_code;
    if (st < 100 || st > 999)
        return cb_refuse(m, "invalid status code");
    m->head.status = st;
    /* http-parser 2.9.4 would read a body after a 1xx, 204 or 304 that has a
     * Content-Length; the status says there is none (RFC 9112 6.3). */
    int skip = m->head_request || st / 100 == 1 || st == 204 || st == 304;
    if (skip)
        hp->flags |= F_SKIPBODY;        /* as returning 1 does, so keep-alive is right */
    m->head.keep_alive = http_should_keep_alive(hp);
    if (st == 101) {
        m->head.upgrade = 1;            /* the bytes after the head are not HTTP */
        m->head.keep_alive = 0;
    } else if (st / 100 == 1) {
        m->head.keep_alive = 1;         /* the final response follows */
    }
    if (skip)
        m->head.body = PN_HTTP_BODY_NONE;
    else if (hp->flags & F_CHUNKED)
        m->head.body = PN_HTTP_BODY_CHUNKED;
    else if (hp->uses_transfer_encoding || !(hp->flags & F_CONTENTLENGTH))
        m->head.body = PN_HTTP_BODY_CLOSE;
    else if (hp->content_length > 0) {
        m->head.body = PN_HTTP_BODY_LENGTH;
        m->head.length = hp->content_length;
    }
    return skip;
}

static int
on_headers_complete(http_parser *hp)
{
    pn_http_msg_t *m = msg_of(hp);
    if (m->state != PN_HTTP_IN_HEAD)
        return 0;                       /* end of trailers */
    if (m->in_value && field_end(m) != 0)
        return -1;
    if (hp->http_major != 1 || hp->http_minor > 1)
        return cb_refuse(m, "unsupported HTTP version");
    m->head.minor = hp->http_minor;
    int rc = m->kind == PN_HTTP_REQUEST ? request_head(m) : response_head(m);
    if (rc < 0)
        return rc;
    /* Stop here: the caller's offsets must say where the head ended. */
    m->head_cb = 1;
    http_parser_pause(hp, 1);
    return rc;
}

static int
on_message_complete(http_parser *hp)
{
    pn_http_msg_t *m = msg_of(hp);
    /* Stop here so that a pipelined next message is not consumed. */
    m->done_cb = 1;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

pn_http_msg_t *
pn_http_msg_new(enum pn_http_kind kind)
{
    pn_http_msg_t *m = xcalloc(sizeof(*m));
    m->kind = kind;
    pn_http_msg_reset(m, 0);
    return m;
}

void
pn_http_msg_reset(pn_http_msg_t *m, int head_request)
{
    enum pn_http_kind kind = m->kind;
    memset(m, 0, sizeof(*m));
    m->kind = kind;
    m->head_request = kind == PN_HTTP_RESPONSE && head_request;
    http_parser_init(&m->hp, kind == PN_HTTP_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE);
    m->hp.data = m;
    m->sc.request = kind == PN_HTTP_REQUEST;
    m->sc.lf_ok = kind == PN_HTTP_RESPONSE;
    m->sc.ln = LN_START;
    m->sc.ck = CK_SIZE0;
    m->sc.trailer_max = PN_HTTP_HEAD_MAX;
}

/* Record a refusal; every later feed gives it again. */
static int
msg_fail(pn_http_msg_t *m, const char *why)
{
    m->failed = 1;
    m->why = why;
    return PN_ERR;
}

/* The refusal after http_parser_execute() stopped on an error. */
static int
parser_fail(pn_http_msg_t *m)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&m->hp);
    if (m->cb_why != NULL)
        return msg_fail(m, m->cb_why);
    if (e == HPE_UNEXPECTED_CONTENT_LENGTH)
        return msg_fail(m, "Content-Length repeated or with Transfer-Encoding");
    return msg_fail(m, http_errno_description(e));
}

/* Run http-parser over the <n> bytes at <p>, which the checker accepted, and
 * set *<r> to how many it took. A pause (head or message complete) is lifted. */
static int
run(pn_http_msg_t *m, const uint8_t *p, size_t n, size_t *r)
{
    *r = 0;
    if (n == 0)
        return PN_OK;                   /* zero bytes would tell it the stream ended */
    *r = http_parser_execute(&m->hp, &settings, (const char *)p, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&m->hp);
    if (e == HPE_PAUSED) {
        http_parser_pause(&m->hp, 0);
        return PN_OK;
    }
    if (e != HPE_OK || m->cb_why != NULL)
        return parser_fail(m);
    return PN_OK;
}

/* The head's last LF was checked and left unread by http-parser (it paused
 * on it): let it read it now, which ends a bodiless message. */
static int
head_finish(pn_http_msg_t *m)
{
    static const uint8_t lf = '\n';
    size_t r;
    m->state = PN_HTTP_IN_BODY;
    if (run(m, &lf, 1, &r) != PN_OK)
        return PN_ERR;
    if (r != 1)
        return msg_fail(m, "parser stopped at the end of the head");
    if (m->done_cb)
        m->state = PN_HTTP_DONE;
    return PN_OK;
}

/* Feed head bytes; *<used> says how many of the <n> at <p> were the head's. */
static int
feed_head(pn_http_msg_t *m, const uint8_t *p, size_t n, size_t *used)
{
    size_t room = PN_HTTP_HEAD_MAX - m->head_len, h, r;
    if (pn_http_scan_head(&m->sc, p, n < room ? n : room, &h) != PN_OK)
        return msg_fail(m, m->sc.why);
    if (run(m, p, h, &r) != PN_OK)
        return PN_ERR;
    m->head_len += h;
    *used = h;
    if (m->sc.ln != LN_END) {
        if (m->head_cb || r != h)
            return msg_fail(m, "malformed head");
        if (m->head_len >= PN_HTTP_HEAD_MAX)
            return msg_fail(m, "head over 16 KiB");
        return PN_OK;
    }
    /* http-parser must agree that the head ends at the checker's last LF. */
    if (!m->head_cb || r + 1 != h)
        return msg_fail(m, "malformed head");
    return head_finish(m);
}

/* Feed body bytes; *<used> says how many of the <n> at <p> were the body's. */
static int
feed_body(pn_http_msg_t *m, const uint8_t *p, size_t n, size_t *used)
{
    size_t k = n;
    int chunked = m->head.body == PN_HTTP_BODY_CHUNKED;
    if (chunked && pn_http_scan_chunked(&m->sc, p, n, &k) != PN_OK)
        return msg_fail(m, m->sc.why);
    if (run(m, p, k, used) != PN_OK)
        return PN_ERR;
    /* For a chunked body, both must see it end at the same byte, or not yet. */
    if (chunked && (*used != k || (m->sc.ck == CK_END) != m->done_cb))
        return msg_fail(m, "malformed chunked body");
    if (m->done_cb)
        m->state = PN_HTTP_DONE;
    return PN_OK;
}

int
pn_http_msg_feed(pn_http_msg_t *m, const uint8_t *p, size_t n, size_t *used,
                 enum pn_http_state *state, const char **why)
{
    size_t h = 0, b = 0;
    int rc = PN_OK;
    if (m->failed)
        rc = PN_ERR;
    else if (m->state == PN_HTTP_IN_HEAD && n > 0)
        rc = feed_head(m, p, n, &h);
    if (rc == PN_OK && m->state == PN_HTTP_IN_BODY && h < n)
        rc = feed_body(m, p + h, n - h, &b);
    *used = rc == PN_OK ? h + b : 0;
    *state = m->state;
    if (rc != PN_OK)
        *why = m->why;
    return rc;
}

int
pn_http_msg_eof(pn_http_msg_t *m)
{
    if (m->failed)
        return PN_ERR;
    if (m->state == PN_HTTP_IN_BODY && m->head.body == PN_HTTP_BODY_CLOSE)
        m->state = PN_HTTP_DONE;
    return m->state == PN_HTTP_DONE ? PN_OK : PN_ERR;
}

const pn_http_head_t *
pn_http_msg_head(const pn_http_msg_t *m)
{
    return &m->head;
}

void
pn_http_msg_free_(pn_http_msg_t *m)
{
    free(m);
}

/* ---- host names ---- */

int
pn_http_host_valid(const char *s)
{
    size_t label = 0, total = 0;
    if (s == NULL)
        return 0;
    for (; s[total] != '\0'; total++) {
        char c = s[total];
        if (total >= PN_HTTP_HOST_MAX)
            return 0;
        if (c == '.') {
            if (label == 0 || s[total - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
        if ((label == 0 && c == '-') || ++label > 63)
            return 0;
    }
    return total > 0 && label > 0 && s[total - 1] != '-';
}
