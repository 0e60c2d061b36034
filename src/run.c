/* run.c: the dispatcher: the only place that names every mode, so modes/
 * holds modes and none of them calls another. */
#include "run.h"
#include "core/log.h"
#include "modes/modes.h"
#include "net/addr.h"
#include "net/sock.h"

#include <signal.h>

int
pn_run(const pn_config_t *cfg)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(cfg->log);
    if (cfg->role == PN_ROLE_SERVER)
        return pn_server_run(cfg);
    if (cfg->role == PN_ROLE_HUB)
        return pn_hub_run(cfg);
    if (cfg->role == PN_ROLE_AGENT)
        return pn_agent_run(cfg);
    if (cfg->role == PN_ROLE_PROXY)
        return pn_proxy_run(cfg);
    if (cfg->mode == 1)
        return pn_single_run(cfg);
    if (cfg->mode == 2)
        return pn_client_run(cfg);
    /* mode=0: single-end when the first address can be bound here. */
    pn_addr_t a;
    char err[PN_ERR_LEN];
    if (pn_addr_resolve(cfg->host, cfg->port, 1, &a, err) == PN_OK && pn_can_bind_tcp(&a))
        return pn_single_run(cfg);
    return pn_client_run(cfg);
}
