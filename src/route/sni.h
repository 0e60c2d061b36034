/* route/sni.h: the server name a TLS client asks for, read from its ClientHello
 * without terminating TLS (pure). */
#ifndef PN_ROUTE_SNI_H
#define PN_ROUTE_SNI_H

#include <stddef.h>
#include <stdint.h>

#define PN_SNI_MAX 253              /* a DNS name */
#define PN_SNI_READ_MAX 16384       /* the most bytes a caller should wait for */

/** Look at the first <n> bytes a client sent (<p>): TLS records carrying a
 *  ClientHello, which may span several records. PN_OK with the host_name of
 *  its server_name extension, lower-cased, trailing dot removed, in <name>
 *  (NUL-terminated; "" when the ClientHello has no SNI); PN_AGAIN when more
 *  bytes are needed; PN_ERR with a static <why> when this is not a TLS
 *  ClientHello, is malformed, needs more than PN_SNI_READ_MAX bytes, or names
 *  a host that is not a valid DNS name. */
int pn_sni_parse(const uint8_t *p, size_t n, char name[PN_SNI_MAX + 1], const char **why);

#endif
