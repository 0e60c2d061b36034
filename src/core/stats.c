/* core/stats.c: the CHECK_POINT line, in NodePass's format so its tooling reads ours. */
#include "core/stats.h"

#include <inttypes.h>
#include <stdio.h>

int
pn_stats_checkpoint_format(char *out, size_t len, int mode, const pn_stats_t *s)
{
    int n = snprintf(out, len,
                     "CHECK_POINT|MODE=%d|PING=%" PRIu64 "ms|POOL=%" PRIu64 "|TCPS=%" PRIu64
                     "|UDPS=%" PRIu64 "|TCPRX=%" PRIu64 "|TCPTX=%" PRIu64 "|UDPRX=%" PRIu64
                     "|UDPTX=%" PRIu64,
                     mode, s->ping_ms, s->pool, s->tcps, s->udps, s->tcp_rx, s->tcp_tx,
                     s->udp_rx, s->udp_tx);
    if (n < 0 || (size_t)n >= len)
        return -1;
    return n;
}
