/* net/dns.c: evdns behind net/dns.h. With core/ev.c, the only file that
 * includes libevent's headers (for its DNS client). */
#include "net/dns.h"
#include "core/list.h"
#include "core/mem.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

struct pn_dns_req {
    pn_list_t node;             /* in pn_dns.reqs */
    pn_dns_t *d;                /* back pointer */
    struct evdns_getaddrinfo_request *req; /* libevent's, until it answers */
    pn_dns_cb cb;
    void *ctx;                  /* borrowed */
    int cancelled;
    int family;                 /* AF_INET first; AF_INET6 when there is no A record */
    char *host, *port;          /* owned: kept for the AAAA retry */
};

struct pn_dns {
    struct evdns_base *base;    /* owned */
    pn_list_t reqs;             /* pending requests, each owned */
};

static int
add_server(struct evdns_base *base, const char *server, char *err)
{
    /* evdns takes "ip", "ip:port" and "[v6]:port". */
    if (evdns_base_nameserver_ip_add(base, server) != 0)
        return pn_err_set(err, "POSTERN_DNS_SERVER: \"%s\" is not <ip>[:<port>]", server);
    return PN_OK;
}

pn_dns_t *
pn_dns_new(ev_loop_t *loop, const char *server, char *err)
{
    pn_dns_t *d = xcalloc(sizeof(*d));
    pn_list_init(&d->reqs);
    d->base = evdns_base_new(ev_loop_base(loop), server ? 0 : EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (d->base == NULL) {
        free(d);
        pn_err_set(err, "dns: cannot start the resolver");
        return NULL;
    }
    if (server != NULL && add_server(d->base, server, err) != PN_OK) {
        evdns_base_free(d->base, 0);
        free(d);
        return NULL;
    }
    if (server != NULL)
        evdns_base_load_hosts(d->base, NULL);
    /* Give up within about 4 s rather than evdns's default 15: a caller
     * waiting on an answer (a reconnect) then falls back to what it had. */
    evdns_base_set_option(d->base, "timeout:", "2");
    evdns_base_set_option(d->base, "attempts:", "2");
    return d;
}

static void
req_free(pn_dns_req_t *r)
{
    pn_list_del(&r->node);
    free(r->host);
    free(r->port);
    free(r);
}

static struct evdns_getaddrinfo_request *req_send(pn_dns_req_t *r);

/* Ask for A records first and for AAAA only when there is no A: one question
 * at a time, so a server that refuses AAAA (dnsmasq without upstream does)
 * neither fails the lookup nor gets marked down by evdns for it. */
static void
on_answer(int result, struct evutil_addrinfo *res, void *arg)
{
    pn_dns_req_t *r = arg;
    pn_addr_t a;
    const char *err = NULL;
    if (result == EVUTIL_EAI_CANCEL || r->cancelled) {
        if (res != NULL)
            evutil_freeaddrinfo(res);
        req_free(r);
        return;
    }
    if ((result != 0 || res == NULL) && r->family == AF_INET) {
        if (res != NULL)
            evutil_freeaddrinfo(res);
        r->family = AF_INET6;
        r->req = NULL;
        struct evdns_getaddrinfo_request *q = req_send(r);
        if (q != NULL)
            r->req = q;         /* else it was answered (and <r> freed) already */
        return;
    }
    if (result == 0 && res != NULL && res->ai_addrlen <= sizeof(a.ss)) {
        memset(&a, 0, sizeof(a));
        memcpy(&a.ss, res->ai_addr, res->ai_addrlen);
        a.len = (socklen_t)res->ai_addrlen;
    } else {
        err = result == 0 ? "no address" : evutil_gai_strerror(result);
    }
    if (res != NULL)
        evutil_freeaddrinfo(res);
    r->cb(err ? NULL : &a, err, r->ctx);
    req_free(r);
}

static struct evdns_getaddrinfo_request *
req_send(pn_dns_req_t *r)
{
    struct evutil_addrinfo hints = { 0 };
    hints.ai_family = r->family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_NUMERICSERV;
    return evdns_getaddrinfo(r->d->base, r->host, r->port, &hints, on_answer, r);
}

pn_dns_req_t *
pn_dns_resolve(pn_dns_t *d, const char *host, const char *port, pn_dns_cb cb, void *ctx)
{
    pn_dns_req_t *r = xcalloc(sizeof(*r));
    r->d = d;
    r->cb = cb;
    r->ctx = ctx;
    r->family = AF_INET;
    r->host = xstrdup(host);
    r->port = xstrdup(port);
    pn_list_add(&d->reqs, &r->node);
    /* evdns may answer at once (a literal, /etc/hosts): then on_answer has run
     * and freed <r> already and the handle is NULL, so <r> is touched only
     * when a handle came back. */
    struct evdns_getaddrinfo_request *q = req_send(r);
    if (q == NULL)
        return NULL;
    r->req = q;
    return r;
}

void
pn_dns_cancel(pn_dns_req_t *r)
{
    if (r == NULL || r->cancelled)
        return;
    r->cancelled = 1;
    evdns_getaddrinfo_cancel(r->req);
}

void
pn_dns_free_(pn_dns_t *d)
{
    if (d == NULL)
        return;
    while (!pn_list_empty(&d->reqs)) {
        pn_dns_req_t *r = pn_container_of(d->reqs.next, pn_dns_req_t, node);
        pn_dns_cancel(r);       /* on_answer runs with EVUTIL_EAI_CANCEL and frees it */
        if (d->reqs.next == &r->node)
            req_free(r);                /* libevent did not call back: free it here */
    }
    evdns_base_free(d->base, 0);
    free(d);
}

struct sync_ctx {
    struct event_base *base;
    pn_addr_t *out;
    int done, ok;
    char err[PN_ERR_LEN];
};

static void
on_sync(int result, struct evutil_addrinfo *res, void *arg)
{
    struct sync_ctx *c = arg;
    c->done = 1;
    if (result == 0 && res != NULL && res->ai_addrlen <= sizeof(c->out->ss)) {
        memset(c->out, 0, sizeof(*c->out));
        memcpy(&c->out->ss, res->ai_addr, res->ai_addrlen);
        c->out->len = (socklen_t)res->ai_addrlen;
        c->ok = 1;
    } else {
        pn_err_set(c->err, "%s", result == 0 ? "no address" : evutil_gai_strerror(result));
    }
    if (res != NULL)
        evutil_freeaddrinfo(res);
    event_base_loopbreak(c->base);
}

int
pn_dns_resolve_now(const char *server, const char *host, const char *port, pn_addr_t *out,
                   char *err)
{
    struct sync_ctx c = { .out = out };
    struct evutil_addrinfo hints = { 0 };
    struct timeval five = { 5, 0 };
    int rc = PN_ERR;

    c.base = event_base_new();
    if (c.base == NULL)
        return pn_err_set(err, "dns: cannot start the resolver");
    struct evdns_base *dns = evdns_base_new(c.base, 0);
    if (dns == NULL || add_server(dns, server, err) != PN_OK)
        goto out;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_NUMERICSERV;
    for (int i = 0; i < 2 && !c.ok; i++) {
        hints.ai_family = i == 0 ? AF_INET : AF_INET6;     /* A first, as pn_dns_resolve */
        c.done = 0;
        evdns_getaddrinfo(dns, host, port, &hints, on_sync, &c);
        if (!c.done) {
            event_base_loopexit(c.base, &five);
            event_base_dispatch(c.base);
        }
    }
    if (c.ok)
        rc = PN_OK;
    else
        pn_err_set(err, "host \"%s\" does not resolve: %s", host, c.done ? c.err : "timed out");
out:
    if (dns != NULL)
        evdns_base_free(dns, 1);
    event_base_free(c.base);
    return rc;
}

int
pn_dns_is_literal(const char *host)
{
    pn_addr_t a;
    return host == NULL || *host == '\0' || pn_addr_parse_ip(host, &a) == PN_OK;
}
