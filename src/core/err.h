/* core/err.h: return-code and error-message conventions shared by every layer.
 *
 * Functions return PN_OK (0) on success, PN_ERR (-1) on failure and PN_AGAIN (-2)
 * for "would block, call again when ready". Synchronous setup helpers take a
 * caller-provided `char err[PN_ERR_LEN]` and fill it with one human-readable line
 * naming what failed and what was expected. */
#ifndef PN_CORE_ERR_H
#define PN_CORE_ERR_H

#include <stdarg.h>

#define PN_OK    0
#define PN_ERR   (-1)
#define PN_AGAIN (-2)

#define PN_ERR_LEN 256

/** Format a message into <err> (PN_ERR_LEN bytes) and return PN_ERR. <err> may be NULL. */
int pn_err_set(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
