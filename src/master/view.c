/* master/view.c: the Instance object of docs/master.md. */
#include "master/view.h"

#include <stdio.h>
#include <time.h>

const char *
pn_time_rfc3339(int64_t t, char out[PN_TIME_LEN])
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(out, PN_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

json_t *
pn_inst_health_json(const pn_inst_t *in)
{
    char since[PN_TIME_LEN];
    const char *reason;
    enum pn_health h = pn_inst_health(in, &reason);
    json_t *o = json_object();
    json_object_set_new(o, "state", json_string(pn_health_name(h)));
    /* Reasons are printable ASCII (master/health.h) or the master's own. */
    json_t *r = json_string(reason);
    json_object_set_new(o, "reason", r ? r : json_string(""));
    json_object_set_new(o, "since", in->health_since != 0
                                        ? json_string(pn_time_rfc3339(in->health_since, since))
                                        : json_null());
    return o;
}

json_t *
pn_inst_json(const pn_inst_t *in)
{
    char created[PN_TIME_LEN];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(in->id));
    json_object_set_new(o, "alias", json_string(in->alias));
    json_object_set_new(o, "type", json_string(in->type));
    json_object_set_new(o, "status", json_string(pn_inst_status_name(in->status)));
    json_object_set_new(o, "url", json_string(in->url));
    json_object_set_new(o, "restart", json_boolean(in->restart));
    json_object_set_new(o, "pid", json_integer((json_int_t)pn_inst_pid(in)));
    json_object_set_new(o, "restarts", json_integer((json_int_t)in->restarts));
    json_object_set_new(o, "error", json_string(in->error));
    json_object_set_new(o, "tcprx", json_integer((json_int_t)pn_inst_counter(in, PN_TCPRX)));
    json_object_set_new(o, "tcptx", json_integer((json_int_t)pn_inst_counter(in, PN_TCPTX)));
    json_object_set_new(o, "udprx", json_integer((json_int_t)pn_inst_counter(in, PN_UDPRX)));
    json_object_set_new(o, "udptx", json_integer((json_int_t)pn_inst_counter(in, PN_UDPTX)));
    json_object_set_new(o, "tcps", json_integer((json_int_t)in->tcps));
    json_object_set_new(o, "udps", json_integer((json_int_t)in->udps));
    json_object_set_new(o, "pool", json_integer((json_int_t)in->pool));
    json_object_set_new(o, "ping", json_integer((json_int_t)in->ping));
    json_t *meta = json_object();
    json_object_set(meta, "tags", in->tags);
    json_object_set_new(o, "meta", meta);
    json_object_set_new(o, "created", json_string(pn_time_rfc3339(in->created, created)));
    json_object_set_new(o, "health", pn_inst_health_json(in));
    return o;
}
