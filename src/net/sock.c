/* net/sock.c: socket syscalls, checked against the values their man pages give. */
#include "net/sock.h"
#include "core/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int
new_socket(int family)
{
    return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
}

/* Whether TCP listeners are shared with other processes (POSTERN_REUSEPORT=1:
 * several postern processes with the same URL on one port, the kernel spreading
 * connections between them; each keeps its own counters and limits). Off by
 * default, so that a second postern on a taken port fails loudly. */
static int
reuseport_wanted(void)
{
    static int wanted = -1;
    if (wanted == -1) {
        const char *e = getenv("POSTERN_REUSEPORT");
        wanted = e != NULL && strcmp(e, "1") == 0;
    }
    return wanted;
}

int
pn_listen_tcp(const pn_addr_t *a, int backlog, int *in_use, char *err)
{
    char s[PN_ADDRSTRLEN];
    int one = 1, zero = 0;
    int fd = new_socket(a->ss.ss_family);
    if (in_use)
        *in_use = 0;
    if (fd == -1)
        return pn_err_set(err, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport_wanted())
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (a->ss.ss_family == AF_INET6 && pn_addr_is_any(a))
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE) {
            if (in_use)
                *in_use = 1;
            return pn_err_set(err, "listen %s: address already in use", pn_addr_str(a, s));
        }
        return pn_err_set(err, "listen %s: %s", pn_addr_str(a, s), strerror(e));
    }
    if (listen(fd, backlog) == -1) {
        int e = errno;
        close(fd);
        return pn_err_set(err, "listen %s: %s", pn_addr_str(a, s), strerror(e));
    }
    return fd;
}

int
pn_can_bind_tcp(const pn_addr_t *a)
{
    int fd = pn_listen_tcp(a, 1, NULL, NULL);
    if (fd == -1)
        return 0;
    close(fd);
    return 1;
}

int
pn_accept(int lfd, pn_addr_t *peer)
{
    pn_addr_t tmp;
    pn_addr_t *p = peer ? peer : &tmp;
    p->len = sizeof(p->ss);
    return accept4(lfd, (struct sockaddr *)&p->ss, &p->len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int
pn_dial_tcp(const pn_addr_t *dst, const pn_addr_t *src, char *err)
{
    char s[PN_ADDRSTRLEN];
    int fd = new_socket(dst->ss.ss_family);
    if (fd == -1)
        return pn_err_set(err, "socket: %s", strerror(errno));
    if (src != NULL) {
        int one = 1;
        /* Many dials from one source IP: let the kernel pick the port at connect
         * time instead of reserving one at bind time. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (const struct sockaddr *)&src->ss, src->len) == -1) {
            int e = errno;
            close(fd);
            return pn_err_set(err, "bind source %s: %s", pn_addr_str(src, s), strerror(e));
        }
    }
    if (connect(fd, (const struct sockaddr *)&dst->ss, dst->len) == -1 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return pn_err_set(err, "connect %s: %s", pn_addr_str(dst, s), strerror(e));
    }
    return fd;
}

/* Datagrams of up to 64 KiB come in bursts: give each UDP socket room for a
 * few dozen of them (the kernel caps this at net.core.[rw]mem_max). */
static void
udp_buffers(int fd)
{
    int sz = 1024 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

int
pn_listen_udp(const pn_addr_t *a, char *err)
{
    char s[PN_ADDRSTRLEN];
    int zero = 0, one = 1;
    int fd = socket(a->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd == -1)
        return pn_err_set(err, "socket: %s", strerror(errno));
    if (a->ss.ss_family == AF_INET6 && pn_addr_is_any(a))
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    /* Lets each UDP session bind a socket of its own to this address, connected
     * to its user (see pn_udp_peer_socket); the kernel keeps such sharing within
     * our own uid. So that another process of ours cannot share the port
     * silently, first make sure a plain bind would succeed: a port already
     * taken (even by a SO_REUSEPORT socket) fails that with EADDRINUSE. */
    int probe = socket(a->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    if (probe != -1) {
        if (a->ss.ss_family == AF_INET6 && pn_addr_is_any(a))
            setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        int taken = bind(probe, (const struct sockaddr *)&a->ss, a->len) == -1 && errno == EADDRINUSE;
        close(probe);
        if (taken) {
            close(fd);
            return pn_err_set(err, "listen udp %s: address already in use", pn_addr_str(a, s));
        }
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    udp_buffers(fd);
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
        int e = errno;
        close(fd);
        return pn_err_set(err, "listen udp %s: %s", pn_addr_str(a, s),
                          e == EADDRINUSE ? "address already in use" : strerror(e));
    }
    return fd;
}

int
pn_udp_peer_socket(int lfd, const pn_addr_t *peer)
{
    pn_addr_t local;
    int one = 1;
    local.len = sizeof(local.ss);
    if (getsockname(lfd, (struct sockaddr *)&local.ss, &local.len) == -1)
        return -1;
    int fd = socket(local.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd == -1)
        return -1;
    udp_buffers(fd);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
        bind(fd, (const struct sockaddr *)&local.ss, local.len) == -1 ||
        connect(fd, (const struct sockaddr *)&peer->ss, peer->len) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

int
pn_dial_udp(const pn_addr_t *dst, const pn_addr_t *src, char *err)
{
    char s[PN_ADDRSTRLEN];
    int fd = socket(dst->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd == -1)
        return pn_err_set(err, "socket: %s", strerror(errno));
    udp_buffers(fd);
    if (src != NULL && bind(fd, (const struct sockaddr *)&src->ss, src->len) == -1) {
        int e = errno;
        close(fd);
        return pn_err_set(err, "bind source %s: %s", pn_addr_str(src, s), strerror(e));
    }
    if (connect(fd, (const struct sockaddr *)&dst->ss, dst->len) == -1) {
        int e = errno;
        close(fd);
        return pn_err_set(err, "connect udp %s: %s", pn_addr_str(dst, s), strerror(e));
    }
    /* Nobody holds a loopback target's port, and the kernel gave it to this socket as
     * its own: connected to itself, it would answer every datagram with that datagram. */
    pn_addr_t self = { .len = sizeof(self.ss) };
    if (getsockname(fd, (struct sockaddr *)&self.ss, &self.len) == 0 && pn_addr_equal(&self, dst)) {
        close(fd);
        return pn_err_set(err, "connect udp %s: the port is free (the socket got it as its own)",
                          pn_addr_str(dst, s));
    }
    return fd;
}

int
pn_sock_error(int fd)
{
    int e = 0;
    socklen_t len = sizeof(e);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
        return errno;
    return e;
}

void
pn_sock_tune(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

void
pn_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

uint64_t
pn_sock_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        return rl.rlim_cur;
    return 1024;
}

void
pn_sock_nofile_raise(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t before = rl.rlim_cur;
    /* Linux caps the hard limit at fs.nr_open and allows no unlimited one for
     * descriptors; should one read so, take that default of fs.nr_open. */
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
    if (rl.rlim_cur <= before || setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    log_debug("descriptors: ulimit -n raised from %llu to %llu (the hard limit)",
              (unsigned long long)before, (unsigned long long)rl.rlim_cur);
}

void
pn_sock_reset_on_close(int fd, int on)
{
    const struct linger l = { .l_onoff = on, .l_linger = 0 };
    if (fd >= 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}
