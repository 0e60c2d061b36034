/* master/tcping.c: resolve (async) -> non-blocking connect -> writable or
 * timeout -> one callback. */
#include "master/tcping.h"
#include "core/duration.h"
#include "core/mem.h"
#include "core/url.h"
#include "net/sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct pn_tcping {
    ev_loop_t *loop;            /* borrowed */
    pn_dns_req_t *dns_req;      /* pending resolution, or NULL */
    int fd;                     /* owned, -1 when none */
    ev_io_t *io;                /* owned */
    ev_timer_t *timer;          /* owned: the 3 s deadline */
    ev_defer_t *finish;         /* owned: delivers the answer from the loop */
    uint64_t start_ms;
    int connected;
    uint64_t latency_ms;
    char err[PN_ERR_LEN];
    pn_tcping_cb cb;
    void *ctx;                  /* borrowed */
};

static void
probe_free(pn_tcping_t *p)
{
    pn_dns_cancel(p->dns_req);
    ev_io_free(p->io);
    if (p->fd >= 0)
        pn_close(p->fd);
    ev_timer_free(p->timer);
    ev_defer_free(p->finish);
    free(p);
}

static void
on_finish(void *arg)
{
    pn_tcping_t *p = arg;
    p->cb(p->connected, p->latency_ms, p->err, p->ctx);
    probe_free(p);
}

/* Record the answer and deliver it on the next loop turn. */
static void
done(pn_tcping_t *p, int connected, const char *err)
{
    if (p->io != NULL)
        ev_io_set(p->io, 0);
    ev_timer_disarm(p->timer);
    p->connected = connected;
    p->latency_ms = pn_now_ms() - p->start_ms;
    snprintf(p->err, sizeof(p->err), "%s", err);
    ev_defer_schedule(p->finish);
}

static void
on_writable(int fd, int ready, void *arg)
{
    pn_tcping_t *p = arg;
    int e = pn_sock_error(fd);
    done(p, e == 0, e == 0 ? "" : strerror(e));
}

static long
on_timeout(ev_timer_t *t, void *arg)
{
    pn_tcping_t *p = arg;
    pn_dns_cancel(p->dns_req);
    p->dns_req = NULL;
    done(p, 0, "timed out after 3s");
    return EV_TIMER_STOP;
}

static void
on_resolved(const pn_addr_t *addr, const char *err, void *arg)
{
    pn_tcping_t *p = arg;
    char derr[PN_ERR_LEN];
    p->dns_req = NULL;
    if (addr == NULL) {
        done(p, 0, err ? err : "cannot resolve");
        return;
    }
    p->fd = pn_dial_tcp(addr, NULL, derr);
    if (p->fd < 0) {
        done(p, 0, derr);
        return;
    }
    p->io = ev_io_new(p->loop, p->fd, on_writable, p);
    ev_io_set(p->io, EV_WR);
}

pn_tcping_t *
pn_tcping_start(ev_loop_t *loop, pn_dns_t *dns, const char *target, pn_tcping_cb cb, void *ctx,
                char *err)
{
    char *host, *port;
    char sub[PN_ERR_LEN];
    uint64_t v;
    if (target == NULL || *target == '\0') {
        pn_err_set(err, "target: missing (expected ?target=<host>:<port>)");
        return NULL;
    }
    if (pn_hostport_split(target, &host, &port, sub) != PN_OK) {
        pn_err_set(err, "target: %s", sub);
        return NULL;
    }
    if (*host == '\0' || pn_uint_parse(port, 1, 65535, &v) != PN_OK) {
        pn_err_set(err, "target: \"%s\" is not <host>:<1-65535>", target);
        free(host);
        free(port);
        return NULL;
    }
    pn_tcping_t *p = xcalloc(sizeof(*p));
    p->loop = loop;
    p->fd = -1;
    p->cb = cb;
    p->ctx = ctx;
    p->start_ms = pn_now_ms();
    p->timer = ev_timer_new(loop, on_timeout, p);
    p->finish = ev_defer_new(loop, on_finish, p);
    ev_timer_arm(p->timer, PN_TCPING_TIMEOUT_MS);
    /* May answer at once (a literal, /etc/hosts): on_resolved then ran already. */
    p->dns_req = pn_dns_resolve(dns, host, port, on_resolved, p);
    free(host);
    free(port);
    return p;
}

void
pn_tcping_cancel(pn_tcping_t *p)
{
    if (p != NULL)
        probe_free(p);
}
