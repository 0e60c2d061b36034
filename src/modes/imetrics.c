/* modes/imetrics.c: modes/imetrics.h. */
#include "modes/imetrics.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/url.h"
#include "net/addr.h"
#include "net/scrape.h"
#include "tls/quic.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct pn_imetrics {
    pn_imetrics_src_t src;
    pn_scrape_t *scrape;        /* owned */
};

static void
counter(pn_prom_t *b, const char *name, const char *help, uint64_t v)
{
    pn_prom_family(b, name, "counter", help);
    pn_prom_sample(b, name, NULL, v);
}

char *
pn_imetrics_page(const pn_imetrics_src_t *src, size_t *len)
{
    const pn_stats_t *s = src->stats;
    pn_prom_t b;
    if (src->refresh != NULL)
        src->refresh(src->arg);
    pn_prom_init(&b);
    pn_prom_family(&b, "postern_build_info", "gauge", "The postern build and mode of this process.");
    pn_prom_printf(&b, "postern_build_info{version=\"");
    pn_prom_label(&b, POSTERN_VERSION);
    pn_prom_printf(&b, "\",mode=\"%s\"} 1\n", src->mode);
    uint64_t up = pn_now_ms() - src->start_ms;
    pn_prom_family(&b, "postern_uptime_seconds", "gauge", "Seconds since this process started.");
    pn_prom_printf(&b, "postern_uptime_seconds %" PRIu64 ".%03" PRIu64 "\n", up / 1000, up % 1000);
    pn_prom_family(&b, "postern_bytes_total", "counter",
                   "Bytes relayed, from the users' side: rx read from them, tx written to them.");
    pn_prom_sample(&b, "postern_bytes_total", "proto=\"tcp\",direction=\"rx\"", s->tcp_rx);
    pn_prom_sample(&b, "postern_bytes_total", "proto=\"tcp\",direction=\"tx\"", s->tcp_tx);
    pn_prom_sample(&b, "postern_bytes_total", "proto=\"udp\",direction=\"rx\"", s->udp_rx);
    pn_prom_sample(&b, "postern_bytes_total", "proto=\"udp\",direction=\"tx\"", s->udp_tx);
    counter(&b, "postern_connections_accepted_total", "TCP connections accepted since start.",
            s->tcp_total);
    pn_prom_family(&b, "postern_connections", "gauge", "TCP connections and UDP sessions now.");
    pn_prom_sample(&b, "postern_connections", "proto=\"tcp\"", s->tcps);
    pn_prom_sample(&b, "postern_connections", "proto=\"udp\"", s->udps);
    pn_prom_family(&b, "postern_tunnel_pool", "gauge", "Idle pooled tunnel data connections.");
    pn_prom_sample(&b, "postern_tunnel_pool", NULL, s->pool);
    pn_prom_family(&b, "postern_tunnel_ping_seconds", "gauge",
                   "Last control-channel round trip (0 without a tunnel).");
    pn_prom_printf(&b, "postern_tunnel_ping_seconds %" PRIu64 ".%03" PRIu64 "\n",
                   s->ping_ms / 1000, s->ping_ms % 1000);
    counter(&b, "postern_dial_failures_total", "Failed dials to targets.", s->dial_fail);
    counter(&b, "postern_refused_total",
            "Connections closed for a limit (slot, block) or a bad handshake.", s->refused);
    counter(&b, "postern_udp_dropped_total",
            "Datagrams dropped (no room, no session, malformed).", s->udp_drops);
    pn_quic_dgram_stats_t qd;
    pn_quic_dgram_stats(&qd);
    pn_prom_family(&b, "postern_quic_datagrams_total", "counter",
                   "QUIC DATAGRAM frames carrying UDP (type=1) in this process: sent, received, "
                   "dropped (malformed, unknown stream, queue full, blocked too long).");
    pn_prom_sample(&b, "postern_quic_datagrams_total", "event=\"sent\"", qd.sent);
    pn_prom_sample(&b, "postern_quic_datagrams_total", "event=\"received\"", qd.received);
    pn_prom_sample(&b, "postern_quic_datagrams_total", "event=\"dropped\"", qd.dropped);
    if (src->take != NULL) {
        pn_prom_family(&b, "postern_tunnel_take_seconds", "histogram",
                       "Time a user's connection waited for a tunnel data channel.");
        pn_prom_hist_write(&b, "postern_tunnel_take_seconds", NULL, src->take);
    }
    if (src->extra != NULL)
        src->extra(src->arg, &b);
    return pn_prom_take(&b, len);
}

static char *
on_page(const char *path, size_t *len, const char **type, void *ctx)
{
    pn_imetrics_t *m = ctx;
    if (strcmp(path, "/metrics") != 0)
        return NULL;
    *type = PN_PROM_TYPE;
    return pn_imetrics_page(&m->src, len);
}

pn_imetrics_t *
pn_imetrics_new(ev_loop_t *loop, const char *spec, const pn_imetrics_src_t *src, char *err)
{
    char *host, *port, sub[PN_ERR_LEN], s[PN_ADDRSTRLEN];
    pn_addr_t a;
    if (pn_hostport_split(spec, &host, &port, sub) != PN_OK) {
        pn_err_set(err, "metrics: %s", sub);
        return NULL;
    }
    int rc = pn_addr_resolve(host, port, 1, &a, sub);
    xfree(host);
    xfree(port);
    if (rc != PN_OK) {
        pn_err_set(err, "metrics: %s", sub);
        return NULL;
    }
    pn_imetrics_t *m = xcalloc(sizeof(*m));
    m->src = *src;
    m->scrape = pn_scrape_new(loop, &a, "metrics", on_page, m, sub);
    if (m->scrape == NULL) {
        pn_err_set(err, "metrics: %s", sub);
        free(m);
        return NULL;
    }
    const pn_addr_t *bound = pn_scrape_addr(m->scrape);
    if (pn_addr_is_loopback(bound))
        log_info("metrics: http://%s/metrics", pn_addr_str(bound, s));
    else
        log_warn("metrics: http://%s/metrics is reachable beyond this host: anyone who can "
                 "connect reads the counters (no secrets); bind 127.0.0.1 or filter the port",
                 pn_addr_str(bound, s));
    return m;
}

void
pn_imetrics_free_(pn_imetrics_t *m)
{
    if (m == NULL)
        return;
    pn_scrape_free(m->scrape);
    free(m);
}
