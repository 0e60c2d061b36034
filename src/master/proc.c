/* master/proc.c: the child process of an instance (see master/super.h).
 *
 *   zygote fork (or fork, exec) ─> child: own process group, PDEATHSIG,
 *                                   stdout+stderr -> pipe (master/zygote.h)
 *   pipe ─> on_read: lines ─> HUB_STATE (hubs): hub state, hub
 *                            | CHECK_POINT: counters, update
 *                            | STATE: health, update (+ state) and ring, log
 *                            | other: ring, log
 *   SIGCHLD ─> reap: drain the pipe, fold the counters, stopped/error, backoff
 *
 * The instance table and the supervisor's API are in super.c. */
#include "master/proc.h"
#include "core/duration.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/url.h"
#include "conf/config.h"
#include "master/backoff.h"
#include "master/checkpoint.h"
#include "master/hubstate.h"
#include "master/puser.h"
#include "master/zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROC_KILL_GRACE_MS 2000     /* SIGKILL this long after the instance's drain ends */

/* SIGTERM, then SIGKILL this much later: the instances' drain
 * (POSTERN_SHUTDOWN_TIMEOUT, which they inherit) plus a grace, at least 5 s. */
static uint64_t
proc_kill_ms(void)
{
    uint64_t ms = pn_shutdown_timeout_ms(NULL);
    ms = ms > UINT64_MAX / 2 ? UINT64_MAX / 2 : ms;
    return ms + PROC_KILL_GRACE_MS < 5000 ? 5000 : ms + PROC_KILL_GRACE_MS;
}
#define PROC_READ_BUDGET (64 * 1024)/* bytes read per wake-up: a flood cannot starve the loop */
#define PROC_DRAIN_MAX (1024 * 1024)/* bytes read from a dead child's pipe */

/* ---- notifications, logs, hub state -------------------------------------- */

void
pn_proc_notify(pn_inst_t *in, enum pn_change what, const char *line)
{
    /* Every change of the health shown is announced after the create or
     * update that carries it. */
    int moved = (what == PN_CHANGE_CREATE || what == PN_CHANGE_UPDATE) &&
                pn_inst_health_update(in, (int64_t)time(NULL));
    if (in->super->notify == NULL)
        return;
    in->super->notify(in, what, line, in->super->ctx);
    if (moved)
        in->super->notify(in, PN_CHANGE_STATE, NULL, in->super->ctx);
}

/* The reason is cut to fit, never inside a UTF-8 sequence. */
static void
set_health(pn_inst_t *in, enum pn_health h, const char *reason)
{
    size_t n = strlen(reason);
    if (n >= sizeof(in->health_reason)) {
        n = sizeof(in->health_reason) - 1;
        while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
            n--;
    }
    in->health = h;
    memcpy(in->health_reason, reason, n);
    in->health_reason[n] = '\0';
}

static void
set_error(pn_inst_t *in, const char *msg)
{
    free(in->error);
    in->error = xstrdup(msg);
}

static void
log_push(pn_inst_t *in, const char *line)
{
    if (in->log_n == PN_INST_LOGS) {
        free(in->logs[in->log_first]);
        in->logs[in->log_first] = xstrdup(line);
        in->log_first = (in->log_first + 1) % PN_INST_LOGS;
    } else {
        in->logs[(in->log_first + in->log_n) % PN_INST_LOGS] = xstrdup(line);
        in->log_n++;
    }
}

/* Notify a log line unless the instance is over PN_INST_LOG_RATE lines this
 * second; the first line of the next window says how many were held back. */
static void
log_notify(pn_inst_t *in, const char *line)
{
    uint64_t now = pn_now_ms();
    if (now - in->log_win_ms >= 1000) {
        in->log_win_ms = now;
        in->log_win_n = 0;
        if (in->log_held > 0) {
            char note[128];
            snprintf(note, sizeof(note), "postern master: %llu lines of this instance were not "
                     "streamed (over %d a second); GET /logs keeps the last %d",
                     (unsigned long long)in->log_held, PN_INST_LOG_RATE, PN_INST_LOGS);
            in->log_held = 0;
            in->log_win_n++;
            pn_proc_notify(in, PN_CHANGE_LOG, note);
        }
    }
    if (in->log_win_n >= PN_INST_LOG_RATE) {
        in->log_held++;
        return;
    }
    in->log_win_n++;
    pn_proc_notify(in, PN_CHANGE_LOG, line);
}

/* A line of the master's own about <in>: kept and notified like its output. */
static void
log_note(pn_inst_t *in, const char *text)
{
    log_push(in, text);
    log_notify(in, text);
}

/* Notify PN_CHANGE_HUB now, or, within PN_INST_HUB_NOTE_MS of the last one,
 * once that time is up (so the last state is always told); <always> (the state
 * was cleared) tells it at once. */
static void
hub_notify(pn_inst_t *in, int always)
{
    uint64_t now = pn_now_ms();
    if (!always && in->hub_note_ms != 0 && now - in->hub_note_ms < PN_INST_HUB_NOTE_MS) {
        ev_timer_arm(in->hub_timer, PN_INST_HUB_NOTE_MS - (now - in->hub_note_ms));
        return;
    }
    ev_timer_disarm(in->hub_timer);
    in->hub_note_ms = now;
    pn_proc_notify(in, PN_CHANGE_HUB, NULL);
}

long
pn_proc_on_hub_timer(ev_timer_t *t, void *arg)
{
    pn_inst_t *in = arg;
    in->hub_note_ms = pn_now_ms();
    pn_proc_notify(in, PN_CHANGE_HUB, NULL);
    return EV_TIMER_STOP;
}

/* Forget the hub state of <in> (its child is gone). */
static void
hub_clear(pn_inst_t *in)
{
    if (in->hub == NULL)
        return;
    json_decref(in->hub);
    in->hub = NULL;
    in->hub_updated = 0;
    hub_notify(in, 1);
}

/* ---- the child's output -------------------------------------------------- */

static void
proc_line(pn_proc_t *p, char *line, size_t len)
{
    pn_inst_t *in = p->inst;
    pn_stats_t st;
    line[len] = '\0';
    if (in == NULL)
        return;
    if (pn_inst_is_hub(in) && pn_hubstate_match(line, len, NULL)) {
        /* Never logged: it is state, up to 1 MiB of it. */
        char err[PN_ERR_LEN], note[PN_ERR_LEN + 64];
        json_t *state = pn_hubstate_parse(line, len, err);
        if (state == NULL) {
            snprintf(note, sizeof(note), "postern master: a HUB_STATE line was ignored: %s", err);
            log_note(in, note);
            return;
        }
        json_decref(in->hub);
        in->hub = state;
        in->hub_updated = (int64_t)time(NULL);
        hub_notify(in, 0);
        return;
    }
    if (pn_puser_take(in, line, len))
        return;     /* a proxy's per-user counters: state, not log */
    enum pn_health h;
    char reason[PN_HEALTH_REASON_MAX];
    if (pn_health_parse(line, len, &h, reason) == PN_OK) {
        /* State and a line of the log, never the error reason. */
        set_health(in, h, reason);
        log_push(in, line);
        log_notify(in, line);
        pn_proc_notify(in, PN_CHANGE_UPDATE, NULL);
        return;
    }
    if (pn_checkpoint_parse(line, len, &st, NULL) == PN_OK) {
        in->cur[PN_TCPRX] = st.tcp_rx;
        in->cur[PN_TCPTX] = st.tcp_tx;
        in->cur[PN_UDPRX] = st.udp_rx;
        in->cur[PN_UDPTX] = st.udp_tx;
        /* A counter below the reset mark means a new process: start over. */
        for (int k = 0; k < PN_NCOUNTERS; k++)
            if (in->cur[k] < in->mark[k])
                in->mark[k] = 0;
        in->tcps = st.tcps;
        in->udps = st.udps;
        in->pool = st.pool;
        in->ping = st.ping_ms;
        pn_proc_notify(in, PN_CHANGE_UPDATE, NULL);
        return;
    }
    if (len == 0)
        return;
    snprintf(p->last, sizeof(p->last), "%s", line);
    if (p->final[0] == '\0' && strstr(p->last, PN_FINAL_MARK) != NULL)
        snprintf(p->final, sizeof(p->final), "%s", p->last);
    log_push(in, line);
    log_notify(in, line);
}

/* The line buffer of <p> is full and the line goes on. A hub's HUB_STATE line
 * gets a larger buffer (doubling, up to PN_HUBSTATE_LINE_MAX; kept for the next
 * one); past that bound it is dropped whole, with a note. Any other line is
 * delivered in pieces of PN_INST_LINE_MAX - 1 bytes. */
static void
proc_full(pn_proc_t *p)
{
    size_t len = p->len;
    if (p->inst != NULL && pn_inst_is_hub(p->inst) && pn_hubstate_match(p->line, len, NULL)) {
        if (p->cap < PN_HUBSTATE_LINE_MAX + 1) {
            p->cap = p->cap * 2 < PN_HUBSTATE_LINE_MAX + 1 ? p->cap * 2 : PN_HUBSTATE_LINE_MAX + 1;
            p->line = xrealloc(p->line, p->cap);
            return;
        }
        p->len = 0;
        p->skip = 1;
        log_note(p->inst, "postern master: a HUB_STATE line over 1 MiB was dropped");
        return;
    }
    p->len = 0;
    proc_line(p, p->line, len);
}

/* Split what arrived into lines (see proc_full for long ones). */
static void
proc_feed(pn_proc_t *p, const char *data, size_t n)
{
    while (n > 0) {
        if (p->skip) {
            const char *nl = memchr(data, '\n', n);
            if (nl == NULL)
                return;
            p->skip = 0;
            n -= (size_t)(nl + 1 - data);
            data = nl + 1;
            continue;
        }
        size_t room = p->cap - 1 - p->len;
        const char *nl = memchr(data, '\n', n < room + 1 ? n : room + 1);
        if (nl != NULL) {
            size_t part = (size_t)(nl - data);
            memcpy(p->line + p->len, data, part);
            size_t len = p->len + part;
            if (len > 0 && p->line[len - 1] == '\r')
                len--;
            p->len = 0;
            proc_line(p, p->line, len);
            n -= part + 1;
            data = nl + 1;
        } else if (room == 0) {
            proc_full(p);
        } else {
            size_t k = n < room ? n : room;
            memcpy(p->line + p->len, data, k);
            p->len += k;
            n -= k;
            data += k;
        }
    }
}

/* Read at most <budget> bytes; return 1 at end of stream or on an error. */
static int
proc_read(pn_proc_t *p, size_t budget)
{
    char buf[16384];
    size_t got = 0;
    while (p->fd >= 0 && got < budget) {
        ssize_t n = read(p->fd, buf, sizeof(buf));
        if (n > 0) {
            got += (size_t)n;
            proc_feed(p, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return 1;
    }
    return 0;
}

static void
proc_close_pipe(pn_proc_t *p)
{
    ev_io_free(p->io);
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static void
on_proc_out(int fd, int ready, void *arg)
{
    pn_proc_t *p = arg;
    if (proc_read(p, PROC_READ_BUDGET)) {
        /* End of stream: the child closed its output (it is exiting); the
         * reaper finishes the work on SIGCHLD. */
        if (p->len > 0) {
            size_t len = p->len;
            p->len = 0;
            proc_line(p, p->line, len);
        }
        proc_close_pipe(p);
    }
}

static long
on_proc_kill(ev_timer_t *t, void *arg)
{
    pn_proc_t *p = arg;
    log_warn("master: instance %s: still running %llu ms after SIGTERM, killing it",
             p->inst ? p->inst->id : "(deleted)", (unsigned long long)proc_kill_ms());
    kill(-p->pid, SIGKILL);
    kill(p->pid, SIGKILL);
    return EV_TIMER_STOP;
}

void
pn_proc_term(pn_proc_t *p)
{
    p->stop_requested = 1;
    if (p->term_sent)
        return;
    p->term_sent = 1;
    /* Once: a second SIGTERM would cut the instance's drain short. To its
     * group, or to it alone when it has not made its group yet. */
    if (kill(-p->pid, SIGTERM) != 0)
        kill(p->pid, SIGTERM);
    ev_timer_arm(p->kill, proc_kill_ms());
}

void
pn_proc_free(pn_proc_t *p)
{
    pn_list_del(&p->node);
    proc_close_pipe(p);
    ev_timer_free(p->kill);
    free(p->line);
    free(p);
}

/* ---- start, exit ---------------------------------------------------------- */

/* Start the process of <url> with <in> and <out>: forked by the zygote when
 * there is one (started here on first use), else fork and exec. Return its
 * pid, or -1 with errno set. */
static pid_t
proc_spawn(pn_super_t *s, const char *url, const char *label, int in, int out)
{
    if (s->zygote == NULL && s->zygote_on) {
        s->zygote = pn_zygote_new(s->exe);
        if (s->zygote == NULL)
            s->zygote_on = 0;
    }
    if (s->zygote != NULL) {
        pid_t pid = pn_zygote_spawn(s->zygote, url, label, in, out);
        if (pid > 0)
            return pid;
        if (pid == -2)
            return -1;      /* the zygote could not fork: neither could we */
        log_warn("master: the zygote did not answer (%s): instances are exec'd until it is "
                 "started again", strerror(errno));
        pn_zygote_free(s->zygote);
        if (++s->zygote_lost >= PN_ZYGOTE_LOST_MAX) {
            log_warn("master: the zygote was lost %d times: instances are exec'd from now on",
                     s->zygote_lost);
            s->zygote_on = 0;
        }
    }
    char *argv[] = { "postern", "--url-from-env", (char *)label, NULL };
    return pn_zygote_exec(s->exe, argv, url, in, out, -1);
}

void
pn_proc_start(pn_inst_t *in)
{
    pn_super_t *s = in->super;
    int fds[2];
    char msg[PN_ERR_LEN];

    if (in->proc != NULL || s->shutting_down)
        return;
    ev_timer_disarm(in->restart_timer);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(msg, sizeof(msg), "cannot start: %s", strerror(errno));
        if (devnull >= 0)
            close(devnull);
        goto fail;
    }
    /* The URL travels in the environment or the zygote's socket (readable
     * by this user only), the command line shows it with its key masked. */
    char label[PN_INST_LINE_MAX];
    pn_url_mask_key(in->url, label, sizeof(label));
    pid_t pid = proc_spawn(s, in->url, label, devnull, fds[1]);
    if (pid < 0) {
        snprintf(msg, sizeof(msg), "cannot start: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        close(devnull);
        goto fail;
    }
    close(fds[1]);
    close(devnull);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);

    pn_proc_t *p = xcalloc(sizeof(*p));
    p->super = s;
    p->inst = in;
    p->pid = pid;
    p->fd = fds[0];
    p->started_ms = pn_now_ms();
    p->cap = PN_INST_LINE_MAX;
    p->line = xmalloc(p->cap);
    p->io = ev_io_new(s->loop, p->fd, on_proc_out, p);
    p->kill = ev_timer_new(s->loop, on_proc_kill, p);
    ev_io_set(p->io, EV_RD);
    pn_list_add(&s->procs, &p->node);
    in->proc = p;
    in->status = PN_INST_RUNNING;
    set_error(in, "");
    set_health(in, PN_HEALTH_CONNECTING, "starting");
    log_info("master: instance %s started (pid %d)", in->id, (int)pid);
    return;

fail:
    log_error("master: instance %s: %s", in->id, msg);
    in->status = PN_INST_ERROR;
    set_error(in, msg);
    set_health(in, PN_HEALTH_ERROR, msg);
}

long
pn_proc_on_restart(ev_timer_t *t, void *arg)
{
    pn_inst_t *in = arg;
    if (in->proc == NULL && in->desired && in->restart && !in->super->shutting_down) {
        in->restarts++;
        pn_proc_start(in);
        pn_proc_notify(in, PN_CHANGE_UPDATE, NULL);
    }
    return EV_TIMER_STOP;
}

/* <p> was reaped with wait status <ws>: finish reading, fold the counters,
 * decide what comes next. */
static void
proc_exited(pn_proc_t *p, int ws)
{
    pn_super_t *s = p->super;
    pn_inst_t *in = p->inst;
    char reason[512];
    int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;

    if (p->fd >= 0)
        proc_read(p, PROC_DRAIN_MAX);
    if (p->len > 0) {
        size_t len = p->len;
        p->len = 0;
        proc_line(p, p->line, len);
    }
    /* A final error (wrong key...) is the reason, whatever was logged after it. */
    const char *last = p->final[0] ? p->final : p->last;
    int final = code == PN_EXIT_RUNTIME && p->final[0] != '\0';
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && p->stop_requested)
        snprintf(reason, sizeof(reason), "exited cleanly");
    else if (WIFEXITED(ws))
        snprintf(reason, sizeof(reason), "exited with code %d%s%s", code, last[0] ? ": " : "",
                 last);
    else
        snprintf(reason, sizeof(reason), "killed by signal %d%s%s", WTERMSIG(ws),
                 last[0] ? ": " : "", last);
    uint64_t uptime = pn_now_ms() - p->started_ms;
    int requested = p->stop_requested;
    pn_proc_free(p);

    if (in != NULL) {
        in->proc = NULL;
        for (int k = 0; k < PN_NCOUNTERS; k++) {
            in->base[k] = pn_inst_counter(in, (enum pn_counter)k);
            in->cur[k] = in->mark[k] = 0;
        }
        in->tcps = in->udps = in->pool = in->ping = 0;
        hub_clear(in);      /* a state nobody updates any more is not shown */
        pn_puser_fold(in);
        if (requested) {
            log_info("master: instance %s stopped (%s)", in->id, reason);
            in->status = PN_INST_STOPPED;
            if (in->start_after_stop && !s->shutting_down) {
                in->start_after_stop = 0;
                in->backoff_ms = 0;
                pn_proc_start(in);
            }
        } else {
            log_warn("master: instance %s %s", in->id, reason);
            in->status = PN_INST_ERROR;
            set_error(in, reason);
            /* The instance's own word on a final error (wrong key) stays the
             * reason; any other end is told by the exit. */
            if (!(final && in->health == PN_HEALTH_ERROR))
                set_health(in, PN_HEALTH_ERROR, reason);
            in->start_after_stop = 0;
            if (final) {
                log_warn("master: instance %s: final error: not restarted", in->id);
            } else if (in->restart && in->desired && !s->shutting_down) {
                uint64_t delay = pn_backoff_next_from(in->backoff_ms, uptime, code,
                                                      s->cooldown_ms);
                if (delay != PN_BACKOFF_NEVER) {
                    in->backoff_ms = delay;
                    log_info("master: instance %s: restarting in %llu ms", in->id,
                             (unsigned long long)delay);
                    ev_timer_arm(in->restart_timer, delay);
                } else {
                    log_warn("master: instance %s: exit code 2 (bad URL or file): not restarted",
                             in->id);
                    in->halted = 1;     /* kept across a master restart */
                    if (pn_store_set_halted(s->store, in->id, 1) != PN_OK)
                        log_error("master: instance %s: cannot store that it is halted",
                                  in->id);
                }
            }
        }
        pn_proc_notify(in, PN_CHANGE_UPDATE, NULL);
    }
    if (s->shutting_down && pn_list_empty(&s->procs) && s->done != NULL)
        ev_defer_schedule(s->done_defer);
}

/* The zygote <pid> was reaped: it is started again on the next start. */
static void
proc_zygote_died(pn_super_t *s, int ws)
{
    if (!s->shutting_down)
        log_warn("master: the zygote (pid %d) %s %d: started again on the next instance start",
                 (int)pn_zygote_pid(s->zygote), WIFEXITED(ws) ? "exited with code" :
                 "was killed by signal", WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
    pn_zygote_reaped(s->zygote);
    pn_zygote_free(s->zygote);
    if (++s->zygote_lost >= PN_ZYGOTE_LOST_MAX)
        s->zygote_on = 0;
}

void
pn_proc_reap_all(void *arg)
{
    pn_super_t *s = arg;
    pn_list_t *n, *next;
    int ws;
    pid_t r;
    /* Every child: the instances, the zygote, and whatever an instance left
     * behind (the master is a subreaper while it has a zygote). */
    while ((r = waitpid(-1, &ws, WNOHANG)) > 0) {
        for (n = s->procs.next; n != &s->procs; n = n->next) {
            pn_proc_t *p = pn_container_of(n, pn_proc_t, node);
            if (p->pid == r) {
                proc_exited(p, ws);
                break;
            }
        }
        if (s->zygote != NULL && r == pn_zygote_pid(s->zygote))
            proc_zygote_died(s, ws);
    }
    if (r < 0 && errno == ECHILD)
        for (n = s->procs.next; n != &s->procs; n = next) {
            next = n->next;     /* cannot happen unless someone else reaped them */
            proc_exited(pn_container_of(n, pn_proc_t, node), 0);
        }
}
