/* route/socks.c: SOCKS5 and RFC 1929 messages (pure). */
#include "route/socks.h"

#include <arpa/inet.h>
#include <string.h>

int
socks_parse_greeting(const uint8_t *p, size_t n, int *userpass)
{
    if (n >= 1 && p[0] != 5)
        return PN_ERR;
    if (n < 2)
        return PN_AGAIN;
    if (p[1] == 0)
        return PN_ERR;
    if (n < 2u + p[1])
        return PN_AGAIN;
    *userpass = 0;
    for (size_t i = 0; i < p[1]; i++)
        if (p[2 + i] == 2)
            *userpass = 1;
    return 2 + p[1];
}

/* One length-prefixed field at <p> (of <n> bytes) into <out>: 1-255 bytes, no NUL. */
static int
field(const uint8_t *p, size_t n, char *out)
{
    if (n < 1)
        return PN_AGAIN;
    if (p[0] == 0)
        return PN_ERR;
    if (n < 1u + p[0])
        return PN_AGAIN;
    if (memchr(p + 1, 0, p[0]) != NULL)
        return PN_ERR;
    memcpy(out, p + 1, p[0]);
    out[p[0]] = '\0';
    return 1 + p[0];
}

int
socks_parse_auth(const uint8_t *p, size_t n, char *user, char *pass)
{
    if (n >= 1 && p[0] != 1)
        return PN_ERR;
    if (n < 1)
        return PN_AGAIN;
    int a = field(p + 1, n - 1, user);
    if (a < 0)
        return a;
    int b = field(p + 1 + a, n - 1 - (size_t)a, pass);
    if (b < 0)
        return b;
    return 1 + a + b;
}

int
socks_parse_addr(const uint8_t *p, size_t n, socks_dest_t *d)
{
    size_t len;
    if (n < 1)
        return PN_AGAIN;
    memset(d, 0, sizeof(*d));
    d->atyp = p[0];
    if (p[0] == SOCKS_ATYP_V4) {
        len = 1 + 4 + 2;
        if (n < len)
            return PN_AGAIN;
        struct sockaddr_in *sin = (struct sockaddr_in *)&d->addr.ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, p + 1, 4);
        memcpy(&sin->sin_port, p + 5, 2);
        d->addr.len = sizeof(*sin);
        inet_ntop(AF_INET, p + 1, d->host, sizeof(d->host));
    } else if (p[0] == SOCKS_ATYP_V6) {
        len = 1 + 16 + 2;
        if (n < len)
            return PN_AGAIN;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&d->addr.ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, p + 1, 16);
        memcpy(&sin6->sin6_port, p + 17, 2);
        d->addr.len = sizeof(*sin6);
        inet_ntop(AF_INET6, p + 1, d->host, sizeof(d->host));
    } else if (p[0] == SOCKS_ATYP_NAME) {
        if (n < 2)
            return PN_AGAIN;
        if (p[1] == 0)
            return PN_ERR;
        len = 2u + p[1] + 2;
        if (n < len)
            return PN_AGAIN;
        for (size_t i = 0; i < p[1]; i++)
            if (p[2 + i] < 0x21 || p[2 + i] > 0x7e)
                return PN_ERR;
        memcpy(d->host, p + 2, p[1]);
        d->host[p[1]] = '\0';
    } else {
        return PN_ERR;
    }
    d->port = (uint16_t)(p[len - 2] << 8 | p[len - 1]);
    if (d->port == 0 && d->atyp == SOCKS_ATYP_NAME)
        return PN_ERR;
    return (int)len;
}

int
socks_parse_request(const uint8_t *p, size_t n, int *cmd, socks_dest_t *d)
{
    if ((n >= 1 && p[0] != 5) || (n >= 3 && p[2] != 0))
        return PN_ERR;
    if (n < 4)
        return PN_AGAIN;
    *cmd = p[1];
    int a = socks_parse_addr(p + 3, n - 3, d);
    return a < 0 ? a : 3 + a;
}

int
socks_parse_udp(const uint8_t *p, size_t n, socks_dest_t *d)
{
    if (n < 4 || p[0] != 0 || p[1] != 0 || p[2] != 0)
        return PN_ERR;
    int a = socks_parse_addr(p + 3, n - 3, d);
    return a < 0 ? PN_ERR : 3 + a;
}

size_t
socks_write_addr(uint8_t *out, const pn_addr_t *a)
{
    if (a != NULL && a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            out[0] = SOCKS_ATYP_V4;
            memcpy(out + 1, s6->sin6_addr.s6_addr + 12, 4);
            memcpy(out + 5, &s6->sin6_port, 2);
            return 7;
        }
        out[0] = SOCKS_ATYP_V6;
        memcpy(out + 1, &s6->sin6_addr, 16);
        memcpy(out + 17, &s6->sin6_port, 2);
        return 19;
    }
    out[0] = SOCKS_ATYP_V4;
    if (a != NULL && a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
        memcpy(out + 1, &s4->sin_addr, 4);
        memcpy(out + 5, &s4->sin_port, 2);
    } else {
        memset(out + 1, 0, 6);
    }
    return 7;
}

size_t
socks_write_reply(uint8_t *out, int rep, const pn_addr_t *bnd)
{
    out[0] = 5;
    out[1] = (uint8_t)rep;
    out[2] = 0;
    return 3 + socks_write_addr(out + 3, bnd);
}
