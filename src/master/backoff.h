/* master/backoff.h: when to start an instance again after it exited on its own
 * (pure): 1 s (the cooldown, POSTERN_SERVICE_COOLDOWN), doubling to 30 s (or
 * the cooldown when longer), back to the cooldown after 60 s of running; never
 * after exit code 2 (a bad URL or file fails again). */
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
/** pn_backoff_next() with <first_ms> (> 0) instead of PN_BACKOFF_FIRST_MS; the
 *  ceiling is PN_BACKOFF_MAX_MS or <first_ms> when larger. */
uint64_t pn_backoff_next_from(uint64_t prev_ms, uint64_t uptime_ms, int exit_code,
                              uint64_t first_ms);

#endif
