/* conf/hubconf.h: what a hub and an agent are configured with, beyond the URL
 * fields every mode shares: the hub's accounts file, the agent's routes (from
 * URL parameters or a routes file), and the matching rules of accounts (allowed
 * ports, allowed host patterns). See docs/hub.md §2-§4. Parsers are pure apart
 * from reading the named file; every message names its field. */
#ifndef PN_CONF_HUBCONF_H
#define PN_CONF_HUBCONF_H

#include <stddef.h>
#include <stdint.h>

/* Route types, as on the wire (docs/hub.md §5: ROUTE_ADD's TYPE). */
enum pn_conf_route_type {
    PN_RT_TCP = 1,
    PN_RT_UDP = 2,
    PN_RT_HTTP = 3,
    PN_RT_HTTPS = 4,
};

typedef struct pn_port_range {
    uint16_t lo, hi;                /* lo <= hi */
} pn_port_range_t;

typedef struct pn_account {
    char *name;                     /* owned */
    char *token;                    /* owned; a secret: never logged, cleared on free */
    uint32_t max_routes;            /* 0 = unlimited */
    uint32_t max_conns;             /* 0 = unlimited */
    uint32_t rps;                   /* HTTP requests per second, 0 = unlimited */
    uint32_t mbps;                  /* bandwidth, Mbit/s, 0 = unlimited */
    pn_port_range_t *ports;         /* owned; NULL (nports 0) = the hub's whole range */
    size_t nports;
    char **hosts;                   /* owned patterns, lower case; NULL (nhosts 0) = any */
    size_t nhosts;
    char *http_auth;                /* owned; "<user>:sha256$<salt>$<hash>" for the account's http
                                     * routes without auth= of their own, NULL = none */
} pn_account_t;

typedef struct pn_accounts {
    pn_account_t *a;                /* owned array */
    size_t n;
} pn_accounts_t;

/** Read the accounts file <path> into <out> (zeroed first). PN_ERR with
 *  "accounts: <path>: <place>: <what>" in <err> (e.g. "accounts[1].token:
 *  shorter than 16 characters"), <out> then empty. <range> (may be NULL, or
 *  0-0 for none) is the hub's ports= range: an account's ports must lie inside it. */
int pn_accounts_load(const char *path, const pn_port_range_t *range, pn_accounts_t *out,
                     char *err);
/** Same, from the JSON text <json> (<label> stands for the file in messages). */
int pn_accounts_parse(const char *json, const char *label, const pn_port_range_t *range,
                      pn_accounts_t *out, char *err);
/** Free what <as> owns (tokens cleared first) and zero it. */
void pn_accounts_clear(pn_accounts_t *as);
/** The account whose name is <name>, or NULL. */
const pn_account_t *pn_accounts_find(const pn_accounts_t *as, const char *name);

/** Nonzero when <a> may take <port> (inside its ranges, or any when it has none). */
int pn_account_port_ok(const pn_account_t *a, uint16_t port);
/** Nonzero when <a> may take the host name <host> (lower case). */
int pn_account_host_ok(const pn_account_t *a, const char *host);
/** Nonzero when <host> matches <pattern>: equal, or pattern "*.<suffix>" and
 *  host "<one or more labels>.<suffix>". Both lower case. */
int pn_conf_host_match(const char *pattern, const char *host);
/** Parse "<n>" or "<lo>-<hi>" (1-65535, lo <= hi) into <r>; PN_OK or PN_ERR. */
int pn_port_range_parse(const char *s, pn_port_range_t *r);

#define PN_PROBE_NONE 0
#define PN_PROBE_TCP 1
#define PN_PROBE_HTTP 2

/* One route an agent publishes (docs/hub.md §2, §4). */
typedef struct pn_conf_route {
    enum pn_conf_route_type type;
    char *name;                     /* owned; default "<type>:<port>" ("tcp:0" when assigned) or
                                     * "<type>:<host>" (then up to 259 bytes; a name= is 1-64) */
    char *local_host;               /* owned; "" = loopback */
    char *local_port;               /* owned; 1-65535 */
    uint16_t port;                  /* tcp/udp: asked port, 0 = assign */
    char *host;                     /* owned; http/https: required, lower case; else NULL */
    char *group;                    /* owned; tcp/udp group name, or NULL */
    char *group_key;                /* owned; a secret (never logged), or NULL */
    int probe;                      /* PN_PROBE_* */
    char *probe_path;               /* owned; PN_PROBE_HTTP: starts with '/' */
    uint64_t probe_ms;              /* probe interval, default 5000, at least 100 */
    /* http only (docs/hub.md §2, "HTTP route rules"); NULL / 0 when not given */
    char *path;                     /* owned; path prefix (route/http_acl.h), not "/" */
    char *host_header;              /* owned; the Host the local service gets */
    char *auth;                     /* owned; "<user>:sha256$<salt hex>$<hash hex>" */
    char *allow;                    /* owned; client networks "<ip>[/<bits>];...", as written */
    int redirect;                   /* 1: requests on http= get 308 to https:// */
    int h2c;                        /* 1: the local service speaks HTTP/2 without TLS (proto=h2c) */
} pn_conf_route_t;

/** Parse one URL route: <type> is the parameter name ("tcp", "udp", "http",
 *  "https"), <value> "<host>:<port>[,<opt>=<value>...]". PN_ERR with
 *  "<type>: <what>" in <err>. */
int pn_conf_route_parse(const char *type, const char *value, pn_conf_route_t *out, char *err);
/** Read a routes file (docs/hub.md §4) into a new array *<out> of *<n>
 *  routes. PN_ERR with "config: <path>: routes[2].host: <what>". */
int pn_routes_load(const char *path, pn_conf_route_t **out, size_t *n, char *err);
/** Same, from the JSON text <json>. */
int pn_routes_parse(const char *json, const char *label, pn_conf_route_t **out, size_t *n,
                    char *err);
/** Nonzero when <a> and <b> are the same route (every member equal). */
int pn_conf_route_equal(const pn_conf_route_t *a, const pn_conf_route_t *b);
/** Deep copy of <src> into <dst>, which is overwritten without being freed. */
void pn_conf_route_copy(pn_conf_route_t *dst, const pn_conf_route_t *src);
/** Free what <r> owns and zero it. */
void pn_conf_route_clear(pn_conf_route_t *r);
/** Free an array of <n> routes. */
void pn_routes_free(pn_conf_route_t *r, size_t n);
/** "tcp", "udp", "http", "https" (or "?"). */
const char *pn_conf_route_type_name(enum pn_conf_route_type t);

#endif
