/* core/url.h: the postern URL, split into its parts without any I/O.
 *
 *     <scheme>://[<user>@]<host>:<port>[/<path>][?<key>=<value>&...]
 *
 * <host> may be empty (":8080": every interface) or a bracketed IPv6 literal.
 * The path holds the target list of server:// and client:// URLs and the API
 * prefix of master:// URLs. Query values are percent-decoded. Validation of
 * what the parts mean belongs to conf/config.c. */
#ifndef PN_CORE_URL_H
#define PN_CORE_URL_H

#include "core/err.h"

#include <stddef.h>

struct pn_url_param {
    char *key;                      /* owned; percent-decoded */
    char *value;                    /* owned; percent-decoded, "" when absent */
};

typedef struct pn_url {
    char *scheme;                   /* owned; lower case, e.g. "client" */
    char *user;                     /* owned; the key before '@', NULL when absent */
    char *host;                     /* owned; without brackets; "" for every interface */
    char *port;                     /* owned; digits as written, NULL when absent */
    char *path;                     /* owned; after the '/' following the authority, NULL when absent */
    struct pn_url_param *params;    /* owned array of nparams entries, in URL order */
    size_t nparams;
} pn_url_t;

/** Parse <s> into <out> (zeroed by the call). On failure fill <err>, leave <out>
 *  empty and return PN_ERR. The caller frees a parsed URL with pn_url_clear(). */
int pn_url_parse(const char *s, pn_url_t *out, char *err);
/** Release what <u> owns and zero it; safe on a zeroed or cleared URL. */
void pn_url_clear(pn_url_t *u);
/** Return the value of the last parameter named <key>, or NULL. Borrowed from <u>. */
const char *pn_url_param(const pn_url_t *u, const char *key);

/** The first parameter key that <u> gives more than once, unless it is in
 *  <repeatable> (NULL-terminated; NULL for none); NULL when there is none.
 *  Borrowed from <u>. */
const char *pn_url_repeated(const pn_url_t *u, const char *const *repeatable);

/** Copy <url> into <out> (<len> bytes, NUL-terminated, cut when longer) with
 *  its key, the part between "://" and the authority's last '@', shown as three
 *  asterisks: "s3cret@:10101" becomes "***@:10101". Pure. */
void pn_url_mask_key(const char *url, char *out, size_t len);

/** Split "<host>:<port>" (host may be empty or "[v6]") into newly allocated
 *  <host> and <port> strings that the caller frees. Return PN_OK or PN_ERR with <err>. */
int pn_hostport_split(const char *s, char **host, char **port, char *err);

/** Decode %XX escapes and '+' (a space, as in query strings) into <s> in place;
 *  PN_ERR on a malformed escape or %00. */
int pn_percent_decode(char *s);
/** Likewise, '+' kept (a URL's user part or path). */
int pn_percent_decode_plain(char *s);

#endif
