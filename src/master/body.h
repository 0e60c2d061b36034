/* master/body.h: the request bodies of the API, parsed and checked (pure).
 *
 * Every failure fills <err> with "<field>: <reason>" and <field> with the name
 * of the member to blame ("body" when the whole body is wrong), which the API
 * sends back as {"error": ..., "field": ...} with status 400. A URL is checked
 * with pn_config_parse, the command line's own parser: its message (which
 * names the URL's own field, e.g. "port: ...") follows "url: ". */
#ifndef PN_MASTER_BODY_H
#define PN_MASTER_BODY_H

#include "conf/config.h"
#include "core/err.h"

#include <jansson.h>
#include <stddef.h>

#define PN_FIELD_LEN 32

enum pn_action {
    PN_ACTION_NONE = 0,
    PN_ACTION_START,
    PN_ACTION_STOP,
    PN_ACTION_RESTART,
    PN_ACTION_RESET,
};

/* POST /instances, PUT /instances/{id}, PATCH /instances/{id}, POST /info.
 * Strings are borrowed from <root>, which the caller releases with
 * pn_body_clear() after use. */
typedef struct pn_body {
    json_t *root;               /* owned reference */
    const char *url;            /* NULL when absent */
    const char *type;           /* static "server", "client", "hub", "agent" for a valid url */
    const char *alias;          /* NULL when absent */
    int restart;                /* -1 absent, else 0/1 */
    json_t *tags;               /* borrowed from <root>; NULL when absent */
    enum pn_action action;
    const char *name;           /* POST /info */
} pn_body_t;

enum pn_body_kind {
    PN_BODY_CREATE = 0,         /* {"url", "alias"?, "restart"?, "meta"?} */
    PN_BODY_PATCH,              /* any of {"alias", "action", "restart", "meta"} */
    PN_BODY_PUT,                /* {"url"} */
    PN_BODY_INFO,               /* {"name"} */
};

/** Parse <text> (<len> bytes) as a body of <kind> into <b>. PN_OK, or PN_ERR
 *  with <err> and <field> set (and <b> empty). */
int pn_body_parse(enum pn_body_kind kind, const char *text, size_t len, pn_body_t *b, char *err,
                  char field[PN_FIELD_LEN]);
/** The Instance "type" of a URL's <role>: its scheme ("server", "proxy", ...). */
const char *pn_body_role_type(enum pn_role role);
/** Release what <b> holds. */
void pn_body_clear(pn_body_t *b);

#endif
