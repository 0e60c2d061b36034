/* master/http.h: the master's HTTP server, over libevent's evhttp (with
 * bufferevent_openssl for HTTPS). This file, http.c and http_gate.c (admission)
 * are the only ones of master/ that see libevent; the API sees requests through this small
 * interface: method, path, query, headers, body, one reply (now or later from
 * the loop), or a stream of chunks (Server-Sent Events).
 *
 * Bounds: headers 16 KiB, bodies 1 MiB at the HTTP layer (the API refuses more
 * than 64 KiB itself, with a JSON 413), a whole request within 10 s of accept
 * (master/http_gate.h: caps per source and in all, accept back-off), 30 s
 * without progress closes a kept-alive connection (streams: 30 s of a blocked write); malformed HTTP closes that
 * one connection. */
#ifndef PN_MASTER_HTTP_H
#define PN_MASTER_HTTP_H

#include "core/err.h"
#include "core/ev.h"
#include "tls/tls.h"

#include <stddef.h>

#define PN_MHTTP_MAX_HEADERS (16 * 1024)
#define PN_MHTTP_MAX_BODY (1024 * 1024)
#define PN_MHTTP_TIMEOUT_S 30
#define PN_MHTTP_STREAM_BACKLOG (1024 * 1024)    /* unsent stream bytes before a client is dropped */

enum pn_mhttp_method {
    PN_MHTTP_GET = 0,
    PN_MHTTP_HEAD,
    PN_MHTTP_POST,
    PN_MHTTP_PUT,
    PN_MHTTP_PATCH,
    PN_MHTTP_DELETE,
    PN_MHTTP_OTHER,
};

typedef struct pn_mhttp pn_mhttp_t;
typedef struct pn_mhttp_req pn_mhttp_req_t;
typedef struct pn_mhttp_stream pn_mhttp_stream_t;

/** Called for every complete request. The handler answers with exactly one
 *  of pn_mhttp_reply() (now or later) and pn_mhttp_stream_start(). */
typedef void (*pn_mhttp_handler_cb)(pn_mhttp_req_t *r, void *ctx);

/** Serve HTTP on the listening socket <lfd> (owned from now on), HTTPS when
 *  <tls> (borrowed, a server context) is given. Never NULL. */
pn_mhttp_t *pn_mhttp_new(ev_loop_t *loop, int lfd, pn_tls_ctx_t *tls, pn_mhttp_handler_cb cb,
                         void *ctx);
/** Close the listener and every connection. Requests held by the caller must
 *  have been answered and streams ended first. NULL is a no-op. */
void pn_mhttp_free_(pn_mhttp_t *h);
#define pn_mhttp_free(p) do { pn_mhttp_free_(p); (p) = NULL; } while (0)

/** The request's method. */
enum pn_mhttp_method pn_mhttp_method(const pn_mhttp_req_t *r);
/** The path of the request target, as sent (not percent-decoded). */
const char *pn_mhttp_path(const pn_mhttp_req_t *r);
/** The decoded value of query parameter <key> as a new string (the caller
 *  frees it), or NULL. */
char *pn_mhttp_query(pn_mhttp_req_t *r, const char *key);
/** The value of request header <name> (case-insensitive), or NULL. Borrowed. */
const char *pn_mhttp_header(const pn_mhttp_req_t *r, const char *name);
/** The body, NUL-terminated, and its length in *<len>. Borrowed. */
const char *pn_mhttp_body(pn_mhttp_req_t *r, size_t *len);
/** Nonzero when the client is gone (a reply would be dropped). */
int pn_mhttp_gone(const pn_mhttp_req_t *r);

/** Add the response header <name>: <value> to <r> before replying. */
void pn_mhttp_set_header(pn_mhttp_req_t *r, const char *name, const char *value);
/** Send the response <status> with <ctype> and <body> (<len> bytes; NULL for
 *  none) and free <r>. */
void pn_mhttp_reply(pn_mhttp_req_t *r, int status, const char *ctype, const void *body, size_t len);

/** Answer <r> with status 200 and <ctype>, body to follow in chunks; <r> is
 *  freed and the stream returned (the connection closes when it ends). */
pn_mhttp_stream_t *pn_mhttp_stream_start(pn_mhttp_req_t *r, const char *ctype);
/** Queue <len> bytes on <s>: PN_OK, or PN_ERR when the client is gone or has
 *  more than PN_MHTTP_STREAM_BACKLOG bytes unread (the caller then ends it). */
int pn_mhttp_stream_send(pn_mhttp_stream_t *s, const char *data, size_t len);
/** Nonzero when the client of <s> is gone. */
int pn_mhttp_stream_gone(const pn_mhttp_stream_t *s);
/** End <s> (the last chunk, then the connection closes) and free it. */
void pn_mhttp_stream_end(pn_mhttp_stream_t *s);

#endif
