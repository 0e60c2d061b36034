/* master/master.h: `postern master://...`: the control plane process. */
#ifndef PN_MASTER_MASTER_H
#define PN_MASTER_MASTER_H

/** Run the master of <url> until SIGINT/SIGTERM; return the exit code
 *  (PN_EXIT_OK, PN_EXIT_RUNTIME, PN_EXIT_USAGE). Start-up errors go to stderr
 *  as one "postern: <field>: <reason>" line. */
int pn_master_run(const char *url);

#endif
