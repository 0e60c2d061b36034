/* master/super.h: the instances and the child processes that run them.
 *
 * Each instance runs as `<exe> <url>` (the master's own binary; forked from a
 * zygote, master/zygote.h, or exec'd) in a child of its own process group, with PR_SET_PDEATHSIG, its stdout and stderr on one
 * pipe read line by line from the loop: CHECK_POINT lines move the counters,
 * a hub's HUB_STATE lines replace its hub state (master/hubstate.h; never
 * logged), other lines go to a 200-line ring and a `log` notification. An
 * instance
 * that exits on its own is started again after a backoff (master/backoff.h)
 * when its restart flag says so. Stop: SIGTERM to the group, SIGKILL once its
 * drain (POSTERN_SHUTDOWN_TIMEOUT) and 2 s more have passed (at least 5 s). Children are reaped on SIGCHLD; a dead or deleted instance's child
 * is still reaped (the supervisor owns every pn_proc).
 *
 * The supervisor owns the instances and writes every change of their
 * configuration to the store at once; the counters are written by
 * pn_super_save() (every report interval and at shutdown). */
#ifndef PN_MASTER_SUPER_H
#define PN_MASTER_SUPER_H

#include "core/ev.h"
#include "core/list.h"
#include "master/inst.h"
#include "master/store.h"

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>


/** Make a supervisor on <loop> over <store> (both borrowed) running <exe>
 *  (copied) for each instance. Never NULL. */
pn_super_t *pn_super_new(ev_loop_t *loop, pn_store_t *store, const char *exe,
                         pn_super_notify_cb notify, void *ctx);
/** The delay before the first restart of an instance that exited on its own
 *  (POSTERN_SERVICE_COOLDOWN; master/backoff.h), 1 s unless set. */
void pn_super_set_cooldown(pn_super_t *s, uint64_t ms);
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
/** Stop <in> (desired = stopped): SIGTERM, SIGKILL after the drain + 2 s. */
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

/** The child's process id while it runs, else 0. */
pid_t pn_inst_pid(const pn_inst_t *in);

/** Save every instance's counters in one transaction. */
void pn_super_save(pn_super_t *s);
/** SIGHUP to every running child (not those being stopped): each reloads as
 *  its mode does (docs/usage.md "Exit codes and signals"). Returns how many
 *  were told. */
size_t pn_super_reload(pn_super_t *s);
/** SIGHUP to the running child of <in> (not one being stopped): 1 when sent. */
int pn_super_hup(pn_inst_t *in);
/** Stop every child (SIGTERM, SIGKILL after the drain + 2 s) without changing what is
 *  desired, and call <done>(<ctx>) from the loop once all are reaped. */
void pn_super_shutdown(pn_super_t *s, void (*done)(void *ctx), void *ctx);

#endif
