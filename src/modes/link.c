/* modes/link.c: dial-then-relay and relay-only exchanges. */
#include "modes/link.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"
#include "relay/relay.h"
#include "route/dial.h"

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
};

void
pn_links_init(pn_links_t *ls, ev_loop_t *loop, pn_stats_t *stats, const char *name)
{
    ls->loop = loop;
    ls->stats = stats;
    ls->name = name;
    pn_list_init(&ls->all);
}

static void
link_free(struct pn_link *l)
{
    pn_list_del(&l->node);
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

static void
link_relay(struct pn_link *l, pn_xprt_t *exit_)
{
    pn_links_t *ls = l->ls;
    relay_opts_t o = { .idle_ms = ls->idle_ms, .rx = &ls->stats->tcp_rx, .tx = &ls->stats->tcp_tx };
    pn_xprt_t *entry = l->entry;
    l->entry = NULL;
    l->st = LINK_ST_RELAY;
    ls->stats->tcps++;
    l->relay = relay_new(ls->loop, entry, exit_, &o, NULL, 0, on_relay_done, l);
}

static void
on_dialed(int fd, size_t target, const char *err, void *arg)
{
    struct pn_link *l = arg;
    l->dial = NULL;             /* freed by the dialer after this callback */
    if (fd == -1) {
        l->ls->stats->dial_fail++;
        log_warn("%s: no target answered: %s", l->ls->name, err);
        link_free(l);
        return;
    }
    pn_sock_tune(fd);
    link_relay(l, pn_xprt_raw_new(fd));
}

static struct pn_link *
link_new(pn_links_t *ls, pn_xprt_t *entry)
{
    struct pn_link *l = xcalloc(sizeof(*l));
    l->ls = ls;
    l->entry = entry;
    pn_list_add(&ls->all, &l->node);
    ls->stats->tcp_total++;
    return l;
}

void
pn_link_dial(pn_links_t *ls, pn_xprt_t *entry)
{
    struct pn_link *l = link_new(ls, entry);
    l->st = LINK_ST_DIAL;
    l->dial = route_dial_start(ls->loop, ls->set, ls->src, ls->dial_timeout_ms, on_dialed, l);
}

void
pn_link_pair(pn_links_t *ls, pn_xprt_t *entry, pn_xprt_t *exit_)
{
    link_relay(link_new(ls, entry), exit_);
}

void
pn_links_close_all(pn_links_t *ls)
{
    while (!pn_list_empty(&ls->all))
        link_free(pn_container_of(ls->all.next, struct pn_link, node));
}

size_t
pn_links_count(const pn_links_t *ls)
{
    size_t n = 0;
    for (const pn_list_t *p = ls->all.next; p != &ls->all; p = p->next)
        n++;
    return n;
}
