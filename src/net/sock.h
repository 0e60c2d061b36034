/* net/sock.h: non-blocking TCP sockets: listen, accept, dial, options. Every
 * descriptor made here is non-blocking and close-on-exec. */
#ifndef PN_NET_SOCK_H
#define PN_NET_SOCK_H

#include "core/xprt.h"
#include "net/addr.h"

/** Bind and listen on <a>; return the fd, or -1 with <err> set ("address already
 *  in use" is spelt out, and <in_use> set to 1 when non-NULL). */
int pn_listen_tcp(const pn_addr_t *a, int backlog, int *in_use, char *err);
/** Return 1 when a TCP socket can be bound to <a> now, 0 otherwise. */
int pn_can_bind_tcp(const pn_addr_t *a);
/** Accept one connection from <lfd>; fill <peer> when non-NULL. Return the fd,
 *  or -1 with errno (EAGAIN when none is pending). */
int pn_accept(int lfd, pn_addr_t *peer);
/** Start a non-blocking connect to <dst>, bound first to <src> when non-NULL.
 *  Return the fd (connect may still be in progress: wait for writability, then
 *  pn_sock_error()), or -1 with <err> set. */
int pn_dial_tcp(const pn_addr_t *dst, const pn_addr_t *src, char *err);
/** Bind a UDP socket to <a> (non-blocking, close-on-exec, large buffers); the
 *  fd or -1 with <err> set. */
int pn_listen_udp(const pn_addr_t *a, char *err);
/** Make a UDP socket bound to the address of the listening UDP socket <lfd>
 *  and connected to <peer>: the kernel then queues <peer>'s datagrams on it
 *  rather than on <lfd>, so one user's burst never waits in front of another's.
 *  Return the fd, or -1 (the caller keeps using <lfd>). */
int pn_udp_peer_socket(int lfd, const pn_addr_t *peer);
/** Make a UDP socket connected to <dst>, bound first to <src> when non-NULL;
 *  the fd or -1 with <err> set. */
int pn_dial_udp(const pn_addr_t *dst, const pn_addr_t *src, char *err);
/** Return the pending socket error of <fd> (0 when none). */
int pn_sock_error(int fd);
/** Set TCP_NODELAY and keep-alive on a connected TCP <fd>. */
void pn_sock_tune(int fd);
/** Wrap the connected TCP <fd> (ownership passes to the transport) in the plain
 *  transport (net/xprt_raw.c). Never NULL. */
pn_xprt_t *pn_raw_xprt_new(int fd);
/** Close <fd> if it is >= 0, retrying nothing (close is never retried on Linux). */
void pn_close(int fd);
/** Make closing <fd> send a reset (<on>; SO_LINGER 0), or a FIN as usual (0);
 *  also what the kernel does when the process dies. A no-op for fd < 0. */
void pn_sock_reset_on_close(int fd, int on);
/** The process's descriptor limit (soft RLIMIT_NOFILE; 1024 when unlimited or
 *  unknown): caps that must leave descriptors for others derive from it. */
uint64_t pn_sock_nofile(void);
/** Raise the soft descriptor limit to the hard one (as haproxy and Go's runtime
 *  do, and as systemd asks of a service that needs more than its soft 1024):
 *  the caps above then follow what the administrator allowed. Logged (debug)
 *  when raised. */
void pn_sock_nofile_raise(void);

#endif
