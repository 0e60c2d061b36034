/* master/inst.c: the accessors of master/inst.h, which only read an instance. */
#include "master/inst.h"

#include <stdio.h>
#include <string.h>

uint64_t
pn_inst_counter(const pn_inst_t *in, enum pn_counter k)
{
    return in->base[k] + (in->cur[k] - in->mark[k]);
}

int
pn_inst_is_hub(const pn_inst_t *in)
{
    return strcmp(in->type, "hub") == 0;
}

const char *
pn_inst_status_name(enum pn_inst_status st)
{
    switch (st) {
    case PN_INST_RUNNING: return "running";
    case PN_INST_ERROR: return "error";
    default: return "stopped";
    }
}

enum pn_health
pn_inst_health(const pn_inst_t *in, const char **reason)
{
    switch (in->status) {
    case PN_INST_RUNNING:
        *reason = in->health_reason;
        return in->health == PN_HEALTH_STOPPED ? PN_HEALTH_CONNECTING : in->health;
    case PN_INST_ERROR:
        *reason = in->health == PN_HEALTH_ERROR && in->health_reason[0] ? in->health_reason
                                                                        : in->error ? in->error : "";
        return PN_HEALTH_ERROR;
    default:
        *reason = "";
        return PN_HEALTH_STOPPED;
    }
}

int
pn_inst_health_update(pn_inst_t *in, int64_t now)
{
    const char *reason;
    enum pn_health h = pn_inst_health(in, &reason);
    if (in->health_since != 0 && h == in->shown && strcmp(reason, in->shown_reason) == 0)
        return 0;
    if (in->health_since == 0 || h != in->shown)
        in->health_since = now;
    in->shown = h;
    snprintf(in->shown_reason, sizeof(in->shown_reason), "%s", reason);
    return 1;
}

void
pn_inst_logs(const pn_inst_t *in, void (*cb)(const char *line, void *ctx), void *ctx)
{
    for (unsigned i = 0; i < in->log_n; i++)
        cb(in->logs[(in->log_first + i) % PN_INST_LOGS], ctx);
}
