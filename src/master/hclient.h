/* master/hclient.h: one HTTP/1.1 request of the manager to a node (evhttp's
 * client), with a deadline for the whole exchange. Non-blocking: the answer,
 * or the reason there is none, comes to a callback from the loop. */
#ifndef PN_MASTER_HCLIENT_H
#define PN_MASTER_HCLIENT_H

#include "core/ev.h"
#include "tls/tls.h"

#include <stddef.h>
#include <stdint.h>

#define PN_HCLIENT_BODY_MAX (16 * 1024 * 1024)  /* an answer larger than this fails */

typedef struct pn_hclient pn_hclient_t;

/* HTTPS to a node: the client context (verifying against a CA, or not when a
 * fingerprint is pinned), the name checked (an IP address or a DNS name; NULL
 * none), the pinned SHA-256 (NULL none). Borrowed for the call. */
typedef struct pn_hclient_tls {
    pn_tls_ctx_t *ctx;
    const char *name;
    const uint8_t *pin;
} pn_hclient_tls_t;

/* A plain HTTP proxy the request goes through (absolute URI, Proxy-Authorization
 * Basic when <auth> "user:password" is given): a node's fallback route. */
typedef struct pn_hclient_via {
    const char *host;           /* an IP address */
    int port;
    const char *auth;           /* a secret, or NULL */
} pn_hclient_via_t;

/* Bytes shared by the bodies of many requests (the users of a push round),
 * sent without a copy each; wiped and freed with the last reference. */
typedef struct pn_hbody {
    unsigned refs;
    size_t len;
    char *data;                 /* owned */
} pn_hbody_t;

/** Wrap <data> (<len> bytes, malloc'd; owned from now on) with one reference. */
pn_hbody_t *pn_hbody_new(char *data, size_t len);
/** Drop a reference to <b>; NULL is a no-op. */
void pn_hbody_unref(pn_hbody_t *b);

/** Called once per request from the loop: <status> the HTTP status and
 *  <body> (<len> bytes, borrowed for the call) when an answer came, else
 *  <status> 0 and <err> says why (never NULL then). The request is freed
 *  after the call (the callback must not cancel it). */
typedef void (*pn_hclient_cb)(int status, const char *body, size_t len, const char *err, void *ctx);

/** Send <method> ("GET" or "PUT") <path> to the IP address <host>:<port> (over
 *  TLS when <tls> is not NULL: nothing is sent before the handshake checked the
 *  node's certificate; or through the proxy <via> when not NULL, plain only) with
 *  "Authorization: Bearer <token>" and a body of <head> (<len> bytes, copied;
 *  NULL for none) followed by <tail> (a reference is taken; may be NULL);
 *  <cb> gets the outcome within <deadline_ms>. Never NULL. */
pn_hclient_t *pn_hclient_request(ev_loop_t *loop, const char *host, int port,
                                 const pn_hclient_tls_t *tls, const pn_hclient_via_t *via,
                                 const char *method,
                                 const char *path, const char *token, const char *head,
                                 size_t len, pn_hbody_t *tail, uint64_t deadline_ms,
                                 pn_hclient_cb cb, void *ctx);
/** Abandon <h> without its callback. NULL is a no-op. */
void pn_hclient_cancel(pn_hclient_t *h);

#endif
