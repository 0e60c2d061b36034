/* tunnel/seen.c: a set of 64-bit keys with linear probing, grown at half load,
 * and the window of three epochs' sets (seen.h). */
#include "tunnel/seen.h"
#include "core/mem.h"

#include <string.h>

static int
insert(uint64_t *slots, size_t cap, uint64_t k)
{
    for (size_t i = (size_t)(k * 0x9E3779B97F4A7C15ULL) & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (slots[i] == k)
            return PN_ERR;
        if (slots[i] == 0) {
            slots[i] = k;
            return PN_OK;
        }
    }
}

/* Record <id> in <s> (see seen.h). */
int
tun_seen_add(tun_seen_t *s, const uint8_t id[PN_CONN_ID_LEN])
{
    uint64_t k;
    /* The last 8 bytes: a hub's ids all start with their session's tag. */
    memcpy(&k, id + PN_CONN_ID_LEN - sizeof(k), sizeof(k));
    if (k == 0)
        k = 1;                  /* 0 marks an empty slot */
    if (s->n >= TUN_SEEN_MAX)
        return PN_AGAIN;
    if (s->cap == 0 || (s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;      /* small: most sessions see few ids */
        uint64_t *slots = xcalloc(cap * sizeof(*slots));
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i] != 0)
                insert(slots, cap, s->slots[i]);
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    if (insert(s->slots, s->cap, k) != PN_OK)
        return PN_ERR;
    s->n++;
    return PN_OK;
}

/* Forget every id of <s>. */
void
tun_seen_clear(tun_seen_t *s)
{
    free(s->slots);
    memset(s, 0, sizeof(*s));
}

/* Record <id> proved in <epoch> in <w> (see seen.h). */
int
tun_seen_win_add(tun_seen_win_t *w, uint32_t epoch, const uint8_t id[PN_CONN_ID_LEN])
{
    size_t g = epoch % TUN_SEEN_GENS;
    if (w->epoch[g] != (uint64_t)epoch + 1) {
        tun_seen_clear(&w->gen[g]);     /* an epoch three back (or none): out of the window */
        w->epoch[g] = (uint64_t)epoch + 1;
    }
    if (w->gen[g].n >= TUN_SEEN_EPOCH_MAX)
        return PN_AGAIN;
    return tun_seen_add(&w->gen[g], id);
}

/* The ids <w> holds. */
size_t
tun_seen_win_count(const tun_seen_win_t *w)
{
    size_t n = 0;
    for (size_t g = 0; g < TUN_SEEN_GENS; g++)
        n += w->gen[g].n;
    return n;
}

/* Forget every epoch of <w>. */
void
tun_seen_win_clear(tun_seen_win_t *w)
{
    for (size_t g = 0; g < TUN_SEEN_GENS; g++)
        tun_seen_clear(&w->gen[g]);
    memset(w, 0, sizeof(*w));
}
