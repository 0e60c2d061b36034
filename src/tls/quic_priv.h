/* tls/quic_priv.h: what the parts of the QUIC transport share (quic_conn.c:
 * the connection, ngtcp2's callbacks and each stream's lifetime; quic_pump.c:
 * the pump to the socket, the packet size; quic_stream.c: each stream's
 * bytes; quic_dgram.c: the DATAGRAM frames of the UDP sessions; quic_dial.c: a connection's start, both
 * ends, a client's move; quic_tab.c: the sockets' reads and sends, the
 * listener's connection ids, the clock; quic_tls.c: the GnuTLS sessions;
 * quic_srv.c: the listening socket; quic_gate.c: its stateless answers).
 * Private to tls/. */
#ifndef PN_TLS_QUIC_PRIV_H
#define PN_TLS_QUIC_PRIV_H

#include "core/buf.h"
#include "core/ev.h"
#include "core/list.h"
#include "core/xprt.h"
#include "tls/quic.h"

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUIC_PKT_MAX 1452           /* the largest UDP payload sent on a path of unknown MTU */
#define QUIC_PKT_ETH 1472           /* a 1500-byte route's payload (IPv4): a larger one is above Ethernet's */
/* The largest UDP payload sent where the kernel's route MTU allows more than
 * 1500-byte packets (loopback's 65536, a jumbo-frame LAN's 9000): fewer
 * packets per byte, so less of ngtcp2's, the crypto's and the kernel's cost
 * per packet (quic_pump.c). On loopback one packet is one send, the size of
 * a whole GSO batch of smaller ones; it fits the batch buffer. */
#define QUIC_PKT_BIG 65000
#define QUIC_HELD_MAX 65000         /* bytes of one GSO send (a UDP datagram's limit, 65507) */
_Static_assert(QUIC_PKT_BIG <= QUIC_HELD_MAX, "a packet fits the batch buffer");
#define QUIC_CHUNK (16 * 1024)      /* a stream's written and read bytes are kept in chunks this large */
#define QUIC_CHUNKS_KEEP 8          /* free chunks a connection keeps for its streams' reuse */
/* Connection ids, which every short-header packet carries as its destination:
 * a server's are 8 random bytes (they find the connection among the server's,
 * and survive the client's change of address); a client's are empty (RFC 9000
 * §5.1: its socket is the connection's own, and a server that moves no
 * address needs none), so each packet towards a client carries 16 bytes more
 * of the user's than with the 16-byte ids of before, each towards a server 8.
 * A client's first Initial names a random 16-byte id (at least 8: §7.2). */
#define QUIC_SCID_LEN 8
#define QUIC_ICID_LEN 16
#define QUIC_PKTS_TURN 64           /* packets sent or read per loop turn (then others run) */
#define QUIC_GSO_MAX 16             /* packets sent in one system call (UDP_SEGMENT), at most */
#define QUIC_SID_BUCKETS 256        /* streams by id, for the DATAGRAM frames that name them */
/* DATAGRAM frames (RFC 9221), each a UDP datagram of one stream's session: the
 * stream id as a QUIC varint, then the datagram (quic_dgram.c). */
#define QUIC_DGRAM_FRAME_MAX 1500   /* max_datagram_frame_size both ends announce */
/* A 1-RTT packet's bytes around a DATAGRAM frame's payload: short header (our
 * ids, the larger of both directions': ALPN admits postern only), packet number,
 * AEAD tag, frame type and 2-byte length. */
#define QUIC_DGRAM_OVERHEAD (1 + QUIC_SCID_LEN + 4 + 16 + 1 + 2)
#define QUIC_DGRAM_SENDQ 1024       /* datagrams queued on a stream for the pump */
#define QUIC_DGRAM_RECVQ 1024       /* datagrams received and not taken, per stream */
#define QUIC_DGRAM_TTL_MS 100       /* a queued datagram not sent this long is dropped */
#define QUIC_REPLAY_SLOTS 4096      /* 0-RTT ClientHellos a listener remembers (quic_resume.c) */
#define QUIC_TOKEN_TTL (3600 * NGTCP2_SECONDS)  /* a NEW_TOKEN's validity (quic_gate.c) */

/* One DATAGRAM frame's payload, queued to send or
 * received (on its stream; received: the varint taken off). */
typedef struct qdgram {
    struct qdgram *next;
    uint64_t t;                     /* when queued, pn_now_us() */
    size_t len;
    uint8_t b[];
} qdgram_t;

typedef struct qdq {
    qdgram_t *head, *tail;          /* owned */
    size_t n;
} qdq_t;

typedef struct qchunk {
    struct qchunk *next;
    size_t len;
    uint8_t b[QUIC_CHUNK];
} qchunk_t;

struct pn_quic_conn {
    ev_loop_t *loop;                /* borrowed */
    pn_quic_srv_t *srv;             /* server side: the listener (borrowed), NULL for a client */
    int fd;                         /* client: owned socket; server: the listener's */
    ev_io_t *io;                    /* client: owned */
    ngtcp2_conn *c;                 /* owned */
    gnutls_session_t tls;           /* owned */
    gnutls_certificate_credentials_t cred;  /* client: owned */
    ngtcp2_crypto_conn_ref ref;
    struct sockaddr_storage local, remote;
    socklen_t llen, rlen;
    ev_timer_t *timer;              /* owned: ngtcp2's expiry */
    ev_defer_t *flush;              /* owned: the deferred pump */
    pn_list_t streams;              /* struct pn_quics bound to a stream id */
    qchunk_t *spare;                /* owned: free chunks (at most QUIC_CHUNKS_KEEP) */
    size_t nspare;
    pn_list_t pending;              /* client: opened, waiting for a stream id */
    pn_list_t sendq;                /* streams with bytes or a FIN to send */
    pn_list_t dgsendq;              /* streams with DATAGRAM frames to send (dsq), in turns */
    struct pn_quics *byid[QUIC_SID_BUCKETS];    /* streams with an id, chained by <hnext> */
    pn_list_t fresh;                /* server: opened by the peer, not handed over yet */
    pn_list_t srv_node;             /* server: in the listener's list */
    pn_list_t wnode;                /* server: waiting for the listener's socket to take a packet */
    ev_timer_t *idle;               /* server, owned: ends a connection without stream */
    ngtcp2_tstamp moved_at;         /* client: its last move after a refused send */
    unsigned nmoves;                /* client: such moves (each waits twice as long) */
    void (*refused)(pn_quic_conn_t *q, int e);  /* client: its socket refused a send (errno <e>) */
    size_t nstreams;
    int refs;
    uint8_t pin[32];
    int verify;                     /* client: 0, 1 (pin) or 2 */
    size_t pkt_max;                 /* the largest packet sent (pn_quic_route_payload) */
    uint8_t held[QUIC_HELD_MAX];    /* packets written, not sent yet (a batch) */
    size_t heldlen, held_seg;       /* bytes; each packet's but the last's */
    struct sockaddr_storage held_to, held_from;     /* the batch's path */
    socklen_t held_tolen, held_fromlen;
    struct pn_quic_path *path;      /* client, owned: its local address watch (quic_path.c) */
    struct pn_quic_cred *scred;     /* server: a reference to the credentials of its session */
    void (*path_free)(pn_quic_conn_t *q);   /* frees <path> */
    int pfd;                        /* client: the socket of a path being validated, while */
    struct sockaddr_storage plocal; /* <pllen> > 0; its local address (quic_path.c) */
    socklen_t pllen;
    int busy;                       /* inside ngtcp2: the last reference waits (drop) */
    const char *fault;              /* the connection is done */
    char why[160];
    unsigned handshake_done : 1, self_ref : 1, closed_sent : 1, reaping : 1;
    int drop;                       /* references let go inside ngtcp2, dropped by the pump */
    int norphans;                   /* streams freed by their owner, finishing (orphan) */
    uint8_t rkey[32], tkey[32];     /* client: its entries in the resumption cache
                                     * (quic_resume.c): ticket, token */
    unsigned resuming : 1, early : 1;   /* client: a ticket offered; 0-RTT keys made */
    ngtcp2_tstamp t0;               /* client: when it was made (the handshake's time, logged) */
};

typedef struct pn_quics {
    pn_xprt_t base;                 /* first */
    pn_list_t node;                 /* in conn.streams, .pending or .fresh */
    pn_list_t sq;                   /* in conn.sendq, or unlinked */
    struct pn_quics *hnext;         /* in conn.byid once it has an id */
    qdq_t dgr;                      /* DATAGRAM frames received, not taken yet */
    qdq_t dgs;                      /* DATAGRAM frames to send */
    pn_list_t dsq;                  /* in conn.dgsendq while <dgs> holds any */
    pn_quic_conn_t *q;              /* a reference while the stream lives */
    int64_t sid;                    /* -1 while waiting for an id */
    qchunk_t *rhead, *rtail;        /* owned: bytes not read yet (bounded by the window) */
    size_t roff, rlen;              /* bytes of <rhead> taken; bytes not read */
    qchunk_t *head, *tail;          /* owned: written bytes, unacknowledged or unsent */
    size_t ackoff;                  /* bytes of <head> acknowledged */
    qchunk_t *sc;                   /* the chunk of the next byte to send */
    size_t soff;
    size_t held;                    /* bytes in the chunks not acknowledged */
    size_t unsent;
    const char *err;                /* the stream failed */
    unsigned peer_eof : 1, closed : 1, wr_eof : 1, fin_sent : 1, blocked : 1, owned : 1,
             orphan : 1, known : 1, dg_on : 1, orphan_rst : 1;   /* known: the peer has the stream
                                     * (its bytes were acknowledged, or it opened it); dg_on: the
                                     * owner takes datagrams (they count in ready()) */
} pn_quics_t;

struct cident {
    struct cident *next;
    pn_quic_conn_t *q;              /* borrowed */
    size_t len;
    uint8_t b[NGTCP2_MAX_CIDLEN];
};

#define QUIC_CID_BUCKETS 4096

struct pn_quic_srv {
    ev_loop_t *loop;                /* borrowed */
    int fd;                         /* owned */
    ev_io_t *io;                    /* owned */
    struct sockaddr_storage local;
    socklen_t llen;
    gnutls_certificate_credentials_t cred;  /* qcred's: what new connections' sessions get */
    struct pn_quic_cred *qcred;     /* a reference: the credentials now */
    pn_tls_ctx_t *cert;             /* borrowed: their source (tls=2: files, reloaded) */
    unsigned cert_gen;              /* its reloads when qcred was made */
    uint64_t handshake_ms;
    pn_quic_stream_cb cb;
    void *ctx;                      /* borrowed */
    pn_list_t conns;                /* every connection (srv_node) */
    pn_list_t wq;                   /* connections whose packet waits for the socket (wnode) */
    size_t nconns;
    uint32_t seed;                  /* of the table's hash */
    struct cident *tab[QUIC_CID_BUCKETS];
    struct {                        /* quic_gate.c: the stateless answers */
        uint8_t secret[32];         /* random at start: keys the Retry tokens */
        uint8_t reset_key[32];      /* keys the stateless reset tokens */
        ngtcp2_tstamp win;          /* the start of the current second */
        ngtcp2_tstamp logged;       /* when "under load" was last logged */
        unsigned initials, retries, vns, resets;    /* in that second */
        size_t nretry;              /* Retry packets sent, ever */
        int always;                 /* Retry every new Initial (tests, fuzzer) */
    } gate;
    struct {                        /* quic_resume.c: tickets, 0-RTT */
        gnutls_datum_t ticket_key;  /* owned: keys the session tickets */
        uint8_t token_secret[32];   /* keys the NEW_TOKENs */
        gnutls_anti_replay_t ar;    /* owned */
        uint8_t seen[QUIC_REPLAY_SLOTS][16];    /* ClientHellos with early data, a ring */
        time_t exp[QUIC_REPLAY_SLOTS];          /* each one's end of life */
        size_t nseen;
        size_t ntokens;             /* NEW_TOKEN frames sent, ever */
    } res;
};

/* A listener's certificate credentials, shared by the GnuTLS sessions made
 * with them: a reload of the files (quic_srv.c) makes new ones, the old go
 * with the last connection that uses them. */
typedef struct pn_quic_cred {
    gnutls_certificate_credentials_t c;     /* owned */
    int refs;
} pn_quic_cred_t;

static inline pn_quic_cred_t *
pn_quic_cred_ref(pn_quic_cred_t *k)
{
    if (k != NULL)
        k->refs++;
    return k;
}

static inline void
pn_quic_cred_unref(pn_quic_cred_t *k)
{
    if (k != NULL && --k->refs == 0) {
        gnutls_certificate_free_credentials(k->c);
        free(k);
    }
}

/** Whether <a> and <b> are the same host (the port aside). */
static inline int
pn_quic_same_host(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return 0;
    if (b->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/** Ask for a pump of <q> from a deferred event (writes of one turn leave together). */
static inline void
pn_quic_schedule(pn_quic_conn_t *q)
{
    if (q->flush != NULL)
        ev_defer_schedule(q->flush);
}

/* quic_conn.c */
pn_quic_conn_t *pn_quic_conn_new(ev_loop_t *loop);
void pn_quic_conn_free(pn_quic_conn_t *q);
/** The settings of a connection, its path's route allowing UDP payloads of
 *  <route> bytes (pn_quic_route_payload; 0 unknown); q->pkt_max from <route> too. */
void pn_quic_settings(pn_quic_conn_t *q, ngtcp2_settings *s, ngtcp2_transport_params *p,
                      uint64_t handshake_ms, int server, size_t route);
void pn_quic_callbacks(ngtcp2_callbacks *cb, int server);
pn_quics_t *pn_quic_stream_new(pn_quic_conn_t *q, int64_t sid);
/** Feed the datagram <pkt> received from <from> to <q>. */
void pn_quic_input(pn_quic_conn_t *q, const uint8_t *pkt, size_t len,
                   const struct sockaddr *from, socklen_t flen);
/* quic_pump.c */
/** The largest UDP payload the kernel's route to <to> takes in one IP packet
 *  (its MTU, IP_MTU / IPV6_MTU, less the headers), at most QUIC_PKT_BIG;
 *  0 when unknown. <fd>: a socket connected to <to>, or -1 (one is made). */
size_t pn_quic_route_payload(int fd, const struct sockaddr *to, socklen_t len);
/** Write what the sockets take now (the packet held first). */
void pn_quic_write(pn_quic_conn_t *q);
/** Send CONNECTION_CLOSE once (best effort); <rv> the ngtcp2 error, 0 an orderly end. */
void pn_quic_send_close(pn_quic_conn_t *q, int rv);
/** End <q> (its streams see <why>). */
void pn_quic_fail(pn_quic_conn_t *q, const char *why);
/* quic_dial.c */
/** A server connection for the Initial <hd> from <from> to <local>; <odcid> the
 *  client's first DCID when <hd> follows our Retry (its token valid), else NULL;
 *  <proved>: <hd>'s token (a Retry's or a NEW_TOKEN's) proved the address.
 *  NULL when refused. */
pn_quic_conn_t *pn_quic_accept(pn_quic_srv_t *s, const ngtcp2_pkt_hd *hd, const ngtcp2_cid *odcid,
                               int proved, const struct sockaddr *from, socklen_t flen);
/** Large socket buffers for the UDP socket <fd>. */
void pn_quic_sock_bufs(int fd);


/* quic_stream.c */
/** A chunk for a stream of <q> (one of its spares, or a new one), empty. */
qchunk_t *pn_quic_chunk_new(pn_quic_conn_t *q);
/** Give back the chunk <c> to <q>'s spares (or free it, when they are enough). */
void pn_quic_chunk_put(pn_quic_conn_t *q, qchunk_t *c);
/** Free the spare chunks of <q>. */
void pn_quic_chunks_drain(pn_quic_conn_t *q);
/** Free the bytes received for <st> and not read. */
void pn_quic_stream_rclear(pn_quics_t *st);
/** Free what <st> holds (written chunks, read bytes). */
void pn_quic_stream_clear(pn_quics_t *st);
ssize_t pn_quic_stream_read(pn_xprt_t *x, void *buf, size_t len);
ssize_t pn_quic_stream_write(pn_xprt_t *x, const void *buf, size_t len);
int pn_quic_stream_shutdown_wr(pn_xprt_t *x);
size_t pn_quic_stream_pending(pn_xprt_t *x);
int pn_quic_stream_ready(pn_xprt_t *x);
int pn_quic_stream_peek(pn_xprt_t *x);
void pn_quic_sendq_add(pn_quics_t *st);
void pn_quic_sendq_del(pn_quics_t *st);
/** The unsent bytes of <st> as vectors (at most <n>, and no more once they
 *  hold <enough> bytes: what one packet takes); how many. */
size_t pn_quic_stream_vec(pn_quics_t *st, ngtcp2_vec *v, size_t n, size_t enough);
/** <n> bytes of <st> went into packets. */
void pn_quic_stream_sent(pn_quics_t *st, size_t n);
/** <n> more bytes of <st> were acknowledged. */
void pn_quic_stream_acked(pn_quics_t *st, size_t n);
/** Bytes of the peer for <st>; 0 or -1 (over the window). */
int pn_quic_stream_recv(pn_quics_t *st, const uint8_t *data, size_t len, int fin);
/* quic_conn.c: forget <st> on the connection's side and free it (its reference goes). */
void pn_quic_stream_destroy(pn_quics_t *st);

/* quic_dgram.c: DATAGRAM frames */
/** Index <st>, which just got its id, for the frames that name it. */
void pn_quic_sid_add(pn_quics_t *st);
void pn_quic_sid_del(pn_quics_t *st);
void pn_quic_dgq_clear(qdq_t *dq);
/** A DATAGRAM frame's payload <data> (<len> bytes) from the peer of <q>: to the
 *  stream it names, or dropped (counted). */
void pn_quic_dgram_input(pn_quic_conn_t *q, const uint8_t *data, size_t len);
/** ngtcp2's recv_datagram: the frame's payload to the stream it names. */
int pn_quic_cb_recv_datagram(ngtcp2_conn *c, uint32_t flags, const uint8_t *data, size_t len,
                             void *ud);
/** The pump's step for DATAGRAM frames, in the packet being written at <buf>
 *  (<max> bytes): the packet's length (> 0, the packet is complete), 0 when
 *  nothing more goes now (no frame, or congestion), NGTCP2_ERR_WRITE_MORE (the
 *  packet has room for more) or a fatal ngtcp2 error. */
ngtcp2_ssize pn_quic_dgram_write(pn_quic_conn_t *q, ngtcp2_path *path, ngtcp2_pkt_info *pi,
                                 uint8_t *buf, size_t max, ngtcp2_tstamp ts);
size_t pn_quic_stream_dgram_max(pn_xprt_t *x);
int pn_quic_stream_dgram_send(pn_xprt_t *x, const void *d, size_t len);
ssize_t pn_quic_stream_dgram_recv(pn_xprt_t *x, void *buf, size_t cap);

/* quic_tab.c: reading a socket; the listener's connection ids */
typedef void (*pn_quic_pkt_cb)(void *ctx, const uint8_t *pkt, size_t n, const struct sockaddr *from,
                               socklen_t flen);
/** Read up to <max> datagrams from <fd> (split when the kernel coalesced them,
 *  UDP_GRO), each to <fn>(<ctx>, ...); how many reads. */
int pn_quic_recv(int fd, int max, pn_quic_pkt_cb fn, void *ctx);
/** Send the <len> bytes at <b>, datagrams of <seg> bytes (the last may be
 *  shorter), to <to> (NULL: the connected peer): one UDP_SEGMENT send where the
 *  kernel offers it. The bytes taken (all, or fewer when the socket is full);
 *  a datagram the kernel refuses otherwise counts as sent (lost). */
size_t pn_quic_send(int fd, const uint8_t *b, size_t len, size_t seg, const struct sockaddr *to,
                    socklen_t tolen);
/** After a pump of <q>: a send refused since the last call in a way that says
 *  a connected (client) socket's path is broken (EPERM, ENETUNREACH,
 *  EADDRNOTAVAIL...) goes to <q>'s 'refused' hook (quic_dial.c: it moves). */
void pn_quic_refused(pn_quic_conn_t *q);
/** The monotonic clock in ngtcp2's unit (nanoseconds). */
ngtcp2_tstamp pn_quic_now(void);
/** Ask the kernel to coalesce the datagrams <fd> receives (UDP_GRO), where it can. */
void pn_quic_gro(int fd);
pn_quic_conn_t *pn_quic_srv_find(const pn_quic_srv_t *s, const uint8_t *b, size_t len);
int pn_quic_srv_cid_add(pn_quic_srv_t *s, const ngtcp2_cid *cid, pn_quic_conn_t *q);
void pn_quic_srv_cid_del(pn_quic_srv_t *s, const ngtcp2_cid *cid);
/** The stateless reset token of the id <cid> of <s> (derived from its key, quic_gate.c). */
int pn_quic_srv_reset_token(const pn_quic_srv_t *s, const ngtcp2_cid *cid, uint8_t *token);
/** The stateless reset token of <q>'s new id <cid> (server: the listener's;
 *  client: random) into <token>; 0 or -1. */
int pn_quic_reset_token(pn_quic_conn_t *q, const ngtcp2_cid *cid, uint8_t *token);
void pn_quic_srv_forget(pn_quic_srv_t *s, pn_quic_conn_t *q);
void pn_quic_srv_want_write(pn_quic_srv_t *s, pn_quic_conn_t *q);

/* quic_gate.c: stateless answers of the listener */
enum { QUIC_GATE_ACCEPT = 0, QUIC_GATE_RETRIED, QUIC_GATE_DROP, QUIC_GATE_TOKEN };
void pn_quic_gate_init(pn_quic_srv_t *s);
/** The Initial <hd> (<n> bytes) of an unknown DCID from <from>: QUIC_GATE_ACCEPT
 *  (open a connection), QUIC_GATE_RETRIED (its Retry token is valid: open one
 *  with <odcid>, the DCID before the Retry), QUIC_GATE_TOKEN (a valid NEW_TOKEN
 *  of ours: open one, the address proved) or QUIC_GATE_DROP (answered with a
 *  Retry or a close, or dropped). */
int pn_quic_gate_initial(pn_quic_srv_t *s, const ngtcp2_pkt_hd *hd, size_t n,
                         const struct sockaddr *from, socklen_t flen, ngtcp2_cid *odcid);
/** A long-header datagram of <n> bytes in a version we do not speak: Version Negotiation. */
void pn_quic_gate_version(pn_quic_srv_t *s, const ngtcp2_version_cid *vc, size_t n,
                          const struct sockaddr *from, socklen_t flen);

/** A short-header datagram of <n> bytes to an unknown id: a stateless reset. */
void pn_quic_gate_reset(pn_quic_srv_t *s, const ngtcp2_version_cid *vc, size_t n,
                        const struct sockaddr *from, socklen_t flen);
/** ngtcp2's recv_stateless_reset: a client's connection was reset by a server
 *  that no longer knows it (restarted, or moved): said in the log. */
int pn_quic_cb_stateless_reset(ngtcp2_conn *c, const ngtcp2_pkt_stateless_reset *sr, void *ud);

/* quic_path.c: a client follows its preferred local address */
/** A client's own socket, its move to another (quic_dial.c gives them). */
typedef struct pn_quic_path_ops {
    /** A new UDP socket connected to <to>, its local address into <local>; -1 with <err>. */
    int (*socket)(const struct sockaddr *to, socklen_t len, struct sockaddr_storage *local,
                  socklen_t *llen, char *err);
    /** <q> now sends and reads on <fd> (owned) of <local>; its old socket is closed. */
    void (*adopt)(pn_quic_conn_t *q, int fd, const struct sockaddr_storage *local, socklen_t llen);
} pn_quic_path_ops_t;
/** Watch <q>'s local addresses (NETLINK_ROUTE): sets q->path, q->path_free. */
void pn_quic_path_watch(pn_quic_conn_t *q, const pn_quic_path_ops_t *ops);
/** Stop a validation in progress (its socket closed). */
void pn_quic_path_cancel(pn_quic_conn_t *q);
/** ngtcp2's path_validation (a client's): the outcome of a move quic_path.c started. */
int pn_quic_cb_path_validation(ngtcp2_conn *c, uint32_t flags, const ngtcp2_path *path,
                               ngtcp2_path_validation_result res, void *ud);

/** Whether the batch held in <q> is of <path>. */
static inline int
pn_quic_held_same(const pn_quic_conn_t *q, const ngtcp2_path *path)
{
    return path->remote.addrlen == q->held_tolen && path->local.addrlen == q->held_fromlen &&
           memcmp(path->remote.addr, &q->held_to, q->held_tolen) == 0 &&
           memcmp(path->local.addr, &q->held_from, q->held_fromlen) == 0;
}

/** A new batch in <q>, of <path>. */
static inline void
pn_quic_held_set(pn_quic_conn_t *q, const ngtcp2_path *path)
{
    memcpy(&q->held_to, path->remote.addr, path->remote.addrlen);
    q->held_tolen = path->remote.addrlen;
    memcpy(&q->held_from, path->local.addr, path->local.addrlen);
    q->held_fromlen = path->local.addrlen;
}

/** The socket the batch held in <q> leaves by: a client's path being validated
 *  has its own (quic_path.c), every other path the connection's. */
static inline int
pn_quic_held_fd(const pn_quic_conn_t *q)
{
    if (q->srv == NULL && q->pllen > 0 && q->held_fromlen == q->pllen &&
        memcmp(&q->held_from, &q->plocal, q->pllen) == 0)
        return q->pfd;
    return q->fd;
}

/* quic_tls.c */
/** The certificate and key <c> serves now (NULL: a new self-signed pair) into <cred>; 0 or -1. */
int pn_quic_tls_cred(gnutls_certificate_credentials_t cred, pn_tls_ctx_t *c, char *err);
/** Set a GnuTLS session up for <q> (server: with <cred>; client: with <o>). 0 or -1 with <err>. */
int pn_quic_tls_server(gnutls_certificate_credentials_t cred, pn_quic_conn_t *q);
int pn_quic_tls_client(pn_quic_conn_t *q, const pn_quic_client_opts_t *o, char *err);
/** Check the server's certificate of the client <q> (its pin): 0 or -1. */
int pn_quic_tls_check(pn_quic_conn_t *q);

/* quic_resume.c: session resumption, 0-RTT and NEW_TOKEN */
/** Client <q> to the server <o> names: its cache entry's key into q->rkey, and
 *  the NEW_TOKEN kept for it (if any) into <st>->token (ngtcp2 copies it). */
void pn_quic_resume_prepare(pn_quic_conn_t *q, const pn_quic_client_opts_t *o, ngtcp2_settings *st);
/** Client <q>, its TLS session set up: offer the ticket kept (used once), the
 *  server's transport parameters for 0-RTT, and keep the tickets to come. */
void pn_quic_resume_offer(pn_quic_conn_t *q);
/** ngtcp2's recv_new_token (client): keep the token for the next connection. */
int pn_quic_resume_cb_token(ngtcp2_conn *c, const ngtcp2_vec *token, void *ud);
/** The handshake of <q> completed: log how (full, resumed, 0-RTT); a server
 *  sends a NEW_TOKEN. 0, or -1 (fatal). */
int pn_quic_resume_done(pn_quic_conn_t *q);
/** Listener <s>: its ticket key and anti-replay state; 0 or -1. */
int pn_quic_resume_srv_init(pn_quic_srv_t *s);
void pn_quic_resume_srv_free(pn_quic_srv_t *s);
/** The server session of <q>: tickets and early data (listener's keys). 0 or -1. */
int pn_quic_resume_srv_session(pn_quic_conn_t *q);

#endif
