/* modes/proxy_user.c: the proxy entrance's users at run time: who a name
 * and password are (constant time), whether one more connection is admitted,
 * whether a destination may be dialed (here, or by a node: its RESULT frame),
 * and closing a connection. */
#include "core/log.h"
#include "core/mem.h"
#include "modes/egress.h"
#include "modes/proxy_priv.h"
#include "net/sock.h"
#include "tunnel/frame.h"
#include "tunnel/session.h"

#include <string.h>

puser_t *
proxy_user_find(proxy_t *p, const char *name)
{
    for (size_t i = 0; i < p->nusers; i++)
        if (strcmp(p->users[i]->spec.name, name) == 0)
            return p->users[i];
    return NULL;
}

void
proxy_user_close_all(puser_t *u)
{
    while (!pn_list_empty(&u->conns))
        pconn_free(pn_container_of(u->conns.next, pconn_t, link));
}


/* Fixed-size, constant-time: neither the length nor the first difference shows. */
static int
secret_eq(const char *have, const char *want)
{
    char a[PN_USER_SECRET_MAX + 1] = { 0 }, b[PN_USER_SECRET_MAX + 1] = { 0 };
    size_t na = strlen(have), nb = want ? strlen(want) : 0;
    memcpy(a, have, na > PN_USER_SECRET_MAX ? PN_USER_SECRET_MAX : na);
    if (want != NULL)
        memcpy(b, want, nb > PN_USER_SECRET_MAX ? PN_USER_SECRET_MAX : nb);
    int eq = (pn_memeq_ct(a, b, sizeof(a)) == 0) & (na == nb) & (want != NULL);
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    return eq;
}

puser_t *
proxy_auth(proxy_t *p, pconn_t *c, const char *name, const char *pass)
{
    char s[PN_ADDRSTRLEN];
    puser_t *u = proxy_user_find(p, name);
    int ok = secret_eq(pass, u && u->live ? u->spec.password : NULL);
    if (c->guarded) {
        c->guarded = 0;
        if (tun_guard_done(&p->guard, &c->peer, ok, pn_now_ms()))
            log_warn("proxy: %s: %d failed authentications, refused for %d s",
                     pn_addr_ip(&c->peer, s), PROXY_AUTH_FAILS, PROXY_AUTH_BAN_MS / 1000);
    }
    if (ok)
        return u;
    if (u != NULL)
        u->refused++;
    p->in.stats.refused++;
    uint64_t held;
    if (pn_ratelim_pass(&p->fail_log, pn_now_ms(), &held))
        log_info("proxy: %s: authentication failed (%s)", pn_addr_str(&c->peer, s),
                 u ? "wrong password" : "unknown user");
    return NULL;
}

const char *
proxy_admit(proxy_t *p, puser_t *u)
{
    const char *why = NULL;
    if (!u->spec.enabled)
        why = "disabled";
    else if (u->over)
        why = "over quota";
    else if (u->spec.max_conns != 0 && u->open >= u->spec.max_conns)
        why = "too many connections";
    else if (p->in.cfg->slot != 0 && p->in.stats.tcps + p->in.stats.udps >= p->in.cfg->slot)
        why = "slot limit";
    if (why != NULL) {
        u->refused++;
        p->in.stats.refused++;
        return why;
    }
    u->open++;
    u->total++;
    return NULL;
}

int
proxy_dest_allowed(const proxy_t *p, const pn_addr_t *a)
{
    return pn_mode_dest_allowed(p->allow, p->nallow, a);
}

void
pconn_free(pconn_t *c)
{
    proxy_t *p = c->p;
    pn_list_del(&c->link);
    if (c->gate != NULL)
        pn_gate_leave(c->gate, &c->adm);
    if (c->guarded)
        tun_guard_done(&p->guard, &c->peer, 1, pn_now_ms()); /* not an auth failure */
    if (c->u != NULL) {
        c->u->open--;
        if (c->st == PC_RELAY)
            p->in.stats.tcps--;
        if (c->st == PC_UDP)
            p->in.stats.udps--;
    }
    pn_dns_cancel(c->dns);
    tun_take_cancel(c->take);
    pn_xprt_free(c->via_x);
    ev_io_free(c->dio);
    pn_close(c->dfd);
    relay_free(c->relay);
    if (c->udp != NULL)
        c->udp_free(c->udp);
    pn_xprt_free(c->x);
    pn_ss_aead_free(c->ss_dec);
    ev_timer_free(c->deadline);
    if (c->buf != NULL)
        memset(c->buf, 0, c->n);
    free(c->buf);
    free(c->fwd);
    free(c->res);
    free(c);
}

int
proxy_result_read(pn_xprt_t *x, uint8_t *buf, size_t *n, uint8_t *code,
                  char *reason, const char **why)
{
    for (;;) {
        size_t need = 0;
        int rc = pn_result_decode(buf, *n, code, reason, &need, why);
        if (rc != PN_AGAIN)
            return rc;
        ssize_t r = x->ops->read(x, buf + *n, need - *n);
        if (r == PN_AGAIN)
            return PN_AGAIN;
        if (r <= 0) {
            *why = "the node closed the exchange without an answer";
            return PN_ERR;
        }
        *n += (size_t)r;
    }
}
