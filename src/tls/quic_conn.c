/* tls/quic_conn.c: one QUIC connection (see quic.h): ngtcp2's callbacks, its
 * input, the timer, the lifetime of the connection and of its streams (their
 * bytes are in quic_stream.c; the pump to the socket in quic_pump.c; the start
 * of a connection in quic_dial.c, the listener in quic_srv.c). */
#include "core/log.h"
#include "core/mem.h"
#include "tls/quic_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- ngtcp2's callbacks ------------------------------------------------- */

static void
cb_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *rctx)
{
    (void)pn_random(dest, len);
}

static int
cb_new_cid(ngtcp2_conn *c, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *ud)
{
    pn_quic_conn_t *q = ud;
    uint8_t b[NGTCP2_MAX_CIDLEN];
    if (cidlen > sizeof(b) || pn_random(b, cidlen) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    ngtcp2_cid_init(cid, b, cidlen);
    if (pn_quic_reset_token(q, cid, token) != 0)    /* quic_tab.c */
        return NGTCP2_ERR_CALLBACK_FAILURE;
    if (q->srv != NULL && pn_quic_srv_cid_add(q->srv, cid, q) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int
cb_rm_cid(ngtcp2_conn *c, const ngtcp2_cid *cid, void *ud)
{
    pn_quic_conn_t *q = ud;
    if (q->srv != NULL)
        pn_quic_srv_cid_del(q->srv, cid);
    return 0;
}

/* Give the streams opened before the handshake (or beyond the peer's limit)
 * their ids, as far as the peer allows. */
static void
bind_pending(pn_quic_conn_t *q)
{
    while (!pn_list_empty(&q->pending) && q->fault == NULL) {
        pn_quics_t *st = pn_container_of(q->pending.next, pn_quics_t, node);
        int64_t sid;
        int rv = ngtcp2_conn_open_bidi_stream(q->c, &sid, st);
        if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
            return;
        pn_list_del(&st->node);
        pn_list_add(&q->streams, &st->node);
        if (rv != 0)
            st->err = "quic: cannot open a stream";
        else
            st->sid = sid;
        if (rv == 0)
            pn_quic_sid_add(st);
        pn_quic_sendq_add(st);
        pn_xprt_wake(&st->base);
    }
}

static int
cb_handshake_completed(ngtcp2_conn *c, void *ud)
{
    pn_quic_conn_t *q = ud;
    q->handshake_done = 1;
    if (pn_quic_resume_done(q) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    if (q->srv == NULL) {
        if (pn_quic_tls_check(q) != 0)
            return NGTCP2_ERR_CALLBACK_FAILURE;
        bind_pending(q);
    }
    return 0;
}

static int
cb_extend_local_bidi(ngtcp2_conn *c, uint64_t max, void *ud)
{
    pn_quic_conn_t *q = ud;
    if (q->handshake_done)
        bind_pending(q);
    return 0;
}

static int
cb_stream_open(ngtcp2_conn *c, int64_t sid, void *ud)
{
    pn_quic_conn_t *q = ud;
    if (q->srv == NULL || !ngtcp2_is_bidi_stream(sid))
        return 0;
    pn_quics_t *st = pn_quic_stream_new(q, sid);
    ngtcp2_conn_set_stream_user_data(c, sid, st);
    pn_list_add(&q->fresh, &st->node);
    pn_quic_schedule(q);
    return 0;
}

static int
cb_recv_stream_data(ngtcp2_conn *c, uint32_t flags, int64_t sid, uint64_t off,
                    const uint8_t *data, size_t len, void *ud, void *sud)
{
    if (sud == NULL) {
        ngtcp2_conn_extend_max_stream_offset(c, sid, len);
        ngtcp2_conn_extend_max_offset(c, len);
        return 0;
    }
    if (pn_quic_stream_recv(sud, data, len, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int
cb_acked(ngtcp2_conn *c, int64_t sid, uint64_t off, uint64_t len, void *ud, void *sud)
{
    if (sud != NULL)
        pn_quic_stream_acked(sud, (size_t)len);
    return 0;
}

static int
cb_stream_close(ngtcp2_conn *c, uint32_t flags, int64_t sid, uint64_t app, void *ud, void *sud)
{
    pn_quic_conn_t *q = ud;
    pn_quics_t *st = sud;
    if (q->srv != NULL && !ngtcp2_conn_is_local_stream(c, sid))
        ngtcp2_conn_extend_max_streams_bidi(c, 1);
    if (st == NULL)
        return 0;
    st->closed = 1;
    pn_quic_sendq_del(st);
    if (!st->owned) {
        pn_quic_stream_destroy(st);     /* an orphan's end; the free waits (q->busy) */
        return 0;
    }
    if (!st->peer_eof && st->err == NULL)
        st->err = "quic stream reset by the peer";
    pn_xprt_wake(&st->base);
    return 0;
}

/* The peer reset its side (RESET_STREAM): it abandoned the exchange, even
 * after its FIN (its owner went away before ours ended, stream_free there):
 * what it sent is read to the end, then an error; our writes fail now, so the
 * relay here ends with a reset too, as over a TCP connection reset. */
static int
cb_stream_reset(ngtcp2_conn *c, int64_t sid, uint64_t final, uint64_t app, void *ud, void *sud)
{
    pn_quics_t *st = sud;
    if (st != NULL && st->err == NULL) {
        st->err = "quic stream reset by the peer";
        if (st->owned)
            pn_xprt_wake(&st->base);
    }
    return 0;
}

/* ngtcp2 0.12 calls this when this end sends STOP_SENDING (stream_free, where
 * the stream is already gone: <sud> is NULL), not when the peer does: a
 * peer's STOP_SENDING shows as NGTCP2_ERR_STREAM_SHUT_WR in the pump
 * (write_streams). */
static int
cb_stop_sending(ngtcp2_conn *c, int64_t sid, uint64_t app, void *ud, void *sud)
{
    pn_quics_t *st = sud;
    if (st != NULL && !st->fin_sent) {
        st->err = "quic: the peer stopped reading the stream";
        pn_quic_sendq_del(st);
        if (st->owned)
            pn_xprt_wake(&st->base);
    }
    return 0;
}

static int
cb_extend_stream_data(ngtcp2_conn *c, int64_t sid, uint64_t max, void *ud, void *sud)
{
    pn_quics_t *st = sud;
    if (st != NULL && st->blocked) {
        st->blocked = 0;
        pn_quic_sendq_add(st);
        pn_quic_schedule(st->q);
    }
    return 0;
}

void
pn_quic_callbacks(ngtcp2_callbacks *cb, int server)
{
    memset(cb, 0, sizeof(*cb));
    if (server) {
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    } else {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
        cb->extend_max_local_streams_bidi = cb_extend_local_bidi;
    }
    cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb->rand = cb_rand;
    cb->get_new_connection_id = cb_new_cid;
    cb->remove_connection_id = cb_rm_cid;
    cb->handshake_completed = cb_handshake_completed;
    cb->stream_open = cb_stream_open;
    cb->recv_stream_data = cb_recv_stream_data;
    cb->acked_stream_data_offset = cb_acked;
    cb->stream_close = cb_stream_close;
    cb->stream_reset = cb_stream_reset;
    cb->stream_stop_sending = cb_stop_sending;
    cb->extend_max_stream_data = cb_extend_stream_data;
    cb->recv_datagram = pn_quic_cb_recv_datagram;
    cb->recv_stateless_reset = pn_quic_cb_stateless_reset;     /* quic_gate.c */
}

/* The congestion controls POSTERN_QUIC_CC names (docs/usage.md); the first
 * is the default. */
static const struct {
    const char *name;
    ngtcp2_cc_algo algo;
} cc_algos[] = {
    { "bbr", NGTCP2_CC_ALGO_BBR }, { "cubic", NGTCP2_CC_ALGO_CUBIC },
    { "bbr2", NGTCP2_CC_ALGO_BBR2 }, { "reno", NGTCP2_CC_ALGO_RENO },
};
#define CC_ALGOS (sizeof(cc_algos) / sizeof(cc_algos[0]))

int
pn_quic_cc_check(const char *name, char *err)
{
    if (name == NULL || *name == '\0')
        return PN_OK;
    for (size_t i = 0; i < CC_ALGOS; i++)
        if (strcmp(name, cc_algos[i].name) == 0)
            return PN_OK;
    return pn_err_set(err, "POSTERN_QUIC_CC: \"%s\" is not bbr, cubic, bbr2 or reno", name);
}

/* The congestion control of what this end sends. */
static ngtcp2_cc_algo
quic_cc_algo(void)
{
    const char *e = getenv("POSTERN_QUIC_CC");  /* checked at start-up (main.c) */
    for (size_t i = 0; e != NULL && i < CC_ALGOS; i++)
        if (strcmp(e, cc_algos[i].name) == 0)
            return cc_algos[i].algo;
    return cc_algos[0].algo;
}

/* The settings and transport parameters both ends use (quic.h says why). */
void
pn_quic_settings(pn_quic_conn_t *q, ngtcp2_settings *s, ngtcp2_transport_params *p,
                 uint64_t handshake_ms, int server, size_t route)
{
    ngtcp2_settings_default(s);
    s->initial_ts = pn_quic_now();
    s->cc_algo = quic_cc_algo();
    s->max_window = PN_QUIC_CONN_WINDOW_MAX;
    s->max_stream_window = PN_QUIC_STREAM_WINDOW_MAX;
    s->max_tx_udp_payload_size = QUIC_PKT_MAX;
    s->handshake_timeout = handshake_ms * NGTCP2_MILLISECONDS;
    s->ack_thresh = 8;          /* fewer ACKs to send and to process on a fast path */
    ngtcp2_transport_params_default(p);
    p->initial_max_stream_data_bidi_local = PN_QUIC_STREAM_WINDOW;
    p->initial_max_stream_data_bidi_remote = PN_QUIC_STREAM_WINDOW;
    p->initial_max_data = PN_QUIC_CONN_WINDOW;
    p->initial_max_streams_bidi = server ? PN_QUIC_STREAMS : 0;
    p->initial_max_streams_uni = 0;
    p->max_idle_timeout = PN_QUIC_IDLE_MS * NGTCP2_MILLISECONDS;
    p->active_connection_id_limit = 8;
    p->max_datagram_frame_size = QUIC_DGRAM_FRAME_MAX;     /* quic_dgram.c */
    q->pkt_max = QUIC_PKT_MAX;
    /* The route's packet size, as TCP's MSS: the peer sends no larger. */
    if (route >= NGTCP2_MAX_UDP_PAYLOAD_SIZE)
        p->max_udp_payload_size = route;
    if (route > QUIC_PKT_ETH) {
        /* A route whose MTU is above Ethernet's (loopback, a jumbo LAN): its
         * size from the start, no path MTU probes (ngtcp2 0.12 probes 1492 at
         * most). The kernel fragments what exceeds a smaller MTU it learns
         * later (ICMP), as UDP sockets do by default (IP_PMTUDISC_WANT). */
        s->max_tx_udp_payload_size = route;
        s->no_tx_udp_payload_size_shaping = 1;
        s->no_pmtud = 1;
        q->pkt_max = route;
    }
}

/* --- lifetime ----------------------------------------------------------- */

static void on_flush(void *arg);
static long on_timer(ev_timer_t *t, void *arg);

pn_quic_conn_t *
pn_quic_conn_new(ev_loop_t *loop)
{
    pn_quic_conn_t *q = xcalloc(sizeof(*q));
    q->loop = loop;
    q->fd = -1;
    q->refs = 1;
    pn_list_init(&q->streams);
    pn_list_init(&q->pending);
    pn_list_init(&q->sendq);
    pn_list_init(&q->dgsendq);
    pn_list_init(&q->fresh);
    pn_list_init(&q->srv_node);
    pn_list_init(&q->wnode);
    q->timer = ev_timer_new(loop, on_timer, q);
    q->flush = ev_defer_new(loop, on_flush, q);
    return q;
}

void
pn_quic_conn_free(pn_quic_conn_t *q)
{
    if (q->fault == NULL)
        pn_quic_send_close(q, 0);
    if (q->srv != NULL)
        pn_quic_srv_forget(q->srv, q);
    ev_timer_free(q->timer);
    ev_timer_free(q->idle);
    ev_defer_free(q->flush);
    ev_io_free(q->io);
    if (q->c != NULL)
        ngtcp2_conn_del(q->c);
    if (q->tls != NULL)
        gnutls_deinit(q->tls);
    pn_quic_cred_unref(q->scred);   /* after the session that used them (quic_srv.c) */
    if (q->cred != NULL)
        gnutls_certificate_free_credentials(q->cred);
    if (q->path_free != NULL)
        q->path_free(q);        /* quic_path.c */
    if (q->srv == NULL && q->fd != -1)
        close(q->fd);
    pn_quic_chunks_drain(q);
    free(q);
}

void
pn_quic_ref(pn_quic_conn_t *q)
{
    q->refs++;
}

/* Destroy the orphans of <q> (streams their owner let go, still finishing). */
static void
reap_orphans(pn_quic_conn_t *q)
{
    for (pn_list_t *n = q->streams.next; n != &q->streams;) {
        pn_quics_t *st = pn_container_of(n, pn_quics_t, node);
        n = n->next;
        if (!st->owned)
            pn_quic_stream_destroy(st);
    }
}

void
pn_quic_unref(pn_quic_conn_t *q)
{
    if (q == NULL)
        return;
    if (--q->refs > 0) {
        /* Only orphans hold a client connection nobody uses: it closes now (an
         * orphan's peer may never end it, and nobody would read what it sent). */
        if (q->refs == q->norphans && !q->self_ref && !q->reaping && !q->busy) {
            q->reaping = 1;
            q->refs++;
            if (q->fault == NULL) {
                pn_quic_send_close(q, 0);
                pn_quic_fail(q, "quic: connection closed");
            }
            reap_orphans(q);
            q->reaping = 0;
            pn_quic_unref(q);
        }
        return;
    }
    if (q->busy) {
        q->refs++;              /* inside ngtcp2: the deferred pump lets it go */
        q->drop++;
        pn_quic_schedule(q);
        return;
    }
    pn_quic_conn_free(q);
}

int
pn_quic_alive(const pn_quic_conn_t *q)
{
    return q != NULL && q->fault == NULL;
}

socklen_t
pn_quic_peer(const pn_quic_conn_t *q, struct sockaddr_storage *ss)
{
    memcpy(ss, &q->remote, sizeof(*ss));
    return q->rlen;
}

pn_xprt_t *
pn_quic_open(pn_quic_conn_t *q)
{
    if (!pn_quic_alive(q))
        return NULL;
    pn_quics_t *st = pn_quic_stream_new(q, -1);
    pn_list_add(&q->pending, &st->node);
    if (q->handshake_done)
        bind_pending(q);
    pn_quic_schedule(q);
    return &st->base;
}

/* --- streams' lifetime (their bytes are in quic_stream.c) ------------------- */

static const struct pn_xprt_ops stream_ops;

pn_quics_t *
pn_quic_stream_new(pn_quic_conn_t *q, int64_t sid)
{
    pn_quics_t *st = xcalloc(sizeof(*st));
    st->base.ops = &stream_ops;
    st->base.fd = -1;
    st->q = q;
    st->sid = sid;
    st->owned = 1;
    pn_list_init(&st->sq);
    pn_list_init(&st->node);
    pn_list_init(&st->dsq);
    if (sid >= 0) {
        st->known = 1;          /* the peer opened it */
        pn_quic_sid_add(st);
    }
    q->refs++;
    q->nstreams++;
    return st;
}

void
pn_quic_stream_destroy(pn_quics_t *st)
{
    pn_quic_conn_t *q = st->q;
    pn_list_del(&st->node);
    pn_list_del(&st->sq);
    pn_quic_sid_del(st);
    if (st->sid >= 0 && q->c != NULL && !st->closed)
        ngtcp2_conn_set_stream_user_data(q->c, st->sid, NULL);
    if (st->orphan)
        q->norphans--;
    q->nstreams--;
    pn_quic_stream_clear(st);
    free(st);
    pn_quic_unref(q);
}

/* ops->free, as a TCP socket closes. A stream whose owner shut it for
 * writing and left nothing unread stays, an orphan, until its last bytes and
 * FIN are acknowledged and the peer ended it (cb_stream_close); should the
 * peer send more, nobody reads it, and the stream is reset then
 * (pn_quic_stream_recv), as TCP answers data to a closed socket. Any other
 * (bytes unread, an error, not shut) is reset both ways at once (RESET_STREAM,
 * unless all its bytes and FIN were acknowledged, and STOP_SENDING): its
 * owner went away before the peer's end (a user's reset after its half-close,
 * a relay cut short, a deadline), and the peer must hear it now (cb_stream_reset
 * there fails its writer, as a TCP reset would). The bytes received and not
 * read give their room back to the connection's window. A reset stream stays
 * too, an orphan with nothing new to send, until ngtcp2 closes it: until its
 * RESET_STREAM leaves, ngtcp2 may send lost STREAM frames of it again. */
static void
stream_free(pn_xprt_t *x)
{
    pn_quics_t *st = (pn_quics_t *)x;
    pn_quic_conn_t *q = st->q;
    st->owned = 0;
    size_t unread = st->rlen;
    if (unread > 0 && q->c != NULL && q->fault == NULL)
        ngtcp2_conn_extend_max_offset(q->c, unread);
    pn_quic_stream_rclear(st);
    pn_quic_dgq_clear(&st->dgr);
    pn_quic_dgq_clear(&st->dgs);        /* the session is gone: its datagrams too */
    pn_list_del(&st->dsq);
    if (st->sid >= 0 && !st->closed && q->c != NULL && q->fault == NULL) {
        if (st->wr_eof && st->err == NULL && unread == 0) {
            st->orphan = 1;     /* more from the peer resets it (pn_quic_stream_recv) */
            q->norphans++;
            pn_quic_schedule(q);
            return;
        }
        log_debug("quic: stream %lld reset (its owner left %s)", (long long)st->sid,
                  st->err != NULL ? "after an error" : st->wr_eof ? "before the peer's end"
                  : "before its end");
        ngtcp2_conn_shutdown_stream(q->c, st->sid, 0);
        pn_quic_sendq_del(st);      /* an orphan until stream_close (above) */
        st->orphan = 1;
        q->norphans++;
        pn_quic_schedule(q);
        return;
    }
    pn_quic_stream_destroy(st);
}

static const struct pn_xprt_ops stream_ops = {
    .name = "quic",
    .read = pn_quic_stream_read,
    .write = pn_quic_stream_write,
    .shutdown_wr = pn_quic_stream_shutdown_wr,
    .pending = pn_quic_stream_pending,
    .watch = pn_xprt_wake_watch,
    .ready = pn_quic_stream_ready,
    .peek = pn_quic_stream_peek,
    .free = stream_free,
    .dgram_max = pn_quic_stream_dgram_max,
    .dgram_send = pn_quic_stream_dgram_send,
    .dgram_recv = pn_quic_stream_dgram_recv,
};

pn_quic_conn_t *
pn_quic_of(const pn_xprt_t *x)
{
    return x != NULL && x->ops == &stream_ops ? ((const pn_quics_t *)x)->q : NULL;
}

/* --- input and the loop's events (the pump is in quic_pump.c) ------------ */

void
pn_quic_input(pn_quic_conn_t *q, const uint8_t *pkt, size_t len, const struct sockaddr *from,
              socklen_t flen)
{
    if (q->fault != NULL || q->c == NULL || len == 0)
        return;                 /* an empty datagram: nothing for ngtcp2 (it asserts) */
    ngtcp2_path path = {
        { (ngtcp2_sockaddr *)&q->local, q->llen }, { (ngtcp2_sockaddr *)from, flen }, NULL,
    };
    ngtcp2_pkt_info pi = { 0 };
    q->busy++;
    int rv = ngtcp2_conn_read_pkt(q->c, &path, &pi, pkt, len, pn_quic_now());
    q->busy--;
    if (rv == 0) {
        const ngtcp2_path *cur = ngtcp2_conn_get_path(q->c);
        if (cur->remote.addrlen <= sizeof(q->remote)) {
            memcpy(&q->remote, cur->remote.addr, cur->remote.addrlen);
            q->rlen = cur->remote.addrlen;
        }
        pn_quic_schedule(q);
        return;
    }
    if (rv == NGTCP2_ERR_DRAINING) {
        pn_quic_fail(q, "quic: the peer closed the connection");
        return;
    }
    if (rv != NGTCP2_ERR_DROP_CONN)
        pn_quic_send_close(q, rv);
    if (q->why[0] != '\0')
        pn_quic_fail(q, q->why);
    else if (rv == NGTCP2_ERR_CRYPTO)
        pn_quic_fail(q, "tls handshake: quic: the TLS handshake failed (certificate, ALPN?)");
    else
        pn_quic_fail(q, ngtcp2_strerror(rv));
}

static void
on_flush(void *arg)
{
    pn_quic_conn_t *q = arg;
    q->refs++;
    /* 0-RTT streams wait for the handshake (a replay never completes it: quic_resume.c) */
    while (!pn_list_empty(&q->fresh) && q->fault == NULL && q->srv != NULL && q->handshake_done) {
        pn_quics_t *st = pn_container_of(q->fresh.next, pn_quics_t, node);
        pn_list_del(&st->node);
        pn_list_add(&q->streams, &st->node);
        q->srv->cb(&st->base, q, q->srv->ctx);
    }
    pn_quic_write(q);
    if (q->fault != NULL) {
        while (!pn_list_empty(&q->fresh))
            pn_quic_stream_destroy(pn_container_of(q->fresh.next, pn_quics_t, node));
        reap_orphans(q);        /* nothing ends them now */
        if (q->self_ref) {
            q->self_ref = 0;
            q->refs--;
        }
    }
    q->refs -= q->drop;
    q->drop = 0;
    pn_quic_unref(q);
}

static long
on_timer(ev_timer_t *t, void *arg)
{
    pn_quic_conn_t *q = arg;
    if (q->fault != NULL || q->c == NULL)
        return EV_TIMER_STOP;
    q->busy++;
    int rv = ngtcp2_conn_handle_expiry(q->c, pn_quic_now());
    q->busy--;
    if (rv != 0) {
        pn_quic_fail(q, rv == NGTCP2_ERR_IDLE_CLOSE ? "quic: the connection was idle too long"
                      : rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT ? "quic: handshake timed out"
                      : ngtcp2_strerror(rv));
        return EV_TIMER_STOP;
    }
    pn_quic_write(q);
    return EV_TIMER_STOP;
}

