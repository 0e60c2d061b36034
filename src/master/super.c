/* master/super.c: the instance table and the supervisor's API (see
 * master/super.h): create, load, start, stop, restart, delete, save and shut
 * down. The child processes are run and read by proc.c. */
#include "master/super.h"
#include "core/log.h"
#include "core/mem.h"
#include "master/backoff.h"
#include "master/proc.h"
#include "master/zygote.h"
#include "core/notify.h"
#include "tls/tls.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

static void
store_row(const pn_inst_t *in, pn_store_row_t *r, char **tags)
{
    *tags = json_dumps(in->tags, JSON_COMPACT);
    memset(r, 0, sizeof(*r));
    r->id = in->id;
    r->alias = in->alias;
    r->url = in->url;
    r->tags = *tags ? *tags : "{}";
    r->restart = in->restart;
    r->desired = in->desired;
    r->created = in->created;
    r->restarts = in->restarts;
    for (int k = 0; k < PN_NCOUNTERS; k++)
        r->counters[k] = pn_inst_counter(in, (enum pn_counter)k);
}

static void
persist(pn_inst_t *in)
{
    pn_store_row_t r;
    char *tags;
    store_row(in, &r, &tags);
    if (pn_store_put(in->super->store, &r) != PN_OK)
        log_error("master: instance %s: cannot store its configuration", in->id);
    free(tags);
}

static void
on_done(void *arg)
{
    pn_super_t *s = arg;
    if (s->done != NULL) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_ctx);
    }
}

pid_t
pn_inst_pid(const pn_inst_t *in)
{
    return in->proc != NULL ? in->proc->pid : 0;
}

/* ---- the supervisor ------------------------------------------------------ */

/* WATCHDOG=1 at half the interval the service manager asked for (WatchdogSec=
 * of the unit): the master's loop runs. */
static long
on_watchdog(ev_timer_t *t, void *arg)
{
    pn_notify("WATCHDOG=1");
    uint64_t wd = pn_notify_watchdog_ms();
    return (long)(wd / 2 ? wd / 2 : 1);
}

pn_super_t *
pn_super_new(ev_loop_t *loop, pn_store_t *store, const char *exe, pn_super_notify_cb cb,
             void *ctx)
{
    pn_super_t *s = xcalloc(sizeof(*s));
    s->loop = loop;
    s->store = store;
    s->exe = xstrdup(exe);
    s->notify = cb;
    s->ctx = ctx;
    pn_list_init(&s->insts);
    pn_list_init(&s->procs);
    s->sigchld = ev_signal_new(loop, SIGCHLD, pn_proc_reap_all, s);
    s->done_defer = ev_defer_new(loop, on_done, s);
    s->cooldown_ms = PN_BACKOFF_FIRST_MS;
    /* Instances forked by a zygote (master/zygote.h) unless POSTERN_ZYGOTE=0
     * or another binary runs them (POSTERN_INSTANCE_EXE). As a subreaper the
     * master adopts them when the zygote's intermediate exits. */
    const char *zy = getenv("POSTERN_ZYGOTE"), *other = getenv("POSTERN_INSTANCE_EXE");
    s->zygote_on = !(zy != NULL && strcmp(zy, "0") == 0) && !(other != NULL && *other != '\0');
    if (s->zygote_on && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        s->zygote_on = 0;
    uint64_t wd = pn_notify_watchdog_ms();
    if (wd > 0) {
        s->watchdog = ev_timer_new(loop, on_watchdog, s);
        ev_timer_arm(s->watchdog, wd / 2 ? wd / 2 : 1);
    }
    return s;
}

void
pn_super_set_cooldown(pn_super_t *s, uint64_t ms)
{
    s->cooldown_ms = ms;
}

static void
inst_free(pn_inst_t *in)
{
    pn_list_del(&in->node);
    ev_timer_free(in->restart_timer);
    ev_timer_free(in->hub_timer);
    for (unsigned i = 0; i < in->log_n; i++)
        free(in->logs[(in->log_first + i) % PN_INST_LOGS]);
    json_decref(in->tags);
    json_decref(in->hub);
    json_decref(in->pusers);
    json_decref(in->pusers_base);
    free(in->alias);
    free(in->url);
    free(in->error);
    free(in);
}

void
pn_super_free_(pn_super_t *s)
{
    if (s == NULL)
        return;
    while (!pn_list_empty(&s->procs)) {
        pn_proc_t *p = pn_container_of(s->procs.next, pn_proc_t, node);
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        if (p->inst != NULL)
            p->inst->proc = NULL;
        pn_proc_free(p);
    }
    pn_zygote_free(s->zygote);
    while (!pn_list_empty(&s->insts))
        inst_free(pn_container_of(s->insts.next, pn_inst_t, node));
    ev_defer_free(s->sigchld);
    ev_defer_free(s->done_defer);
    ev_timer_free(s->watchdog);
    free(s->exe);
    free(s);
}

static pn_inst_t *
inst_new(pn_super_t *s, const char *id)
{
    pn_inst_t *in = xcalloc(sizeof(*in));
    in->super = s;
    snprintf(in->id, sizeof(in->id), "%s", id);
    in->error = xstrdup("");
    in->restart_timer = ev_timer_new(s->loop, pn_proc_on_restart, in);
    in->hub_timer = ev_timer_new(s->loop, pn_proc_on_hub_timer, in);
    pn_list_add(&s->insts, &in->node);
    s->ninsts++;
    return in;
}

static const char *
url_type(const char *url)
{
    if (strncmp(url, "server:", 7) == 0)
        return "server";
    if (strncmp(url, "hub:", 4) == 0)
        return "hub";
    if (strncmp(url, "agent:", 6) == 0)
        return "agent";
    if (strncmp(url, "proxy:", 6) == 0)
        return "proxy";
    return "client";
}

static void
on_load_row(const pn_store_row_t *r, void *ctx)
{
    pn_super_t *s = ctx;
    pn_inst_t *in = inst_new(s, r->id);
    json_error_t jerr;
    in->alias = xstrdup(r->alias);
    in->url = xstrdup(r->url);
    in->type = url_type(r->url);
    in->tags = json_loads(r->tags, 0, &jerr);
    if (!json_is_object(in->tags)) {
        json_decref(in->tags);
        in->tags = json_object();
    }
    in->restart = r->restart;
    in->desired = r->desired;
    in->halted = r->halted;
    in->created = r->created;
    in->restarts = r->restarts;
    for (int k = 0; k < PN_NCOUNTERS; k++)
        in->base[k] = in->saved[k] = r->counters[k];
    in->saved[PN_NCOUNTERS] = r->restarts;
}

int
pn_super_load(pn_super_t *s)
{
    if (pn_store_load(s->store, on_load_row, s) != PN_OK)
        return PN_ERR;
    pn_list_t *n;
    for (n = s->insts.next; n != &s->insts; n = n->next) {
        pn_inst_t *in = pn_container_of(n, pn_inst_t, node);
        if (in->desired && in->restart && !in->halted) {
            pn_proc_start(in);
        } else if (in->halted) {
            in->status = PN_INST_ERROR;
            free(in->error);
            in->error = xstrdup("exited with code 2 (bad URL or file) before the master "
                               "restarted: not restarted until started");
        }
        pn_inst_health_update(in, (int64_t)time(NULL));
    }
    log_info("master: %zu instances loaded", s->ninsts);
    return PN_OK;
}

pn_list_t *
pn_super_list(pn_super_t *s)
{
    return &s->insts;
}

size_t
pn_super_count(const pn_super_t *s)
{
    return s->ninsts;
}

pn_inst_t *
pn_super_find(pn_super_t *s, const char *id)
{
    pn_list_t *n;
    for (n = s->insts.next; n != &s->insts; n = n->next) {
        pn_inst_t *in = pn_container_of(n, pn_inst_t, node);
        if (strcmp(in->id, id) == 0)
            return in;
    }
    return NULL;
}

pn_inst_t *
pn_super_create(pn_super_t *s, const char *url, const char *type, const char *alias, int restart,
                json_t *tags)
{
    char id[9];
    do {
        uint8_t r[4];
        if (pn_random(r, sizeof(r)) != PN_OK) {
            log_error("master: no random bytes for an instance id");
            return NULL;
        }
        snprintf(id, sizeof(id), "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
    } while (pn_super_find(s, id) != NULL);

    pn_inst_t *in = inst_new(s, id);
    in->alias = xstrdup(alias ? alias : "");
    in->url = xstrdup(url);
    in->type = type;
    in->tags = tags ? json_incref(tags) : json_object();
    in->restart = restart;
    in->desired = 1;
    in->created = (int64_t)time(NULL);
    pn_store_row_t row;
    char *tagtext;
    store_row(in, &row, &tagtext);
    int rc = pn_store_put(s->store, &row);
    free(tagtext);
    if (rc != PN_OK) {
        s->ninsts--;
        inst_free(in);
        return NULL;
    }
    log_info("master: instance %s created", in->id);
    pn_proc_start(in);
    pn_proc_notify(in, PN_CHANGE_CREATE, NULL);
    return in;
}

void
pn_super_commit(pn_inst_t *in)
{
    persist(in);
    pn_proc_notify(in, PN_CHANGE_UPDATE, NULL);
}

/* Started by request: an instance halted by exit 2 is not any more. */
static void
unhalt(pn_inst_t *in)
{
    if (in->halted && pn_store_set_halted(in->super->store, in->id, 0) == PN_OK)
        in->halted = 0;
}

void
pn_super_start(pn_inst_t *in)
{
    unhalt(in);
    in->desired = 1;
    in->backoff_ms = 0;
    if (in->proc == NULL)
        pn_proc_start(in);
    else if (in->proc->stop_requested)
        in->start_after_stop = 1;   /* start again once the stopping child is gone */
    persist(in);
    pn_proc_notify(in, PN_CHANGE_UPDATE, NULL);
}

void
pn_super_stop(pn_inst_t *in)
{
    in->desired = 0;
    in->start_after_stop = 0;
    ev_timer_disarm(in->restart_timer);
    if (in->proc != NULL)
        pn_proc_term(in->proc);
    in->status = PN_INST_STOPPED;
    persist(in);
    pn_proc_notify(in, PN_CHANGE_UPDATE, NULL);
}

void
pn_super_restart(pn_inst_t *in)
{
    unhalt(in);
    in->desired = 1;
    in->backoff_ms = 0;
    ev_timer_disarm(in->restart_timer);
    if (in->proc != NULL) {
        in->start_after_stop = 1;
        pn_proc_term(in->proc);
    } else {
        pn_proc_start(in);
    }
    persist(in);
    pn_proc_notify(in, PN_CHANGE_UPDATE, NULL);
}

void
pn_super_reset(pn_inst_t *in)
{
    for (int k = 0; k < PN_NCOUNTERS; k++) {
        in->base[k] = 0;
        in->mark[k] = in->cur[k];
    }
    persist(in);
    pn_proc_notify(in, PN_CHANGE_UPDATE, NULL);
}

void
pn_super_set_url(pn_inst_t *in, const char *url, const char *type)
{
    free(in->url);
    in->url = xstrdup(url);
    in->type = type;
    if (in->proc != NULL && !in->proc->stop_requested) {
        in->start_after_stop = 1;
        pn_proc_term(in->proc);
    }
    persist(in);
    pn_proc_notify(in, PN_CHANGE_UPDATE, NULL);
}

void
pn_super_delete(pn_inst_t *in)
{
    pn_super_t *s = in->super;
    if (in->proc != NULL) {
        pn_proc_term(in->proc);
        in->proc->inst = NULL;      /* reaped later, on its own */
        in->proc = NULL;
    }
    if (pn_store_delete(s->store, in->id) != PN_OK)
        log_error("master: instance %s: cannot delete it from the database", in->id);
    log_info("master: instance %s deleted", in->id);
    pn_proc_notify(in, PN_CHANGE_DELETE, NULL);
    s->ninsts--;
    inst_free(in);
}

/* Only the rows whose counters or restarts moved since the last save are
 * written: a thousand idle instances cost no transaction each interval. */
void
pn_super_save(pn_super_t *s)
{
    size_t n = 0;
    pn_store_row_t *rows = xcalloc((s->ninsts ? s->ninsts : 1) * sizeof(*rows));
    pn_inst_t **ins = xcalloc((s->ninsts ? s->ninsts : 1) * sizeof(*ins));
    pn_list_t *it;
    for (it = s->insts.next; it != &s->insts; it = it->next) {
        pn_inst_t *in = pn_container_of(it, pn_inst_t, node);
        int moved = in->restarts != in->saved[PN_NCOUNTERS];
        rows[n].id = in->id;
        rows[n].restarts = in->restarts;
        for (int k = 0; k < PN_NCOUNTERS; k++) {
            rows[n].counters[k] = pn_inst_counter(in, (enum pn_counter)k);
            moved |= rows[n].counters[k] != in->saved[k];
        }
        if (moved)
            ins[n++] = in;
    }
    if (n > 0 && pn_store_save_counters(s->store, rows, n) != PN_OK) {
        log_error("master: cannot save the counters");
    } else {
        for (size_t i = 0; i < n; i++) {
            memcpy(ins[i]->saved, rows[i].counters, sizeof(rows[i].counters));
            ins[i]->saved[PN_NCOUNTERS] = rows[i].restarts;
        }
    }
    free(ins);
    free(rows);
}

size_t
pn_super_reload(pn_super_t *s)
{
    size_t n = 0;
    if (s->shutting_down)
        return 0;
    for (pn_list_t *l = s->procs.next; l != &s->procs; l = l->next) {
        pn_proc_t *p = pn_container_of(l, pn_proc_t, node);
        /* Only the instance itself: a stopping one is left to its stop. */
        if (p->term_sent || p->pid <= 0)
            continue;
        if (kill(p->pid, SIGHUP) == 0)
            n++;
    }
    return n;
}

int
pn_super_hup(pn_inst_t *in)
{
    pn_proc_t *p = in->proc;
    if (in->super->shutting_down || p == NULL || p->term_sent || p->pid <= 0)
        return 0;
    return kill(p->pid, SIGHUP) == 0;
}

void
pn_super_shutdown(pn_super_t *s, void (*done)(void *ctx), void *ctx)
{
    pn_list_t *n;
    s->shutting_down = 1;
    s->done = done;
    s->done_ctx = ctx;
    for (n = s->insts.next; n != &s->insts; n = n->next) {
        pn_inst_t *in = pn_container_of(n, pn_inst_t, node);
        ev_timer_disarm(in->restart_timer);
        in->start_after_stop = 0;
    }
    for (n = s->procs.next; n != &s->procs; n = n->next)
        pn_proc_term(pn_container_of(n, pn_proc_t, node));
    if (pn_list_empty(&s->procs))
        ev_defer_schedule(s->done_defer);
}
