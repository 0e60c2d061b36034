/* modes/client_setup.c: the set-up every tunnel client shares (the tunnel
 * client, the agent's session, a proxy entrance's node): its first fields,
 * its transport (type=), and their end. */
#include "modes/client_priv.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

/* Give <cl> (zeroed) the fields every client starts with. */
void
client_init(struct client *cl, const pn_config_t *cfg)
{
    cl->cfg = cfg;
    cl->data_tls_mode = -1;
    cl->backoff_ms = BACKOFF_MIN_MS;
    pn_list_init(&cl->opens);
}

/* The transport to the server (type=, tls=, path=), named for SNI. */
int
client_xport(struct client *cl, char *err)
{
    const pn_config_t *cfg = cl->cfg;
    cl->sni = cfg->sni ? cfg->sni : cfg->host;
    return tun_xport_client_init(&cl->xc, cfg->xtype, cfg->tls, cfg->ca, cfg->ws_path,
                                 cfg->ws_host, cfg->host, cfg->port, cl->sni, err);
}

/* Free what client_init and client_xport made, and the keys and targets. */
void
client_clear(struct client *cl)
{
    tun_xport_client_clear(&cl->xc);
    pn_tls_ctx_free(cl->psk_ctx);
    pn_tls_ctx_free(cl->data_tls);
    memset(cl->psk, 0, sizeof(cl->psk));
    lb_clear(&cl->set);
    free(cl->addrs);
}
