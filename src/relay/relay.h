/* relay/relay.h: the byte relay between two transports, written once for both
 * directions.
 *
 * Side 0 is the entry (the user's connection), side 1 the exit (the target or a
 * tunnel data connection). Direction d moves bytes from side d to side 1-d:
 * direction 0 is "rx" (read from the user), direction 1 is "tx" (written back to
 * the user). A FIN read on one side becomes a write shutdown on the other once
 * its buffered bytes are flushed; the relay ends when both directions have
 * ended, on an error, or when no byte moved for the idle timeout. */
#ifndef PN_RELAY_RELAY_H
#define PN_RELAY_RELAY_H

#include "core/bucket.h"
#include "core/ev.h"
#include "core/xprt.h"

#include <stdint.h>

typedef struct relay relay_t;

/** Called once when the relay ends by itself: <err> is NULL for a clean end
 *  (both directions finished) or a static reason. The relay is freed right
 *  after the callback returns, from a deferred event, never inside an I/O
 *  callback of its own. */
typedef void (*relay_done_cb)(relay_t *r, const char *err, void *ctx);

/** Judge the first bytes the entry sent (<p>, <n> >= 1); nonzero refuses the
 *  connection (the relay then ends with "blocked" before forwarding a byte). */
typedef int (*relay_first_cb)(const uint8_t *p, size_t n, void *ctx);

typedef struct relay_opts {
    uint64_t idle_ms;           /* close after this long without a byte moved; 0 = never */
    uint64_t *rx;               /* borrowed counter: bytes read from side 0, or NULL */
    uint64_t *tx;               /* borrowed counter: bytes written to side 0, or NULL */
    pn_bucket_t *limit;         /* borrowed: bandwidth shared with others, or NULL */
    relay_first_cb first;       /* optional: judges the entry's first bytes */
    void *first_ctx;            /* borrowed */
    const uint8_t *exit_hdr;    /* copied: bytes sent to the exit before any (PROXY header) */
    size_t exit_hdr_len;
    const uint8_t *entry_hdr;   /* copied: bytes sent to the entry before any (<= 64 KiB) */
    size_t entry_hdr_len;
} relay_opts_t;

/** Move at most <bytes> at once: the size of the splice pipes (F_SETPIPE_SZ,
 *  made from now on) and of a buffered read (at most PN_BUF_SIZE). Default
 *  PN_BUF_SIZE; POSTERN_TCP_DATA_BUF_SIZE. Call before the loop runs. */
void relay_set_buf_size(size_t bytes);
/** Relay between <entry> and <exit> (both owned by the relay from now on) on
 *  <loop>, with the options <o> (may be NULL). Never NULL. */
relay_t *relay_new(ev_loop_t *loop, pn_xprt_t *entry, pn_xprt_t *exit_, const relay_opts_t *o,
                   relay_done_cb cb, void *ctx);
/** Close both transports and free <r> now, without calling its callback (used at
 *  shutdown, or when its session ends). A relay still running is cut short: both
 *  transports are reset (SO_LINGER 0), not closed with a FIN. NULL is a no-op. */
void relay_free_(relay_t *r);
#define relay_free(p) do { relay_free_(p); (p) = NULL; } while (0)

#endif
