/* master/metrics.c: Prometheus text exposition format 0.0.4. */
#include "master/metrics.h"
#include "core/mem.h"
#include "core/prom.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void
sb_ids(pn_prom_t *b, const pn_metric_inst_t *m)
{
    pn_prom_printf(b, "id=\"%s\",alias=\"", m->id);
    pn_prom_label(b, m->alias);
    pn_prom_printf(b, "\"");
}

/* One sample: <name>{id,alias[,<labels>]} <value>. */
static void
sb_sample(pn_prom_t *b, const char *name, const pn_metric_inst_t *m, const char *labels,
          uint64_t value)
{
    pn_prom_printf(b, "%s{", name);
    sb_ids(b, m);
    pn_prom_printf(b, "%s%s} %" PRIu64 "\n", labels ? "," : "", labels ? labels : "", value);
}

/* The count <name> of <o> (a normalised hub state element), 0 when missing. */
static uint64_t
count_of(const json_t *o, const char *name)
{
    json_int_t v = json_integer_value(json_object_get(o, name));
    return v > 0 ? (uint64_t)v : 0;
}

/* <name>{id,alias,account="<account>"[,reason="<reason>"]} <value> */
static void
sb_account(pn_prom_t *b, const char *name, const pn_metric_inst_t *m, const char *account,
           const char *reason, uint64_t value)
{
    pn_prom_printf(b, "%s{", name);
    sb_ids(b, m);
    pn_prom_printf(b, ",account=\"");
    pn_prom_label(b, account);
    if (reason != NULL) {
        pn_prom_printf(b, "\",reason=\"");
        pn_prom_label(b, reason);
    }
    pn_prom_printf(b, "\"} %" PRIu64 "\n", value);
}

/* The postern_hub_* families: every hub gets its clients and its routes by
 * type (tcp, udp, http, https always, other types as they appear), 0 without
 * a state; the per-account series come from the state's accounts. */
static void
hub_metrics(pn_prom_t *b, const pn_metric_inst_t *v, size_t n)
{
    static const char *const types[] = { "tcp", "udp", "http", "https" };
    static const struct { const char *name, *member, *help, *type; } acc[] = {
        { "postern_hub_account_rx_bytes_total", "rx", "Bytes from users, per account.",
          "counter" },
        { "postern_hub_account_tx_bytes_total", "tx", "Bytes to users, per account.",
          "counter" },
        { "postern_hub_account_connections", "conns", "User connections now, per account.",
          "gauge" },
        { "postern_hub_account_requests_total", "requests", "HTTP requests, per account.",
          "counter" },
    };
    size_t i, j;
    json_t *el;

    pn_prom_printf(b, "# HELP postern_hub_clients Agents connected to the hub.\n"
                 "# TYPE postern_hub_clients gauge\n");
    for (i = 0; i < n; i++)
        if (v[i].is_hub)
            sb_sample(b, "postern_hub_clients", &v[i], NULL,
                      json_array_size(json_object_get(v[i].hub, "clients")));
    pn_prom_printf(b, "# HELP postern_hub_routes Routes registered on the hub, by type.\n"
                 "# TYPE postern_hub_routes gauge\n");
    for (i = 0; i < n; i++) {
        if (!v[i].is_hub)
            continue;
        json_t *count = json_object();     /* type -> routes, in order of appearance */
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
            json_object_set_new(count, types[t], json_integer(0));
        json_array_foreach(json_object_get(v[i].hub, "routes"), j, el) {
            const char *t = json_string_value(json_object_get(el, "type"));
            if (t == NULL)
                continue;
            json_t *c = json_object_get(count, t);
            json_object_set_new(count, t, json_integer(c ? json_integer_value(c) + 1 : 1));
        }
        const char *t;
        json_t *c;
        json_object_foreach(count, t, c) {
            pn_prom_t lab;
            pn_prom_init(&lab);
            pn_prom_printf(&lab, "type=\"");
            pn_prom_label(&lab, t);
            pn_prom_printf(&lab, "\"");
            sb_sample(b, "postern_hub_routes", &v[i], lab.p, (uint64_t)json_integer_value(c));
            free(lab.p);
        }
        json_decref(count);
    }
    for (size_t k = 0; k < sizeof(acc) / sizeof(acc[0]); k++) {
        pn_prom_printf(b, "# HELP %s %s\n# TYPE %s %s\n", acc[k].name, acc[k].help, acc[k].name,
                  acc[k].type);
        for (i = 0; i < n; i++) {
            if (!v[i].is_hub)
                continue;
            json_array_foreach(json_object_get(v[i].hub, "accounts"), j, el)
                sb_account(b, acc[k].name, &v[i], json_string_value(json_object_get(el, "name")),
                           NULL, count_of(el, acc[k].member));
        }
    }
    pn_prom_printf(b, "# HELP postern_hub_account_refused_total Users refused, per account and "
                 "reason.\n# TYPE postern_hub_account_refused_total counter\n");
    for (i = 0; i < n; i++) {
        if (!v[i].is_hub)
            continue;
        json_array_foreach(json_object_get(v[i].hub, "accounts"), j, el) {
            const char *name = json_string_value(json_object_get(el, "name"));
            const char *reason;
            json_t *c;
            json_object_foreach(json_object_get(el, "refused"), reason, c) {
                json_int_t cv = json_integer_value(c);
                sb_account(b, "postern_hub_account_refused_total", &v[i], name, reason,
                           cv > 0 ? (uint64_t)cv : 0);
            }
        }
    }
}

char *
pn_metrics_format(const pn_metric_inst_t *v, size_t n, uint64_t uptime_s, size_t *len)
{
    static const char *const states[] = { "running", "stopped", "error" };
    static const char *const proto[] = { "tcp", "tcp", "udp", "udp" };
    static const char *const dir[] = { "rx", "tx", "rx", "tx" };
    pn_prom_t b;
    pn_prom_init(&b);

    pn_prom_printf(&b, "# HELP postern_instances Instances by status.\n# TYPE postern_instances gauge\n");
    for (size_t s = 0; s < 3; s++) {
        uint64_t c = 0;
        for (size_t i = 0; i < n; i++)
            c += strcmp(v[i].status, states[s]) == 0;
        pn_prom_printf(&b, "postern_instances{status=\"%s\"} %" PRIu64 "\n", states[s], c);
    }
    pn_prom_printf(&b, "# HELP postern_instance_up 1 when the instance's process runs.\n"
                  "# TYPE postern_instance_up gauge\n");
    for (size_t i = 0; i < n; i++)
        sb_sample(&b, "postern_instance_up", &v[i], NULL, strcmp(v[i].status, "running") == 0);
    pn_prom_printf(&b, "# HELP postern_instance_bytes_total Bytes relayed, from the users' side.\n"
                  "# TYPE postern_instance_bytes_total counter\n");
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 4; k++) {
            char labels[48];
            snprintf(labels, sizeof(labels), "proto=\"%s\",direction=\"%s\"", proto[k], dir[k]);
            sb_sample(&b, "postern_instance_bytes_total", &v[i], labels, v[i].bytes[k]);
        }
    }
    pn_prom_printf(&b, "# HELP postern_instance_connections TCP connections and UDP sessions now.\n"
                  "# TYPE postern_instance_connections gauge\n");
    for (size_t i = 0; i < n; i++) {
        sb_sample(&b, "postern_instance_connections", &v[i], "proto=\"tcp\"", v[i].tcps);
        sb_sample(&b, "postern_instance_connections", &v[i], "proto=\"udp\"", v[i].udps);
    }
    pn_prom_printf(&b, "# HELP postern_instance_pool Idle pooled tunnel connections.\n"
                  "# TYPE postern_instance_pool gauge\n");
    for (size_t i = 0; i < n; i++)
        sb_sample(&b, "postern_instance_pool", &v[i], NULL, v[i].pool);
    /* Base units: the CHECK_POINT's PING=<ms> is written in seconds. */
    pn_prom_family(&b, "postern_instance_ping_seconds", "gauge",
                   "Last control-channel round trip.");
    for (size_t i = 0; i < n; i++) {
        pn_prom_printf(&b, "postern_instance_ping_seconds{");
        sb_ids(&b, &v[i]);
        pn_prom_printf(&b, "} %" PRIu64 ".%03" PRIu64 "\n", v[i].ping_ms / 1000,
                       v[i].ping_ms % 1000);
    }
    pn_prom_printf(&b, "# HELP postern_instance_restarts_total Automatic restarts.\n"
                  "# TYPE postern_instance_restarts_total counter\n");
    for (size_t i = 0; i < n; i++)
        sb_sample(&b, "postern_instance_restarts_total", &v[i], NULL, v[i].restarts);
    hub_metrics(&b, v, n);
    pn_prom_printf(&b, "# HELP postern_master_uptime_seconds Seconds since the master started.\n"
                  "# TYPE postern_master_uptime_seconds gauge\n"
                  "postern_master_uptime_seconds %" PRIu64 "\n", uptime_s);
    pn_prom_family(&b, "postern_build_info", "gauge", "The postern build serving this page.");
    pn_prom_printf(&b, "postern_build_info{version=\"");
    pn_prom_label(&b, POSTERN_VERSION);
    pn_prom_printf(&b, "\"} 1\n");
    return pn_prom_take(&b, len);
}
