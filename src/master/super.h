/* master/super.h: the instances and the child processes that run them.
 *
 * Each instance runs as `<exe> <url>` (the master's own binary) in a child of
 * its own process group, with PR_SET_PDEATHSIG, its stdout and stderr on one
 * pipe read line by line from the loop: CHECK_POINT lines move the counters,
 * a hub's HUB_STATE lines replace its hub state (master/hubstate.h; never
 * logged), other lines go to a 200-line ring and a `log` notification. An
 * instance
 * that exits on its own is started again after a backoff (master/backoff.h)
 * when its restart flag says so. Stop: SIGTERM to the group, SIGKILL 5 s
 * later. Children are reaped on SIGCHLD; a dead or deleted instance's child
 * is still reaped (the supervisor owns every pn_proc).
 *
 * The supervisor owns the instances and writes every change of their
 * configuration to the store at once; the counters are written by
 * pn_super_save() (every report interval and at shutdown). */
#ifndef PN_MASTER_SUPER_H
#define PN_MASTER_SUPER_H

#include "core/ev.h"
#include "core/list.h"
#include "master/store.h"

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
    enum pn_inst_status status;
    uint64_t restarts;          /* automatic restarts */
    char *error;                /* owned; "" when none */
    int64_t created;            /* Unix seconds */
    uint64_t base[PN_NCOUNTERS];/* bytes of earlier runs (and the saved total) */
    uint64_t cur[PN_NCOUNTERS]; /* the running child's last CHECK_POINT */
    uint64_t mark[PN_NCOUNTERS];/* <cur> when reset last zeroed the counters */
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
} pn_inst_t;

/** Called on every change of <in>; <line> only for PN_CHANGE_LOG. */
typedef void (*pn_super_notify_cb)(pn_inst_t *in, enum pn_change what, const char *line, void *ctx);

/** Make a supervisor on <loop> over <store> (both borrowed) running <exe>
 *  (copied) for each instance. Never NULL. */
pn_super_t *pn_super_new(ev_loop_t *loop, pn_store_t *store, const char *exe,
                         pn_super_notify_cb notify, void *ctx);
/** Free <s> and its instances; children must have been reaped (see
 *  pn_super_shutdown); any left are killed. NULL is a no-op. */
void pn_super_free_(pn_super_t *s);
#define pn_super_free(p) do { pn_super_free_(p); (p) = NULL; } while (0)

/** Load the stored instances and start those with restart set that were not
 *  stopped by request. PN_OK or PN_ERR (database). */
int pn_super_load(pn_super_t *s);
/** The instances, in creation order (pn_inst_t.node). Borrowed. */
pn_list_t *pn_super_list(pn_super_t *s);
/** Number of instances. */
size_t pn_super_count(const pn_super_t *s);
/** The instance <id>, or NULL. */
pn_inst_t *pn_super_find(pn_super_t *s, const char *id);

/** Make, store and start an instance of the validated <url> with <type>
 *  ("server", "client", "hub", "agent"), <alias>, <restart> and <tags> (a reference is taken;
 *  NULL for none). PN_ERR when it cannot be stored. */
pn_inst_t *pn_super_create(pn_super_t *s, const char *url, const char *type, const char *alias,
                           int restart, json_t *tags);
/** Store the configuration of <in> (alias, url, restart, tags, desired) and
 *  notify an update. */
void pn_super_commit(pn_inst_t *in);
/** Start <in> when no child runs (desired = running, backoff forgotten). */
void pn_super_start(pn_inst_t *in);
/** Stop <in> (desired = stopped): SIGTERM, SIGKILL after 5 s. */
void pn_super_stop(pn_inst_t *in);
/** Stop the child if any, then start again. */
void pn_super_restart(pn_inst_t *in);
/** Zero the byte counters of <in>. */
void pn_super_reset(pn_inst_t *in);
/** Replace the URL of <in> with the validated <url> of <type>; a running
 *  instance is restarted with it. */
void pn_super_set_url(pn_inst_t *in, const char *url, const char *type);
/** Stop <in>, forget it (store included) and free it. */
void pn_super_delete(pn_inst_t *in);

/** The byte counter <k> of <in>: saved base plus the child's since reset. */
uint64_t pn_inst_counter(const pn_inst_t *in, enum pn_counter k);
/** 1 when <in> runs a hub (its URL's scheme is hub://). */
int pn_inst_is_hub(const pn_inst_t *in);
/** The child's process id while it runs, else 0. */
pid_t pn_inst_pid(const pn_inst_t *in);
/** The name of a status: "running", "stopped", "error". */
const char *pn_inst_status_name(enum pn_inst_status st);
/** Call <cb> for each kept log line of <in>, oldest first. */
void pn_inst_logs(const pn_inst_t *in, void (*cb)(const char *line, void *ctx), void *ctx);

/** Save every instance's counters in one transaction. */
void pn_super_save(pn_super_t *s);
/** Stop every child (SIGTERM, SIGKILL after 5 s) without changing what is
 *  desired, and call <done>(<ctx>) from the loop once all are reaped. */
void pn_super_shutdown(pn_super_t *s, void (*done)(void *ctx), void *ctx);

#endif
