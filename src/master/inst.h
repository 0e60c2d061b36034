/* master/inst.h: an instance as the supervisor keeps it (pn_inst_t), its
 * status, counters and change kinds, and the accessors that only read it.
 * The supervisor itself is master/super.h, which includes this header. */
#ifndef PN_MASTER_INST_H
#define PN_MASTER_INST_H

#include "core/ev.h"
#include "core/list.h"
#include "master/health.h"

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#define PN_INST_LOGS 200            /* lines kept per instance */
#define PN_INST_LINE_MAX 2048       /* longer lines are cut, except a hub's HUB_STATE lines:
                                       their buffer grows up to PN_HUBSTATE_LINE_MAX */
#define PN_INST_HUB_NOTE_MS 100     /* at most one PN_CHANGE_HUB per instance this often (one
                                       held back is sent when the time is up) */
#define PN_INST_LOG_RATE 100        /* log notifications per instance per second */
#define PN_INST_ALIAS_MAX 64
#define PN_INST_URL_MAX 4096

enum pn_inst_status {
    PN_INST_STOPPED = 0,        /* asked to stop, or never started */
    PN_INST_RUNNING,            /* the process is alive */
    PN_INST_ERROR,              /* it exited on its own */
};

enum pn_counter { PN_TCPRX = 0, PN_TCPTX, PN_UDPRX, PN_UDPTX, PN_NCOUNTERS };

enum pn_change {
    PN_CHANGE_CREATE = 0,
    PN_CHANGE_UPDATE,
    PN_CHANGE_DELETE,           /* the instance is still readable during the call */
    PN_CHANGE_LOG,              /* <line> is what it printed */
    PN_CHANGE_HUB,              /* a hub's state was replaced or cleared (pn_inst_t.hub) */
    PN_CHANGE_STATE,            /* its health (pn_inst_health) changed; follows the
                                   PN_CHANGE_CREATE or _UPDATE that carries it */
};

typedef struct pn_super pn_super_t;
typedef struct pn_proc pn_proc_t;

typedef struct pn_inst {
    pn_list_t node;             /* in pn_super.insts, creation order */
    pn_super_t *super;          /* back pointer */
    char id[9];                 /* 8 lowercase hex characters */
    char *alias;                /* owned */
    char *url;                  /* owned; may hold a tunnel key: never logged */
    const char *type;           /* static: "server", "client", "hub" or "agent" */
    json_t *tags;               /* owned reference: an object of strings */
    int restart;                /* the policy flag */
    int desired;                /* 1 running, 0 stopped by request */
    int halted;                 /* exited 2, not restarted (stored) until started again */
    enum pn_inst_status status;
    uint64_t restarts;          /* automatic restarts */
    char *error;                /* owned; "" when none */
    int64_t created;            /* Unix seconds */
    uint64_t base[PN_NCOUNTERS];/* bytes of earlier runs (and the saved total) */
    uint64_t cur[PN_NCOUNTERS]; /* the running child's last CHECK_POINT */
    uint64_t mark[PN_NCOUNTERS];/* <cur> when reset last zeroed the counters */
    uint64_t saved[PN_NCOUNTERS + 1]; /* counters and restarts as last saved */
    uint64_t tcps, udps, pool, ping;    /* last CHECK_POINT's gauges */
    char *logs[PN_INST_LOGS];   /* owned ring of lines */
    unsigned log_first, log_n;
    pn_proc_t *proc;            /* borrowed (owned by the supervisor): the child, or NULL */
    ev_timer_t *restart_timer;  /* owned: the backoff */
    uint64_t backoff_ms;        /* last backoff delay, 0 = none yet */
    int start_after_stop;       /* restart or new URL: start once the child is gone */
    uint64_t log_win_ms;        /* start of the current log-rate window */
    unsigned log_win_n;         /* notifications in it */
    uint64_t log_held;          /* lines not notified because of the rate */
    json_t *hub;                /* owned: a hub's last HUB_STATE (normalised), NULL when
                                   none yet or its child is gone */
    int64_t hub_updated;        /* Unix seconds of <hub>, 0 when NULL */
    uint64_t hub_note_ms;       /* last PN_CHANGE_HUB notification */
    ev_timer_t *hub_timer;      /* owned: the notification held back by the rate */
    enum pn_health health;      /* what the running child said last (STATE lines),
                                   PN_HEALTH_CONNECTING from its start; at its exit
                                   PN_HEALTH_ERROR with the reason, or as it was */
    char health_reason[PN_HEALTH_REASON_MAX];
    enum pn_health shown;       /* pn_inst_health() when last notified */
    char shown_reason[PN_HEALTH_REASON_MAX];
    int64_t health_since;       /* Unix seconds <shown> began; 0 before the first */
    uint64_t hist_last[PN_NCOUNTERS]; /* pn_inst_counter() at the last history sample */
    int hist_seen;              /* <hist_last> is set (master/history.c) */
    json_t *pusers;             /* owned: a proxy's PROXY_USER counters of the running child
                                   (master/puser.h), NULL before the first */
    json_t *pusers_base;        /* owned: those of its earlier children, summed, or NULL */
} pn_inst_t;

/** Called on every change of <in>; <line> only for PN_CHANGE_LOG. */
typedef void (*pn_super_notify_cb)(pn_inst_t *in, enum pn_change what, const char *line, void *ctx);

/** The byte counter <k> of <in>: saved base plus the child's since reset. */
uint64_t pn_inst_counter(const pn_inst_t *in, enum pn_counter k);
/** 1 when <in> runs a hub (its URL's scheme is hub://). */
int pn_inst_is_hub(const pn_inst_t *in);
/** The name of a status: "running", "stopped", "error". */
const char *pn_inst_status_name(enum pn_inst_status st);
/** The health of <in> as the API shows it: the child's own word while it runs,
 *  PN_HEALTH_STOPPED when stopped, PN_HEALTH_ERROR when it exited on its own;
 *  its reason (borrowed from <in>) in *<reason>. */
enum pn_health pn_inst_health(const pn_inst_t *in, const char **reason);
/** Remember pn_inst_health() as shown at <now> (Unix seconds; <health_since>
 *  moves when the state changes); 1 when state or reason differ from the last
 *  shown (or nothing was shown yet), else 0. */
int pn_inst_health_update(pn_inst_t *in, int64_t now);
/** Call <cb> for each kept log line of <in>, oldest first. */
void pn_inst_logs(const pn_inst_t *in, void (*cb)(const char *line, void *ctx), void *ctx);

#endif
