/* run.h: the dispatcher above the modes: one parsed URL to the mode it names. */
#ifndef PN_RUN_H
#define PN_RUN_H

#include "conf/config.h"

/** Run the mode <cfg> asks for (single-end, tunnel server or client, hub,
 *  agent) to the end; return the process exit code (PN_EXIT_*). Start-up
 *  errors go to stderr as one "postern: <field>: <reason>" line. */
int pn_run(const pn_config_t *cfg);

#endif
