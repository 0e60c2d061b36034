/* modes/server.h: the tunnel server's session as a piece a proxy entrance
 * embeds (via=rev:..., docs/proxy.md §6): a node behind NAT dials the
 * entrance's tunnel port as a tunnel client in reverse flow, and the entrance
 * sends exchanges back through that tunnel. */
#ifndef PN_MODES_SERVER_H
#define PN_MODES_SERVER_H

#include "conf/config.h"
#include "core/ev.h"
#include "modes/tunnel.h"

typedef struct server pn_server_t;

/** A reverse-flow tunnel server of <cfg> (borrowed, outlives it) on <loop>:
 *  it listens on cfg's address for one node's client, opens no user listener
 *  and never stops the loop. NULL with <err> when the address cannot be used. */
pn_server_t *pn_server_embed(ev_loop_t *loop, const pn_config_t *cfg, char *err);
/** End and free an embedded server. NULL is a no-op. */
void pn_server_unembed(pn_server_t *sv);
/** Nonzero when a node's client is attached and TCP (UDP when <udp>) is carried. */
int pn_server_usable(const pn_server_t *sv, int udp);
/** The session's shared pieces of <sv>. */
struct pn_mode_side *pn_server_side(pn_server_t *sv);

#endif
