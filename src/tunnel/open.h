/* tunnel/open.h: the two ends of opening a connection to the tunnel port.
 *
 * Client side (tun_open): connect, send the 4-byte preamble, run the TLS
 * handshake (PSK for control, the data TLS mode for data), check the pinned
 * fingerprint, and for data connections send DATA_HELLO and wait for DATA_OK.
 *
 * Server side (tun_greet): read the preamble, run the matching TLS handshake,
 * and for data connections read DATA_HELLO, let the owner judge the proof, and
 * answer DATA_OK. Every step is bounded by one deadline. */
#ifndef PN_TUNNEL_OPEN_H
#define PN_TUNNEL_OPEN_H

#include "core/ev.h"
#include "core/xprt.h"
#include "net/addr.h"
#include "tls/tls.h"
#include "tunnel/frame.h"
#include "tunnel/transport.h"

typedef struct tun_open tun_open_t;
typedef struct tun_greet tun_greet_t;

typedef struct tun_open_opts {
    uint8_t kind;                   /* PN_KIND_CONTROL or PN_KIND_DATA */
    pn_tls_ctx_t *tls;              /* borrowed: PSK (control) or data context, NULL for tls=0 */
    const char *sni;                /* borrowed, may be NULL */
    const uint8_t *pin;             /* borrowed: expected server fingerprint, or NULL */
    const uint8_t *id;              /* data: PN_CONN_ID_LEN bytes (copied) */
    const uint8_t *proof;           /* data: PN_PROOF_LEN bytes (copied) */
    uint64_t timeout_ms;            /* for the whole exchange */
    const tun_xport_t *xport;       /* borrowed: how it travels; NULL is type=0. With
                                     * type=2 <tls> of a data connection is NULL: its
                                     * TLS is xport->tls, under the upgrade */
    pn_h2_mux_t *mux;               /* borrowed, type=3: open a stream on this connection
                                     * (no connect, no handshake under it); NULL: dial */
    const uint8_t *mux_fp;          /* borrowed, with <mux> or <quic>: the fingerprint its TLS
                                     * showed (QUIC: the pin it checked) */
    pn_quic_conn_t *quic;           /* borrowed, type=1: open a stream on this connection */
} tun_open_opts_t;

/** Done: <x> (owned by the callee) ready for frames or raw bytes, or NULL with
 *  <err>. For a data connection with TLS, <fp> holds the fingerprint the server
 *  presented (else NULL). The opener is freed after the callback returns. */
typedef void (*tun_open_cb)(pn_xprt_t *x, const uint8_t *fp, const char *err, void *ctx);

/** Open a connection of <o>->kind to <server> (borrowed), or a stream on
 *  <o>->mux. Never NULL; the callback never runs before this returns. */
tun_open_t *tun_open_start(ev_loop_t *loop, const pn_addr_t *server, const tun_open_opts_t *o,
                           tun_open_cb cb, void *ctx);
/** Abandon <op> without its callback. NULL is a no-op. */
void tun_open_cancel(tun_open_t *op);

/** Server side: judge a DATA_HELLO; return nonzero to accept <id> + <proof>. */
typedef int (*tun_greet_check_cb)(const uint8_t *id, const uint8_t *proof, void *ctx);
/** Server side, done: <kind> and the ready <x> (owned by the callee), with the
 *  data connection's <id>; or <x> NULL and <err> when the greeting failed (the
 *  connection is then already closed); or <kind> TUN_GREET_MUX, <x> and <err>
 *  NULL: the connection became an HTTP/2 mux whose streams are greeted one by
 *  one (tun_xport_t.h2_stream). The greeter is freed after the callback. */
#define TUN_GREET_MUX 0xff
typedef void (*tun_greet_cb)(uint8_t kind, pn_xprt_t *x, const uint8_t *id, const char *err,
                             void *ctx);

typedef struct tun_greet_opts {
    pn_tls_ctx_t *psk;              /* borrowed: control channel context */
    pn_tls_ctx_t *data_tls;         /* borrowed: data TLS context, NULL for tls=0 */
    tun_greet_check_cb check;       /* judges DATA_HELLO */
    uint64_t timeout_ms;
    const tun_xport_t *ws;          /* borrowed: the port also takes WebSocket openings
                                     * on ws->path (type=2), ws->tls the data TLS; NULL: not */
} tun_greet_opts_t;

/** Greet the accepted plain transport <x> (owned from now on), or a stream of
 *  an HTTP/2 mux (no fd: it starts at the preamble). Never NULL. */
tun_greet_t *tun_greet_start(ev_loop_t *loop, pn_xprt_t *x, const tun_greet_opts_t *o,
                             tun_greet_cb cb, void *ctx);
/** Abandon <g>, closing its connection, without its callback. NULL is a no-op. */
void tun_greet_cancel(tun_greet_t *g);

#endif
