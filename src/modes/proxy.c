/* modes/proxy.c: the proxy entrance (proxy://, docs/proxy.md): its users,
 * their limits and counters, the SIGHUP reload of the users file, and the
 * PROXY_USER report lines. The heads are read in modes/proxy_head.c, UDP
 * associations in modes/proxy_udp.c. */
#include "modes/modes.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/url.h"
#include "modes/common.h"
#include "modes/proxy_priv.h"
#include "net/sock.h"

#include <jansson.h>
#include <signal.h>
#include <string.h>

#define TICK_MS 50                  /* quota checks */
#define QUOTA_SLACK 16384           /* the relay waits for this much from a bucket: less left is none */
/* Heads in progress per source: none counted by the guard, which bans after
 * failures. The ports' admission gates bound them (an eighth of their cap per
 * source, the oldest closed to make room); a cap of 64 here refused the 65th
 * head from one address at once, a browser's burst through one ss-local or an
 * office behind one NAT, which the peers serve. */
#define AUTH_PENDING UINT32_MAX

static void
user_limits(puser_t *u)
{
    uint64_t now = pn_now_us(), used = u->up + u->down;
    u->limit = NULL;
    u->over = u->spec.quota != 0 && used + QUOTA_SLACK > u->spec.quota;
    if (u->spec.rate_mbps != 0) {
        uint64_t rate = (uint64_t)u->spec.rate_mbps * 125000;
        pn_bucket_init(&u->bucket, rate, rate / 10 < 65536 ? 65536 : rate / 10, now);
        u->limit = &u->bucket;
    } else if (u->spec.quota != 0) {
        /* Tokens are what is left of the quota; they hardly accrue. */
        uint64_t left = u->over ? 0 : u->spec.quota - used;
        pn_bucket_init(&u->bucket, 1, left ? left : 1, now);
        u->limit = &u->bucket;
    }
}

/* Make the users the file <us> names current: new ones appear, changed limits
 * apply, users gone or disabled have their connections closed. Counters stay. */
static void
users_sync(proxy_t *p, pn_users_t *us)
{
    for (size_t i = 0; i < p->nusers; i++)
        p->users[i]->live = 0;
    for (size_t i = 0; i < us->n; i++) {
        puser_t *u = proxy_user_find(p, us->u[i].name);
        if (u == NULL) {
            u = xcalloc(sizeof(*u));
            pn_list_init(&u->conns);
            p->users = xrealloc(p->users, (p->nusers + 1) * sizeof(*p->users));
            p->users[p->nusers++] = u;
        }
        pn_user_spec_clear(&u->spec);
        u->spec = us->u[i];
        memset(&us->u[i], 0, sizeof(us->u[i]));
        u->live = 1;
        user_limits(u);
        /* Open relays keep the bucket pointer: it was re-initialised in place. */
    }
    /* The Shadowsocks keys of the live users, in file order. */
    if (p->ss_keys != NULL)
        memset(p->ss_keys, 0, p->nss * sizeof(*p->ss_keys));
    p->nss = 0;
    p->ss_keys = xrealloc(p->ss_keys, (p->nusers ? p->nusers : 1) * sizeof(*p->ss_keys));
    p->ss_who = xrealloc(p->ss_who, (p->nusers ? p->nusers : 1) * sizeof(*p->ss_who));
    for (size_t i = 0; i < p->nusers; i++) {
        puser_t *u = p->users[i];
        if (!u->live || u->spec.key == NULL)
            continue;
        pn_ss_password_key(u->spec.key, u->ss_key);
        memcpy(p->ss_keys[p->nss], u->ss_key, PN_SS_KEY_LEN);
        p->ss_who[p->nss++] = u;
    }
    for (size_t i = 0; i < p->nusers; i++) {
        puser_t *u = p->users[i];
        if ((!u->live || !u->spec.enabled) && !pn_list_empty(&u->conns)) {
            log_info("proxy: user %s %s: closing its connections", u->spec.name,
                     u->live ? "disabled" : "removed");
            proxy_user_close_all(u);
        }
    }
}

static void
on_hup(void *arg)
{
    proxy_t *p = arg;
    pn_users_t us;
    char err[PN_ERR_LEN];
    if (pn_users_load(p->in.cfg->users_file, &us, err) != PN_OK) {
        log_warn("proxy: reload: %s; keeping the users as they were", err);
        return;
    }
    users_sync(p, &us);
    log_info("proxy: reload: %zu user(s)", us.n);
    pn_users_clear(&us);
}

/* The quota: a user whose bytes reached it has its connections closed. */
static long
on_tick(ev_timer_t *t, void *arg)
{
    proxy_t *p = arg;
    for (size_t i = 0; i < p->nusers; i++) {
        puser_t *u = p->users[i];
        if (u->spec.quota == 0 || pn_list_empty(&u->conns))
            continue;
        uint64_t used = u->up + u->down;
        int spent = used + QUOTA_SLACK > u->spec.quota ||
                    (u->spec.rate_mbps == 0 && u->bucket.tokens < QUOTA_SLACK &&
                     pn_bucket_wait_us(&u->bucket, QUOTA_SLACK, pn_now_us()) > 1000000);
        if (spent) {
            u->over = 1;
            log_info("proxy: user %s reached its quota (%llu bytes): closing its connections",
                     u->spec.name, (unsigned long long)u->spec.quota);
            proxy_user_close_all(u);
        }
    }
    return TICK_MS;
}

/* Before each CHECK_POINT: the totals from the users, and one PROXY_USER line each. */
static void
on_report(pn_instance_t *in, void *arg)
{
    proxy_t *p = arg;
    uint64_t up = 0, down = 0;
    for (size_t i = 0; i < p->nusers; i++) {
        puser_t *u = p->users[i];
        up += u->up;
        down += u->down;
        json_t *o = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I}", "name", u->spec.name,
                              "enabled", u->live && u->spec.enabled, "up", (json_int_t)u->up,
                              "down", (json_int_t)u->down, "conns", (json_int_t)u->total,
                              "open", (json_int_t)u->open, "refused", (json_int_t)u->refused);
        char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (js != NULL)
            log_event("PROXY_USER|%s", js);
        free(js);
        json_decref(o);
    }
    in->stats.tcp_rx = up;
    in->stats.tcp_tx = down;
}

static void
proxy_stop(pn_instance_t *in, void *arg)
{
    proxy_t *p = arg;
    pn_entry_free(p->entry);
    pn_entry_free(p->ss_entry);
    ev_timer_free(p->tick);
    ev_defer_free(p->hup);
    while (!pn_list_empty(&p->heads))
        pconn_free(pn_container_of(p->heads.next, pconn_t, link));
    for (size_t i = 0; i < p->nusers; i++)
        proxy_user_close_all(p->users[i]);
    proxy_ssu_free(p);
    proxy_via_free(p);
}

/* Graceful shutdown (modes/instance.h): no new user on either port; heads
 * go on under their deadlines, relays and UDP associations until they end. */
static void
proxy_drain(pn_instance_t *in, void *arg)
{
    proxy_t *p = arg;
    pn_entry_free(p->entry);
    pn_entry_free(p->ss_entry);
    proxy_ssu_drain(p);
}

static size_t
proxy_busy(pn_instance_t *in, void *arg)
{
    proxy_t *p = arg;
    size_t n = 0;
    for (pn_list_t *l = p->heads.next; l != &p->heads; l = l->next)
        n++;
    for (size_t i = 0; i < p->nusers; i++)
        for (pn_list_t *l = p->users[i]->conns.next; l != &p->users[i]->conns; l = l->next)
            n++;
    return n;
}

static void
proxy_free_users(proxy_t *p)
{
    for (size_t i = 0; i < p->nusers; i++) {
        pn_user_spec_clear(&p->users[i]->spec);
        free(p->users[i]);
    }
    free(p->users);
    free(p->allow);
    if (p->ss_keys != NULL)
        memset(p->ss_keys, 0, p->nss * sizeof(*p->ss_keys));
    free(p->ss_keys);
    free(p->ss_who);
    free(p->ss_seen[0]);
    free(p->ss_seen[1]);
}

int
pn_proxy_run(const pn_config_t *cfg)
{
    proxy_t *p = xcalloc(sizeof(*p));
    char err[PN_ERR_LEN], s[PN_ADDRSTRLEN];
    pn_addr_t listen_addr, ss_addr;
    pn_users_t us;
    int rc = PN_EXIT_USAGE, lfd, sfd = -1;

    pn_list_init(&p->heads);
    p->fail_log.interval_ms = 1000;     /* refusal notes: a line a second at most */
    if (pn_addr_resolve(cfg->host, cfg->port, 1, &listen_addr, err) != PN_OK) {
        char sub[PN_ERR_LEN];
        memcpy(sub, err, sizeof(sub));
        pn_err_set(err, "listen: %s", sub);
        pn_fail(rc, err);
        goto out;
    }
    if (cfg->allow != NULL && pn_cidr_list_parse(cfg->allow, &p->allow, &p->nallow, err) != PN_OK) {
        pn_fail(rc, err);
        goto out;
    }
    if (cfg->ss_listen != NULL) {
        char *h, *pt;
        if (pn_ss_method_parse(cfg->ss_method, &p->ss_method) != PN_OK ||
            pn_hostport_split(cfg->ss_listen, &h, &pt, err) != PN_OK) {
            pn_fail(rc, "ss: expected ss=[<host>]:<port> and a method");
            goto out;
        }
        int r = pn_addr_resolve(h, pt, 1, &ss_addr, err);
        xfree(h);
        xfree(pt);
        if (r != PN_OK) {
            char sub[PN_ERR_LEN];
            memcpy(sub, err, sizeof(sub));
            pn_err_set(err, "ss: %s", sub);
            pn_fail(rc, err);
            goto out;
        }
    }
    if (pn_users_load(cfg->users_file, &us, err) != PN_OK) {
        pn_fail(rc, err);
        goto out;
    }
    if ((lfd = pn_listen_tcp(&listen_addr, 4096, NULL, err)) == -1 ||
        (cfg->ss_listen != NULL && (sfd = pn_listen_tcp(&ss_addr, 4096, NULL, err)) == -1)) {
        pn_close(lfd);
        pn_users_clear(&us);
        rc = pn_fail(PN_EXIT_RUNTIME, err);
        goto out;
    }
    pn_instance_init(&p->in, cfg, 1);
    p->in.stop = proxy_stop;
    p->in.stop_ctx = p;
    p->in.drain = proxy_drain;
    p->in.busy = proxy_busy;
    p->in.refresh = on_report;
    users_sync(p, &us);
    pn_users_clear(&us);
    p->dns = pn_dns_new(p->in.loop, cfg->dns_server, err);
    if (p->dns == NULL) {
        rc = pn_fail(PN_EXIT_USAGE, err);
        goto fail;
    }
    tun_guard_init(&p->guard, PROXY_AUTH_FAILS, PROXY_AUTH_WINDOW_MS, PROXY_AUTH_BAN_MS, AUTH_PENDING);
    /* via= parsed with the URL: what fails here is run time (a reverse node's port
     * in use, say). */
    if (proxy_via_start(p, err) != PN_OK) {
        proxy_via_free(p);
        rc = pn_fail(PN_EXIT_RUNTIME, err);
        goto fail;
    }
    if (sfd != -1 && proxy_ssu_start(p, &ss_addr, err) != PN_OK) {
        char sub[PN_ERR_LEN];
        memcpy(sub, err, sizeof(sub));
        pn_err_set(err, "ss: %s", sub);
        rc = pn_fail(PN_EXIT_RUNTIME, err);
        proxy_stop(&p->in, p);
        goto fail;
    }
    p->entry = pn_entry_new(p->in.loop, lfd, NULL, cfg->handshake_ms, proxy_on_user, p);
    pn_gate_live_on(pn_entry_gate(p->entry));           /* live connections per source */
    if (sfd != -1) {
        p->ss_entry = pn_entry_new(p->in.loop, sfd, NULL, cfg->handshake_ms, proxy_ss_on_user, p);
        pn_gate_live_on(pn_entry_gate(p->ss_entry));
        log_info("proxy: shadowsocks (%s) on %s tcp+udp, %zu key(s)", pn_ss_method_name(p->ss_method),
                 pn_addr_str(&ss_addr, s), p->nss);
    }
    p->tick = ev_timer_new(p->in.loop, on_tick, p);
    ev_timer_arm(p->tick, TICK_MS);
    p->hup = ev_signal_new(p->in.loop, SIGHUP, on_hup, p);
    log_info("proxy: listening on %s (socks5+http), %zu user(s), %zu allowed network(s)",
             pn_addr_str(&listen_addr, s), p->nusers, p->nallow);
    pn_instance_state(&p->in, "connected", "listening on %s", pn_addr_str(&listen_addr, s));
    rc = pn_instance_run(&p->in);
    proxy_stop(&p->in, p);
    log_info("proxy: stopped");
    goto done;
fail:                               /* the listeners not handed to their entries yet */
    pn_close(lfd);
    pn_close(sfd);
done:                               /* the guard and the resolver: NULL-safe when not made */
    pn_dns_free(p->dns);
    tun_guard_clear(&p->guard);
    pn_instance_clear(&p->in);
out:
    proxy_free_users(p);
    free(p);
    return rc;
}
