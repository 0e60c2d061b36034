/* route/http.h: HTTP/1.x message framing for the hub's HTTP router (pure).
 *
 * A message (a request, or a response) is fed in as it arrives. The head is
 * parsed once complete (at most PN_HTTP_HEAD_MAX bytes); its body is then
 * followed byte by byte (Content-Length, chunked, or until close for some
 * responses) so the caller knows exactly where the message ends and the next
 * one begins. Built on Debian's http-parser (libhttp-parser); nothing of it is
 * visible through this header. No I/O, no clock.
 *
 * Debian builds http-parser lenient (HTTP_PARSER_STRICT=0), so a strict
 * checker of http.c reads the head, chunk framing and trailers first and the
 * message is refused where the two would disagree. A request head therefore
 * ends at its first CRLFCRLF: bare CR or LF, obs-fold, empty lines before the
 * request line and control characters are refused in it, which is how the
 * caller finds the bytes to give pn_http_head_rewrite(). Response heads may
 * end their lines with a bare LF, as some backends do. */
#ifndef PN_ROUTE_HTTP_H
#define PN_ROUTE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define PN_HTTP_HEAD_MAX 16384      /* request or response head, CRLFCRLF included */
#define PN_HTTP_HOST_MAX 253        /* a DNS name */

enum pn_http_kind { PN_HTTP_REQUEST = 0, PN_HTTP_RESPONSE = 1 };

enum pn_http_body {
    PN_HTTP_BODY_NONE = 0,          /* no body (GET without length, Content-Length: 0, 1xx,
                                       204, 304, HEAD's answer...) */
    PN_HTTP_BODY_LENGTH,            /* Content-Length bytes (1 or more) */
    PN_HTTP_BODY_CHUNKED,           /* chunked transfer coding (trailers included) */
    PN_HTTP_BODY_CLOSE,             /* response: until the server closes */
};

/* What the head said. */
typedef struct pn_http_head {
    int status;                     /* response: 100-999; request: 0 */
    char method[16];                /* request: "GET", ...; response: "" */
    int minor;                      /* HTTP/1.<minor>: 0 or 1 */
    char host[PN_HTTP_HOST_MAX + 1];/* request: Host, lower case, port and a trailing dot
                                       removed; "" when absent (HTTP/1.0 only), else
                                       always pn_http_host_valid() */
    int keep_alive;                 /* the connection may carry another message after this
                                       one (1xx: 1, 101: 0) */
    int upgrade;                    /* request: Connection: upgrade + Upgrade: ...; response:
                                       status 101. The message ends at its head (a request
                                       with a body: after it); what follows is not HTTP */
    enum pn_http_body body;
    uint64_t length;                /* PN_HTTP_BODY_LENGTH: the length */
} pn_http_head_t;

typedef struct pn_http_msg pn_http_msg_t;

/* What pn_http_msg_feed() reached. */
enum pn_http_state {
    PN_HTTP_IN_HEAD = 0,            /* the head is still incomplete */
    PN_HTTP_IN_BODY,                /* the head is parsed (pn_http_msg_head), the body goes on */
    PN_HTTP_DONE,                   /* the message ended; bytes after it are not consumed */
};

/** Make a parser for messages of <kind> (one allocation). Never NULL. */
pn_http_msg_t *pn_http_msg_new(enum pn_http_kind kind);
/** Start the next message on the same connection. For a response, <head_request>
 *  nonzero says it answers a HEAD request (so it has no body). */
void pn_http_msg_reset(pn_http_msg_t *m, int head_request);
/** Feed the next <n> bytes at <p>. On PN_OK, *<used> bytes of them belong to
 *  this message (all of them unless it ended) and *<state> says where it is;
 *  the head is parsed the moment the state becomes PN_HTTP_IN_BODY or
 *  PN_HTTP_DONE. After PN_HTTP_DONE, call pn_http_msg_reset() before feeding
 *  more (until then a feed takes nothing and says PN_HTTP_DONE again). PN_ERR
 *  with a static <why> for a malformed message, a head over PN_HTTP_HEAD_MAX,
 *  Content-Length together with Transfer-Encoding, several Content-Lengths
 *  (even equal ones), a request without Host in HTTP/1.1, a Host given twice
 *  or that is not a valid name (an IP literal such as "[::1]" included), a
 *  request Transfer-Encoding other than one "chunked" (or any in HTTP/1.0),
 *  an absolute-form target naming another host than Host, CONNECT, obs-fold,
 *  a control character in the head, or an HTTP version other than 1.0 and
 *  1.1. The refusal sticks until the next reset; *<used> is then 0. */
int pn_http_msg_feed(pn_http_msg_t *m, const uint8_t *p, size_t n, size_t *used,
                     enum pn_http_state *state, const char **why);
/** Signal the end of the stream (the peer closed): PN_OK when that ends the
 *  message cleanly (a close-delimited response body, which is then
 *  PN_HTTP_DONE) or it had already ended, PN_ERR otherwise (also when no byte
 *  of it came: the caller knows whether it fed any). */
int pn_http_msg_eof(pn_http_msg_t *m);
/** The parsed head; valid from PN_HTTP_IN_BODY until the next reset. */
const pn_http_head_t *pn_http_msg_head(const pn_http_msg_t *m);
/** Free <m>. NULL is a no-op. */
void pn_http_msg_free_(pn_http_msg_t *m);
#define pn_http_msg_free(p) do { pn_http_msg_free_(p); (p) = NULL; } while (0)

/** Rewrite the request head <head> (<len> bytes, complete, CRLFCRLF included)
 *  for a backend into <out> (<cap> bytes): every X-Forwarded-Proto field is
 *  removed (its name in any case), then "X-Forwarded-For: <client_ip>" and
 *  "X-Forwarded-Proto: <proto>" are added at the end of the fields (an
 *  X-Forwarded-For the user sent stays, so the list grows as RFC 7239 proxies
 *  expect); every other byte is kept. Return the new length, 0 when <cap> is
 *  too small, the head is malformed (not CRLF lines, an empty line before the
 *  end, obs-fold, a field line that is no "name:value") or <client_ip>/<proto>
 *  would break it (empty, spaces, control characters; <proto> a token). Every
 *  head pn_http_msg_feed() accepts is well-formed here. */
size_t pn_http_head_rewrite(const uint8_t *head, size_t len, const char *client_ip,
                            const char *proto, uint8_t *out, size_t cap);

/* What pn_http_head_rewrite_ex() does beyond the X-Forwarded-* fields. */
typedef struct pn_http_rewrite {
    const char *client_ip;          /* X-Forwarded-For appended */
    const char *proto;              /* X-Forwarded-Proto (a token) */
    const char *host;               /* non-NULL: every Host field replaced by this one
                                     * (right after the request line); no space or control */
    int drop_auth;                  /* every Authorization field removed (the hub checked it) */
} pn_http_rewrite_t;

/** As pn_http_head_rewrite(), with the Host and Authorization rules of <rw>. */
size_t pn_http_head_rewrite_ex(const uint8_t *head, size_t len, const pn_http_rewrite_t *rw,
                               uint8_t *out, size_t cap);

/** Write into <out> (<cap> bytes) a complete HTTP/1.1 response of <status>
 *  (400, 404, 429, 502, 503 or 504; others get the reason "Error") with a small
 *  HTML page saying <detail> (HTML-escaped, control characters as '?'; may be
 *  NULL), Content-Type text/html; charset=utf-8, Content-Length, Cache-Control:
 *  no-store, Connection: close, and Retry-After: 1 for 429 and 503. Return the
 *  length, 0 when <cap> is too small or <status> is not 100-999. A NUL follows
 *  when <cap> leaves room for it (exactly the length is enough). */
size_t pn_http_error_page(int status, const char *detail, char *out, size_t cap);

#define PN_HTTP_PAGE_FIELD_MAX 1100     /* pn_http_page_ex's extra field line */
/** As pn_http_error_page() (reasons also for 308, 401, 403), with the field
 *  line <field> ("Location: ...", "WWW-Authenticate: ...", no CRLF, no control
 *  byte, at most PN_HTTP_PAGE_FIELD_MAX bytes; NULL for none) added to the head. */
size_t pn_http_page_ex(int status, const char *detail, const char *field, char *out, size_t cap);

/** Nonzero when <s> is a valid host name for routing: 1-253 bytes of labels
 *  of [a-z0-9-] (1-63 bytes each, not starting or ending with '-') separated
 *  by single dots; lower case expected. */
int pn_http_host_valid(const char *s);
/** The Host value <v> (<n> bytes, "name[:port]") as a request's head gets it
 *  (pn_http_head_t.host): lower case, port and a trailing dot removed, into
 *  <out>. PN_ERR when it is no valid name (an IP-literal included). */
int pn_http_host_norm(const char *v, size_t n, char out[PN_HTTP_HOST_MAX + 1]);

#endif
