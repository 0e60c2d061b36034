/* core/notify.h: the service manager's readiness protocol (sd_notify), without
 * libsystemd: one datagram "KEY=VALUE\n..." to the unix socket named by
 * $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Without
 * NOTIFY_SOCKET every call is a no-op. */
#ifndef PN_CORE_NOTIFY_H
#define PN_CORE_NOTIFY_H

#include <stdint.h>

/** Send <state> (e.g. "READY=1", "STOPPING=1"); 0 when sent or not wanted, -1 on error. */
int pn_notify(const char *state);
/** The watchdog interval asked for by $WATCHDOG_USEC (for this process, per
 *  $WATCHDOG_PID), in ms; 0 when none. Send "WATCHDOG=1" at half of it. */
uint64_t pn_notify_watchdog_ms(void);

#endif
