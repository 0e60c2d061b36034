/* route/http_out.c: what the hub's HTTP router writes (pure): the request
 * head rewritten for a backend and the hub's error pages (route/http.h). */
#include "route/http.h"
#include "route/http_scan.h"

#include <stdio.h>
#include <string.h>

/* ---- head rewrite ---- */

/* Output with a bound: put() past <cap> only marks the result as too long.
 * With <p> NULL it only counts. */
struct wbuf {
    uint8_t *p;
    size_t cap, len;
    int over;
};

static void
put(struct wbuf *w, const void *s, size_t n)
{
    if (w->p == NULL) {
        w->len += n;
        return;
    }
    if (w->over || n > w->cap - w->len) {
        w->over = 1;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void
puts_(struct wbuf *w, const char *s)
{
    put(w, s, strlen(s));
}

/* Nonzero when the field line <l> (<n> bytes, no CRLF) is "name:value" with a
 * valid name; *<drop> says whether the rewrite <rw> leaves it out
 * (X-Forwarded-Proto always; Host when replaced; Authorization when dropped). */
static int
field_line(const uint8_t *l, size_t n, const pn_http_rewrite_t *rw, int *drop)
{
    size_t i = 0;
    while (i < n && is_tchar(l[i]))
        i++;
    if (i == 0 || i == n || l[i] != ':')
        return 0;
    for (size_t j = i + 1; j < n; j++)
        if (!is_text(l[j]))
            return 0;
    *drop = same_ci((const char *)l, i, "x-forwarded-proto") ||
            (rw->host != NULL && same_ci((const char *)l, i, "host")) ||
            (rw->drop_auth && same_ci((const char *)l, i, "authorization"));
    return 1;
}

/* Nonzero when <s> is 1 or more bytes of <ok> class. */
static int
arg_ok(const char *s, int token)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++) {
        uint8_t c = (uint8_t)*s;
        if (token ? !is_tchar(c) : (c <= 0x20 || c >= 0x7f))
            return 0;
    }
    return 1;
}

size_t
pn_http_head_rewrite(const uint8_t *head, size_t len, const char *client_ip, const char *proto,
                     uint8_t *out, size_t cap)
{
    pn_http_rewrite_t rw = { .client_ip = client_ip, .proto = proto };
    return pn_http_head_rewrite_ex(head, len, &rw, out, cap);
}

size_t
pn_http_head_rewrite_ex(const uint8_t *head, size_t len, const pn_http_rewrite_t *rw,
                        uint8_t *out, size_t cap)
{
    struct wbuf w = { out, cap, 0, 0 };
    const char *client_ip = rw->client_ip, *proto = rw->proto;
    if (!arg_ok(client_ip, 0) || !arg_ok(proto, 1) || len < 4 ||
        (rw->host != NULL && !arg_ok(rw->host, 0)) ||
        memcmp(head + len - 4, "\r\n\r\n", 4) != 0)
        return 0;
    size_t end = len - 2;                           /* the final empty line */
    for (size_t pos = 0, line = 0; pos < end; line++) {
        const uint8_t *l = head + pos;
        const uint8_t *cr = memchr(l, '\r', end - pos);
        size_t n = (size_t)(cr - l);                /* the head ends with CRLF: cr is found */
        int xfp = 0;
        if (cr[1] != '\n' || memchr(l, '\n', n) != NULL || n == 0)
            return 0;                               /* bare CR or LF, or an early empty line */
        if (line == 0 ? (l[0] == ' ' || l[0] == '\t') : !field_line(l, n, rw, &xfp))
            return 0;
        if (!xfp) {
            put(&w, l, n);
            put(&w, "\r\n", 2);
        }
        if (line == 0 && rw->host != NULL) {
            puts_(&w, "Host: ");
            puts_(&w, rw->host);
            puts_(&w, "\r\n");
        }
        pos += n + 2;
    }
    puts_(&w, "X-Forwarded-For: ");
    puts_(&w, client_ip);
    puts_(&w, "\r\nX-Forwarded-Proto: ");
    puts_(&w, proto);
    puts_(&w, "\r\n\r\n");
    return w.over ? 0 : w.len;
}

/* ---- error pages ---- */

static const char *
reason(int status)
{
    switch (status) {
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

/* Put <s> HTML-escaped; control characters become '?' so a page stays text. */
static void
put_escaped(struct wbuf *w, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': puts_(w, "&amp;"); break;
        case '<': puts_(w, "&lt;"); break;
        case '>': puts_(w, "&gt;"); break;
        case '"': puts_(w, "&quot;"); break;
        case '\'': puts_(w, "&#39;"); break;
        default:
            put(w, ((uint8_t)*s < 0x20 || *s == 0x7f) ? "?" : s, 1);
            break;
        }
    }
}

/* The page itself, into <w> (a zero-cap wbuf just measures it). */
static void
page_body(struct wbuf *w, const char *title, const char *detail)
{
    puts_(w, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    puts_(w, title);
    puts_(w, "</title></head>\n<body><h1>");
    puts_(w, title);
    puts_(w, "</h1>\n");
    if (detail != NULL) {
        puts_(w, "<p>");
        put_escaped(w, detail);
        puts_(w, "</p>\n");
    }
    puts_(w, "</body></html>\n");
}

/* The length page_body() gives. */
static size_t
page_len(const char *title, const char *detail)
{
    struct wbuf w = { NULL, 0, 0, 0 };
    page_body(&w, title, detail);
    return w.len;
}

size_t
pn_http_error_page(int status, const char *detail, char *out, size_t cap)
{
    return pn_http_page_ex(status, detail, NULL, out, cap);
}

size_t
pn_http_page_ex(int status, const char *detail, const char *field, char *out, size_t cap)
{
    if (status < 100 || status > 999)
        return 0;
    for (const char *c = field; c != NULL && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return 0;
    char title[48], hdr[PN_HTTP_PAGE_FIELD_MAX + 256];
    snprintf(title, sizeof(title), "%d %s", status, reason(status));
    int h = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %s\r\n"
                     "Content-Type: text/html; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "Connection: close\r\n"
                     "%s%s%s"
                     "\r\n",
                     title, page_len(title, detail),
                     status == 429 || status == 503 ? "Retry-After: 1\r\n" : "",
                     field != NULL ? field : "", field != NULL ? "\r\n" : "");
    if (h < 0 || (size_t)h >= sizeof(hdr))
        return 0;
    struct wbuf w = { (uint8_t *)out, cap, 0, 0 };
    put(&w, hdr, (size_t)h);
    page_body(&w, title, detail);
    if (w.over)
        return 0;
    if (w.len < cap)
        out[w.len] = '\0';
    return w.len;
}
