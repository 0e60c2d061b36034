/* route/http_acl.c: the request-head readers and the auth spec parser of
 * route/http_acl.h (pure). The heads given here were accepted by
 * pn_http_msg_feed() already, but nothing is assumed of them beyond their
 * length: every scan is bounded by it. */
#include "route/http_acl.h"
#include "route/hproxy.h"
#include "route/http_scan.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int
pchar(unsigned char c)
{
    return isalnum(c) || strchr("-._~!$&'()*+;=:@/", c) != NULL;
}

int
pn_http_path_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > PN_HTTP_PATH_MAX || p[0] != '/')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!pchar((unsigned char)p[i]))
            return 0;
    return 1;
}

size_t
pn_http_path_match(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (n == 0 || strncmp(prefix, path, n) != 0)
        return 0;
    if (prefix[n - 1] == '/' || path[n] == '\0' || path[n] == '/')
        return n;
    return 0;
}

int
pn_http_req_path(const uint8_t *head, size_t len, char *out, size_t cap)
{
    const uint8_t *sp = memchr(head, ' ', len);
    if (sp == NULL || cap < 2)
        return -1;
    const uint8_t *t = sp + 1, *end = head + len;
    const uint8_t *e = t;
    while (e < end && *e != ' ' && *e != '\r' && *e != '\n')
        e++;
    if (e == t)
        return -1;
    if (*t != '/' && *t != '*') {
        /* absolute-form: scheme "://" authority, then the path */
        const uint8_t *s = t;
        while (s + 2 < e && !(s[0] == ':' && s[1] == '/' && s[2] == '/'))
            s++;
        if (s + 2 >= e)
            return -1;
        s += 3;
        while (s < e && *s != '/' && *s != '?' && *s != '#')
            s++;
        if (s == e || *s != '/') {
            out[0] = '/';
            out[1] = '\0';
            return 0;
        }
        t = s;
    }
    size_t n = 0;
    while (t + n < e && t[n] != '?' && t[n] != '#')
        n++;
    if (n > cap - 1)
        n = cap - 1;
    memcpy(out, t, n);
    out[n] = '\0';
    return 0;
}

int
pn_http_path_norm(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    if (cap < 2)
        return -1;
    for (size_t i = 0; in[i] != '\0'; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            int h = hex_val((uint8_t)in[i + 1]), l = h >= 0 ? hex_val((uint8_t)in[i + 2]) : -1;
            if (h < 0 || l < 0)
                return -1;
            unsigned char d = (unsigned char)(h << 4 | l);
            if (d == '/' || d == '\\' || d < 0x20 || d == 0x7f)
                return -1;
            i += 2;
            if (isalnum(d) || d == '-' || d == '.' || d == '_' || d == '~') {
                c = d;
            } else {
                if (o + 3 < cap) {
                    memcpy(out + o, in + i - 2, 3);
                    o += 3;
                }
                continue;
            }
        } else if (c == '\\' || c < 0x20 || c == 0x7f) {
            return -1;
        }
        if (c == '/' && o > 0 && out[o - 1] == '/')
            continue;
        if (o + 1 < cap)
            out[o++] = (char)c;
    }
    out[o] = '\0';
    /* Dot segments, once decoded: "/." or "/.." followed by '/' or the end. */
    for (size_t i = 0; i < o; i++) {
        if (out[i] != '/' || out[i + 1] != '.')
            continue;
        size_t j = i + 2;
        if (out[j] == '.')
            j++;
        if (out[j] == '/' || out[j] == '\0')
            return -1;
    }
    return 0;
}

int
pn_http_field(const uint8_t *head, size_t len, const char *name, const uint8_t **val,
              size_t *vlen)
{
    size_t nl = strlen(name);
    const uint8_t *p = memchr(head, '\n', len), *end = head + len;
    while (p != NULL && p + 1 < end) {
        const uint8_t *l = p + 1;
        const uint8_t *eol = memchr(l, '\n', (size_t)(end - l));
        if (eol == NULL)
            eol = end;
        size_t n = (size_t)(eol - l);
        if (n > nl && l[nl] == ':') {
            size_t i = 0;
            while (i < nl && tolower(l[i]) == tolower((unsigned char)name[i]))
                i++;
            if (i == nl) {
                const uint8_t *v = l + nl + 1, *ve = eol;
                while (v < ve && (*v == ' ' || *v == '\t'))
                    v++;
                while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                *val = v;
                *vlen = (size_t)(ve - v);
                return 1;
            }
        }
        p = eol < end ? eol : NULL;
    }
    return 0;
}

int
pn_http_basic_decode(const uint8_t *val, size_t vlen, char *user, char *pass)
{
    char buf[PN_HTTP_AUTH_USER_MAX + 1 + PN_HTTP_AUTH_PASS_MAX + 1];
    if (vlen < 6 || strncasecmp((const char *)val, "basic ", 6) != 0)
        return -1;
    size_t i = 6;
    while (i < vlen && val[i] == ' ')
        i++;
    /* hproxy's decoder: padded base64, no NUL in what it decodes. */
    int n = hproxy_b64_decode((const char *)val + i, vlen - i, buf, sizeof(buf));
    if (n <= 0)
        return -1;
    const char *colon = memchr(buf, ':', (size_t)n);
    if (colon == NULL)
        return -1;
    size_t ul = (size_t)(colon - buf), pl = (size_t)n - ul - 1;
    if (ul == 0 || ul > PN_HTTP_AUTH_USER_MAX || pl > PN_HTTP_AUTH_PASS_MAX)
        return -1;
    for (int k = 0; k < n; k++)
        if ((uint8_t)buf[k] < 0x20 || buf[k] == 0x7f)
            return -1;
    memcpy(user, buf, ul);
    user[ul] = '\0';
    memcpy(pass, colon + 1, pl);
    pass[pl] = '\0';
    return 0;
}

/* Decode exactly <n> hex digits at <s> (ending at <end>) into <out>. */
static int
hex_decode(const char *s, const char *end, uint8_t *out, size_t max, size_t *got)
{
    size_t n = (size_t)(end - s);
    if (n % 2 != 0 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int h = hex_val((uint8_t)s[i]), l = hex_val((uint8_t)s[i + 1]);
        if (h < 0 || l < 0)
            return -1;
        out[i / 2] = (uint8_t)(h << 4 | l);
    }
    *got = n / 2;
    return 0;
}

int
pn_http_auth_parse(const char *spec, pn_http_auth_t *a)
{
    memset(a, 0, sizeof(*a));
    const char *colon = strchr(spec, ':');
    if (colon == NULL || colon == spec || (size_t)(colon - spec) > PN_HTTP_AUTH_USER_MAX)
        return -1;
    for (const char *c = spec; c < colon; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == ',')
            return -1;
    const char *alg = colon + 1;
    if (strncmp(alg, "sha256$", 7) != 0)
        return -1;
    const char *salt = alg + 7, *dollar = strchr(salt, '$');
    size_t hl;
    if (dollar == NULL || hex_decode(salt, dollar, a->salt, sizeof(a->salt), &a->salt_len) != 0 ||
        a->salt_len < 8 || hex_decode(dollar + 1, dollar + 1 + strlen(dollar + 1), a->hash,
                                      sizeof(a->hash), &hl) != 0 || hl != sizeof(a->hash))
        return -1;
    memcpy(a->user, spec, (size_t)(colon - spec));
    return 0;
}
