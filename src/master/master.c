/* master/master.c: the master process: configuration, database, key, HTTP
 * server, supervisor, periodic counter saves, and the orderly stop.
 *
 *   start: parse URL+env -> open db -> key (printed once) -> listen -> load
 *          and start instances -> loop
 *   every report interval: save counters (one transaction)
 *   SIGHUP: save counters, pass SIGHUP on to every running instance (each
 *          reloads as its mode does), one log line; nothing stops
 *   SIGINT/SIGTERM: 503 to new requests, `shutdown` event, stop children,
 *          once all are reaped: save counters, close, exit 0
 */
#include "master/master.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/mem.h"
#include "master/api.h"
#include "master/events.h"
#include "master/fleet.h"
#include "master/history.h"
#include "master/http.h"
#include "master/info.h"
#include "master/mconfig.h"
#include "master/mcp_tools.h"
#include "master/store.h"
#include "master/super.h"
#include "conf/config.h"
#include "net/addr.h"
#include "net/dns.h"
#include "net/sock.h"
#include "tls/tls.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STOP_LINGER_MS 200       /* loop time left to flush replies once the children are gone */

typedef struct master {
    pn_mconfig_t cfg;
    ev_loop_t *loop;            /* owned, like everything below */
    pn_store_t *store;
    pn_tls_ctx_t *tls;
    pn_mhttp_t *http;
    pn_events_t *events;
    pn_info_t *info;
    pn_dns_t *dns;
    pn_super_t *super;
    pn_api_t api;
    pn_history_t *history;
    pn_fleet_t *fleet;          /* the node and manager sides */
    ev_timer_t *save;
    ev_defer_t *sig[3];
    int stopping;
} master_t;

static const char *
env_get(const char *name)
{
    return getenv(name);
}

static void
on_change(pn_inst_t *in, enum pn_change what, const char *line, void *ctx)
{
    master_t *m = ctx;
    static const char *const types[] = {
        [PN_CHANGE_CREATE] = "create", [PN_CHANGE_UPDATE] = "update",
        [PN_CHANGE_DELETE] = "delete", [PN_CHANGE_LOG] = "log",
    };
    if (m->events == NULL)
        return;
    if (what == PN_CHANGE_HUB)
        pn_events_publish_hub(m->events, in);
    else if (what == PN_CHANGE_STATE)
        pn_events_publish_state(m->events, in);
    else
        pn_events_publish(m->events, types[what], in, line);
}

static long
on_save(ev_timer_t *t, void *arg)
{
    master_t *m = arg;
    if (m->stopping) {
        /* The linger after the children are gone is over. */
        ev_loop_stop(m->loop);
        return EV_TIMER_STOP;
    }
    pn_super_save(m->super);
    return (long)m->cfg.report_ms;
}

static void
on_children_gone(void *arg)
{
    master_t *m = arg;
    pn_super_save(m->super);
    pn_history_sample(m->history);
    log_info("master: instances stopped, counters saved; bye");
    /* Let the loop write what is queued (the event streams' `shutdown` event and
     * their last chunk, the 503s) before it ends: a short, bounded linger. */
    ev_timer_arm(m->save, STOP_LINGER_MS);
}

static void
on_signal(void *arg)
{
    master_t *m = arg;
    if (m->stopping)
        return;
    m->stopping = 1;
    log_info("shutdown: signal received, stopping the instances");
    pn_notify("STOPPING=1");
    ev_timer_disarm(m->save);
    pn_api_stop(&m->api);
    pn_events_shutdown(m->events);
    pn_super_shutdown(m->super, on_children_gone, m);
}

/* SIGHUP: reload what can be reloaded without stopping anything. The
 * master's own URL and database stay (they are read once, at start); its
 * certificate files (tls=2) are re-read by the TLS context when they change.
 * The instances get the SIGHUP and reload as their modes do. */
static void
on_hup(void *arg)
{
    master_t *m = arg;
    if (m->stopping)
        return;
    pn_notify("RELOADING=1");
    pn_super_save(m->super);
    size_t n = pn_super_reload(m->super);
    log_info("reload: SIGHUP: counters saved, %zu running instance%s told to reload",
             n, n == 1 ? "" : "s");
    pn_notify("READY=1");
}

/* Make the folders above <path> (mode 0700) when missing. */
static int
make_parents(const char *path, char *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return pn_err_set(err, "db: path too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            pn_err_set(err, "db: cannot make %s: %s", buf, strerror(errno));
            return PN_ERR;
        }
        *p = '/';
    }
    return PN_OK;
}

/* The binary the instances run: our own (the resolved path, which valgrind and
 * friends report correctly; /proc/self/exe when it was replaced on disk), or
 * POSTERN_INSTANCE_EXE (tests, wrappers). */
static char *
instance_exe(void)
{
    const char *env = getenv("POSTERN_INSTANCE_EXE");
    char buf[PATH_MAX];
    if (env != NULL && *env != '\0')
        return xstrdup(env);
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return xstrdup("/proc/self/exe");
    buf[n] = '\0';
    if (strstr(buf, " (deleted)") != NULL || access(buf, X_OK) != 0)
        return xstrdup("/proc/self/exe");
    return xstrdup(buf);
}

static int
open_listener(master_t *m, char *err)
{
    pn_addr_t a;
    int in_use = 0;
    if (pn_addr_resolve(m->cfg.host, m->cfg.port, 1, &a, err) != PN_OK)
        return -2;
    /* A deep backlog: under a connection flood a good client's SYN is not dropped. */
    int fd = pn_listen_tcp(&a, 4096, &in_use, err);
    return fd;
}

static void
master_free(master_t *m)
{
    pn_api_clear(&m->api);
    pn_fleet_free(m->fleet);
    pn_history_free(m->history);
    pn_events_free(m->events);
    pn_mhttp_free(m->http);
    pn_super_free(m->super);
    pn_info_free(m->info);
    pn_dns_free(m->dns);
    ev_timer_free(m->save);
    ev_defer_free(m->sig[0]);
    ev_defer_free(m->sig[1]);
    ev_defer_free(m->sig[2]);
    pn_store_free(m->store);
    pn_tls_ctx_free(m->tls);
    if (m->loop != NULL)
        ev_loop_free(m->loop);
    pn_mconfig_clear(&m->cfg);
}

int
pn_master_run(const char *url)
{
    char err[PN_ERR_LEN];
    master_t m;
    int rc = PN_EXIT_USAGE;
    char *db = NULL, *key = NULL, *exe = NULL;

    memset(&m, 0, sizeof(m));
    pn_list_init(&m.api.pings);
    if (pn_mconfig_parse(url, &m.cfg, err) != PN_OK ||
        pn_mconfig_apply_env(&m.cfg, env_get, err) != PN_OK) {
        fprintf(stderr, "postern: %s\n", err);
        pn_mconfig_clear(&m.cfg);
        return PN_EXIT_USAGE;
    }
    log_set_level(m.cfg.log);
    pn_sock_nofile_raise();
    /* The instances write text lines: the master reads them (CHECK_POINT). */
    unsetenv("POSTERN_LOG_FORMAT");
    /* A write to a closed API connection must not kill the master. */
    signal(SIGPIPE, SIG_IGN);
    /* A reload asked for before the loop watches SIGHUP must not end it. */
    signal(SIGHUP, SIG_IGN);

    db = m.cfg.db ? xstrdup(m.cfg.db) : pn_mconfig_default_db(env_get);
    if (db == NULL) {
        pn_err_set(err, "db: no db= and neither XDG_STATE_HOME nor HOME is set");
        goto fail;
    }
    /* The folder of db= is made as the default one is (0700), when missing. */
    if (make_parents(db, err) != PN_OK)
        goto fail;
    if ((m.store = pn_store_open(db, err)) == NULL)
        goto fail;
    if (m.cfg.tls == 1)
        m.tls = pn_tls_server_selfsigned(err);
    else if (m.cfg.tls == 2)
        m.tls = pn_tls_server_files(m.cfg.crt, m.cfg.key, err);
    if (m.cfg.tls != 0 && m.tls == NULL)
        goto fail;

    m.loop = ev_loop_new();
    int lfd = open_listener(&m, err);
    if (lfd < 0) {
        rc = lfd == -2 ? PN_EXIT_USAGE : PN_EXIT_RUNTIME;
        goto fail;
    }
    m.events = pn_events_new(m.loop, m.cfg.keepalive_ms);
    m.info = pn_info_new(m.loop);
    m.dns = pn_dns_new(m.loop, getenv("POSTERN_DNS_SERVER"), err);
    if (m.dns == NULL)
        log_warn("master: %s; tcping takes IP addresses only", err);
    exe = instance_exe();
    m.super = pn_super_new(m.loop, m.store, exe, on_change, &m);
    pn_super_set_cooldown(m.super, m.cfg.cooldown_ms);
    m.api = (pn_api_t){
        .loop = m.loop, .cfg = &m.cfg, .store = m.store, .super = m.super, .events = m.events,
        .info = m.info, .dns = m.dns, .start_ms = pn_now_ms(), .mcp = pn_mcp_serve,
    };
    if (pn_api_init(&m.api, &key) != PN_OK) {
        close(lfd);
        pn_err_set(err, "db: %s: cannot read or write the API key", db);
        goto fail;
    }
    /* Watch the stop signals before the key is shown: whoever reads the key
     * may stop the master at once, and that must be a clean stop. */
    m.sig[0] = ev_signal_new(m.loop, SIGINT, on_signal, &m);
    m.sig[1] = ev_signal_new(m.loop, SIGTERM, on_signal, &m);
    m.sig[2] = ev_signal_new(m.loop, SIGHUP, on_hup, &m);
    if (key != NULL) {
        /* The only time the key is shown: stdout, one line, never the log. */
        printf("API key: %s\n", key);
        fflush(stdout);
        memset(key, 0, strlen(key));
        xfree(key);
    }
    m.http = pn_mhttp_new(m.loop, lfd, m.tls, pn_api_handle, &m.api);
    m.save = ev_timer_new(m.loop, on_save, &m);
    ev_timer_arm(m.save, m.cfg.report_ms);
    log_info("master: listening on %s%s:%s, API at %s/v1, dashboard at /, database %s",
             m.cfg.tls ? "https://" : "http://", *m.cfg.host ? m.cfg.host : "*", m.cfg.port,
             m.cfg.prefix, db);
    if (pn_super_load(m.super) != PN_OK)
        log_error("master: cannot load the instances from the database");
    m.history = m.api.history = pn_history_new(m.loop, m.store, m.super);
    m.fleet = pn_fleet_new(&m.api, db);
    m.api.fleet_ctx = m.fleet;
    m.api.fleet = pn_fleet_route;
    pn_notify("READY=1");

    ev_loop_run(m.loop);
    rc = PN_EXIT_OK;
    free(db);
    free(exe);
    master_free(&m);
    return rc;

fail:
    fprintf(stderr, "postern: %s\n", err);
    free(db);
    free(exe);
    master_free(&m);
    return rc;
}
