/* tunnel/ws_head.c: the WebSocket opening heads (see ws_head.h). */
#include "tunnel/ws_head.h"
#include "core/err.h"

#include <string.h>
#include <strings.h>

/* A view of bytes inside the head. */
struct span {
    const char *p;
    size_t n;
};

static int
is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
span_is(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

/* Find the end of the head: PN_OK with *<end> just past CRLF CRLF, PN_AGAIN,
 * or PN_ERR with <why> (a bare LF, a control byte, a line or head too long). */
static int
head_end(const uint8_t *b, size_t len, size_t *end, const char **why)
{
    size_t line = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = b[i];
        if (i >= TUN_WS_HEAD_MAX) {
            *why = "http head too large";
            return PN_ERR;
        }
        if (c == '\n') {
            if (i == 0 || b[i - 1] != '\r') {
                *why = "bare LF in the http head";
                return PN_ERR;
            }
            if (i - line == 1) {        /* the empty line */
                *end = i + 1;
                return PN_OK;
            }
            line = i + 1;
            continue;
        }
        if (c == '\r') {
            if (i + 1 < len && b[i + 1] != '\n') {
                *why = "bare CR in the http head";
                return PN_ERR;
            }
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            *why = "control byte in the http head";
            return PN_ERR;
        }
        if (i - line >= TUN_WS_LINE_MAX) {
            *why = "http head line too long";
            return PN_ERR;
        }
    }
    if (len >= TUN_WS_HEAD_MAX) {
        *why = "http head too large";
        return PN_ERR;
    }
    return PN_AGAIN;
}

/* Walk the lines of a complete head: the next line (CRLF excluded) into <l>;
 * 0 at the empty line that ends it. */
static int
next_line(const char **cur, struct span *l)
{
    const char *e = strstr(*cur, "\r\n");   /* the head is NUL-free and ends in CRLF CRLF */
    l->p = *cur;
    l->n = (size_t)(e - *cur);
    *cur = e + 2;
    return l->n != 0;
}

/* Split "Name: value" (<l>) with OWS trimmed; PN_ERR when the name is no token. */
static int
split_header(struct span l, struct span *name, struct span *val)
{
    size_t i = 0;
    while (i < l.n && is_tchar((unsigned char)l.p[i]))
        i++;
    if (i == 0 || i >= l.n || l.p[i] != ':')
        return PN_ERR;                  /* also obs-fold: a line starting with SP/HTAB */
    name->p = l.p;
    name->n = i;
    size_t s = i + 1, e = l.n;
    while (s < e && (l.p[s] == ' ' || l.p[s] == '\t'))
        s++;
    while (e > s && (l.p[e - 1] == ' ' || l.p[e - 1] == '\t'))
        e--;
    val->p = l.p + s;
    val->n = e - s;
    return PN_OK;
}

/* Whether the comma-separated list <v> holds the token <tok> (any case). */
static int
list_has(struct span v, const char *tok)
{
    size_t i = 0;
    while (i <= v.n) {
        size_t s = i;
        while (i < v.n && v.p[i] != ',')
            i++;
        struct span t = { v.p + s, i - s };
        while (t.n > 0 && (t.p[0] == ' ' || t.p[0] == '\t')) {
            t.p++;
            t.n--;
        }
        while (t.n > 0 && (t.p[t.n - 1] == ' ' || t.p[t.n - 1] == '\t'))
            t.n--;
        if (span_is(t, tok))
            return 1;
        i++;
    }
    return 0;
}

static int
b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* A Sec-WebSocket-Key: base64 of exactly 16 bytes (22 characters, then "=="). */
static int
key_valid(struct span v)
{
    if (v.n != TUN_WS_KEY_LEN || v.p[22] != '=' || v.p[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (!b64_char((unsigned char)v.p[i]))
            return 0;
    /* The last character carries 2 bits: the 4 unused ones must be 0. */
    return strchr("AQgw", v.p[21]) != NULL;
}

/* Copy the head to a NUL-terminated buffer so the line walk can use strstr. */
static void
head_copy(char *dst, const uint8_t *b, size_t n)
{
    memcpy(dst, b, n);
    dst[n] = '\0';
}

static int
req_fail(tun_ws_req_t *r, int status, const char *why)
{
    r->status = status;
    r->why = why;
    return PN_ERR;
}

int
tun_ws_req_parse(const uint8_t *buf, size_t len, const char *path, tun_ws_req_t *r)
{
    char h[TUN_WS_HEAD_MAX + 1];
    size_t end = 0;
    const char *why = NULL;
    memset(r, 0, sizeof(*r));
    int rc = head_end(buf, len, &end, &why);
    if (rc != PN_OK)
        return rc == PN_AGAIN ? PN_AGAIN : req_fail(r, 400, why);
    head_copy(h, buf, end);

    const char *cur = h;
    struct span l, method, target, version;
    if (!next_line(&cur, &l))
        return req_fail(r, 400, "empty request line");
    const char *sp1 = memchr(l.p, ' ', l.n);
    const char *sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', l.n - (size_t)(sp1 + 1 - l.p)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == l.p || sp2 == sp1 + 1)
        return req_fail(r, 400, "malformed request line");
    method = (struct span){ l.p, (size_t)(sp1 - l.p) };
    target = (struct span){ sp1 + 1, (size_t)(sp2 - sp1 - 1) };
    version = (struct span){ sp2 + 1, l.n - (size_t)(sp2 + 1 - l.p) };
    for (size_t i = 0; i < method.n; i++)
        if (!is_tchar((unsigned char)method.p[i]))
            return req_fail(r, 400, "malformed request method");
    for (size_t i = 0; i < target.n; i++)
        if ((unsigned char)target.p[i] <= 0x20)
            return req_fail(r, 400, "malformed request target");
    if (version.n != 8 || strncmp(version.p, "HTTP/1.", 7) != 0 ||
        (version.p[7] != '0' && version.p[7] != '1'))
        return req_fail(r, 400, "malformed http version");

    int n = 0, host = 0, upgrade = 0, connection = 0, wsversion = 0, keys = 0;
    struct span key = { NULL, 0 };
    while (next_line(&cur, &l)) {
        struct span name, val;
        if (++n > TUN_WS_HDRS_MAX)
            return req_fail(r, 400, "too many http headers");
        if (split_header(l, &name, &val) != PN_OK)
            return req_fail(r, 400, "malformed http header");
        if (span_is(name, "Host"))
            host++;
        else if (span_is(name, "Upgrade"))
            upgrade |= list_has(val, "websocket") ? 1 : 2;
        else if (span_is(name, "Connection"))
            connection |= list_has(val, "upgrade");
        else if (span_is(name, "Sec-WebSocket-Version"))
            wsversion = span_is(val, "13") ? 1 : -1;
        else if (span_is(name, "Sec-WebSocket-Key")) {
            keys++;
            key = val;
        }
    }

    size_t plen = strlen(path);
    size_t tlen = target.n;
    const char *q = memchr(target.p, '?', target.n);
    if (q != NULL)
        tlen = (size_t)(q - target.p);
    if (tlen != plen || memcmp(target.p, path, plen) != 0)
        return req_fail(r, 404, "websocket request for another path");
    if (upgrade == 0)
        return req_fail(r, 400, "plain http request, not a websocket upgrade");
    if (!span_is(method, "GET"))
        return req_fail(r, 405, "websocket upgrade with a method other than GET");
    if (version.p[7] != '1' || host != 1 || upgrade != 1 || !connection)
        return req_fail(r, 400, "malformed websocket upgrade (HTTP/1.1, one Host, Upgrade: "
                                "websocket, Connection: upgrade expected)");
    if (wsversion != 1)
        return req_fail(r, 426, "websocket version is not 13");
    if (keys != 1 || !key_valid(key))
        return req_fail(r, 400, "bad Sec-WebSocket-Key");
    memcpy(r->key, key.p, TUN_WS_KEY_LEN);
    r->key[TUN_WS_KEY_LEN] = '\0';
    r->used = end;
    return PN_OK;
}

static int
resp_fail(const char **why, const char *msg)
{
    *why = msg;
    return PN_ERR;
}

int
tun_ws_resp_parse(const uint8_t *buf, size_t len, const char *accept, size_t *used,
                  int *status, const char **why)
{
    char h[TUN_WS_HEAD_MAX + 1];
    size_t end = 0;
    *status = 0;
    int rc = head_end(buf, len, &end, why);
    if (rc != PN_OK)
        return rc;
    head_copy(h, buf, end);

    const char *cur = h;
    struct span l;
    if (!next_line(&cur, &l))
        return resp_fail(why, "empty status line");
    if (l.n < 12 || strncmp(l.p, "HTTP/1.1 ", 9) != 0 || l.p[9] < '1' || l.p[9] > '5' ||
        l.p[10] < '0' || l.p[10] > '9' || l.p[11] < '0' || l.p[11] > '9' ||
        (l.n > 12 && l.p[12] != ' '))
        return resp_fail(why, "malformed http status line");
    *status = (l.p[9] - '0') * 100 + (l.p[10] - '0') * 10 + (l.p[11] - '0');

    int n = 0, upgrade = 0, connection = 0, accepts = 0, ok = 0;
    while (next_line(&cur, &l)) {
        struct span name, val;
        if (++n > TUN_WS_HDRS_MAX)
            return resp_fail(why, "too many http headers");
        if (split_header(l, &name, &val) != PN_OK)
            return resp_fail(why, "malformed http header");
        if (span_is(name, "Upgrade"))
            upgrade |= list_has(val, "websocket");
        else if (span_is(name, "Connection"))
            connection |= list_has(val, "upgrade");
        else if (span_is(name, "Sec-WebSocket-Accept")) {
            accepts++;
            ok = val.n == TUN_WS_ACCEPT_LEN && memcmp(val.p, accept, TUN_WS_ACCEPT_LEN) == 0;
        }
    }
    if (*status != 101)
        return resp_fail(why, "the server did not switch to websocket (no 101)");
    if (!upgrade || !connection)
        return resp_fail(why, "101 without Upgrade: websocket and Connection: upgrade");
    if (accepts != 1 || !ok)
        return resp_fail(why, "wrong Sec-WebSocket-Accept");
    *used = end;
    return PN_OK;
}
