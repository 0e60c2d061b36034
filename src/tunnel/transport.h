/* tunnel/transport.h: how a connection to the tunnel port travels, NodePass's
 * type= (0 a TCP pool, 1 QUIC, 2 WebSocket, 3 HTTP/2), chosen by the server
 * (or hub) and told to the client in HELLO (TRANSPORT, PATH).
 *
 *   type  built  client dials                    the accepting port recognises
 *   0     yes    TCP, preamble                   'PN\x01' (always, whatever type=)
 *   1     yes    TCP control; data: QUIC streams the same port number, UDP (tls/quic.h)
 *   2     yes    [TLS] + GET <path> Upgrade      [TLS ClientHello] + an upgrade on <path>
 *   3     no     -                               -
 *
 * With type=2 every connection (control and data) is a WebSocket (tls/ws.h)
 * carrying the bytes it carries with type=0: the preamble, then for control
 * the PSK TLS handshake inside the WebSocket, for data DATA_HELLO (the data
 * TLS, tls=1|2, is the TLS under the upgrade: wss). The steps below run inside
 * tun_open / tun_greet (tunnel/open.h), under their deadline and their fd
 * watch: a step returns PN_AGAIN with x->want set. */
#ifndef PN_TUNNEL_TRANSPORT_H
#define PN_TUNNEL_TRANSPORT_H

#include "core/err.h"
#include "core/xprt.h"
#include "tls/h2_mux.h"
#include "net/addr.h"
#include "tls/quic.h"
#include "tls/tls.h"
#include "tunnel/frame.h"

typedef struct tun_xport {
    int type;                   /* PN_XPORT_* */
    const char *path;           /* borrowed: the WebSocket path, "/" by default */
    const char *host;           /* borrowed, client: the Host header value */
    pn_tls_ctx_t *tls;          /* borrowed: TLS under the upgrade (wss), NULL for ws:// */
    const char *sni;            /* borrowed, client: server name for that TLS, may be NULL */
    pn_h2_stream_cb h2_stream;  /* accepting, type=3: where each new stream goes */
    void *h2_ctx;               /* borrowed, passed to h2_stream */
    pn_list_t *h2_set;          /* borrowed: the live HTTP/2 connections (pn_h2_mux_close_all) */
} tun_xport_t;

/** The name of transport <type> ("tcp", "quic", "ws", "h2"), "?" when unknown. */
const char *tun_xport_name(int type);
/** PN_OK when <type> is built into this binary; else PN_ERR with <err>
 *  ("type=3 is not built yet"). */
int tun_xport_check(int type, char *err);

/** The accepting end's <t> for type= <type> (-1 means 0) on <path> (NULL:
 *  "/"), the TLS under an upgrade being <data_tls> (borrowed). */
void tun_xport_accepting(tun_xport_t *t, int type, const char *path, pn_tls_ctx_t *data_tls);
/** Put the accepting end's type= and path= in <h> (HELLO's TRANSPORT and
 *  PATH); nothing for type=0, so that HELLO stays as it was. */
void tun_xport_hello(pn_hello_t *h, int type, const char *path);

/* The dialing end's choice (client, agent): given type=2 (to cross a proxy)
 * every connection is a WebSocket on its own path=, host= and tls= (the TLS
 * under the upgrade: 1 unverified, the data channel pinned as usual; 2
 * verified with ca=); else the control connection is type=0 and the data
 * connections follow HELLO (TRANSPORT, PATH, TLS); one told type=3 by HELLO
 * reconnects with its control channel on the HTTP/2 connection (learn). */
typedef struct tun_xport_client {
    int given;                  /* type= was given: -1 no, else the type */
    tun_xport_t ctrl, data;
    char host[300];             /* the Host header */
    char path[PN_PATH_MAX + 1]; /* the path in use */
    pn_tls_ctx_t *own_tls;      /* owned: type=2 given with tls=1|2 */
    pn_h2_mux_t *mux;           /* a reference, type=3: the connection new streams open on */
    uint8_t mux_fp[PN_TLS_FP_LEN];  /* the fingerprint its TLS showed */
    int mux_has_fp;
    pn_quic_conn_t *quic;       /* a reference, type=1: the connection data streams open on */
    const char *ca;             /* borrowed: ca= (type=1 with tls=2) */
    int moved;                  /* the control channel was just moved (learn) */
} tun_xport_client_t;

/** Set <c> up from the dialing end's URL: type= <given> (-1 none), <tls>,
 *  <ca>, <path>, <host> (NULL: <addr_host>:<port>), <sni> (borrowed, outliving
 *  <c>). PN_ERR with <err> when the TLS context cannot be made. */
int tun_xport_client_init(tun_xport_client_t *c, int given, int tls, const char *ca,
                          const char *path, const char *host, const char *addr_host,
                          const char *port, const char *sni, char *err);
/** How the control connection travels: NULL for type=0. */
const tun_xport_t *tun_xport_client_ctrl(tun_xport_client_t *c);
/** How data connections travel under HELLO <h>, whose data TLS context is
 *  <data_tls> (borrowed): NULL for type=0. */
const tun_xport_t *tun_xport_client_data(tun_xport_client_t *c, const pn_hello_t *h,
                                         pn_tls_ctx_t *data_tls);
/** HELLO <h> read by a client given no type=: 1 when its control channel
 *  must move (onto HTTP/2 for type=3, back to type=0 otherwise; the data TLS
 *  <data_tls> is borrowed) and the caller reconnects at once, else 0. */
int tun_xport_client_learn(tun_xport_client_t *c, const pn_hello_t *h, pn_tls_ctx_t *data_tls);
/** The learned control connection failed: type=0 again (no-op when type= was given). */
void tun_xport_client_forget(tun_xport_client_t *c);
void tun_xport_client_clear(tun_xport_client_t *c);
/** type=3: keep the HTTP/2 connection the opened <x> (a stream, or TLS over
 *  one) travels on as the carrier of the next streams, with the fingerprint
 *  <fp> (may be NULL) its TLS showed; no-op when a live carrier is kept or <x>
 *  is no stream. */
void tun_xport_client_keep(tun_xport_client_t *c, pn_xprt_t *x, const uint8_t *fp);
/** The live carrier (a dead one is let go), or NULL; its fingerprint in *<fp>
 *  (NULL when none). */
pn_h2_mux_t *tun_xport_client_mux(tun_xport_client_t *c, const uint8_t **fp);
/** type=1 (<t>, from tun_xport_client_data, is QUIC): the live QUIC connection
 *  data streams open on, dialled to <to> when there is none or the last one
 *  died, its server checked as HELLO's <tls> says (1: <pin>; 2: the ca= and sni=
 *  of init) within <handshake_ms>; *<fp> the pin it checks (NULL when none).
 *  NULL when <t> is not QUIC, or (logged) when no socket can be made. */
pn_quic_conn_t *tun_xport_client_quic(tun_xport_client_t *c, const tun_xport_t *t, ev_loop_t *loop,
                                      const pn_addr_t *to, int tls, const uint8_t *pin,
                                      uint64_t handshake_ms, const uint8_t **fp);
/** Let the carrier go (the session ended). */
void tun_xport_client_drop(tun_xport_client_t *c);
/** Move <c>'s QUIC connection, if it has one, to a new UDP port (connection
 *  migration: its streams go on); a no-op otherwise. */
void tun_xport_client_rebind(tun_xport_client_t *c);

/** Move <len> bytes of <buf> through <x> (write when <wr>, else read),
 *  *<done> of them already moved: PN_OK when all are, PN_AGAIN (x->want set),
 *  PN_ERR with <why> (end of stream included). Reads never take more. */
int tun_io_all(pn_xprt_t *x, void *buf, size_t len, size_t *done, int wr, const char **why);

/* --- client side: [TLS] then the upgrade ---------------------------------- */

typedef struct tun_ws_dial tun_ws_dial_t;

/** A WebSocket opening over the connected raw transport the caller holds;
 *  <t> is borrowed until freed. type=3 makes a new HTTP/2 connection on
 *  <loop> (tls/h2_mux.h) and *<x> becomes its first stream. Never NULL. */
tun_ws_dial_t *tun_ws_dial_new(const tun_xport_t *t, ev_loop_t *loop);
/** Advance on *<x> (replaced by the TLS, then by the WebSocket transport):
 *  PN_OK when *<x> is the WebSocket, PN_AGAIN ((*x)->want set), PN_ERR with <why>. */
int tun_ws_dial_step(tun_ws_dial_t *d, pn_xprt_t **x, const char **why);
/** The fingerprint the TLS under the upgrade presented into <fp>: 0, or -1 without TLS. */
int tun_ws_dial_fp(const tun_ws_dial_t *d, uint8_t fp[PN_TLS_FP_LEN]);
void tun_ws_dial_free(tun_ws_dial_t *d);

/* --- accepting side -------------------------------------------------------- */

/** Look at the first byte of the raw <x> (not consumed): 0 a tunnel preamble
 *  (type=0) or anything else that is not HTTP or TLS, 1 a WebSocket opening (an HTTP
 *  method's letter, or a TLS ClientHello), PN_AGAIN nothing yet, PN_ERR closed. */
int tun_ws_sniff(pn_xprt_t *x);

typedef struct tun_ws_acc tun_ws_acc_t;

/** The accepting side of an opening on <t>'s path; with t->tls the TLS under
 *  the upgrade is required (a plain request gets a 400). Never NULL. */
tun_ws_acc_t *tun_ws_acc_new(const tun_xport_t *t, ev_loop_t *loop);
/** Advance on *<x> as tun_ws_dial_step. A malformed head, another path or a
 *  plain HTTP request is answered (400, 404, 405, 426, a short text page) and
 *  fails with <why> saying so. type=3: after [TLS] the connection goes to an
 *  HTTP/2 mux on <loop>, whose streams reach t->h2_stream: PN_OK with *<x>
 *  NULL (the opening is over, the streams are greeted one by one). */
int tun_ws_acc_step(tun_ws_acc_t *a, pn_xprt_t **x, const char **why);
void tun_ws_acc_free(tun_ws_acc_t *a);

#endif
