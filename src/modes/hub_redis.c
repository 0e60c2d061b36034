/* modes/hub_redis.c: modes/hub_redis.h.
 *
 *   DOWN --timer--> CONNECTING: two contexts; cmd: AUTH, SELECT, PING; sub: AUTH, SUBSCRIBE
 *   CONNECTING --PING answered and subscribed--> UP (on_state(1))
 *   CONNECTING --deadline (3 s), refused, error--> DOWN, again in 1 s
 *   UP --either context lost--> DOWN (on_state(0)), both closed, again in 1 s
 *
 * hiredis frees a context itself after its connect callback failed or its
 * disconnect callback ran; a context we close ourselves has its data set to
 * NULL first so that those callbacks know it is already forgotten. */
#include "modes/hub_redis.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/addr.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_DEADLINE_MS 3000
#define RETRY_MS 1000

struct hub_redis {
    ev_loop_t *loop;                /* borrowed */
    const pn_cluster_conf_t *c;     /* borrowed: user, password, db */
    char ip[INET6_ADDRSTRLEN];
    int port;
    char *channel;                  /* owned */
    redisAsyncContext *cmd, *sub;   /* hiredis's; NULL when closed */
    int cmd_ready, sub_ready, up;
    int warned;                     /* the outage was logged */
    uint64_t since_ms;              /* CONNECTING: when it started */
    ev_timer_t *timer;              /* owned: reconnect, connect deadline */
    hub_redis_state_cb on_state;
    hub_redis_msg_cb on_msg;
    void *arg;
};

/* One command's callback, carried through hiredis's privdata. */
struct rcall {
    hub_redis_reply_cb cb;
    void *arg;
};

static void
lost(hub_redis_t *r, const char *why)
{
    if (!r->warned)
        log_warn("cluster: Redis %s:%d unreachable: %s (known routes are served; new claims "
                 "are refused until it returns)", r->ip, r->port, why);
    r->warned = 1;
}

/* Close both contexts; tell the owner if it was up; try again in RETRY_MS. */
static void
teardown(hub_redis_t *r, const char *why)
{
    redisAsyncContext *cmd = r->cmd, *sub = r->sub;
    int was_up = r->up;
    r->cmd = r->sub = NULL;
    r->cmd_ready = r->sub_ready = r->up = 0;
    if (cmd != NULL) {
        cmd->data = NULL;
        redisAsyncFree(cmd);
    }
    if (sub != NULL) {
        sub->data = NULL;
        redisAsyncFree(sub);
    }
    lost(r, why);
    if (r->timer != NULL)
        ev_timer_arm(r->timer, RETRY_MS);
    if (was_up)
        r->on_state(0, r->arg);
}

static void
check_up(hub_redis_t *r)
{
    if (r->up || !r->cmd_ready || !r->sub_ready)
        return;
    r->up = 1;
    r->warned = 0;
    log_info("cluster: Redis %s:%d connected (db %u)", r->ip, r->port, r->c->db);
    r->on_state(1, r->arg);
}

static void
on_call(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rcall *rc = priv;
    (void)ac;
    rc->cb(reply, rc->arg);
    free(rc);
}

/* AUTH and SELECT: an error answer ends the attempt (its text names no secret). */
static void
on_setup(redisAsyncContext *ac, void *reply, void *priv)
{
    hub_redis_t *r = ac->data;
    redisReply *y = reply;
    char why[160];
    if (r == NULL || y == NULL || y->type != REDIS_REPLY_ERROR)
        return;
    snprintf(why, sizeof(why), "%s refused: %.100s", (const char *)priv, y->str);
    teardown(r, why);
}

static void
on_ping(redisAsyncContext *ac, void *reply, void *priv)
{
    hub_redis_t *r = ac->data;
    redisReply *y = reply;
    (void)priv;
    if (r == NULL || y == NULL || y->type == REDIS_REPLY_ERROR)
        return;
    r->cmd_ready = 1;
    check_up(r);
}

/* SUBSCRIBE's confirmation, then every message of the channel. */
static void
on_sub(redisAsyncContext *ac, void *reply, void *priv)
{
    hub_redis_t *r = ac->data;
    redisReply *y = reply;
    (void)priv;
    if (r == NULL || y == NULL || y->type != REDIS_REPLY_ARRAY || y->elements < 3)
        return;
    if (y->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(y->element[0]->str, "subscribe") == 0) {
        r->sub_ready = 1;
        check_up(r);
    } else if (strcmp(y->element[0]->str, "message") == 0 &&
               y->element[2]->type == REDIS_REPLY_STRING && r->up) {
        r->on_msg(y->element[2]->str, y->element[2]->len, r->arg);
    }
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    hub_redis_t *r = ac->data;
    if (r == NULL || status == REDIS_OK)
        return;
    /* hiredis frees <ac> after this call. */
    if (ac == r->cmd)
        r->cmd = NULL;
    else
        r->sub = NULL;
    teardown(r, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    hub_redis_t *r = ac->data;
    (void)status;
    if (r == NULL)
        return;
    if (ac == r->cmd)
        r->cmd = NULL;
    else
        r->sub = NULL;
    teardown(r, ac->errstr[0] ? ac->errstr : "connection closed by Redis");
}

/* AUTH (when a password is set) on <ac>, answered by on_setup. */
static void
auth(hub_redis_t *r, redisAsyncContext *ac)
{
    const char *argv[3] = { "AUTH" };
    size_t len[3] = { 4 };
    int n = 1;
    if (r->c->pass == NULL)
        return;
    if (r->c->user != NULL) {
        argv[n] = r->c->user;
        len[n++] = strlen(r->c->user);
    }
    argv[n] = r->c->pass;
    len[n++] = strlen(r->c->pass);
    redisAsyncCommandArgv(ac, on_setup, (void *)"AUTH", n, argv, len);
}

static redisAsyncContext *
open_ctx(hub_redis_t *r)
{
    redisAsyncContext *ac = redisAsyncConnect(r->ip, r->port);
    if (ac == NULL)
        return NULL;
    if (ac->err) {
        lost(r, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = r;
    redisLibeventAttach(ac, ev_loop_base(r->loop));
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    auth(r, ac);
    return ac;
}

static void
connect_start(hub_redis_t *r)
{
    char db[16];
    r->since_ms = pn_now_ms();
    r->cmd = open_ctx(r);
    r->sub = r->cmd != NULL ? open_ctx(r) : NULL;
    if (r->cmd == NULL || r->sub == NULL) {
        teardown(r, "cannot start a connection");
        return;
    }
    if (r->c->db != 0) {
        snprintf(db, sizeof(db), "%u", r->c->db);
        redisAsyncCommand(r->cmd, on_setup, (void *)"SELECT", "SELECT %s", db);
    }
    redisAsyncCommand(r->cmd, on_ping, NULL, "PING");
    redisAsyncCommand(r->sub, on_sub, NULL, "SUBSCRIBE %s", r->channel);
    ev_timer_arm(r->timer, CONNECT_DEADLINE_MS);
}

static long
on_timer(ev_timer_t *t, void *arg)
{
    hub_redis_t *r = arg;
    (void)t;
    if (r->up)
        return EV_TIMER_STOP;
    if (r->cmd == NULL && r->sub == NULL) {
        connect_start(r);
        return EV_TIMER_STOP;   /* connect_start or teardown armed it */
    }
    teardown(r, "no answer within 3 s");
    return EV_TIMER_STOP;
}

/* Start connecting to <c>'s Redis: see hub_redis.h. */
hub_redis_t *
hub_redis_new(ev_loop_t *loop, const pn_cluster_conf_t *c, const char *channel,
              hub_redis_state_cb on_state, hub_redis_msg_cb on_msg, void *arg, char *err)
{
    pn_addr_t a;
    if (pn_addr_resolve(c->host, c->port, 0, &a, err) != PN_OK)
        return NULL;
    hub_redis_t *r = xcalloc(sizeof(*r));
    r->loop = loop;
    r->c = c;
    pn_addr_ip(&a, r->ip);
    r->port = (int)pn_addr_port(&a);
    r->channel = xstrdup(channel);
    r->on_state = on_state;
    r->on_msg = on_msg;
    r->arg = arg;
    r->timer = ev_timer_new(loop, on_timer, r);
    ev_timer_arm(r->timer, 0);
    return r;
}

int
hub_redis_up(const hub_redis_t *r)
{
    return r->up;
}

/* Send a command: see hub_redis.h. */
int
hub_redis_cmd(hub_redis_t *r, hub_redis_reply_cb cb, void *arg, int argc, const char **argv,
              const size_t *len)
{
    if (!r->up)
        return PN_ERR;
    struct rcall *rc = xcalloc(sizeof(*rc));
    rc->cb = cb;
    rc->arg = arg;
    if (redisAsyncCommandArgv(r->cmd, on_call, rc, argc, argv, len) != REDIS_OK) {
        free(rc);
        return PN_ERR;
    }
    return PN_OK;
}

/* Close both contexts, their pending callbacks run with NULL, and free <r>. */
void
hub_redis_free_(hub_redis_t *r)
{
    if (r == NULL)
        return;
    ev_timer_free(r->timer);
    r->on_state = NULL;
    if (r->cmd != NULL) {
        r->cmd->data = NULL;
        redisAsyncFree(r->cmd);
    }
    if (r->sub != NULL) {
        r->sub->data = NULL;
        redisAsyncFree(r->sub);
    }
    free(r->channel);
    free(r);
}
