/* tls/quic_pump.c: the pump between ngtcp2 and the UDP socket of a QUIC
 * connection (see quic_priv.h): the packets ngtcp2 writes, gathered in
 * batches for one GSO send each; the expiry timer; and the packet size a
 * route allows (its MTU, as the kernel knows it); the end of a connection
 * (CONNECTION_CLOSE, its streams woken). */
#include "core/log.h"
#include "tls/quic_priv.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

size_t
pn_quic_route_payload(int fd, const struct sockaddr *to, socklen_t len)
{
    int v4 = to->sa_family == AF_INET, own = -1, mtu = 0;
    socklen_t ml = sizeof(mtu);
    if (!v4 && to->sa_family != AF_INET6)
        return 0;
    if (fd == -1)       /* connect() on a UDP socket sends nothing: it finds the route */
        own = fd = socket(to->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1 || (own != -1 && connect(fd, to, len) == -1) ||
        getsockopt(fd, v4 ? IPPROTO_IP : IPPROTO_IPV6, v4 ? IP_MTU : IPV6_MTU, &mtu, &ml) == -1)
        mtu = 0;
    if (own != -1)
        close(own);
    size_t hdr = v4 ? 20 + 8 : 40 + 8, n;
    if (mtu <= 0)
        return 0;
    n = (size_t)mtu <= hdr + NGTCP2_MAX_UDP_PAYLOAD_SIZE ? NGTCP2_MAX_UDP_PAYLOAD_SIZE
                                                          : (size_t)mtu - hdr;
    if (n > QUIC_PKT_BIG)
        n = QUIC_PKT_BIG;
    log_debug("quic: route mtu %d: udp payloads up to %zu bytes", mtu, n);
    return n;
}

/* --- the connection's end ------------------------------------------------- */

/* Send CONNECTION_CLOSE once (best effort; see quic_priv.h). */
void
pn_quic_send_close(pn_quic_conn_t *q, int rv)
{
    if (q->c == NULL || q->closed_sent || ngtcp2_conn_is_in_closing_period(q->c) ||
        ngtcp2_conn_is_in_draining_period(q->c))
        return;
    q->closed_sent = 1;
    ngtcp2_connection_close_error ce;
    ngtcp2_connection_close_error_default(&ce);
    if (rv == NGTCP2_ERR_CRYPTO)
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &ce, ngtcp2_conn_get_tls_alert(q->c), NULL, 0);
    else if (rv != 0)
        ngtcp2_connection_close_error_set_transport_error_liberr(&ce, rv, NULL, 0);
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    uint8_t buf[QUIC_PKT_MAX];
    ngtcp2_ssize n = ngtcp2_conn_write_connection_close(q->c, &ps.path, &pi, buf, sizeof(buf), &ce,
                                                        pn_quic_now());
    if (n > 0)
        (void)sendto(q->fd, buf, (size_t)n, MSG_DONTWAIT, q->srv != NULL ? ps.path.remote.addr : NULL,
                     q->srv != NULL ? ps.path.remote.addrlen : 0);
}

static void
wake_list(pn_list_t *l)
{
    for (pn_list_t *n = l->next; n != l; n = n->next) {
        pn_quics_t *st = pn_container_of(n, pn_quics_t, node);
        if (st->owned)
            pn_xprt_wake(&st->base);
    }
}

void
pn_quic_fail(pn_quic_conn_t *q, const char *why)
{
    if (q->fault != NULL)
        return;
    if (why != q->why)
        snprintf(q->why, sizeof(q->why), "%s", why);
    q->fault = q->why;
    log_debug("quic: connection ended: %s", q->why);
    ev_timer_disarm(q->timer);
    ev_io_free(q->io);
    if (q->srv != NULL)
        pn_quic_srv_forget(q->srv, q);
    wake_list(&q->streams);
    wake_list(&q->pending);
    pn_quic_schedule(q);        /* the fresh streams and the own reference go there */
}

/* --- the pump ------------------------------------------------------------ */

/* Send the batch of datagrams in q->held (q->heldlen bytes, each q->held_seg
 * but the last, to q->held_to): PN_OK (sent, or lost as UDP may lose it) or
 * PN_AGAIN (what is left stays held; the socket's writability comes back). */
static int
flush_held(pn_quic_conn_t *q)
{
    size_t done = pn_quic_send(pn_quic_held_fd(q), q->held, q->heldlen, q->held_seg,
                               q->srv != NULL ? (struct sockaddr *)&q->held_to : NULL, q->held_tolen);
    if (done == q->heldlen) {
        q->heldlen = 0;
        return PN_OK;
    }
    memmove(q->held, q->held + done, q->heldlen - done);
    q->heldlen -= done;
    if (q->srv != NULL)
        pn_quic_srv_want_write(q->srv, q);
    else if (q->io != NULL)
        ev_io_set(q->io, EV_RD | EV_WR);
    return PN_AGAIN;
}

static void
arm_timer(pn_quic_conn_t *q)
{
    ngtcp2_tstamp exp = ngtcp2_conn_get_expiry(q->c), now = pn_quic_now();
    if (exp == UINT64_MAX) {
        ev_timer_disarm(q->timer);
        return;
    }
    ev_timer_arm(q->timer, exp > now ? (exp - now) / NGTCP2_MILLISECONDS : 0);
}

/* The stream <st> had <nd> bytes (and a FIN when <fin>) taken into a packet. */
static void
stream_advance(pn_quics_t *st, ngtcp2_ssize nd, int fin)
{
    if (nd > 0)
        pn_quic_stream_sent(st, (size_t)nd);
    if (fin && st->unsent == 0)
        st->fin_sent = 1;
    pn_quic_sendq_del(st);
    pn_quic_sendq_add(st);      /* at the tail: the streams take turns */
}

/* One step of the pump over the streams with bytes, in the packet being
 * written at <buf>: the packet's length, 0 when nothing goes now,
 * NGTCP2_ERR_WRITE_MORE to step again, or a fatal ngtcp2 error. */
static ngtcp2_ssize
write_streams(pn_quic_conn_t *q, ngtcp2_path *path, ngtcp2_pkt_info *pi, uint8_t *buf, size_t max,
              ngtcp2_tstamp ts)
{
    pn_quics_t *st = NULL;
    ngtcp2_vec v[16];
    size_t nv = 0, total = 0;
    int64_t sid = -1;
    uint32_t fl = NGTCP2_WRITE_STREAM_FLAG_MORE;
    if (!pn_list_empty(&q->sendq)) {
        st = pn_container_of(q->sendq.next, pn_quics_t, sq);
        if (st->unsent > 0 && ngtcp2_conn_get_max_data_left(q->c) == 0) {
            st = NULL;
        } else {
            sid = st->sid;
            nv = pn_quic_stream_vec(st, v, 16, max);
            for (size_t i = 0; i < nv; i++)
                total += v[i].len;
            if (st->wr_eof && total == st->unsent)
                fl |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
    }
    ngtcp2_ssize nd = -1;
    ngtcp2_ssize n = ngtcp2_conn_writev_stream(q->c, path, pi, buf, max, &nd, fl, sid, v, nv, ts);
    if (n == NGTCP2_ERR_WRITE_MORE) {
        stream_advance(st, nd, (fl & NGTCP2_WRITE_STREAM_FLAG_FIN) != 0);
        return n;
    }
    if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED && st != NULL) {
        st->blocked = 1;
        pn_quic_sendq_del(st);
        return NGTCP2_ERR_WRITE_MORE;
    }
    if ((n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) && st != NULL) {
        /* Shut for writing with bytes or a FIN to send: the peer stopped
         * reading it (STOP_SENDING; ngtcp2 answered RESET_STREAM): the owner
         * must hear it, its bytes will never leave. */
        if (st->err == NULL && !st->closed) {
            st->err = "quic: the peer stopped reading the stream";
            if (st->owned)
                pn_xprt_wake(&st->base);
        }
        pn_quic_sendq_del(st);
        return NGTCP2_ERR_WRITE_MORE;
    }
    if (n >= 0 && st != NULL && nd >= 0)
        stream_advance(st, nd, (fl & NGTCP2_WRITE_STREAM_FLAG_FIN) != 0);
    return n;
}

void
pn_quic_write(pn_quic_conn_t *q)
{
    if (q->fault != NULL || q->c == NULL)
        return;
    if (q->heldlen > 0 && flush_held(q) == PN_AGAIN)
        return;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    ngtcp2_tstamp ts = pn_quic_now();
    /* Room for the largest packet (ngtcp2 keeps others to the path's size; its
     * path MTU probes need the room). */
    size_t max = q->pkt_max;
    /* Packets gather in q->held, sent together (one GSO send where the kernel
     * offers UDP_SEGMENT) when a shorter one ends the batch, the batch is
     * full, or the pump stops. */
    int nseg = 0, again = 0, dg_blocked = 0;
    int npkts = 0;
    q->busy++;
    while (npkts < QUIC_PKTS_TURN) {
        uint8_t *buf = q->held + q->heldlen;
        ngtcp2_ssize n;
        if (!pn_list_empty(&q->dgsendq) && !dg_blocked) {
            /* Datagrams first (they are waited for now), the streams after. */
            n = pn_quic_dgram_write(q, &ps.path, &pi, buf, max, ts);
            if (n == 0) {
                dg_blocked = 1;     /* congestion: the streams' turn, then the next pump */
                continue;
            }
        } else {
            n = write_streams(q, &ps.path, &pi, buf, max, ts);
            if (n == 0)
                break;
        }
        if (n == NGTCP2_ERR_WRITE_MORE)
            continue;
        if (n < 0) {
            q->busy--;
            pn_quic_send_close(q, (int)n);
            pn_quic_fail(q, ngtcp2_strerror((int)n));
            return;
        }
        if (nseg > 0 && ((size_t)n > q->held_seg || !pn_quic_held_same(q, &ps.path))) {
            /* Longer than the batch's packets (a path MTU probe), or another path
             * (a migration): the batch so far leaves first. */
            if (flush_held(q) == PN_AGAIN) {
                again = 1;      /* that packet is lost; QUIC sends it again */
                break;
            }
            memmove(q->held, buf, (size_t)n);   /* flush_held left <buf> as it was */
            nseg = 0;
        }
        if (nseg == 0) {
            q->held_seg = (size_t)n;
            pn_quic_held_set(q, &ps.path);
        }
        q->heldlen += (size_t)n;
        nseg++;
        npkts++;
        if ((size_t)n < q->held_seg || nseg == QUIC_GSO_MAX ||
            q->heldlen + max > sizeof(q->held)) {
            nseg = 0;
            if (flush_held(q) == PN_AGAIN) {
                again = 1;
                break;
            }
        }
    }
    if (!again && q->heldlen > 0)
        (void)flush_held(q);
    ngtcp2_conn_update_pkt_tx_time(q->c, ts);
    q->busy--;
    pn_quic_refused(q);         /* a client's socket refused a send: it moves (quic_tab.c) */
    if (npkts == QUIC_PKTS_TURN)
        pn_quic_schedule(q);    /* more after the others had their turn */
    arm_timer(q);
}

