/* master/checkpoint.h: reading an instance's CHECK_POINT line back (pure).
 *
 * The line is the one core/stats.c writes, possibly after the log prefix
 * ("2026-01-01 10:00:00.000 EVENT "): CHECK_POINT|MODE=1|PING=3ms|POOL=0|TCPS=0|
 * UDPS=0|TCPRX=0|TCPTX=0|UDPRX=0|UDPTX=0. Unknown fields are skipped, so a
 * later instance may add some. */
#ifndef PN_MASTER_CHECKPOINT_H
#define PN_MASTER_CHECKPOINT_H

#include "core/stats.h"

#include <stddef.h>

/** Parse <line> (<len> bytes, no NUL needed) into <out>: PN_OK when it is a
 *  CHECK_POINT line with every counter present and numeric, PN_ERR otherwise
 *  (an ordinary log line, or a malformed one). <mode> gets MODE= when non-NULL. */
int pn_checkpoint_parse(const char *line, size_t len, pn_stats_t *out, int *mode);

#endif
