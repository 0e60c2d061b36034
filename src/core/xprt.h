/* core/xprt.h: the transport vtable. Raw TCP (net/xprt_raw.c) and TLS
 * (tls/xprt_tls.c) implement it; the relay never asks which one it holds.
 *
 * read/write return a byte count > 0, 0 for end of stream (read only), PN_AGAIN
 * when the call would block (then <want> says which readiness of the fd to wait
 * for: TLS may need the socket writable to read, or readable to write), or
 * PN_ERR with <err> pointing at a static description. */
#ifndef PN_CORE_XPRT_H
#define PN_CORE_XPRT_H

#include "core/err.h"

#include <stddef.h>
#include <sys/types.h>

typedef struct pn_xprt pn_xprt_t;

struct pn_xprt_ops {
    const char *name;                                           /* "tcp", "tls" */
    int zero_copy;                                              /* fd carries the bytes as they are: splice() may move them */
    ssize_t (*read)(pn_xprt_t *x, void *buf, size_t len);
    ssize_t (*write)(pn_xprt_t *x, const void *buf, size_t len);
    int (*shutdown_wr)(pn_xprt_t *x);                           /* PN_OK, PN_AGAIN, PN_ERR */
    size_t (*pending)(pn_xprt_t *x);                            /* bytes readable without the fd */
    void (*free)(pn_xprt_t *x);                                 /* closes the fd */
};

struct pn_xprt {
    const struct pn_xprt_ops *ops;  /* static table */
    int fd;                         /* owned: closed by ops->free */
    int want;                       /* EV_RD|EV_WR to wait for after PN_AGAIN */
    const char *err;                /* static text of the last PN_ERR, or NULL */
};

/** Free <x> and close its fd. NULL is a no-op. */
void pn_xprt_free_(pn_xprt_t *x);
#define pn_xprt_free(p) do { pn_xprt_free_(p); (p) = NULL; } while (0)

#endif
