/* core/prom.h: the Prometheus text exposition format 0.0.4, written into a
 * growing buffer (pure). The master's page (master/metrics.c) and the metrics
 * listener of every other mode (modes/inst_metrics.c) write through it.
 *
 *   pn_prom_family(b, "postern_x_bytes_total", "counter", "Help.")
 *   pn_prom_printf(b, "postern_x_bytes_total{dir=\"rx\"} %llu\n", ...)
 *   pn_prom_hist_write(b, "postern_x_seconds", NULL, &h)   one histogram
 *
 * Histograms keep fixed buckets in microseconds (0.5 ms to 10 s, the spread of
 * a connection's setup on a LAN up to a slow path across the world) and are
 * written in seconds, the base unit. */
#ifndef PN_CORE_PROM_H
#define PN_CORE_PROM_H

#include <stddef.h>
#include <stdint.h>

#define PN_PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PN_PROM_NBUCKETS 14

typedef struct pn_prom {
    char *p;                    /* owned, NUL-terminated */
    size_t len, cap;
} pn_prom_t;

typedef struct pn_prom_hist {
    uint64_t bucket[PN_PROM_NBUCKETS]; /* observations <= pn_prom_le_us[i] (not cumulative) */
    uint64_t count;             /* every observation (the +Inf bucket) */
    uint64_t sum_us;            /* their sum, microseconds */
} pn_prom_hist_t;

/** The upper bounds of the buckets, microseconds, ascending. */
extern const uint64_t pn_prom_le_us[PN_PROM_NBUCKETS];

/** An empty buffer. */
void pn_prom_init(pn_prom_t *b);
/** Append formatted text. */
void pn_prom_printf(pn_prom_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Append <s> as a label value: backslash, double quote and newline escaped. */
void pn_prom_label(pn_prom_t *b, const char *s);
/** Append the # HELP and # TYPE lines of family <name>. */
void pn_prom_family(pn_prom_t *b, const char *name, const char *type, const char *help);
/** Append "<name>[{<labels>}] <v>\n" (<labels> without braces, or NULL). */
void pn_prom_sample(pn_prom_t *b, const char *name, const char *labels, uint64_t v);
/** Hand over the text (the caller frees it) and its length; <b> is empty after. */
char *pn_prom_take(pn_prom_t *b, size_t *len);

/** Count one observation of <us> microseconds. */
void pn_prom_hist_observe(pn_prom_hist_t *h, uint64_t us);
/** Append the samples of histogram <name> (its _bucket, _sum and _count),
 *  each with <labels> (without braces, or NULL) before le=. The family lines
 *  are the caller's (pn_prom_family with "histogram"). */
void pn_prom_hist_write(pn_prom_t *b, const char *name, const char *labels,
                        const pn_prom_hist_t *h);

#endif
