/* relay/link.c: dial-then-relay and relay-only exchanges. */
#include "relay/link.h"
#include "core/mem.h"
#include "net/sock.h"
#include "relay/relay.h"
#include "route/dial.h"
#include "route/proxy.h"
#include "route/sniff.h"

#include <string.h>

enum link_state {
    LINK_ST_DIAL = 0,           /* waiting for a target to answer */
    LINK_ST_RELAY,              /* bytes moving */
};

struct pn_link {
    pn_list_t node;             /* in pn_links.all */
    pn_links_t *ls;             /* back pointer */
    enum link_state st;
    pn_xprt_t *entry;           /* owned while dialing; the relay owns it after */
    route_dial_t *dial;         /* owned while dialing */
    relay_t *relay;             /* owned while relaying; frees itself when it ends */
    pn_link_info_t info;
};

static const char *const sniff_names[] = {
    [PN_SNIFF_OTHER] = "other", [PN_SNIFF_SOCKS] = "SOCKS", [PN_SNIFF_HTTP] = "HTTP",
    [PN_SNIFF_TLS] = "TLS",
};

void
pn_links_init(pn_links_t *ls, ev_loop_t *loop, pn_stats_t *stats, const char *name)
{
    memset(ls, 0, sizeof(*ls));
    ls->loop = loop;
    ls->stats = stats;
    ls->name = name;
    ls->slot_log.interval_ms = 1000;
    ls->block_log.interval_ms = 1000;
    ls->dial_log.interval_ms = 1000;
    pn_list_init(&ls->all);
}

int
pn_links_admit(pn_links_t *ls)
{
    uint64_t held;
    if (ls->slot == 0 || ls->n + ls->stats->udps < ls->slot)
        return 1;
    ls->stats->refused++;
    if (pn_ratelim_pass(&ls->slot_log, pn_now_ms(), &held))
        log_warn("%s: slot limit (%u) reached, refusing a new connection or session "
                 "(%llu more refused since the last warning)",
                 ls->name, ls->slot, (unsigned long long)held);
    return 0;
}

static void
link_free(struct pn_link *l)
{
    pn_list_del(&l->node);
    l->ls->n--;
    if (l->info.gauge != NULL)
        (*l->info.gauge)--;
    if (l->st == LINK_ST_RELAY)
        l->ls->stats->tcps--;
    route_dial_cancel(l->dial);
    relay_free(l->relay);
    pn_xprt_free(l->entry);
    free(l);
}

static void
on_relay_done(relay_t *r, const char *err, void *arg)
{
    struct pn_link *l = arg;
    if (err != NULL)
        log_debug("%s: relay ended: %s", l->ls->name, err);
    l->relay = NULL;            /* the relay frees itself after this callback */
    link_free(l);
}

/* The user's first bytes: refuse the protocols the mode blocks. */
static int
on_first_bytes(const uint8_t *p, size_t n, void *arg)
{
    struct pn_link *l = arg;
    pn_links_t *ls = l->ls;
    char s[PN_ADDRSTRLEN];
    uint64_t held;
    enum pn_sniff k = pn_sniff(p, n);
    if (k == PN_SNIFF_OTHER || !(ls->block & (1u << k)))
        return 0;
    ls->stats->refused++;
    if (pn_ratelim_pass(&ls->block_log, pn_now_ms(), &held))
        log_warn("%s: blocked a %s connection from %s (%llu more blocked since the last note)",
                 ls->name, sniff_names[k], pn_addr_str(&l->info.src, s), (unsigned long long)held);
    return 1;
}

static void
link_relay(struct pn_link *l, pn_xprt_t *exit_, int dialed)
{
    pn_links_t *ls = l->ls;
    uint8_t hdr[PN_PROXY_MAX + PN_LINK_PRE_MAX];
    relay_opts_t o = {
        .idle_ms = ls->idle_ms, .rx = &ls->stats->tcp_rx, .tx = &ls->stats->tcp_tx,
        .limit = ls->limit,
    };
    if (l->info.user && ls->block != 0) {
        o.first = on_first_bytes;
        o.first_ctx = l;
    }
    if (dialed && ls->proxy != 0 && l->info.src.ss.ss_family != 0 &&
        l->info.dst.ss.ss_family != 0) {
        o.exit_hdr = hdr;
        o.exit_hdr_len = pn_proxyproto_encode(ls->proxy, 0, &l->info.src, &l->info.dst, hdr,
                                         PN_PROXY_MAX);
    }
    if (l->info.pre_len > 0) {
        /* What the user sent before the exit existed (a ClientHello read to
         * route by SNI) goes first; only a pair has it, never a dial. */
        memcpy(hdr + o.exit_hdr_len, l->info.pre, l->info.pre_len);
        o.exit_hdr = hdr;
        o.exit_hdr_len += l->info.pre_len;
        ls->stats->tcp_rx += l->info.pre_len;
    }
    ls->stats->tcp_tx += l->info.back_len;
    o.entry_hdr = l->info.back;
    o.entry_hdr_len = l->info.back_len;
    l->info.pre = l->info.back = NULL;
    l->info.pre_len = l->info.back_len = 0;
    pn_xprt_t *entry = l->entry;
    l->entry = NULL;
    l->st = LINK_ST_RELAY;
    ls->stats->tcps++;
    l->relay = relay_new(ls->loop, entry, exit_, &o, on_relay_done, l);
}

static void
on_dialed(int fd, size_t target, const char *err, void *arg)
{
    struct pn_link *l = arg;
    l->dial = NULL;             /* freed by the dialer after this callback */
    if (fd == -1) {
        l->ls->stats->dial_fail++;
        uint64_t held;
        if (pn_ratelim_pass(&l->ls->dial_log, pn_now_ms(), &held))
            log_warn("%s: no target answered: %s (%llu more failed dials since the last note)",
                     l->ls->name, err, (unsigned long long)held);
        link_free(l);
        return;
    }
    pn_sock_tune(fd);
    link_relay(l, pn_raw_xprt_new(fd), 1);
}

static struct pn_link *
link_new(pn_links_t *ls, pn_xprt_t *entry, const pn_link_info_t *info)
{
    struct pn_link *l = xcalloc(sizeof(*l));
    l->ls = ls;
    l->entry = entry;
    if (info != NULL)
        l->info = *info;
    if (l->info.pre_len > PN_LINK_PRE_MAX)
        l->info.pre_len = PN_LINK_PRE_MAX;
    if (l->info.gauge != NULL)
        (*l->info.gauge)++;
    pn_list_add(&ls->all, &l->node);
    ls->n++;
    ls->stats->tcp_total++;
    return l;
}

void
pn_link_dial(pn_links_t *ls, pn_xprt_t *entry, const pn_link_info_t *info)
{
    struct pn_link *l = link_new(ls, entry, info);
    /* Until the relay runs (it keeps this), a process killed while dialing
     * resets the entry: no FIN, which would look like an empty, whole answer. */
    pn_sock_reset_on_close(entry->fd, 1);
    l->st = LINK_ST_DIAL;
    l->info.pre = l->info.back = NULL;
    l->info.pre_len = l->info.back_len = 0;
    l->dial = route_dial_start(ls->loop, info && info->set ? info->set : ls->set, ls->src,
                               ls->dial_timeout_ms, on_dialed, l);
}

void
pn_link_pair(pn_links_t *ls, pn_xprt_t *entry, pn_xprt_t *exit_, const pn_link_info_t *info)
{
    link_relay(link_new(ls, entry, info), exit_, 0);
}

void
pn_links_forget_gauge(pn_links_t *ls, uint64_t *gauge)
{
    for (pn_list_t *p = ls->all.next; p != &ls->all; p = p->next) {
        struct pn_link *l = pn_container_of(p, struct pn_link, node);
        if (l->info.gauge == gauge)
            l->info.gauge = NULL;
    }
}

void
pn_links_close_all(pn_links_t *ls)
{
    while (!pn_list_empty(&ls->all))
        link_free(pn_container_of(ls->all.next, struct pn_link, node));
}
