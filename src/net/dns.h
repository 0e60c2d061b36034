/* net/dns.h: name resolution that never blocks the loop (libevent's evdns),
 * and the start-up resolution through a chosen DNS server.
 *
 * POSTERN_DNS_SERVER=<ip>[:<port>] makes both ask that server instead of the
 * system's configuration (/etc/resolv.conf and /etc/hosts). */
#ifndef PN_NET_DNS_H
#define PN_NET_DNS_H

#include "core/ev.h"
#include "net/addr.h"

typedef struct pn_dns pn_dns_t;
typedef struct pn_dns_req pn_dns_req_t;

/** Called once with the first address of the answer, or <addr> NULL and <err>.
 *  The request is freed after the callback returns. */
typedef void (*pn_dns_cb)(const pn_addr_t *addr, const char *err, void *ctx);

/** Make a resolver on <loop>, asking <server> ("ip[:port]", NULL for the
 *  system's). NULL with <err> when <server> is not an address. */
pn_dns_t *pn_dns_new(ev_loop_t *loop, const char *server, char *err);
/** Cancel every request and free <d>. NULL is a no-op. */
void pn_dns_free_(pn_dns_t *d);
#define pn_dns_free(p) do { pn_dns_free_(p); (p) = NULL; } while (0)
/** Resolve <host>:<port> for connecting, calling <cb> once: from the loop, or
 *  from inside this call when the answer is at hand (a literal, /etc/hosts), in
 *  which case NULL is returned. Otherwise return a handle for pn_dns_cancel. */
pn_dns_req_t *pn_dns_resolve(pn_dns_t *d, const char *host, const char *port, pn_dns_cb cb,
                             void *ctx);
/** Abandon <r> without its callback. NULL is a no-op. */
void pn_dns_cancel(pn_dns_req_t *r);

/** Resolve <host>:<port> now, asking <server> (blocking, at most 5 s: start-up
 *  only). PN_OK with <out>, or PN_ERR with <err>. */
int pn_dns_resolve_now(const char *server, const char *host, const char *port, pn_addr_t *out,
                       char *err);
/** Nonzero when <host> is a numeric IP address (or empty): nothing to resolve. */
int pn_dns_is_literal(const char *host);

#endif
