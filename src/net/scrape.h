/* net/scrape.h: a small HTTP/1.1 responder for scrapes (the metrics= listener
 * of every mode but the master, which has evhttp).
 *
 *   accept ──> gate (net/gate.h) ──> read the head (at most PN_SCRAPE_HEAD_MAX)
 *          ──> pn_scrape_head_parse ──> page(path) ──> write ──> close
 *
 * One request per connection (Connection: close). GET and HEAD are answered
 * through the caller's page callback (200 with its body, or 404); any other
 * method gets 405, a malformed or oversized head 400. The connection stays in
 * the gate from accept to close, so the whole exchange (head, and writing the
 * answer to a reader that does not read) has one deadline, PN_SCRAPE_MS: a slow
 * or stuck client cannot hold a descriptor longer, and sources that open many
 * are evicted first. */
#ifndef PN_NET_SCRAPE_H
#define PN_NET_SCRAPE_H

#include "core/ev.h"
#include "net/addr.h"

#include <stddef.h>

#define PN_SCRAPE_HEAD_MAX 4096
#define PN_SCRAPE_PATH_MAX 256
#define PN_SCRAPE_MS 10000

enum pn_scrape_method {
    PN_SCRAPE_OTHER = 0,
    PN_SCRAPE_GET,
    PN_SCRAPE_HEAD,
};

typedef struct pn_scrape pn_scrape_t;

/** The page at <path> (query stripped): return a new body the responder
 *  frees (its length in *<len>, its Content-Type in *<type>, static), or NULL
 *  for 404. */
typedef char *(*pn_scrape_page_cb)(const char *path, size_t *len, const char **type, void *ctx);

/** Parse the request head in <buf> (<len> bytes read so far). PN_AGAIN while
 *  the head is incomplete and under PN_SCRAPE_HEAD_MAX; PN_OK once it ends
 *  (blank line), with the method and the path (before any '?', NUL-terminated,
 *  at most PN_SCRAPE_PATH_MAX - 1 bytes) in <path>; PN_ERR for a request line
 *  that is not "<METHOD> /<path> HTTP/1.<d>", a path too long, or a head that
 *  does not end within PN_SCRAPE_HEAD_MAX bytes. Pure. */
int pn_scrape_head_parse(const char *buf, size_t len, enum pn_scrape_method *method,
                         char path[PN_SCRAPE_PATH_MAX]);

/** Listen on <addr> and answer through <page>(<ctx>) on <loop>. NULL with
 *  <err> set when the address cannot be bound. <who> prefixes log lines
 *  (copied). */
pn_scrape_t *pn_scrape_new(ev_loop_t *loop, const pn_addr_t *addr, const char *who,
                           pn_scrape_page_cb page, void *ctx, char *err);
/** The address actually bound (port 0 resolved). */
const pn_addr_t *pn_scrape_addr(const pn_scrape_t *s);
/** Close the listener and every connection. NULL is a no-op. */
void pn_scrape_free_(pn_scrape_t *s);
#define pn_scrape_free(p) do { pn_scrape_free_(p); (p) = NULL; } while (0)

#endif
