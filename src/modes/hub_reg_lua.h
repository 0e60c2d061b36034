/* modes/hub_reg_lua.h: the Lua scripts the Redis registry (hub_reg_redis.c)
 * runs with EVAL, each atomic in Redis. Keys (docs/hub.md "Several hubs as one"):
 *
 *   pn:hub:<id>     the hub's heartbeat: its peer= address, PX the TTL
 *   pn:hubs         sorted set: hub id -> when its heartbeat ends (ms, Redis's clock)
 *   pn:hubr:<id>    set: the route keys the hub holds (for its reconcile and its sweep)
 *   pn:swept:<id>   set when another hub swept routes of that hub (its heartbeat had
 *                   ended), deleted by its next heartbeat; lives a day at most
 *   pn:r:<route>    "<held>|<hub>|<account>"; <route> is "tcp:8080", "http:app.example.com",
 *                   "tcp~<group>"
 *   pn:routes       channel: "+ <route> <value>" and "- <route> <hub>"
 */
#ifndef PN_MODES_HUB_REG_LUA_H
#define PN_MODES_HUB_REG_LUA_H

/* KEYS: pn:r:<route>...; ARGV: me, account, held (0/1).
 * Every key free, ours, of a hub whose heartbeat is gone, or held for the same
 * account: all become ours, {1}. Else {0, index of the first refused, its hub},
 * or {2, ...} when that hub is live and holds it for the same account (its
 * agent is moving here before that hub noticed: asked again). */
#define HUB_LUA_CLAIM \
    "for i,k in ipairs(KEYS) do " \
    "  local v = redis.call('GET', k) " \
    "  if v then " \
    "    local held, h, a = string.match(v, '^(%d)|([^|]*)|(.*)$') " \
    "    if h and h ~= ARGV[1] and redis.call('EXISTS', 'pn:hub:'..h) == 1 " \
    "       and not (held == '1' and a == ARGV[2]) then " \
    "      if a == ARGV[2] then return {2, i, h} end " \
    "      return {0, i, h} " \
    "    end " \
    "  end " \
    "end " \
    "for i,k in ipairs(KEYS) do " \
    "  local v = redis.call('GET', k) " \
    "  if v then " \
    "    local h = string.match(v, '^%d|([^|]*)|') " \
    "    if h and h ~= ARGV[1] then redis.call('SREM', 'pn:hubr:'..h, k) end " \
    "  end " \
    "  local nv = ARGV[3]..'|'..ARGV[1]..'|'..ARGV[2] " \
    "  if v ~= nv then " \
    "    redis.call('SET', k, nv) " \
    "    redis.call('PUBLISH', 'pn:routes', '+ '..string.sub(k, 6)..' '..nv) " \
    "  end " \
    "  redis.call('SADD', 'pn:hubr:'..ARGV[1], k) " \
    "end " \
    "return {1}"

/* KEYS: pn:r:<route>...; ARGV: me. Each key still ours is deleted. */
#define HUB_LUA_RELEASE \
    "for i,k in ipairs(KEYS) do " \
    "  local v = redis.call('GET', k) " \
    "  if v and string.match(v, '^%d|([^|]*)|') == ARGV[1] then " \
    "    redis.call('DEL', k) " \
    "    redis.call('PUBLISH', 'pn:routes', '- '..string.sub(k, 6)..' '..ARGV[1]) " \
    "  end " \
    "  redis.call('SREM', 'pn:hubr:'..ARGV[1], k) " \
    "end " \
    "return 1"

/* ARGV: me, peer, ttl ms. The heartbeat, then a sweep of hubs whose heartbeat
 * ended (at most 1000 of their routes per beat, each deleted and published).
 * Returns whether other hubs swept routes of this one since its last
 * heartbeat (1: its heartbeat had ended while it lived, they are to be claimed
 * again), then the live hubs: {swept, id, peer, ms left of its heartbeat, id, ...}. */
#define HUB_LUA_BEAT \
    "local swept = redis.call('DEL', 'pn:swept:'..ARGV[1]) " \
    "redis.call('SET', 'pn:hub:'..ARGV[1], ARGV[2], 'PX', ARGV[3]) " \
    "local t = redis.call('TIME') " \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) " \
    "redis.call('ZADD', 'pn:hubs', now + tonumber(ARGV[3]), ARGV[1]) " \
    "local budget = 1000 " \
    "for _, d in ipairs(redis.call('ZRANGEBYSCORE', 'pn:hubs', '-inf', now)) do " \
    "  if redis.call('EXISTS', 'pn:hub:'..d) == 0 and budget > 0 then " \
    "    local ks = redis.call('SPOP', 'pn:hubr:'..d, budget) " \
    "    if #ks > 0 then redis.call('SET', 'pn:swept:'..d, '1', 'PX', 86400000) end " \
    "    for _, k in ipairs(ks) do " \
    "      budget = budget - 1 " \
    "      local v = redis.call('GET', k) " \
    "      if v and string.match(v, '^%d|([^|]*)|') == d then " \
    "        redis.call('DEL', k) " \
    "        redis.call('PUBLISH', 'pn:routes', '- '..string.sub(k, 6)..' '..d) " \
    "      end " \
    "    end " \
    "    if redis.call('SCARD', 'pn:hubr:'..d) == 0 then redis.call('ZREM', 'pn:hubs', d) end " \
    "  end " \
    "end " \
    "local out = {swept} " \
    "local live = redis.call('ZRANGEBYSCORE', 'pn:hubs', now, '+inf', 'WITHSCORES') " \
    "for i = 1, #live, 2 do " \
    "  local p = redis.call('GET', 'pn:hub:'..live[i]) " \
    "  if p then " \
    "    table.insert(out, live[i]) table.insert(out, p) " \
    "    table.insert(out, tostring(tonumber(live[i + 1]) - now)) " \
    "  end " \
    "end " \
    "return out"

/* KEYS: pn:<limit>:<account> (conns, routes, rps, mbps); ARGV: me, this
 * hub's use of the account's limit (a count, or a rate), ttl ms. Stores
 * "<n>:<Redis time ms>" under the hub's id (the hash lives twice the TTL) and
 * returns {the sum of the other hubs' uses that are at most a TTL old, how
 * many of those are not 0}. */
#define HUB_LUA_SHARE \
    "local t = redis.call('TIME') " \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) " \
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]..':'..now) " \
    "redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3])) " \
    "local all = redis.call('HGETALL', KEYS[1]) " \
    "local sum, users = 0, 0 " \
    "for i = 1, #all, 2 do " \
    "  if all[i] ~= ARGV[1] then " \
    "    local n, at = string.match(all[i + 1], '^(%d+):(%d+)$') " \
    "    if n and now - tonumber(at) <= tonumber(ARGV[3]) then " \
    "      sum = sum + tonumber(n) " \
    "      if tonumber(n) > 0 then users = users + 1 end " \
    "    end " \
    "  end " \
    "end " \
    "return {sum, users}"

#endif
