/* tunnel/ctrl.c: the control channel's framing, pings and liveness. */
#include "tunnel/ctrl.h"
#include "core/log.h"
#include "core/mem.h"

#include <string.h>

#define CTRL_OUT_MAX (1024 * 1024)   /* queued output bound; a peer that never reads is dropped */
#define CTRL_DEAD_INTERVALS 3
#define CTRL_IN_MIN 4096              /* input buffer while frames are small (most are) */

struct tun_ctrl {
    ev_loop_t *loop;            /* borrowed */
    pn_xprt_t *x;               /* owned; watched by the channel */
    ev_timer_t *tick;           /* owned: pings and the liveness check */
    ev_defer_t *defer;          /* owned: close notification and deferred free */
    uint8_t *in;                /* owned: input, in_cap bytes (CTRL_IN_MIN..PN_FRAME_MAX);
                                 * NULL while nothing is held (idle costs nothing) */
    size_t in_len, in_cap;
    uint8_t *out;               /* owned: queued output (NULL while none: idle costs nothing) */
    size_t out_len, out_cap;
    uint64_t interval_ms;
    uint64_t last_rx_ms;        /* when anything last arrived */
    uint64_t last_tick_ms;      /* when the tick last ran */
    uint64_t rtt_ms;
    int in_cb;                  /* depth of owner callbacks running */
    int freed;                  /* tun_ctrl_free() called inside a callback */
    int closing;                /* ended: close callback pending or done */
    const char *err;            /* why it ended */
    tun_ctrl_frame_cb on_frame;
    tun_ctrl_close_cb on_close;
    void *ctx;                  /* borrowed */
};

static void ctrl_update(tun_ctrl_t *c);

static void
ctrl_destroy(tun_ctrl_t *c)
{
    ev_timer_free(c->tick);
    ev_defer_free(c->defer);
    pn_xprt_free(c->x);
    free(c->in);
    free(c->out);
    free(c);
}

static void
ctrl_end(tun_ctrl_t *c, const char *err)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->err = err;
    pn_xprt_unwatch(c->x);
    ev_timer_disarm(c->tick);
    ev_defer_schedule(c->defer);
}

static void on_io(pn_xprt_t *x, int ready, void *arg);

/* Deferred work, in order of precedence: a free requested from inside a
 * callback, the close notification, or a first read kicked off by
 * tun_ctrl_new() (so no callback runs before the owner holds the pointer). */
static void
on_defer(void *arg)
{
    tun_ctrl_t *c = arg;
    if (c->freed) {
        ctrl_destroy(c);
        return;
    }
    if (c->closing) {
        c->in_cb++;
        c->on_close(c, c->err, c->ctx);
        c->in_cb--;
        if (c->freed)
            ctrl_destroy(c);
        return;
    }
    on_io(c->x, EV_RD, c);
}

int
tun_ctrl_send(tun_ctrl_t *c, uint8_t type, const void *payload, size_t len)
{
    if (c->closing || len > PN_FRAME_MAX_PAYLOAD)
        return PN_ERR;
    size_t need = c->out_len + PN_FRAME_HDR + len;
    if (need > CTRL_OUT_MAX) {
        ctrl_end(c, "control channel output overflow (peer not reading)");
        return PN_ERR;
    }
    if (need > c->out_cap) {
        c->out_cap = need < 4096 ? 4096 : need * 2;
        c->out = xrealloc(c->out, c->out_cap);
    }
    c->out_len += pn_frame_encode(c->out + c->out_len, c->out_cap - c->out_len, type, 0, 0,
                                  payload, len);
    ctrl_update(c);
    return PN_OK;
}

/* Write what is queued; return the readiness needed to continue, or 0. */
static int
ctrl_flush(tun_ctrl_t *c)
{
    while (c->out_len > 0) {
        ssize_t n = c->x->ops->write(c->x, c->out, c->out_len);
        if (n == PN_AGAIN)
            return c->x->want;
        if (n < 0) {
            ctrl_end(c, c->x->err ? c->x->err : "write failed");
            return 0;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    free(c->out);               /* an idle channel holds no output buffer */
    c->out = NULL;
    c->out_cap = 0;
    return 0;
}

static void
handle_frame(tun_ctrl_t *c, const pn_frame_t *f)
{
    if (f->type == PN_FT_PING) {
        if (f->len == PN_PING_LEN)
            tun_ctrl_send(c, PN_FT_PONG, f->payload, f->len);
        return;
    }
    if (f->type == PN_FT_PONG) {
        uint64_t sent = 0;
        if (f->len == PN_PING_LEN) {
            memcpy(&sent, f->payload, sizeof(sent));    /* our own bytes: host order */
            uint64_t now = pn_now_ms();
            if (sent <= now)
                c->rtt_ms = now - sent;
        }
        return;
    }
    c->in_cb++;
    c->on_frame(c, f, c->ctx);
    c->in_cb--;
}

/* Read and dispatch every whole frame available, until the transport would
 * block, the channel ends, or the owner frees it. */
static void
ctrl_read(tun_ctrl_t *c)
{
    for (;;) {
        if (c->in == NULL)
            c->in = xmalloc(c->in_cap);
        if (c->in_len == c->in_cap) {
            /* A frame longer than the small buffer: room for the largest one. */
            c->in_cap = PN_FRAME_MAX;
            c->in = xrealloc(c->in, c->in_cap);
        }
        ssize_t n = c->x->ops->read(c->x, c->in + c->in_len, c->in_cap - c->in_len);
        if (n == PN_AGAIN) {
            if (c->in_len == 0) {
                free(c->in);        /* an idle channel holds no input buffer */
                c->in = NULL;
            }
            return;
        }
        if (n < 0) {
            ctrl_end(c, c->x->err ? c->x->err : "read failed");
            return;
        }
        if (n == 0) {
            ctrl_end(c, "closed by the peer");
            return;
        }
        c->in_len += (size_t)n;
        c->last_rx_ms = pn_now_ms();
        size_t off = 0;
        while (!c->closing && !c->freed) {
            pn_frame_t f;
            size_t used;
            const char *why;
            int rc = pn_frame_decode(c->in + off, c->in_len - off, &f, &used, &why);
            if (rc == PN_AGAIN)
                break;
            if (rc == PN_OK && f.stream != 0) {
                rc = PN_ERR;        /* stream ids belong to the multiplexed transport */
                why = "non-zero stream id on the pool transport";
            }
            if (rc == PN_OK)
                rc = pn_frame_check(&f, &why);  /* known type, size right for it */
            if (rc != PN_OK) {
                tun_ctrl_fail(c, why == pn_why_version ? PN_EC_VERSION : PN_EC_PROTOCOL, why);
                return;
            }
            handle_frame(c, &f);
            off += used;
        }
        if (c->closing || c->freed)
            return;
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
        if (c->in_cap > CTRL_IN_MIN && c->in_len <= CTRL_IN_MIN) {
            c->in_cap = CTRL_IN_MIN;    /* the large frame is gone: back to small */
            c->in = xrealloc(c->in, c->in_cap);
        }
    }
}

static void
ctrl_update(tun_ctrl_t *c)
{
    if (c->closing || c->freed)
        return;
    int want = ctrl_flush(c);
    if (c->closing)
        return;
    /* Reading always stays on: control input is small and must never stall. */
    pn_xprt_watch(c->x, c->loop, EV_RD | want, on_io, c);
}

static void
on_io(pn_xprt_t *x, int ready, void *arg)
{
    tun_ctrl_t *c = arg;
    c->in_cb++;
    ctrl_read(c);
    c->in_cb--;
    if (c->freed && c->in_cb == 0) {
        ctrl_destroy(c);
        return;
    }
    ctrl_update(c);
}

static long
on_tick(ev_timer_t *t, void *arg)
{
    tun_ctrl_t *c = arg;
    uint64_t now = pn_now_ms();
    /* A tick more than an interval late: this process did not run (stopped,
     * or its loop stalled); what the peer sent meanwhile waits unread, so
     * that time is not the peer's silence. */
    if (now - c->last_tick_ms > 2 * c->interval_ms) {
        c->last_rx_ms += now - c->last_tick_ms - c->interval_ms;
        if (c->last_rx_ms > now)
            c->last_rx_ms = now;
    }
    c->last_tick_ms = now;
    if (now - c->last_rx_ms >= CTRL_DEAD_INTERVALS * c->interval_ms) {
        ctrl_end(c, "control channel silent for 3 intervals");
        return EV_TIMER_STOP;
    }
    tun_ctrl_send(c, PN_FT_PING, &now, sizeof(now));
    return (long)c->interval_ms;
}

tun_ctrl_t *
tun_ctrl_new(ev_loop_t *loop, pn_xprt_t *x, uint64_t interval_ms, tun_ctrl_frame_cb on_frame,
             tun_ctrl_close_cb on_close, void *ctx)
{
    tun_ctrl_t *c = xcalloc(sizeof(*c));
    c->loop = loop;
    c->x = x;
    c->interval_ms = interval_ms;
    c->on_frame = on_frame;
    c->on_close = on_close;
    c->ctx = ctx;
    c->in_cap = CTRL_IN_MIN;    /* allocated when a read comes, freed when drained */
    c->last_rx_ms = c->last_tick_ms = pn_now_ms();
    c->tick = ev_timer_new(loop, on_tick, c);
    c->defer = ev_defer_new(loop, on_defer, c);
    pn_xprt_watch(x, loop, EV_RD, on_io, c);
    ev_timer_arm(c->tick, interval_ms);
    /* Bytes may already sit decrypted in the TLS layer after the handshake. */
    if (x->ops->pending(x) > 0)
        ev_defer_schedule(c->defer);
    return c;
}

void
tun_ctrl_fail(tun_ctrl_t *c, uint16_t code, const char *reason)
{
    uint8_t p[2 + PN_ERROR_REASON_MAX];
    if (c->closing)
        return;
    size_t n = pn_error_encode(code, reason, p, sizeof(p));
    if (n > 0)
        tun_ctrl_send(c, PN_FT_ERROR, p, n);
    ctrl_flush(c);
    ctrl_end(c, reason);
}

uint64_t
tun_ctrl_rtt(const tun_ctrl_t *c)
{
    return c->rtt_ms;
}

pn_xprt_t *
tun_ctrl_xprt(tun_ctrl_t *c)
{
    return c->x;
}

void
tun_ctrl_free_(tun_ctrl_t *c)
{
    if (c == NULL)
        return;
    if (c->in_cb > 0) {
        c->freed = 1;
        pn_xprt_unwatch(c->x);
        ev_timer_disarm(c->tick);
        ev_defer_schedule(c->defer);
        return;
    }
    ctrl_destroy(c);
}
