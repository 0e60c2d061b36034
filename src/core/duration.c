/* core/duration.c: duration and number parsing (pure). */
#include "core/duration.h"
#include "core/err.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int
pn_uint_parse(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0')
        return PN_ERR;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return PN_ERR;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return PN_ERR;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return PN_ERR;
    *out = v;
    return PN_OK;
}

/* Each component is <number>[.<fraction>]<unit>; components add up ("1h30m").
 * The fraction is kept to microsecond precision and rounded down to ms at the end. */
int
pn_duration_parse(const char *s, uint64_t *out_ms)
{
    static const struct { const char *name; uint64_t us; } units[] = {
        { "ms", 1000ULL }, { "us", 1ULL }, { "µs", 1ULL }, { "s", 1000000ULL },
        { "m", 60000000ULL }, { "h", 3600000000ULL },
    };
    uint64_t total_us = 0;

    if (s == NULL || *s == '\0')
        return PN_ERR;
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return PN_OK;
    }
    const char *p = s;
    while (*p) {
        uint64_t whole = 0, frac = 0, scale = 1;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (whole > (UINT64_MAX - 9) / 10)
                return PN_ERR;
            whole = whole * 10 + (uint64_t)(*p++ - '0');
            digits++;
        }
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p)) {
                if (scale < 1000000) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
                p++;
                digits++;
            }
        }
        if (digits == 0)
            return PN_ERR;
        size_t i, n = sizeof(units) / sizeof(units[0]);
        for (i = 0; i < n; i++) {
            size_t len = strlen(units[i].name);
            /* "m" must not swallow the "m" of "ms": units are ordered longest first. */
            if (strncmp(p, units[i].name, len) == 0)
                break;
        }
        if (i == n)
            return PN_ERR;
        uint64_t u = units[i].us;
        if (whole != 0 && u > UINT64_MAX / whole)
            return PN_ERR;
        uint64_t fpart = frac * u / scale;     /* frac < scale <= 1e6: no overflow */
        if (whole * u > UINT64_MAX - fpart)
            return PN_ERR;
        uint64_t part = whole * u + fpart;
        if (total_us > UINT64_MAX - part)
            return PN_ERR;
        total_us += part;
        p += strlen(units[i].name);
    }
    *out_ms = total_us / 1000;
    return PN_OK;
}

uint64_t
pn_shutdown_timeout_ms(const char **bad)
{
    static const char *const names[] = { "POSTERN_SHUTDOWN_TIMEOUT", "NP_SHUTDOWN_TIMEOUT" };
    if (bad != NULL)
        *bad = NULL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = getenv(names[i]);
        uint64_t ms;
        if (v == NULL || *v == '\0')
            continue;
        if (pn_duration_parse(v, &ms) == PN_OK)
            return ms;
        if (bad != NULL)
            *bad = names[i];
        return PN_SHUTDOWN_DEFAULT_MS;
    }
    return PN_SHUTDOWN_DEFAULT_MS;
}
