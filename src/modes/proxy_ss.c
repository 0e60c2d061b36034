/* modes/proxy_ss.c: the proxy entrance's Shadowsocks port (ss=, docs/proxy.md):
 * the salt and the first chunk are read under the handshake deadline; the key
 * that opens the first length block names the user (at most SS_TRY_MAX keys
 * tried, each a subkey and one constant-time tag check); the first payload
 * begins with the target address. The user is then admitted, dialed and
 * relayed as a SOCKS5 user is (modes/proxy_head.c), the stream sealed and
 * opened by tls/xprt_ss.c.
 *
 *   SS --salt + length block: key found--> (payload) --target--> DIAL --> RELAY
 *      \--no key opens it: an authentication failure of the source, close */
#include "core/log.h"
#include "core/mem.h"
#include "modes/proxy_priv.h"

#include <string.h>

#define SS_TRY_MAX 1024             /* keys tried per connection */
#define SS_HEAD_MAX (PN_SS_SALT_LEN + PN_SS_CHUNK_MAX)  /* the longest salt's */
#define SS_SEEN 32768               /* salts per generation remembered against replays */
#define SS_SEEN_SLOTS (2 * SS_SEEN)

/* A replay filter: a salt that opened a stream is remembered (64 bits of it,
 * random enough to be its own hash) for the next SS_SEEN to SS_SEEN * 2 streams;
 * the same salt again is a recorded connection played back. Two generations of
 * open-addressing tables: when the current one is half full it becomes the
 * last and the last is emptied. Nonzero when <salt> was seen (else added). */
static int
ss_replayed(proxy_t *p, const uint8_t *salt)
{
    uint64_t f;
    memcpy(&f, salt, sizeof(f));
    f = f ? f : 1;                  /* 0 marks an empty slot */
    for (int g = 0; g < 2; g++) {
        if (p->ss_seen[g] == NULL)
            continue;
        for (size_t i = f % SS_SEEN_SLOTS; p->ss_seen[g][i] != 0; i = (i + 1) % SS_SEEN_SLOTS)
            if (p->ss_seen[g][i] == f)
                return 1;
    }
    if (p->ss_seen[0] == NULL || p->ss_nseen == SS_SEEN) {
        uint64_t *last = p->ss_seen[1];
        p->ss_seen[1] = p->ss_seen[0];
        p->ss_seen[0] = last ? memset(last, 0, SS_SEEN_SLOTS * sizeof(*last))
                             : xcalloc(SS_SEEN_SLOTS * sizeof(*last));
        p->ss_nseen = 0;
    }
    size_t i = f % SS_SEEN_SLOTS;
    while (p->ss_seen[0][i] != 0)
        i = (i + 1) % SS_SEEN_SLOTS;
    p->ss_seen[0][i] = f;
    p->ss_nseen++;
    return 0;
}

/* The first length block opened with no key: the source's failure counted as
 * a bad password is. */
static void
ss_auth_failed(pconn_t *c, const char *why)
{
    proxy_t *p = c->p;
    char s[PN_ADDRSTRLEN];
    uint64_t held;
    c->guarded = 0;
    if (tun_guard_done(&p->guard, &c->peer, 0, pn_now_ms()))
        log_warn("proxy: %s: %d failed authentications, refused for %d s",
                 pn_addr_ip(&c->peer, s), PROXY_AUTH_FAILS, PROXY_AUTH_BAN_MS / 1000);
    p->in.stats.refused++;
    if (pn_ratelim_pass(&p->fail_log, pn_now_ms(), &held))
        log_info("proxy: %s: ss: authentication failed (%s)", pn_addr_str(&c->peer, s), why);
    pconn_free(c);
}

/* Bytes of the head arrived: identify, open the first chunk, go. May free <c>. */
static void
ss_step(pconn_t *c)
{
    proxy_t *p = c->p;
    uint8_t out[PN_SS_PAYLOAD_MAX];
    size_t sl = pn_ss_salt_len(p->ss_method), at = sl + PN_SS_LEN_BLOCK, used;
    if (c->auth == NULL) {
        if (c->n < at)
            return;
        c->ss_dec = pn_ss_aead_new(p->ss_method, 0);
        long i = pn_ss_identify(c->ss_dec, c->buf, c->buf + sl,
                                (const uint8_t (*)[PN_SS_KEY_LEN])p->ss_keys,
                                p->nss < SS_TRY_MAX ? p->nss : SS_TRY_MAX);
        if (i < 0) {
            ss_auth_failed(c, "no user's key opens the first chunk");
            return;
        }
        if (ss_replayed(p, c->buf)) {
            ss_auth_failed(c, "a salt seen before: a replayed connection");
            return;
        }
        c->auth = p->ss_who[i];
        c->guarded = 0;
        tun_guard_done(&p->guard, &c->peer, 1, pn_now_ms());
    }
    ssize_t k = pn_ss_open(c->ss_dec, c->buf + at, c->n - at, &used, out);
    if (k == PN_AGAIN)
        return;
    if (k < 0) {
        proxy_conn_refuse(c, "the first chunk failed its tag");
        return;
    }
    int a = socks_parse_addr(out, (size_t)k, &c->dest);
    if (a <= 0) {
        memset(out, 0, sizeof(out));
        proxy_conn_refuse(c, "malformed target address");
        return;
    }
    /* What follows the first chunk stays in c->buf for the transport. */
    at += used;
    memmove(c->buf, c->buf + at, c->n - at);
    c->n -= at;
    int ok = proxy_conn_admit(c, out + a, (size_t)k - (size_t)a);
    memset(out, 0, sizeof(out));
    if (ok == PN_OK)
        proxy_conn_connect(c);
}

static void
on_ss_io(pn_xprt_t *x, int ready, void *arg)
{
    pconn_t *c = arg;
    if (c->n == SS_HEAD_MAX) {      /* cannot be: a whole chunk fits */
        proxy_conn_refuse(c, "head too long");
        return;
    }
    ssize_t r = x->ops->read(x, c->buf + c->n, SS_HEAD_MAX - c->n);
    if (r == PN_AGAIN) {
        pn_xprt_watch(x, c->p->in.loop, x->want, on_ss_io, c);
        return;
    }
    if (r <= 0) {
        char s[PN_ADDRSTRLEN];
        log_debug("proxy: %s: ss: closed during the head", pn_addr_str(&c->peer, s));
        pconn_free(c);
        return;
    }
    c->n += (size_t)r;
    ss_step(c);
}

void
proxy_ss_on_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    proxy_t *p = arg;
    pconn_t *c = proxy_conn_new(p, pn_entry_gate(p->ss_entry), x, peer, local);
    if (c == NULL)
        return;
    c->ss = 1;
    c->st = PC_SS;
    c->buf = xrealloc(c->buf, SS_HEAD_MAX);
    pn_xprt_watch(x, c->p->in.loop, EV_RD, on_ss_io, c);
}
