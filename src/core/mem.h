/* core/mem.h: allocation wrappers for small control objects.
 *
 * xmalloc and friends never return NULL: on exhaustion they log and abort, as
 * redis' zmalloc and Tor's tor_malloc do. Per-connection I/O buffers come from
 * core/buf.h instead, whose pool may run dry (the caller then refuses that one
 * connection). */
#ifndef PN_CORE_MEM_H
#define PN_CORE_MEM_H

#include <stddef.h>
#include <stdlib.h>

/** Allocate <n> bytes; never NULL. */
void *xmalloc(size_t n);
/** Allocate <n> zeroed bytes; never NULL. */
void *xcalloc(size_t n);
/** Resize <p> to <n> bytes; never NULL. */
void *xrealloc(void *p, size_t n);
/** Duplicate <s> (NULL gives NULL). */
char *xstrdup(const char *s);
/** Duplicate the first <n> bytes of <s> and NUL-terminate. */
char *xstrndup(const char *s, size_t n);

/** Free <p> and set it to NULL; free(NULL) is a no-op. */
#define xfree(p) do { free(p); (p) = NULL; } while (0)

/** Compare <n> bytes of <a> and <b> in time independent of their contents; 0 when equal. */
int pn_memeq_ct(const void *a, const void *b, size_t n);

#endif
