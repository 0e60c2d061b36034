/* modes/hub_h2.c: the hub's HTTP/2 users (modes/hub_h2.h): each connection is
 * a gateway (tls/h2gw.h) whose streams, HTTP/1.0 byte streams, are served by
 * the HTTP router as terminated-TLS exchanges without the port's gate (their
 * heads are written whole at once). A stream whose route's service speaks
 * HTTP/2 (proto=h2c, hub_rules.h) is marked so: the router answers it with
 * a 101 and a relay, and the gateway speaks h2c through it. */
#include "modes/hub_h2.h"
#include "modes/hub_http.h"
#include "modes/hub_reg.h"
#include "modes/hub_rules.h"
#include "core/mem.h"
#include "route/http.h"
#include "tls/h2gw.h"

#include <stdio.h>
#include <string.h>

struct h2u {
    pn_list_t node;             /* in hub.h2_conns */
    struct hub *h;
    pn_h2gw_t *gw;              /* owned */
    pn_addr_t peer, local;
};

static void
on_stream(pn_xprt_t *stream, int h2c, void *arg)
{
    struct h2u *u = arg;
    hub_http_user(u->h, stream, &u->peer, &u->local,
                  HUB_HTTP_TLS | HUB_HTTP_STREAM | (h2c ? HUB_HTTP_H2C : 0));
}

/* The route the router will find for this request (the same Host
 * normalisation, path and lookup): does its service speak h2c? Run for every
 * stream, so without a parser: nghttp2 checked :path's bytes, and a request
 * the router's parser refuses gets its 400 page either way. */
static int
is_h2c(const char *authority, const char *path, void *arg)
{
    struct h2u *u = arg;
    char host[PN_HTTP_HOST_MAX + 1];
    if (pn_http_host_norm(authority, strlen(authority), host) != PN_OK)
        return 0;
    size_t plen = strlen(path), n = plen + 6;
    char stack[1024];
    char *head = n <= sizeof(stack) ? stack : xmalloc(n);
    memcpy(head, "GET ", 4);
    memcpy(head + 4, path, plen);
    memcpy(head + 4 + plen, " \n", 2);      /* the request line as far as the path goes */
    int bad;
    struct hroute *r = hub_rules_find(host, (const uint8_t *)head, n, &bad, hub_reg_http_by_key,
                                      u->h->reg);
    if (head != stack)
        free(head);
    return r != NULL && hub_rules_h2c(r);
}

static void
h2u_free(struct h2u *u)
{
    pn_list_del(&u->node);
    pn_h2gw_free(u->gw);
    free(u);
}

static void
on_done(pn_h2gw_t *g, void *arg)
{
    h2u_free(arg);
}

void
hub_h2_user(struct hub *h, pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local)
{
    char ip[PN_ADDRSTRLEN], who[80];
    struct h2u *u = xcalloc(sizeof(*u));
    u->h = h;
    u->peer = *peer;
    u->local = *local;
    snprintf(who, sizeof(who), "hub: h2: %s", pn_addr_str(peer, ip));
    pn_list_add(&h->h2_conns, &u->node);
    u->gw = pn_h2gw_new(h->in.loop, x, who, on_stream, on_done, u);
    pn_h2gw_set_h2c(u->gw, is_h2c);
}

void
hub_h2_drain(struct hub *h)
{
    for (pn_list_t *p = h->h2_conns.next; p != &h->h2_conns; p = p->next)
        pn_h2gw_goaway(pn_container_of(p, struct h2u, node)->gw);
}

size_t
hub_h2_count(const struct hub *h)
{
    size_t n = 0;
    for (const pn_list_t *p = h->h2_conns.next; p != &h->h2_conns; p = p->next)
        n++;
    return n;
}

void
hub_h2_close_all(struct hub *h)
{
    while (!pn_list_empty(&h->h2_conns))
        h2u_free(pn_container_of(h->h2_conns.next, struct h2u, node));
}
