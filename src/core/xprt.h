/* core/xprt.h: the transport, one stream of bytes whatever carries it.
 *
 * Raw TCP (net/xprt_raw.c) and TLS (tls/xprt_tls.c) implement it over a
 * socket; a stream inside a multiplexed connection (a WebSocket, an HTTP/2 or
 * QUIC stream) implements it with no fd of its own. Its users (the relay, the
 * UDP sessions' stream end, the tunnel's pool and control channel, the hub)
 * never ask which one they hold:
 *
 *   user --read / write / shutdown_wr--> transport
 *   user <--ready(x, EV_RD|EV_WR)------- transport     (pn_xprt_watch)
 *
 * I/O calls. read/write return a byte count > 0, 0 for end of stream (read
 * only), PN_AGAIN when the call would block (then <want> says which readiness
 * to wait for: TLS may need the socket writable to read, or readable to write),
 * or PN_ERR with <err> pointing at a static description.
 *
 * Readiness by subscription (as haproxy's xprt_ops->subscribe): a transport
 * has at most one subscriber, set by pn_xprt_watch(); the subscriber is told
 * when the transport may be ready for what it asked, then calls read/write and
 * gets PN_AGAIN when it was not. The mask is level-triggered and persistent,
 * like ev_io_set(): while a direction in it stays ready, the callback keeps
 * coming (for a transport without fd: again after the other ready events,
 * as the loop's deferred callbacks run, never from inside itself). A transport
 * with a socket watches it with one ev_io of its own (pn_xprt_fd_watch); one
 * without fd computes its readiness (ops->ready) and is woken by whatever feeds
 * it (pn_xprt_wake), and the callback then runs from a deferred event, never
 * inside the call that changed the readiness.
 *
 * Handing a transport to another owner: the old owner stops its watch
 * (pn_xprt_unwatch) before it lets go, unless the new owner watches at once;
 * no callback reaches a subscriber after it was replaced or stopped. */
#ifndef PN_CORE_XPRT_H
#define PN_CORE_XPRT_H

#include "core/err.h"
#include "core/ev.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct pn_xprt pn_xprt_t;

/** Called with the transport <x>, what it may be ready for (<ready>, a subset of
 *  the mask watched, never 0) and the subscriber's <arg>. May free <x>. */
typedef void (*pn_xprt_ready_cb)(pn_xprt_t *x, int ready, void *arg);

struct pn_xprt_ops {
    const char *name;               /* "tcp", "tls", ... */
    int zero_copy;                  /* x->fd carries the bytes as they are: splice() may move them */
    /* A readiness concerns one direction: read waits only for EV_RD and write
     * only for EV_WR on x->fd, and pending() counts whatever it holds ahead
     * (raw TCP, Shadowsocks; not TLS, whose reads may need EV_WR). A relay
     * then pumps only the direction a readiness serves (relay/relay.c). */
    int split_ready;
    /** Read up to <len> bytes: > 0, 0 at end of stream, PN_AGAIN (want set) or PN_ERR. */
    ssize_t (*read)(pn_xprt_t *x, void *buf, size_t len);
    /** Write up to <len> > 0 bytes: > 0, PN_AGAIN (want set) or PN_ERR. After
     *  PN_AGAIN the next call starts with the same bytes (TLS has sealed them). */
    ssize_t (*write)(pn_xprt_t *x, const void *buf, size_t len);
    /** End the writing side once: the peer reads end of stream while this side
     *  can still read. PN_OK, PN_AGAIN (want set) or PN_ERR. */
    int (*shutdown_wr)(pn_xprt_t *x);
    /** Bytes readable now that no readiness will announce again (TLS records
     *  decrypted ahead): a subscriber that stops reading before PN_AGAIN checks
     *  it and comes back by itself. 0 for transports without fd, whose
     *  readiness is computed from what they hold (ops->ready). */
    size_t (*pending)(pn_xprt_t *x);
    /** Apply x->sub after it changed (a mask, or a new subscriber): fd
     *  transports use pn_xprt_fd_watch, transports without fd pn_xprt_wake_watch
     *  (or their own, e.g. to watch a transport they wrap). Called only by
     *  pn_xprt_watch(). */
    void (*watch)(pn_xprt_t *x);
    /** Transports without fd (pn_xprt_wake_watch): what read/write would do
     *  now without PN_AGAIN, EV_RD (bytes, end of stream or an error to
     *  report) | EV_WR (room, or an error). Cheap, no side effect. NULL for
     *  fd transports. */
    int (*ready)(pn_xprt_t *x);
    /** Look at an idle transport without consuming a byte: 1 when bytes wait
     *  (the peer started using it), 0 when the peer closed it or it failed,
     *  PN_AGAIN when neither. fd transports use pn_xprt_fd_peek. */
    int (*peek)(pn_xprt_t *x);
    /** Free the transport's own state and close its fd; the watch was already
     *  released by pn_xprt_free(). */
    void (*free)(pn_xprt_t *x);
    /* Optional (NULL when the transport has none): datagrams beside the
     * stream, unreliable and unordered as UDP (QUIC DATAGRAM frames). */
    /** The largest datagram dgram_send takes now; 0 when none goes (the peer
     *  takes none, or cannot know the stream yet): then use the stream. The
     *  first call says the owner takes datagrams: from then on, those waiting
     *  count as EV_RD in ready() (before, they wait without waking anyone). */
    size_t (*dgram_max)(pn_xprt_t *x);
    /** Queue one datagram of <len> <= dgram_max bytes: PN_OK (it leaves, or is
     *  lost as UDP may lose it), PN_AGAIN (no room now: drop it) or PN_ERR. */
    int (*dgram_send)(pn_xprt_t *x, const void *d, size_t len);
    /** Take one datagram received into <buf> (<cap> >= PN_XPRT_DGRAM_MAX
     *  bytes): its length (0 is an empty datagram) or PN_AGAIN when none waits. */
    ssize_t (*dgram_recv)(pn_xprt_t *x, void *buf, size_t cap);
    /** Optional (NULL: any size does): the most bytes a write should carry,
     *  so that what it puts on the socket fills whole TCP segments (a sealing
     *  transport's overhead counted); 0 when it cannot tell. A buffered relay
     *  reads at most that much for this destination (relay/relay.c). */
    size_t (*write_max)(pn_xprt_t *x);
};

#define PN_XPRT_DGRAM_MAX 1500      /* no transport gives a longer datagram to dgram_recv */

/* The one subscriber of a transport (pn_xprt_watch). */
struct pn_xprt_sub {
    ev_loop_t *loop;                /* borrowed: where callbacks run, NULL before any watch */
    pn_xprt_ready_cb cb;            /* NULL when nobody waits */
    void *arg;                      /* borrowed */
    int mask;                       /* EV_RD|EV_WR waited for, 0 when nobody waits */
};

struct pn_xprt {
    const struct pn_xprt_ops *ops;  /* static table */
    int fd;                         /* owned: the socket (closed by ops->free), or -1 when none */
    int want;                       /* EV_RD|EV_WR to wait for after PN_AGAIN */
    /* Set by a read that returned bytes (by transports that can tell; 0 for the
     * others): it left nothing behind, the socket said all it had (a recv()
     * returned short) and nothing is held ahead, so the next read would say
     * PN_AGAIN. The watch is level-triggered: a reader may wait for EV_RD
     * instead of reading again only to get EAGAIN. */
    unsigned drained : 1;
    const char *err;                /* static text of the last PN_ERR, or NULL */
    struct pn_xprt_sub sub;         /* who waits for what (pn_xprt_watch) */
    ev_io_t *io;                    /* owned: fd transports' watcher, made on the first watch */
    ev_defer_t *wake;               /* owned: transports without fd: the pending wake, made on
                                     * the first watch */
    void (*on_free)(void *arg);     /* optional: run once as it is freed (net/gate.h's count
                                     * of live connections) */
    void *on_free_arg;
};

/** Tell <cb>(<x>, ready, <arg>) on <loop> when <x> may be ready for <mask>
 *  (EV_RD|EV_WR; 0 stops, as pn_xprt_unwatch). Replaces any earlier subscriber
 *  and mask; persistent and level-triggered until changed. Cheap when nothing
 *  changed (no system call): call it after every step. Calls no callback. */
void pn_xprt_watch(pn_xprt_t *x, ev_loop_t *loop, int mask, pn_xprt_ready_cb cb, void *arg);
/** Stop telling anyone about <x>: no callback runs for it until the next
 *  watch. Done before handing <x> to another owner. NULL is a no-op. */
void pn_xprt_unwatch(pn_xprt_t *x);
/** Look at the idle <x> without consuming (ops->peek): 1 bytes wait, 0 closed
 *  or failed, PN_AGAIN neither. */
int pn_xprt_peek(pn_xprt_t *x);
/** Free <x>: stop its watch and close its fd. NULL is a no-op. */
void pn_xprt_free_(pn_xprt_t *x);
#define pn_xprt_free(p) do { pn_xprt_free_(p); (p) = NULL; } while (0)

/* For implementations. */

/** ops->watch of a transport with a socket: one ev_io on x->fd, made on the
 *  first mask and rebuilt when the loop changes; ev_io_set() is a no-op when
 *  the mask did not change. */
void pn_xprt_fd_watch(pn_xprt_t *x);
/** ops->peek of a socket transport: a one-byte MSG_PEEK on x->fd. */
int pn_xprt_fd_peek(pn_xprt_t *x);
/** For the TCP socket <fd>: the bytes of as many whole segments (its MSS now)
 *  as Linux sends in one train (a GSO packet: 64 KiB less about 320 bytes of
 *  header room), or of one segment when that is larger (loopback's 65483); 0
 *  when <fd> is no TCP socket. A send of 64 KiB would add a short segment (on
 *  loopback one of 53 bytes after a full one). The MSS grows after the start
 *  (Linux bounds it by half the largest window the peer offered: 32768 on
 *  loopback at first): ask again now and then. One getsockopt. */
size_t pn_xprt_fd_train(int fd);
/** pn_xprt_fd_train() of one socket, cached: asked at the first
 *  pn_xprt_train_get() and again every PN_XPRT_TRAIN_EVERY calls, since the
 *  MSS grows after the start. Zero it before the first call. */
typedef struct pn_xprt_train {
    size_t seg;                 /* the last answer, 0: no TCP socket (or not asked yet) */
    unsigned age;               /* calls since it was asked */
} pn_xprt_train_t;
#define PN_XPRT_TRAIN_EVERY 64
/** The cached whole segments of the TCP socket <fd> (0: unknown, no TCP). */
size_t pn_xprt_train_get(pn_xprt_train_t *t, int fd);
/** ops->watch of a transport without fd: readiness is ops->ready(x), checked
 *  now (through a wake) and after each pn_xprt_wake(). */
void pn_xprt_wake_watch(pn_xprt_t *x);
/** A transport without fd calls this whenever its readiness may have grown:
 *  bytes or end of stream arrived, room opened, it failed. Safe from anywhere,
 *  inside any callback, even the subscriber's or another transport's: the
 *  subscriber runs from a deferred event (several wakes before it runs make one
 *  call), so a wake never recurses. A spurious wake costs one ops->ready(). */
void pn_xprt_wake(pn_xprt_t *x);

/** Read from <t> into <buf> (<cap> bytes, <*len> held, advanced): 1 read, 0
 *  nothing now (<*want> the readiness to wait for), -1 end of stream or error. */
int pn_xprt_pull(pn_xprt_t *t, uint8_t *buf, size_t cap, size_t *len, int *want);
/** Write the first <n> bytes at <buf> to <t>: bytes written (0 when it must
 *  wait, <*want> then set) or -1. */
ssize_t pn_xprt_push(pn_xprt_t *t, const uint8_t *buf, size_t n, int *want);

#endif
