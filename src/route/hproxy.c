/* route/hproxy.c: the HTTP proxy request head (pure). */
#include "route/hproxy.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
is_tchar(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int
hproxy_b64_decode(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (n == 0 || n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (in[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad > 0 || (v[k] = b64_val(in[i + k])) < 0) {
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        uint8_t b[3] = { (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w };
        for (int k = 0; k < 3 - pad; k++) {
            if (o + 1 >= cap || b[k] == 0)
                return -1;
            out[o++] = (char)b[k];
        }
    }
    out[o] = '\0';
    return (int)o;
}

/* "host:port" or "[v6]:port" (<s>, <n> bytes; <need_port> or port 80) into <r>. */
static int
authority(const char *s, size_t n, int need_port, hproxy_req_t *r)
{
    const char *hs = s, *colon = NULL;
    size_t hn;
    if (n == 0)
        return PN_ERR;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return PN_ERR;
        hs = s + 1;
        hn = (size_t)(close - hs);
        if (close + 1 < s + n) {
            if (close[1] != ':')
                return PN_ERR;
            colon = close + 1;
        }
    } else {
        colon = memchr(s, ':', n);
        hn = colon ? (size_t)(colon - s) : n;
    }
    if (hn == 0 || hn >= sizeof(r->host))
        return PN_ERR;
    for (size_t i = 0; i < hn; i++) {
        uint8_t c = (uint8_t)hs[i];
        if (c < 0x21 || c > 0x7e || c == '@' || c == '/' || c == '[' || c == ']' ||
            (c == ':' && s[0] != '['))
            return PN_ERR;
    }
    memcpy(r->host, hs, hn);
    r->host[hn] = '\0';
    if (colon == NULL) {
        if (need_port)
            return PN_ERR;
        r->port = 80;
        return PN_OK;
    }
    size_t pl = (size_t)(s + n - colon - 1);
    if (pl == 0 || pl > 5)
        return PN_ERR;
    unsigned v = 0;
    for (size_t i = 0; i < pl; i++) {
        char c = colon[1 + i];
        if (c < '0' || c > '9')
            return PN_ERR;
        v = v * 10 + (unsigned)(c - '0');
    }
    if (v == 0 || v > 65535)
        return PN_ERR;
    r->port = (uint16_t)v;
    return PN_OK;
}

static void
put(uint8_t *out, size_t *o, const void *s, size_t n)
{
    memcpy(out + *o, s, n);
    *o += n;
}

static int
credentials(const char *v, size_t vn, hproxy_req_t *r)
{
    char dec[512];
    if (r->has_auth || vn < 6 || strncasecmp(v, "Basic ", 6) != 0)
        return PN_ERR;
    v += 6;
    vn -= 6;
    while (vn > 0 && v[0] == ' ') {
        v++;
        vn--;
    }
    int len = hproxy_b64_decode(v, vn, dec, sizeof(dec));
    char *colon = len > 0 ? memchr(dec, ':', (size_t)len) : NULL;
    if (colon == NULL)
        return PN_ERR;
    size_t ul = (size_t)(colon - dec), pl = (size_t)len - ul - 1;
    if (ul == 0 || ul > 255 || pl == 0 || pl > 255)
        return PN_ERR;
    memcpy(r->user, dec, ul);
    r->user[ul] = '\0';
    memcpy(r->pass, colon + 1, pl);
    r->pass[pl] = '\0';
    r->has_auth = 1;
    memset(dec, 0, sizeof(dec));
    return PN_OK;
}

static int
hdr_is(const char *name, size_t nn, const char *want)
{
    return nn == strlen(want) && strncasecmp(name, want, nn) == 0;
}

int
hproxy_parse(const uint8_t *p, size_t n, hproxy_req_t *r, uint8_t *out, size_t *out_len)
{
    const char *s = (const char *)p;
    size_t lim = n < HPROXY_HEAD_MAX ? n : HPROXY_HEAD_MAX, end = 0;
    memset(r, 0, sizeof(*r));
    *out_len = 0;
    for (size_t i = 0; i + 3 < lim; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
            end = i + 4;
            break;
        }
    }
    if (end == 0) {
        for (size_t i = 0; i < lim; i++)
            if (p[i] == 0 || (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')))
                return PN_ERR;
        return n >= HPROXY_HEAD_MAX ? PN_ERR : PN_AGAIN;
    }
    r->head_len = end;
    /* The request line. */
    size_t i = 0, m0, t0, t1;
    while (i < end && is_tchar(p[i]))
        i++;
    if (i == 0 || i > 32 || p[i] != ' ')
        return PN_ERR;
    m0 = i;
    t0 = ++i;
    while (i < end && p[i] > 0x20 && p[i] < 0x7f)
        i++;
    t1 = i;
    if (t1 == t0 || p[i] != ' ' || end - i < 11 || memcmp(p + i + 1, "HTTP/1.", 7) != 0 ||
        (p[i + 8] != '0' && p[i + 8] != '1') || p[i + 9] != '\r' || p[i + 10] != '\n')
        return PN_ERR;
    char minor = (char)p[i + 8];
    i += 11;
    size_t o = 0, path0 = 0, path1 = 0, auth0 = 0, auth1 = 0;
    r->connect = m0 == 7 && memcmp(p, "CONNECT", 7) == 0;
    if (r->connect) {
        if (authority(s + t0, t1 - t0, 1, r) != PN_OK)
            return PN_ERR;
    } else {
        if (t1 - t0 < 8 || strncasecmp(s + t0, "http://", 7) != 0)
            return PN_ERR;
        auth0 = t0 + 7;
        auth1 = auth0;
        while (auth1 < t1 && p[auth1] != '/' && p[auth1] != '?')
            auth1++;
        if (authority(s + auth0, auth1 - auth0, 0, r) != PN_OK)
            return PN_ERR;
        path0 = auth1;
        path1 = t1;
        put(out, &o, p, m0 + 1);
        if (path0 == path1 || p[path0] == '?')
            put(out, &o, "/", 1);
        put(out, &o, p + path0, path1 - path0);
        put(out, &o, " HTTP/1.", 8);
        put(out, &o, &minor, 1);
        put(out, &o, "\r\n", 2);
    }
    /* Header lines up to the empty one. */
    int has_host = 0;
    while (i < end - 2) {
        size_t l0 = i, le = i;
        while (p[le] != '\r')
            le++;
        if (p[le + 1] != '\n')
            return PN_ERR;
        size_t nn = 0;
        while (l0 + nn < le && is_tchar(p[l0 + nn]))
            nn++;
        if (nn == 0 || l0 + nn >= le || p[l0 + nn] != ':')
            return PN_ERR;
        size_t v0 = l0 + nn + 1, v1 = le;
        for (size_t k = v0; k < v1; k++)
            if ((p[k] < 0x20 && p[k] != '\t') || p[k] == 0x7f)
                return PN_ERR;
        while (v0 < v1 && (p[v0] == ' ' || p[v0] == '\t'))
            v0++;
        while (v1 > v0 && (p[v1 - 1] == ' ' || p[v1 - 1] == '\t'))
            v1--;
        const char *name = s + l0;
        if (hdr_is(name, nn, "Proxy-Authorization")) {
            if (credentials(s + v0, v1 - v0, r) != PN_OK)
                return PN_ERR;
        } else if (!r->connect && !hdr_is(name, nn, "Proxy-Connection") &&
                   !hdr_is(name, nn, "Connection") && !hdr_is(name, nn, "Keep-Alive")) {
            if (hdr_is(name, nn, "Host")) {
                if (has_host)
                    return PN_ERR;
                has_host = 1;
            }
            put(out, &o, p + l0, le + 2 - l0);
        }
        i = le + 2;
    }
    if (!r->connect) {
        if (!has_host) {
            put(out, &o, "Host: ", 6);
            put(out, &o, p + auth0, auth1 - auth0);
            put(out, &o, "\r\n", 2);
        }
        put(out, &o, "Connection: close\r\n\r\n", 21);
        *out_len = o;
    }
    return PN_OK;
}
