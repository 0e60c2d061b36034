/* master/health.h: how an instance is doing (docs/master.md "States"), next to
 * whether its process runs: what the instance says of itself in its STATE lines
 * (modes/instance.h pn_instance_state), and the parser of those lines (pure). */
#ifndef PN_MASTER_HEALTH_H
#define PN_MASTER_HEALTH_H

#include <stddef.h>

#define PN_HEALTH_REASON_MAX 256    /* bytes of a reason, NUL included */

enum pn_health {
    PN_HEALTH_STOPPED = 0,      /* no process: stopped by request, or never started */
    PN_HEALTH_CONNECTING,       /* started, not serving yet, or reconnecting */
    PN_HEALTH_CONNECTED,        /* serving */
    PN_HEALTH_DEGRADED,         /* serving in part: pool empty, every target down, a
                                   route's probe failing or refused */
    PN_HEALTH_ERROR,            /* not serving: cannot connect, wrong key, exited */
    PN_HEALTH_N
};

/** The name of <h>: "stopped", "connecting", "connected", "degraded", "error". */
const char *pn_health_name(enum pn_health h);

/** Read a STATE line, "STATE|<state>|<reason>", in a text log line (the tag
 *  after the level, "... EVENT STATE|...") or a JSON one ("msg":"STATE|...", the
 *  reason then ends at the closing quote). <state> is one of the four an
 *  instance reports (not "stopped"); the reason is copied into <reason>, cut to
 *  PN_HEALTH_REASON_MAX - 1 bytes, bytes outside printable ASCII replaced by '?'.
 *  PN_OK, or PN_ERR when <line> (<len> bytes) is not such a line. */
int pn_health_parse(const char *line, size_t len, enum pn_health *state,
                    char reason[PN_HEALTH_REASON_MAX]);

#endif
