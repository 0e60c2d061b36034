/* master/proc.h: the supervisor's state shared by super.c (the instance table)
 * and proc.c (the child processes, their output and the notifications about
 * them); only those two files include it. */
#ifndef PN_MASTER_PROC_H
#define PN_MASTER_PROC_H

#include "core/ev.h"
#include "core/list.h"
#include "master/inst.h"
#include "master/store.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PN_ZYGOTE_LOST_MAX 5

struct pn_proc {
    pn_list_t node;             /* in pn_super.procs */
    pn_super_t *super;          /* back pointer */
    pn_inst_t *inst;            /* borrowed; NULL once the instance is gone */
    pid_t pid;
    int fd;                     /* owned: read end of the output pipe, -1 once closed */
    ev_io_t *io;                /* owned */
    ev_timer_t *kill;           /* owned: SIGKILL deadline */
    int term_sent;              /* SIGTERM sent */
    int stop_requested;         /* its end was asked for: not an error */
    uint64_t started_ms;
    size_t len;                 /* bytes in <line> */
    size_t cap;                 /* bytes at <line>: PN_INST_LINE_MAX, more for a HUB_STATE line */
    char *line;                 /* owned: the line being assembled */
    int skip;                   /* dropping the rest of a HUB_STATE line over the bound */
    char last[256];             /* last ordinary line: the error reason */
    char final[256];            /* the PN_FINAL_MARK line, if it printed one */
};

struct pn_super {
    ev_loop_t *loop;            /* borrowed */
    pn_store_t *store;          /* borrowed */
    char *exe;                  /* owned */
    pn_super_notify_cb notify;
    void *ctx;                  /* borrowed */
    pn_list_t insts;            /* pn_inst_t, owned */
    size_t ninsts;
    pn_list_t procs;            /* pn_proc_t, owned */
    ev_defer_t *sigchld;        /* owned */
    ev_defer_t *done_defer;     /* owned: runs <done> from the loop */
    int shutting_down;
    uint64_t cooldown_ms;       /* the first restart's delay (master/backoff.h) */
    struct pn_zygote *zygote;   /* owned: forks the instances, or NULL (master/zygote.h) */
    int zygote_on;              /* a zygote is wanted (POSTERN_ZYGOTE, not POSTERN_INSTANCE_EXE) */
    int zygote_lost;            /* zygotes lost so far: PN_ZYGOTE_LOST_MAX turn it off */
    ev_timer_t *watchdog;       /* owned: WATCHDOG=1 to the service manager, or NULL */
    void (*done)(void *ctx);
    void *done_ctx;             /* borrowed */
};

/** Call the supervisor's notify callback (if any) about <what> of <in>; <line>
 *  only for PN_CHANGE_LOG. */
void pn_proc_notify(pn_inst_t *in, enum pn_change what, const char *line);

/** Start <in>'s child unless it has one or the supervisor is shutting down: a
 *  pipe, then a fork of the zygote, or fork and exec of the master's binary
 *  with the URL in the environment.
 *  On failure <in> is left in PN_INST_ERROR with its error set. */
void pn_proc_start(pn_inst_t *in);

/** Ask <p> to stop: SIGTERM to its group now, SIGKILL once its drain
 *  (POSTERN_SHUTDOWN_TIMEOUT) and 2 s more have passed, at least 5 s later. */
void pn_proc_term(pn_proc_t *p);

/** Unlink and free <p> (its pipe closed); the process must be reaped already. */
void pn_proc_free(pn_proc_t *p);

/** SIGCHLD handler (ev_defer): reap every exited child of the supervisor <arg>. */
void pn_proc_reap_all(void *arg);

/** Timer callbacks of an instance (<arg>): the backoff restart, and the
 *  PN_CHANGE_HUB notification held back by PN_INST_HUB_NOTE_MS. */
long pn_proc_on_restart(ev_timer_t *t, void *arg);
long pn_proc_on_hub_timer(ev_timer_t *t, void *arg);

#endif
