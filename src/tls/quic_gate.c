/* tls/quic_gate.c: the listener's stateless answers (see quic_srv.c), made
 * without a connection and keyed by a random secret drawn at the listener's
 * start:
 *
 *   Initial, unknown DCID, no token --under load--> Retry (token: the client's
 *       address and port, the DCID it chose, the time; AEAD under the secret)
 *   Initial with a Retry token ------verified-----> a connection (original_dcid,
 *       retry_scid), the address proved; invalid or expired: CONNECTION_CLOSE
 *       INVALID_TOKEN, no state
 *   long header, unknown version, >= 1200 bytes --> Version Negotiation (v1)
 *   short header, unknown DCID, >= 30 bytes ------> stateless reset (smaller)
 *
 * Stateless reset tokens (RFC 9000 §10.3) are derived from a static key and the
 * connection id (ngtcp2_crypto_generate_stateless_reset_token), so the
 * listener can reset a connection it no longer knows: the key is derived from
 * the caller's (pn_quic_server_reset_key: a server's PSK, a hub's key file,
 * modes/hub_qkey.c; the same after a restart) or random at the start. A
 * client that receives one says so (pn_quic_cb_stateless_reset).
 *
 * "Under load": more than GATE_INITIALS_PER_SEC new-connection Initials in the
 * current second, or GATE_HANDSHAKES handshakes in progress on the port. A
 * quiet port answers an Initial at once (no round trip more); a flooded one
 * keeps no state for a source that does not prove it receives at its address,
 * so a spoofed flood neither fills the table nor the per-source cap a real
 * client of the same address needs. Each kind of answer has a budget per
 * second; every answer is smaller than the datagram that asked for it. */
#include "core/log.h"
#include "tls/quic_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GATE_INITIALS_PER_SEC 64    /* new-connection Initials a second before Retry */
#define GATE_HANDSHAKES 32          /* handshakes in progress before Retry */
#define GATE_RETRY_PER_SEC 20000    /* Retry packets a second (then Initials are dropped) */
#define GATE_VN_PER_SEC 200         /* Version Negotiation (and closes) a second */
#define GATE_TOKEN_TTL (10 * NGTCP2_SECONDS)    /* a Retry token's validity */
#define GATE_LOG_EVERY (60 * NGTCP2_SECONDS)    /* "under load" in the log at most this often */
#define GATE_RESET_PER_SEC 200      /* stateless resets a second */
#define GATE_RESET_MIN (QUIC_SCID_LEN + 22)      /* no reset for a shorter datagram */
#define GATE_RESET_MAX 42           /* a reset's size, when the datagram is longer */

void
pn_quic_gate_init(pn_quic_srv_t *s)
{
    pn_random(s->gate.secret, sizeof(s->gate.secret));
    pn_random(s->gate.reset_key, sizeof(s->gate.reset_key));
    const char *e = getenv("POSTERN_QUIC_RETRY");  /* docs/usage.md */
    s->gate.always = e != NULL && strcmp(e, "1") == 0;
}

void
pn_quic_server_reset_key(pn_quic_srv_t *s, const uint8_t *key, size_t len)
{
    static const char label[] = "postern quic stateless reset v1";
    pn_hmac_sha256(key, len, (const uint8_t *)label, sizeof(label) - 1, s->gate.reset_key);
}

void
pn_quic_server_retry(pn_quic_srv_t *s, int always)
{
    s->gate.always = always != 0;
}

size_t
pn_quic_server_retries(const pn_quic_srv_t *s)
{
    return s->gate.nretry;
}

/* Roll the per-second window of <s>'s budgets. */
static void
roll(pn_quic_srv_t *s, ngtcp2_tstamp now)
{
    if (now - s->gate.win < NGTCP2_SECONDS)
        return;
    s->gate.win = now;
    s->gate.initials = s->gate.retries = s->gate.vns = s->gate.resets = 0;
}

static void
reply(pn_quic_srv_t *s, const uint8_t *b, ngtcp2_ssize n, const struct sockaddr *to, socklen_t tolen)
{
    if (n > 0)
        (void)sendto(s->fd, b, (size_t)n, MSG_DONTWAIT, to, tolen);
}

/* Whether the port is under load (see the top), counting the Initial at hand;
 * said in the log when it starts, at most once in GATE_LOG_EVERY. */
static int
under_load(pn_quic_srv_t *s, ngtcp2_tstamp now)
{
    if (s->gate.always)
        return 1;
    int n = 0, load = ++s->gate.initials > GATE_INITIALS_PER_SEC;
    for (const pn_list_t *l = s->conns.next; l != &s->conns && !load; l = l->next)
        if (!pn_container_of(l, pn_quic_conn_t, srv_node)->handshake_done && ++n >= GATE_HANDSHAKES)
            load = 1;
    if (load && (s->gate.logged == 0 || now - s->gate.logged >= GATE_LOG_EVERY)) {
        s->gate.logged = now;
        log_warn("quic: under load (over %d new connections a second, or %d handshakes in "
                 "progress): new clients are asked to prove their address (Retry)",
                 GATE_INITIALS_PER_SEC, GATE_HANDSHAKES);
    }
    return load;
}

static void
send_retry(pn_quic_srv_t *s, const ngtcp2_pkt_hd *hd, size_t n, const struct sockaddr *from,
           socklen_t flen, ngtcp2_tstamp now)
{
    if (++s->gate.retries > GATE_RETRY_PER_SEC)
        return;                 /* dropped: the client sends its Initial again */
    uint8_t b[QUIC_SCID_LEN], token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN], pkt[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    ngtcp2_cid scid;
    pn_random(b, sizeof(b));
    ngtcp2_cid_init(&scid, b, sizeof(b));
    ngtcp2_ssize tl = ngtcp2_crypto_generate_retry_token(
        token, s->gate.secret, sizeof(s->gate.secret), hd->version, (const ngtcp2_sockaddr *)from,
        flen, &scid, &hd->dcid, now);
    if (tl < 0)
        return;
    size_t max = n < sizeof(pkt) ? n : sizeof(pkt);   /* never more than the Initial */
    ngtcp2_ssize w = ngtcp2_crypto_write_retry(pkt, max, hd->version, &hd->scid, &scid, &hd->dcid,
                                               token, (size_t)tl);
    if (w > 0)
        s->gate.nretry++;
    reply(s, pkt, w, from, flen);
}

int
pn_quic_gate_initial(pn_quic_srv_t *s, const ngtcp2_pkt_hd *hd, size_t n,
                     const struct sockaddr *from, socklen_t flen, ngtcp2_cid *odcid)
{
    ngtcp2_tstamp now = pn_quic_now();
    roll(s, now);
    if (hd->token.len > 0 && hd->token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
        if (ngtcp2_crypto_verify_retry_token(odcid, hd->token.base, hd->token.len, s->gate.secret,
                                             sizeof(s->gate.secret), hd->version,
                                             (const ngtcp2_sockaddr *)from, flen, &hd->dcid,
                                             GATE_TOKEN_TTL, now) == 0)
            return QUIC_GATE_RETRIED;
        /* Forged, expired or from another address: told at once, nothing kept. */
        if (++s->gate.vns <= GATE_VN_PER_SEC) {
            uint8_t pkt[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
            reply(s, pkt, ngtcp2_crypto_write_connection_close(pkt, sizeof(pkt), hd->version,
                                                               &hd->scid, &hd->dcid,
                                                               NGTCP2_INVALID_TOKEN, NULL, 0),
                  from, flen);
        }
        return QUIC_GATE_DROP;
    }
    /* A NEW_TOKEN of ours (quic_resume.c): the address is proved, no Retry. One
     * that does not verify (forged, expired, another address, a restart) counts
     * as no token at all (RFC 9000 §8.1.3): the path below. */
    if (hd->token.len > 0 && hd->token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_REGULAR &&
        ngtcp2_crypto_verify_regular_token(hd->token.base, hd->token.len, s->res.token_secret,
                                           sizeof(s->res.token_secret), (const ngtcp2_sockaddr *)from,
                                           flen, QUIC_TOKEN_TTL, now) == 0)
        return QUIC_GATE_TOKEN;
    if (!under_load(s, now))
        return QUIC_GATE_ACCEPT;
    send_retry(s, hd, n, from, flen, now);
    return QUIC_GATE_DROP;
}

void
pn_quic_gate_version(pn_quic_srv_t *s, const ngtcp2_version_cid *vc, size_t n,
                     const struct sockaddr *from, socklen_t flen)
{
    /* RFC 9000 §6.1: only for a datagram as large as a client's first, so the
     * answer (at most 527 bytes: two 255-byte ids) is never an amplification. */
    if (n < NGTCP2_MAX_UDP_PAYLOAD_SIZE)
        return;
    roll(s, pn_quic_now());
    if (++s->gate.vns > GATE_VN_PER_SEC)
        return;
    static const uint32_t sv[] = { NGTCP2_PROTO_VER_V1 };
    uint8_t pkt[1 + 4 + 1 + 255 + 1 + 255 + sizeof(sv)], r;
    pn_random(&r, 1);
    reply(s, pkt, ngtcp2_pkt_write_version_negotiation(pkt, sizeof(pkt), r, vc->scid, vc->scidlen,
                                                       vc->dcid, vc->dcidlen, sv, 1),
          from, flen);
}

void
pn_quic_gate_reset(pn_quic_srv_t *s, const ngtcp2_version_cid *vc, size_t n,
                   const struct sockaddr *from, socklen_t flen)
{
    /* Smaller than the datagram that asked (two endpoints that both lost the
     * connection cannot loop), and bounded per second. */
    if (n < GATE_RESET_MIN || vc->dcidlen != QUIC_SCID_LEN)
        return;
    roll(s, pn_quic_now());
    if (++s->gate.resets > GATE_RESET_PER_SEC)
        return;
    ngtcp2_cid cid;
    uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], r[GATE_RESET_MAX], pkt[GATE_RESET_MAX];
    size_t len = n - 1 < GATE_RESET_MAX ? n - 1 : GATE_RESET_MAX;
    ngtcp2_cid_init(&cid, vc->dcid, vc->dcidlen);
    if (pn_quic_srv_reset_token(s, &cid, token) != 0)
        return;
    pn_random(r, sizeof(r));
    reply(s, pkt, ngtcp2_pkt_write_stateless_reset(pkt, len, token, r, len - sizeof(token)),
          from, flen);
}

int
pn_quic_cb_stateless_reset(ngtcp2_conn *c, const ngtcp2_pkt_stateless_reset *sr, void *ud)
{
    pn_quic_conn_t *q = ud;
    (void)c;
    (void)sr;
    /* ngtcp2 checked the token against the ones the peer gave: the peer itself
     * (or whoever holds its key) says it lost the connection. */
    log_info("quic: stateless reset from the server: it no longer knows this connection "
             "(restarted?); it ends now");
    snprintf(q->why, sizeof(q->why), "quic: stateless reset by the peer");
    return 0;
}
