/* master/http.h: the master's HTTP server, over libevent's evhttp (with
 * bufferevent_openssl for HTTPS). This file and http.c are the only ones of
 * master/ that see libevent; the API sees requests through this small
 * interface: method, path, query, headers, body, one reply (now or later from
 * the loop), or a stream of chunks (Server-Sent Events).
 *
 * Bounds: headers 16 KiB, bodies 1 MiB at the HTTP layer (the API refuses more
 * than 64 KiB itself, with a JSON 413), 30 s without progress closes a
 * connection (streams: 30 s of a blocked write); malformed HTTP closes that
 * one connection. */
#ifndef PN_MASTER_HTTP_H
#define PN_MASTER_HTTP_H

#include "core/err.h"
#include "core/ev.h"
#include "tls/tls.h"

#include <stddef.h>

#define PN_HTTP_MAX_HEADERS (16 * 1024)
#define PN_HTTP_MAX_BODY (1024 * 1024)
#define PN_HTTP_TIMEOUT_S 30
#define PN_HTTP_STREAM_BACKLOG (1024 * 1024)    /* unsent stream bytes before a client is dropped */

enum pn_http_method {
    PN_HTTP_GET = 0,
    PN_HTTP_HEAD,
    PN_HTTP_POST,
    PN_HTTP_PUT,
    PN_HTTP_PATCH,
    PN_HTTP_DELETE,
    PN_HTTP_OTHER,
};

typedef struct pn_http pn_http_t;
typedef struct pn_http_req pn_http_req_t;
typedef struct pn_http_stream pn_http_stream_t;

/** Called for every complete request. The handler answers with exactly one
 *  of pn_http_reply() (now or later) and pn_http_stream_start(). */
typedef void (*pn_http_handler_cb)(pn_http_req_t *r, void *ctx);

/** Serve HTTP on the listening socket <lfd> (owned from now on), HTTPS when
 *  <tls> (borrowed, a server context) is given. Never NULL. */
pn_http_t *pn_http_new(ev_loop_t *loop, int lfd, pn_tls_ctx_t *tls, pn_http_handler_cb cb,
                       void *ctx);
/** Close the listener and every connection. Requests held by the caller must
 *  have been answered and streams ended first. NULL is a no-op. */
void pn_http_free_(pn_http_t *h);
#define pn_http_free(p) do { pn_http_free_(p); (p) = NULL; } while (0)

/** The request's method. */
enum pn_http_method pn_http_method(const pn_http_req_t *r);
/** The path of the request target, as sent (not percent-decoded). */
const char *pn_http_path(const pn_http_req_t *r);
/** The decoded value of query parameter <key> as a new string (the caller
 *  frees it), or NULL. */
char *pn_http_query(pn_http_req_t *r, const char *key);
/** The value of request header <name> (case-insensitive), or NULL. Borrowed. */
const char *pn_http_header(const pn_http_req_t *r, const char *name);
/** The body, NUL-terminated, and its length in *<len>. Borrowed. */
const char *pn_http_body(pn_http_req_t *r, size_t *len);
/** Nonzero when the client is gone (a reply would be dropped). */
int pn_http_gone(const pn_http_req_t *r);

/** Add the response header <name>: <value> to <r> before replying. */
void pn_http_set_header(pn_http_req_t *r, const char *name, const char *value);
/** Send the response <status> with <ctype> and <body> (<len> bytes; NULL for
 *  none) and free <r>. */
void pn_http_reply(pn_http_req_t *r, int status, const char *ctype, const void *body, size_t len);

/** Answer <r> with status 200 and <ctype>, body to follow in chunks; <r> is
 *  freed and the stream returned (the connection closes when it ends). */
pn_http_stream_t *pn_http_stream_start(pn_http_req_t *r, const char *ctype);
/** Queue <len> bytes on <s>: PN_OK, or PN_ERR when the client is gone or has
 *  more than PN_HTTP_STREAM_BACKLOG bytes unread (the caller then ends it). */
int pn_http_stream_send(pn_http_stream_t *s, const char *data, size_t len);
/** Nonzero when the client of <s> is gone. */
int pn_http_stream_gone(const pn_http_stream_t *s);
/** End <s> (the last chunk, then the connection closes) and free it. */
void pn_http_stream_end(pn_http_stream_t *s);

#endif
