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
/** Give <sd> its egress state: with cfg->egress the resolver and allow=,
 *  without it only what answers refusals. PN_ERR with <err> when allow= or dns
 *  does not parse (egress then stays off). */
int pn_mode_egress_setup(struct pn_mode_side *sd, const pn_config_t *cfg, char *err);
/** Free <sd>'s egress state and the exchanges still resolving or connecting. */
void pn_mode_egress_free(struct pn_mode_side *sd);
/** As pn_mode_side_exit, but to <host>:<port> when <host> is not empty, the
 *  data channel answered with a RESULT frame first (docs/protocol.md §6.5):
 *  refused (RESULT with a code, a warning, then closed) without egress=1, for
 *  an internal address not in allow=, and when the dial fails. */
void pn_mode_side_exit_to(struct pn_mode_side *sd, uint8_t type, pn_xprt_t *data, const pn_addr_t *src,
                          const pn_addr_t *dst, const char *host, uint16_t port);

#endif
