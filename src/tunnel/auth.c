/* tunnel/auth.c: key derivation and proofs (docs/protocol.md, "Keys"). */
#include "tunnel/auth.h"
#include "core/mem.h"
#include "tls/tls.h"

#include <string.h>

void
tun_psk_derive(const char *key, const char *port, uint8_t psk[TUN_PSK_LEN])
{
    char def[PN_DEFAULT_KEY_LEN + 1];
    if (key == NULL || *key == '\0') {
        pn_default_key(port, def);
        key = def;
    }
    pn_hmac_sha256((const uint8_t *)PN_PSK_HMAC_KEY, strlen(PN_PSK_HMAC_KEY),
                   (const uint8_t *)key, strlen(key), psk);
    memset(def, 0, sizeof(def));
}

int
tun_data_secret(pn_xprt_t *x, uint8_t secret[PN_DATA_SECRET_LEN])
{
    return pn_tls_export(pn_tls_xprt_ssl(x), PN_EXPORTER_LABEL, secret, PN_DATA_SECRET_LEN);
}

void
tun_proof(const uint8_t secret[PN_DATA_SECRET_LEN], const uint8_t id[PN_CONN_ID_LEN],
          uint8_t proof[PN_PROOF_LEN])
{
    uint8_t msg[PN_PROOF_MSG_LEN];
    pn_proof_msg(id, msg);
    pn_hmac_sha256(secret, PN_DATA_SECRET_LEN, msg, sizeof(msg), proof);
}

int
tun_proof_ok(const uint8_t secret[PN_DATA_SECRET_LEN], const uint8_t id[PN_CONN_ID_LEN],
             const uint8_t proof[PN_PROOF_LEN])
{
    uint8_t want[PN_PROOF_LEN];
    tun_proof(secret, id, want);
    return pn_memeq_ct(want, proof, PN_PROOF_LEN) == 0;
}

/* The proof of <id> in epoch <epoch> under <secret> into <proof> (see auth.h). */
void
tun_proof_at(const uint8_t secret[PN_DATA_SECRET_LEN], const uint8_t id[PN_CONN_ID_LEN],
             uint32_t epoch, uint8_t proof[PN_PROOF_LEN])
{
    uint8_t msg[PN_PROOF_MSG_LEN + 4];
    pn_proof_msg(id, msg);
    msg[PN_PROOF_MSG_LEN] = (uint8_t)(epoch >> 24);
    msg[PN_PROOF_MSG_LEN + 1] = (uint8_t)(epoch >> 16);
    msg[PN_PROOF_MSG_LEN + 2] = (uint8_t)(epoch >> 8);
    msg[PN_PROOF_MSG_LEN + 3] = (uint8_t)epoch;
    pn_hmac_sha256(secret, PN_DATA_SECRET_LEN, msg, sizeof(msg), proof);
}

/* Nonzero when <proof> is the proof of <id> in <epoch> (constant-time compare). */
int
tun_proof_at_ok(const uint8_t secret[PN_DATA_SECRET_LEN], const uint8_t id[PN_CONN_ID_LEN],
                uint32_t epoch, const uint8_t proof[PN_PROOF_LEN])
{
    uint8_t want[PN_PROOF_LEN];
    tun_proof_at(secret, id, epoch, want);
    return pn_memeq_ct(want, proof, PN_PROOF_LEN) == 0;
}

/* ---- hub accounts (docs/hub.md §5) ---- */

void
tun_hub_psk(const char *token, uint8_t psk[TUN_PSK_LEN])
{
    static const char label[] = "postern/hub-psk/v1";
    pn_hmac_sha256((const uint8_t *)label, strlen(label), (const uint8_t *)token, strlen(token),
                   psk);
}

void
tun_hub_identity(const char *token, char out[TUN_HUB_ID_LEN + 1])
{
    static const char label[] = "postern/hub-id/v1", prefix[] = "postern/hub/1/";
    static const char hex[] = "0123456789abcdef";
    uint8_t mac[32];
    pn_hmac_sha256((const uint8_t *)label, strlen(label), (const uint8_t *)token, strlen(token),
                   mac);
    memcpy(out, prefix, sizeof(prefix) - 1);
    char *p = out + sizeof(prefix) - 1;
    for (int i = 0; i < 16; i++) {
        *p++ = hex[mac[i] >> 4];
        *p++ = hex[mac[i] & 15];
    }
    *p = '\0';
    memset(mac, 0, sizeof(mac));
}
