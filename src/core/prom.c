/* core/prom.c: core/prom.h. */
#include "core/prom.h"
#include "core/mem.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const uint64_t pn_prom_le_us[PN_PROM_NBUCKETS] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000,
};

void
pn_prom_init(pn_prom_t *b)
{
    b->cap = 4096;
    b->len = 0;
    b->p = xmalloc(b->cap);
    b->p[0] = '\0';
}

void
pn_prom_printf(pn_prom_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (n > 0 ? (size_t)n : 0);
        b->p = xrealloc(b->p, b->cap);
    }
}

void
pn_prom_label(pn_prom_t *b, const char *s)
{
    for (; s != NULL && *s; s++) {
        if (*s == '\\')
            pn_prom_printf(b, "\\\\");
        else if (*s == '"')
            pn_prom_printf(b, "\\\"");
        else if (*s == '\n')
            pn_prom_printf(b, "\\n");
        else
            pn_prom_printf(b, "%c", *s);
    }
}

void
pn_prom_family(pn_prom_t *b, const char *name, const char *type, const char *help)
{
    pn_prom_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
pn_prom_sample(pn_prom_t *b, const char *name, const char *labels, uint64_t v)
{
    if (labels != NULL && *labels != '\0')
        pn_prom_printf(b, "%s{%s} %" PRIu64 "\n", name, labels, v);
    else
        pn_prom_printf(b, "%s %" PRIu64 "\n", name, v);
}

char *
pn_prom_take(pn_prom_t *b, size_t *len)
{
    char *p = b->p;
    *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void
pn_prom_hist_observe(pn_prom_hist_t *h, uint64_t us)
{
    for (size_t i = 0; i < PN_PROM_NBUCKETS; i++) {
        if (us <= pn_prom_le_us[i]) {
            h->bucket[i]++;
            break;
        }
    }
    h->count++;
    h->sum_us += us;
}

/* <us> microseconds as seconds, exactly ("0.0005", "2.5", "10"). */
static void
seconds(char *out, size_t len, uint64_t us)
{
    int n = snprintf(out, len, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
}

void
pn_prom_hist_write(pn_prom_t *b, const char *name, const char *labels, const pn_prom_hist_t *h)
{
    const char *sep = labels != NULL && *labels != '\0' ? "," : "";
    const char *lab = labels != NULL ? labels : "";
    char le[32];
    uint64_t cum = 0;
    for (size_t i = 0; i < PN_PROM_NBUCKETS; i++) {
        cum += h->bucket[i];
        seconds(le, sizeof(le), pn_prom_le_us[i]);
        pn_prom_printf(b, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, lab, sep, le, cum);
    }
    pn_prom_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, lab, sep, h->count);
    seconds(le, sizeof(le), h->sum_us);
    if (*lab != '\0') {
        pn_prom_printf(b, "%s_sum{%s} %s\n%s_count{%s} %" PRIu64 "\n", name, lab, le, name, lab,
                       h->count);
    } else {
        pn_prom_printf(b, "%s_sum %s\n%s_count %" PRIu64 "\n", name, le, name, h->count);
    }
}
