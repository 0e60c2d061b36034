/* modes/hub_peer.h: hub-to-hub links of a cluster (docs/hub.md §7): a user who
 * reaches this hub for a route another hub holds is carried to that hub over
 * TLS 1.3 keyed by the cluster secret (external PSK, tls/tls.h), and a hub
 * takes such users on its peer= address as if they had reached it directly.
 *
 *   this hub (B)                                 the route's hub (A)
 *   user ─> no local route, Redis says A ─dial A's peer=─> TLS-PSK ─> header ─┐
 *   relay(user, link) <── "K" (accepted) or "N" (no such route here) <────────┘
 *   (bytes B read already go first)               A: http= / https= / a tcp route's
 *                                                    user, then to its agent as usual
 *
 * A link per user (per udp user address: its datagrams framed on it as on a
 * data channel): an HTTP/2 stream of one carrier link to each hub (a link of
 * its own while the carrier is being set up). A tcp or udp route held by another
 * hub gets a listener here on the same port (within ports=) while it is held. */
#ifndef PN_MODES_HUB_PEER_H
#define PN_MODES_HUB_PEER_H

#include "modes/hub_types.h"

typedef struct hub_peer hub_peer_t;

/* What the peer links need from the hub. */
typedef struct hub_peer_env {
    ev_loop_t *loop;
    const pn_config_t *cfg;     /* borrowed: peer=, handshake timeout, ports= */
    struct hub_reg *reg;        /* borrowed: local routes, and where the others are */
    pn_addr_t public_addr;      /* where tcp routes listen */
    pn_entry_cb http_user;      /* a forwarded user, as if accepted on http= (arg: hub) */
    pn_entry_cb https_user;     /* ... on https= (arg: hub) */
    pn_entry_cb tcp_user;       /* ... on a tcp route's port (arg: the route) */
    struct hub *hub;
} hub_peer_env_t;

/** Listen on peer= for the other hubs (PSK from <secret>, <len> bytes) and
 *  get ready to forward. NULL with <err> when peer= cannot be bound. */
hub_peer_t *hub_peer_new(const hub_peer_env_t *env, const uint8_t *secret, size_t len, char *err);
/** Carry user <x> of a route of <type> (<host>, or <port> for tcp) that no
 *  local route serves to the hub that holds it, <pre> (<pre_len> bytes, read
 *  already) first. PN_OK: <x> is owned from now on; PN_ERR: no other hub is
 *  known to hold it, or <x> came from another hub already (<dst> is our
 *  peer=): <x> is still the caller's. */
int hub_peer_forward(hub_peer_t *p, uint8_t type, const char *host, uint16_t port, pn_xprt_t *x,
                     const uint8_t *pre, size_t pre_len, const pn_addr_t *src,
                     const pn_addr_t *dst);
/** A route of another hub appeared (<add>) or went: a tcp or udp one gets (or
 *  loses) a listener here. For hub_reg_remote_watch. */
void hub_peer_remote(int add, uint8_t type, uint16_t port, void *arg);
/** The hub drains: stop taking users (peer= and the other hubs' route ports);
 *  links running go on. NULL: no-op. */
void hub_peer_drain(hub_peer_t *p);
/** Users carried or being carried through <p> (0 for NULL). */
size_t hub_peer_busy(const hub_peer_t *p);
/** Close the listener, the links and the forwarding listeners; free <p>. NULL: no-op. */
void hub_peer_free_(hub_peer_t *p);
#define hub_peer_free(p) do { hub_peer_free_(p); (p) = NULL; } while (0)

#endif
