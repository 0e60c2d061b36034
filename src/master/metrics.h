/* master/metrics.h: the Prometheus text format (0.0.4) of the master's
 * instances (pure: the caller passes a snapshot), hub instances' state
 * (master/hubstate.h) included. */
#ifndef PN_MASTER_METRICS_H
#define PN_MASTER_METRICS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pn_metric_inst {
    const char *id;             /* borrowed */
    const char *alias;          /* borrowed; escaped in labels */
    const char *status;         /* "running", "stopped", "error" */
    const char *state;          /* its health: "connecting", ... (master/health.h) */
    uint64_t bytes[4];          /* tcp rx, tcp tx, udp rx, udp tx */
    uint64_t tcps, udps, pool, ping_ms, restarts;
    int is_hub;                 /* a hub://: the postern_hub_* series */
    const json_t *hub;          /* borrowed: its normalised state, NULL when none */
} pn_metric_inst_t;

/** Return the metrics page of the <n> instances <v> and the master's
 *  <uptime_s> as a new NUL-terminated string (the caller frees it); its length
 *  in *<len>. */
char *pn_metrics_format(const pn_metric_inst_t *v, size_t n, uint64_t uptime_s, size_t *len);

#endif
