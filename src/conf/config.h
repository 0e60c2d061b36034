/* conf/config.h: a postern URL turned into a validated run configuration.
 *
 * pn_config_parse() is pure (no DNS, no files): it checks syntax, names and
 * ranges, so every message it produces names the field and what was expected.
 * Checks that need the system (names resolving, certificate files, a target
 * looping back to the listener) happen when a mode starts. */
#ifndef PN_CONF_CONFIG_H
#define PN_CONF_CONFIG_H

#include "core/log.h"
#include "route/lb.h"

#include <stddef.h>
#include <stdint.h>

enum pn_role {
    PN_ROLE_CLIENT = 0,         /* client://: single-end forwarder or tunnel client */
    PN_ROLE_SERVER,             /* server://: tunnel server */
    PN_ROLE_HUB,                /* hub://: many agents, each publishing routes (docs/hub.md) */
    PN_ROLE_AGENT,              /* agent://: a hub's client */
    PN_ROLE_PROXY,              /* proxy://: SOCKS5, HTTP and Shadowsocks entrance (docs/proxy.md) */
};

struct pn_conf_route;

typedef struct pn_target_spec {
    char *host;                 /* owned; "" for every interface / loopback */
    char *port;                 /* owned; digits, 1..65535 */
} pn_target_spec_t;

typedef struct pn_config {
    enum pn_role role;
    char *key;                  /* owned; tunnel key (URL user part) or NULL: a secret, never logged */
    char *host;                 /* owned; first address: tunnel (server/client) or listen (single-end) */
    char *port;                 /* owned; its port */
    pn_target_spec_t *targets;  /* owned array of <ntargets> */
    size_t ntargets;
    int mode;                   /* 0 auto, 1 single-end/reverse, 2 dual-end/forward */
    int tls;                    /* 0 none, 1 in-memory certificate, 2 files */
    char *crt, *crt_key;        /* owned; tls=2 PEM files (URL "crt", "key") */
    char *ca;                   /* owned; client: CA file to verify the server (tls=2) */
    char *sni;                  /* owned; client: server name to send and verify */
    enum lb_policy lbs;
    char *dial;                 /* owned; source IP for dials, NULL = system's choice */
    uint64_t read_ms;           /* idle timeout per connection, 0 = none */
    enum log_level log;
    uint32_t min;               /* client pool floor; 0: not given (modes/client.c picks) */
    uint32_t max;               /* server pool ceiling */
    int notcp, noudp;           /* turn a protocol off */
    uint32_t rate_mbps;         /* instance bandwidth, Mbit/s; 0 = unlimited */
    uint32_t slot;              /* TCP connections + UDP sessions at once; 0 = unlimited */
    unsigned block;             /* 1 << PN_SNIFF_* of protocols refused on the entry side */
    int proxy;                  /* PROXY protocol version sent to targets; 0 = none */
    uint64_t dns_ms;            /* target names re-resolved this often */
    int xtype;                  /* type=: transport 0, 2 or 3; -1 not given (server, hub: 0) */
    char *ws_path;              /* owned; path= of type=2, NULL = "/" (or the server's, client) */
    char *ws_host;              /* owned; client host=: the Host header, NULL = the address */
    char *metrics_listen;       /* owned; metrics= "[host]:port" (GET /metrics), NULL = off */
    /* Tunables from the environment (see docs/usage.md). */
    uint64_t report_ms;         /* CHECK_POINT, pings and latency probes */
    uint64_t fallback_ms;       /* lbs=2: time on a backup before retrying the primary */
    uint64_t dial_timeout_ms;   /* one connect attempt */
    uint64_t handshake_ms;      /* TLS and tunnel handshakes */
    uint64_t pool_wait_ms;      /* how long a connection waits for a pooled data connection */
    uint64_t backoff_max_ms;    /* client reconnect backoff ceiling */
    uint64_t udp_idle_ms;       /* a UDP session ends after this long without a datagram */
    uint64_t send_timeout_ms;   /* a user that reads nothing of what is written to it (net/drain.h) */
    char *dns_server;           /* owned; POSTERN_DNS_SERVER "ip[:port]", NULL = the system's */
    uint64_t pool_min_ms;       /* client: pool refills this often while connections are missing */
    uint64_t pool_max_ms;       /* client: ... and this often when the pool is full */
    uint64_t reload_ms;         /* tls=2: certificate files checked for a change this often */
    uint64_t tcp_buf;           /* bytes: splice pipe size; user-space relay reads (<= 64 KiB) */
    /* hub:// (docs/hub.md §1) */
    char *accounts;             /* owned; accounts= file, required */
    char *http_listen;          /* owned; http= "[host]:port", NULL = off */
    char *https_listen;         /* owned; https= "[host]:port", NULL = off */
    char *certs_dir;            /* owned; certs= folder of pairs: https= terminates TLS, NULL = off */
    uint16_t ports_lo, ports_hi;/* ports= range for tcp/udp routes; 0-0 = none */
    char *domain;               /* owned; domain=, lower case, NULL = none */
    char *public_ip;            /* owned; public= IP literal, NULL = the hub's host */
    uint64_t http_timeout_ms;   /* timeout=: response head deadline, default 30000 */
    uint64_t hub_hold_ms;       /* POSTERN_HUB_HOLD: a route whose agents are gone stays theirs this long */
    /* hub:// cluster= (docs/hub.md "Several hubs as one") */
    struct pn_cluster_conf *cluster;    /* owned; NULL = a hub on its own */
    uint64_t cluster_ttl_ms;    /* POSTERN_CLUSTER_TTL: the heartbeat's life; claims die with it */
    /* agent:// (docs/hub.md §2); <key> holds the account token */
    struct pn_conf_route *routes; /* owned array of <nroutes>, from the URL, in order */
    size_t nroutes;
    char *routes_file;          /* owned; config= file, NULL = none */
    char *hubs;                 /* owned; agent:// hubs= other hubs of the cluster, "host:port,...",
                                 * tried in turn after the URL's own; NULL = none */
    /* proxy:// (docs/proxy.md) */
    char *users_file;           /* owned; users= file, required */
    char *allow;                /* owned; allow= internal networks reachable, NULL = none
                                 * (proxy://, and server/client with egress=1) */
    char *via;                  /* owned; proxy:// via= nodes "[key@]host:port,...", NULL = direct */
    int egress;                 /* server/client egress=1: dial the TARGET a signal names
                                 * (docs/protocol.md §5.2) */
    char *ss_listen;            /* owned; ss= "[host]:port" for Shadowsocks, NULL = off */
    char *ss_method;            /* owned; method=, default "chacha20-ietf-poly1305" */
} pn_config_t;

#define PN_POOL_MIN_MS 100       /* POSTERN_POOL_MIN_INTERVAL's default */
#define PN_POOL_MAX_MS 1000      /* POSTERN_POOL_MAX_INTERVAL's default */
#define PN_RELOAD_MS 1000        /* POSTERN_RELOAD_INTERVAL's default */
#define PN_TCP_BUF 65536         /* POSTERN_TCP_DATA_BUF_SIZE's default */
#define PN_TCP_BUF_MIN 4096
#define PN_TCP_BUF_MAX (1024 * 1024)

#define PN_EXIT_OK 0
#define PN_EXIT_RUNTIME 1       /* e.g. address already in use */
#define PN_EXIT_USAGE 2         /* bad URL, parameter or file */
/* An ERROR line with this text says the exit 1 that follows is final (e.g. a
 * wrong key or token): a supervisor shows an error and does not restart. */
#define PN_FINAL_MARK "final, not retried:"

/** Parse and validate <url> into <cfg> (zeroed first). On failure fill <err>
 *  with "<field>: <what was expected>" and return PN_ERR; <cfg> is then empty.
 *  Release with pn_config_clear(). */
int pn_config_parse(const char *url, pn_config_t *cfg, char *err);
/** Read the POSTERN_* tunables through <get> (getenv in production) into <cfg>;
 *  PN_ERR with <err> naming the variable when one is malformed. */
int pn_config_apply_env(pn_config_t *cfg, const char *(*get)(const char *name), char *err);
#define PN_VIA_MAX 64           /* nodes in one via= list */
/** The tunnel client configuration of node <i> (from 0) of a via= list <spec>
 *  into <out> (release with pn_config_clear); PN_ERR with <err>. */
int pn_config_via_node(const char *spec, size_t i, pn_config_t *out, char *err);
/** Check every node of the via= list <spec>; PN_ERR with <err>. */
int pn_config_via_check(const char *spec, char *err);
/** Release what <cfg> owns and zero it. */
void pn_config_clear(pn_config_t *cfg);

#endif
