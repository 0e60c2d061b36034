/* master/checkpoint.c: the CHECK_POINT parser (the inverse of core/stats.c). */
#include "master/checkpoint.h"
#include "core/err.h"

#include <stdint.h>
#include <string.h>

#define CP_TAG "CHECK_POINT|"

/* Parse the decimal digits of [p, end) with an optional "ms" suffix. */
static int
parse_num(const char *p, const char *end, int ms_ok, uint64_t *out)
{
    uint64_t v = 0;
    const char *q = p;
    if (ms_ok && end - p >= 2 && end[-2] == 'm' && end[-1] == 's')
        end -= 2;
    if (q == end)
        return PN_ERR;
    for (; q < end; q++) {
        if (*q < '0' || *q > '9')
            return PN_ERR;
        if (v > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
            return PN_ERR;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    *out = v;
    return PN_OK;
}

int
pn_checkpoint_parse(const char *line, size_t len, pn_stats_t *out, int *mode)
{
    static const char tag[] = CP_TAG;
    const size_t taglen = sizeof(tag) - 1;
    const char *p = NULL;
    const char *end = line + len;
    unsigned seen = 0;
    uint64_t m = 0;

    while (len > 0 && (end[-1] == '\n' || end[-1] == '\r'))
        end--, len--;
    /* The tag may follow the log prefix; search for it. */
    for (size_t i = 0; i + taglen <= len; i++) {
        if (line[i] == 'C' && memcmp(line + i, tag, taglen) == 0) {
            p = line + i + taglen;
            break;
        }
    }
    if (p == NULL)
        return PN_ERR;
    memset(out, 0, sizeof(*out));
    while (p < end) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        const char *fend = bar ? bar : end;
        const char *eq = memchr(p, '=', (size_t)(fend - p));
        if (eq == NULL)
            return PN_ERR;
        size_t klen = (size_t)(eq - p);
        const char *v = eq + 1;
        uint64_t *dst = NULL;
        unsigned bit = 0;
        int ms = 0;
#define CP_FIELD(name, field, b, isms) \
        else if (klen == sizeof(name) - 1 && memcmp(p, name, klen) == 0) { dst = (field); bit = (b); ms = (isms); }
        if (0) {
        }
        CP_FIELD("MODE", &m, 1u << 0, 0)
        CP_FIELD("PING", &out->ping_ms, 1u << 1, 1)
        CP_FIELD("POOL", &out->pool, 1u << 2, 0)
        CP_FIELD("TCPS", &out->tcps, 1u << 3, 0)
        CP_FIELD("UDPS", &out->udps, 1u << 4, 0)
        CP_FIELD("TCPRX", &out->tcp_rx, 1u << 5, 0)
        CP_FIELD("TCPTX", &out->tcp_tx, 1u << 6, 0)
        CP_FIELD("UDPRX", &out->udp_rx, 1u << 7, 0)
        CP_FIELD("UDPTX", &out->udp_tx, 1u << 8, 0)
#undef CP_FIELD
        if (dst != NULL) {
            if (parse_num(v, fend, ms, dst) != PN_OK)
                return PN_ERR;
            seen |= bit;
        }
        p = bar ? bar + 1 : end;
    }
    /* The counters must all be there; MODE, PING and POOL may be missing. */
    if ((seen & 0x1f8u) != 0x1f8u)
        return PN_ERR;
    if (mode != NULL)
        *mode = (int)m;
    return PN_OK;
}
