/* master/health.c: STATE lines and state names (master/health.h). */
#include "master/health.h"
#include "core/err.h"

#include <string.h>

static const char *const names[PN_HEALTH_N] = {
    [PN_HEALTH_STOPPED] = "stopped", [PN_HEALTH_CONNECTING] = "connecting",
    [PN_HEALTH_CONNECTED] = "connected", [PN_HEALTH_DEGRADED] = "degraded",
    [PN_HEALTH_ERROR] = "error",
};

const char *
pn_health_name(enum pn_health h)
{
    return (unsigned)h < PN_HEALTH_N ? names[h] : "stopped";
}

int
pn_health_parse(const char *line, size_t len, enum pn_health *state,
                char reason[PN_HEALTH_REASON_MAX])
{
    static const char tag[] = "STATE|";
    const size_t taglen = sizeof(tag) - 1;
    const char *end = line + len, *p = NULL;

    while (end > line && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    /* The tag starts the message: at the line's start, or after the text
     * format's level ("EVENT ") or the JSON format's "msg":" (never inside a
     * word, so HUB_STATE| is not one). */
    for (const char *q = line; q + taglen <= end; q++) {
        if (*q == 'S' && memcmp(q, tag, taglen) == 0 &&
            (q == line || q[-1] == ' ' || q[-1] == '"')) {
            p = q + taglen;
            break;
        }
    }
    if (p == NULL)
        return PN_ERR;
    const char *at = p - taglen;    /* the tag */
    int json = at > line && at[-1] == '"';
    const char *bar = memchr(p, '|', (size_t)(end - p));
    if (bar == NULL)
        return PN_ERR;
    int found = 0;
    for (int h = PN_HEALTH_CONNECTING; h < PN_HEALTH_N; h++) {
        size_t n = strlen(names[h]);
        if ((size_t)(bar - p) == n && memcmp(p, names[h], n) == 0) {
            *state = (enum pn_health)h;
            found = 1;
        }
    }
    if (!found)
        return PN_ERR;
    const char *r = bar + 1, *rend = end;
    if (json) {
        const char *quote = memchr(r, '"', (size_t)(end - r));
        if (quote == NULL)
            return PN_ERR;
        rend = quote;
    }
    size_t n = (size_t)(rend - r);
    if (n > PN_HEALTH_REASON_MAX - 1)
        n = PN_HEALTH_REASON_MAX - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)r[i];
        reason[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    reason[n] = '\0';
    return PN_OK;
}
