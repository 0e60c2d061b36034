/* master/hubstate.h: reading a hub instance's HUB_STATE line back (pure).
 *
 * Every report interval a hub prints one line (docs/hub.md §6), possibly after
 * the log prefix ("2026-01-01 10:00:00.000 EVENT "):
 *
 *     HUB_STATE|{"clients":[...],"routes":[...],"accounts":[...]}
 *
 * The JSON (at most PN_HUBSTATE_MAX bytes) must be an object holding the three
 * arrays; each element an object whose known members have the documented
 * types. The result is a normalised copy: exactly the documented members of
 * each element (a missing counter is 0, a missing text ""; the identifying
 * member, clients[].id, routes[].type and .key, accounts[].name, is required),
 * unknown members dropped, plus "truncated" (false unless the hub said so).
 * So what the API serves has one fixed shape whatever the hub adds later. */
#ifndef PN_MASTER_HUBSTATE_H
#define PN_MASTER_HUBSTATE_H

#include <jansson.h>
#include <stddef.h>

#define PN_HUBSTATE_TAG "HUB_STATE|"
#define PN_HUBSTATE_MAX (1024 * 1024)   /* bytes of JSON */
#define PN_HUBSTATE_PREFIX_MAX 64       /* bytes of log prefix before the tag */
/* The longest HUB_STATE line: prefix, tag, JSON. */
#define PN_HUBSTATE_LINE_MAX \
    (PN_HUBSTATE_PREFIX_MAX + sizeof(PN_HUBSTATE_TAG) - 1 + PN_HUBSTATE_MAX)

/** 1 when the first <len> bytes of <line> (no NUL needed; a partial line is
 *  enough) start a HUB_STATE line: the tag at the start, or after a log prefix
 *  of at most PN_HUBSTATE_PREFIX_MAX printable bytes ending in a space and
 *  holding no '|'. *<json> (may be NULL) gets the offset of the JSON. 0
 *  otherwise, also when too few bytes arrived to tell. */
int pn_hubstate_match(const char *line, size_t len, size_t *json);
/** pn_hubstate_match() for any <tag> ("PROXY_USER|"): 1 when <line> starts
 *  with it, or with it after such a log prefix; *<json> (may be NULL) gets the
 *  offset past it. */
int pn_tagline_match(const char *line, size_t len, const char *tag, size_t *json);

/** Parse the HUB_STATE line <line> (<len> bytes, no NUL needed, trailing CR/LF
 *  allowed) into a new normalised object (the caller owns the reference), or
 *  NULL with a message in <err> (PN_ERR_LEN bytes; may be NULL) naming the
 *  member at fault: "routes[2].members: expected a non-negative integer". */
json_t *pn_hubstate_parse(const char *line, size_t len, char *err);

#endif
