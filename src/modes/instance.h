/* modes/instance.h: what every running mode shares: the loop, the counters and
 * their CHECK_POINT report, and the signals that stop it.
 *
 * A mode fills in <stop> (called once on SIGINT/SIGTERM: it closes listeners and
 * connections synchronously) and runs the loop; the instance leaves the loop
 * right after <stop>. A mode that also fills in <drain> (close the listeners
 * only) and <busy> (open connections) gets a graceful shutdown: on the signal
 * <drain> runs, and <stop> once <busy> is 0 or the shutdown timeout
 * (POSTERN_SHUTDOWN_TIMEOUT / NP_SHUTDOWN_TIMEOUT, default 5s) has passed.
 *
 * SIGHUP never ends a mode: the target names are resolved again at once and the
 * mode's optional <reload> hook re-reads its files (accounts, routes...). */
#ifndef PN_MODES_INSTANCE_H
#define PN_MODES_INSTANCE_H

#include "core/bucket.h"
#include "core/ev.h"
#include "core/prom.h"
#include "core/stats.h"
#include "conf/config.h"
#include "relay/link.h"
#include "net/dns.h"
#include "net/stall.h"
#include "relay/udp.h"
#include "route/refresh.h"

typedef struct pn_instance pn_instance_t;
#define PN_INSTANCE_REASON_MAX 200  /* bytes of a STATE line's reason, NUL included */
typedef void (*pn_instance_stop_cb)(pn_instance_t *in, void *ctx);

struct pn_instance {
    ev_loop_t *loop;            /* owned */
    const pn_config_t *cfg;     /* borrowed */
    pn_stats_t stats;           /* the counters every mode updates */
    pn_bucket_t bucket;         /* rate=: the bandwidth all exchanges share */
    pn_bucket_t *limit;         /* &bucket with rate=, else NULL */
    pn_dns_t *dns;              /* owned: the resolver behind dns=, or NULL */
    route_refresh_t *dns_cache; /* owned: the targets' DNS cache, or NULL */
    pn_stall_t *stall;          /* owned: writes toward users that stopped reading
                                 * (POSTERN_SEND_TIMEOUT), shared by every listener */
    int report_mode;            /* MODE= in CHECK_POINT: 1 single-end, 2 tunnel */
    int stopping;               /* set once a stop signal arrived */
    int shadow;                 /* a proxy entrance's node (pn_client_embed, pn_server_embed):
                                 * only <loop>, <cfg> and counters are real; it reports nothing
                                 * of its own (no CHECK_POINT, no STATE) */
    pn_instance_stop_cb stop;   /* the mode's shutdown; NULL until set */
    void *stop_ctx;             /* borrowed */
    pn_instance_stop_cb refresh;/* optional: update <stats> gauges before a report */
    pn_instance_stop_cb drain;  /* optional: stop accepting, keep open connections */
    pn_instance_stop_cb reload; /* optional: SIGHUP, after target names are re-resolved:
                                 * re-read the mode's files; never drops connections */
    void *reload_ctx;           /* borrowed: <reload>'s context */
    size_t (*busy)(pn_instance_t *in, void *ctx); /* with <drain>: connections still open */
    void *drain_ctx;            /* borrowed: <drain>'s and <busy>'s context; NULL: <stop_ctx> */
    uint64_t drain_until;       /* ms: the drain's deadline; 0 when not draining */
    ev_timer_t *drain_timer;    /* owned, or NULL */
    ev_timer_t *watchdog;       /* owned: WATCHDOG=1 (systemd), or NULL */
    int exit_code;              /* what pn_instance_run() returns */
    ev_timer_t *report;         /* owned */
    ev_defer_t *sig[3];         /* owned: SIGINT, SIGTERM, SIGHUP */
    uint64_t start_ms;          /* pn_now_ms() at init: postern_uptime_seconds */
    pn_prom_hist_t take_hist;   /* tunnel modes: data-channel takes (tun_sess_t.take_hist) */
    int has_take_hist;          /* set by a mode that fills <take_hist> */
    struct pn_imetrics *metrics_srv; /* owned: the metrics= listener, or NULL */
    /* optional: the mode's own series on the metrics= page (the hub's) */
    void (*metrics)(pn_instance_t *in, void *ctx, pn_prom_t *b);
    void *metrics_ctx;          /* borrowed: <metrics>'s context */
    char state[16];             /* the last STATE line's state, "" before the first */
    char state_reason[PN_INSTANCE_REASON_MAX]; /* and its reason */
};

/** Prepare <in> for <cfg> (borrowed): loop, signals, report timer. */
void pn_instance_init(pn_instance_t *in, const pn_config_t *cfg, int report_mode);
/** Prepare the links <ls> of <in> named <name> from the configuration: idle
 *  time, dial timeout, bandwidth, slots, blocked protocols, PROXY header. */
void pn_instance_links(pn_instance_t *in, pn_links_t *ls, const char *name);
/** Make a UDP session group counted in <in>'s stats and bandwidth. */
udp_group_t *pn_instance_udp_group(pn_instance_t *in);

/** Keep the named targets of <set> (borrowed; outlives <in>'s loop) resolved,
 *  every dns= interval, without blocking. */
void pn_instance_dns(pn_instance_t *in, lb_set_t *set);

/** Run the loop until a stop signal; return PN_EXIT_OK. With metrics= the
 *  listener (modes/imetrics.h) starts first; when it cannot, PN_EXIT_RUNTIME
 *  at once (the mode's cleanup runs as after a stop). */
int pn_instance_run(pn_instance_t *in);
/** End the run with <code> after a fatal run-time error: the mode's <stop>
 *  runs and the loop ends. */
void pn_instance_fail(pn_instance_t *in, int code);
/** Free what <in> owns. */
void pn_instance_clear(pn_instance_t *in);
/** Write the current CHECK_POINT line to the log (at event level). */
void pn_instance_report(pn_instance_t *in);
/** Say how the mode is doing: print "STATE|<state>|<reason>" at event level (the
 *  master reads it, docs/master.md "States") when state or reason differ from the
 *  last ones. <state>: "connecting", "connected", "degraded" or "error". The
 *  reason is cut to PN_INSTANCE_REASON_MAX - 1 bytes; '|', '"', '\\' and control
 *  characters in it become spaces. Never pass a secret. */
void pn_instance_state(pn_instance_t *in, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
