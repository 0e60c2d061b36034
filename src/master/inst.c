/* master/inst.c: the accessors of master/inst.h, which only read an instance. */
#include "master/inst.h"

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

void
pn_inst_logs(const pn_inst_t *in, void (*cb)(const char *line, void *ctx), void *ctx)
{
    for (unsigned i = 0; i < in->log_n; i++)
        cb(in->logs[(in->log_first + i) % PN_INST_LOGS], ctx);
}
