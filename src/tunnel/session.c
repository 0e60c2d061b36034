/* tunnel/session.c: one tunnel session (see session.h): control channel,
 * keys, replay and VERIFY state, health, links, and the take of a channel. */
#include "tunnel/session.h"
#include "core/bucket.h"
#include "core/mem.h"
#include "tunnel/auth.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define FLUSH_MIN_TAKES 4       /* takes in an interval before the failure ratio counts */

struct tun_take {
    pn_list_t node;             /* in tun_sess.takes_waiting */
    tun_sess_t *s;              /* back pointer */
    ev_timer_t *timer;          /* owned: the wait's deadline */
    tun_take_cb cb;
    void *arg;                  /* borrowed */
    uint64_t since_us;          /* when it began to wait */
};

static void
take_free(tun_take_t *t)
{
    pn_list_del(&t->node);
    t->s->nwaiting--;
    ev_timer_free(t->timer);
    free(t);
}

void
tun_take_cancel(tun_take_t *t)
{
    if (t != NULL)
        take_free(t);
}

/* Finish <t> with <x> (or NULL): free it first, so the callback may take again. */
static void
take_done(tun_take_t *t, pn_xprt_t *x, const uint8_t *id)
{
    tun_take_cb cb = t->cb;
    void *arg = t->arg;
    take_free(t);
    cb(x, id, arg);
}

static long
on_take_timeout(ev_timer_t *tm, void *arg)
{
    tun_take_t *t = arg;
    log_debug("%s: no pooled data connection in time", t->s->o.who);
    take_done(t, NULL, NULL);
    return EV_TIMER_STOP;
}

tun_take_t *
tun_sess_take(tun_sess_t *s, tun_take_cb cb, void *arg)
{
    uint8_t id[PN_CONN_ID_LEN];
    pn_xprt_t *x = s->ready && s->dchan != NULL ? tun_dchan_take(s->dchan, id) : NULL;
    if (s->hooks.taken != NULL)
        s->hooks.taken(s, s->hooks.ctx);
    if (x != NULL) {
        s->takes++;
        s->takes_total++;
        if (s->take_hist != NULL)
            pn_prom_hist_observe(s->take_hist, 0);
        cb(x, id, arg);
        return NULL;
    }
    tun_take_t *t = xcalloc(sizeof(*t));
    t->s = s;
    t->cb = cb;
    t->arg = arg;
    t->since_us = pn_now_us();
    t->timer = ev_timer_new(s->loop, on_take_timeout, t);
    ev_timer_arm(t->timer, s->o.wait_ms);
    pn_list_add(&s->takes_waiting, &t->node);
    s->nwaiting++;
    return t;
}

pn_xprt_t *
tun_sess_take_id(tun_sess_t *s, const uint8_t *id)
{
    s->takes++;
    pn_xprt_t *x = s->dchan != NULL ? tun_dchan_take_id(s->dchan, id) : NULL;
    if (x == NULL)
        s->fails++;
    else
        s->takes_total++;
    return x;
}

void
tun_sess_put(tun_sess_t *s, pn_xprt_t *x, const uint8_t *id)
{
    if (!pn_list_empty(&s->takes_waiting)) {
        tun_take_t *t = pn_container_of(s->takes_waiting.next, tun_take_t, node);
        s->takes++;
        s->takes_total++;
        if (s->take_hist != NULL)
            pn_prom_hist_observe(s->take_hist, pn_now_us() - t->since_us);
        take_done(t, x, id);
        return;
    }
    if (s->dchan == NULL) {
        log_debug("%s: a data connection without a session closed", s->o.who);
        pn_xprt_free(x);
        return;
    }
    tun_dchan_put(s->dchan, id, x);
}

/* The epoch <s> is in, counted from its HELLO. */
static uint32_t
sess_epoch(const tun_sess_t *s)
{
    return (uint32_t)((pn_now_ms() - s->hello_ms) / ((uint64_t)s->epoch_s * 1000));
}

/* The DATA_HELLO proof of <id> under <s>'s secret into <proof>: in the
 * current epoch when the server's HELLO named one (see session.h). */
void
tun_sess_proof(const tun_sess_t *s, const uint8_t *id, uint8_t *proof)
{
    if (s->epoch_s != 0)
        tun_proof_at(s->secret, id, sess_epoch(s), proof);
    else
        tun_proof(s->secret, id, proof);
}

/* A proof in an epoch next to ours (the dialing end's clock starts later than
 * ours, by the HELLO's way, and may run a little faster): 1 if <id> is new in
 * it, 0 when seen or its epoch is full; -1 when the proof is in none. */
static int
admit_epoch(tun_sess_t *s, const uint8_t *id, const uint8_t *proof)
{
    uint32_t e = sess_epoch(s);
    uint32_t tries[3] = { e, e + 1, e - 1 };
    for (size_t i = 0; i < (e > 0 ? 3u : 2u); i++) {
        if (!tun_proof_at_ok(s->secret, id, tries[i], proof))
            continue;
        s->epoch_proofs = 1;
        int rc = tun_seen_win_add(&s->win, tries[i], id);
        if (rc == PN_AGAIN)
            log_debug("%s: %u data channels in one %u s epoch: refusing more until the next",
                     s->o.who, TUN_SEEN_EPOCH_MAX, s->epoch_s);
        return rc == PN_OK;
    }
    return -1;
}

int
tun_sess_admit(tun_sess_t *s, const uint8_t *id, const uint8_t *proof)
{
    if (s->ctrl == NULL)
        return 0;
    if (s->epoch_s != 0) {
        int ok = admit_epoch(s, id, proof);
        if (ok >= 0 || s->epoch_proofs)
            return ok > 0;  /* once the peer proves in epochs, nothing else is good */
    }
    if (!tun_proof_ok(s->secret, id, proof))
        return 0;
    int rc = tun_seen_add(&s->seen, id);
    if (rc == PN_AGAIN) {
        /* A million connections on one secret: make the peer start a new session. */
        tun_ctrl_fail(s->ctrl, PN_EC_SHUTDOWN, "session rotation");
        return 0;
    }
    return rc == PN_OK;
}

void
tun_sess_check(tun_sess_t *s)
{
    if (s->ctrl != NULL && s->takes >= FLUSH_MIN_TAKES && s->fails * 2 > s->takes) {
        log_warn("%s: %llu of %llu pool takes failed, flushing the pool", s->o.who,
                 (unsigned long long)s->fails, (unsigned long long)s->takes);
        tun_ctrl_send(s->ctrl, PN_FT_FLUSH, NULL, 0);
        tun_dchan_trim(s->dchan, 0);
    }
    s->takes = s->fails = 0;
}

size_t
tun_sess_idle(const tun_sess_t *s)
{
    return s->dchan != NULL ? tun_dchan_idle(s->dchan) : 0;
}

uint64_t
tun_sess_rtt(const tun_sess_t *s)
{
    return s->ctrl != NULL ? tun_ctrl_rtt(s->ctrl) : 0;
}

/* ---- the control channel ------------------------------------------------------ */

static int
error_is_shutdown(const pn_frame_t *f)
{
    uint16_t code;
    char reason[PN_ERROR_REASON_MAX + 1];
    const char *why;
    return pn_error_decode(f->payload, f->len, &code, reason, &why) == PN_OK &&
           code == PN_EC_SHUTDOWN;
}

static void
log_peer_error(tun_sess_t *s, const pn_frame_t *f)
{
    uint16_t code;
    char reason[PN_ERROR_REASON_MAX + 1];
    const char *why;
    /* The accepting end notes what its peer reported; a dialing end was refused. */
    enum log_level lvl = s->o.accepting ? LOG_WARN : LOG_ERROR;
    const char *what = s->o.accepting ? "reported" : "refused:";
    int ok = pn_error_decode(f->payload, f->len, &code, reason, &why) == PN_OK;
    if (ok && code == PN_EC_SHUTDOWN) {
        /* A peer that stops says so: a normal end, not an error. */
        log_info("%s: the %s is stopping: %s", s->o.who, s->o.peer, reason);
        return;
    }
    if (ok)
        log_msg(lvl, "%s: %s %s %s: %s", s->o.who, s->o.peer, what, pn_frame_err_name(code), reason);
    else
        log_msg(lvl, "%s: %s %s a malformed ERROR (%s)", s->o.who, s->o.peer, what, why);
}

/* VERIFY on the accepting end: the fingerprint of the data certificate the
 * peer saw, against ours; allowed once and only with tls=1. */
static void
verify_check(tun_sess_t *s, const pn_frame_t *f)
{
    if (s->o.tls != 1 || s->verified || f->len != PN_TLS_FP_LEN) {
        tun_ctrl_fail(s->ctrl, PN_EC_PROTOCOL, "unexpected VERIFY");
        return;
    }
    s->verified = 1;
    if (pn_memeq_ct(f->payload, s->o.fp, PN_TLS_FP_LEN) != 0) {
        log_error("%s: the %s saw another certificate on the data channel (fingerprint mismatch: "
                  "a man in the middle?)", s->o.who, s->o.peer);
        tun_ctrl_fail(s->ctrl, PN_EC_VERIFY_FAILED, "certificate fingerprint mismatch");
    }
}

static void
on_frame(tun_ctrl_t *c, const pn_frame_t *f, void *arg)
{
    tun_sess_t *s = arg;
    char why[64];
    switch (f->type) {
    case PN_FT_FLUSH:
        log_debug("%s: the %s asked to flush the pool", s->o.who, s->o.peer);
        tun_dchan_trim(s->dchan, 0);
        return;
    case PN_FT_VERIFY:
        if (!s->o.accepting)
            break;
        verify_check(s, f);
        return;
    case PN_FT_ERROR:
        log_peer_error(s, f);
        if (error_is_shutdown(f))
            snprintf(why, sizeof(why), "the %s stopped", s->o.peer);
        else
            snprintf(why, sizeof(why), "error from the %s", s->o.peer);
        s->hooks.ended(s, why, s->hooks.ctx);
        return;
    default:
        break;
    }
    if (s->hooks.frame == NULL || s->hooks.frame(s, f, s->hooks.ctx) != PN_OK)
        tun_ctrl_fail(c, PN_EC_PROTOCOL, "unexpected frame");
}

static void
on_ctrl_close(tun_ctrl_t *c, const char *err, void *arg)
{
    tun_sess_t *s = arg;
    s->hooks.ended(s, err ? err : "closed", s->hooks.ctx);
}

void
tun_sess_init(tun_sess_t *s, ev_loop_t *loop, const tun_sess_opts_t *o, const tun_sess_hooks_t *h)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->o = *o;
    s->hooks = *h;
    pn_list_init(&s->takes_waiting);
    pn_list_init(&s->links.all);
}

void
tun_sess_attach_keyed(tun_sess_t *s, pn_xprt_t *x, const uint8_t *secret)
{
    memcpy(s->secret, secret, sizeof(s->secret));
    s->ctrl = tun_ctrl_new(s->loop, x, s->o.interval_ms, on_frame, on_ctrl_close, s);
    s->dchan = tun_dchan_pool_new(s->loop);
    s->takes = s->fails = 0;
    s->verified = 0;
}

int
tun_sess_attach(tun_sess_t *s, pn_xprt_t *x)
{
    uint8_t secret[PN_DATA_SECRET_LEN];
    if (tun_data_secret(x, secret) != 0) {
        log_error("%s: cannot derive the session secret", s->o.who);
        pn_xprt_free(x);
        return PN_ERR;
    }
    tun_sess_attach_keyed(s, x, secret);
    memset(secret, 0, sizeof(secret));
    return PN_OK;
}

void
tun_sess_hello(tun_sess_t *s, const pn_hello_t *h)
{
    uint8_t p[512];             /* the largest HELLO: a 255-byte PATH and every TLV */
    pn_hello_t e = *h;
    e.epoch_s = TUN_EPOCH_S;
    s->epoch_s = TUN_EPOCH_S;
    s->hello_ms = pn_now_ms();
    tun_ctrl_send(s->ctrl, PN_FT_HELLO, p, pn_hello_encode(&e, p, sizeof(p)));
    if (s->o.tls == 1)
        tun_ctrl_send(s->ctrl, PN_FT_VERIFY, s->o.fp, PN_TLS_FP_LEN);
}

void
tun_sess_detach(tun_sess_t *s)
{
    s->ready = 0;
    tun_ctrl_free(s->ctrl);
    tun_dchan_free(s->dchan);
    tun_seen_clear(&s->seen);
    tun_seen_win_clear(&s->win);
    s->epoch_s = 0;
    s->epoch_proofs = 0;
    memset(s->secret, 0, sizeof(s->secret));
    pn_links_close_all(&s->links);
}

void
tun_sess_clear(tun_sess_t *s)
{
    tun_sess_detach(s);
    while (!pn_list_empty(&s->takes_waiting))
        take_done(pn_container_of(s->takes_waiting.next, tun_take_t, node), NULL, NULL);
}

void
tun_sess_kick(tun_sess_t *s, uint16_t code, const char *why)
{
    if (s->ctrl != NULL)
        tun_ctrl_fail(s->ctrl, code, why);
}

/* ---- signals -------------------------------------------------------------------- */

void
tun_sig_from_addr(const pn_addr_t *a, pn_sig_addr_t *sa)
{
    memset(sa, 0, sizeof(*sa));
    if (a == NULL)
        return;
    if (a->ss.ss_family == AF_INET) {
        sa->family = 4;
        memcpy(sa->ip, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    } else if (a->ss.ss_family == AF_INET6) {
        sa->family = 6;
        memcpy(sa->ip, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
    } else {
        return;
    }
    sa->port = pn_addr_port(a);
}

void
tun_sig_to_addr(const pn_sig_addr_t *sa, pn_addr_t *a)
{
    memset(a, 0, sizeof(*a));
    if (sa->family == 4) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
        v4->sin_family = AF_INET;
        memcpy(&v4->sin_addr, sa->ip, 4);
        v4->sin_port = htons(sa->port);
        a->len = sizeof(*v4);
    } else if (sa->family == 6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
        v6->sin6_family = AF_INET6;
        memcpy(&v6->sin6_addr, sa->ip, 16);
        v6->sin6_port = htons(sa->port);
        a->len = sizeof(*v6);
    }
}

int
tun_sess_signal(tun_sess_t *s, uint8_t type, const uint8_t *id, const pn_addr_t *src,
                const pn_addr_t *dst, uint32_t route)
{
    uint8_t p[PN_CONN_ID_LEN + 3 * (PN_TLV_HDR + 19)];
    pn_sig_addr_t a, b;
    if (s->ctrl == NULL)
        return PN_ERR;
    tun_sig_from_addr(src, &a);
    tun_sig_from_addr(dst, &b);
    size_t n = pn_signal_encode_route(id, &a, &b, route, p, sizeof(p));
    return n == 0 ? PN_ERR : tun_ctrl_send(s->ctrl, type, p, n);
}

int
tun_sess_signal_target(tun_sess_t *s, uint8_t type, const uint8_t *id, const pn_addr_t *src,
                       const pn_addr_t *dst, const char *host, uint16_t port)
{
    uint8_t p[PN_CONN_ID_LEN + 2 * (PN_TLV_HDR + 19) + PN_TLV_HDR + 2 + PN_TARGET_HOST_MAX];
    pn_sig_addr_t a, b;
    if (s->ctrl == NULL)
        return PN_ERR;
    tun_sig_from_addr(src, &a);
    tun_sig_from_addr(dst, &b);
    size_t n = pn_signal_encode_addrs(id, &a, &b, p, sizeof(p));
    n = n == 0 ? 0 : pn_signal_append_target(p, sizeof(p), n, host, port);
    return n == 0 ? PN_ERR : tun_ctrl_send(s->ctrl, type, p, n);
}
