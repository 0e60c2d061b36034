/* relay/udp_priv.h: what the files of the UDP sessions share, private to
 * relay/udp*.c (the interface is relay/udp.h):
 *
 *   udp.c         sessions, groups, the table, datagram sockets, the out batch
 *   udp_stream.c  the STREAM end: frames over a data connection (a transport,
 *                 watched with pn_xprt_watch, so it may have no fd of its own)
 *   udp_batch.c   the per-thread scratch area and out batch both use
 *
 * Calls go one way: udp.c calls udp_stream.c; the STREAM end reaches its
 * session only through the group's hooks (struct udp_up). This header names
 * the types of udp_types.h, not the interface udp.h, which udp.c implements.
 */
#ifndef PN_RELAY_UDP_PRIV_H
#define PN_RELAY_UDP_PRIV_H

#include "relay/udp_types.h"
#include "relay/udp_seg.h"
#include "core/buf.h"
#include "core/ev.h"
#include "core/list.h"
#include "core/xprt.h"

#include <sys/socket.h>
#include <sys/uio.h>

#define UDP_BURST 256               /* reads' datagrams per readiness, for fairness */
#define UDP_MMSG 64                 /* buffers per recvmmsg() (each may hold a GRO train) */
#define UDP_OUT 256                 /* datagrams in the out batch, per sendmmsg() at most */
#define UDP_CTL CMSG_SPACE(sizeof(int))     /* room for the UDP_GRO control message */
#define STREAM_OUT_MAX (256 * 1024) /* framed bytes queued towards a data connection */
#define STAGE_MAX (64 * 1024)       /* framed bytes gathered for one write to a data connection */
#define SLOT_LEN (UDP_DGRAM_MAX + 1)
#define TABLE_BUCKETS 4096

enum end_kind {
    END_PEER = 0,               /* a user address on the table's socket */
    END_CONN,                   /* a connected UDP socket */
    END_STREAM,                 /* a framed data connection */
};

/* A framed data connection as one end of a session. */
struct ustream {
    pn_xprt_t *x;               /* owned; watched by the session */
    pn_buf_t *in;               /* owned while a frame is partly read, else NULL */
    size_t skip;                /* bytes left of an oversized frame being discarded */
    uint8_t *out;               /* owned while the connection lags: framed datagrams */
    size_t out_len, out_cap;
    int wwant;                  /* readiness the pending write waits for, 0 if none */
};

struct udp_sess {
    pn_list_t node;             /* in group.live or group.dead */
    udp_sess_t *hnext;          /* table bucket chain */
    udp_group_t *g;             /* back pointer */
    udp_table_t *t;             /* the table of a PEER entry, else NULL */
    enum end_kind entry, exit;  /* PEER/STREAM -> CONN/STREAM */
    pn_addr_t peer;             /* PEER entry: the user */
    int pfd;                    /* PEER entry: owned socket connected to the user, or -1 */
    ev_io_t *pfd_io;            /* owned */
    int fd;                     /* CONN exit: owned, -1 otherwise */
    size_t gso_fd, gso_pfd;     /* largest GSO segment on fd / pfd, 0 when GSO is off */
    ev_io_t *fd_io;             /* owned */
    struct ustream st;          /* the STREAM end, if any */
    uint64_t last_ms;           /* last datagram either way */
    uint8_t hdr[64];            /* prepended to datagrams out of the CONN end */
    size_t hdr_len;
    ev_timer_t *idle;           /* owned */
    int dead;                   /* ended: waiting in group.dead to be freed */
};

/* What the STREAM end calls in its session (udp.c), through its group. */
struct udp_up {
    /** End <s> (once): it stops being served and is freed from the group's reap. */
    void (*end)(udp_sess_t *s, const char *why);
    /** Send the datagram <d> out of <s>'s exit end (<to_exit>) or entry end,
     *  through the out batch the caller flushes before <d> goes away. */
    void (*deliver)(udp_sess_t *s, int to_exit, const uint8_t *d, size_t len);
    /** Send what waits in the out batch and empty it. May end its session. */
    void (*flush)(void);
};

struct udp_group {
    const struct udp_up *up;    /* static: udp.c's */
    ev_loop_t *loop;            /* borrowed */
    uint64_t idle_ms;
    udp_counters_t c;           /* borrowed counters */
    pn_list_t live, dead;       /* udp_sess, owned */
    ev_defer_t *reap;           /* owned: frees the dead outside their callbacks */
};

struct udp_table {
    ev_loop_t *loop;            /* borrowed */
    int fd;                     /* owned: the listening socket */
    pn_addr_t local;            /* its address */
    ev_io_t *io;                /* owned */
    udp_group_t *g;             /* borrowed */
    udp_sess_t *buckets[TABLE_BUCKETS];
    udp_new_peer_cb cb;
    void *ctx;                  /* borrowed */
};

/* One loop per thread: one scratch area per thread, allocated on first use
 * and kept (about 4.2 MiB of address space; the kernel backs only the pages
 * datagrams touch). No allocation per datagram. */
struct scratch {
    struct mmsghdr rmsg[UDP_MMSG];  /* recvmmsg headers, one per slot */
    struct iovec riov[UDP_MMSG];
    union { struct cmsghdr c; uint8_t b[UDP_CTL]; } rctl[UDP_MMSG];  /* UDP_GRO */
    pn_addr_t from[UDP_MMSG];       /* sources of the buffers read */
    size_t len[UDP_MMSG];           /* their sizes */
    size_t gro[UDP_MMSG];           /* their GRO segment sizes, 0 for one datagram */
    const uint8_t *od[UDP_OUT];     /* the out batch towards a datagram socket */
    size_t ol[UDP_OUT];             /* its datagrams' sizes */
    struct mmsghdr smsg[UDP_OUT];   /* the sends made of it, one per GSO group */
    unsigned scnt[UDP_OUT];         /* datagrams in each */
    struct iovec siov[2 * UDP_OUT]; /* per datagram: PROXY header (optional), datagram */
    union { struct cmsghdr c; uint8_t b[UDP_SEG_CMSG_SPACE]; } sctl[UDP_OUT];    /* UDP_SEGMENT */
    uint8_t stage[STAGE_MAX + 2 + UDP_DGRAM_MAX];   /* the out batch towards a data connection */
    uint8_t slot[UDP_MMSG][SLOT_LEN];               /* datagrams read */
};

/* The out batch: datagrams of one session in one direction waiting to be sent. */
struct out_batch {
    udp_sess_t *s;              /* borrowed: whose datagrams wait, NULL when empty */
    int to_exit;                /* towards its exit end (1) or its entry end (0) */
    unsigned n;                 /* datagrams in od/ol (towards a datagram socket) */
    size_t stage_len;           /* framed bytes in stage (towards a data connection) */
};

extern __thread struct out_batch udp_ob;   /* empty whenever the loop runs */
/* The per-thread scratch area once udp_scratch() made it, else NULL. */
extern __thread struct scratch *udp_sc;
/* Whether recvmmsg()/sendmmsg() are used: 1 yes, 0 no (POSTERN_NO_MMSG=1, or
 * the kernel refused them), -1 not decided yet. */
extern int udp_mmsg_on;
/* Whether UDP_SEGMENT/UDP_GRO are asked for: 1 yes, 0 no (POSTERN_NO_GSO=1),
 * -1 not decided yet. Each socket still falls back alone where refused. */
extern int udp_gso_on;

static inline void
udp_count(uint64_t *c, uint64_t n)
{
    if (c != NULL)
        *c += n;
}

/** The per-thread scratch area, allocated on first use (udp_batch.c). */
struct scratch *udp_scratch(void);
/** Decide once whether recvmmsg()/sendmmsg() (POSTERN_NO_MMSG) and GSO/GRO
 *  (POSTERN_NO_GSO) are used. */
void udp_mmsg_init(void);
/** The kernel refused <call> (ENOSYS, EINVAL): one datagram per call from now on. */
void udp_mmsg_off(const char *call);

/** Send the datagram <d> down <s>'s data connection as a frame (udp_stream.c). */
void udp_stream_push(udp_sess_t *s, int to_exit, const uint8_t *d, size_t len);
/** Write the out batch's frames (<len> bytes at <f>) to <s>'s data connection;
 *  what it does not take is queued within its bound, the rest dropped. */
void udp_stream_write_batch(udp_sess_t *s, const uint8_t *f, size_t len);
/** The data connection <x> of the session <arg> is ready: write what is
 *  queued, read and deliver whole frames (a pn_xprt_ready_cb). */
void udp_stream_ready(pn_xprt_t *x, int ready, void *arg);

#endif
