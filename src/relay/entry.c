/* relay/entry.c: accept loop and TLS termination for the entry side. */
#include "relay/entry.h"
#include "core/list.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/gate.h"
#include "net/sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ACCEPT_BURST 64         /* connections accepted per readiness, for fairness */

struct handshake {
    pn_list_t link;             /* in pn_entry.handshakes */
    pn_entry_t *e;              /* back pointer */
    pn_xprt_t *x;               /* owned until handed over */
    pn_addr_t peer, local;
    ev_io_t *io;                /* owned */
    pn_admit_ent_t adm;         /* in the entry's gate until the handshake ends */
};

struct pn_entry {
    ev_loop_t *loop;            /* borrowed */
    int lfd;                    /* owned */
    ev_io_t *lio;               /* owned */
    pn_gate_t *gate;            /* owned: admission (caps, deadline, accept back-off) */
    pn_tls_ctx_t *tls;          /* borrowed or NULL */
    uint64_t handshake_ms;
    pn_list_t handshakes;       /* struct handshake, each owned */
    pn_entry_cb cb;
    void *ctx;                  /* borrowed */
};

static void
handshake_free(struct handshake *h)
{
    pn_list_del(&h->link);
    pn_gate_leave(h->e->gate, &h->adm);
    ev_io_free(h->io);
    pn_xprt_free(h->x);
    free(h);
}

static void
on_handshake_io(int fd, int ready, void *arg)
{
    struct handshake *h = arg;
    char s[PN_ADDRSTRLEN];
    int rc = pn_tls_xprt_handshake(h->x);
    if (rc == PN_AGAIN) {
        ev_io_set(h->io, h->x->want);
        return;
    }
    if (rc != PN_OK) {
        log_debug("entry: tls handshake with %s failed: %s", pn_addr_str(&h->peer, s),
                  h->x->err ? h->x->err : "?");
        handshake_free(h);
        return;
    }
    pn_entry_t *e = h->e;
    pn_xprt_t *x = h->x;
    pn_addr_t peer = h->peer, local = h->local;
    h->x = NULL;
    handshake_free(h);
    e->cb(x, &peer, &local, e->ctx);
}

/* The gate ends a handshake: past its deadline, or to make room. */
static void
on_handshake_kill(void *arg)
{
    struct handshake *h = arg;
    char s[PN_ADDRSTRLEN];
    log_debug("entry: tls handshake with %s closed: timed out or evicted",
              pn_addr_str(&h->peer, s));
    handshake_free(h);
}

static void
start_tls(pn_entry_t *e, int fd, const pn_addr_t *peer, const pn_addr_t *local)
{
    SSL *ssl = pn_tls_server_ssl(e->tls);
    if (ssl == NULL) {
        log_warn("entry: cannot start TLS for a new connection");
        pn_close(fd);
        return;
    }
    struct handshake *h = xcalloc(sizeof(*h));
    h->e = e;
    h->x = pn_tls_xprt_new(fd, ssl);
    if (pn_gate_live(e->gate, h->x, peer) != PN_OK) {
        pn_xprt_free(h->x);
        free(h);
        return;
    }
    h->peer = *peer;
    h->local = *local;
    h->io = ev_io_new(e->loop, fd, on_handshake_io, h);
    pn_list_add(&e->handshakes, &h->link);
    pn_gate_enter(e->gate, &h->adm, peer, on_handshake_kill, h);
    /* The ClientHello may already be here: try now rather than wait a turn. */
    on_handshake_io(fd, EV_RD, h);
}

static void
on_resume(void *arg)
{
    pn_entry_t *e = arg;
    ev_io_set(e->lio, EV_RD);
}

static void
on_accept(int lfd, int ready, void *arg)
{
    pn_entry_t *e = arg;
    for (int i = 0; i < ACCEPT_BURST; i++) {
        pn_addr_t peer;
        int fd = pn_accept(lfd, &peer);
        if (fd == -1) {
            if (errno != EAGAIN && errno != EWOULDBLOCK &&
                pn_gate_accept_failed(e->gate, errno, on_resume, e))
                ev_io_set(e->lio, 0);
            return;
        }
        pn_gate_accept_ok(e->gate);
        pn_addr_t local;
        local.len = sizeof(local.ss);
        if (getsockname(fd, (struct sockaddr *)&local.ss, &local.len) == -1)
            memset(&local, 0, sizeof(local));
        pn_sock_tune(fd);
        if (e->tls != NULL) {
            start_tls(e, fd, &peer, &local);
            continue;
        }
        pn_xprt_t *x = pn_raw_xprt_new(fd);
        if (pn_gate_live(e->gate, x, &peer) != PN_OK) {
            pn_xprt_free(x);
            continue;
        }
        e->cb(x, &peer, &local, e->ctx);
    }
}

pn_entry_t *
pn_entry_new(ev_loop_t *loop, int lfd, pn_tls_ctx_t *tls, uint64_t handshake_ms, pn_entry_cb cb,
             void *ctx)
{
    pn_entry_t *e = xcalloc(sizeof(*e));
    pn_addr_t la;
    char s[PN_ADDRSTRLEN], who[64];
    la.len = sizeof(la.ss);
    if (getsockname(lfd, (struct sockaddr *)&la.ss, &la.len) == -1)
        memset(&la, 0, sizeof(la));
    snprintf(who, sizeof(who), "listener %s", pn_addr_str(&la, s));
    pn_gate_opts_t go = { .who = who, .deadline_ms = handshake_ms };
    e->gate = pn_gate_new(loop, &go);
    e->loop = loop;
    e->lfd = lfd;
    e->tls = tls;
    e->handshake_ms = handshake_ms;
    e->cb = cb;
    e->ctx = ctx;
    pn_list_init(&e->handshakes);
    e->lio = ev_io_new(loop, lfd, on_accept, e);
    ev_io_set(e->lio, EV_RD);
    return e;
}

void
pn_entry_free_(pn_entry_t *e)
{
    if (e == NULL)
        return;
    while (!pn_list_empty(&e->handshakes))
        handshake_free(pn_container_of(e->handshakes.next, struct handshake, link));
    ev_io_free(e->lio);
    pn_gate_free(e->gate);
    pn_close(e->lfd);
    free(e);
}

pn_gate_t *
pn_entry_gate(pn_entry_t *e)
{
    return e->gate;
}
