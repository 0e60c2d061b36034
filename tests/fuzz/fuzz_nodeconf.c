/* tests/fuzz/fuzz_nodeconf.c: a PUT <prefix>/v1/node/config body
 * (src/master/node_conf.h), the same bytes as a PROXY_USER line
 * (src/master/puser.h), and as the manager's POST/PATCH bodies of /nodes and /users
 * (src/master/mgr_body.h).
 *
 * Invariants checked besides memory safety and leaks:
 *   - a refusal names its field, and the message starts with it and ": ";
 *   - an accepted body has a version >= 1, at most PN_NODE_ITEMS_MAX items with
 *     distinct names and a type each, and a users text that parses again; an
 *     entrance of some groups gets some of the users;
 *   - the same bytes as a node's statistics: what the scanner reads (without a
 *     JSON tree) is what jansson reads.  */
#include "fuzz.h"
#include "master/mgr_body.h"
#include "master/node_conf.h"
#include "master/puser.h"
#include "master/statscan.h"

#include <jansson.h>

/* The scanner of a node's statistics (master/statscan.h) answers only what
 * the JSON parser reads the same: boot, version and each row's name, up, down. */
static void
check_statscan(const char *data, size_t size)
{
    pn_statscan_t s;
    if (pn_statscan(data, size, &s) == PN_OK) {
        json_t *o = json_loadb(data, size, 0, NULL), *users = json_object_get(o, "users");
        FUZZ_ASSERT(o != NULL && json_is_array(users));
        FUZZ_ASSERT(json_is_integer(json_object_get(o, "version")) &&
                    json_integer_value(json_object_get(o, "version")) == s.version);
        FUZZ_ASSERT(strcmp(json_string_value(json_object_get(o, "boot")), s.boot) == 0);
        FUZZ_ASSERT(json_array_size(users) == s.nrows);
        for (size_t i = 0; i < s.nrows; i++) {
            json_t *row = json_array_get(users, i);
            const char *name = json_string_value(json_array_get(row, 0));
            FUZZ_ASSERT(name != NULL && strlen(name) == s.rows[i].len &&
                        memcmp(name, s.rows[i].name, s.rows[i].len) == 0);
            FUZZ_ASSERT(json_integer_value(json_array_get(row, 1)) == s.rows[i].up &&
                        json_is_integer(json_array_get(row, 1)));
            FUZZ_ASSERT(json_integer_value(json_array_get(row, 2)) == s.rows[i].down &&
                        json_is_integer(json_array_get(row, 2)));
        }
        json_decref(o);
    }
    pn_statscan_clear(&s);
}

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
    check_statscan((const char *)copy, size);
    free(copy);
    return 0;
}
