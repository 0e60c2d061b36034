/* tests/fuzz/fuzz_nodeconf.c: a PUT <prefix>/v1/node/config body
 * (src/master/node_conf.h), the same bytes as a PROXY_USER line
 * (src/master/puser.h), and as the manager's POST/PATCH bodies of /nodes and /users
 * (src/master/mgr_body.h).
 *
 * Invariants checked besides memory safety and leaks:
 *   - a refusal names its field, and the message starts with it and ": ";
 *   - an accepted body has a version >= 1, at most PN_NODE_ITEMS_MAX items with
 *     distinct names and a type each, and a users text that parses again; an
 *     entrance of some groups gets some of the users. */
#include "fuzz.h"
#include "master/mgr_body.h"
#include "master/node_conf.h"
#include "master/puser.h"

#include <jansson.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[PN_ERR_LEN], field[PN_NODE_FIELD_LEN], name[PN_PUSER_NAME_MAX + 1];
    uint64_t v[PN_PU_N];
    pn_node_conf_t c;
    uint8_t *copy = fuzz_dup(data, size);   /* exact size: a read past the body is caught */
    if (pn_node_conf_parse((const char *)copy, size, &c, err, field) == PN_OK) {
        FUZZ_ASSERT(c.version >= 1);
        FUZZ_ASSERT(c.nitems <= PN_NODE_ITEMS_MAX);
        for (size_t i = 0; i < c.nitems; i++) {
            FUZZ_ASSERT(c.items[i].type != NULL && c.items[i].url != NULL);
            for (size_t j = 0; j < i; j++)
                FUZZ_ASSERT(strcmp(c.items[i].name, c.items[j].name) != 0);
            if (c.items[i].groups != NULL) {
                /* an entrance of some groups: its users are some of the users */
                char *t = pn_node_conf_users_for(&c, c.items[i].groups);
                json_t *g = json_loads(t, 0, NULL);
                FUZZ_ASSERT(json_array_size(json_object_get(g, "users")) <= c.nusers);
                json_decref(g);
                free(t);
            }
        }
        json_t *u = json_loads(c.users, 0, NULL);
        FUZZ_ASSERT(json_array_size(json_object_get(u, "users")) == c.nusers);
        json_decref(u);
        pn_node_conf_clear(&c);
    } else {
        size_t n = strlen(field);
        FUZZ_ASSERT(n > 0);
        FUZZ_ASSERT(strncmp(err, field, n) == 0 && err[n] == ':');
        FUZZ_ASSERT(c.root == NULL);
    }
    (void)pn_puser_parse((const char *)copy, size, name, v);
    for (int create = 0; create < 2; create++) {
        pn_mgr_node_body_t nb;
        pn_mgr_user_body_t ub;
        if (pn_mgr_node_parse((const char *)copy, size, create, &nb, err, field) == PN_OK) {
            FUZZ_ASSERT(!create || (nb.address && nb.token && nb.port > 0));
            pn_mgr_body_clear(&nb.root);
        } else {
            FUZZ_ASSERT(field[0] != '\0' && strncmp(err, field, strlen(field)) == 0);
            FUZZ_ASSERT(nb.root == NULL);
        }
        if (pn_mgr_user_parse((const char *)copy, size, create, &ub, err, field) == PN_OK) {
            FUZZ_ASSERT(!create || ub.name != NULL);
            pn_mgr_body_clear(&ub.root);
        } else {
            FUZZ_ASSERT(field[0] != '\0' && strncmp(err, field, strlen(field)) == 0);
            FUZZ_ASSERT(ub.root == NULL);
        }
    }
    free(copy);
    return 0;
}
