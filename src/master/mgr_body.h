/* master/mgr_body.h: the bodies of the manager's API (docs/master.md
 * "Manager"), parsed and checked (pure): POST/PATCH <prefix>/v1/nodes and
 * /users. Every failure names the member to blame in <field>. */
#ifndef PN_MASTER_MGR_BODY_H
#define PN_MASTER_MGR_BODY_H

#include "master/node_conf.h"

#include <jansson.h>
#include <stdint.h>

/* Strings are borrowed from <root>; NULL / -1 when absent. */
typedef struct pn_mgr_node_body {
    json_t *root;               /* owned reference */
    const char *name, *address, *token, *prefix;
    int port;
    json_t *entrances, *tunnels;/* borrowed arrays, checked as a node checks them */
    int sync;                   /* "action": "sync" */
    int tls;                    /* -1 absent, else 0/1 (ca or fingerprint imply 1) */
    const char *ca;             /* a CA file to verify the node's chain and address */
    const char *fingerprint;    /* as given; <pin> holds its bytes */
    uint8_t pin[32];
    const char *fallback;       /* "http://[user:password@]<ip>:<port>", "" to clear, or NULL */
    char fb_host[64];           /* its parts */
    int fb_port;
    char fb_auth[256];          /* "user:password" or "" */
} pn_mgr_node_body_t;

typedef struct pn_mgr_user_body {
    json_t *root;               /* owned reference */
    const char *name, *password, *key;
    const char *group;          /* "" none, or NULL: absent */
    int key_clear;              /* "key": null: remove the key */
    int enabled;
    int64_t quota, rate, max_conns, expires;
    int reset;                  /* "action": "reset": usage to 0 */
} pn_mgr_user_body_t;

/** Parse a node body: <create> (POST) needs address, port and token; a PATCH
 *  any member. PN_OK, or PN_ERR with <err> and <field> (<b> then empty). */
int pn_mgr_node_parse(const char *text, size_t len, int create, pn_mgr_node_body_t *b, char *err,
                      char field[PN_NODE_FIELD_LEN]);
/** Parse a user body: <create> needs name and a password or key; a PATCH any
 *  member but name. */
int pn_mgr_user_parse(const char *text, size_t len, int create, pn_mgr_user_body_t *b, char *err,
                      char field[PN_NODE_FIELD_LEN]);
/** Release <b> (either kind: its root). */
void pn_mgr_body_clear(json_t **root);

#endif
