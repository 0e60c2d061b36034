/* core/buf.h: fixed-size I/O buffers from a free list.
 *
 * A relay holds a buffer only while bytes are in flight, so an idle connection
 * costs no buffer memory. The pool keeps a bounded number of free buffers for
 * reuse; pn_buf_get() returns NULL when the configured ceiling of buffers in
 * use is reached, and the caller then waits or refuses that one connection. */
#ifndef PN_CORE_BUF_H
#define PN_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

#define PN_BUF_SIZE (64 * 1024)

typedef struct pn_buf {
    struct pn_buf *next;    /* free-list link, owned by the pool while free */
    uint32_t start;         /* first unsent byte */
    uint32_t end;           /* one past the last filled byte */
    char data[PN_BUF_SIZE];
} pn_buf_t;

/** Take an empty buffer, or NULL when the in-use ceiling is reached. */
pn_buf_t *pn_buf_get(void);
/** Return <b> to the pool (NULL is a no-op). */
void pn_buf_put_(pn_buf_t *b);
#define pn_buf_put(p) do { pn_buf_put_(p); (p) = NULL; } while (0)
/** Set the maximum number of buffers in use at once (0 = unlimited). */
void pn_buf_set_limit(size_t max_in_use);
/** Number of buffers currently in use. */
size_t pn_buf_in_use(void);
/** Free every pooled free buffer (at exit, so leak checkers see a clean heap). */
void pn_buf_drain(void);

/* A growable byte queue: appended at the tail, taken from the head; its memory
 * is freed once drained, so an idle owner (a stream) holds none. */
typedef struct pn_bq {
    uint8_t *b;             /* owned, NULL when empty */
    size_t len, off, cap;   /* bytes filled, taken, allocated */
} pn_bq_t;

/** Bytes waiting in <q>. */
static inline size_t pn_bq_len(const pn_bq_t *q) { return q->len - q->off; }
/** Append <n> bytes of <data> to <q> (grows; the caller bounds it). */
void pn_bq_append(pn_bq_t *q, const void *data, size_t n);
/** Take up to <n> bytes from <q> into <out>: how many. */
size_t pn_bq_take(pn_bq_t *q, void *out, size_t n);
/** Free what <q> holds. */
void pn_bq_clear(pn_bq_t *q);

/** The length of the head at <p> (<n> bytes) up to and including its blank
 *  line (CRLF CRLF, or LF LF / CRLF LF ... as some backends end lines), 0
 *  when it is not there yet: an HTTP/1 head in a buffer. */
size_t pn_head_end(const uint8_t *p, size_t n);

#endif
