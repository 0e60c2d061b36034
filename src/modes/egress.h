/* modes/egress.h: a tunnel end that dials the destination each exchange's
 * signal names (TARGET, docs/protocol.md §5.2), when started with egress=1. */
#ifndef PN_MODES_EGRESS_H
#define PN_MODES_EGRESS_H

#include "conf/config.h"
#include "conf/users.h"
#include "modes/tunnel.h"

#include <stdint.h>

/** Nonzero when <a> may be dialed as a destination: public, or inside one of
 *  the <nallow> networks of <allow> (allow=). */
int pn_mode_dest_allowed(const pn_cidr_t *allow, size_t nallow, const pn_addr_t *a);
/** With cfg->egress, give <sd> its egress state: the resolver and allow=.
 *  PN_ERR with <err> when allow= or dns does not parse; PN_OK (nothing) without egress=1. */
int pn_mode_egress_setup(struct pn_mode_side *sd, const pn_config_t *cfg, char *err);
/** Free <sd>'s egress state and the exchanges still resolving or connecting. */
void pn_mode_egress_free(struct pn_mode_side *sd);
/** As pn_mode_side_exit, but to <host>:<port> when <host> is not empty: refused
 *  (the data channel closed, a warning) without egress=1, for UDP, and for an
 *  internal address not in allow=. */
void pn_mode_side_exit_to(struct pn_mode_side *sd, uint8_t type, pn_xprt_t *data, const pn_addr_t *src,
                          const pn_addr_t *dst, const char *host, uint16_t port);

#endif
