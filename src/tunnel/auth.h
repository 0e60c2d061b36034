/* tunnel/auth.h: the tunnel's secrets: the control channel's PSK from the key,
 * the per-session data secret, and the proofs data connections carry. */
#ifndef PN_TUNNEL_AUTH_H
#define PN_TUNNEL_AUTH_H

#include "core/xprt.h"
#include "tunnel/frame.h"

#include <stdint.h>

#define TUN_PSK_LEN 32

/** Derive the control channel's PSK from <key>, or, when <key> is NULL or
 *  empty, from the default key of the tunnel <port> (NodePass compatible). */
void tun_psk_derive(const char *key, const char *port, uint8_t psk[TUN_PSK_LEN]);
/** Export the session's data secret from the established control TLS <x>; 0 or -1. */
int tun_data_secret(pn_xprt_t *x, uint8_t secret[PN_DATA_SECRET_LEN]);
/** Compute the DATA_HELLO proof of <id> under <secret>. */
void tun_proof(const uint8_t secret[PN_DATA_SECRET_LEN], const uint8_t id[PN_CONN_ID_LEN],
               uint8_t proof[PN_PROOF_LEN]);
/** Nonzero when <proof> is right for <id> under <secret> (constant time). */
int tun_proof_ok(const uint8_t secret[PN_DATA_SECRET_LEN], const uint8_t id[PN_CONN_ID_LEN],
                 const uint8_t proof[PN_PROOF_LEN]);
/** The proof of <id> in epoch <epoch> (HELLO EPOCH given): HMAC-SHA256 under
 *  <secret> of "postern-data-v1" || id || epoch (u32, big-endian). */
void tun_proof_at(const uint8_t secret[PN_DATA_SECRET_LEN], const uint8_t id[PN_CONN_ID_LEN],
                  uint32_t epoch, uint8_t proof[PN_PROOF_LEN]);
/** Nonzero when <proof> is tun_proof_at's for <id> and <epoch> (constant time). */
int tun_proof_at_ok(const uint8_t secret[PN_DATA_SECRET_LEN], const uint8_t id[PN_CONN_ID_LEN],
                    uint32_t epoch, const uint8_t proof[PN_PROOF_LEN]);

/* A hub's agent holds an account token instead of a tunnel key (docs/hub.md §5). */
#define TUN_HUB_ID_LEN 46           /* "postern/hub/1/" + 32 hex digits */

/** The control channel's PSK of the account whose token is <token>. */
void tun_hub_psk(const char *token, uint8_t psk[TUN_PSK_LEN]);
/** The PSK identity an agent offers for <token>: it names the account to the
 *  hub without revealing the token. */
void tun_hub_identity(const char *token, char out[TUN_HUB_ID_LEN + 1]);

#endif
