/* master/clusterview.c: the cluster view (see master/clusterview.h). */
#include "master/clusterview.h"
#include "core/mem.h"
#include "master/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The entry of hub <id> in <hubs> (an object by id), made when new: not run
 * by this master, not known live, nothing known held. */
static json_t *
hub_entry(json_t *hubs, const char *id)
{
    json_t *h = json_object_get(hubs, id);
    if (h != NULL)
        return h;
    h = json_pack("{s:s,s:s,s:b,s:n,s:n,s:n,s:n,s:n,s:o,s:o}", "id", id, "peer", "-", "live", 0,
                  "age_ms", "instance", "alias", "redis", "agents", "routes", json_array(),
                  "seen_by", json_array());
    json_object_set_new(hubs, id, h);
    return h;
}

/* What the hub state <st> of instance <in> tells: its own hub (agents, routes)
 * and the live hubs it sees (their age, kept the smallest of all views). */
static void
add_own(json_t *hubs, const pn_inst_t *in, json_t *st, json_t *c)
{
    const char *id = json_string_value(json_object_get(c, "id"));
    json_t *me = hub_entry(hubs, id), *x;
    size_t i;
    json_object_set(me, "peer", json_object_get(c, "peer"));
    json_object_set_new(me, "instance", json_string(in->id));
    json_object_set_new(me, "alias", in->alias ? json_string(in->alias) : json_null());
    json_object_set(me, "redis", json_object_get(c, "redis"));
    json_t *agents = json_array(), *routes = json_object_get(me, "routes");
    json_array_clear(routes);
    json_array_foreach(json_object_get(st, "clients"), i, x)
        json_array_append_new(agents, json_pack("{s:O,s:O,s:O}", "id", json_object_get(x, "id"),
                                                "account", json_object_get(x, "account"),
                                                "peer", json_object_get(x, "peer")));
    json_object_set_new(me, "agents", agents);
    json_array_foreach(json_object_get(st, "routes"), i, x) {
        char key[512];
        snprintf(key, sizeof(key), "%s:%s", json_string_value(json_object_get(x, "type")),
                 json_string_value(json_object_get(x, "key")));
        json_array_append_new(routes, json_pack("{s:s,s:O,s:b}", "route", key, "account",
                                                json_object_get(x, "account"), "held",
                                                json_integer_value(json_object_get(x, "members")) == 0));
    }
    json_array_foreach(json_object_get(c, "hubs"), i, x) {
        json_t *h = hub_entry(hubs, json_string_value(json_object_get(x, "id")));
        json_t *age = json_object_get(x, "age_ms"), *was = json_object_get(h, "age_ms");
        if (strcmp(json_string_value(json_object_get(h, "peer")), "-") == 0)
            json_object_set(h, "peer", json_object_get(x, "peer"));
        json_object_set_new(h, "live", json_true());
        if (!json_is_integer(was) || json_integer_value(age) < json_integer_value(was))
            json_object_set(h, "age_ms", age);
        json_array_append_new(json_object_get(h, "seen_by"), json_string(id));
    }
}

/* The other hubs' routes as <c> lists them, under the hubs this master does
 * not run (those it runs tell their own); each route once. */
static void
add_remote(json_t *hubs, json_t *c, json_t *seen)
{
    json_t *x;
    size_t i;
    json_array_foreach(json_object_get(c, "remote"), i, x) {
        const char *route = json_string_value(json_object_get(x, "route"));
        json_t *h = hub_entry(hubs, json_string_value(json_object_get(x, "hub")));
        if (!json_is_null(json_object_get(h, "instance")) || json_object_get(seen, route) != NULL)
            continue;
        json_object_set_new(seen, route, json_true());
        json_array_append_new(json_object_get(h, "routes"),
                              json_pack("{s:s,s:O,s:O}", "route", route, "account",
                                        json_object_get(x, "account"), "held",
                                        json_object_get(x, "held")));
    }
}

static int
by_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *
pn_clview_json(pn_super_t *s)
{
    json_t *hubs = json_object(), *seen = json_object();
    pn_list_t *head = pn_super_list(s), *it;
    int64_t newest = 0;
    size_t n = 0;
    /* First the hubs this master runs (so that the others' lists do not
     * speak for them), then the routes of the hubs it does not. */
    for (int pass = 0; pass < 2; pass++)
        for (it = head->next; it != head; it = it->next) {
            pn_inst_t *in = pn_container_of(it, pn_inst_t, node);
            json_t *c = in->hub != NULL ? json_object_get(in->hub, "cluster") : NULL;
            if (!pn_inst_is_hub(in) || c == NULL)
                continue;
            if (pass == 0) {
                add_own(hubs, in, in->hub, c);
                n++;
                newest = in->hub_updated > newest ? in->hub_updated : newest;
            } else {
                add_remote(hubs, c, seen);
            }
        }
    json_decref(seen);
    size_t nh = json_object_size(hubs), k = 0;
    const char **ids = xcalloc((nh ? nh : 1) * sizeof(*ids));
    const char *id;
    json_t *h;
    json_object_foreach(hubs, id, h)
        ids[k++] = id;
    qsort(ids, nh, sizeof(*ids), by_id);
    json_t *list = json_array();
    for (k = 0; k < nh; k++)
        json_array_append(list, json_object_get(hubs, ids[k]));
    free(ids);
    json_decref(hubs);
    char at[PN_TIME_LEN];
    return json_pack("{s:o,s:I,s:o}", "hubs", list, "instances", (json_int_t)n, "updated",
                     n ? json_string(pn_time_rfc3339(newest, at)) : json_null());
}
