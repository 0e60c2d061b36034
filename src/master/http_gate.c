/* master/http_gate.c: master/http_gate.h. */
#include "master/http_gate.h"
#include "core/list.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/gate.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* Connections accepted before the deferred admission runs: libevent's
 * listener accepts until EAGAIN unless disabled, and descriptors of evicted
 * connections close only on evhttp's next turn. */
#define ACCEPT_BURST 32

/* One connection, from its admission until it ends (or its descriptor is
 * seen reused): in the gate while a request is being read. */
struct trk {
    pn_admit_ent_t adm;
    pn_mhttp_gate_t *g;
    int fd;
    ino_t ino;                  /* the socket's inode: fd numbers are reused */
    const struct bufferevent *bev;  /* its connection's, compared, never followed */
    pn_addr_t peer;
    int between;                /* a request done, the next one not begun */
};

struct pn_mhttp_gate {
    pn_list_t node;             /* in gates */
    pn_gate_t *gate;            /* owned */
    struct evconnlistener *l;   /* borrowed */
    ev_defer_t *admit;          /* owned: the deferred admission */
    struct bufferevent **fresh; /* owned array; each bufferevent held (incref) */
    size_t nfresh, capfresh;
    int held_back;              /* the listener is disabled until on_admit */
    int paused;                 /* the listener is disabled by the accept back-off */
    struct trk **byfd;          /* owned array of owned trackers, by descriptor */
    size_t capfd;
};

/* Every gate: evhttp owns the listener's callback argument, so the error
 * callback finds its gate by listener (and on_input by descriptor). */
static pn_list_t gates = { &gates, &gates };

static ino_t
ino_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? st.st_ino : 0;
}

static void
trk_drop(struct trk *t)
{
    pn_mhttp_gate_t *g = t->g;
    pn_gate_leave(g->gate, &t->adm);
    if ((size_t)t->fd < g->capfd && g->byfd[t->fd] == t)
        g->byfd[t->fd] = NULL;
    free(t);
}

/* Late, or evicted: end the connection if the descriptor is still it. */
static void
on_kill(void *arg)
{
    struct trk *t = arg;
    if (t->ino != 0 && ino_of(t->fd) == t->ino && shutdown(t->fd, SHUT_RDWR) == 0)
        log_debug("master: http: a request not complete in time, or evicted: closing");
    trk_drop(t);
}

static struct trk *
trk_of(pn_mhttp_gate_t *g, int fd, const struct bufferevent *bev)
{
    struct trk *t = fd >= 0 && (size_t)fd < g->capfd ? g->byfd[fd] : NULL;
    return t != NULL && t->bev == bev ? t : NULL;
}

/* Bytes came on a kept-alive connection between requests: the next request's
 * head has begun, and it has the same deadline as the first (from this first
 * byte, however slowly the rest comes), not evhttp's idle timer. */
static void
on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct bufferevent *bev = arg;
    if (info->n_added == 0)
        return;
    int fd = (int)bufferevent_getfd(bev);
    for (pn_list_t *p = gates.next; p != &gates; p = p->next) {
        struct trk *t = trk_of(pn_container_of(p, pn_mhttp_gate_t, node), fd, bev);
        if (t != NULL && t->between) {
            t->between = 0;
            pn_gate_enter(t->g->gate, &t->adm, &t->peer, on_kill, t);
            return;
        }
    }
}

/* Track <bev>'s connection (on <fd>, from <peer>) from its first request on. */
static void
admit_one(pn_mhttp_gate_t *g, struct bufferevent *bev, int fd, const pn_addr_t *peer)
{
    if ((size_t)fd >= g->capfd) {
        size_t cap = g->capfd ? g->capfd : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        g->byfd = xrealloc(g->byfd, cap * sizeof(*g->byfd));
        memset(g->byfd + g->capfd, 0, (cap - g->capfd) * sizeof(*g->byfd));
        g->capfd = cap;
    }
    if (g->byfd[fd] != NULL)
        trk_drop(g->byfd[fd]);  /* a connection that ended */
    struct trk *t = xcalloc(sizeof(*t));
    t->g = g;
    t->fd = fd;
    t->ino = ino_of(fd);
    t->bev = bev;
    t->peer = *peer;
    g->byfd[fd] = t;
    /* Replies leave in several writes (bufferevent writes at most 16 KiB at a
     * time): without TCP_NODELAY a list of many instances waits for the
     * peer's delayed ACK (40 ms) before its last part. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* Removed with the buffer (the bufferevent's), which outlives no tracker
     * lookup: on_input finds its tracker by descriptor and bufferevent. */
    evbuffer_add_cb(bufferevent_get_input(bev), on_input, bev);
    pn_gate_enter(g->gate, &t->adm, peer, on_kill, t);
}

static void
on_admit(void *arg)
{
    pn_mhttp_gate_t *g = arg;
    size_t n = g->nfresh;
    g->nfresh = 0;
    for (size_t i = 0; i < n; i++) {
        struct bufferevent *bev = g->fresh[i];
        int fd = (int)bufferevent_getfd(bev);
        pn_addr_t peer;
        peer.len = sizeof(peer.ss);
        if (fd >= 0 && getpeername(fd, (struct sockaddr *)&peer.ss, &peer.len) == 0)
            admit_one(g, bev, fd, &peer);
        bufferevent_decref(bev);
    }
    if (g->held_back) {
        g->held_back = 0;
        if (!g->paused)
            evconnlistener_enable(g->l);
    }
}

static void
on_resume(void *arg)
{
    pn_mhttp_gate_t *g = arg;
    g->paused = 0;
    if (!g->held_back)
        evconnlistener_enable(g->l);
}


static void
on_accept_error(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    for (pn_list_t *p = gates.next; p != &gates; p = p->next) {
        pn_mhttp_gate_t *g = pn_container_of(p, pn_mhttp_gate_t, node);
        if (g->l == l && !g->paused && pn_gate_accept_failed(g->gate, err, on_resume, g)) {
            g->paused = 1;
            evconnlistener_disable(l);
        }
    }
}

pn_mhttp_gate_t *
pn_mhttp_gate_new(ev_loop_t *loop, struct evconnlistener *l)
{
    pn_mhttp_gate_t *g = xcalloc(sizeof(*g));
    pn_gate_opts_t go = { .who = "master: http", .deadline_ms = PN_MHTTP_HEAD_MS };
    g->gate = pn_gate_new(loop, &go);
    g->l = l;
    g->admit = ev_defer_new(loop, on_admit, g);
    pn_list_add(&gates, &g->node);
    evconnlistener_set_error_cb(l, on_accept_error);
    return g;
}

void
pn_mhttp_gate_accepted(pn_mhttp_gate_t *g, struct bufferevent *bev)
{
    pn_gate_accept_ok(g->gate);
    if (g->nfresh == g->capfresh) {
        g->capfresh = g->capfresh ? 2 * g->capfresh : 64;
        g->fresh = xrealloc(g->fresh, g->capfresh * sizeof(*g->fresh));
    }
    bufferevent_incref(bev);
    g->fresh[g->nfresh++] = bev;
    ev_defer_schedule(g->admit);
    if (g->nfresh >= ACCEPT_BURST && !g->held_back) {
        g->held_back = 1;
        evconnlistener_disable(g->l);
    }
}

void
pn_mhttp_gate_done(pn_mhttp_gate_t *g, struct bufferevent *bev)
{
    int fd = bev ? (int)bufferevent_getfd(bev) : -1;
    struct trk *t = trk_of(g, fd, bev);
    if (t == NULL)
        return;
    /* Bytes already read past this request (pipelined) wait for evhttp's idle
     * timer, or for the next byte, which starts the deadline. */
    pn_gate_leave(g->gate, &t->adm);
    t->between = 1;
}

void
pn_mhttp_gate_free_(pn_mhttp_gate_t *g)
{
    if (g == NULL)
        return;
    pn_list_del(&g->node);
    for (size_t i = 0; i < g->nfresh; i++)
        bufferevent_decref(g->fresh[i]);
    for (size_t fd = 0; fd < g->capfd; fd++)
        if (g->byfd[fd] != NULL)
            trk_drop(g->byfd[fd]);
    ev_defer_free(g->admit);
    pn_gate_free(g->gate);
    free(g->byfd);
    free(g->fresh);
    free(g);
}
