/* modes/hub_reg.h: the hub's route registry: which agents' members serve
 * which published port (tcp, udp), host (http, https) or group, behind a
 * small interface so that another implementation (shared by several hubs,
 * e.g. Redis-backed) can sit behind it later:
 *
 *   claim    an agent's ROUTE_ADD: checks, a port or host taken or joined,
 *            ROUTE_OK / ROUTE_FAIL to the agent
 *   release  a member withdrawn (ROUTE_DEL) or its session gone (held)
 *   lookup   a route by port, host or group; a member to serve (pick)
 *   refresh  once per interval: routes held past POSTERN_HUB_HOLD go
 *   watch    h->reg_gone hears of each route before it is freed
 *
 * This implementation keeps the registry in the process (h->routes) and
 * opens each tcp/udp route's listener (users go to h->reg_tcp_user and
 * h->reg_udp_peer). */
#ifndef PN_MODES_HUB_REG_H
#define PN_MODES_HUB_REG_H

#include "modes/hub_types.h"

/** An agent's ROUTE_ADD <m> on session <s>: register a member of a new or
 *  existing route, or refuse; the agent gets ROUTE_OK or ROUTE_FAIL. */
int hub_reg_claim(struct hsess *s, const pn_route_msg_t *m);
/** Free member <m>. A route left without members is freed too when <hold> is
 *  0 (the agent withdrew it), else held for its account (the agent is gone). */
void hub_reg_release(struct hmember *m, int hold);
/** The route of <type> for <host>, or NULL. */
struct hroute *hub_reg_lookup_host(struct hub *h, uint8_t type, const char *host);
/** The route of <type> on <port>, or NULL. */
struct hroute *hub_reg_lookup_port(struct hub *h, uint8_t type, uint16_t port);
/** The route of <type> whose group is <group>, or NULL. */
struct hroute *hub_reg_lookup_group(struct hub *h, uint8_t type, const char *group);
/** Pick an online member of <r> (round robin) whose session can carry
 *  exchanges; NULL when none. */
struct hmember *hub_pick(struct hroute *r);
/** The member of <s> registered under the agent's route id <id>, or NULL. */
struct hmember *hub_member(struct hsess *s, uint32_t id);
/** Signal the exchange on <id> for <m>'s route to its agent. */
int hub_signal(struct hmember *m, uint8_t type, const uint8_t *id, const pn_addr_t *src,
               const pn_addr_t *dst);
/** Free the routes held longer than the hold time, at <now_ms>. */
void hub_reg_refresh(struct hub *h, uint64_t now_ms);
/** Free every route (the hub stops). */
void hub_reg_clear(struct hub *h);

#endif
