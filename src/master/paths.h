/* master/paths.h: the four paths of the manager's users (docs/master.md
 * "Paths"), declared per group of users and rendered into each node's
 * configuration and the manager's own:
 *
 *   direct   user ─> node's entrance ─> destination
 *   relay    user ─> manager's entrance ─> tunnel the manager dials ─> exit node ─> destination
 *   reverse  user ─> manager's entrance ─> tunnel the exit node (behind NAT) dialled ─> exit node ─> ...
 *   remote   user ─> node's entrance ─> tunnel that node dials ─> exit node ─> destination
 *
 * A path's entrance is named "path.<name>" (on its entry nodes, or on the
 * manager), its exits' tunnels "exit.<name>"; exit i of the list uses the
 * tunnel port <port> + i. The entrance admits the users of the path's groups
 * only (its own users file). The tunnel key is made here and never served. */
#ifndef PN_MASTER_PATHS_H
#define PN_MASTER_PATHS_H

#include "master/http.h"
#include "master/manager.h"
#include "master/node_conf.h"

#include <jansson.h>

#define PN_PATHS_MAX 32
#define PN_PATH_NAME_MAX 24
#define PN_PATH_EXITS_MAX 16

/** Load the paths stored by PUT /paths into <m>. */
void pn_paths_load(pn_manager_t *m);
/** The Paths object of GET /paths (keys left out; a new reference). */
json_t *pn_paths_json(const pn_manager_t *m);
/** PUT /paths: check the body <t> (<len> bytes), store it, push. */
void pn_paths_put(pn_manager_t *m, pn_mhttp_req_t *r, const char *t, size_t len);
/** Append the entrances and tunnels the paths give the node <n> to <ents> and
 *  <tuns> (arrays of {"name", "url"[, "groups"]}). */
void pn_paths_node_items(const pn_manager_t *m, const pn_mnode_t *n, json_t *ents, json_t *tuns);
/** Append the manager's own entrances of the relay and reverse paths to <ents>
 *  (a relay path through its exits whose push and pull status are `available`;
 *  none: left out). */
void pn_paths_local_items(const pn_manager_t *m, json_t *ents);
/** Check <url>, an entrance given to the manager (proxy://, no users=, no
 *  via=): PN_ERR with <err> "<where>: <reason>" and <field> <where>. */
int pn_paths_check_url(const char *url, const char *where, char *err,
                       char field[PN_NODE_FIELD_LEN]);

#endif
