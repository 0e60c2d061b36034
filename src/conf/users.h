/* conf/users.h: the proxy entrance's users file (docs/proxy.md §2) and its
 * allow= list of destination networks (pure apart from reading the file).
 *
 *   {"users": [{"name": "alice", "password": "...", "key": "...",
 *               "enabled": true, "rate": 10, "max_conns": 64,
 *               "quota": 10737418240}, ...]}
 *
 * Errors name their place ("users: <file>: users[1].rate: ...") and never
 * echo a password or key. */
#ifndef PN_CONF_USERS_H
#define PN_CONF_USERS_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

#define PN_USER_NAME_MAX 64
#define PN_USER_SECRET_MAX 255      /* RFC 1929: 1-255 bytes */

typedef struct pn_user_spec {
    char *name;                 /* owned; 1-64 printable ASCII, no ':' */
    char *password;             /* owned secret: SOCKS5 and HTTP, or NULL (key only) */
    char *key;                  /* owned secret: the Shadowsocks password, or NULL */
    int enabled;                /* default 1 */
    uint32_t rate_mbps;         /* both directions together; 0 = unlimited */
    uint32_t max_conns;         /* open connections at once; 0 = unlimited */
    uint64_t quota;             /* bytes up + down, ever (the counters outlive reloads); 0 = none */
} pn_user_spec_t;

typedef struct pn_users {
    pn_user_spec_t *u;          /* owned array of <n> */
    size_t n;
} pn_users_t;

/** Parse the users file text <json> (<label> names it in errors) into <out>
 *  (zeroed first). Names unique, keys unique, each user with a password or
 *  a key. PN_ERR with <err>; <out> then empty. */
int pn_users_parse(const char *json, const char *label, pn_users_t *out, char *err);
/** Read and parse the file <path>. */
int pn_users_load(const char *path, pn_users_t *out, char *err);
/** Wipe the secrets of <u> and free its strings; zero it. */
void pn_user_spec_clear(pn_user_spec_t *u);
/** Wipe the secrets and free what <us> owns; zero it. */
void pn_users_clear(pn_users_t *us);

/* A network of allow=: an address (IPv4 mapped into IPv6) and a prefix. */
typedef struct pn_cidr {
    uint8_t ip[16];
    unsigned bits;              /* 0-128, counted on the mapped form */
} pn_cidr_t;

/** Parse "<ip>[/<bits>],..." into a new array *<out> of *<n>. PN_ERR with <err>. */
int pn_cidr_list_parse(const char *s, pn_cidr_t **out, size_t *n, char *err);
/** Nonzero when <ip16> (IPv4 mapped) is inside one of the <n> networks. */
int pn_cidr_match(const pn_cidr_t *list, size_t n, const uint8_t ip16[16]);
/** Nonzero when <ip16> (IPv4 mapped) is not a public unicast address: loopback,
 *  private (RFC 1918, fc00::/7), link-local, CGNAT, unspecified, multicast,
 *  reserved: refused as a destination unless allowed. */
int pn_ip_is_internal(const uint8_t ip16[16]);

#endif
