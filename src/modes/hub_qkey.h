/* modes/hub_qkey.h: the hub's stateless reset key for type=1 (docs/internals/quic.md
 * "Stateless resets"). */
#ifndef PN_MODES_HUB_QKEY_H
#define PN_MODES_HUB_QKEY_H

#include "modes/hub_types.h"

#define HUB_QKEY_LEN 32

/** With type=1, the key the hub's QUIC listener derives its stateless reset
 *  tokens from, the same after a restart: 32 random bytes kept in a file of
 *  the hub's user (mode 0600; $POSTERN_QUIC_RESET_KEY, else
 *  $XDG_STATE_HOME/postern/quic-reset.key, else
 *  ~/.local/state/postern/quic-reset.key), made at the first start. Read into
 *  h->quic_key; NULL (the listener draws its own at start, as before) without
 *  type=1, or when the file cannot be made or read or is open to others (said
 *  in the log, never the key). */
const uint8_t *hub_quic_key(struct hub *h);

#endif
