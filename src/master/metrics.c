/* master/metrics.c: Prometheus text exposition format 0.0.4. */
#include "master/metrics.h"
#include "core/mem.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct sbuf {
    char *p;                    /* owned */
    size_t len, cap;
} sbuf_t;

static void __attribute__((format(printf, 2, 3)))
sb_printf(sbuf_t *b, const char *fmt, ...)
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

/* Label values escape backslash, double quote and newline. */
static void
sb_label(sbuf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            sb_printf(b, "\\\\");
        else if (*s == '"')
            sb_printf(b, "\\\"");
        else if (*s == '\n')
            sb_printf(b, "\\n");
        else
            sb_printf(b, "%c", *s);
    }
}

static void
sb_ids(sbuf_t *b, const pn_metric_inst_t *m)
{
    sb_printf(b, "id=\"%s\",alias=\"", m->id);
    sb_label(b, m->alias);
    sb_printf(b, "\"");
}

/* One sample: <name>{id,alias[,<labels>]} <value>. */
static void
sb_sample(sbuf_t *b, const char *name, const pn_metric_inst_t *m, const char *labels,
          uint64_t value)
{
    sb_printf(b, "%s{", name);
    sb_ids(b, m);
    sb_printf(b, "%s%s} %" PRIu64 "\n", labels ? "," : "", labels ? labels : "", value);
}

char *
pn_metrics_format(const pn_metric_inst_t *v, size_t n, uint64_t uptime_s, size_t *len)
{
    static const char *const states[] = { "running", "stopped", "error" };
    static const char *const proto[] = { "tcp", "tcp", "udp", "udp" };
    static const char *const dir[] = { "rx", "tx", "rx", "tx" };
    sbuf_t b = { .p = xmalloc(4096), .len = 0, .cap = 4096 };
    b.p[0] = '\0';

    sb_printf(&b, "# HELP postern_instances Instances by status.\n# TYPE postern_instances gauge\n");
    for (size_t s = 0; s < 3; s++) {
        uint64_t c = 0;
        for (size_t i = 0; i < n; i++)
            c += strcmp(v[i].status, states[s]) == 0;
        sb_printf(&b, "postern_instances{status=\"%s\"} %" PRIu64 "\n", states[s], c);
    }
    sb_printf(&b, "# HELP postern_instance_up 1 when the instance's process runs.\n"
                  "# TYPE postern_instance_up gauge\n");
    for (size_t i = 0; i < n; i++)
        sb_sample(&b, "postern_instance_up", &v[i], NULL, strcmp(v[i].status, "running") == 0);
    sb_printf(&b, "# HELP postern_instance_bytes_total Bytes relayed, from the users' side.\n"
                  "# TYPE postern_instance_bytes_total counter\n");
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 4; k++) {
            char labels[48];
            snprintf(labels, sizeof(labels), "proto=\"%s\",direction=\"%s\"", proto[k], dir[k]);
            sb_sample(&b, "postern_instance_bytes_total", &v[i], labels, v[i].bytes[k]);
        }
    }
    sb_printf(&b, "# HELP postern_instance_connections TCP connections and UDP sessions now.\n"
                  "# TYPE postern_instance_connections gauge\n");
    for (size_t i = 0; i < n; i++) {
        sb_sample(&b, "postern_instance_connections", &v[i], "proto=\"tcp\"", v[i].tcps);
        sb_sample(&b, "postern_instance_connections", &v[i], "proto=\"udp\"", v[i].udps);
    }
    sb_printf(&b, "# HELP postern_instance_pool Idle pooled tunnel connections.\n"
                  "# TYPE postern_instance_pool gauge\n");
    for (size_t i = 0; i < n; i++)
        sb_sample(&b, "postern_instance_pool", &v[i], NULL, v[i].pool);
    sb_printf(&b, "# HELP postern_instance_ping_ms Last control-channel round trip.\n"
                  "# TYPE postern_instance_ping_ms gauge\n");
    for (size_t i = 0; i < n; i++)
        sb_sample(&b, "postern_instance_ping_ms", &v[i], NULL, v[i].ping_ms);
    sb_printf(&b, "# HELP postern_instance_restarts_total Automatic restarts.\n"
                  "# TYPE postern_instance_restarts_total counter\n");
    for (size_t i = 0; i < n; i++)
        sb_sample(&b, "postern_instance_restarts_total", &v[i], NULL, v[i].restarts);
    sb_printf(&b, "# HELP postern_master_uptime_seconds Seconds since the master started.\n"
                  "# TYPE postern_master_uptime_seconds gauge\n"
                  "postern_master_uptime_seconds %" PRIu64 "\n", uptime_s);
    *len = b.len;
    return b.p;
}
