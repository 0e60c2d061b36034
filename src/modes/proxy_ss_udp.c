/* modes/proxy_ss_udp.c: the UDP relay of the Shadowsocks port (ss=,
 * docs/proxy.md §5): the same address's UDP socket takes datagrams sealed as
 * SIP004 says (salt | sealed address and data | tag, tls/ss.h). A source
 * address seen before is a session: its datagrams are opened with its user's
 * key alone. A new source is identified by the first key that opens its
 * datagram (constant-time tag checks, at most SSU_TRY_MAX keys, the work
 * bounded by SSU_TRIAL_RATE bytes a second over all sources and by the
 * failed-authentication guard of the TCP side), then admitted as a
 * connection of that user. Its datagrams go out as a SOCKS5 association's
 * do (modes/proxy_udp.c: allow=, names, via=); answers come back sealed under
 * the user's key with a fresh salt, from the same socket.
 *
 *   client --sealed--> fd --(session: its key | new: try the keys)--> open
 *       --ATYP ADDR PORT | data--> association --> destination (or a node)
 *   client <--sealed-- fd <--seal(address | data)-- association <-- answer */
#include "core/log.h"
#include "core/mem.h"
#include "modes/proxy_priv.h"
#include "net/sock.h"

#include <string.h>
#include <sys/socket.h>

#define SSU_TRY_MAX 1024            /* keys tried on a new source's datagram */
#define SSU_TRIAL_RATE (64u << 20)  /* bytes opened a second to identify new sources */
#define SSU_SESS_MAX 4096           /* sessions at once on the port */
#define SSU_BUCKETS 1024            /* the sessions' hash table */
#define SSU_BURST 64                /* datagrams read per wake-up */

struct proxy_ssu {
    proxy_t *p;                 /* borrowed */
    int fd;                     /* owned: the UDP socket of ss= */
    ev_io_t *io;                /* owned */
    pn_ss_aead_t *open, *seal;  /* owned: re-keyed for each datagram */
    pn_bucket_t trial;          /* trial openings of new sources */
    pn_list_t tab[SSU_BUCKETS]; /* struct ssu_sess by source address */
    size_t n;
    int draining;               /* no new session */
    pn_ratelim_t note;          /* refusal notes other than failed authentications */
};

/* One client address: a connection of its user (c->udp). */
struct ssu_sess {
    pn_list_t node;             /* in its bucket of the table */
    struct proxy_ssu *s;        /* borrowed */
    pconn_t *c;                 /* borrowed: owns this session */
    struct passoc *a;           /* owned: the sending half */
    pn_addr_t client;
    uint64_t last_ms;           /* the last datagram either way */
    ev_timer_t *idle;           /* owned */
};

/* One datagram at a time: opened, then an answer's plaintext, then sealed. */
static uint8_t pkt[65536], plain_in[65536], plain_out[65536], sealed[65536];

static size_t
addr_hash(const pn_addr_t *a)
{
    uint32_t h = 2166136261u;
    const uint8_t *b = (const uint8_t *)&a->ss;
    for (socklen_t i = 0; i < a->len; i++)
        h = (h ^ b[i]) * 16777619u;
    return h % SSU_BUCKETS;
}

static struct ssu_sess *
find(struct proxy_ssu *s, const pn_addr_t *from)
{
    pn_list_t *b = &s->tab[addr_hash(from)];
    for (pn_list_t *l = b->next; l != b; l = l->next) {
        struct ssu_sess *ss = pn_container_of(l, struct ssu_sess, node);
        if (pn_addr_equal(&ss->client, from))
            return ss;
    }
    return NULL;
}

static void
sess_free(void *arg)
{
    struct ssu_sess *ss = arg;
    pn_list_del(&ss->node);
    ss->s->n--;
    proxy_udp_free(ss->a);
    ev_timer_free(ss->idle);
    free(ss);
}

/* An answer: ATYP ADDR PORT | data, sealed under the user's key, to the client. */
static void
ss_reply(void *ctx, const uint8_t *hdr, size_t hl, const uint8_t *d, size_t n)
{
    struct ssu_sess *ss = ctx;
    struct proxy_ssu *s = ss->s;
    if (hl + n > PN_SS_UDP_PAYLOAD_MAX) {
        s->p->in.stats.udp_drops++;
        return;
    }
    memcpy(plain_out, hdr, hl);
    memcpy(plain_out + hl, d, n);
    size_t m = pn_ss_udp_seal(s->seal, ss->c->u->ss_key, plain_out, hl + n, sealed);
    memset(plain_out, 0, hl + n);
    if (m == 0 || sendto(s->fd, sealed, m, 0, (const struct sockaddr *)&ss->client.ss,
                         ss->client.len) == -1)
        s->p->in.stats.udp_drops++;
    ss->last_ms = pn_now_ms();
}

static long
on_idle(ev_timer_t *t, void *arg)
{
    struct ssu_sess *ss = arg;
    uint64_t idle = ss->s->p->in.cfg->udp_idle_ms, now = pn_now_ms();
    if (now - ss->last_ms >= idle) {
        pconn_free(ss->c);          /* frees <ss> */
        return EV_TIMER_STOP;
    }
    return (long)(idle - (now - ss->last_ms));
}

/* A session for the new source <from> of the admitted user <u>. */
static struct ssu_sess *
sess_new(struct proxy_ssu *s, const pn_addr_t *from, puser_t *u)
{
    proxy_t *p = s->p;
    pconn_t *c = xcalloc(sizeof(*c));
    c->p = p;
    c->peer = *from;
    c->dfd = -1;
    c->ss = 1;
    c->auth = c->u = u;
    c->st = PC_UDP;
    pn_list_add(&u->conns, &c->link);
    p->in.stats.udps++;
    struct ssu_sess *ss = xcalloc(sizeof(*ss));
    ss->s = s;
    ss->c = c;
    ss->client = *from;
    ss->a = proxy_udp_assoc_new(c, ss_reply, ss);
    ss->last_ms = pn_now_ms();
    ss->idle = ev_timer_new(p->in.loop, on_idle, ss);
    ev_timer_arm(ss->idle, p->in.cfg->udp_idle_ms);
    pn_list_add(&s->tab[addr_hash(from)], &ss->node);
    s->n++;
    c->udp = ss;
    c->udp_free = sess_free;
    return ss;
}

/* A line about a dropped datagram, at most one a second through <r>. */
static void
note(pn_ratelim_t *r, const pn_addr_t *from, const char *user, const char *why)
{
    char a[PN_ADDRSTRLEN];
    uint64_t held;
    if (pn_ratelim_pass(r, pn_now_ms(), &held))
        log_info("proxy: %s%s%s: ss udp: %s", pn_addr_str(from, a), user ? " user " : "",
                 user ? user : "", why);
}

/* The session of a datagram from a new source: the user whose key opens it,
 * admitted. NULL when none (the datagram is dropped, the reason noted). */
static struct ssu_sess *
identify(struct proxy_ssu *s, const pn_addr_t *from, size_t n, size_t *len)
{
    proxy_t *p = s->p;
    uint64_t now = pn_now_ms();
    size_t nk = p->nss < SSU_TRY_MAX ? p->nss : SSU_TRY_MAX;
    if (s->draining || s->n >= SSU_SESS_MAX || nk == 0) {
        p->in.stats.refused++;
        return NULL;
    }
    if (!tun_guard_admit(&p->guard, from, now)) {
        p->in.stats.refused++;
        return NULL;
    }
    if (!pn_bucket_take_all(&s->trial, (uint64_t)n * nk, pn_now_us())) {
        tun_guard_done(&p->guard, from, 1, now);        /* not the source's failure */
        p->in.stats.udp_drops++;
        note(&s->note, from, NULL, "too many new sources at once: datagram dropped");
        return NULL;
    }
    long i = pn_ss_udp_open(s->open, pkt, n, (const uint8_t (*)[PN_SS_KEY_LEN])p->ss_keys, nk,
                            plain_in, len);
    if (i < 0) {
        char a[PN_ADDRSTRLEN];
        if (tun_guard_done(&p->guard, from, 0, now))
            log_warn("proxy: %s: %d failed authentications, refused for %d s",
                     pn_addr_ip(from, a), PROXY_AUTH_FAILS, PROXY_AUTH_BAN_MS / 1000);
        p->in.stats.refused++;
        note(&p->fail_log, from, NULL, "authentication failed (no user's key opens the datagram)");
        return NULL;
    }
    tun_guard_done(&p->guard, from, 1, now);
    puser_t *u = p->ss_who[i];
    const char *why = proxy_admit(p, u);
    if (why != NULL) {
        memset(plain_in, 0, *len);
        note(&s->note, from, u->spec.name, why);
        return NULL;
    }
    return sess_new(s, from, u);
}

static void
on_packet(int fd, int ready, void *arg)
{
    struct proxy_ssu *s = arg;
    proxy_t *p = s->p;
    for (int burst = 0; burst < SSU_BURST; burst++) {
        pn_addr_t from = { .len = sizeof(from.ss) };
        ssize_t n = recvfrom(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&from.ss, &from.len);
        if (n < 0)
            return;
        size_t len = 0;
        struct ssu_sess *ss = find(s, &from);
        if (ss != NULL) {
            const uint8_t (*k)[PN_SS_KEY_LEN] = (const uint8_t (*)[PN_SS_KEY_LEN])ss->c->u->ss_key;
            if (pn_ss_udp_open(s->open, pkt, (size_t)n, k, 1, plain_in, &len) < 0) {
                p->in.stats.udp_drops++;
                continue;
            }
        } else if ((ss = identify(s, &from, (size_t)n, &len)) == NULL) {
            continue;
        }
        socks_dest_t d;
        int a = socks_parse_addr(plain_in, len, &d);
        if (a <= 0) {
            p->in.stats.udp_drops++;
            note(&s->note, &from, ss->c->u->spec.name, "malformed target address");
        } else {
            ss->last_ms = pn_now_ms();
            proxy_udp_assoc_send(ss->a, &d, plain_in + a, len - (size_t)a);
        }
        memset(plain_in, 0, len);
    }
}

int
proxy_ssu_start(proxy_t *p, const pn_addr_t *at, char *err)
{
    int fd = pn_listen_udp(at, err);
    if (fd == -1)
        return PN_ERR;
    struct proxy_ssu *s = xcalloc(sizeof(*s));
    s->p = p;
    s->fd = fd;
    s->note.interval_ms = 1000;
    s->open = pn_ss_aead_new(p->ss_method, 0);
    s->seal = pn_ss_aead_new(p->ss_method, 1);
    pn_bucket_init(&s->trial, SSU_TRIAL_RATE, SSU_TRIAL_RATE, pn_now_us());
    for (size_t i = 0; i < SSU_BUCKETS; i++)
        pn_list_init(&s->tab[i]);
    s->io = ev_io_new(p->in.loop, fd, on_packet, s);
    ev_io_set(s->io, EV_RD);
    p->ssu = s;
    return PN_OK;
}

void
proxy_ssu_drain(proxy_t *p)
{
    if (p->ssu != NULL)
        p->ssu->draining = 1;
}

void
proxy_ssu_free(proxy_t *p)
{
    struct proxy_ssu *s = p->ssu;
    if (s == NULL)
        return;
    for (size_t i = 0; i < SSU_BUCKETS; i++)
        while (!pn_list_empty(&s->tab[i]))
            pconn_free(pn_container_of(s->tab[i].next, struct ssu_sess, node)->c);
    ev_io_free(s->io);
    pn_close(s->fd);
    pn_ss_aead_free(s->open);
    pn_ss_aead_free(s->seal);
    free(s);
    p->ssu = NULL;
}
