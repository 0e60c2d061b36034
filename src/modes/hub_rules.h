/* modes/hub_rules.h: an http route's rules (docs/hub.md §2, "HTTP route
 * rules"): its path prefix (part of its registry key, "<host><path>"), the
 * Host its service gets, basic authentication, the client networks allowed,
 * and the redirect of http= to https://. The registry (hub_reg.c) sets them
 * from the first member's ROUTE_ADD and refuses a member whose rules differ;
 * the HTTP router (hub_http.c) finds a request's route and asks for a verdict.
 *
 *   request --hub_rules_find(host, path: longest prefix)--> route
 *           --hub_rules_check: allow-list (403), redirect (308), auth (401),
 *             HTTP/2 only (h2c) to an HTTP/1.1 user (502)--> go on */
#ifndef PN_MODES_HUB_RULES_H
#define PN_MODES_HUB_RULES_H

#include "modes/hub_types.h"
#include "route/http.h"

/* What the router answers when a rule stops the request. */
typedef struct hub_verdict {
    int status;                             /* 0: go on; else the page's status */
    char detail[160];                       /* the page's text */
    char field[PN_HTTP_PAGE_FIELD_MAX + 1]; /* "Location: ..." or "WWW-Authenticate: ..." or "" */
} hub_verdict_t;

/** Build <key> (<cap> bytes) of the http route of host <host> and ROUTE_ADD
 *  <m>: "<host><path>" ("<host>" for no path). PN_ERR with <err> when the
 *  path is not valid or is given to an https route. */
int hub_rules_key(const char *host, const pn_frame_route_t *m, char *key, size_t cap, char *err);
/** Set the rules of <r> (new, or taken back) from <m>: PN_ERR with <err> when
 *  one does not parse (the claim is refused). */
int hub_rules_set(struct hroute *r, const pn_frame_route_t *m, char *err);
/** Nonzero when <m> asks for the rules <r> has (a member joining). */
int hub_rules_same(const struct hroute *r, const pn_frame_route_t *m);
/** Free the rules of <r> (the route is freed). */
void hub_rules_free(struct hroute *r);

/** The http route registered under <key> ("<host>" or "<host><path>"), or NULL. */
typedef struct hroute *(*hub_rules_lookup_cb)(void *ctx, const char *key);
/** The http route of the request head <head> (<len> bytes) to <host>, found
 *  by <lookup>(<ctx>, key): the longest path prefix registered, else the
 *  host's route, else NULL. -1 in <*bad> (and NULL) when the path is one the
 *  hub refuses (dot segments, a backslash, an encoded '/', a bad %XX). */
struct hroute *hub_rules_find(const char *host, const uint8_t *head, size_t len, int *bad,
                              hub_rules_lookup_cb lookup, void *ctx);
/** Apply the rules of <r> to the request (<head>, <len>) from <peer> on
 *  <how> (HUB_RULES_TLS: terminated https, else http=; HUB_RULES_H2C: an
 *  HTTP/2 stream to go through as HTTP/2): <v>->status 0 to go on. Without
 *  an auth= of its own, the route's account's http_auth applies. An h2c
 *  route asked without HUB_RULES_H2C (HTTP/1.1, or the route changed since
 *  the stream was prepared), or the reverse, gets 502. */
enum { HUB_RULES_TLS = 1, HUB_RULES_H2C = 2 };
void hub_rules_check(const struct hroute *r, const uint8_t *head, size_t len,
                     const pn_addr_t *peer, int how, hub_verdict_t *v);
/** Nonzero when <r>'s service speaks HTTP/2 without TLS (proto=h2c). */
int hub_rules_h2c(const struct hroute *r);
/** The rewrite of the head for <r>'s service (Host replaced, Authorization
 *  dropped when the hub checked it) on top of <rw>'s X-Forwarded-* values. */
void hub_rules_rewrite(const struct hroute *r, pn_http_rewrite_t *rw);

#endif
