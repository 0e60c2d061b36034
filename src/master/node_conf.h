/* master/node_conf.h: the body of PUT <prefix>/v1/node/config, the complete
 * state a manager wants a node to run (docs/master.md "Nodes"), parsed and
 * checked (pure).
 *
 *   {"version": 7, "updated_at": "2026-12-06T10:00:00Z", "updated_by": "manager",
 *    "entrances": [{"name": "socks", "url": "proxy://:1080?allow=127.0.0.0/8"}],
 *    "tunnels":   [{"name": "relay", "url": "server://k@:10101/127.0.0.1:9?mode=2&egress=1"}],
 *    "users":     [{"name": "alice", "password": "...", "enabled": true, "rate": 0,
 *                   "max_conns": 0}]}
 *
 * An entrance is a proxy:// URL without users=: the node adds its own users
 * file, which holds "users" (each as in docs/proxy.md §2; a user may carry a
 * "group", an entrance "groups": then its own users file holds only the users
 * of those groups). A tunnel is any
 * other instance URL (server://, client://). Names are 1-32 of [A-Za-z0-9_.-],
 * unique over entrances and tunnels. Every failure names the member to blame
 * in <field> ("version", "entrances[1].url", "users[0].rate", or "body"). */
#ifndef PN_MASTER_NODE_CONF_H
#define PN_MASTER_NODE_CONF_H

#include "core/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PN_NODE_FIELD_LEN 64
#define PN_NODE_NAME_MAX 32
#define PN_NODE_ITEMS_MAX 64        /* entrances + tunnels */
#define PN_NODE_META_MAX 64         /* updated_at, updated_by */

typedef struct pn_node_item {
    char name[PN_NODE_NAME_MAX + 1];
    const char *url;            /* borrowed from the root; an entrance's without users= */
    const char *type;           /* static: the Instance type of its scheme */
    int entrance;               /* 1 entrance (proxy://), 0 tunnel */
    json_t *groups;             /* borrowed: an entrance's "groups" (names), or NULL: all users */
} pn_node_item_t;

typedef struct pn_node_conf {
    json_t *root;               /* owned reference */
    int64_t version;            /* >= 1 */
    const char *updated_at;     /* borrowed; may be "" */
    const char *updated_by;
    pn_node_item_t *items;      /* owned array of <nitems>: entrances, then tunnels */
    size_t nitems;
    char *users;                /* owned: the users file text {"users": [...]} */
    size_t nusers;
    json_t *plain;              /* owned: the users without their "group" member */
    json_t *ugroups;            /* owned: each user's group ("" none), same order */
} pn_node_conf_t;

/** Parse and check <text> (<len> bytes) into <c>. PN_OK, or PN_ERR with <err>
 *  "<field>: <reason>" and <field> set (<c> then empty). */
int pn_node_conf_parse(const char *text, size_t len, pn_node_conf_t *c, char *err,
                       char field[PN_NODE_FIELD_LEN]);
/** Release what <c> holds (the users text is wiped: it holds passwords). */
void pn_node_conf_clear(pn_node_conf_t *c);
/** Fill <err> with "<name>: <reason>" (<fmt> and its arguments) and <field>
 *  with <name>; return PN_ERR. */
int pn_node_fail(char *err, char field[PN_NODE_FIELD_LEN], const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** <t> (<len> bytes) as a JSON object whose members are all in <known>
 *  (NULL-terminated); NULL with <err> and <field> (PN_NODE_FIELD_LEN) set otherwise. */
json_t *pn_node_load_object(const char *t, size_t len, const char *const *known, char *err,
                            char field[PN_NODE_FIELD_LEN]);
/** The users file text of an entrance admitting the groups <groups> (an array
 *  of names; NULL: every user). A new string (a secret: wipe it). */
char *pn_node_conf_users_for(const pn_node_conf_t *c, const json_t *groups);
/** 1 when <s> is a name (1-<max> of A-Z a-z 0-9 _ . -). */
int pn_node_is_name(const char *s, size_t max);
/** Check <groups> (the member <where>): an array of 1-16 names of groups. */
int pn_node_check_groups(const json_t *groups, const char *where, char *err,
                         char field[PN_NODE_FIELD_LEN]);
/** A new string: <url> with users=<path> added. */
char *pn_node_entrance_url(const char *url, const char *path);

#endif
