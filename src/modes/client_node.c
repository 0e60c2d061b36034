/* modes/client_node.c: a proxy entrance's node (modes/client.h pn_client_embed):
 * a tunnel client with no listener of its own, on the entrance's loop, whose
 * instance is a shadow (it reports nothing; the entrance speaks for it). */
#include "modes/client.h"
#include "modes/client_priv.h"
#include "core/mem.h"
#include "tunnel/auth.h"

#include <stdio.h>
#include <string.h>

pn_client_t *
pn_client_embed(ev_loop_t *loop, const pn_config_t *cfg, char *err)
{
    struct client *cl = xcalloc(sizeof(*cl));
    client_init(cl, cfg);
    cl->embedded = 1;
    lb_init(&cl->set, LB_ROUND_ROBIN, 0, 0);
    cl->in.loop = loop;         /* borrowed: the shadow instance is never run nor cleared */
    cl->in.shadow = 1;
    cl->in.cfg = cfg;
    if (pn_addr_resolve(cfg->host, cfg->port, 0, &cl->server_addr, err) != PN_OK ||
        client_xport(cl, err) != PN_OK)
        goto fail;
    tun_psk_derive(cfg->key, cfg->port, cl->psk);
    cl->psk_ctx = pn_tls_psk_new(0, cl->psk, sizeof(cl->psk), err);
    memset(cl->psk, 0, sizeof(cl->psk));
    if (cl->psk_ctx == NULL)
        goto fail;
    snprintf(cl->vname, sizeof(cl->vname), "via %s:%s", cfg->host, cfg->port);
    client_side(cl, cl->vname, "node");
    cl->side.set = cl->side.sess.links.set = &cl->set;
    client_timers(cl, loop);
    client_connect(cl);
    return cl;
fail:
    client_clear(cl);
    free(cl);
    return NULL;
}

void
pn_client_unembed(pn_client_t *cl)
{
    if (cl == NULL)
        return;
    cl->in.stopping = 1;        /* no reconnection */
    tun_sess_kick(&cl->side.sess, PN_EC_SHUTDOWN, "entrance shutting down");
    client_session_end(cl, "shutting down");
    pn_mode_side_clear(&cl->side);
    client_timers_free(cl);
    client_clear(cl);
    free(cl);
}

int
pn_client_usable(const pn_client_t *cl, int udp)
{
    return cl->side.sess.ready && cl->side.sess.ctrl != NULL && cl->hello.flow == PN_FLOW_FORWARD &&
           (cl->hello.proto & (udp ? PN_PROTO_UDP : PN_PROTO_TCP));
}
