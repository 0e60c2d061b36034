/* modes/hub_acct.c: the hub's accounts (docs/hub.md §2): made from the
 * accounts file and kept in step with it on reload, found by name or by PSK
 * identity, and their connection limit. */
#include "modes/hub_acct.h"
#include "core/log.h"
#include "core/mem.h"
#include "tunnel/auth.h"

#include <stdio.h>
#include <string.h>

static struct hacct *
acct_by_name(struct hub *h, const char *name)
{
    for (pn_list_t *p = h->accts.next; p != &h->accts; p = p->next) {
        struct hacct *a = pn_container_of(p, struct hacct, node);
        if (strcmp(a->name, name) == 0)
            return a;
    }
    return NULL;
}

void
hub_acct_limits_clear(struct hacct *a)
{
    for (size_t i = 0; i < a->allow.nhosts; i++)
        free(a->allow.hosts[i]);
    xfree(a->allow.hosts);
    xfree(a->allow.ports);
    xfree(a->allow.http_auth);
    memset(&a->allow, 0, sizeof(a->allow));
}

/* Take the limits of <src> into <a>; buckets restart when a rate changed. */
static void
acct_apply(struct hacct *a, const pn_account_t *src)
{
    uint64_t now = pn_now_us();
    if (a->mbps != src->mbps || a->bw.last_us == 0) {
        uint64_t rate = (uint64_t)src->mbps * 125000;
        pn_bucket_init(&a->bw, rate, rate, now);
    }
    if (a->rps != src->rps || a->rq.last_us == 0)
        pn_bucket_init(&a->rq, src->rps, src->rps, now);
    a->max_routes = src->max_routes;
    a->max_conns = src->max_conns;
    a->rps = src->rps;
    a->mbps = src->mbps;
    hub_acct_limits_clear(a);
    if (src->nports > 0) {
        a->allow.ports = xmalloc(src->nports * sizeof(*a->allow.ports));
        memcpy(a->allow.ports, src->ports, src->nports * sizeof(*a->allow.ports));
        a->allow.nports = src->nports;
    }
    if (src->nhosts > 0) {
        a->allow.hosts = xcalloc(src->nhosts * sizeof(*a->allow.hosts));
        for (size_t i = 0; i < src->nhosts; i++)
            a->allow.hosts[i] = xstrdup(src->hosts[i]);
        a->allow.nhosts = src->nhosts;
    }
    a->allow.http_auth = xstrdup(src->http_auth);
}

void
hub_accts_sync(struct hub *h, hub_acct_kick_cb kick)
{
    for (pn_list_t *p = h->accts.next; p != &h->accts; p = p->next)
        pn_container_of(p, struct hacct, node)->gone = 1;
    for (size_t i = 0; i < h->accounts.n; i++) {
        const pn_account_t *src = &h->accounts.a[i];
        uint8_t psk[32];
        char ident[TUN_HUB_ID_LEN + 1];
        tun_hub_psk(src->token, psk);
        tun_hub_identity(src->token, ident);
        struct hacct *a = acct_by_name(h, src->name);
        if (a == NULL) {
            a = xcalloc(sizeof(*a));
            snprintf(a->name, sizeof(a->name), "%s", src->name);
            pn_list_add(&h->accts, &a->node);
        } else if (memcmp(a->psk, psk, sizeof(psk)) != 0 && a->nsess > 0) {
            log_warn("hub: account %s has a new token: its agents must reconnect", a->name);
            kick(h, a, "the account's token changed");
        }
        memcpy(a->psk, psk, sizeof(psk));
        snprintf(a->ident, sizeof(a->ident), "%s", ident);
        memset(psk, 0, sizeof(psk));
        a->gone = 0;
        acct_apply(a, src);
    }
    for (pn_list_t *p = h->accts.next; p != &h->accts; p = p->next) {
        struct hacct *a = pn_container_of(p, struct hacct, node);
        if (!a->gone)
            continue;
        memset(a->psk, 0, sizeof(a->psk));
        a->ident[0] = '\0';
        if (a->nsess > 0)
            kick(h, a, "the account was removed");
    }
}

int
hub_psk_lookup(const char *identity, uint8_t *psk, void *arg)
{
    struct hub *h = arg;
    for (pn_list_t *p = h->accts.next; p != &h->accts; p = p->next) {
        struct hacct *a = pn_container_of(p, struct hacct, node);
        if (!a->gone && strcmp(a->ident, identity) == 0) {
            memcpy(psk, a->psk, sizeof(a->psk));
            return 0;
        }
    }
    return -1;
}

struct hacct *
hub_acct_by_ident(struct hub *h, const char *ident)
{
    for (pn_list_t *p = h->accts.next; p != &h->accts; p = p->next) {
        struct hacct *a = pn_container_of(p, struct hacct, node);
        if (!a->gone && ident != NULL && strcmp(a->ident, ident) == 0)
            return a;
    }
    return NULL;
}

int
hub_acct_admit(struct hacct *a)
{
    /* Users still waiting for their data connection count: a burst of
     * connections must not all pass before the first of them is live. */
    uint64_t live = a->st.tcps + a->st.udps + a->http_live + a->tcp_pending + a->elsewhere;
    if (a->max_conns == 0 || live < a->max_conns)
        return 1;
    a->refused_conns++;
    a->st.refused++;
    return 0;
}

void
hub_accts_free(struct hub *h)
{
    while (!pn_list_empty(&h->accts)) {
        struct hacct *a = pn_container_of(h->accts.next, struct hacct, node);
        pn_list_del(&a->node);
        hub_acct_limits_clear(a);
        memset(a->psk, 0, sizeof(a->psk));
        free(a);
    }
}
