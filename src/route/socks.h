/* route/socks.h: SOCKS5 (RFC 1928) with username/password (RFC 1929), as
 * byte parsers and writers without I/O (pure), for the proxy entrance
 * (modes/proxy.c) and its fuzzer. The address form (ATYP, address, port) is
 * also the Shadowsocks target header.
 *
 * Parsers take the bytes received so far and return the count consumed (> 0),
 * PN_AGAIN when more are needed, or PN_ERR when the bytes can never be valid.
 * Every message is bounded: at most 515 bytes (RFC 1929's auth request). */
#ifndef PN_ROUTE_SOCKS_H
#define PN_ROUTE_SOCKS_H

#include "core/err.h"
#include "net/addr.h"

#include <stddef.h>
#include <stdint.h>

#define SOCKS_ATYP_V4 1
#define SOCKS_ATYP_NAME 3
#define SOCKS_ATYP_V6 4
#define SOCKS_CMD_CONNECT 1
#define SOCKS_CMD_UDP 3

/* Reply codes (RFC 1928 §6). */
#define SOCKS_REP_OK 0
#define SOCKS_REP_FAIL 1
#define SOCKS_REP_NOT_ALLOWED 2
#define SOCKS_REP_NET_UNREACH 3
#define SOCKS_REP_HOST_UNREACH 4
#define SOCKS_REP_REFUSED 5
#define SOCKS_REP_TTL 6
#define SOCKS_REP_CMD 7
#define SOCKS_REP_ATYP 8

#define SOCKS_MSG_MAX 515           /* the longest message a client sends before the relay */
#define SOCKS_ADDR_MAX 262          /* ATYP + length + 255-byte name + port */

/* A destination: a name or an address literal, and a port. */
typedef struct socks_dest {
    int atyp;                   /* SOCKS_ATYP_* */
    char host[256];             /* the name, or the literal written out, NUL-terminated */
    pn_addr_t addr;             /* the literal with its port (atyp V4 and V6) */
    uint16_t port;
} socks_dest_t;

/** The greeting VER NMETHODS METHODS: *<userpass> nonzero when method 2
 *  (username/password) is offered. */
int socks_parse_greeting(const uint8_t *p, size_t n, int *userpass);
/** The RFC 1929 request VER ULEN UNAME PLEN PASSWD into NUL-terminated
 *  <user> and <pass> (256 bytes each). A NUL inside either is refused. */
int socks_parse_auth(const uint8_t *p, size_t n, char *user, char *pass);
/** ATYP ADDR PORT into <d>. A name must be 1-255 bytes of printable ASCII. */
int socks_parse_addr(const uint8_t *p, size_t n, socks_dest_t *d);
/** The request VER CMD RSV ATYP ADDR PORT: the command into *<cmd>. */
int socks_parse_request(const uint8_t *p, size_t n, int *cmd, socks_dest_t *d);
/** A UDP ASSOCIATE datagram's header RSV RSV FRAG ATYP ADDR PORT (a whole
 *  datagram of <n> bytes: PN_AGAIN never). FRAG must be 0 (no reassembly). */
int socks_parse_udp(const uint8_t *p, size_t n, socks_dest_t *d);
/** Write ATYP ADDR PORT of <a> into <out> (at least 19 bytes); the length. */
size_t socks_write_addr(uint8_t *out, const pn_addr_t *a);
/** Write the reply VER REP RSV ATYP BND.ADDR BND.PORT (<bnd> NULL: 0.0.0.0:0)
 *  into <out> (at least 22 bytes); the length. */
size_t socks_write_reply(uint8_t *out, int rep, const pn_addr_t *bnd);

#endif
