/* modes/hub_redis.h: the hub's asynchronous connection to Redis (hiredis on
 * the hub's loop, never a blocking call): one context for commands, one
 * subscribed to a channel, both (re)connected with AUTH and SELECT, and an
 * up/down state told to the owner. Used by the Redis route registry
 * (hub_reg_redis.c). */
#ifndef PN_MODES_HUB_REDIS_H
#define PN_MODES_HUB_REDIS_H

#include "conf/cluster.h"
#include "core/ev.h"

#include <stddef.h>

typedef struct hub_redis hub_redis_t;
struct redisReply;

/** A command's answer: <reply> (borrowed during the call) or NULL when the
 *  connection was lost before it came. */
typedef void (*hub_redis_reply_cb)(struct redisReply *reply, void *arg);
/** The connection went up (<up> 1: both contexts ready, subscribed) or down (0). */
typedef void (*hub_redis_state_cb)(int up, void *arg);
/** A message published on the channel (<msg>, <len> bytes, borrowed). */
typedef void (*hub_redis_msg_cb)(const char *msg, size_t len, void *arg);

/** Start connecting to <c>'s Redis (its host resolved now: call at start-up)
 *  and subscribing to <channel>. NULL with <err> when the host does not resolve. */
hub_redis_t *hub_redis_new(ev_loop_t *loop, const pn_cluster_conf_t *c, const char *channel,
                           hub_redis_state_cb on_state, hub_redis_msg_cb on_msg, void *arg,
                           char *err);
/** Nonzero while both contexts are connected, authenticated and subscribed. */
int hub_redis_up(const hub_redis_t *r);
/** Send <argc> arguments <argv> (<len> bytes each). PN_OK: <cb> runs once with
 *  the reply, or NULL if the connection is lost first (or <r> is freed); PN_ERR
 *  when down (<cb> never runs). */
int hub_redis_cmd(hub_redis_t *r, hub_redis_reply_cb cb, void *arg, int argc, const char **argv,
                  const size_t *len);
/** Close both contexts (pending commands' callbacks run with NULL) and free <r>. NULL: no-op. */
void hub_redis_free_(hub_redis_t *r);
#define hub_redis_free(p) do { hub_redis_free_(p); (p) = NULL; } while (0)

#endif
