/* master/backoff.h: when to start an instance again after it exited on its own
 * (pure): 1 s, doubling to 30 s, back to 1 s after 60 s of running; never after
 * exit code 2 (a bad URL or file fails again). */
#ifndef PN_MASTER_BACKOFF_H
#define PN_MASTER_BACKOFF_H

#include <stdint.h>

#define PN_BACKOFF_FIRST_MS 1000
#define PN_BACKOFF_MAX_MS 30000
#define PN_BACKOFF_RESET_MS 60000   /* a run this long forgets earlier failures */
#define PN_BACKOFF_NEVER 0          /* returned: do not restart */

/** Return the delay in ms before the next start, given the previous delay
 *  <prev_ms> (0 when none), how long the run lasted <uptime_ms> and its
 *  <exit_code> (-1 when killed by a signal); PN_BACKOFF_NEVER for exit code 2. */
uint64_t pn_backoff_next(uint64_t prev_ms, uint64_t uptime_ms, int exit_code);

#endif
