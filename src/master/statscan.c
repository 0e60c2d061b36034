/* master/statscan.c: a node's statistics in the rows form, read without a JSON
 * tree (see master/statscan.h). Every doubt is PN_AGAIN. */
#include "master/statscan.h"
#include "core/mem.h"

#include <string.h>

#define SCAN_DEPTH 32           /* nesting of the values skipped */
#define SCAN_DIGITS 18          /* an integer of more digits is left to the parser */

typedef struct scan {
    const char *p, *end;
} scan_t;

static void
ws(scan_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int
eat(scan_t *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A string: <out>/<len> its bytes when it has no escape (<plain> 1), else
 * <plain> 0 (its bytes are then not given). PN_AGAIN on a control character,
 * a byte over 0x7e or the end of the body. */
static int
string(scan_t *c, const char **out, size_t *len, int *plain)
{
    if (!eat(c, '"'))
        return PN_AGAIN;
    const char *s = c->p;
    *plain = 1;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20 || ch > 0x7e)
            return PN_AGAIN;    /* UTF-8 is the parser's to check */
        if (ch == '\\') {
            *plain = 0;
            if (++c->p >= c->end || *c->p == '\0' || !strchr("\"\\/bfnrtu", *c->p))
                return PN_AGAIN;
            if (*c->p == 'u') {
                for (int i = 0; i < 4; i++)
                    if (++c->p >= c->end || *c->p == '\0' || !strchr("0123456789abcdefABCDEF", *c->p))
                        return PN_AGAIN;
                /* \u0000 and surrogates are the parser's to judge */
                if (memcmp(c->p - 3, "0000", 4) == 0 || strchr("dD", c->p[-3]) != NULL)
                    return PN_AGAIN;
            }
        }
        c->p++;
    }
    if (c->p >= c->end)
        return PN_AGAIN;
    *out = s;
    *len = (size_t)(c->p - s);
    c->p++;
    return PN_OK;
}

/* An integer of at most SCAN_DIGITS digits (a fraction or exponent: PN_AGAIN). */
static int
integer(scan_t *c, int64_t *v)
{
    int neg = 0, n = 0;
    int64_t x = 0;
    ws(c);
    if (c->p < c->end && *c->p == '-') {
        neg = 1;
        c->p++;
    }
    if (c->p < c->end && *c->p == '0' && c->p + 1 < c->end && c->p[1] >= '0' && c->p[1] <= '9')
        return PN_AGAIN;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (++n > SCAN_DIGITS)
            return PN_AGAIN;
        x = x * 10 + (*c->p++ - '0');
    }
    if (n == 0 || (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E')))
        return PN_AGAIN;
    *v = neg ? -x : x;
    return PN_OK;
}

/* Any JSON value, skipped. */
static int
skip(scan_t *c, int depth)
{
    const char *s;
    size_t len;
    int plain;
    ws(c);
    if (c->p >= c->end || depth > SCAN_DEPTH)
        return PN_AGAIN;
    switch (*c->p) {
    case '"':
        return string(c, &s, &len, &plain);
    case '[':
    case '{': {
        char close = *c->p == '[' ? ']' : '}';
        int obj = close == '}';
        c->p++;
        if (eat(c, close))
            return PN_OK;
        do {
            if (obj && (string(c, &s, &len, &plain) != PN_OK || !eat(c, ':')))
                return PN_AGAIN;
            if (skip(c, depth + 1) != PN_OK)
                return PN_AGAIN;
        } while (eat(c, ','));
        return eat(c, close) ? PN_OK : PN_AGAIN;
    }
    case 't':
    case 'f':
    case 'n': {
        static const char *const lit[] = { "true", "false", "null" };
        for (int i = 0; i < 3; i++) {
            size_t n = strlen(lit[i]);
            if ((size_t)(c->end - c->p) >= n && memcmp(c->p, lit[i], n) == 0) {
                c->p += n;
                return PN_OK;
            }
        }
        return PN_AGAIN;
    }
    default: {
        int64_t v;
        return integer(c, &v);  /* a fraction or exponent is the parser's */
    }
    }
}

/* The rows of "users": [["name", up, down, <integers>...], ...] */
static int
rows(scan_t *c, pn_statscan_t *s)
{
    if (!eat(c, '['))
        return PN_AGAIN;
    if (eat(c, ']'))
        return PN_OK;
    do {
        pn_statscan_row_t r;
        int plain;
        int64_t more;
        if (!eat(c, '[') || string(c, &r.name, &r.len, &plain) != PN_OK || !plain ||
            !eat(c, ',') || integer(c, &r.up) != PN_OK || !eat(c, ',') ||
            integer(c, &r.down) != PN_OK)
            return PN_AGAIN;
        while (eat(c, ','))
            if (integer(c, &more) != PN_OK)
                return PN_AGAIN;
        if (!eat(c, ']'))
            return PN_AGAIN;
        if (s->nrows == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 1024;
            s->rows = xrealloc(s->rows, s->cap * sizeof(*s->rows));
        }
        s->rows[s->nrows++] = r;
    } while (eat(c, ','));
    return eat(c, ']') ? PN_OK : PN_AGAIN;
}

/* One member of the top object: "boot", "version" and "users" read, others skipped. */
static int
member(scan_t *c, pn_statscan_t *s)
{
    const char *k, *v;
    size_t klen, vlen;
    int plain;
    /* a key with an escape may be one of the three spelled otherwise: the parser's */
    if (string(c, &k, &klen, &plain) != PN_OK || !plain || !eat(c, ':'))
        return PN_AGAIN;
    if (klen == 4 && memcmp(k, "boot", 4) == 0) {
        if (s->has_boot++ || string(c, &v, &vlen, &plain) != PN_OK || !plain ||
            vlen >= sizeof(s->boot))
            return PN_AGAIN;
        memcpy(s->boot, v, vlen);
        s->boot[vlen] = '\0';
        return PN_OK;
    }
    if (klen == 7 && memcmp(k, "version", 7) == 0)
        return s->has_version++ ? PN_AGAIN : integer(c, &s->version);
    if (klen == 5 && memcmp(k, "users", 5) == 0)
        return s->has_users++ ? PN_AGAIN : rows(c, s);
    return skip(c, 1);
}

int
pn_statscan(const char *body, size_t len, pn_statscan_t *s)
{
    scan_t c = { body, body + len };
    memset(s, 0, sizeof(*s));
    if (!eat(&c, '{'))
        return PN_AGAIN;
    if (!eat(&c, '}')) {
        do {
            if (member(&c, s) != PN_OK)
                return PN_AGAIN;
        } while (eat(&c, ','));
        if (!eat(&c, '}'))
            return PN_AGAIN;
    }
    ws(&c);
    if (c.p != c.end || !s->has_boot || !s->has_version || !s->has_users)
        return PN_AGAIN;
    return PN_OK;
}

void
pn_statscan_clear(pn_statscan_t *s)
{
    free(s->rows);
    memset(s, 0, sizeof(*s));
}
