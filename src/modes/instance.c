/* modes/instance.c: the shared run-time of every mode. */
#include "modes/instance.h"
#include "modes/imetrics.h"
#include "core/log.h"
#include "tls/tls.h"
#include "net/sock.h"
#include "relay/relay.h"

#include "core/duration.h"
#include "core/notify.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

void
pn_instance_report(pn_instance_t *in)
{
    char line[256];
    if (in->refresh != NULL)
        in->refresh(in, in->stop_ctx);
    if (pn_stats_checkpoint_format(line, sizeof(line), in->report_mode, &in->stats) > 0)
        log_event("%s", line);
}

void
pn_instance_state(pn_instance_t *in, const char *state, const char *fmt, ...)
{
    char reason[PN_INSTANCE_REASON_MAX];
    va_list ap;
    if (in->shadow)         /* a proxy entrance's node: the entrance speaks for it */
        return;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    for (char *p = reason; *p; p++)
        if (*p == '|' || *p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    if (strcmp(in->state, state) == 0 && strcmp(in->state_reason, reason) == 0)
        return;
    snprintf(in->state, sizeof(in->state), "%s", state);
    memcpy(in->state_reason, reason, sizeof(reason));
    log_event("STATE|%s|%s", in->state, reason);
}

static long
on_report(ev_timer_t *t, void *arg)
{
    pn_instance_t *in = arg;
    pn_instance_report(in);
    return (long)in->cfg->report_ms;
}

#define DRAIN_POLL_MS 50

/* POSTERN_SHUTDOWN_TIMEOUT, or NodePass's NP_SHUTDOWN_TIMEOUT (default 5s; 0:
 * close at once). A malformed value is reported and the default kept. */
static uint64_t
drain_timeout_ms(void)
{
    const char *bad;
    uint64_t ms = pn_shutdown_timeout_ms(&bad);
    if (bad != NULL)
        log_warn("shutdown: %s=\"%s\" is not a duration; using 5s", bad, getenv(bad));
    return ms;
}

/* Close what is left (the mode's <stop> does it synchronously) and leave the loop. */
static void
finish_stop(pn_instance_t *in)
{
    if (in->stop != NULL)
        in->stop(in, in->stop_ctx);
    ev_loop_stop(in->loop);
}

/* The context of <drain> and <busy>: their own, else the mode's. */
static void *
drain_ctx(const pn_instance_t *in)
{
    return in->drain_ctx != NULL ? in->drain_ctx : in->stop_ctx;
}

/* While draining: done once the mode has no open connection, or at the deadline. */
static long
on_drain_tick(ev_timer_t *t, void *arg)
{
    pn_instance_t *in = arg;
    size_t open = in->busy(in, drain_ctx(in));
    if (open == 0) {
        log_info("shutdown: every connection finished");
    } else if (pn_now_ms() < in->drain_until) {
        return DRAIN_POLL_MS;
    } else {
        log_info("shutdown: timeout reached, closing %zu open connection(s)", open);
    }
    in->drain_until = 0;
    finish_stop(in);
    return EV_TIMER_STOP;
}

/* SIGINT/SIGTERM. A mode with a <drain> hook stops accepting and lets open
 * connections finish for up to the shutdown timeout; then (or at once for a
 * mode without it, or a second signal) everything closes and the loop ends. */
static void
on_signal(void *arg)
{
    pn_instance_t *in = arg;
    if (in->stopping) {
        if (in->drain_until != 0) {
            log_info("shutdown: second signal, closing now");
            ev_timer_disarm(in->drain_timer);
            in->drain_until = 0;
            finish_stop(in);
        }
        return;
    }
    in->stopping = 1;
    pn_notify("STOPPING=1");
    ev_timer_disarm(in->report);
    uint64_t wait = drain_timeout_ms();
    size_t open = in->drain != NULL && in->busy != NULL ? in->busy(in, drain_ctx(in)) : 0;
    if (wait > 0 && open > 0) {
        /* The listeners close before the line that says so is written. */
        in->drain(in, drain_ctx(in));
        log_info("shutdown: signal received, no new connections; letting %zu finish "
                 "(up to %llu ms)", open, (unsigned long long)wait);
        in->drain_until = pn_now_ms() + wait;
        in->drain_timer = ev_timer_new(in->loop, on_drain_tick, in);
        ev_timer_arm(in->drain_timer, DRAIN_POLL_MS);
        return;
    }
    log_info("shutdown: signal received, closing");
    finish_stop(in);
}

/* SIGHUP: reload without dropping anything. Certificate files (tls=2) are
 * re-read by the TLS context itself when they change on disk. */
static void
on_hup(void *arg)
{
    pn_instance_t *in = arg;
    if (in->stopping)
        return;
    log_info("reload: SIGHUP%s", in->dns_cache ? ": resolving target names again" : "");
    pn_notify("RELOADING=1");
    route_refresh_now(in->dns_cache);
    if (in->reload != NULL)
        in->reload(in, in->reload_ctx);
    pn_notify("READY=1");
}

/* WATCHDOG=1 at half the interval the service manager asked for: the loop runs. */
static long
on_watchdog(ev_timer_t *t, void *arg)
{
    pn_notify("WATCHDOG=1");
    uint64_t wd = pn_notify_watchdog_ms();
    return (long)(wd / 2 ? wd / 2 : 1);
}

void
pn_instance_init(pn_instance_t *in, const pn_config_t *cfg, int report_mode)
{
    memset(in, 0, sizeof(*in));
    in->loop = ev_loop_new();
    in->cfg = cfg;
    in->report_mode = report_mode;
    in->start_ms = pn_now_ms();
    pn_tls_ktls_quiet(cfg->tls == 0);
    relay_set_buf_size((size_t)cfg->tcp_buf);
    in->report = ev_timer_new(in->loop, on_report, in);
    in->stall = pn_stall_new(in->loop, cfg->send_timeout_ms);
    in->sig[0] = ev_signal_new(in->loop, SIGINT, on_signal, in);
    in->sig[1] = ev_signal_new(in->loop, SIGTERM, on_signal, in);
    in->sig[2] = ev_signal_new(in->loop, SIGHUP, on_hup, in);
    if (cfg->rate_mbps != 0) {
        /* Mbit/s to bytes/s; a burst of 100 ms (at least one relay buffer). */
        uint64_t rate = (uint64_t)cfg->rate_mbps * 125000;
        pn_bucket_init(&in->bucket, rate, rate / 10 < 65536 ? 65536 : rate / 10, pn_now_us());
        in->limit = &in->bucket;
    }
}

void
pn_instance_links(pn_instance_t *in, pn_links_t *ls, const char *name)
{
    pn_links_init(ls, in->loop, &in->stats, name);
    ls->idle_ms = in->cfg->read_ms;
    ls->dial_timeout_ms = in->cfg->dial_timeout_ms;
    ls->limit = in->limit;
    ls->slot = in->cfg->slot;
    ls->block = in->cfg->block;
    ls->proxy = in->cfg->proxy;
}

udp_group_t *
pn_instance_udp_group(pn_instance_t *in)
{
    udp_counters_t c = {
        .rx = &in->stats.udp_rx, .tx = &in->stats.udp_tx, .sessions = &in->stats.udps,
        .drops = &in->stats.udp_drops, .limit = in->limit,
    };
    return udp_group_new(in->loop, in->cfg->udp_idle_ms, &c);
}

static void
metrics_refresh(void *arg)
{
    pn_instance_t *in = arg;
    if (in->refresh != NULL)
        in->refresh(in, in->stop_ctx);
}

static void
metrics_extra(void *arg, pn_prom_t *b)
{
    pn_instance_t *in = arg;
    if (in->metrics != NULL)
        in->metrics(in, in->metrics_ctx, b);
}

/* metrics=: the listener of modes/imetrics.h over this instance's counters. */
static int
metrics_start(pn_instance_t *in)
{
    static const char *const roles[] = { "client", "server", "hub", "agent", "proxy" };
    char err[PN_ERR_LEN];
    const pn_config_t *cfg = in->cfg;
    pn_imetrics_src_t src = {
        .mode = cfg->role == PN_ROLE_CLIENT && in->report_mode == 1 ? "single"
                : (size_t)cfg->role < sizeof(roles) / sizeof(roles[0]) ? roles[cfg->role] : "?",
        .stats = &in->stats, .take = in->has_take_hist ? &in->take_hist : NULL,
        .start_ms = in->start_ms, .refresh = metrics_refresh, .extra = metrics_extra, .arg = in,
    };
    in->metrics_srv = pn_imetrics_new(in->loop, cfg->metrics_listen, &src, err);
    if (in->metrics_srv == NULL) {
        log_error("%s", err);
        return PN_ERR;
    }
    return PN_OK;
}

int
pn_instance_run(pn_instance_t *in)
{
    if (in->cfg->metrics_listen != NULL && metrics_start(in) != PN_OK)
        return PN_EXIT_RUNTIME;
    ev_timer_arm(in->report, in->cfg->report_ms);
    uint64_t wd = pn_notify_watchdog_ms();
    if (wd > 0) {
        in->watchdog = ev_timer_new(in->loop, on_watchdog, in);
        ev_timer_arm(in->watchdog, wd / 2 ? wd / 2 : 1);
    }
    pn_notify("READY=1");
    ev_loop_run(in->loop);
    log_info("totals: %llu TCP connections, %llu refused (slot, block, bad handshakes), "
             "%llu failed dials, %llu datagrams dropped",
             (unsigned long long)in->stats.tcp_total, (unsigned long long)in->stats.refused,
             (unsigned long long)in->stats.dial_fail, (unsigned long long)in->stats.udp_drops);
    return in->exit_code;
}

void
pn_instance_fail(pn_instance_t *in, int code)
{
    in->exit_code = code;
    if (!in->stopping) {
        in->stopping = 1;
        ev_timer_disarm(in->report);
        if (in->stop != NULL)
            in->stop(in, in->stop_ctx);
    }
    ev_loop_stop(in->loop);
}

void
pn_instance_dns(pn_instance_t *in, lb_set_t *set)
{
    char err[PN_ERR_LEN];
    if (set->n == 0)
        return;
    in->dns = pn_dns_new(in->loop, in->cfg->dns_server, err);
    if (in->dns == NULL) {
        log_warn("dns: %s; names stay as resolved at start", err);
        return;
    }
    in->dns_cache = route_refresh_new(in->loop, in->dns, set, in->cfg->dns_ms);
}

void
pn_instance_clear(pn_instance_t *in)
{
    pn_imetrics_free(in->metrics_srv);
    route_refresh_free(in->dns_cache);
    pn_dns_free(in->dns);
    pn_stall_free(in->stall);
    ev_timer_free(in->report);
    ev_timer_free(in->drain_timer);
    ev_timer_free(in->watchdog);
    ev_defer_free(in->sig[0]);
    ev_defer_free(in->sig[1]);
    ev_defer_free(in->sig[2]);
    ev_loop_free(in->loop);
}
