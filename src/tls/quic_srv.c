/* tls/quic_srv.c: the QUIC listener (see quic.h): one UDP socket; each
 * datagram goes to the connection its Destination Connection ID names
 * (quic_tab.c), and a well-formed Initial of an unknown id opens one, unless
 * the port is under load and it brings no valid Retry token (quic_gate.c
 * answers then, as it answers a version we do not speak and a short header of
 * an unknown id). */
#include "core/log.h"
#include "core/mem.h"
#include "tls/quic_priv.h"
#include "tls/tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#define SRV_CONNS_MAX 4096          /* connections (handshaking or not) one port holds */
#define SRV_HANDSHAKES_PER_SOURCE 64    /* handshakes in progress from one source address */

/* Room for one more connection from <from>: under the port's cap, and under the
 * cap of handshakes in progress from its address (as tunnel/guard.h for TCP; a
 * hub's agents behind one NAT are many once established). */
static int
admit(const pn_quic_srv_t *s, const struct sockaddr *from)
{
    if (s->nconns >= SRV_CONNS_MAX)
        return 0;
    int n = 0;
    for (const pn_list_t *l = s->conns.next; l != &s->conns; l = l->next) {
        const pn_quic_conn_t *q = pn_container_of(l, pn_quic_conn_t, srv_node);
        if (!q->handshake_done && pn_quic_same_host(&q->remote, from) &&
            ++n >= SRV_HANDSHAKES_PER_SOURCE)
            return 0;
    }
    return 1;
}

size_t
pn_quic_server_conns(const pn_quic_srv_t *s)
{
    return s->nconns;
}

/* --- the socket ---------------------------------------------------------------- */

/* Credentials of the certificate <cert> serves now (NULL: a new self-signed
 * pair), one reference; NULL with <err>. */
static pn_quic_cred_t *
cred_new(pn_tls_ctx_t *cert, char *err)
{
    pn_quic_cred_t *k = xcalloc(sizeof(*k));
    k->refs = 1;
    if (gnutls_certificate_allocate_credentials(&k->c) != 0) {
        pn_err_set(err, "quic: out of memory");
        free(k);
        return NULL;
    }
    if (pn_quic_tls_cred(k->c, cert, err) != 0) {
        pn_quic_cred_unref(k);
        return NULL;
    }
    return k;
}

/* tls=2: the files changed and the TLS context took them (tls.c checks at most
 * once a reload interval, and logs it): new connections get them too; the
 * live ones keep theirs. */
static void
cred_follow(pn_quic_srv_t *s)
{
    char err[PN_ERR_LEN] = "";
    unsigned gen = pn_tls_ctx_generation(s->cert);
    if (gen == s->cert_gen)
        return;
    s->cert_gen = gen;
    pn_quic_cred_t *k = cred_new(s->cert, err);
    if (k == NULL) {
        log_warn("quic: keeping the previous certificate: %s", err);
        return;
    }
    pn_quic_cred_unref(s->qcred);
    s->qcred = k;
    s->cred = k->c;
    log_info("quic: new connections get the reloaded certificate");
}

static void
dispatch(void *ctx, const uint8_t *pkt, size_t n, const struct sockaddr *from, socklen_t flen)
{
    pn_quic_srv_t *s = ctx;
    ngtcp2_version_cid vc;
    /* An empty datagram trips an assertion of ngtcp2 (Debian's build keeps them). */
    if (n == 0)
        return;
    int rv = ngtcp2_pkt_decode_version_cid(&vc, pkt, n, QUIC_SCID_LEN);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
        pn_quic_gate_version(s, &vc, n, from, flen);
        return;
    }
    if (rv != 0)
        return;                 /* garbage */
    pn_quic_conn_t *q = pn_quic_srv_find(s, vc.dcid, vc.dcidlen);
    if (q == NULL) {
        ngtcp2_pkt_hd hd;
        ngtcp2_cid odcid;
        if (!(pkt[0] & 0x80)) {
            pn_quic_gate_reset(s, &vc, n, from, flen);  /* a connection we do not know (now) */
            return;
        }
        if (ngtcp2_accept(&hd, pkt, n) != 0)
            return;             /* only a well-formed Initial opens a connection */
        int g = pn_quic_gate_initial(s, &hd, n, from, flen, &odcid);
        if (g == QUIC_GATE_DROP || !admit(s, from))
            return;
        cred_follow(s);
        q = pn_quic_accept(s, &hd, g == QUIC_GATE_RETRIED ? &odcid : NULL, g != QUIC_GATE_ACCEPT,
                           from, flen);
        if (q == NULL)
            return;
        q->scred = pn_quic_cred_ref(s->qcred);
    }
    pn_quic_input(q, pkt, n, from, flen);
}

void
pn_quic_server_input(pn_quic_srv_t *s, const uint8_t *pkt, size_t n, const struct sockaddr *from,
                     socklen_t flen)
{
    dispatch(s, pkt, n, from, flen);
}

static void
on_srv_io(int fd, int ready, void *arg)
{
    pn_quic_srv_t *s = arg;
    if (ready & EV_WR) {
        ev_io_set(s->io, EV_RD);
        while (!pn_list_empty(&s->wq)) {
            pn_quic_conn_t *q = pn_container_of(s->wq.next, pn_quic_conn_t, wnode);
            pn_list_del(&q->wnode);
            pn_quic_schedule(q);
        }
    }
    if (!(ready & EV_RD))
        return;
    pn_quic_recv(fd, QUIC_PKTS_TURN * 4, dispatch, s);
}

pn_quic_srv_t *
pn_quic_server(ev_loop_t *loop, int fd, pn_tls_ctx_t *cert, uint64_t handshake_ms,
               pn_quic_stream_cb cb, void *ctx, char *err)
{
    pn_quic_srv_t *s = xcalloc(sizeof(*s));
    s->loop = loop;
    s->fd = fd;
    s->handshake_ms = handshake_ms;
    s->cb = cb;
    s->ctx = ctx;
    pn_list_init(&s->conns);
    pn_list_init(&s->wq);
    pn_random(&s->seed, sizeof(s->seed));
    pn_quic_gate_init(s);
    s->llen = sizeof(s->local);
    s->cert = cert;
    s->cert_gen = pn_tls_ctx_generation(cert);
    if (getsockname(fd, (struct sockaddr *)&s->local, &s->llen) == -1 ||
        (s->qcred = cred_new(cert, err)) == NULL || pn_quic_resume_srv_init(s) != 0) {
        if (err[0] == '\0')
            pn_err_set(err, "quic: cannot set the listener up");
        pn_quic_server_free(s);
        return NULL;
    }
    s->cred = s->qcred->c;
    pn_quic_sock_bufs(fd);
    s->io = ev_io_new(loop, fd, on_srv_io, s);
    ev_io_set(s->io, EV_RD);
    return s;
}

void
pn_quic_server_free_(pn_quic_srv_t *s)
{
    if (s == NULL)
        return;
    while (!pn_list_empty(&s->conns)) {
        pn_quic_conn_t *q = pn_container_of(s->conns.next, pn_quic_conn_t, srv_node);
        pn_quic_fail(q, "quic: the port closed");   /* unlinks it */
        q->srv = NULL;
        q->fd = -1;
        while (!pn_list_empty(&q->fresh))   /* never delivered now */
            pn_quic_stream_destroy(pn_container_of(q->fresh.next, pn_quics_t, node));
        if (q->self_ref) {
            q->self_ref = 0;
            pn_quic_unref(q);       /* freed now unless an owner holds a stream */
        }
    }
    for (size_t i = 0; i < QUIC_CID_BUCKETS; i++) {
        while (s->tab[i] != NULL) {
            struct cident *e = s->tab[i];
            s->tab[i] = e->next;
            free(e);
        }
    }
    ev_io_free(s->io);
    pn_quic_cred_unref(s->qcred);     /* its connections hold their own references */
    pn_quic_resume_srv_free(s);
    if (s->fd != -1)
        close(s->fd);
    free(s);
}
