/* net/admit.c: unfinished connections per source, with fair victims. */
#include "net/admit.h"
#include "core/err.h"
#include "core/mem.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define ADMIT_SLOTS_MIN 16      /* the table's first size (a power of two) */

struct admit_src {
    uint8_t key[8];             /* IPv4 address, or the IPv6 /64 */
    uint8_t v6;
    uint32_t count;
    pn_list_t ents;             /* pn_admit_ent_t.mine, oldest first */
};

/* A source's key: an IPv4 address (mapped ones included) or an IPv6 /64. */
static void
src_key(const pn_addr_t *a, uint8_t key[8], uint8_t *v6)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    memset(key, 0, 8);
    *v6 = 0;
    if (a->ss.ss_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    } else if (a->ss.ss_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr;
        if (memcmp(b, mapped, 12) == 0) {
            memcpy(key, b + 12, 4);
        } else {
            memcpy(key, b, 8);
            *v6 = 1;
        }
    }
}

static uint32_t
slot_of(const pn_admit_t *a, const uint8_t key[8], uint8_t v6)
{
    uint32_t h = 2166136261u ^ v6;
    for (int i = 0; i < 8; i++)
        h = (h ^ key[i]) * 16777619u;
    return h & a->mask;
}

/* The slot holding <key>, or the empty slot where it would go. The table is
 * at most half full (grow), so the probe ends. */
static uint32_t
find(const pn_admit_t *a, const uint8_t key[8], uint8_t v6)
{
    uint32_t i = slot_of(a, key, v6);
    while (a->tab[i] != NULL && (a->tab[i]->v6 != v6 || memcmp(a->tab[i]->key, key, 8) != 0))
        i = (i + 1) & a->mask;
    return i;
}

/* Empty slot <i>, shifting back the entries of its probe run. */
static void
unslot(pn_admit_t *a, uint32_t i)
{
    a->tab[i] = NULL;
    for (uint32_t j = (i + 1) & a->mask; a->tab[j] != NULL; j = (j + 1) & a->mask) {
        uint32_t home = slot_of(a, a->tab[j]->key, a->tab[j]->v6);
        /* Move tab[j] into the hole when its home is not in (i, j]. */
        if (((j - home) & a->mask) >= ((j - i) & a->mask)) {
            a->tab[i] = a->tab[j];
            a->tab[j] = NULL;
            i = j;
        }
    }
}

void
pn_admit_init(pn_admit_t *a, uint32_t max, uint32_t per_src)
{
    memset(a, 0, sizeof(*a));
    a->max = max ? max : 1;
    a->per_src = per_src == 0 ? 1 : per_src > a->max ? a->max : per_src;
    a->mask = ADMIT_SLOTS_MIN - 1;
    a->tab = xcalloc(ADMIT_SLOTS_MIN * sizeof(*a->tab));
    pn_list_init(&a->all);
}

/* Double the table when one more source would fill it past half: it grows
 * with the sources seen at once, not with max (a listener mostly sees few). */
static void
grow(pn_admit_t *a)
{
    uint32_t slots = a->mask + 1;
    if ((a->nsrc + 1) * 2 <= slots)
        return;
    struct admit_src **old = a->tab;
    a->tab = xcalloc(2 * (size_t)slots * sizeof(*a->tab));
    a->mask = 2 * slots - 1;
    for (uint32_t i = 0; i < slots; i++)
        if (old[i] != NULL)
            a->tab[find(a, old[i]->key, old[i]->v6)] = old[i];
    free(old);
}

void
pn_admit_clear(pn_admit_t *a)
{
    while (!pn_list_empty(&a->all))
        pn_admit_del(a, pn_container_of(a->all.next, pn_admit_ent_t, all));
    free(a->tab);
    a->tab = NULL;
}

pn_admit_ent_t *
pn_admit_victim(pn_admit_t *a, const pn_addr_t *src)
{
    uint8_t key[8], v6;
    src_key(src, key, &v6);
    struct admit_src *s = a->tab[find(a, key, v6)];
    if (s != NULL && s->count >= a->per_src)
        return pn_container_of(s->ents.next, pn_admit_ent_t, mine);
    if (a->count < a->max)
        return NULL;
    struct admit_src *big = NULL;
    for (uint32_t i = 0; i <= a->mask; i++) {
        struct admit_src *t = a->tab[i];
        if (t == NULL)
            continue;
        if (big == NULL || t->count > big->count ||
            (t->count == big->count &&
             pn_container_of(t->ents.next, pn_admit_ent_t, mine)->since_ms <
             pn_container_of(big->ents.next, pn_admit_ent_t, mine)->since_ms))
            big = t;
    }
    return big ? pn_container_of(big->ents.next, pn_admit_ent_t, mine) : NULL;
}

int
pn_admit_add(pn_admit_t *a, pn_admit_ent_t *e, const pn_addr_t *src, uint64_t now_ms)
{
    uint8_t key[8], v6;
    src_key(src, key, &v6);
    uint32_t i = find(a, key, v6);
    struct admit_src *s = a->tab[i];
    if (a->count >= a->max || (s != NULL && s->count >= a->per_src))
        return PN_ERR;
    if (s == NULL) {
        grow(a);
        s = xcalloc(sizeof(*s));
        memcpy(s->key, key, 8);
        s->v6 = v6;
        pn_list_init(&s->ents);
        a->tab[find(a, key, v6)] = s;
        a->nsrc++;
    }
    s->count++;
    a->count++;
    e->src = s;
    e->since_ms = now_ms;
    pn_list_add(&s->ents, &e->mine);
    pn_list_add(&a->all, &e->all);
    return PN_OK;
}

void
pn_admit_del(pn_admit_t *a, pn_admit_ent_t *e)
{
    struct admit_src *s = e->src;
    if (s == NULL)
        return;
    pn_list_del(&e->mine);
    pn_list_del(&e->all);
    e->src = NULL;
    a->count--;
    if (--s->count == 0) {
        unslot(a, find(a, s->key, s->v6));
        a->nsrc--;
        free(s);
    }
}

pn_admit_ent_t *
pn_admit_oldest(const pn_admit_t *a)
{
    return pn_list_empty(&a->all) ? NULL : pn_container_of(a->all.next, pn_admit_ent_t, all);
}

uint32_t
pn_admit_held(const pn_admit_t *a, const pn_addr_t *src)
{
    uint8_t key[8], v6;
    src_key(src, key, &v6);
    struct admit_src *s = a->tab[find(a, key, v6)];
    return s ? s->count : 0;
}
