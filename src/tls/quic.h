/* tls/quic.h: the QUIC transport (type=1): one QUIC connection (RFC 9000,
 * TLS 1.3 inside, ngtcp2 with its GnuTLS back end) per client carries every
 * data exchange as a bidirectional stream, each a pn_xprt_t without fd
 * (core/xprt.h: readiness computed and woken), as tls/h2_mux.h does for type=3.
 *
 *   stream (pn_xprt_t) --write--> chunks (kept until acknowledged) --+
 *   stream (pn_xprt_t) --write--> chunks ----------------------------+--> ngtcp2 --> UDP
 *   stream <--read-- rbuf <--recv_stream_data-- ngtcp2 <--read_pkt-- UDP <-+
 *
 * ALPN: PN_QUIC_ALPN, mandatory on both ends (a QUIC client of another
 * protocol fails in the handshake). The server's certificate is the data
 * channel's (tls=1 self-signed, tls=2 files; with tls=0 a self-signed one of
 * its own); the client checks it as the TCP data channel does: tls=1 pins the
 * fingerprint HELLO carried, tls=2 verifies the chain with ca= and the name
 * with sni=. The key is proved on each stream (the tunnel's DATA_HELLO).
 *
 * Flow control: each stream opens PN_QUIC_STREAM_WINDOW bytes, the connection
 * PN_QUIC_CONN_WINDOW, auto-tuned by ngtcp2 up to the *_MAX values, given
 * back as readers consume; each stream keeps at most PN_QUIC_SEND_MAX bytes
 * written and not yet acknowledged. Congestion control: BBR v1 (ngtcp2's;
 * POSTERN_QUIC_CC picks another).
 *
 * Datagrams (quic_dgram.c): a stream also carries unreliable datagrams as
 * QUIC DATAGRAM frames (RFC 9221; ops->dgram_* of core/xprt.h) when both ends
 * announced max_datagram_frame_size, each frame the stream id as a QUIC varint
 * then the datagram; the UDP sessions use them (relay/udp_stream.c). */
#ifndef PN_TLS_QUIC_H
#define PN_TLS_QUIC_H

#include "core/ev.h"
#include "core/xprt.h"
#include "tls/tls.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PN_QUIC_ALPN "postern-tunnel/1"
#define PN_QUIC_STREAM_WINDOW (1024 * 1024)
#define PN_QUIC_STREAM_WINDOW_MAX (6 * 1024 * 1024)
#define PN_QUIC_CONN_WINDOW (8 * 1024 * 1024)
#define PN_QUIC_CONN_WINDOW_MAX (24 * 1024 * 1024)
#define PN_QUIC_SEND_MAX (1024 * 1024)
#define PN_QUIC_STREAMS 1024        /* streams a peer may hold open at once */
#define PN_QUIC_IDLE_MS 30000       /* a connection without packets this long ends */

typedef struct pn_quic_conn pn_quic_conn_t;
typedef struct pn_quic_srv pn_quic_srv_t;

typedef struct pn_quic_client_opts {
    uint64_t handshake_ms;      /* the handshake's deadline */
    int verify;                 /* 0 none, 1 pin <pin>, 2 chain with <ca> (NULL: system) and <sni> */
    const char *ca;             /* borrowed during the call */
    const char *sni;            /* borrowed during the call; may be NULL */
    const uint8_t *pin;         /* verify=1: PN_TLS_FP_LEN bytes (copied) */
} pn_quic_client_opts_t;

/** A client connection to <to> (<len> bytes) on <loop>; the handshake runs on
 *  the loop, streams opened before it ends wait for it. The caller holds one
 *  reference. NULL with <err> when no socket or TLS session can be made. */
pn_quic_conn_t *pn_quic_client(ev_loop_t *loop, const struct sockaddr *to, socklen_t len,
                               const pn_quic_client_opts_t *o, char *err);
/** A new bidirectional stream (owned by the caller), writable once the
 *  handshake is done; NULL when the connection ended. */
pn_xprt_t *pn_quic_open(pn_quic_conn_t *q);
/* PN_OK when POSTERN_QUIC_CC's value <name> is NULL, empty or a congestion
 * control postern offers (bbr, cubic, bbr2, reno: ngtcp2's), else PN_ERR with
 * <err> set. main.c checks it at start-up; each connection reads it again. */
int pn_quic_cc_check(const char *name, char *err);
/** 1 while <q> can carry streams (no fault, not closing). */
int pn_quic_alive(const pn_quic_conn_t *q);
/** The connection a stream <x> belongs to, or NULL when <x> is no QUIC stream. */
pn_quic_conn_t *pn_quic_of(const pn_xprt_t *x);
/** Move the client connection <q> to a new UDP socket (a new local port) at
 *  once, RFC 9000 §9 (the server validates the new path; streams go on). 0, or
 *  -1 when it cannot (a server's, handshake not confirmed, no spare id). */
int pn_quic_rebind(pn_quic_conn_t *q);
/** The peer's address of <q> into <ss>; its length. */
socklen_t pn_quic_peer(const pn_quic_conn_t *q, struct sockaddr_storage *ss);
void pn_quic_ref(pn_quic_conn_t *q);
/** Drop a reference; the last one closes the connection. NULL is a no-op. */
void pn_quic_unref(pn_quic_conn_t *q);

/** The stream id a DATAGRAM frame's payload <p> (<n> bytes) starts with, into
 *  <*sid>: the varint's length, or -1 when it is truncated or names no
 *  bidirectional stream. Pure. */
int pn_quic_dgram_parse(const uint8_t *p, size_t n, int64_t *sid);

/* DATAGRAM frames of this process: sent; received for a live stream; dropped
 * (malformed, unknown or ended stream, a queue full, too long blocked). */
typedef struct pn_quic_dgram_stats {
    uint64_t sent, received, dropped;
} pn_quic_dgram_stats_t;
void pn_quic_dgram_stats(pn_quic_dgram_stats_t *out);

/** Server: a new stream <x> (owned by the callee) opened by the peer <q>. */
typedef void (*pn_quic_stream_cb)(pn_xprt_t *x, pn_quic_conn_t *q, void *ctx);

/** Serve QUIC on the bound UDP socket <fd> (owned from now on) with the
 *  certificate and key <cert> serves now (NULL: a self-signed one), each
 *  handshake bounded by <handshake_ms>; streams go to <cb>(x, q, <ctx>) from the
 *  loop. NULL with <err>. */
pn_quic_srv_t *pn_quic_server(ev_loop_t *loop, int fd, pn_tls_ctx_t *cert, uint64_t handshake_ms,
                              pn_quic_stream_cb cb, void *ctx, char *err);
/** Close every connection and the socket; free <s>. NULL is a no-op. */
void pn_quic_server_free_(pn_quic_srv_t *s);
#define pn_quic_server_free(p) do { pn_quic_server_free_(p); (p) = NULL; } while (0)
/** Take the datagram <pkt> (<n> bytes) from <from> as if the socket had read
 *  it (the loop does it by itself; fuzzers drive a listener by hand). */
void pn_quic_server_input(pn_quic_srv_t *s, const uint8_t *pkt, size_t n, const struct sockaddr *from,
                          socklen_t flen);
/** Connections <s> holds now (tests, statistics). */
size_t pn_quic_server_conns(const pn_quic_srv_t *s);
/** Answer every new Initial with a Retry when <always> (tests, fuzzers), not
 *  only under load (tls/quic_gate.c); Retry packets sent so far. */
void pn_quic_server_retry(pn_quic_srv_t *s, int always);
size_t pn_quic_server_retries(const pn_quic_srv_t *s);
/** Derive the stateless reset tokens of <s> from <key> (<len> bytes), not from
 *  random bytes drawn at its start: a listener started again with the same key
 *  resets the connections its predecessor had (the client learns at once). */
void pn_quic_server_reset_key(pn_quic_srv_t *s, const uint8_t *key, size_t len);
/** Derive the NEW_TOKEN key of <s> from <key> (<len> bytes), not from random
 *  bytes drawn at its start: after a restart with the same key its clients'
 *  tokens still spare them a Retry (tls/quic_resume.c). Session tickets stay
 *  keyed by random bytes of this process (a resumed session is the same
 *  server's). */
void pn_quic_server_token_key(pn_quic_srv_t *s, const uint8_t *key, size_t len);

#endif
