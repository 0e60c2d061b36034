/* tls/quic_dial.c: the start of a QUIC connection, both ends (see quic.h):
 * a client's socket and first flight; a server connection for a client's
 * Initial, with its deadline for a first stream. */
#include "core/log.h"
#include "core/mem.h"
#include "tls/quic_priv.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#define QUIC_SOCKBUF (4 * 1024 * 1024)

/* --- client ------------------------------------------------------------------ */

void
pn_quic_sock_bufs(int fd)
{
    int v = QUIC_SOCKBUF;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    pn_quic_gro(fd);
}


static void
on_client_pkt(void *ctx, const uint8_t *pkt, size_t n, const struct sockaddr *from, socklen_t flen)
{
    pn_quic_input(ctx, pkt, n, from, flen);
}

static void
on_client_io(int fd, int ready, void *arg)
{
    pn_quic_conn_t *q = arg;
    q->refs++;
    if (ready & EV_WR) {
        ev_io_set(q->io, EV_RD);
        pn_quic_write(q);
    }
    if (ready & EV_RD)
        pn_quic_recv(fd, QUIC_PKTS_TURN, on_client_pkt, q);
    pn_quic_unref(q);
}

/* A new UDP socket connected to <to>, its local address in <local>; -1 with <err>. */
static int
client_socket(const struct sockaddr *to, socklen_t len, struct sockaddr_storage *local,
              socklen_t *llen, char *err)
{
    int fd = socket(to->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1 || connect(fd, to, len) == -1) {
        pn_err_set(err, "quic: udp socket: %s", strerror(errno));
        if (fd != -1)
            close(fd);
        return -1;
    }
    pn_quic_sock_bufs(fd);
    *llen = sizeof(*local);
    getsockname(fd, (struct sockaddr *)local, llen);
    return fd;
}

/* The client <q> now sends and reads on <fd> (owned) of <local>; the old socket is closed. */
static void
adopt(pn_quic_conn_t *q, int fd, const struct sockaddr_storage *local, socklen_t llen)
{
    ev_io_free(q->io);
    close(q->fd);
    q->fd = fd;
    memcpy(&q->local, local, llen);
    q->llen = llen;
    q->heldlen = 0;             /* what the old socket did not take: lost, sent again */
    q->io = ev_io_new(q->loop, fd, on_client_io, q);
    ev_io_set(q->io, EV_RD);
    pn_quic_schedule(q);
}

int
pn_quic_rebind(pn_quic_conn_t *q)
{
    char err[PN_ERR_LEN];
    struct sockaddr_storage local;
    socklen_t llen;
    if (q->srv != NULL || q->c == NULL || q->fault != NULL)
        return PN_ERR;
    int fd = client_socket((struct sockaddr *)&q->remote, q->rlen, &local, &llen, err);
    if (fd == -1) {
        log_warn("%s", err);
        return PN_ERR;
    }
    ngtcp2_path path = {
        { (ngtcp2_sockaddr *)&local, llen }, { (ngtcp2_sockaddr *)&q->remote, q->rlen }, NULL,
    };
    pn_quic_path_cancel(q);     /* a validation in progress (quic_path.c) gives way */
    int rv = ngtcp2_conn_initiate_immediate_migration(q->c, &path, pn_quic_now());
    if (rv != 0) {
        log_warn("quic: cannot move to a new udp port: %s", ngtcp2_strerror(rv));
        close(fd);
        return PN_ERR;
    }
    adopt(q, fd, &local, llen);
    log_info("quic: the connection moved to udp port %u (migration)",
             ntohs(local.ss_family == AF_INET ? ((struct sockaddr_in *)&local)->sin_port
                                              : ((struct sockaddr_in6 *)&local)->sin6_port));
    return PN_OK;
}

/* The client <q>'s socket refused a datagram with <e> (quic_priv.h: a filter,
 * a route or its local address gone): it moves to a new one; a second move
 * waits a second, each later one twice as long, up to a minute (a network
 * that is down refuses every socket). */
static void
on_refused(pn_quic_conn_t *q, int e)
{
    ngtcp2_tstamp now = pn_quic_now();
    if (q->nmoves > 0) {
        unsigned shift = q->nmoves - 1 < 6 ? q->nmoves - 1 : 6;
        if (now - q->moved_at < ((ngtcp2_duration)1 << shift) * NGTCP2_SECONDS)
            return;
    }
    q->moved_at = now;
    q->nmoves++;
    log_info("quic: the udp socket refuses to send (%s): moving the connection", strerror(e));
    (void)pn_quic_rebind(q);
}

pn_quic_conn_t *
pn_quic_client(ev_loop_t *loop, const struct sockaddr *to, socklen_t len,
               const pn_quic_client_opts_t *o, char *err)
{
    struct sockaddr_storage local;
    socklen_t llen;
    int fd = client_socket(to, len, &local, &llen, err);
    if (fd == -1)
        return NULL;
    pn_quic_conn_t *q = pn_quic_conn_new(loop);
    q->fd = fd;
    memcpy(&q->remote, to, len);
    q->rlen = len;
    memcpy(&q->local, &local, llen);
    q->llen = llen;
    q->refused = on_refused;
    uint8_t d[QUIC_ICID_LEN];
    ngtcp2_cid dcid, scid = { 0 };      /* ours: empty (quic_priv.h) */
    pn_random(d, sizeof(d));
    ngtcp2_cid_init(&dcid, d, sizeof(d));
    ngtcp2_settings st;
    ngtcp2_transport_params p;
    pn_quic_settings(q, &st, &p, o->handshake_ms, 0, pn_quic_route_payload(fd, to, len));
    pn_quic_resume_prepare(q, o, &st);      /* a NEW_TOKEN kept: no Retry (quic_resume.c) */
    ngtcp2_callbacks cb;
    pn_quic_callbacks(&cb, 0);
    cb.recv_new_token = pn_quic_resume_cb_token;
    cb.path_validation = pn_quic_cb_path_validation;   /* quic_path.c */
    ngtcp2_path path = {
        { (ngtcp2_sockaddr *)&q->local, q->llen }, { (ngtcp2_sockaddr *)&q->remote, q->rlen }, NULL,
    };
    int rv = ngtcp2_conn_client_new(&q->c, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &st, &p,
                                    NULL, q);
    if (rv != 0) {
        pn_err_set(err, "quic: %s", ngtcp2_strerror(rv));
        q->c = NULL;
        pn_quic_conn_free(q);
        return NULL;
    }
    if (pn_quic_tls_client(q, o, err) != 0) {
        q->fault = "setup";
        pn_quic_conn_free(q);
        return NULL;
    }
    ngtcp2_conn_set_keep_alive_timeout(q->c, PN_QUIC_IDLE_MS / 3 * NGTCP2_MILLISECONDS);
    static const pn_quic_path_ops_t ops = { client_socket, adopt };
    pn_quic_path_watch(q, &ops);    /* a new preferred local address: it moves (quic_path.c) */
    q->io = ev_io_new(loop, fd, on_client_io, q);
    ev_io_set(q->io, EV_RD);
    pn_quic_schedule(q);        /* the Initial leaves from the loop */
    return q;
}

/* --- server ------------------------------------------------------------------ */

static long
on_idle(ev_timer_t *t, void *arg)
{
    pn_quic_conn_t *q = arg;
    if (q->fault == NULL && q->nstreams == 0) {
        pn_quic_send_close(q, 0);
        pn_quic_fail(q, "quic: no stream opened in time");
        return EV_TIMER_STOP;
    }
    return (long)q->srv->handshake_ms * 2;
}

pn_quic_conn_t *
pn_quic_accept(pn_quic_srv_t *s, const ngtcp2_pkt_hd *hd, const ngtcp2_cid *odcid, int proved,
               const struct sockaddr *from, socklen_t flen)
{
    ev_loop_t *loop = s->loop;
    pn_quic_conn_t *q = pn_quic_conn_new(loop);
    q->srv = s;
    q->fd = s->fd;
    memcpy(&q->local, &s->local, s->llen);
    q->llen = s->llen;
    memcpy(&q->remote, from, flen);
    q->rlen = flen;
    uint8_t b[QUIC_SCID_LEN];
    ngtcp2_cid scid;
    pn_random(b, sizeof(b));
    ngtcp2_cid_init(&scid, b, sizeof(b));
    ngtcp2_settings st;
    ngtcp2_transport_params p;
    pn_quic_settings(q, &st, &p, s->handshake_ms, 1, pn_quic_route_payload(-1, from, flen));
    if (odcid != NULL) {        /* after our Retry (RFC 9000 §7.3): the address is proved */
        p.original_dcid = *odcid;
        p.retry_scid = hd->dcid;
        p.retry_scid_present = 1;
        st.token = hd->token;
    } else {
        p.original_dcid = hd->dcid;
        if (proved)             /* our NEW_TOKEN (quic_gate.c): the address is proved too */
            st.token = hd->token;
    }
    p.stateless_reset_token_present = pn_quic_reset_token(q, &scid, p.stateless_reset_token) == 0;
    ngtcp2_callbacks cb;
    pn_quic_callbacks(&cb, 1);
    ngtcp2_path path = {
        { (ngtcp2_sockaddr *)&q->local, q->llen }, { (ngtcp2_sockaddr *)&q->remote, q->rlen }, NULL,
    };
    if (ngtcp2_conn_server_new(&q->c, &hd->scid, &scid, &path, hd->version, &cb, &st, &p, NULL,
                               q) != 0) {
        q->c = NULL;
        q->srv = NULL;
        q->fd = -1;
        q->fault = "setup";
        pn_quic_conn_free(q);
        return NULL;
    }
    q->self_ref = 1;
    if (pn_quic_tls_server(s->cred, q) != 0 || pn_quic_srv_cid_add(s, &scid, q) != 0 ||
        pn_quic_srv_cid_add(s, &hd->dcid, q) != 0) {
        q->fault = "setup";
        pn_quic_srv_forget(s, q);
        q->srv = NULL;
        q->fd = -1;
        pn_quic_conn_free(q);
        return NULL;
    }
    q->idle = ev_timer_new(loop, on_idle, q);
    ev_timer_arm(q->idle, s->handshake_ms * 2);
    return q;
}
