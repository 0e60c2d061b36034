/* master/relay_m.c: the manager's own relay entrance (docs/master.md "Manager"):
 * a proxy:// entrance on this master whose via= names the relay tunnels of the
 * nodes whose push and pull status are both `available`; a node that stops being
 * available leaves the list, one coming back rejoins. It is applied in-process
 * through a second node agent (its own tag, users file and version), so that it
 * never touches what a remote manager gave this master as a node. The users'
 * bytes counted there are added to their usage like a node's. */
#include "master/relay_m.h"
#include "conf/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "master/paths.h"
#include "master/view.h"
#include "conf/hubjson.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* "key@address:port" of each relay tunnel (server://, egress=1) of the available
 * nodes, joined by ','; a new string, "" when none. */
static char *
via_list(pn_manager_t *m)
{
    size_t cap = 256, len = 0;
    char *out = xcalloc(cap);
    for (pn_list_t *l = m->nodes.next; l != &m->nodes; l = l->next) {
        pn_mnode_t *n = pn_container_of(l, pn_mnode_t, link);
        size_t i;
        json_t *t;
        if (n->push != PN_MST_AVAILABLE || n->pull != PN_MST_AVAILABLE)
            continue;
        json_array_foreach(n->tunnels, i, t) {
            char err[PN_ERR_LEN], one[600];
            pn_config_t cfg;
            const char *url = json_string_value(json_object_get(t, "url"));
            if (url == NULL || pn_config_parse(url, &cfg, err) != PN_OK)
                continue;
            int ok = cfg.role == PN_ROLE_SERVER && cfg.egress && cfg.key != NULL && cfg.mode != 1;
            int w = ok ? snprintf(one, sizeof(one), "%s%s@%s%s%s:%s", len ? "," : "", cfg.key,
                                  strchr(n->address, ':') ? "[" : "", n->address,
                                  strchr(n->address, ':') ? "]" : "", cfg.port) : 0;
            pn_config_clear(&cfg);
            if (w <= 0 || (size_t)w >= sizeof(one))
                continue;
            while (len + (size_t)w + 1 > cap)
                out = xrealloc(out, cap *= 2);
            memcpy(out + len, one, (size_t)w + 1);
            len += (size_t)w;
        }
    }
    return out;
}

void
pn_relay_update(pn_manager_t *m)
{
    char err[PN_ERR_LEN], field[64], at[PN_TIME_LEN];
    int status;
    if (m->local_apply == NULL)
        return;
    char *via = m->relay_url ? via_list(m) : xstrdup("");
    json_t *ents = json_array();
    if (m->relay_url != NULL && *via) {
        size_t n = strlen(m->relay_url) + strlen(via) + 8;
        char *url = xmalloc(n);
        snprintf(url, n, "%s%svia=%s", m->relay_url, strchr(m->relay_url, '?') ? "&" : "?", via);
        json_array_append_new(ents, json_pack("{s:s, s:s}", "name", "relay", "url", url));
        free(url);
    }
    pn_paths_local_items(m, ents);      /* the relay and reverse paths' entrances */
    char *sig = json_dumps(ents, JSON_COMPACT);
    if (m->relay_sig != NULL && strcmp(sig, m->relay_sig) == 0 && m->relay_users == m->version) {
        pn_conf_wipe_free(sig);
        json_decref(ents);
        free(via);
        return;
    }
    json_t *o = json_pack("{s:I, s:s, s:s, s:o, s:o}", "version", (json_int_t)++m->relay_version,
                          "updated_at", pn_time_rfc3339((int64_t)time(NULL), at), "updated_by",
                          "relay", "entrances", ents, "users", pn_manager_users_json(m));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    json_t *res = m->local_apply(m->local_ctx, text, strlen(text), &status, err, field);
    pn_conf_wipe_free(text);
    if (res == NULL) {
        log_warn("manager: the relay entrance was not applied: %s", err);
        pn_conf_wipe_free(sig);
        free(via);
        return;
    }
    json_decref(res);
    if (m->relay_via == NULL || strcmp(via, m->relay_via) != 0)
        log_info("manager: relay entrance through %s", *via ? via : "no node (none available)");
    free(m->relay_via);
    m->relay_via = via;
    pn_conf_wipe_free(m->relay_sig);
    m->relay_sig = sig;
    m->relay_users = m->version;
}

void
pn_relay_count(pn_manager_t *m)
{
    const char *name;
    json_t *a;
    if (m->local_users == NULL)
        return;
    json_t *sum = m->local_users(m->local_ctx);
    json_object_foreach(sum, name, a) {
        json_t *i = json_object_get(m->uindex, name);
        if (i == NULL)
            continue;
        size_t k = (size_t)json_integer_value(i);
        uint64_t total = (uint64_t)json_integer_value(json_array_get(a, 0)) +
                         (uint64_t)json_integer_value(json_array_get(a, 1));
        m->local_seen = pn_mgr_grow(m->local_seen, &m->nlocal, k, sizeof(*m->local_seen), 0);
        /* The totals of this master's entrances never go back while it runs (an
         * entrance deleted takes its share with it: nothing is counted then). */
        if (total > m->local_seen[k]) {
            pn_muser_t *u = m->users[k];
            u->usage += total - m->local_seen[k];
            u->dirty = 1;
            pn_manager_user_announce(m, u);
        }
        m->local_seen[k] = total;
    }
    json_decref(sum);
}
