/* tls/quic_tab.c: the reading of a QUIC socket, and the listener's table of
 * connection ids (see quic_priv.h): each datagram reaches the connection its Destination
 * Connection ID names. Ids are random (ours) or the client's first choice;
 * the hash is seeded per listener, so a client cannot aim its ids at one
 * bucket. */
#include "core/mem.h"
#include "tls/quic_priv.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t
cid_hash(const pn_quic_srv_t *s, const uint8_t *b, size_t len)
{
    uint32_t h = 2166136261u ^ s->seed;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 16777619u;
    return h % QUIC_CID_BUCKETS;
}

pn_quic_conn_t *
pn_quic_srv_find(const pn_quic_srv_t *s, const uint8_t *b, size_t len)
{
    for (struct cident *e = s->tab[cid_hash(s, b, len)]; e != NULL; e = e->next)
        if (e->len == len && memcmp(e->b, b, len) == 0)
            return e->q;
    return NULL;
}

int
pn_quic_srv_cid_add(pn_quic_srv_t *s, const ngtcp2_cid *cid, pn_quic_conn_t *q)
{
    if (cid->datalen > NGTCP2_MAX_CIDLEN)
        return -1;
    if (pn_quic_srv_find(s, cid->data, cid->datalen) != NULL)
        return pn_quic_srv_find(s, cid->data, cid->datalen) == q ? 0 : -1;
    struct cident *e = xcalloc(sizeof(*e));
    size_t h = cid_hash(s, cid->data, cid->datalen);
    e->q = q;
    e->len = cid->datalen;
    memcpy(e->b, cid->data, cid->datalen);
    e->next = s->tab[h];
    s->tab[h] = e;
    if (pn_list_empty(&q->srv_node)) {
        pn_list_add(&s->conns, &q->srv_node);
        s->nconns++;
    }
    return 0;
}

int
pn_quic_srv_reset_token(const pn_quic_srv_t *s, const ngtcp2_cid *cid, uint8_t *token)
{
    return ngtcp2_crypto_generate_stateless_reset_token(token, s->gate.reset_key,
                                                        sizeof(s->gate.reset_key), cid);
}

int
pn_quic_reset_token(pn_quic_conn_t *q, const ngtcp2_cid *cid, uint8_t *token)
{
    if (q->srv == NULL)         /* a client's: nobody resets on its behalf */
        return pn_random(token, NGTCP2_STATELESS_RESET_TOKENLEN);
    return pn_quic_srv_reset_token(q->srv, cid, token);
}

void
pn_quic_srv_cid_del(pn_quic_srv_t *s, const ngtcp2_cid *cid)
{
    for (struct cident **p = &s->tab[cid_hash(s, cid->data, cid->datalen)]; *p != NULL;
         p = &(*p)->next) {
        if ((*p)->len == cid->datalen && memcmp((*p)->b, cid->data, cid->datalen) == 0) {
            struct cident *e = *p;
            *p = e->next;
            free(e);
            return;
        }
    }
}

/* Forget every id of <q> and <q> itself (it ended). */
void
pn_quic_srv_forget(pn_quic_srv_t *s, pn_quic_conn_t *q)
{
    if (pn_list_empty(&q->srv_node))
        return;
    ngtcp2_cid ids[16];
    size_t n = q->c != NULL ? ngtcp2_conn_get_num_scid(q->c) : 0;
    if (n > 0 && n <= 16) {
        ngtcp2_conn_get_scid(q->c, ids);
        for (size_t i = 0; i < n; i++)
            pn_quic_srv_cid_del(s, &ids[i]);
    } else {
        for (size_t i = 0; i < QUIC_CID_BUCKETS; i++) {
            for (struct cident **p = &s->tab[i]; *p != NULL;) {
                struct cident *e = *p;
                if (e->q == q) {
                    *p = e->next;
                    free(e);
                } else {
                    p = &e->next;
                }
            }
        }
    }
    if (q->c != NULL) {
        const ngtcp2_cid *od = ngtcp2_conn_get_client_initial_dcid(q->c);
        if (pn_quic_srv_find(s, od->data, od->datalen) == q)
            pn_quic_srv_cid_del(s, od);
    }
    pn_list_del(&q->srv_node);
    pn_list_del(&q->wnode);
    s->nconns--;
}

void
pn_quic_srv_want_write(pn_quic_srv_t *s, pn_quic_conn_t *q)
{
    if (pn_list_empty(&q->wnode))
        pn_list_add(&s->wq, &q->wnode);
    ev_io_set(s->io, EV_RD | EV_WR);
}

static int gso_off;                 /* the kernel refused UDP_SEGMENT once: not again */

void
pn_quic_gro(int fd)
{
    int one = 1;
    (void)setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
}

int
pn_quic_recv(int fd, int max, pn_quic_pkt_cb fn, void *ctx)
{
    static __thread uint8_t buf[65536];
    int n = 0;
    for (int i = 0; i < max; i++) {
        struct sockaddr_storage from;
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr m = {
            .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
        };
        ssize_t r = recvmsg(fd, &m, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            continue;           /* ECONNREFUSED (nobody there yet): QUIC retries */
        }
        size_t seg = (size_t)r;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c))
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                int g;
                memcpy(&g, CMSG_DATA(c), sizeof(g));
                if (g > 0)
                    seg = (size_t)g;
            }
        for (size_t off = 0; off < (size_t)r || r == 0; off += seg) {
            size_t k = (size_t)r - off < seg ? (size_t)r - off : seg;
            fn(ctx, buf + off, k, (struct sockaddr *)&from, m.msg_namelen);
            if (r == 0)
                break;
        }
        n++;
    }
    return n;
}

static __thread int send_broke;     /* a connected socket's refusal: its errno, or 0 */

/* Whether the send that failed with errno <e> says the path of a connected
 * socket is broken (a filter, a route or a local address gone), not only full. */
static void
note_refusal(const struct sockaddr *to, int e)
{
    if (to == NULL && (e == EPERM || e == EACCES || e == ENETUNREACH || e == EHOSTUNREACH ||
                       e == ENETDOWN || e == EADDRNOTAVAIL))
        send_broke = e;
}

void
pn_quic_refused(pn_quic_conn_t *q)
{
    int e = send_broke;
    send_broke = 0;
    if (e != 0 && q->refused != NULL)
        q->refused(q, e);
}

ngtcp2_tstamp
pn_quic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ngtcp2_tstamp)ts.tv_sec * NGTCP2_SECONDS + (ngtcp2_tstamp)ts.tv_nsec;
}

size_t
pn_quic_send(int fd, const uint8_t *b, size_t len, size_t seg, const struct sockaddr *to,
             socklen_t tolen)
{
    if (len > seg && !gso_off) {
        char cbuf[CMSG_SPACE(sizeof(uint16_t))];
        struct iovec iov = { (void *)b, len };
        struct msghdr m = {
            .msg_name = (void *)to, .msg_namelen = to != NULL ? tolen : 0, .msg_iov = &iov,
            .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
        };
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        uint16_t s16 = (uint16_t)seg;
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(s16));
        memcpy(CMSG_DATA(c), &s16, sizeof(s16));
        if (sendmsg(fd, &m, MSG_DONTWAIT) >= 0)
            return len;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
            return 0;
        if (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP) {
            gso_off = 1;        /* no GSO here: one datagram at a time from now on */
        } else {
            note_refusal(to, errno);
            return len;         /* lost, as UDP may lose it */
        }
    }
    size_t off = 0;
    while (off < len) {
        size_t k = len - off < seg ? len - off : seg;
        if (sendto(fd, b + off, k, MSG_DONTWAIT, to, to != NULL ? tolen : 0) < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
                return off;
            note_refusal(to, errno);
        }
        off += k;
    }
    return len;
}
