/* modes/imetrics.h: metrics=[host]:port, the Prometheus page of one running
 * mode (server, client, single-end forwarders, hub, agent, proxy), served by
 * net/scrape.h at GET /metrics (every other path: 404).
 *
 * The page: postern_build_info{version,mode}, postern_uptime_seconds, the
 * counters of core/stats.h in base units (postern_bytes_total{proto,direction},
 * postern_connections_accepted_total, postern_connections{proto}, postern_tunnel_pool,
 * postern_tunnel_ping_seconds, postern_dial_failures_total,
 * postern_refused_total, postern_udp_dropped_total), the data-channel take
 * histogram postern_tunnel_take_seconds of tunnel modes, then what the mode's
 * <extra> writes (the hub's postern_hub_*). <refresh> runs first, as before a
 * CHECK_POINT line. docs/metrics.md lists every series. */
#ifndef PN_MODES_IMETRICS_H
#define PN_MODES_IMETRICS_H

#include "core/ev.h"
#include "core/prom.h"
#include "core/stats.h"

typedef struct pn_imetrics pn_imetrics_t;

typedef struct pn_imetrics_src {
    const char *mode;           /* static: "server", "client", "single", "hub", "agent", "proxy" */
    const pn_stats_t *stats;    /* borrowed: the counters */
    const pn_prom_hist_t *take; /* borrowed: data-channel takes, or NULL (no tunnel) */
    uint64_t start_ms;          /* pn_now_ms() at start */
    void (*refresh)(void *arg); /* optional: bring <stats> up to date */
    void (*extra)(void *arg, pn_prom_t *b); /* optional: the mode's own series */
    void *arg;
} pn_imetrics_src_t;

/** Listen on <spec> ("[host]:port", resolved now) on <loop> for <src>
 *  (copied; what it points to outlives the listener). NULL with <err> set
 *  when it cannot be resolved or bound. A non-loopback address is served (as
 *  haproxy's and cloudflared's are) with a warning that anyone reaching it
 *  reads the counters. */
pn_imetrics_t *pn_imetrics_new(ev_loop_t *loop, const char *spec, const pn_imetrics_src_t *src,
                               char *err);
/** The page as a new string (the caller frees it), its length in *<len>. */
char *pn_imetrics_page(const pn_imetrics_src_t *src, size_t *len);
/** Stop listening and close every scrape. NULL is a no-op. */
void pn_imetrics_free_(pn_imetrics_t *m);
#define pn_imetrics_free(p) do { pn_imetrics_free_(p); (p) = NULL; } while (0)

#endif
