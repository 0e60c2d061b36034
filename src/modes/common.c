/* modes/common.c: shared start-up steps. */
#include "modes/common.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/dns.h"
#include "net/sock.h"
#include "route/proxy.h"

#include <stdio.h>
#include <string.h>

int
pn_targets_resolve(const pn_config_t *cfg, lb_set_t *set, char *err)
{
    lb_init(set, cfg->lbs, cfg->ntargets, cfg->fallback_ms);
    for (size_t i = 0; i < cfg->ntargets; i++) {
        lb_target_t *t = &set->t[i];
        char sub[PN_ERR_LEN];
        t->host = xstrdup(cfg->targets[i].host);
        t->port = xstrdup(cfg->targets[i].port);
        int rc = cfg->dns_server != NULL && !pn_dns_is_literal(t->host)
                     ? pn_dns_resolve_now(cfg->dns_server, t->host, t->port, &t->addr, sub)
                     : pn_addr_resolve(t->host, t->port, 0, &t->addr, sub);
        if (rc != PN_OK && pn_dns_is_literal(t->host)) {
            lb_clear(set);
            return pn_err_set(err, "target: %s", sub);
        }
        if (rc != PN_OK) {
            /* A name that does not resolve yet (a router that boots before
             * its DNS): a run-time condition. The DNS cache retries it; dials
             * to it fail with a clear reason until it resolves. */
            memset(&t->addr, 0, sizeof(t->addr));
            t->down = 1;
            log_warn("target: %s does not resolve yet (%s); retrying in the background",
                     t->host, sub);
        }
    }
    return PN_OK;
}

int
pn_targets_check_loop(const lb_set_t *set, const pn_addr_t *listen, char *err)
{
    char s[PN_ADDRSTRLEN];
    for (size_t i = 0; i < set->n; i++) {
        const pn_addr_t *t = &set->t[i].addr;
        int same = pn_addr_equal(t, listen) ||
                   (pn_addr_is_any(listen) && pn_addr_port(t) == pn_addr_port(listen) &&
                    (pn_addr_is_loopback(t) || pn_addr_is_any(t)));
        if (same)
            return pn_err_set(err, "target: %s is the listen address itself (a loop)",
                              pn_addr_str(t, s));
    }
    return PN_OK;
}

int
pn_mode_dial_source(const pn_config_t *cfg, pn_addr_t *src, int *has, char *err)
{
    *has = 0;
    if (cfg->dial == NULL)
        return PN_OK;
    if (pn_addr_parse_ip(cfg->dial, src) != PN_OK)
        return pn_err_set(err, "dial: \"%s\" is not an IP address (expected e.g. 192.0.2.10 or auto)",
                          cfg->dial);
    *has = 1;
    return PN_OK;
}

int
pn_mode_tls_server(const pn_config_t *cfg, pn_tls_ctx_t **out, char *err)
{
    *out = NULL;
    if (cfg->tls == 1)
        *out = pn_tls_server_selfsigned(err);
    else if (cfg->tls == 2)
        pn_tls_ctx_reload_every(*out = pn_tls_server_files(cfg->crt, cfg->crt_key, err),
                                cfg->reload_ms);
    else
        return PN_OK;
    if (cfg->xtype == 3)
        pn_tls_ctx_alpn_h2(*out);      /* HTTP/2 data connections (tls/h2.h) */
    return *out ? PN_OK : PN_ERR;
}

size_t
pn_mode_udp_proxy_header(int proxy, const pn_addr_t *src, const pn_addr_t *dst, uint8_t *out)
{
    /* Version 1 has no datagram form: with proxy=1, UDP goes without a header. */
    if (proxy != 2 || src->ss.ss_family == 0 || dst->ss.ss_family == 0)
        return 0;
    return pn_proxyproto_encode(2, 1, src, dst, out, PN_PROXY_MAX);
}

int
pn_fail(int code, const char *msg)
{
    fprintf(stderr, "postern: %s\n", msg);
    return code;
}

uint32_t
pn_mode_pool_max(const pn_config_t *cfg)
{
    uint64_t cap = pn_sock_nofile() / 4;
    if (cap < 4)
        cap = 4;
    return cfg->max > cap ? (uint32_t)cap : (uint32_t)cfg->max;
}
