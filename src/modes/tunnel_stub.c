/* modes/tunnel_stub.c: the tunnel ends are not built yet (issue 3); say so
 * plainly instead of pretending. */
#include "modes/modes.h"
#include "modes/common.h"

int
pn_server_run(const pn_config_t *cfg)
{
    return pn_fail(PN_EXIT_RUNTIME, "server: the tunnel server is not in this build yet");
}

int
pn_client_run(const pn_config_t *cfg)
{
    return pn_fail(PN_EXIT_RUNTIME, "client: the first address cannot be bound here and the "
                                    "tunnel client is not in this build yet (mode=1 forces "
                                    "single-end)");
}
