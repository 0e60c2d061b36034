/* master/fleet.c: the node and manager paths behind the API's hook. */
#include "master/fleet.h"
#include "core/mem.h"
#include "master/manager.h"
#include "master/mgr_api.h"
#include "master/node_agent.h"
#include "master/node_sync.h"
#include "master/paths.h"

#include <string.h>

struct pn_fleet {
    pn_api_t *api;              /* borrowed */
    pn_node_agent_t *agent;     /* owned: the node side */
    pn_node_agent_t *relay;     /* owned: the manager's own relay entrance (relay_m.c) */
    pn_manager_t *manager;      /* owned: the manager side */
};

static json_t *
relay_apply(void *ctx, const char *text, size_t len, int *status, char *err, char *field)
{
    return pn_node_agent_apply(ctx, text, len, status, err, field);
}

static json_t *
relay_users(void *ctx)
{
    return pn_node_agent_users(ctx);
}

pn_fleet_t *
pn_fleet_new(pn_api_t *a, const char *db)
{
    pn_fleet_t *f = xcalloc(sizeof(*f));
    f->api = a;
    f->agent = pn_node_agent_new(a->super, a->store, db, PN_NODE_TAG, ".users.json", "node_state");
    f->relay = pn_node_agent_new(a->super, a->store, db, "postern-relay", ".relay-users.json",
                                 "relay_state");
    f->manager = pn_manager_new(a->loop, a->store, a->events, &a->name);
    pn_paths_load(f->manager);
    f->manager->local_apply = relay_apply;
    f->manager->local_users = relay_users;
    f->manager->local_ctx = f->relay;
    f->manager->relay_version = pn_node_agent_version(f->relay);
    pn_sync_start(f->manager);
    return f;
}

void
pn_fleet_free_(pn_fleet_t *f)
{
    if (f == NULL)
        return;
    pn_node_agent_free(f->agent);
    pn_node_agent_free(f->relay);
    pn_manager_free(f->manager);
    free(f);
}

int
pn_fleet_route(pn_api_t *a, pn_mhttp_req_t *r, const char *rest)
{
    pn_fleet_t *f = a->fleet_ctx;
    if (f == NULL)
        return 0;
    if (strncmp(rest, "/node/", 6) == 0) {
        size_t len;
        pn_mhttp_body(r, &len);
        /* A configuration may be large (10000 users); anything else is not. */
        if (len > PN_API_BODY_MAX && (strcmp(rest, "/node/config") != 0 ||
                                      pn_mhttp_method(r) != PN_MHTTP_PUT)) {
            pn_api_reply_error(r, 413, "body", "body: larger than 64 KiB");
            return 1;
        }
        return pn_node_agent_route(f->agent, r, rest);
    }
    return pn_mgr_api_route(f->manager, r, rest);
}
