/* master/backoff.c: the restart delay policy of master/backoff.h. */
#include "master/backoff.h"

uint64_t
pn_backoff_next_from(uint64_t prev_ms, uint64_t uptime_ms, int exit_code, uint64_t first_ms)
{
    uint64_t max = first_ms > PN_BACKOFF_MAX_MS ? first_ms : PN_BACKOFF_MAX_MS;
    if (exit_code == 2)
        return PN_BACKOFF_NEVER;
    if (prev_ms == 0 || uptime_ms >= PN_BACKOFF_RESET_MS)
        return first_ms;
    if (prev_ms >= max / 2)
        return max;
    return prev_ms * 2;
}

uint64_t
pn_backoff_next(uint64_t prev_ms, uint64_t uptime_ms, int exit_code)
{
    return pn_backoff_next_from(prev_ms, uptime_ms, exit_code, PN_BACKOFF_FIRST_MS);
}
