/* modes/hub_redis.c: modes/hub_redis.h.
 *
 *   DOWN --timer--> CONNECTING: two contexts; cmd: AUTH, SELECT, PING; sub: AUTH, SUBSCRIBE
 *   CONNECTING --PING answered and subscribed--> UP (on_state(1))
 *   CONNECTING --deadline (3 s), refused, error--> DOWN, again in 1 s
 *   UP --either context lost--> DOWN (on_state(0)), both closed, again in 1 s
 *
 * With Sentinels (redis-sentinel://), DOWN --timer--> ASKING: one context to
 * a Sentinel, SENTINEL get-master-addr-by-name; its answer is the address
 * CONNECTING uses, where ROLE must say "master" too (a replica that was the
 * master before a failover is left). A Sentinel that fails (refused, no
 * answer, no such master) is left for the next one at the next attempt. A
 * failover closes the old master's connections (Sentinel kills its clients),
 * and the next attempt asks again: the hub follows the new master.
 *
 * hiredis frees a context itself after its connect callback failed or its
 * disconnect callback ran; a context we close ourselves has its data set to
 * NULL first so that those callbacks know it is already forgotten. */
#include "modes/hub_redis.h"
#include "core/duration.h"
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
    char ip[INET6_ADDRSTRLEN];      /* the master (redis-sentinel://: as a Sentinel said) */
    int port;
    char sent_ip[PN_CLUSTER_SENTINELS_MAX][INET6_ADDRSTRLEN];   /* resolved at start */
    int sent_port[PN_CLUSTER_SENTINELS_MAX];
    size_t nsent, cur;              /* Sentinels; the one asked next */
    redisAsyncContext *ask;         /* hiredis's: ASKING a Sentinel; NULL otherwise */
    int ask_gone;                   /* hiredis is freeing <ask> itself (its connection failed) */
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
    if (!r->warned && r->ask != NULL)
        log_warn("cluster: Sentinel %s:%d: %s (known routes are served; new claims are "
                 "refused until Redis answers)", r->sent_ip[r->cur], r->sent_port[r->cur], why);
    else if (!r->warned)
        log_warn("cluster: Redis %s:%d unreachable: %s (known routes are served; new claims "
                 "are refused until it returns)", r->ip, r->port, why);
    r->warned = 1;
}

/* Close both contexts; tell the owner if it was up; try again in RETRY_MS. */
static void
teardown(hub_redis_t *r, const char *why)
{
    redisAsyncContext *cmd = r->cmd, *sub = r->sub, *ask = r->ask;
    int was_up = r->up;
    lost(r, why);
    r->cmd = r->sub = r->ask = NULL;
    if (ask != NULL) {
        if (!r->ask_gone) {
            ask->data = NULL;
            redisAsyncFree(ask);
        }
        r->ask_gone = 0;
        r->cur = (r->cur + 1) % r->nsent;   /* that Sentinel failed: the next one next time */
    }
    r->cmd_ready = r->sub_ready = r->up = 0;
    if (cmd != NULL) {
        cmd->data = NULL;
        redisAsyncFree(cmd);
    }
    if (sub != NULL) {
        sub->data = NULL;
        redisAsyncFree(sub);
    }
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

/* redis-sentinel://: the server a Sentinel named must be the master. */
static void
on_role(redisAsyncContext *ac, void *reply, void *priv)
{
    hub_redis_t *r = ac->data;
    redisReply *y = reply;
    char why[96];
    (void)priv;
    if (r == NULL || y == NULL)
        return;
    if (y->type == REDIS_REPLY_ARRAY && y->elements > 0 &&
        y->element[0]->type == REDIS_REPLY_STRING && strcmp(y->element[0]->str, "master") == 0)
        return;
    snprintf(why, sizeof(why), "not the master (ROLE: %.32s)",
             y->type == REDIS_REPLY_ARRAY && y->elements > 0 &&
             y->element[0]->type == REDIS_REPLY_STRING ? y->element[0]->str : "?");
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

/* <ac>, which hiredis is about to free, is no longer ours. A Sentinel's is
 * kept named until teardown (which skips it) so that the log names it. */
static void
forget(hub_redis_t *r, const redisAsyncContext *ac)
{
    if (ac == r->cmd)
        r->cmd = NULL;
    else if (ac == r->sub)
        r->sub = NULL;
    else if (ac == r->ask)
        r->ask_gone = 1;
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    hub_redis_t *r = ac->data;
    if (r == NULL || status == REDIS_OK)
        return;
    /* hiredis frees <ac> after this call. */
    forget(r, ac);
    teardown(r, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    hub_redis_t *r = ac->data;
    (void)status;
    if (r == NULL)
        return;
    forget(r, ac);
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
    if (r->nsent > 0)
        redisAsyncCommand(r->cmd, on_role, NULL, "ROLE");
    redisAsyncCommand(r->cmd, on_ping, NULL, "PING");
    redisAsyncCommand(r->sub, on_sub, NULL, "SUBSCRIBE %s", r->channel);
    ev_timer_arm(r->timer, CONNECT_DEADLINE_MS);
}

/* A Sentinel's answer to get-master-addr-by-name: {ip, port}, or nil when it
 * knows no such master. */
static void
on_master_addr(redisAsyncContext *ac, void *reply, void *priv)
{
    hub_redis_t *r = ac->data;
    redisReply *y = reply;
    pn_addr_t a;
    uint64_t port = 0;
    (void)priv;
    if (r == NULL || y == NULL)
        return;
    /* An IP address (a name would need a resolver call here: not on the loop). */
    if (y->type != REDIS_REPLY_ARRAY || y->elements != 2 ||
        y->element[0]->type != REDIS_REPLY_STRING || y->element[1]->type != REDIS_REPLY_STRING ||
        pn_addr_parse_ip(y->element[0]->str, &a) != PN_OK ||
        pn_uint_parse(y->element[1]->str, 1, 65535, &port) != PN_OK) {
        teardown(r, y->type == REDIS_REPLY_ERROR ? "refused SENTINEL get-master-addr-by-name"
                    : y->type == REDIS_REPLY_ARRAY ? "it names the master by a name, not an IP"
                    : "it knows no such master");
        return;
    }
    pn_addr_set_port(&a, (uint16_t)port);
    char ip[INET6_ADDRSTRLEN];
    pn_addr_ip(&a, ip);
    if (strcmp(ip, r->ip) != 0 || (int)pn_addr_port(&a) != r->port)
        log_info("cluster: Sentinel %s:%d names %s:%d the master of %s", r->sent_ip[r->cur],
                 r->sent_port[r->cur], ip, (int)pn_addr_port(&a), r->c->master);
    snprintf(r->ip, sizeof(r->ip), "%s", ip);
    r->port = (int)pn_addr_port(&a);
    r->ask = NULL;
    ac->data = NULL;
    redisAsyncFree(ac);             /* deferred by hiredis until this callback returns */
    connect_start(r);
}

/* Ask the current Sentinel where the master is. */
static void
ask_start(hub_redis_t *r)
{
    redisAsyncContext *ac = redisAsyncConnect(r->sent_ip[r->cur], r->sent_port[r->cur]);
    r->ask = ac;
    if (ac == NULL || ac->err) {
        r->ask_gone = ac == NULL;
        teardown(r, ac != NULL ? ac->errstr : "cannot start a connection");
        return;
    }
    ac->data = r;
    redisLibeventAttach(ac, ev_loop_base(r->loop));
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisAsyncCommand(ac, on_master_addr, NULL, "SENTINEL get-master-addr-by-name %s",
                      r->c->master);
    ev_timer_arm(r->timer, CONNECT_DEADLINE_MS);
}

static long
on_timer(ev_timer_t *t, void *arg)
{
    hub_redis_t *r = arg;
    (void)t;
    if (r->up)
        return EV_TIMER_STOP;
    if (r->cmd == NULL && r->sub == NULL && r->ask == NULL) {
        if (r->nsent > 0)
            ask_start(r);
        else
            connect_start(r);
        return EV_TIMER_STOP;   /* ask_start, connect_start or teardown armed it */
    }
    teardown(r, "no answer within 3 s");
    return EV_TIMER_STOP;
}

/* Start connecting to <c>'s Redis: see hub_redis.h. */
hub_redis_t *
hub_redis_new(ev_loop_t *loop, const pn_cluster_conf_t *c, const char *channel,
              hub_redis_state_cb on_state, hub_redis_msg_cb on_msg, void *arg, char *err)
{
    pn_addr_t a, sa[PN_CLUSTER_SENTINELS_MAX];
    if (c->nsentinels == 0 && pn_addr_resolve(c->host, c->port, 0, &a, err) != PN_OK)
        return NULL;
    for (size_t i = 0; i < c->nsentinels; i++)
        if (pn_addr_resolve(c->sentinel_host[i], c->sentinel_port[i], 0, &sa[i], err) != PN_OK)
            return NULL;
    hub_redis_t *r = xcalloc(sizeof(*r));
    for (size_t i = 0; i < c->nsentinels; i++) {
        pn_addr_ip(&sa[i], r->sent_ip[i]);
        r->sent_port[i] = (int)pn_addr_port(&sa[i]);
    }
    r->nsent = c->nsentinels;
    if (r->nsent > 0)
        a = sa[0];                  /* until a Sentinel names the master */
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
    if (r->ask != NULL && !r->ask_gone) {
        r->ask->data = NULL;
        redisAsyncFree(r->ask);
    }
    free(r->channel);
    free(r);
}
