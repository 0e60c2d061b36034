/* conf/hubjson.h: helpers shared by the hub's files (conf/hubconf.c, the
 * accounts; conf/hubroute.c, the agent's routes; conf/users.c, the proxy's
 * users), private to conf/. Values a
 * user got wrong are echoed only through pn_conf_shown(); secrets never. */
#ifndef PN_CONF_HUBJSON_H
#define PN_CONF_HUBJSON_H

#include <jansson.h>
#include <stddef.h>

#define NAME_MAX_LEN 64             /* account, group and route names */
#define SHOWN_LEN 52                /* 48 characters, "..." and the NUL */

/* Where a JSON error is: "<kind>: <label>: <list>[<i>].<member>". */
typedef struct pn_conf_place {
    const char *kind;               /* "accounts" or "config" */
    const char *label;
    const char *list;               /* "accounts" or "routes" */
    size_t i;
    char *err;
} pn_conf_place_t;

/** <s> cut to 48 characters, anything outside printable ASCII as '?', in
 *  <out>, which is returned. Never called on a secret. */
const char *pn_conf_shown(const char *s, char out[SHOWN_LEN]);
/** Every byte of <s> within [lo, hi]. */
int pn_conf_all_in(const char *s, int lo, int hi);
/** 1-64 characters of [A-Za-z0-9._-] (account, group and route names). */
int pn_conf_name_ok(const char *s);
/** A lower-case DNS name (a bare label is one). */
int pn_conf_dns_name_ok(const char *s);
/** An ASCII lower-case copy (owned by the caller). */
char *pn_conf_lower_dup(const char *s);
/** Overwrite the secret <s> and free it. NULL is a no-op. */
void pn_conf_wipe_free(char *s);
/** The whole of <path> (at most 1 MiB, no NUL) as a new C string in *<out>;
 *  PN_OK, or PN_ERR with <err> naming <kind> and <path>. */
int pn_conf_read_file(const char *kind, const char *path, char **out, char *err);
/** <json> parsed, duplicate keys refused; NULL with <err> set (no quoted text). */
json_t *pn_conf_load_json(const char *kind, const char *label, const char *json, char *err);
/** Fill p->err with the place, <member> (NULL for the element itself) and
 *  the formatted reason; PN_ERR. */
int pn_conf_jfail(const pn_conf_place_t *p, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Refuse members of <o> outside the NULL-ended <known>, naming the first. */
int pn_conf_check_members(const pn_conf_place_t *p, json_t *o, const char *const *known);
/** The top level: {"<list>": [...]} and nothing else; the array in *<arr>. */
int pn_conf_top_array(const char *kind, const char *label, const char *list, json_t *root,
                      json_t **arr, char *err);

#endif
