/* tls/quic_resume.c: what a QUIC client keeps from one connection to the next
 * to the same server, and the server's side of it (docs/internals/quic.md
 * "Reconnection"):
 *
 *   connection 1:  full handshake --> NewSessionTicket (TLS) ----+--> cache entry
 *                                 --> NEW_TOKEN (QUIC) ----------+    (server, pin/ca/sni)
 *                                 --> the server's transport parameters
 *   connection 2:  Initial with the token (no Retry) + ClientHello with the
 *                  ticket (PSK, used once) and early_data --> "resumed",
 *                  "0-RTT accepted" or "rejected"; a ticket refused: a full
 *                  handshake, the certificate checked as the first time
 *
 * What the client sends in 0-RTT: nothing. Its streams carry a tunnel's
 * greeting and the user's first bytes, which are not safe to replay (a
 * replayed flight would make the server dial the target again and send those
 * bytes twice), so streams wait for the handshake as on a first connection;
 * the 0-RTT keys are agreed (and reported) but carry no stream frame. What
 * resumption saves: the certificate (its bytes in the server's first flight,
 * its verification) and, with the token, the Retry round trip under load.
 *
 * The cache: process-wide (postern is one thread), CACHE_SLOTS entries, each
 * keyed by SHA-256 of the server's address and what the client checks (pin;
 * or ca and sni): a ticket is offered only where the same check passed when
 * it was issued, so resumption authenticates the server as strongly as the
 * certificate check it stands for (TLS 1.3's PSK binder: only the server of
 * that session knows the resumption secret). The tunnel's DATA_HELLO proves
 * the key= on each stream either way.
 *
 * Server: a ticket key and an anti-replay state drawn at the listener's start
 * (tickets die with the process: a ticket key derived from the tunnel's key
 * would let any server of that key, or anyone holding it, resume a session
 * whose certificate only the first server held; a tls=1 restart changes the
 * pin anyway); early data enabled; each ClientHello that
 * offers early data is remembered for GnuTLS's window (a ring of
 * QUIC_REPLAY_SLOTS; full of live entries: the early data is refused, never a
 * replay let through). After the handshake a NEW_TOKEN (ngtcp2's regular
 * token: the client's IP address and the time, AEAD under a key derived from
 * the tunnel's (pn_quic_server_token_key; a hub's key file's), so it outlives a
 * restart; quic_gate.c checks it, valid QUIC_TOKEN_TTL). */
#include "core/log.h"
#include "core/mem.h"
#include "tls/quic_priv.h"

#include <gnutls/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS 16              /* servers a process keeps tickets for */
#define TICKET_MAX 8192             /* a session's packed data kept, at most */
#define TOKEN_MAX 256               /* a NEW_TOKEN kept, at most */

struct centry {
    uint8_t key[32];                /* SHA-256 of the server and the check; zero: free */
    uint64_t used;                  /* a counter: the least recently used goes first */
    uint8_t *ticket;                /* owned: gnutls_session_get_data2's bytes */
    size_t ticketlen;
    ngtcp2_transport_params tp;     /* the server's, for 0-RTT (no pointers kept) */
    int has_tp;
    uint8_t token[TOKEN_MAX];
    size_t tokenlen;
};

static struct centry cache[CACHE_SLOTS];
static uint64_t clock_;

static struct centry *
entry(const uint8_t *key, int make)
{
    struct centry *free_e = NULL, *old = NULL;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct centry *e = &cache[i];
        if (memcmp(e->key, key, 32) == 0) {
            e->used = ++clock_;
            return e;
        }
        if (e->used == 0 && free_e == NULL)
            free_e = e;
        if (old == NULL || e->used < old->used)
            old = e;
    }
    if (!make)
        return NULL;
    struct centry *e = free_e != NULL ? free_e : old;
    free(e->ticket);
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, 32);
    e->used = ++clock_;
    return e;
}

/* --- client ------------------------------------------------------------------ */

/* The cache key of <q>'s server into <key>: its address, and with <o> (not
 * NULL: a ticket's key) what the client checks; NULL: the token's key (an
 * address validation token is about the address only). */
static void
cache_key(const pn_quic_conn_t *q, const pn_quic_client_opts_t *o, uint8_t *key)
{
    gnutls_hash_hd_t h;
    uint8_t v = o != NULL ? (uint8_t)o->verify : 0xff;
    memset(key, 0, 32);
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) == 0) {
        gnutls_hash(h, &q->remote, q->rlen);
        gnutls_hash(h, &v, 1);
        if (o != NULL && o->verify == 1)
            gnutls_hash(h, o->pin, PN_TLS_FP_LEN);
        /* each string with its NUL: "a"+"bc" differs from "ab"+"c" */
        if (o != NULL && o->verify == 2)
            gnutls_hash(h, o->ca != NULL ? o->ca : "", o->ca != NULL ? strlen(o->ca) + 1 : 1);
        if (o != NULL)
            gnutls_hash(h, o->sni != NULL ? o->sni : "", o->sni != NULL ? strlen(o->sni) + 1 : 1);
        gnutls_hash_deinit(h, key);
    }
    if (pn_memeq_ct(key, (const uint8_t[32]){ 0 }, 32) == 0)
        key[0] = 1;             /* zero marks a free slot */
}

/* POSTERN_QUIC_NO_RESUME=1: keep nothing, offer nothing (benchmarks, an escape hatch). */
static int
disabled(void)
{
    static int v = -1;
    if (v == -1) {
        const char *e = getenv("POSTERN_QUIC_NO_RESUME");   /* docs/usage.md */
        v = e != NULL && strcmp(e, "1") == 0;
    }
    return v;
}

void
pn_quic_resume_prepare(pn_quic_conn_t *q, const pn_quic_client_opts_t *o, ngtcp2_settings *st)
{
    q->t0 = pn_quic_now();
    if (disabled()) {
        memset(q->rkey, 0, sizeof(q->rkey));    /* zero: no entry (see on_ticket) */
        memset(q->tkey, 0, sizeof(q->tkey));
        return;
    }
    cache_key(q, o, q->rkey);
    cache_key(q, NULL, q->tkey);
    struct centry *e = entry(q->tkey, 0);
    if (e != NULL && e->tokenlen > 0) {
        st->token.base = e->token;
        st->token.len = e->tokenlen;
        log_debug("quic: presenting the server's NEW_TOKEN (%zu bytes)", e->tokenlen);
    }
}

/* GnuTLS's hook after each NewSessionTicket the server sends: keep the
 * session (the newest ticket) and the server's transport parameters. */
static int
on_ticket(gnutls_session_t ss, unsigned htype, unsigned when, unsigned incoming,
          const gnutls_datum_t *msg)
{
    (void)htype, (void)when, (void)incoming, (void)msg;
    ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(ss);
    pn_quic_conn_t *q = ref->user_data;
    gnutls_datum_t d = { NULL, 0 };
    if (gnutls_session_get_data2(ss, &d) != 0)
        return 0;
    if (d.size > 0 && d.size <= TICKET_MAX && q->c != NULL && !disabled()) {
        struct centry *e = entry(q->rkey, 1);
        free(e->ticket);
        e->ticket = xmalloc(d.size);
        memcpy(e->ticket, d.data, d.size);
        e->ticketlen = d.size;
        const ngtcp2_transport_params *tp = ngtcp2_conn_get_remote_transport_params(q->c);
        if (tp != NULL) {
            e->tp = *tp;
            memset(&e->tp.version_info, 0, sizeof(e->tp.version_info));   /* points into q->c */
            e->tp.version_info_present = 0;
            e->has_tp = 1;
        }
        log_debug("quic: session ticket kept for the next connection (%u bytes)", d.size);
    }
    gnutls_free(d.data);
    return 0;
}

void
pn_quic_resume_offer(pn_quic_conn_t *q)
{
    if (disabled())
        return;
    gnutls_handshake_set_hook_function(q->tls, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET,
                                       GNUTLS_HOOK_POST, on_ticket);
    struct centry *e = entry(q->rkey, 0);
    if (e == NULL || e->ticket == NULL)
        return;
    gnutls_datum_t d = { e->ticket, (unsigned)e->ticketlen };
    if (gnutls_session_set_data(q->tls, d.data, d.size) == 0) {
        q->resuming = 1;
        if (e->has_tp)
            ngtcp2_conn_set_early_remote_transport_params(q->c, &e->tp);
    }
    free(e->ticket);            /* a TLS 1.3 ticket is used once (RFC 8446 §C.4) */
    e->ticket = NULL;
    e->ticketlen = 0;
}

int
pn_quic_resume_cb_token(ngtcp2_conn *c, const ngtcp2_vec *token, void *ud)
{
    (void)c;
    pn_quic_conn_t *q = ud;
    if (token->len == 0 || token->len > TOKEN_MAX || disabled())
        return 0;               /* not ours to judge: ignored */
    struct centry *e = entry(q->tkey, 1);
    memcpy(e->token, token->base, token->len);
    e->tokenlen = token->len;
    log_debug("quic: NEW_TOKEN kept for the next connection (%zu bytes)", token->len);
    return 0;
}

/* --- both ends --------------------------------------------------------------- */

static int
srv_done(pn_quic_conn_t *q)
{
    pn_quic_srv_t *s = q->srv;
    uint8_t token[NGTCP2_CRYPTO_MAX_REGULAR_TOKENLEN];
    ngtcp2_ssize n = ngtcp2_crypto_generate_regular_token(
        token, s->res.token_secret, sizeof(s->res.token_secret), (const ngtcp2_sockaddr *)&q->remote,
        q->rlen, pn_quic_now());
    if (n > 0 && ngtcp2_conn_submit_new_token(q->c, token, (size_t)n) == 0)
        s->res.ntokens++;
    pn_quic_schedule(q);        /* streams opened in 0-RTT go to their owner now (on_flush) */
    unsigned f = gnutls_session_get_flags(q->tls);
    log_debug("quic: handshake with a client done: %s%s", gnutls_session_is_resumed(q->tls)
              ? "resumed" : "full handshake", f & GNUTLS_SFLAGS_EARLY_DATA ? ", 0-RTT accepted" : "");
    return 0;
}

int
pn_quic_resume_done(pn_quic_conn_t *q)
{
    if (q->srv != NULL)
        return srv_done(q);
    /* The helper installs 0-RTT keys when GnuTLS offered early data. */
    q->early = ngtcp2_conn_get_early_crypto_ctx(q->c)->aead.native_handle != NULL;
    int resumed = gnutls_session_is_resumed(q->tls) != 0;
    int accepted = (gnutls_session_get_flags(q->tls) & GNUTLS_SFLAGS_EARLY_DATA) != 0;
    if (q->early && !accepted && ngtcp2_conn_early_data_rejected(q->c) != 0)
        return -1;
    double ms = (double)(pn_quic_now() - q->t0) / NGTCP2_MILLISECONDS;
    if (resumed)
        log_debug("quic: session resumed%s (%.2f ms)", !q->early ? " (no 0-RTT)"
                  : accepted ? ", 0-RTT accepted (no stream data sent in it)" : ", 0-RTT rejected", ms);
    else
        log_debug("quic: full handshake%s (%.2f ms)", q->resuming ? " (the server refused the ticket)"
                  : "", ms);
    return 0;
}

/* --- server ------------------------------------------------------------------ */

/* GnuTLS's anti-replay store: <key> identifies a ClientHello that offered early
 * data, live until <exp>. Seen: GNUTLS_E_DB_ENTRY_EXISTS (early data refused).
 * The ring full of live entries: refused too (fail closed). */
static int
replay_add(void *ptr, time_t exp, const gnutls_datum_t *key, const gnutls_datum_t *data)
{
    (void)data;
    pn_quic_srv_t *s = ptr;
    uint8_t h[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, key->data, key->size, h) != 0)
        return GNUTLS_E_DB_ERROR;
    size_t n = s->res.nseen < QUIC_REPLAY_SLOTS ? s->res.nseen : QUIC_REPLAY_SLOTS;
    for (size_t i = 0; i < n; i++)
        if (memcmp(s->res.seen[i], h, 16) == 0)
            return GNUTLS_E_DB_ENTRY_EXISTS;
    size_t slot = s->res.nseen % QUIC_REPLAY_SLOTS;
    if (s->res.nseen >= QUIC_REPLAY_SLOTS && s->res.exp[slot] > time(NULL))
        return GNUTLS_E_DB_ERROR;
    memcpy(s->res.seen[slot], h, 16);
    s->res.exp[slot] = exp;
    s->res.nseen++;
    return 0;
}

int
pn_quic_resume_srv_init(pn_quic_srv_t *s)
{
    pn_random(s->res.token_secret, sizeof(s->res.token_secret));
    if (gnutls_session_ticket_key_generate(&s->res.ticket_key) != 0) {
        s->res.ticket_key.data = NULL;
        return -1;
    }
    if (gnutls_anti_replay_init(&s->res.ar) != 0) {
        s->res.ar = NULL;
        return -1;
    }
    gnutls_anti_replay_set_add_function(s->res.ar, replay_add);
    gnutls_anti_replay_set_ptr(s->res.ar, s);
    return 0;
}

void
pn_quic_server_token_key(pn_quic_srv_t *s, const uint8_t *key, size_t len)
{
    static const char label[] = "postern quic new_token v1";
    pn_hmac_sha256(key, len, (const uint8_t *)label, sizeof(label) - 1, s->res.token_secret);
}

void
pn_quic_resume_srv_free(pn_quic_srv_t *s)
{
    if (s->res.ticket_key.data != NULL) {
        gnutls_memset(s->res.ticket_key.data, 0, s->res.ticket_key.size);
        gnutls_free(s->res.ticket_key.data);
    }
    if (s->res.ar != NULL)
        gnutls_anti_replay_deinit(s->res.ar);
}

int
pn_quic_resume_srv_session(pn_quic_conn_t *q)
{
    pn_quic_srv_t *s = q->srv;
    if (s == NULL || s->res.ticket_key.data == NULL || s->res.ar == NULL)
        return 0;               /* no resumption (a listener set up by hand) */
    if (gnutls_session_ticket_enable_server(q->tls, &s->res.ticket_key) != 0)
        return -1;
    gnutls_anti_replay_enable(q->tls, s->res.ar);
    /* QUIC: the limit in the ticket must be 0xffffffff (RFC 9001 §4.6.1). */
    return gnutls_record_set_max_early_data_size(q->tls, 0xffffffffu) == 0 ? 0 : -1;
}
