/* relay/udp.c: UDP sessions over sockets and framed data connections.
 *
 * Datagrams move in bursts: a readable socket is read with recvmmsg() into a
 * per-thread set of slots, and what one read pass sends towards one end of one
 * session waits in a per-thread batch (the "out batch") that leaves in one
 * sendmmsg(), or, towards a data connection, as one write of several frames.
 * The batch belongs to one (session, direction) at a time and is sent before
 * another takes it, before the slots or the stream buffer it points into are
 * reused, and before control leaves this file: it is empty whenever the loop
 * runs, so datagrams of a session keep their order. Each datagram still gets
 * its own bucket check, counters, PROXY header and drop decision.
 *
 * The kernel's offloads carry bulk: every socket asks for UDP_GRO (a train of
 * datagrams read as one buffer is cut back by its segment size), and equal
 * sizes in the out batch leave as one UDP_SEGMENT message each (udp_seg.h),
 * per socket falling back to one datagram per message where refused.
 *
 * When the kernel refuses recvmmsg/sendmmsg (ENOSYS, EINVAL), or
 * POSTERN_NO_MMSG=1 is set, every datagram costs its own system calls and
 * every frame its own write, as before batching.
 *
 * The STREAM end (frames over a data connection) is in udp_stream.c, the
 * scratch area and out batch in udp_batch.c; what the files share is in
 * udp_priv.h. */
#include "relay/udp.h"
#include "relay/udp_priv.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>

static void udp_sess_end(udp_sess_t *s, const char *why);
static void udp_out_flush(void);
static void udp_deliver(udp_sess_t *s, int to_exit, const uint8_t *d, size_t len);

/* The STREAM end's way back into its session (udp_priv.h). */
static const struct udp_up sess_up = {
    .end = udp_sess_end, .deliver = udp_deliver, .flush = udp_out_flush,
};

/* --- table ------------------------------------------------------------- */

static size_t
peer_hash(const pn_addr_t *a)
{
    const uint8_t *p = (const uint8_t *)&a->ss;
    uint32_t h = 2166136261u;
    for (socklen_t i = 0; i < a->len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h % TABLE_BUCKETS;
}

static udp_sess_t *
table_find(udp_table_t *t, const pn_addr_t *peer)
{
    for (udp_sess_t *s = t->buckets[peer_hash(peer)]; s != NULL; s = s->hnext)
        if (pn_addr_equal(&s->peer, peer))
            return s;
    return NULL;
}

static void
table_unlink(udp_sess_t *s)
{
    if (s->t == NULL)
        return;
    udp_sess_t **pp = &s->t->buckets[peer_hash(&s->peer)];
    while (*pp != NULL && *pp != s)
        pp = &(*pp)->hnext;
    if (*pp == s)
        *pp = s->hnext;
    s->t = NULL;
}

/* --- sockets ----------------------------------------------------------- */

/* Ask the kernel to hand <fd>'s datagrams over in GRO trains (refused: one by
 * one, nothing else changes) and, when <gso>, return the largest segment a
 * GSO send on it may carry: its path's MTU less the headers, 0 when the
 * kernel has no UDP_SEGMENT or the path is unknown (not connected). */
static size_t
udp_offload(int fd, int gso)
{
    int one = 1, zero = 0, mtu = 0;
    socklen_t ml = sizeof(mtu);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (fd == -1 || udp_gso_on != 1)
        return 0;
    setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
    if (!gso || udp_mmsg_on != 1 ||
        setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof(zero)) == -1 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
        return 0;
    size_t hdrs;
    if (ss.ss_family == AF_INET) {
        if (getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &ml) == -1)
            return 0;
        hdrs = 20 + 8;
    } else {
        if (getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &ml) == -1)
            return 0;
        hdrs = 40 + 8;
    }
    if (mtu <= (int)hdrs)
        return 0;
    return (size_t)mtu - hdrs < UDP_GSO_BYTES ? (size_t)mtu - hdrs : UDP_GSO_BYTES;
}

/* --- sessions ---------------------------------------------------------- */

static void
udp_sess_end(udp_sess_t *s, const char *why)
{
    char a[PN_ADDRSTRLEN];
    if (s->dead)
        return;
    s->dead = 1;
    if (s->entry == END_PEER)
        log_debug("udp: session %s ended: %s", pn_addr_str(&s->peer, a), why);
    else
        log_debug("udp: session ended: %s", why);
    table_unlink(s);
    if (s->fd_io != NULL)
        ev_io_set(s->fd_io, 0);
    if (s->pfd_io != NULL)
        ev_io_set(s->pfd_io, 0);
    if (s->st.x != NULL)
        pn_xprt_unwatch(s->st.x);
    ev_timer_disarm(s->idle);
    pn_list_del(&s->node);
    pn_list_add(&s->g->dead, &s->node);
    if (s->g->c.sessions != NULL)
        (*s->g->c.sessions)--;
    ev_defer_schedule(s->g->reap);
}

static void out_forget(udp_sess_t *s);

static void
sess_free(udp_sess_t *s)
{
    out_forget(s);
    pn_list_del(&s->node);
    table_unlink(s);
    ev_io_free(s->fd_io);
    pn_close(s->fd);
    ev_io_free(s->pfd_io);
    pn_close(s->pfd);
    pn_xprt_free(s->st.x);
    pn_buf_put(s->st.in);
    free(s->st.out);
    ev_timer_free(s->idle);
    free(s);
}


/* Plan the sends of the out batch's datagrams from <first> (of <n>) through
 * a socket whose largest GSO segment is <seg_max> (0: no GSO): consecutive
 * datagrams that cut back the same way share one message, the kernel cutting
 * it (UDP_SEGMENT). Return how many messages, at most UDP_OUT. */
static unsigned
plan_sends(udp_sess_t *s, int to_exit, unsigned first, unsigned n, size_t seg_max)
{
    struct scratch *x = udp_sc;
    size_t hdr = to_exit ? s->hdr_len : 0;
    unsigned m = 0, v = 0;
    for (unsigned d = first; d < n; m++) {
        unsigned k = udp_gso_take(x->ol + d, n - d, hdr, seg_max);
        struct msghdr *h = &x->smsg[m].msg_hdr;
        memset(h, 0, sizeof(*h));
        h->msg_iov = &x->siov[v];           /* a group's iovecs follow each other */
        for (unsigned i = d; i < d + k; i++) {
            if (hdr > 0)
                x->siov[v++] = (struct iovec){ s->hdr, hdr };
            x->siov[v++] = (struct iovec){ (void *)x->od[i], x->ol[i] };
        }
        h->msg_iovlen = (size_t)(&x->siov[v] - h->msg_iov);
        if (k > 1) {
            h->msg_control = x->sctl[m].b;
            h->msg_controllen = udp_cmsg_segment(x->sctl[m].b, sizeof(x->sctl[m].b),
                                                 (uint16_t)(hdr + x->ol[d]));
        }
        if (!to_exit && s->pfd == -1) {
            /* No socket of its own: the user's address on the table's socket. */
            h->msg_name = &s->peer.ss;
            h->msg_namelen = s->peer.len;
        }
        x->scnt[m] = k;
        d += k;
    }
    return m;
}

/* Send the out batch's <n> datagrams through <s>'s datagram socket <fd>,
 * <to_exit> telling which end that is: groups of equal sizes as one GSO
 * message each, the messages together in one sendmmsg(). A message the
 * kernel refuses gets the single-datagram rules: a target that answers "port
 * unreachable" ends the session (the rest of the batch goes with it, counted
 * as dropped), any other failure drops that message's datagrams and counts
 * them; the send resumes after it. A GSO message refused as such (EINVAL,
 * EIO: a path that cannot segment) turns GSO off on that socket and its
 * datagrams go again one by one. */
static void
dgram_write(udp_sess_t *s, int to_exit, int fd, unsigned n)
{
    size_t *gso = to_exit ? &s->gso_fd : &s->gso_pfd;
    unsigned first = 0;
replan:
    while (first < n && !s->dead) {
        unsigned m = plan_sends(s, to_exit, first, n, *gso);
        struct mmsghdr *msg = udp_sc->smsg;
        unsigned i = 0;
        while (i < m && !s->dead) {
            if (udp_mmsg_on == 1 && m - i > 1) {
                int r = sendmmsg(fd, msg + i, m - i, MSG_NOSIGNAL);
                if (r > 0) {
                    while (r-- > 0)
                        first += udp_sc->scnt[i++];
                    continue;   /* a short count: the next call shows what stopped it */
                }
                if (errno == ENOSYS || errno == EINVAL) {
                    /* Refused as a call, or this message is bad: one alone tells. */
                    int e = errno;
                    if (sendmsg(fd, &msg[i].msg_hdr, MSG_NOSIGNAL) != -1) {
                        errno = e;
                        udp_mmsg_off("sendmmsg");
                        first += udp_sc->scnt[i++];
                        continue;
                    }
                }
            } else if (sendmsg(fd, &msg[i].msg_hdr, MSG_NOSIGNAL) != -1) {
                first += udp_sc->scnt[i++];
                continue;
            }
            if (udp_sc->scnt[i] > 1 && (errno == EINVAL || errno == EIO)) {
                static int told;    /* said once per process, then at debug level */
                if (!told) {
                    told = 1;
                    log_info("udp: the kernel refuses to segment on a path (%s): "
                             "one datagram per message on it", strerror(errno));
                } else {
                    log_debug("udp: no GSO on a path (%s)", strerror(errno));
                }
                *gso = 0;
                goto replan;
            }
            if (to_exit && errno == ECONNREFUSED) {
                /* The datagrams of the batch behind this one go with the session:
                 * dropped, and counted as such. */
                udp_count(s->g->c.drops, n - first - udp_sc->scnt[i]);
                udp_sess_end(s, "target unreachable");
                return;
            }
            udp_count(s->g->c.drops, udp_sc->scnt[i]);
            first += udp_sc->scnt[i++];
        }
    }
}

/* Send what waits in the out batch and empty it. May end its session. */
static void
udp_out_flush(void)
{
    udp_sess_t *s = udp_ob.s;
    int to_exit = udp_ob.to_exit;
    unsigned n = udp_ob.n;
    size_t stage_len = udp_ob.stage_len;

    if (s == NULL)
        return;
    /* Empty first: what the sends call (sess_end) must find no batch. */
    udp_ob.s = NULL;
    udp_ob.n = 0;
    udp_ob.stage_len = 0;
    if (s->dead)
        return;
    if (stage_len > 0) {
        udp_stream_write_batch(s, udp_sc->stage, stage_len);
    } else if (n > 0) {
        int fd = to_exit ? s->fd : s->pfd != -1 ? s->pfd : s->t != NULL ? s->t->fd : -1;
        dgram_write(s, to_exit, fd, n);
    }
}

/* Drop the out batch without sending it if it belongs to <s> (being freed). */
static void
out_forget(udp_sess_t *s)
{
    if (udp_ob.s == s) {
        udp_ob.s = NULL;
        udp_ob.n = 0;
        udp_ob.stage_len = 0;
    }
}

/* Add the datagram <d> (<len> bytes, borrowed until the batch is sent) to the
 * out batch towards <s>'s datagram socket on the end <to_exit> says. */
static void
dgram_push(udp_sess_t *s, int to_exit, const uint8_t *d, size_t len)
{
    if (udp_ob.s != s || udp_ob.to_exit != to_exit || udp_ob.n == UDP_OUT)
        udp_out_flush();
    if (s->dead)
        return;
    struct scratch *x = udp_scratch();
    x->od[udp_ob.n] = d;
    x->ol[udp_ob.n] = len;
    udp_ob.s = s;
    udp_ob.to_exit = to_exit;
    udp_ob.n++;
    if (udp_mmsg_on != 1)
        udp_out_flush();            /* single-datagram path: one send per datagram */
}

/* Send one datagram out of the exit end (from the entry) or the entry end
 * (from the exit): into the out batch, which the caller sends before <d>
 * (borrowed) goes away. */
static void
udp_deliver(udp_sess_t *s, int to_exit, const uint8_t *d, size_t len)
{
    enum end_kind k = to_exit ? s->exit : s->entry;

    s->last_ms = pn_now_ms();
    if (s->g->c.limit != NULL && !pn_bucket_take_all(s->g->c.limit, len, pn_now_us())) {
        udp_count(s->g->c.drops, 1);            /* over the bandwidth: policed */
        return;
    }
    if (to_exit)
        udp_count(s->g->c.rx, len);
    if (k == END_STREAM)
        udp_stream_push(s, to_exit, d, len);
    else
        dgram_push(s, to_exit, d, len);
    if (!to_exit)
        udp_count(s->g->c.tx, len);
}

/* Read at most <max> buffers from <fd> into the scratch slots, with their
 * sources into udp_sc->from when <named> and their GRO segment sizes into
 * udp_sc->gro: recvmmsg(), or one recvmsg() on the single-datagram path. A
 * buffer cut short (larger than a slot) is dropped and counted in <drops>.
 * Return how many were kept (>= 0), or -1 with errno set (EAGAIN when none
 * waits). */
static int
recv_burst(int fd, int max, int named, uint64_t *drops)
{
    struct scratch *x = udp_scratch();
    for (int i = 0; i < max; i++) {
        x->riov[i] = (struct iovec){ x->slot[i], SLOT_LEN };
        x->rmsg[i].msg_hdr = (struct msghdr){
            .msg_name = named ? &x->from[i].ss : NULL,
            .msg_namelen = named ? sizeof(x->from[i].ss) : 0,
            .msg_iov = &x->riov[i],
            .msg_iovlen = 1,
            .msg_control = x->rctl[i].b,
            .msg_controllen = sizeof(x->rctl[i].b),
        };
    }
    int n = -1;
    if (udp_mmsg_on == 1 && max > 1) {
        n = recvmmsg(fd, x->rmsg, (unsigned)max, MSG_DONTWAIT, NULL);
        if (n == 0 || (n == -1 && errno != ENOSYS && errno != EINVAL))
            return -1;
        if (n == -1)
            udp_mmsg_off("recvmmsg");
    }
    if (n == -1) {
        ssize_t r = recvmsg(fd, &x->rmsg[0].msg_hdr, MSG_DONTWAIT);
        if (r == -1)
            return -1;
        x->rmsg[0].msg_len = (unsigned)r;
        n = 1;
    }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        struct msghdr *h = &x->rmsg[i].msg_hdr;
        if (h->msg_flags & MSG_TRUNC) {
            udp_count(drops, 1);
            continue;
        }
        if (kept != i) {
            /* Close the gap a dropped buffer left (rare): slots follow. */
            memmove(x->slot[kept], x->slot[i], x->rmsg[i].msg_len);
            x->from[kept] = x->from[i];
        }
        x->len[kept] = x->rmsg[i].msg_len;
        x->from[kept].len = h->msg_namelen;
        x->gro[kept] = udp_cmsg_gro(h);
        kept++;
    }
    return kept;
}

/* Datagram <j> of the buffer read into slot <i> (a GRO train holds several):
 * its start, and its size into <len>. */
static const uint8_t *
slot_dgram(int i, size_t j, size_t *len)
{
    *len = udp_gro_seg(udp_sc->len[i], udp_sc->gro[i], j);
    return udp_sc->slot[i] + j * udp_sc->gro[i];
}

/* How many datagrams the buffer in slot <i> holds. */
static size_t
slot_count(int i)
{
    return udp_gro_count(udp_sc->len[i], udp_sc->gro[i]);
}

/* How many datagrams to ask the next read for, <done> of the burst read. */
static int
burst_want(int done)
{
    int left = UDP_BURST - done;
    return udp_mmsg_on != 1 ? 1 : left < UDP_MMSG ? left : UDP_MMSG;
}

/* The connected socket towards the target is readable: replies. */
static void
conn_io(int fd, int ready, void *arg)
{
    udp_sess_t *s = arg;
    for (int done = 0; done < UDP_BURST && !s->dead; ) {
        int want = burst_want(done);
        int n = recv_burst(fd, want, 0, s->g->c.drops);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            udp_sess_end(s, errno == ECONNREFUSED ? "target unreachable" : strerror(errno));
            return;
        }
        for (int i = 0; i < n && !s->dead; i++)
            for (size_t j = 0, k = slot_count(i); j < k && !s->dead; j++) {
                size_t len;
                const uint8_t *d = slot_dgram(i, j, &len);
                udp_deliver(s, 0, d, len);
            }
        udp_out_flush();
        done += n;
        if (n < want && udp_mmsg_on == 1)
            return;             /* drained; a later datagram or error brings us back */
    }
}

static void table_dispatch(udp_table_t *t, const pn_addr_t *peer, const uint8_t *d, size_t n);

/* The user's own connected socket is readable: its datagrams. Between its
 * bind() and its connect() the socket was an unconnected member of the
 * listening address's SO_REUSEPORT group, so the kernel may have queued
 * another user's datagram on it then: check each source and hand strangers to
 * the table, as if they had arrived on the listening socket. */
static void
peer_io(int fd, int ready, void *arg)
{
    udp_sess_t *s = arg;
    for (int done = 0; done < UDP_BURST && !s->dead; ) {
        int want = burst_want(done);
        int n = recv_burst(fd, want, 1, s->g->c.drops);
        if (n == -1)
            return;             /* EAGAIN, or an ICMP error for a reply: nothing to do */
        for (int i = 0; i < n && !s->dead; i++) {
            int mine = pn_addr_equal(&udp_sc->from[i], &s->peer);
            for (size_t j = 0, k = slot_count(i); j < k && !s->dead; j++) {
                size_t len;
                const uint8_t *d = slot_dgram(i, j, &len);
                if (mine)
                    udp_deliver(s, 1, d, len);
                else if (s->t != NULL)
                    table_dispatch(s->t, &udp_sc->from[i], d, len);
            }
        }
        udp_out_flush();
        done += n;
        if (n < want && udp_mmsg_on == 1)
            return;
    }
}

static long
on_idle(ev_timer_t *t, void *arg)
{
    udp_sess_t *s = arg;
    uint64_t idle = pn_now_ms() - s->last_ms;
    if (idle >= s->g->idle_ms) {
        udp_sess_end(s, "idle");
        return EV_TIMER_STOP;
    }
    return (long)(s->g->idle_ms - idle);
}

static udp_sess_t *
sess_new(udp_group_t *g, int fd, pn_xprt_t *x)
{
    udp_sess_t *s = xcalloc(sizeof(*s));
    s->g = g;
    s->fd = fd;
    s->pfd = -1;
    s->last_ms = pn_now_ms();
    s->gso_fd = udp_offload(fd, 1);
    if (fd != -1) {
        s->fd_io = ev_io_new(g->loop, fd, conn_io, s);
        ev_io_set(s->fd_io, EV_RD);
    }
    if (x != NULL) {
        s->st.x = x;
        pn_xprt_watch(x, g->loop, EV_RD, udp_stream_ready, s);
        if (x->ops->dgram_max != NULL)
            (void)x->ops->dgram_max(x);     /* datagrams beside the stream wake us from now on */
    }
    s->idle = ev_timer_new(g->loop, on_idle, s);
    ev_timer_arm(s->idle, g->idle_ms);
    pn_list_add(&g->live, &s->node);
    if (g->c.sessions != NULL)
        (*g->c.sessions)++;
    return s;
}

udp_sess_t *
udp_sess_new_peer(udp_table_t *t, const pn_addr_t *peer, int fd, pn_xprt_t *x)
{
    udp_sess_t *s = sess_new(t->g, fd, x);
    s->entry = END_PEER;
    s->exit = x != NULL ? END_STREAM : END_CONN;
    s->peer = *peer;
    s->t = t;
    s->pfd = pn_udp_peer_socket(t->fd, peer);
    s->gso_pfd = udp_offload(s->pfd, 1);
    if (s->pfd != -1) {
        s->pfd_io = ev_io_new(t->loop, s->pfd, peer_io, s);
        ev_io_set(s->pfd_io, EV_RD);
    }
    size_t b = peer_hash(peer);
    s->hnext = t->buckets[b];
    t->buckets[b] = s;
    return s;
}

udp_sess_t *
udp_sess_new_stream(udp_group_t *g, pn_xprt_t *x, int fd, const uint8_t *hdr, size_t hdr_len)
{
    udp_sess_t *s = sess_new(g, fd, x);
    s->entry = END_STREAM;
    s->exit = END_CONN;
    udp_sess_set_header(s, hdr, hdr_len);
    /* Bytes may already wait, read or decrypted, behind the data connection. */
    udp_stream_ready(x, EV_RD, s);
    return s;
}

void
udp_sess_set_header(udp_sess_t *s, const uint8_t *hdr, size_t len)
{
    s->hdr_len = len <= sizeof(s->hdr) ? len : 0;
    if (s->hdr_len > 0)
        memcpy(s->hdr, hdr, s->hdr_len);
}

const pn_addr_t *
udp_table_local(const udp_table_t *t)
{
    return &t->local;
}

void
udp_sess_from_entry(udp_sess_t *s, const uint8_t *d, size_t len)
{
    if (!s->dead)
        udp_deliver(s, 1, d, len);
    udp_out_flush();                /* <d> is borrowed for the call only */
}

/* --- groups ------------------------------------------------------------ */

static void
on_reap(void *arg)
{
    udp_group_t *g = arg;
    while (!pn_list_empty(&g->dead))
        sess_free(pn_container_of(g->dead.next, udp_sess_t, node));
}

udp_group_t *
udp_group_new(ev_loop_t *loop, uint64_t idle_ms, const udp_counters_t *c)
{
    udp_group_t *g = xcalloc(sizeof(*g));
    udp_mmsg_init();
    g->up = &sess_up;
    g->loop = loop;
    g->idle_ms = idle_ms;
    if (c != NULL)
        g->c = *c;
    pn_list_init(&g->live);
    pn_list_init(&g->dead);
    g->reap = ev_defer_new(loop, on_reap, g);
    return g;
}

void
udp_group_close_all(udp_group_t *g)
{
    while (!pn_list_empty(&g->live))
        udp_sess_end(pn_container_of(g->live.next, udp_sess_t, node), "closed");
}

void
udp_group_free_(udp_group_t *g)
{
    if (g == NULL)
        return;
    udp_group_close_all(g);
    on_reap(g);
    ev_defer_free(g->reap);
    free(g);
}

/* --- table ------------------------------------------------------------- */

static void
table_io(int fd, int ready, void *arg)
{
    udp_table_t *t = arg;
    for (int done = 0; done < UDP_BURST; ) {
        int want = burst_want(done);
        int n = recv_burst(fd, want, 1, t->g->c.drops);
        if (n == -1)
            return;             /* EAGAIN, or an ICMP error for an earlier reply: nothing to do */
        for (int i = 0; i < n; i++)
            for (size_t j = 0, k = slot_count(i); j < k; j++) {
                size_t len;
                const uint8_t *d = slot_dgram(i, j, &len);
                table_dispatch(t, &udp_sc->from[i], d, len);
            }
        udp_out_flush();
        done += n;
        if (n < want && udp_mmsg_on == 1)
            return;
    }
}

/* A datagram <d> of <n> bytes from <peer>: to its session, or to the owner to
 * start one. <d> stays valid until the out batch is sent. */
static void
table_dispatch(udp_table_t *t, const pn_addr_t *peer, const uint8_t *d, size_t n)
{
    udp_sess_t *s = table_find(t, peer);
    if (s != NULL)
        udp_deliver(s, 1, d, n);
    else
        t->cb(t, peer, d, n, t->ctx);
}

udp_table_t *
udp_table_new(ev_loop_t *loop, int fd, udp_group_t *g, udp_new_peer_cb cb, void *ctx)
{
    udp_table_t *t = xcalloc(sizeof(*t));
    udp_mmsg_init();
    t->loop = loop;
    t->fd = fd;
    t->g = g;
    t->cb = cb;
    t->ctx = ctx;
    t->local.len = sizeof(t->local.ss);
    if (getsockname(fd, (struct sockaddr *)&t->local.ss, &t->local.len) == -1)
        memset(&t->local, 0, sizeof(t->local));
    udp_offload(fd, 0);
    t->io = ev_io_new(loop, fd, table_io, t);
    ev_io_set(t->io, EV_RD);
    return t;
}

void
udp_table_free_(udp_table_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < TABLE_BUCKETS; i++)
        for (udp_sess_t *s = t->buckets[i]; s != NULL; s = s->hnext)
            s->t = NULL;
    ev_io_free(t->io);
    pn_close(t->fd);
    free(t);
}
