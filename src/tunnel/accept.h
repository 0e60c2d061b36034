/* tunnel/accept.h: the accepting end's tunnel port, one piece for the server
 * and the hub: accept, refuse banned sources, greet each connection
 * (preamble, TLS, DATA_HELLO: tunnel/open.h) and route it:
 *
 *   control (PSK handshake done) ─> the owner's control hook (it attaches a session)
 *   data (DATA_HELLO) ─> find(id) ─> tun_sess_admit (proof, replay) ─> tun_sess_put
 *
 * With type=3 a connection becomes an HTTP/2 mux (tls/h2_mux.h) once its TLS
 * is done, and each of its streams is greeted as a connection of its own,
 * under the same ban, cap and deadline (its source: the connection's peer);
 * the muxes end with the port (pn_h2_mux_close_all).
 *
 * Failed handshakes count towards a ban of their source (tunnel/guard.h): 10
 * within 10 s earn 10 s of refusals at accept; at most 64 handshakes in
 * progress per source. Refusals and failures are logged at most once a second. */
#ifndef PN_TUNNEL_ACCEPT_H
#define PN_TUNNEL_ACCEPT_H

#include "core/ev.h"
#include "core/xprt.h"
#include "net/addr.h"
#include "tls/tls.h"
#include "tunnel/session.h"

#include <stdint.h>

typedef struct tun_accept tun_accept_t;

typedef struct tun_accept_opts {
    const char *who;            /* static: log prefix ("server", "hub") */
    const char *peer;           /* static: who dials in, in log lines ("client", "agent") */
    const char *auth_hint;      /* static: a failed control handshake's likely cause ("wrong key?") */
    pn_tls_ctx_t *psk;          /* borrowed: control channel context */
    pn_tls_ctx_t *data_tls;     /* borrowed: data TLS context, NULL for tls=0 */
    const uint8_t *quic_key;    /* borrowed, TUN_PSK_LEN bytes or NULL: type=1's stateless reset
                                 * tokens derive from it (the same after a restart) */
    uint64_t timeout_ms;        /* each greeting's deadline */
    int xtype;                  /* type=: 2 also takes WebSocket openings (tunnel/transport.h);
                                 * a tunnel preamble (type=0) is always taken */
    const char *path;           /* borrowed: type=2's path, NULL for "/" */
    uint64_t *refused;          /* borrowed: counts refused and failed connections */
    void *ctx;                  /* borrowed, passed to the hooks */
    /** The session a data channel's <id> belongs to, or NULL. */
    tun_sess_t *(*find)(const uint8_t *id, void *ctx);
    /** An authenticated control connection <x> (owned by the callee) from <peer>. */
    void (*control)(pn_xprt_t *x, const pn_addr_t *peer, void *ctx);
} tun_accept_opts_t;

/** Serve the tunnel port listening on <lfd> (owned from now on) with <o>
 *  (copied). Never NULL. */
tun_accept_t *tun_accept_new(ev_loop_t *loop, int lfd, const tun_accept_opts_t *o);
/** Greet <x> (owned from now on), accepted elsewhere from <peer>. */
void tun_accept_conn(tun_accept_t *a, pn_xprt_t *x, const pn_addr_t *peer);
/** Close the port and every greeting in progress; free <a>. NULL is a no-op. */
void tun_accept_free_(tun_accept_t *a);
#define tun_accept_free(p) do { tun_accept_free_(p); (p) = NULL; } while (0)

#endif
