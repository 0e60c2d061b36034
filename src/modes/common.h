/* modes/common.h: start-up steps every mode shares: turning the configured
 * targets into a resolved target set, the source address for dials, the TLS
 * server context, and the one-line start-up error. */
#ifndef PN_MODES_COMMON_H
#define PN_MODES_COMMON_H

#include "conf/config.h"
#include "route/lb.h"
#include "relay/udp.h"
#include "tls/tls.h"

/** Resolve every target of <cfg> into <set> (initialised here, for dialing).
 *  A name that does not resolve yet is kept unresolved (address family 0,
 *  down) with a warning, for the DNS cache to retry; PN_ERR with
 *  "target: ..." in <err> only for an address that cannot be parsed. */
int pn_targets_resolve(const pn_config_t *cfg, lb_set_t *set, char *err);
/** Return PN_ERR with "target: ... loop" in <err> when a target of <set> is the
 *  listen address <listen> itself (or a loopback address on its port while
 *  <listen> is the wildcard). */
int pn_targets_check_loop(const lb_set_t *set, const pn_addr_t *listen, char *err);
/** Parse cfg->dial into <src>; set *<has> to 1 when a source IP is configured. */
int pn_mode_dial_source(const pn_config_t *cfg, pn_addr_t *src, int *has, char *err);
/** Make the server TLS context for cfg->tls (NULL for tls=0) into <out>. */
int pn_mode_tls_server(const pn_config_t *cfg, pn_tls_ctx_t **out, char *err);
/** With <proxy> = 2, write into <out> (PN_PROXY_MAX bytes) the PROXY v2 DGRAM
 *  header from <src> (the user) to <dst> (what it reached) that goes before
 *  each datagram sent to a target; return its length (0: no header). */
size_t pn_mode_udp_proxy_header(int proxy, const pn_addr_t *src, const pn_addr_t *dst, uint8_t *out);
/** Print "postern: <msg>" on stderr and return <code>. */
int pn_fail(int code, const char *msg);
/** The pool ceiling to announce and keep: max=, but never more than a quarter of
 *  the descriptor limit (at least 4): idle pooled connections must leave
 *  descriptors to the exchanges they serve. */
uint32_t pn_mode_pool_max(const pn_config_t *cfg);

#endif
