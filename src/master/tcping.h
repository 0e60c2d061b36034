/* master/tcping.h: one TCP connect to host:port, timed, without blocking the
 * loop (names are resolved through net/dns.h), given up after 3 s. */
#ifndef PN_MASTER_TCPING_H
#define PN_MASTER_TCPING_H

#include "core/err.h"
#include "core/ev.h"
#include "net/dns.h"

#include <stdint.h>

#define PN_TCPING_TIMEOUT_MS 3000

typedef struct pn_tcping pn_tcping_t;

/** The answer: <connected>, the connect time <latency_ms>, and <err> ("" when
 *  connected). Called once, from the loop; the probe is freed afterwards. */
typedef void (*pn_tcping_cb)(int connected, uint64_t latency_ms, const char *err, void *ctx);

/** Start probing <target> ("host:port") on <loop>, resolving with <dns>
 *  (borrowed). NULL with <err> ("target: ...") when <target> is malformed. */
pn_tcping_t *pn_tcping_start(ev_loop_t *loop, pn_dns_t *dns, const char *target, pn_tcping_cb cb,
                             void *ctx, char *err);
/** Abandon <p> without calling back. NULL is a no-op. */
void pn_tcping_cancel(pn_tcping_t *p);

#endif
