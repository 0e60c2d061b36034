/* modes/hub_tls.c: the handshake of a TLS connection the hub terminates
 * (https= with certs=, docs/hub.md §1.1), then its protocol by ALPN:
 *
 *   ClientHello (read by hub.c) --SSL for its name--> handshake (the https=
 *   port's gate: deadline, caps) --ALPN h2--> hub_h2.c
 *                                 --else----> hub_http.c (HTTP/1.1) */
#include "modes/hub_h2.h"
#include "modes/hub_http.h"
#include "core/log.h"
#include "core/mem.h"
#include "tls/h2.h"
#include "tls/tls.h"

#include <arpa/inet.h>

struct ths {
    pn_list_t node;             /* in hub.tls_hs */
    struct hub *h;
    pn_xprt_t *t;               /* owned: the TLS transport */
    pn_addr_t peer, local;
    pn_admit_ent_t adm;         /* in the https= port's gate until the handshake ends */
};

static void
ths_free(struct ths *u)
{
    pn_list_del(&u->node);
    if (pn_gate_holds(&u->adm))
        pn_gate_leave(pn_entry_gate(u->h->https_entry), &u->adm);
    pn_xprt_free(u->t);
    free(u);
}

static void
on_kill(void *arg)
{
    struct ths *u = arg;
    char a[PN_ADDRSTRLEN];
    log_debug("hub: https: %s: no TLS handshake in time, or evicted", pn_addr_str(&u->peer, a));
    u->h->refused++;
    ths_free(u);
}

static void
on_hs(pn_xprt_t *t, int ready, void *arg)
{
    struct ths *u = arg;
    char a[PN_ADDRSTRLEN];
    int rc = pn_tls_xprt_handshake(u->t);
    if (rc == PN_AGAIN) {
        pn_xprt_watch(u->t, u->h->in.loop, u->t->want, on_hs, u);
        return;
    }
    if (rc != PN_OK) {
        log_debug("hub: https: %s: tls handshake failed: %s", pn_addr_str(&u->peer, a),
                  u->t->err ? u->t->err : "closed");
        ths_free(u);
        return;
    }
    struct hub *h = u->h;
    pn_xprt_t *x = u->t;
    pn_addr_t peer = u->peer, local = u->local;
    u->t = NULL;
    pn_xprt_unwatch(x);
    int h2 = pn_h2_alpn_chosen(pn_tls_xprt_ssl(x));
    ths_free(u);
    if (h2)
        hub_h2_user(h, x, &peer, &local);
    else
        hub_http_user(h, x, &peer, &local, HUB_HTTP_TLS);
}

void
hub_tls_user(struct hub *h, pn_xprt_t *x, SSL *ssl, const uint8_t *pre, size_t len,
             const pn_addr_t *peer, const pn_addr_t *local)
{
    struct ths *u = xcalloc(sizeof(*u));
    u->h = h;
    u->t = pn_tls_xprt_wrap_pre(x, ssl, pre, len);
    u->peer = *peer;
    u->local = *local;
    pn_list_add(&h->tls_hs, &u->node);
    pn_gate_enter(pn_entry_gate(h->https_entry), &u->adm, peer, on_kill, u);
    on_hs(u->t, EV_RD, u);      /* the ClientHello waits in the TLS layer already */
}

void
hub_tls_close_all(struct hub *h)
{
    while (!pn_list_empty(&h->tls_hs))
        ths_free(pn_container_of(h->tls_hs.next, struct ths, node));
}

size_t
hub_tls_count(const struct hub *h)
{
    size_t n = 0;
    for (const pn_list_t *p = h->tls_hs.next; p != &h->tls_hs; p = p->next)
        n++;
    return n;
}
