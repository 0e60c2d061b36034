/* tunnel/guard.c: per-source failure counting with a fixed table. */
#include "tunnel/guard.h"
#include "core/mem.h"

#include <netinet/in.h>
#include <string.h>

static void
key_of(const pn_addr_t *a, uint8_t ip[16])
{
    memset(ip, 0, 16);
    if (a->ss.ss_family == AF_INET) {
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    } else if (a->ss.ss_family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
    }
}

static size_t
hash_of(const uint8_t ip[16])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ ip[i]) * 16777619u;
    return h % GUARD_SLOTS;
}

/* Find <ip>'s entry, or make one: in its probe run, the first free slot or
 * else the one idle the longest (a source forgotten early only loses its
 * count). Probing is bounded to 16 slots. */
static struct guard_entry *
lookup(tun_guard_t *g, const pn_addr_t *a, uint64_t now_ms, int create)
{
    uint8_t ip[16];
    key_of(a, ip);
    size_t h = hash_of(ip);
    struct guard_entry *victim = NULL;
    for (size_t k = 0; k < 16; k++) {
        struct guard_entry *e = &g->slots[(h + k) % GUARD_SLOTS];
        if (e->used && memcmp(e->ip, ip, 16) == 0)
            return e;
        if (!e->used) {
            if (victim == NULL || victim->used)
                victim = e;
        } else if (victim == NULL || (victim->used && e->seen_ms < victim->seen_ms)) {
            if (e->pending == 0)
                victim = e;
        }
    }
    if (!create || victim == NULL)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    memcpy(victim->ip, ip, 16);
    victim->used = 1;
    victim->window_ms = now_ms;
    return victim;
}

void
tun_guard_init(tun_guard_t *g, uint32_t max_fails, uint64_t window_ms, uint64_t ban_ms,
               uint32_t max_pending)
{
    g->max_fails = max_fails;
    g->window_ms = window_ms;
    g->ban_ms = ban_ms;
    g->max_pending = max_pending;
    g->slots = xcalloc(GUARD_SLOTS * sizeof(*g->slots));
}

void
tun_guard_clear(tun_guard_t *g)
{
    xfree(g->slots);
}

int
tun_guard_admit(tun_guard_t *g, const pn_addr_t *src, uint64_t now_ms)
{
    struct guard_entry *e = lookup(g, src, now_ms, 1);
    if (e == NULL)
        return 1;               /* table full of busy sources: do not punish a stranger */
    e->seen_ms = now_ms;
    if (e->banned_until_ms > now_ms)
        return 0;
    if (e->pending >= g->max_pending)
        return 0;
    e->pending++;
    return 1;
}

int
tun_guard_done(tun_guard_t *g, const pn_addr_t *src, int ok, uint64_t now_ms)
{
    struct guard_entry *e = lookup(g, src, now_ms, 0);
    if (e == NULL)
        return 0;
    if (e->pending > 0)
        e->pending--;
    e->seen_ms = now_ms;
    if (ok)
        return 0;
    if (now_ms - e->window_ms >= g->window_ms) {
        e->window_ms = now_ms;
        e->fails = 0;
    }
    if (++e->fails < g->max_fails || e->banned_until_ms > now_ms)
        return 0;
    e->banned_until_ms = now_ms + g->ban_ms;
    e->fails = 0;
    e->window_ms = now_ms;
    return 1;
}
