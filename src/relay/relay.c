/* relay/relay.c: the relay over the transport vtable.
 *
 * One function, relay_pump(), moves one direction; relay_step() pumps both and
 * then recomputes which readiness each transport is watched for
 * (pn_xprt_watch: an ev_io for a socket, a wake for a stream without fd). Any
 * readiness on either side runs relay_step(): with TLS, reading may need the
 * socket writable (and writing readable), so the direction a readiness serves
 * cannot be told from the event alone, and both are pumped; between two
 * transports whose readiness concerns one direction (plain sockets, Shadowsocks:
 * ops->split_ready) it can (on_ready), and only that direction is. A direction
 * reads until EAGAIN, or until a read says the socket is drained (x->drained:
 * plain sockets and Shadowsocks, relay_pump).
 *
 *   side 0 (entry) --dir 0 (rx)--> side 1 (exit)
 *   side 0 (entry) <--dir 1 (tx)-- side 1 (exit)
 *
 * A direction holds a buffer only while bytes are in flight (core/buf.h), so an
 * idle connection costs no buffer memory. Backpressure is natural: a direction
 * with unsent bytes does not read until they drain.
 *
 * Zero copy: when both transports carry bytes as they are (plain TCP) and
 * both have a socket (fd >= 0: a stream inside a multiplexed connection has
 * none), a direction moves them with splice() through a pipe instead of a buffer, so
 * they never enter user space. The pipe, too, is held only while bytes are in
 * it (a small per-thread pool keeps empty ones). When the kernel refuses
 * splice for a pair of sockets, or POSTERN_NO_SPLICE is set, the direction
 * falls back to the buffer; the bytes of the user's first read (block=) and a
 * PROXY header always go through the buffer. */
#include "relay/relay.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/socket.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PUMP_ROUNDS 16          /* buffers moved per direction per step, for fairness */
#define NOBUF_RETRY_MS 50       /* wait when the buffer pool is exhausted */
#define LIMIT_CHUNK 16384       /* least bytes a rate-limited read waits for */

enum dir_state {
    DIR_ST_OPEN = 0,            /* reading and writing */
    DIR_ST_FLUSH,               /* EOF read: flushing what is left, then shut down the writer */
    DIR_ST_DONE,                /* writer shut down: this direction is over */
};

struct relay_dir {
    pn_buf_t *buf;              /* owned while bytes are in flight, else NULL */
    enum dir_state st;
    int want_src;               /* EV_RD|EV_WR the source waits for, 0 if not reading */
    int want_dst;               /* readiness the destination waits for, 0 if not writing */
    uint64_t *count;            /* borrowed counter or NULL */
    int count_on_read;          /* count bytes when read (rx) rather than when written (tx) */
    int splice;                 /* this direction may move bytes with splice() */
    int pipe[2];                /* owned while bytes are in it: read end, write end; -1 when none */
    size_t in_pipe;             /* bytes in <pipe> */
    pn_xprt_train_t seg;        /* a plain TCP destination's whole segments (buf_room) */
};

#define PIPE_KEEP 64            /* empty pipes kept per thread for reuse */

/* A splice from a socket into an empty pipe stops short of what was asked
 * either because the socket's receive queue is empty or because the pipe's
 * slots are all used (one per segment or page fragment, 16 by default, however
 * few bytes each holds). Only a result under SHORT_PIECE bytes per slot is
 * taken to say "drained": a pipe that filled with fewer bytes held segments
 * under 256 bytes each, and guessing wrong then costs one loop turn (the
 * readiness is level-triggered, see relay_pump), never a stall. */
#define SHORT_PIECE 256
#define PIPE_SLOTS_MAX 16       /* the kernel's default pipe; a pipe it would not grow keeps it */

/* POSTERN_TCP_DATA_BUF_SIZE (relay_set_buf_size): bytes a splice moves at once
 * (the pipes' size), and a buffered read (at most a core/buf.h buffer); a
 * splice shorter than <splice_drained> (and than asked) emptied the socket. */
static size_t pipe_size = PN_BUF_SIZE, read_size = PN_BUF_SIZE;
static size_t splice_drained = PIPE_SLOTS_MAX * SHORT_PIECE;

void
relay_set_buf_size(size_t bytes)
{
    size_t slots = bytes / 4096;
    pipe_size = bytes;
    read_size = bytes < PN_BUF_SIZE ? bytes : PN_BUF_SIZE;
    slots = slots < 1 ? 1 : slots > PIPE_SLOTS_MAX ? PIPE_SLOTS_MAX : slots;
    splice_drained = slots * SHORT_PIECE;
}

/* A buffered read's size for direction <d> writing <dst>: read_size, or less
 * so that the write fills whole TCP segments (core/xprt.h's pn_xprt_fd_train):
 * as <dst> says (ops->write_max: a Shadowsocks stream takes the plaintext that
 * seals into them, 65347 bytes on loopback), or for a plain TCP socket the
 * segments themselves (65483 on loopback). A 64 KiB read would leave as a full
 * segment and a short one, two trips through the stack for one. */
static size_t
buf_room(struct relay_dir *d, pn_xprt_t *dst)
{
    size_t m = 0;
    if (dst->ops->write_max != NULL) {
        m = dst->ops->write_max(dst);
    } else if (dst->ops->zero_copy && dst->fd >= 0) {
        m = pn_xprt_train_get(&d->seg, dst->fd);
    }
    return m > 0 && m < read_size ? m : read_size;
}

static __thread int pipe_pool[PIPE_KEEP][2];
static __thread int pipe_pool_n;

/* Take an empty pipe into <p>; -1 when none can be made (out of fds). */
static int
pipe_take(int p[2])
{
    if (pipe_pool_n > 0) {
        pipe_pool_n--;
        p[0] = pipe_pool[pipe_pool_n][0];
        p[1] = pipe_pool[pipe_pool_n][1];
        return 0;
    }
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1)
        return -1;
    if (pipe_size != PN_BUF_SIZE && fcntl(p[1], F_SETPIPE_SZ, (int)pipe_size) == -1) {
        static int told;
        if (!told++)
            log_warn("relay: cannot make a pipe of %zu bytes (%s; see "
                     "/proc/sys/fs/pipe-max-size): pipes keep the kernel's size",
                     pipe_size, strerror(errno));
    }
    return 0;
}

/* Give back an empty pipe (a pipe with bytes in it is closed instead). */
static void
pipe_give(int p[2], int empty)
{
    if (p[0] == -1)
        return;
    if (empty && pipe_pool_n < PIPE_KEEP) {
        pipe_pool[pipe_pool_n][0] = p[0];
        pipe_pool[pipe_pool_n][1] = p[1];
        pipe_pool_n++;
    } else {
        close(p[0]);
        close(p[1]);
    }
    p[0] = p[1] = -1;
}

/* Whether splice() may be tried at all (POSTERN_NO_SPLICE forces the
 * buffered path, for tests and for kernels that misbehave). */
static int
splice_allowed(void)
{
    static int allowed = -1;
    if (allowed == -1) {
        const char *e = getenv("POSTERN_NO_SPLICE");
        allowed = e == NULL || *e == '\0' || strcmp(e, "0") == 0;
    }
    return allowed;
}

struct relay {
    ev_loop_t *loop;            /* borrowed */
    pn_xprt_t *x[2];            /* owned; side 0 entry, side 1 exit; watched by the relay */
    struct relay_dir d[2];      /* direction d reads side d, writes side 1-d */
    uint64_t idle_ms;
    uint64_t last_ms;           /* when a byte last moved */
    pn_bucket_t *limit;         /* borrowed, or NULL */
    relay_first_cb first;       /* NULL once the first bytes were judged */
    void *first_ctx;            /* borrowed */
    int split;                  /* both ends are split_ready: a readiness names its direction */
    int again;                  /* bit d: direction d is to be pumped by the deferred step */
    int retry_armed;            /* the pump armed the timer for a retry this step */
    ev_timer_t *timer;          /* owned: idle timeout and buffer-pool retries */
    ev_defer_t *defer;          /* owned: re-step (TLS pending data) and finishing */
    const char *err;            /* why it ended, NULL while running or on a clean end */
    int ending;                 /* set once: the relay is finishing */
    int aborted;                /* ended by relay_abort: both ends are reset */
    relay_done_cb cb;
    void *ctx;                  /* borrowed */
};

/* Relays of this thread now, their most since the last trim, and whether a
 * burst of at least TRIM_PEAK was seen since all ended. glibc gives back only
 * the heap's top by itself, so after a burst a process would keep its largest
 * footprint for good (freed chunks lie between live ones): when the relays
 * have halved since the last trim (a burst ebbing, so at least TRIM_PEAK / 2
 * ended in between) or the last one of a burst ended, the free pages inside
 * the heap go back to the kernel (malloc_trim), and with the last one the
 * buffer pool's spare buffers (core/buf.h). */
#define TRIM_PEAK 256
static __thread size_t relays_live, relays_mark;
static __thread int relays_burst;

static void
relays_count(int delta)
{
    if (delta > 0) {
        if (++relays_live > relays_mark)
            relays_mark = relays_live;
        if (relays_mark >= TRIM_PEAK)
            relays_burst = 1;
        return;
    }
    relays_live--;
    if ((relays_mark >= TRIM_PEAK && relays_live <= relays_mark / 2)
        || (relays_burst && relays_live == 0)) {
        relays_mark = relays_live;
        relays_burst = relays_live > 0;
        if (relays_live == 0)
            pn_buf_drain();     /* the burst's spare buffers, too */
#ifdef __GLIBC__
        malloc_trim(0);
#endif
    }
}

#define DIRS_ALL 3              /* relay_step: pump both directions (bit d: direction d) */

static void relay_step(relay_t *r, int dirs);
static void on_ready(pn_xprt_t *x, int ready, void *arg);

static void
relay_end(relay_t *r, const char *err)
{
    if (r->ending)
        return;
    r->ending = 1;
    r->err = err;
    pn_xprt_unwatch(r->x[0]);
    pn_xprt_unwatch(r->x[1]);
    ev_timer_disarm(r->timer);
    ev_defer_schedule(r->defer);
}

/* Close <x>'s socket with a reset (<on>) or, as usual, with a FIN. */
static void
linger_reset(pn_xprt_t *x, int on)
{
    pn_sock_reset_on_close(x->fd, on);
}

/* End <r> on an error of one of its ends (a reset, a TLS end without
 * close_notify, a failed write): both ends are closed with a reset (SO_LINGER
 * 0), not a FIN, so that whoever is still there sees the transfer cut short
 * rather than complete. (A relay runs with its sockets set so from the start:
 * when the process dies, killed, the kernel resets them too; relay_end gives a
 * FIN back to an end that is not an abort.) */
static void
relay_abort(relay_t *r, const char *err)
{
    r->aborted = 1;
    relay_end(r, err);
}

/* Move bytes of direction <di> until the source would block or was drained,
 * the destination would block, or PUMP_ROUNDS buffers went through. Return 1
 * when work may be left that no fd readiness will announce (TLS bytes already
 * decrypted).
 *
 * Drained: a read that emptied its socket and left nothing held (src->drained:
 * a plain socket's recv() returned short, which it does only then; a
 * Shadowsocks stream's recv() did and no whole chunk is left; a splice, see
 * SHORT_PIECE), so once its bytes are sent the direction waits for EV_RD
 * instead of reading again only to get EAGAIN (2 of the 8 splices per request
 * of a small HTTP exchange did, and half the reads of a Shadowsocks upload,
 * with the idle direction's). This cannot stall: the socket is watched
 * level-triggered and persistent (core/ev.c registers EV_READ|EV_PERSIST
 * without EV_ET; pn_xprt_watch, core/xprt.h), so bytes that arrived since, or
 * were left, and an end of stream (read as 0 on the next step, then FLUSH as
 * before) are reported at the next loop turn. TLS (a read returns one record,
 * short with more behind it, some perhaps inside OpenSSL where no readiness
 * announces them) and transports without fd never say drained: those read
 * until PN_AGAIN as before. */
static int
relay_pump(relay_t *r, int di)
{
    struct relay_dir *d = &r->d[di];
    pn_xprt_t *src = r->x[di], *dst = r->x[1 - di];
    int drained = 0;            /* a read emptied the source's socket */

    d->want_src = d->want_dst = 0;
    for (int round = 0; round < PUMP_ROUNDS; round++) {
        if (d->buf != NULL && d->buf->start < d->buf->end) {
            ssize_t n = dst->ops->write(dst, d->buf->data + d->buf->start,
                                        d->buf->end - d->buf->start);
            if (n == PN_AGAIN) {
                d->want_dst = dst->want;
                return 0;
            }
            if (n < 0) {
                relay_abort(r, dst->err ? dst->err : "write failed");
                return 0;
            }
            d->buf->start += (uint32_t)n;
            if (d->count && !d->count_on_read)
                *d->count += (uint64_t)n;
            r->last_ms = pn_now_ms();
            continue;
        }
        if (d->in_pipe > 0) {
            ssize_t n = splice(d->pipe[0], NULL, dst->fd, NULL, d->in_pipe,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
                d->want_dst = EV_WR;
                return 0;
            }
            if (n <= 0) {
                relay_abort(r, n == 0 ? "splice: nothing moved" : strerror(errno));
                return 0;
            }
            d->in_pipe -= (size_t)n;
            if (d->count && !d->count_on_read)
                *d->count += (uint64_t)n;
            r->last_ms = pn_now_ms();
            continue;
        }
        pipe_give(d->pipe, 1);
        pn_buf_put(d->buf);
        if (d->st == DIR_ST_FLUSH) {
            linger_reset(dst, 0);       /* its stream is whole: a FIN, even if we die */
            int rc = dst->ops->shutdown_wr(dst);
            if (rc == PN_AGAIN) {
                d->want_dst = dst->want;
                return 0;
            }
            if (rc != PN_OK) {
                relay_abort(r, dst->err ? dst->err : "shutdown failed");
                return 0;
            }
            d->st = DIR_ST_DONE;
        }
        if (d->st == DIR_ST_DONE)
            return 0;
        if (drained) {
            d->want_src = EV_RD;        /* level-triggered: see above */
            return 0;
        }
        int piped = d->splice && (di != 0 || r->first == NULL);
        size_t cap = piped ? read_size : buf_room(d, dst);
        size_t room = piped ? pipe_size : cap;
        if (r->limit != NULL) {
            /* Under a limit, read only once a useful piece has accrued: taking
             * whatever trickled in since the last step would move a few bytes
             * per system call and step again at once, a busy loop. Until then
             * stop reading (the kernel's buffers push back on the sender). */
            uint64_t us;
            room = (size_t)pn_bucket_take_chunk(r->limit, room, LIMIT_CHUNK,
                                                pn_now_us(), &us);
            if (room == 0) {
                ev_timer_arm(r->timer, us / 1000 + 1);
                r->retry_armed = 1;
                return 0;
            }
        }
        if (piped) {
            /* Zero copy: from the source socket into a pipe; the next round
             * moves the pipe's bytes on to the destination. */
            if (d->pipe[0] == -1 && pipe_take(d->pipe) == -1) {
                d->splice = 0;              /* out of descriptors: use the buffer */
            } else {
                ssize_t n = splice(src->fd, NULL, d->pipe[1], NULL, room,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                int e = errno;
                if (r->limit != NULL)
                    pn_bucket_put_back(r->limit, room - (n > 0 ? (size_t)n : 0));
                if (n > 0) {
                    static __thread int told;
                    if (!told) {
                        told = 1;
                        log_debug("relay: zero-copy path in use (splice)");
                    }
                    d->in_pipe = (size_t)n;
                    drained = (size_t)n < room && (size_t)n < splice_drained;
                    if (d->count && d->count_on_read)
                        *d->count += (uint64_t)n;
                    r->last_ms = pn_now_ms();
                    continue;
                }
                if (n == 0) {
                    d->st = DIR_ST_FLUSH;
                    continue;
                }
                if (e == EAGAIN || e == EINTR) {
                    pipe_give(d->pipe, 1);
                    d->want_src = EV_RD;
                    return 0;
                }
                if (e != EINVAL && e != ENOSYS && e != EOPNOTSUPP) {
                    relay_abort(r, strerror(e));
                    return 0;
                }
                /* The kernel will not splice these: fall back to the buffer. */
                log_debug("relay: splice refused (%s), using the buffered path", strerror(e));
                pipe_give(d->pipe, 1);
                d->splice = 0;
                if (r->limit != NULL)
                    room = (size_t)pn_bucket_take(r->limit, room, pn_now_us());
                if (room == 0)
                    continue;
            }
        }
        if (room > cap) {
            /* A pipe's room (splice refused, or no pipe): what a buffer holds. */
            if (r->limit != NULL)
                pn_bucket_put_back(r->limit, room - cap);
            room = cap;
        }
        d->buf = pn_buf_get();
        if (d->buf == NULL) {
            if (r->limit != NULL)
                pn_bucket_put_back(r->limit, room);
            ev_timer_arm(r->timer, NOBUF_RETRY_MS);
            r->retry_armed = 1;
            return 0;
        }
        ssize_t n = src->ops->read(src, d->buf->data, room);
        if (r->limit != NULL)
            pn_bucket_put_back(r->limit, room - (n > 0 ? (size_t)n : 0));
        if (n == PN_AGAIN) {
            pn_buf_put(d->buf);
            d->want_src = src->want;
            return 0;
        }
        if (n < 0) {
            relay_abort(r, src->err ? src->err : "read failed");
            return 0;
        }
        if (n == 0) {
            d->st = DIR_ST_FLUSH;
            continue;
        }
        if (di == 0 && r->first != NULL) {
            relay_first_cb first = r->first;
            r->first = NULL;
            if (first((const uint8_t *)d->buf->data, (size_t)n, r->first_ctx) != 0) {
                relay_end(r, "blocked");
                return 0;
            }
        }
        d->buf->end = (uint32_t)n;
        drained = src->drained;
        if (d->count && d->count_on_read)
            *d->count += (uint64_t)n;
        r->last_ms = pn_now_ms();
    }
    /* Out of rounds with the source still readable: come back next turn. */
    return 1;
}

/* Pump the directions in <dirs> (bit d: direction d), then watch for what
 * both wait for. A direction left out keeps the wants of its last pump: it
 * was stopped on them and nothing since concerned it. */
static void
relay_step(relay_t *r, int dirs)
{
    int again = 0;              /* bit d: direction d has work no readiness will announce */
    for (int di = 0; di < 2 && !r->ending; di++)
        if (dirs & (1 << di))
            again |= relay_pump(r, di) << di;
    if (r->ending)
        return;
    if (r->d[0].st == DIR_ST_DONE && r->d[1].st == DIR_ST_DONE) {
        relay_end(r, NULL);
        return;
    }
    /* Side s waits for what its reader (direction s) and its writer
     * (direction 1-s) asked of it (no system call when that did not change). */
    for (int s = 0; s < 2; s++)
        pn_xprt_watch(r->x[s], r->loop, r->d[s].want_src | r->d[1 - s].want_dst, on_ready, r);
    for (int di = 0; di < 2; di++)
        if (r->d[di].want_src && r->x[di]->ops->pending(r->x[di]) > 0)
            again |= 1 << di;
    if (again) {
        r->again |= again;
        ev_defer_schedule(r->defer);
    }
}

/* A readiness of side s. Between two split_ready transports (plain sockets,
 * Shadowsocks) it concerns only the direction that reads s (EV_RD) and the one
 * that writes s (EV_WR): the other would read only to get EAGAIN (once per
 * request and direction of a small exchange, where the request is read in one
 * step and the answer in another; once per wake-up of a bulk transfer). The
 * watch is level-triggered, so a readiness of the other side comes by itself,
 * and bytes a transport holds ahead are found by relay_step (ops->pending).
 * With TLS (reading may need the socket writable, writing readable, records
 * wait inside OpenSSL) or a stream without fd, both are pumped. */
static void
on_ready(pn_xprt_t *x, int ready, void *arg)
{
    relay_t *r = arg;
    int s = x == r->x[1];
    if (!r->split) {
        relay_step(r, DIRS_ALL);
        return;
    }
    relay_step(r, ((ready & EV_RD) ? 1 << s : 0) | ((ready & EV_WR) ? 1 << (1 - s) : 0));
}

static void
on_defer(void *arg)
{
    relay_t *r = arg;
    if (!r->ending) {
        /* Between split_ready transports only the directions with work left
         * (the other one would read only to get EAGAIN; see on_ready). */
        int dirs = r->split ? r->again : DIRS_ALL;
        r->again = 0;
        relay_step(r, dirs);
        return;
    }
    relay_done_cb cb = r->cb;
    void *ctx = r->ctx;
    const char *err = r->err;
    if (err != NULL && !r->aborted)     /* idle timeout, blocked...: a FIN as ever */
        for (int s = 0; s < 2; s++)
            linger_reset(r->x[s], 0);
    cb(r, err, ctx);
    relay_free_(r);
}

static long
on_timer(ev_timer_t *t, void *arg)
{
    relay_t *r = arg;
    if (r->idle_ms != 0) {
        uint64_t idle = pn_now_ms() - r->last_ms;
        if (idle >= r->idle_ms) {
            relay_end(r, "idle timeout");
            return EV_TIMER_STOP;
        }
    }
    /* A retry (rate limit, buffer pool) or an early idle check: step. When the
     * step armed a retry, that comes first and checks idleness in turn. */
    r->retry_armed = 0;
    relay_step(r, DIRS_ALL);
    if (r->ending || r->retry_armed || r->idle_ms == 0)
        return EV_TIMER_STOP;
    uint64_t left = r->idle_ms - (pn_now_ms() - r->last_ms);
    return (long)(left < NOBUF_RETRY_MS ? NOBUF_RETRY_MS : left);
}

relay_t *
relay_new(ev_loop_t *loop, pn_xprt_t *entry, pn_xprt_t *exit_, const relay_opts_t *o,
          relay_done_cb cb, void *ctx)
{
    relay_t *r = xcalloc(sizeof(*r));
    relays_count(1);
    r->loop = loop;
    r->x[0] = entry;
    r->x[1] = exit_;
    r->cb = cb;
    r->ctx = ctx;
    r->idle_ms = o ? o->idle_ms : 0;
    r->d[0].count = o ? o->rx : NULL;
    r->d[0].count_on_read = 1;
    r->d[1].count = o ? o->tx : NULL;
    /* splice() needs a socket at both ends carrying the bytes as they are. */
    int zc = entry->ops->zero_copy && exit_->ops->zero_copy && entry->fd >= 0 &&
             exit_->fd >= 0 && splice_allowed();
    r->split = entry->ops->split_ready && exit_->ops->split_ready;   /* both on a socket */
    for (int di = 0; di < 2; di++) {
        r->d[di].splice = zc;
        r->d[di].pipe[0] = r->d[di].pipe[1] = -1;
    }
    /* Until a direction is whole, a kill -9 of this process must reset the
     * other end, not hand it a FIN that looks like the end of the transfer. */
    linger_reset(entry, 1);
    linger_reset(exit_, 1);
    r->limit = o ? o->limit : NULL;
    r->first = o ? o->first : NULL;
    r->first_ctx = o ? o->first_ctx : NULL;
    r->last_ms = pn_now_ms();
    r->timer = ev_timer_new(loop, on_timer, r);
    r->defer = ev_defer_new(loop, on_defer, r);
    if (o != NULL && o->exit_hdr_len > 0) {
        /* A header for the exit (PROXY protocol) goes out first, uncounted:
         * it is ours, not the user's. */
        r->d[0].buf = pn_buf_get();
        if (r->d[0].buf == NULL) {
            relay_end(r, "out of buffers");
            return r;
        }
        memcpy(r->d[0].buf->data, o->exit_hdr, o->exit_hdr_len);
        r->d[0].buf->end = (uint32_t)o->exit_hdr_len;
    }
    if (o != NULL && o->entry_hdr_len > 0) {
        /* Bytes the exit sent before the relay took over (a WebSocket server's
         * first frames after its 101) go to the entry first. */
        r->d[1].buf = pn_buf_get();
        if (r->d[1].buf == NULL) {
            relay_end(r, "out of buffers");
            return r;
        }
        memcpy(r->d[1].buf->data, o->entry_hdr, o->entry_hdr_len);
        r->d[1].buf->end = (uint32_t)o->entry_hdr_len;
    }
    if (r->idle_ms != 0)
        ev_timer_arm(r->timer, r->idle_ms);
    relay_step(r, DIRS_ALL);
    return r;
}

void
relay_free_(relay_t *r)
{
    if (r == NULL)
        return;
    /* Freed while still relaying (its session or the process ends under it):
     * the transfer is cut short, and both ends must see a reset, not a FIN. */
    if (!r->ending)
        relay_abort(r, NULL);
    else if (r->err != NULL && !r->aborted)
        for (int s = 0; s < 2; s++)
            linger_reset(r->x[s], 0);
    for (int s = 0; s < 2; s++) {
        pn_xprt_free(r->x[s]);
        pn_buf_put(r->d[s].buf);
        pipe_give(r->d[s].pipe, r->d[s].in_pipe == 0);
    }
    ev_timer_free(r->timer);
    ev_defer_free(r->defer);
    free(r);
    relays_count(-1);
}
