/* tests/fuzz/fuzz_rcache.c: what a clustered hub reads from Redis
 * (src/modes/hub_rcache.h): messages of the channel pn:routes and stored
 * route values, then the cache they fill.
 *
 * Invariants checked besides memory safety and leaks:
 *   - a parsed message has a non-empty route and fits its fields;
 *   - a value accepted is found again under its key, with a non-empty hub
 *     and a held flag of 0 or 1; a refused one leaves the cache unchanged;
 *   - deleting by the owner found removes the entry. */
#include "fuzz.h"
#include "core/err.h"
#include "modes/hub_rcache.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hub_rcache_t c;
    hub_rmsg_t m;
    const char *msg = (const char *)data;
    hub_rcache_init(&c);
    if (hub_rcache_msg_parse(msg, size, &m) == PN_OK) {
        FUZZ_ASSERT(m.route[0] != '\0' && strlen(m.route) <= HUB_RROUTE_MAX);
        FUZZ_ASSERT(strlen(m.rest) < sizeof(m.rest));
        size_t before = c.n;
        if (hub_rcache_put_value(&c, m.route, m.rest, strlen(m.rest)) == PN_OK) {
            hub_rentry_t *e = hub_rcache_get(&c, m.route);
            FUZZ_ASSERT(e != NULL && e->hub[0] != '\0' && (e->held == 0 || e->held == 1));
            char hub[sizeof(e->hub)];
            memcpy(hub, e->hub, sizeof(hub));
            FUZZ_ASSERT(hub_rcache_del(&c, m.route, hub) == 1);
            FUZZ_ASSERT(hub_rcache_get(&c, m.route) == NULL);
        } else {
            FUZZ_ASSERT(c.n == before);
        }
    }
    /* The whole input as a stored value. */
    if (hub_rcache_put_value(&c, "tcp:1", msg, size) == PN_OK)
        FUZZ_ASSERT(hub_rcache_get(&c, "tcp:1") != NULL);
    hub_rcache_clear(&c);
    return 0;
}
