/* master/backoff.c: the restart delay policy of master/backoff.h. */
#include "master/backoff.h"

uint64_t
pn_backoff_next(uint64_t prev_ms, uint64_t uptime_ms, int exit_code)
{
    if (exit_code == 2)
        return PN_BACKOFF_NEVER;
    if (prev_ms == 0 || uptime_ms >= PN_BACKOFF_RESET_MS)
        return PN_BACKOFF_FIRST_MS;
    if (prev_ms >= PN_BACKOFF_MAX_MS / 2)
        return PN_BACKOFF_MAX_MS;
    return prev_ms * 2;
}
