/* route/http_acl.h: what the hub's per-route HTTP rules read from a request
 * head (pure, no I/O): the path for path routes, a field's value, HTTP basic
 * credentials, and the route's password hash (docs/hub.md §2).
 *
 *   head --pn_http_req_path--> "/api/v1" --pn_http_path_match("/api")--> 4
 *   head --pn_http_field("authorization")--> "Basic dTpw" --pn_http_basic_decode--> u, p
 *   "alice:sha256$<salt hex>$<hash hex>" --pn_http_auth_parse--> user, salt, hash
 *
 * The hash check itself (SHA-256 of salt || password, compared in constant
 * time) is the caller's: this layer holds no crypto. Every input is bounded;
 * nothing here allocates. */
#ifndef PN_ROUTE_HTTP_ACL_H
#define PN_ROUTE_HTTP_ACL_H

#include <stddef.h>
#include <stdint.h>

#define PN_HTTP_PATH_MAX 256        /* a route's path prefix */
#define PN_HTTP_AUTH_USER_MAX 64
#define PN_HTTP_AUTH_PASS_MAX 256
#define PN_HTTP_AUTH_SALT_MAX 64    /* bytes (128 hex digits) */
#define PN_HTTP_AUTH_SPEC_MAX (PN_HTTP_AUTH_USER_MAX + 8 + 2 * PN_HTTP_AUTH_SALT_MAX + 66)

/* A route's credentials: the user and SHA-256(salt || password). */
typedef struct pn_http_auth {
    char user[PN_HTTP_AUTH_USER_MAX + 1];
    uint8_t salt[PN_HTTP_AUTH_SALT_MAX];
    size_t salt_len;                /* 8..64 */
    uint8_t hash[32];
} pn_http_auth_t;

/** Nonzero when <p> is a route path prefix: '/' then at most 255 bytes of
 *  RFC 3986 pchar and '/' (no '%', '?', '#', ',' nor space). */
int pn_http_path_ok(const char *p);
/** The length of <prefix> when the request path <path> lies under it: equal,
 *  or followed by '/' ("/api" covers "/api" and "/api/x", not "/apix"); a
 *  prefix ending in '/' covers whatever follows. 0 when it does not. */
size_t pn_http_path_match(const char *prefix, const char *path);
/** Copy into <out> (<cap> >= 2 bytes, NUL-terminated, cut to fit) the path of
 *  the request target of the complete head <head> (<len> bytes): origin-form
 *  up to '?' or '#', absolute-form after its authority ("/" when it has no
 *  path), "*" as it is. 0, or -1 when the request line has no target. */
int pn_http_req_path(const uint8_t *head, size_t len, char *out, size_t cap);
/** Normalise the request path <in> for matching route prefixes into <out>
 *  (<cap> bytes, cut to fit): %XX of an unreserved character decoded, runs
 *  of '/' made one. 0, or -1 when the hub refuses the path: a dot segment
 *  ("/./", "/../", at the end too, encoded or not), a backslash, an encoded
 *  '/' or '\\', a NUL or control byte, or a bad %XX. */
int pn_http_path_norm(const char *in, char *out, size_t cap);
/** Find the first field <name> (any case) of the head <head> (<len> bytes,
 *  CRLF lines): 1 with its value (<*val>, <*vlen>, outer spaces and tabs
 *  trimmed) borrowed from <head>, 0 when absent. */
int pn_http_field(const uint8_t *head, size_t len, const char *name, const uint8_t **val,
                  size_t *vlen);
/** Decode an Authorization value "Basic <base64 of user:password>" (scheme in
 *  any case) into <user> and <pass> (NUL-terminated; at most
 *  PN_HTTP_AUTH_USER_MAX and PN_HTTP_AUTH_PASS_MAX bytes). 0, or -1 when it is
 *  not that, is not canonical base64, or holds a NUL or control byte. */
int pn_http_basic_decode(const uint8_t *val, size_t vlen, char *user, char *pass);
/** Parse a route's auth spec "<user>:sha256$<salt hex>$<hash hex>" (user 1-64
 *  printable bytes without ':' ',' or space; salt 8-64 bytes; hash 32 bytes)
 *  into <a>. 0, or -1. */
int pn_http_auth_parse(const char *spec, pn_http_auth_t *a);

#endif
