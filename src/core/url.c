/* core/url.c: URL splitting (pure: no sockets, no DNS, no files). */
#include "core/url.h"
#include "core/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define URL_MAX_LEN 8192    /* longer input is refused before any work */

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decode in place; '+' becomes a space only in query strings (form encoding),
 * never in the key, where it is an ordinary character. */
static int
decode(char *s, int plus_is_space)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '%') {
            int hi = hexval((unsigned char)r[1]), lo = hi < 0 ? -1 : hexval((unsigned char)r[2]);
            if (hi < 0 || lo < 0)
                return PN_ERR;
            int c = hi * 16 + lo;
            if (c == 0)
                return PN_ERR;
            *w++ = (char)c;
            r += 2;
        } else if (*r == '+' && plus_is_space) {
            *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return PN_OK;
}

int
pn_percent_decode(char *s)
{
    return decode(s, 1);
}

int
pn_percent_decode_plain(char *s)
{
    return decode(s, 0);
}

int
pn_hostport_split(const char *s, char **host, char **port, char *err)
{
    const char *colon;
    const char *h = s;
    size_t hlen;

    *host = *port = NULL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL)
            return pn_err_set(err, "address \"%s\": unterminated '[' in IPv6 literal", s);
        h = s + 1;
        hlen = (size_t)(close - h);
        if (close[1] != ':')
            return pn_err_set(err, "address \"%s\": expected \":<port>\" after the IPv6 literal", s);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return pn_err_set(err, "address \"%s\": missing \":<port>\"", s);
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen) != NULL)
            return pn_err_set(err, "address \"%s\": an IPv6 host must be written in brackets, e.g. [::1]:80", s);
    }
    if (colon[1] == '\0')
        return pn_err_set(err, "address \"%s\": missing port after ':'", s);
    for (const char *p = colon + 1; *p; p++)
        if (!isdigit((unsigned char)*p))
            return pn_err_set(err, "address \"%s\": port \"%s\" is not a number", s, colon + 1);
    *host = xstrndup(h, hlen);
    *port = xstrdup(colon + 1);
    return PN_OK;
}

static int
parse_query(pn_url_t *u, const char *q, char *err)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > 0) {
            char *pair = xstrndup(q, len);
            char *eq = strchr(pair, '=');
            char *key = pair, *val = eq ? eq + 1 : pair + len;
            if (eq)
                *eq = '\0';
            if (*key == '\0') {
                xfree(pair);
                return pn_err_set(err, "query: parameter with an empty name");
            }
            if (pn_percent_decode(key) != PN_OK || pn_percent_decode(val) != PN_OK) {
                pn_err_set(err, "query: bad %%-escape in parameter \"%s\"", key);
                xfree(pair);
                return PN_ERR;
            }
            u->params = xrealloc(u->params, (u->nparams + 1) * sizeof(*u->params));
            u->params[u->nparams].key = xstrdup(key);
            u->params[u->nparams].value = xstrdup(val);
            u->nparams++;
            xfree(pair);
        }
        q += len;
        if (*q == '&')
            q++;
    }
    return PN_OK;
}

int
pn_url_parse(const char *s, pn_url_t *u, char *err)
{
    memset(u, 0, sizeof(*u));
    if (strlen(s) > URL_MAX_LEN)
        return pn_err_set(err, "url: longer than %d bytes", URL_MAX_LEN);

    const char *sep = strstr(s, "://");
    if (sep == NULL || sep == s)
        /* Never echo <s>: its user part may be a key. */
        return pn_err_set(err, "url: expected <mode>://<host>:<port>/..., e.g. client://:8080/127.0.0.1:80");
    u->scheme = xstrndup(s, (size_t)(sep - s));
    for (char *p = u->scheme; *p; p++) {
        if (!isalpha((unsigned char)*p)) {
            /* Not echoed: with a mistyped "://" the key may sit inside it. */
            pn_err_set(err, "scheme: the mode before \"://\" must be a word (server, client, hub, agent or master)");
            goto fail;
        }
        *p = (char)tolower((unsigned char)*p);
    }

    const char *rest = sep + 3;
    const char *qmark = strchr(rest, '?');
    const char *end = qmark ? qmark : rest + strlen(rest);
    /* The authority ends at the first '/', but a '/' inside the user part cannot
     * occur (keys are percent-encoded if they need one), so the first '/' wins. */
    const char *slash = memchr(rest, '/', (size_t)(end - rest));
    const char *auth_end = slash ? slash : end;
    const char *at = NULL;
    for (const char *p = rest; p < auth_end; p++)
        if (*p == '@')
            at = p;

    if (at != NULL) {
        u->user = xstrndup(rest, (size_t)(at - rest));
        if (decode(u->user, 0) != PN_OK) {
            pn_err_set(err, "url: bad %%-escape in the key");
            goto fail;
        }
        rest = at + 1;
    }
    char *auth = xstrndup(rest, (size_t)(auth_end - rest));
    if (*auth == '\0') {
        xfree(auth);
        pn_err_set(err, "url: missing <host>:<port> after \"%s://\"", u->scheme);
        goto fail;
    }
    int rc = pn_hostport_split(auth, &u->host, &u->port, err);
    xfree(auth);
    if (rc != PN_OK)
        goto fail;

    if (slash != NULL)
        u->path = xstrndup(slash + 1, (size_t)(end - slash - 1));
    if (qmark != NULL && parse_query(u, qmark + 1, err) != PN_OK)
        goto fail;
    return PN_OK;

fail:
    pn_url_clear(u);
    return PN_ERR;
}

void
pn_url_clear(pn_url_t *u)
{
    for (size_t i = 0; i < u->nparams; i++) {
        xfree(u->params[i].key);
        xfree(u->params[i].value);
    }
    xfree(u->params);
    xfree(u->scheme);
    xfree(u->user);
    xfree(u->host);
    xfree(u->port);
    xfree(u->path);
    memset(u, 0, sizeof(*u));
}

const char *
pn_url_param(const pn_url_t *u, const char *key)
{
    for (size_t i = u->nparams; i-- > 0;)
        if (strcmp(u->params[i].key, key) == 0)
            return u->params[i].value;
    return NULL;
}

void
pn_url_mask_key(const char *url, char *out, size_t len)
{
    if (len == 0)
        return;
    const char *auth = strstr(url, "://");
    const char *at = NULL;
    if (auth != NULL) {
        auth += 3;
        size_t span = strcspn(auth, "/?");   /* the authority, as the parser sees it */
        const char *a = memchr(auth, '@', span);
        /* The last '@' of the authority ends the key, as in the parser. */
        while (a != NULL) {
            at = a;
            a = memchr(a + 1, '@', span - (size_t)(a + 1 - auth));
        }
    }
    if (at == NULL) {
        snprintf(out, len, "%s", url);
        return;
    }
    snprintf(out, len, "%.*s***%s", (int)(auth - url), url, at);
}

const char *
pn_url_repeated(const pn_url_t *u, const char *const *repeatable)
{
    for (size_t i = 0; i < u->nparams; i++) {
        const char *k = u->params[i].key;
        int ok = 0;
        for (size_t r = 0; repeatable != NULL && repeatable[r] != NULL; r++)
            ok |= strcmp(repeatable[r], k) == 0;
        for (size_t j = 0; !ok && j < i; j++)
            if (strcmp(u->params[j].key, k) == 0)
                return k;
    }
    return NULL;
}
