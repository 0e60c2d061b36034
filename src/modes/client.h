/* modes/client.h: the tunnel client's session machinery, shared with the hub's
 * agent (modes/agent.c). The agent is a client whose flow is always reverse:
 * it keeps the same control channel, pool and reconnection, and through these
 * hooks registers its routes once a session is up and dials each exchange's
 * route. */
#ifndef PN_MODES_CLIENT_H
#define PN_MODES_CLIENT_H

#include "conf/config.h"
#include "modes/client_hooks.h"
#include "modes/instance.h"
#include "modes/tunnel.h"
#include "tls/tls.h"

/** Run a client of <cfg> with the control PSK context <psk> (owned from now
 *  on) and <hooks> (copied). Return the exit code. */
int pn_client_run_hooked(const pn_config_t *cfg, pn_tls_ctx_t *psk, const pn_client_hooks_t *h);
/** The instance of <cl> (loop, counters). */
pn_instance_t *pn_client_instance(pn_client_t *cl);
/** SIGHUP's part of the client <cl> (an agent's too): its network may have
 *  changed, so a type=1 connection moves to a new UDP port (migration). */
void pn_client_reload(pn_client_t *cl);
/** The session's shared pieces (links, UDP group) of <cl>. */
struct pn_mode_side *pn_client_side(pn_client_t *cl);
/** The agent's word on its routes: <reason> (copied) makes a session that is up
 *  report "degraded" with it; NULL or "" clears it (docs/master.md "States"). */
void pn_client_degraded(pn_client_t *cl, const char *reason);

/** A client of <cfg> (borrowed, outlives it) on <loop>, for a proxy entrance
 *  (via=, docs/proxy.md): it connects and keeps its pool as a tunnel client
 *  does, opens no listener, reconnects on any failure (a wrong key too) and
 *  never stops the loop. Its exchanges are taken by the entrance from
 *  pn_client_side(cl)->sess. NULL with <err> when the address or transport is
 *  not valid. */
pn_client_t *pn_client_embed(ev_loop_t *loop, const pn_config_t *cfg, char *err);
/** End and free an embedded client. NULL is a no-op. */
void pn_client_unembed(pn_client_t *cl);
/** Nonzero when the embedded client's session is up, in the forward flow, and
 *  carries TCP (UDP when <udp>). */
int pn_client_usable(const pn_client_t *cl, int udp);

#endif
