/* modes/hub_http.c: the hub's HTTP router (http=, docs/hub.md §1).
 *
 * One struct hx per user connection, request by request:
 *
 *   HEAD  read the request head (<= 16 KiB) -> Host -> route -> member -> limits
 *         (404, 502, 429, 503 pages otherwise) -> X-Forwarded-* added
 *   WAIT  a pooled data connection of the member's session (kept across
 *         requests while the Host stays on the same route of the same agent)
 *   XFER  request head and body to the agent, response back to the user; the
 *         body lengths are followed (route/http.h) so the next request is
 *         found exactly; no response head within timeout= -> 504; the agent's
 *         connection closing before one -> 502
 *   then  keep-alive: HEAD again; 101 to an Upgrade: a plain relay (relay/link.c)
 *
 * A pipelined request waits, unread, until the response before it is complete.
 * Bytes reach the user only once the response head is complete, so a failure
 * before that still gets its page. */
#include "modes/hub_http.h"
#include "modes/hub_acct.h"
#include "modes/hub_peer.h"
#include "modes/hub_reg.h"
#include "modes/hub_rules.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"
#include "route/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define HX_IN_MAX (PN_HTTP_HEAD_MAX + 1024)     /* user bytes held */
#define HX_OUT_MAX (PN_HTTP_HEAD_MAX + 1024)    /* a rewritten head */
#define HX_BACK_MAX PN_BUF_SIZE                 /* agent bytes held (a core/buf.h buffer) */
#define HX_IDLE_MS 60000                        /* keep-alive wait for the next request */
#define HX_PACE_CHUNK 16384                     /* least bytes a paced write waits for */

enum hx_state {
    HX_HEAD = 0,                /* reading a request head */
    HX_WAIT,                    /* waiting for a data connection */
    HX_XFER,                    /* request out, response back */
    HX_CLOSING,                 /* last bytes to the user, then close */
};

struct hx {
    pn_list_t node;             /* in hub.http_conns */
    pn_list_t snode;            /* in hsess.https while bound */
    struct hub *h;
    enum hx_state st;
    pn_xprt_t *u;               /* owned: the user; watched */
    pn_xprt_t *b;               /* owned: the data connection, or NULL; watched */
    struct hsess *sess;         /* the session <b> belongs to, while bound */
    struct hsess *want;         /* the session a data connection is asked of (HX_WAIT) */
    uint32_t member_id;         /* the route id <b> was signalled for */
    struct hroute *route;       /* the route <b> serves, counted in its conns while bound */
    struct hroute *want_route;  /* the route a data connection is asked for (HX_WAIT) */
    struct hacct *acct;         /* counted in http_live while set */
    tun_take_t *wait;           /* the take of a data connection (HX_WAIT) */
    ev_timer_t *timer;          /* owned: keep-alive idle / response deadline */
    pn_gate_t *gate;            /* the http port's (net/gate.h): caps, head deadline */
    pn_admit_ent_t adm;         /* in <gate> while a request head is being read */
    pn_stall_ent_t stall;       /* in the instance's stall watch while the user has bytes to read */
    ev_timer_t *pace;           /* owned: the account's bandwidth allows more */
    ev_defer_t *kick;           /* owned: a step from outside the I/O callbacks */
    pn_http_msg_t *req, *resp;  /* owned */
    pn_addr_t peer, local;
    char ip[INET6_ADDRSTRLEN];
    char host[PN_HTTP_HOST_MAX + 1];
    int req_done, resp_head, head_req, upgrade_req, keep;
    int tls;                    /* HUB_RULES_TLS: terminated by the hub (https= with certs=) */
    int h2c;                    /* HUB_RULES_H2C: an HTTP/2 stream that goes through as HTTP/2 */
    uint64_t req_us;            /* when the request went to its route; 0 once timed */
    int u_eof;                  /* the user closed its side */
    int cut;                    /* the response was cut short: the user gets a reset */
    int paced;                  /* out of bandwidth until the pace timer fires */
    int bready;                 /* readiness reported on the agent's connection since last seen */
    int bdry;                   /* the agent's connection was read empty: no read before a readiness */
    int uwant_r, uwant_w, bwant_r, bwant_w;     /* readiness the last calls asked for */
    size_t ulen, uok;           /* ub: bytes held, of which the first <uok> go to the agent */
    size_t olen, ooff;          /* ob: a rewritten head, <ooff> written */
    size_t blen, bparsed, bok;  /* bbuf: held, parsed, and approved for the user */
    uint8_t ub[HX_IN_MAX];
    uint8_t ob[HX_OUT_MAX];
    pn_buf_t *bbuf;             /* taken while the agent's bytes or a page are held (blen > 0) */
};

static void hx_step(struct hx *x);

/* The agent-side buffer: taken from the pool when bytes come, given back once
 * they are all out, so an idle keep-alive connection holds none. */
static uint8_t *
bb(struct hx *x)
{
    if (x->bbuf == NULL)
        x->bbuf = pn_buf_get();
    return x->bbuf != NULL ? (uint8_t *)x->bbuf->data : NULL;
}

static void
bb_drop(struct hx *x)
{
    if (x->blen == 0)
        pn_buf_put(x->bbuf);
}

static void
hx_unbind(struct hx *x)
{
    if (x->sess != NULL) {
        pn_list_del(&x->snode);
        x->sess = NULL;
    }
    pn_xprt_free(x->b);
    x->bdry = 0;
    if (x->route != NULL && x->route->conns > 0)
        x->route->conns--;
    x->route = NULL;
}

static void
hx_uncount(struct hx *x)
{
    if (x->acct != NULL)
        x->acct->http_live--;
    x->acct = NULL;
}

static void
hx_free(struct hx *x)
{
    pn_list_del(&x->node);
    if (x->gate != NULL)
        pn_gate_leave(x->gate, &x->adm);
    pn_stall_del(x->h->in.stall, &x->stall);
    tun_take_cancel(x->wait);
    hx_uncount(x);
    hx_unbind(x);
    pn_xprt_free(x->u);
    ev_timer_free(x->timer);
    ev_timer_free(x->pace);
    ev_defer_free(x->kick);
    pn_buf_put(x->bbuf);
    pn_http_msg_free(x->req);
    pn_http_msg_free(x->resp);
    free(x);
}

/* The response was cut short (the service or its agent went away, or sent
 * garbage, after the head): what was approved goes out, then a reset, so the
 * user never takes the cut for a whole answer. */
static void
hx_cut(struct hx *x)
{
    hx_unbind(x);
    x->blen = x->bparsed = x->bok;
    x->st = HX_CLOSING;
    x->cut = 1;
}

/* Answer <status> with its page (and the extra head line <field>, or NULL)
 * and close once it is written. */
static void
hx_page_field(struct hx *x, int status, const char *detail, const char *field)
{
    tun_take_cancel(x->wait);
    x->wait = NULL;
    pn_sock_reset_on_close(x->u->fd, 0);    /* a page ends with a FIN, once written */
    hx_uncount(x);
    hx_unbind(x);
    uint8_t *page = bb(x);      /* NULL when every buffer is taken: just close */
    x->blen = page ? pn_http_page_ex(status, detail, field, (char *)page, HX_BACK_MAX) : 0;
    x->bok = x->bparsed = x->blen;
    x->st = HX_CLOSING;
    ev_timer_disarm(x->timer);
    log_debug("hub: http %d for %s", status, x->ip);
}

static void
hx_page(struct hx *x, int status, const char *fmt, const char *arg)
{
    char detail[PN_HTTP_HOST_MAX + 128];
    snprintf(detail, sizeof(detail), fmt, arg);
    hx_page_field(x, status, detail, NULL);
}

static long
on_timer(ev_timer_t *t, void *arg)
{
    struct hx *x = arg;
    if ((x->st == HX_XFER && !x->resp_head) || x->st == HX_WAIT) {
        hx_page(x, 504, "the service for \"%s\" did not answer in time", x->host);
        hx_step(x);
    } else {
        hx_free(x);
    }
    return EV_TIMER_STOP;
}

/* The gate ends a connection whose request head is late (its deadline from
 * the first byte, or from accept) or that makes room for another. */
static void
on_head_kill(void *arg)
{
    struct hx *x = arg;
    log_debug("hub: http: %s: no whole request head in time, or evicted: closing", x->ip);
    hx_free(x);
}

/* The user read nothing of a response (or page) for POSTERN_SEND_TIMEOUT
 * (net/stall.h logs it): its connection and the agent's are released. A reset,
 * not a FIN that would wait behind the unread bytes: the user sees the cut, and
 * the kernel drops what it held at once. */
static void
on_stall_kill(void *arg)
{
    struct hx *x = arg;
    pn_sock_reset_on_close(x->u->fd, 1);
    hx_free(x);
}

/* After a step: the clock of the bytes waiting for the user. */
static void
hx_stall_note(struct hx *x, int moved)
{
    pn_stall_note(x->h->in.stall, &x->stall, x->bok, moved || x->paced, "hub: http",
                  on_stall_kill, x);
}

static long
on_pace(ev_timer_t *t, void *arg)
{
    struct hx *x = arg;
    x->paced = 0;
    hx_step(x);
    return EV_TIMER_STOP;
}

static void
on_kick(void *arg)
{
    hx_step(arg);
}

static void
on_io(pn_xprt_t *u, int ready, void *arg)
{
    hx_step(arg);
}

/* The agent's connection is ready: noted, so an idle one is read only when it
 * has something to say (its close), not at every step. */
static void
on_back_io(pn_xprt_t *b, int ready, void *arg)
{
    struct hx *x = arg;
    x->bready |= ready;
    hx_step(x);
}

/* The data connection for the request in flight arrived (or not). */
static void
on_data(pn_xprt_t *data, const uint8_t *id, void *arg)
{
    struct hx *x = arg;
    struct hsess *s = x->want;
    struct hroute *r = x->want_route;
    x->wait = NULL;
    x->want = NULL;
    x->want_route = NULL;
    struct hmember *m = data != NULL && r != NULL ? hub_reg_member(x->h->reg, s, x->member_id) : NULL;
    if (m == NULL || hub_signal(m, PN_FT_TCP, id, &x->peer, &x->local) != PN_OK) {
        pn_xprt_free(data);
        hx_page(x, 502, "the service for \"%s\" is not connected", x->host);
        ev_defer_schedule(x->kick);
        return;
    }
    x->b = data;
    x->bready = 0;
    x->sess = s;
    x->route = r;
    r->conns++;
    pn_list_add(&s->https, &x->snode);
    x->st = HX_XFER;
    ev_defer_schedule(x->kick);
    uint8_t *buf = x->h2c ? bb(x) : NULL;
    x->ooff = x->h2c ? x->olen : x->ooff;   /* h2c: the head never goes to the agent */
    if (buf != NULL) {      /* but to tls/h2gw.c, after a 101 (no buffer: 504 in time) */
        memcpy(buf, "HTTP/1.1 101 h2c\r\n\r\n", 20);
        memcpy(buf + 20, x->ob, x->olen);
        x->blen = 20 + x->olen;
        x->upgrade_req = 1;
    }
}

/* Another hub holds the route of <host> (docs/hub.md §7): the user's
 * connection goes there whole, this request first; nonzero when it went
 * (<x> is freed then). */
static int
hx_elsewhere(struct hx *x, const char *host)
{
    if (x->h->peer == NULL || hub_peer_forward(x->h->peer, PN_RT_HTTP, host, 0, x->u, x->ub,
                                               x->ulen, &x->peer, &x->local) != PN_OK)
        return 0;
    x->u = NULL;
    hx_free(x);
    return 1;
}

/* Route the request whose head is parsed (it goes on now or once a data
 * connection arrives, or a page answers it); 1 when <x> went to another hub
 * and is freed, else 0. */
static int
hx_dispatch(struct hx *x, size_t head_len)
{
    struct hub *h = x->h;
    const pn_http_head_t *hd = pn_http_msg_head(x->req);
    memcpy(x->host, hd->host, sizeof(x->host));     /* both PN_HTTP_HOST_MAX + 1, NUL-ended */
    x->head_req = strcmp(hd->method, "HEAD") == 0;
    x->upgrade_req = hd->upgrade;
    x->keep = hd->keep_alive;
    int bad = 0;
    struct hroute *r = hd->host[0] ? hub_rules_find(hd->host, x->ub, head_len, &bad,
                                                       hub_reg_http_by_key, h->reg) : NULL;
    if (bad) {
        hx_page(x, 400, "bad request: a path the hub refuses (dot segments, encoded '/')%s", "");
        return 0;
    }
    if (r == NULL && hd->host[0] && hx_elsewhere(x, hd->host))
        return 1;
    if (r == NULL) {
        hx_page(x, 404, "no route for host \"%s\"", hd->host);
        return 0;
    }
    hub_verdict_t v;
    hub_rules_check(r, x->ub, head_len, &x->peer, x->tls | x->h2c, &v);
    if (v.status != 0) {
        hx_page_field(x, v.status, v.detail, v.field[0] ? v.field : NULL);
        return 0;
    }
    struct hmember *m = hub_reg_pick(h->reg, r);
    if (m == NULL) {
        hx_page(x, 502, "the service for \"%s\" is not connected", hd->host);
        return 0;
    }
    struct hacct *a = m->sess->acct;
    if (a->rps != 0 && !pn_bucket_take_all(&a->rq, 1, pn_now_us())) {
        a->refused_rate++;
        a->st.refused++;
        hx_page(x, 429, "too many requests%s", "");
        return 0;
    }
    if (x->acct != a) {
        hx_uncount(x);
        if (!hub_acct_admit(a)) {
            hx_page(x, 503, "too many connections%s", "");
            return 0;
        }
        x->acct = a;
        a->http_live++;
    }
    a->requests++;
    x->req_us = pn_now_us();
    pn_http_rewrite_t rw = { .client_ip = x->ip, .proto = x->tls ? "https" : "http" };
    hub_rules_rewrite(r, &rw);
    x->olen = pn_http_head_rewrite_ex(x->ub, head_len, &rw, x->ob, sizeof(x->ob));
    x->ooff = 0;
    if (x->olen == 0) {
        hx_page(x, 400, "bad request%s", "");
        return 0;
    }
    memmove(x->ub, x->ub + head_len, x->ulen - head_len);
    x->ulen -= head_len;
    x->uok = 0;
    pn_http_msg_reset(x->resp, x->head_req);
    x->resp_head = 0;
    x->blen = x->bparsed = x->bok = 0;
    bb_drop(x);
    ev_timer_arm(x->timer, h->cfg->http_timeout_ms);
    if (x->b != NULL && x->sess == m->sess && x->member_id == m->id) {
        x->st = HX_XFER;
        return 0;
    }
    hx_unbind(x);
    x->want_route = r;
    x->member_id = m->id;
    x->st = HX_WAIT;
    x->want = m->sess;          /* valid until its waiters are run, on_data included */
    pn_sock_reset_on_close(x->u->fd, 1);    /* dying before the whole answer: a reset, no FIN */
    x->wait = tun_sess_take(&m->sess->t, on_data, x);
    return 0;
}

/* How many of <n> bytes the account's bandwidth lets through now; when none,
 * the pace timer wakes the exchange once some are. */
static size_t
hx_budget(struct hx *x, size_t n)
{
    struct hacct *a = x->acct;
    if (a == NULL || a->mbps == 0 || n == 0)
        return n;
    uint64_t us, g = pn_bucket_take_chunk(&a->bw, n, HX_PACE_CHUNK, pn_now_us(), &us);
    if (g == 0) {
        /* Wait for the pace timer, not for writability (which would spin). */
        ev_timer_arm(x->pace, us / 1000 + 1);
        x->paced = 1;
    }
    return (size_t)g;
}

/* Write to the agent or the user, within the bandwidth, counting the bytes. */
static ssize_t
hx_send(struct hx *x, pn_xprt_t *t, const uint8_t *buf, size_t n, int *want, uint64_t *count)
{
    size_t allowed = hx_budget(x, n);
    ssize_t w = pn_xprt_push(t, buf, allowed, want);
    if (x->acct != NULL && x->acct->mbps != 0 && w >= 0 && (size_t)w < allowed)
        pn_bucket_put_back(&x->acct->bw, allowed - (size_t)w);
    if (w > 0 && count != NULL && x->acct != NULL)
        *count += (uint64_t)w;
    return w;
}

/* The response is complete: the next request, or the end. */
static void
hx_response_done(struct hx *x)
{
    const pn_http_head_t *rh = pn_http_msg_head(x->resp);
    ev_timer_arm(x->timer, HX_IDLE_MS);
    pn_sock_reset_on_close(x->u->fd, 0);    /* whole: a FIN if we die before the next */
    /* The user's connection and the agent's go on or end independently: a
     * service that closes after each response still serves a keep-alive user. */
    if (!rh->keep_alive)
        hx_unbind(x);
    if (!x->keep || x->u_eof) {
        hx_unbind(x);
        x->st = HX_CLOSING;
        return;
    }
    pn_http_msg_reset(x->req, 0);
    x->req_done = 0;
    x->st = HX_HEAD;
}

/* 101 to an Upgrade: hand both connections to a plain relay, with what each
 * side sent that the other has not seen yet. */
_Static_assert(HX_OUT_MAX + HX_IN_MAX <= PN_LINK_PRE_MAX, "an upgrade's bytes fit a link's pre");

static void
hx_upgrade(struct hx *x)
{
    uint8_t pre[HX_OUT_MAX + HX_IN_MAX];
    size_t npre = x->olen - x->ooff;
    memcpy(pre, x->ob + x->ooff, npre);
    memcpy(pre + npre, x->ub, x->ulen);
    npre += x->ulen;
    pn_link_info_t info = {
        .src = x->peer, .dst = x->local, .user = 1, .gauge = &x->route->conns,
        .pre = pre, .pre_len = npre, .back = x->bbuf ? (uint8_t *)x->bbuf->data : NULL, .back_len = x->blen,
    };
    struct hsess *s = x->sess;
    pn_xprt_t *u = x->u, *b = x->b;
    x->u = x->b = NULL;
    pn_xprt_unwatch(u);
    pn_xprt_unwatch(b);
    hx_unbind(x);               /* the link counts the exchange in the route from now on */
    hx_uncount(x);
    pn_link_pair(&s->t.links, u, b, &info);
    hx_free(x);
}

static void
hx_step(struct hx *x)
{
    const char *why;
    enum pn_http_state hs;
    size_t used;
    int progress = 1, moved = 0;

    while (progress) {
        progress = 0;
        if (x->st == HX_HEAD && x->bok > 0)
            goto to_user;       /* the next request waits until the last response is out */
        if (x->st == HX_HEAD) {
            size_t he = pn_head_end(x->ub, x->ulen < PN_HTTP_HEAD_MAX ? x->ulen : PN_HTTP_HEAD_MAX);
            if (he == 0 && x->ulen >= PN_HTTP_HEAD_MAX) {
                hx_page(x, 400, "bad request: the head is over 16 KiB%s", "");
                progress = 1;
                continue;
            }
            if (x->b != NULL && x->blen == 0 && (x->bready & EV_RD)) {
                x->bready = 0;
                /* An idle agent connection that speaks or closes is done with. */
                uint8_t junk[256];
                size_t n = 0;
                if (pn_xprt_pull(x->b, junk, sizeof(junk), &n, &x->bwant_r) != 0)
                    hx_unbind(x);
            }
            if (he == 0) {
                int rc = x->u_eof ? -1 : pn_xprt_pull(x->u, x->ub, sizeof(x->ub), &x->ulen, &x->uwant_r);
                if (rc < 0) {
                    hx_free(x);
                    return;
                }
                if (rc > 0) {
                    /* A head has the gate's deadline from its first byte,
                     * however slowly the rest comes (not an idle timer). */
                    if (!pn_gate_holds(&x->adm)) {
                        ev_timer_disarm(x->timer);      /* keep-alive idle: over */
                        if (x->gate != NULL)
                            pn_gate_enter(x->gate, &x->adm, &x->peer, on_head_kill, x);
                    }
                    progress = 1;
                    continue;
                }
                /* Nothing new from the user: the last response may still have
                 * bytes for it (held back by the bandwidth, or a slow reader). */
                goto to_user;
            }
            int rc = pn_http_msg_feed(x->req, x->ub, he, &used, &hs, &why);
            if (rc != PN_OK || hs == PN_HTTP_IN_HEAD || used != he) {
                hx_page(x, 400, "bad request: %s", rc != PN_OK ? why : "incomplete head");
                progress = 1;
                continue;
            }
            x->req_done = hs == PN_HTTP_DONE;
            if (x->gate != NULL)
                pn_gate_leave(x->gate, &x->adm);
            if (hx_dispatch(x, he))
                return;         /* gone to another hub */
            progress = 1;
            continue;
        }
        if (x->st == HX_XFER) {
            /* Request: the head, then body bytes as the parser approves them. */
            if (!x->req_done && x->uok < x->ulen) {
                if (pn_http_msg_feed(x->req, x->ub + x->uok, x->ulen - x->uok, &used, &hs, &why) !=
                    PN_OK) {
                    hx_free(x);
                    return;
                }
                x->uok += used;
                x->req_done = hs == PN_HTTP_DONE;
                progress |= used > 0;
            }
            ssize_t w = hx_send(x, x->b, x->ob + x->ooff, x->olen - x->ooff, &x->bwant_w,
                                x->acct ? &x->acct->st.tcp_rx : NULL);
            if (w < 0)
                goto back_gone;
            x->ooff += (size_t)w;
            progress |= w > 0;
            if (x->ooff == x->olen && x->uok > 0) {
                w = hx_send(x, x->b, x->ub, x->uok, &x->bwant_w, x->acct ? &x->acct->st.tcp_rx : NULL);
                if (w < 0)
                    goto back_gone;
                memmove(x->ub, x->ub + w, x->ulen - (size_t)w);
                x->ulen -= (size_t)w;
                x->uok -= (size_t)w;
                progress |= w > 0;
            }
            if (!x->req_done && !x->u_eof && x->ulen < sizeof(x->ub)) {
                int rc = pn_xprt_pull(x->u, x->ub, sizeof(x->ub), &x->ulen, &x->uwant_r);
                if (rc < 0) {
                    /* The user went away in the middle of its request. */
                    hx_free(x);
                    return;
                }
                progress |= rc > 0;
            }
            /* Response: parse what came; approve it once the head is whole. */
            if (x->bparsed < x->blen) {
                if (pn_http_msg_feed(x->resp, bb(x) + x->bparsed, x->blen - x->bparsed, &used, &hs,
                                     &why) != PN_OK) {
                    if (!x->resp_head) {
                        hx_page(x, 502, "the service for \"%s\" sent a malformed response", x->host);
                        progress = 1;
                        continue;
                    }
                    hx_cut(x);
                    progress = 1;
                    continue;
                }
                x->bparsed += used;
                progress |= used > 0;
                if (hs != PN_HTTP_IN_HEAD && !x->resp_head) {
                    x->resp_head = 1;
                    ev_timer_disarm(x->timer);
                    if (x->req_us != 0) {
                        pn_prom_hist_observe(&x->h->http_hist, pn_now_us() - x->req_us);
                        x->req_us = 0;
                    }
                }
                if (x->resp_head)
                    x->bok = x->bparsed;
                if (hs == PN_HTTP_DONE) {
                    const pn_http_head_t *rh = pn_http_msg_head(x->resp);
                    if (rh->status == 101 && x->upgrade_req) {
                        hx_upgrade(x);
                        return;
                    }
                    if (rh->status >= 100 && rh->status < 200) {
                        /* An interim response: the final one follows. */
                        pn_http_msg_reset(x->resp, x->head_req);
                        x->resp_head = 0;
                        ev_timer_arm(x->timer, x->h->cfg->http_timeout_ms);
                    } else {
                        /* Write what remains, then go on. Bytes after the
                         * response (there should be none) are dropped. A
                         * response before the whole request ends the connection. */
                        if (!x->req_done)
                            x->keep = 0;
                        x->blen = x->bparsed;
                        hx_response_done(x);
                    }
                }
            }
            /* No read that can only say "nothing yet" (after a request, after a response). */
            if (x->st == HX_XFER && x->b != NULL && (!x->bdry || (x->bready & EV_RD))) {
                uint8_t *buf = bb(x);
                x->bready &= ~EV_RD;
                int rc = buf ? pn_xprt_pull(x->b, buf, HX_BACK_MAX, &x->blen, &x->bwant_r) : 0;
                x->bdry = buf && rc >= 0 && x->blen < HX_BACK_MAX && x->b->ops->pending(x->b) == 0;
                bb_drop(x);
                if (rc < 0) {
                    if (x->resp_head && pn_http_msg_eof(x->resp) == PN_OK) {
                        pn_sock_reset_on_close(x->u->fd, 0);    /* whole, delimited by the close */
                        hx_unbind(x);
                        x->st = HX_CLOSING;
                        progress = 1;
                        continue;
                    }
                    goto back_gone;
                }
                progress |= rc > 0;
            }
        }
to_user:
        /* To the user: approved response bytes, or a page. */
        if (x->bok > 0) {
            ssize_t w = x->st == HX_CLOSING && x->acct == NULL
                            ? pn_xprt_push(x->u, bb(x), x->bok, &x->uwant_w)
                            : hx_send(x, x->u, bb(x), x->bok, &x->uwant_w,
                                      x->acct ? &x->acct->st.tcp_tx : NULL);
            if (w < 0) {
                hx_free(x);
                return;
            }
            memmove(bb(x), bb(x) + w, x->blen - (size_t)w);
            x->blen -= (size_t)w;
            x->bparsed -= (size_t)w;
            x->bok -= (size_t)w;
            bb_drop(x);
            progress |= w > 0;
            moved |= w > 0;
        }
        if (x->st == HX_CLOSING && x->bok == 0) {
            /* Written: end the stream first (a FIN, or END_STREAM when the user
             * came over another hub's carrier, where a bare close is a reset);
             * a cut response ends with a reset instead. */
            if (x->cut)
                pn_sock_reset_on_close(x->u->fd, 1);
            else
                (void)x->u->ops->shutdown_wr(x->u);
            hx_free(x);
            return;
        }
        continue;
back_gone:
        if (!x->resp_head)
            hx_page(x, 502, "the service for \"%s\" did not answer", x->host);
        else
            hx_cut(x);
        progress = 1;
    }

    hx_stall_note(x, moved);
    /* Wait for what the next step needs. */
    int um = 0, bm = 0;
    if ((x->st == HX_HEAD || (x->st == HX_XFER && !x->req_done)) && !x->u_eof &&
        x->ulen < sizeof(x->ub))
        um |= x->uwant_r ? x->uwant_r : EV_RD;
    if (x->bok > 0 && !x->paced)
        um |= x->uwant_w ? x->uwant_w : EV_WR;
    if (x->st == HX_HEAD && x->b != NULL)
        bm |= EV_RD;
    if (x->st == HX_XFER && x->b != NULL) {
        if (x->blen < HX_BACK_MAX)
            bm |= x->bwant_r ? x->bwant_r : EV_RD;
        if ((x->ooff < x->olen || x->uok > 0) && !x->paced)
            bm |= x->bwant_w ? x->bwant_w : EV_WR;
    }
    pn_xprt_watch(x->u, x->h->in.loop, um, on_io, x);
    if (x->b != NULL)
        pn_xprt_watch(x->b, x->h->in.loop, bm, on_back_io, x);
}

void
hub_http_user(struct hub *h, pn_xprt_t *u, const pn_addr_t *peer, const pn_addr_t *local,
              int flags)
{
    int tls = (flags & HUB_HTTP_TLS) != 0;
    struct hx *x = xcalloc(sizeof(*x));
    x->h = h;
    x->u = u;
    x->peer = *peer;
    x->local = *local;
    pn_addr_ip(peer, x->ip);
    x->stall.peer = x->ip;
    x->timer = ev_timer_new(h->in.loop, on_timer, x);
    x->pace = ev_timer_new(h->in.loop, on_pace, x);
    x->kick = ev_defer_new(h->in.loop, on_kick, x);
    x->req = pn_http_msg_new(PN_HTTP_REQUEST);
    x->resp = pn_http_msg_new(PN_HTTP_RESPONSE);
    pn_list_add(&h->http_conns, &x->node);
    x->tls = tls;
    x->h2c = flags & HUB_HTTP_H2C ? HUB_RULES_H2C : 0;
    /* An HTTP/2 stream's head is written whole at once by hub_h2.c: no gate. */
    x->gate = flags & HUB_HTTP_STREAM ? NULL : pn_entry_gate(tls ? h->https_entry : h->http_entry);
    if (x->gate != NULL)
        pn_gate_enter(x->gate, &x->adm, peer, on_head_kill, x);
    pn_xprt_watch(u, h->in.loop, EV_RD, on_io, x);
    if (tls)
        ev_defer_schedule(x->kick);     /* the ClientHello read already waits in the TLS layer */
}

void
hub_http_session_end(struct hsess *s)
{
    while (!pn_list_empty(&s->https)) {
        struct hx *x = pn_container_of(s->https.next, struct hx, snode);
        if (x->st == HX_XFER && !x->resp_head)
            hx_page(x, 502, "the service for \"%s\" is not connected", x->host);
        else if (x->st == HX_XFER)
            hx_cut(x);
        else
            hx_unbind(x);
        ev_defer_schedule(x->kick);
    }
}

void
hub_http_route_gone(struct hub *h, struct hroute *r)
{
    for (pn_list_t *p = h->http_conns.next; p != &h->http_conns; p = p->next) {
        struct hx *x = pn_container_of(p, struct hx, node);
        if (x->want_route == r)
            x->want_route = NULL;       /* on_data answers 502 */
        if (x->route != r)
            continue;
        if (x->st == HX_XFER && !x->resp_head)
            hx_page(x, 502, "the service for \"%s\" is not connected", x->host);
        else if (x->st == HX_XFER) {
            hx_cut(x);
        } else {
            hx_unbind(x);
        }
        ev_defer_schedule(x->kick);
    }
}

void
hub_http_drain(struct hub *h)
{
    for (pn_list_t *p = h->http_conns.next, *next; p != &h->http_conns; p = next) {
        struct hx *x = pn_container_of(p, struct hx, node);
        next = p->next;
        if (x->st == HX_HEAD && x->bok == 0) {
            hx_free(x);
            continue;
        }
        x->keep = 0;            /* HX_CLOSING after the response */
        if (x->st == HX_HEAD) {
            /* The last response is still going out: the end, once it is. */
            hx_unbind(x);
            x->st = HX_CLOSING;
        }
        if (x->gate != NULL)
            pn_gate_leave(x->gate, &x->adm);
        x->gate = NULL;
        ev_defer_schedule(x->kick);
    }
}

size_t
hub_http_count(const struct hub *h)
{
    size_t n = 0;
    for (const pn_list_t *p = h->http_conns.next; p != &h->http_conns; p = p->next)
        n++;
    return n;
}

void
hub_http_close_all(struct hub *h)
{
    while (!pn_list_empty(&h->http_conns))
        hx_free(pn_container_of(h->http_conns.next, struct hx, node));
}
