/* modes/modes.h: the entry points of each mode. Each resolves and checks what
 * needs the system, reports start-up errors as one "postern: ..." line on
 * stderr, runs until a stop signal and returns the process exit code. */
#ifndef PN_MODES_MODES_H
#define PN_MODES_MODES_H

#include "conf/config.h"

/** Run the single-end forwarder of <cfg>. */
int pn_single_run(const pn_config_t *cfg);
/** Run the tunnel server of <cfg>. */
int pn_server_run(const pn_config_t *cfg);
/** Run the tunnel client of <cfg>. */
int pn_client_run(const pn_config_t *cfg);
/** Run the hub of <cfg> (docs/hub.md). */
int pn_hub_run(const pn_config_t *cfg);
/** Run the hub agent of <cfg> (docs/hub.md). */
int pn_agent_run(const pn_config_t *cfg);
/** Run the proxy entrance of <cfg> (docs/proxy.md). */
int pn_proxy_run(const pn_config_t *cfg);

#endif
