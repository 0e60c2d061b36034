/* net/addr.h: socket addresses: resolve, format, compare. */
#ifndef PN_NET_ADDR_H
#define PN_NET_ADDR_H

#include "core/err.h"

#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define PN_ADDRSTRLEN 64   /* "[v6]:port" fits */

typedef struct pn_addr {
    struct sockaddr_storage ss;     /* AF_INET or AF_INET6 */
    socklen_t len;                  /* bytes of <ss> in use */
} pn_addr_t;

/** Resolve <host>:<port> into <out>. An empty <host> means every interface when
 *  <passive> (the IPv6 wildcard, which also takes IPv4 where the system allows)
 *  and the loopback otherwise. Blocks on DNS: call at start-up, not from the loop.
 *  Return PN_OK or PN_ERR with a message naming <host> in <err>. */
int pn_addr_resolve(const char *host, const char *port, int passive, pn_addr_t *out, char *err);
/** Parse a numeric IP (v4 or v6, no port) into <out> with port 0; PN_OK or PN_ERR. */
int pn_addr_parse_ip(const char *ip, pn_addr_t *out);
/** Format the IP of <a> alone ("1.2.3.4", "::1") into <buf>, "?" for no address; return <buf>. */
const char *pn_addr_ip(const pn_addr_t *a, char buf[INET6_ADDRSTRLEN]);
/** Format <a> as "1.2.3.4:80" or "[::1]:80" into <buf>; return <buf>. */
const char *pn_addr_str(const pn_addr_t *a, char buf[PN_ADDRSTRLEN]);
/** Return the port of <a> in host order. */
uint16_t pn_addr_port(const pn_addr_t *a);
/** Set the port of <a> to <port> (host order). */
void pn_addr_set_port(pn_addr_t *a, uint16_t port);
/** Nonzero when <a> and <b> are the same family, IP and port. */
int pn_addr_equal(const pn_addr_t *a, const pn_addr_t *b);
/** Nonzero when <a>'s IP is the wildcard (0.0.0.0 or ::). */
int pn_addr_is_any(const pn_addr_t *a);
/** Nonzero when <a>'s IP is a loopback address (127/8, ::1, ::ffff:127/104). */
int pn_addr_is_loopback(const pn_addr_t *a);

#endif
