/* core/duration.h: Go-style durations ("250ms", "5s", "1m30s", "2h") and
 * bounded unsigned numbers, parsed without I/O. */
#ifndef PN_CORE_DURATION_H
#define PN_CORE_DURATION_H

#include <stdint.h>

/** Parse <s> into milliseconds in <out_ms>. Units: ms, s, m, h; a bare "0" is
 *  zero; fractions ("1.5s") are allowed. Return 0, or -1 when <s> is not a
 *  duration or exceeds about 292 million years. */
int pn_duration_parse(const char *s, uint64_t *out_ms);
/** The graceful-shutdown timeout in ms: POSTERN_SHUTDOWN_TIMEOUT, else
 *  NodePass's NP_SHUTDOWN_TIMEOUT, else 5 s (PN_SHUTDOWN_DEFAULT_MS). A
 *  malformed value gives the default and sets *<bad> (when not NULL) to the
 *  variable's name; otherwise *<bad> is NULL. */
#define PN_SHUTDOWN_DEFAULT_MS 5000
uint64_t pn_shutdown_timeout_ms(const char **bad);
/** Parse the decimal <s> into <out>, requiring min <= value <= max; 0 or -1. */
int pn_uint_parse(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
