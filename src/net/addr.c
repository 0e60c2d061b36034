/* net/addr.c: address helpers over getaddrinfo/inet_ntop. */
#include "net/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int
pn_addr_resolve(const char *host, const char *port, int passive, pn_addr_t *out, char *err)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    const char *node = host;

    memset(out, 0, sizeof(*out));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (host == NULL || *host == '\0') {
        if (passive) {
            node = NULL;
            hints.ai_flags |= AI_PASSIVE;
            hints.ai_family = AF_INET6;     /* dual-stack wildcard; falls back below */
        } else {
            node = "127.0.0.1";
        }
    }
    int rc = getaddrinfo(node, port, &hints, &res);
    if (rc != 0 && node == NULL) {
        hints.ai_family = AF_UNSPEC;
        rc = getaddrinfo(node, port, &hints, &res);
    }
    if (rc != 0) {
        return pn_err_set(err, "host \"%s\" does not resolve: %s", host ? host : "",
                          gai_strerror(rc));
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return PN_OK;
}

int
pn_addr_parse_ip(const char *ip, pn_addr_t *out)
{
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        out->len = sizeof(*v4);
        return PN_OK;
    }
    if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        out->len = sizeof(*v6);
        return PN_OK;
    }
    return PN_ERR;
}

const char *
pn_addr_ip(const pn_addr_t *a, char buf[INET6_ADDRSTRLEN])
{
    const void *p = a->ss.ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)&a->ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)&a->ss)->sin_addr;
    if ((a->ss.ss_family != AF_INET && a->ss.ss_family != AF_INET6) ||
        inet_ntop(a->ss.ss_family, p, buf, INET6_ADDRSTRLEN) == NULL)
        snprintf(buf, INET6_ADDRSTRLEN, "?");
    return buf;
}

const char *
pn_addr_str(const pn_addr_t *a, char buf[PN_ADDRSTRLEN])
{
    char ip[INET6_ADDRSTRLEN];
    if (a->ss.ss_family == AF_INET)
        snprintf(buf, PN_ADDRSTRLEN, "%s:%u", pn_addr_ip(a, ip), pn_addr_port(a));
    else if (a->ss.ss_family == AF_INET6)
        snprintf(buf, PN_ADDRSTRLEN, "[%s]:%u", pn_addr_ip(a, ip), pn_addr_port(a));
    else
        snprintf(buf, PN_ADDRSTRLEN, "?");
    return buf;
}

uint16_t
pn_addr_port(const pn_addr_t *a)
{
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return 0;
}

void
pn_addr_set_port(pn_addr_t *a, uint16_t port)
{
    if (a->ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
    else if (a->ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

int
pn_addr_equal(const pn_addr_t *a, const pn_addr_t *b)
{
    if (a->ss.ss_family != b->ss.ss_family || pn_addr_port(a) != pn_addr_port(b))
        return 0;
    if (a->ss.ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)&a->ss)->sin_addr,
                      &((const struct sockaddr_in *)&b->ss)->sin_addr, 4) == 0;
    if (a->ss.ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
                      &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, 16) == 0;
    return 0;
}

int
pn_addr_is_any(const pn_addr_t *a)
{
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (a->ss.ss_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
    return 0;
}

int
pn_addr_is_loopback(const pn_addr_t *a)
{
    if (a->ss.ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr) >> 24) == 127;
    if (a->ss.ss_family == AF_INET6) {
        const struct in6_addr *ip = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(ip) || (IN6_IS_ADDR_V4MAPPED(ip) && ip->s6_addr[12] == 127);
    }
    return 0;
}
