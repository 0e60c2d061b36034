/* master/history.c: sampling the instances' counters into the store's history
 * (master/history.h). */
#include "master/history.h"
#include "core/duration.h"
#include "core/log.h"
#include "core/mem.h"

#include <stdlib.h>
#include <time.h>

#define HIST_COMPACT_EVERY 6        /* samples per compaction: once a minute */

struct pn_history {
    pn_store_t *store;          /* borrowed */
    pn_super_t *super;          /* borrowed */
    ev_timer_t *timer;          /* owned */
    unsigned ticks;
    int64_t rolled;             /* minutes before this are rolled up (a multiple of 60) */
};

uint64_t
pn_history_delta(uint64_t last, uint64_t now)
{
    return now >= last ? now - last : now;
}

int
pn_history_range(const char *s, int64_t *out_s)
{
    uint64_t ms;
    if (s == NULL || pn_duration_parse(s, &ms) != 0 || ms / 1000 < PN_HISTORY_RANGE_MIN ||
        ms / 1000 > PN_HISTORY_RANGE_MAX)
        return PN_ERR;
    *out_s = (int64_t)(ms / 1000);
    return PN_OK;
}

/* The increases of <in> since its last sample into <v>; 1 when there are any.
 * An instance not sampled yet was made after pn_history_new: its counters
 * started at 0. */
static int
sample_one(pn_inst_t *in, int64_t now, pn_store_hist_t *v)
{
    int any = 0;
    v->id = in->id;
    v->t = now;
    for (int k = 0; k < PN_NCOUNTERS; k++) {
        uint64_t c = pn_inst_counter(in, (enum pn_counter)k);
        v->bytes[k] = pn_history_delta(in->hist_seen ? in->hist_last[k] : 0, c);
        in->hist_last[k] = c;
        any |= v->bytes[k] != 0;
    }
    in->hist_seen = 1;
    return any;
}

static void
compact(pn_history_t *h, int64_t now)
{
    int64_t to = now - now % PN_STORE_HIST_COARSE_S;
    if (pn_store_hist_compact(h->store, h->rolled, to, now) == PN_OK)
        h->rolled = to;
    else
        log_error("master: history: cannot compact the database");
}

void
pn_history_sample(pn_history_t *h)
{
    size_t n = 0;
    int64_t now = (int64_t)time(NULL);
    if (h == NULL)
        return;
    pn_store_hist_t *v = xcalloc((pn_super_count(h->super) + 1) * sizeof(*v));
    pn_list_t *head = pn_super_list(h->super);
    for (pn_list_t *it = head->next; it != head; it = it->next)
        n += sample_one(pn_container_of(it, pn_inst_t, node), now, &v[n]);
    if (pn_store_hist_add(h->store, v, n) != PN_OK)
        log_error("master: history: cannot store a sample");
    free(v);
}

static long
on_tick(ev_timer_t *t, void *arg)
{
    pn_history_t *h = arg;
    pn_history_sample(h);
    if (++h->ticks % HIST_COMPACT_EVERY == 0)
        compact(h, (int64_t)time(NULL));
    return PN_STORE_HIST_FINE_S * 1000;
}

pn_history_t *
pn_history_new(ev_loop_t *loop, pn_store_t *store, pn_super_t *super)
{
    pn_history_t *h = xcalloc(sizeof(*h));
    h->store = store;
    h->super = super;
    h->timer = ev_timer_new(loop, on_tick, h);
    /* The instances loaded from the database count from what they had. */
    pn_list_t *head = pn_super_list(super);
    for (pn_list_t *it = head->next; it != head; it = it->next) {
        pn_inst_t *in = pn_container_of(it, pn_inst_t, node);
        for (int k = 0; k < PN_NCOUNTERS; k++)
            in->hist_last[k] = pn_inst_counter(in, (enum pn_counter)k);
        in->hist_seen = 1;
    }
    /* From 0: whatever an earlier master left unrolled is rolled up now. */
    compact(h, (int64_t)time(NULL));
    ev_timer_arm(h->timer, PN_STORE_HIST_FINE_S * 1000);
    return h;
}

void
pn_history_free_(pn_history_t *h)
{
    if (h == NULL)
        return;
    ev_timer_free(h->timer);
    free(h);
}

static void
add_sample(int64_t t, const uint64_t b[4], void *ctx)
{
    json_t *o = json_object();
    json_object_set_new(o, "t", json_integer((json_int_t)t));
    json_object_set_new(o, "tcprx", json_integer((json_int_t)(b[0] & INT64_MAX)));
    json_object_set_new(o, "tcptx", json_integer((json_int_t)(b[1] & INT64_MAX)));
    json_object_set_new(o, "udprx", json_integer((json_int_t)(b[2] & INT64_MAX)));
    json_object_set_new(o, "udptx", json_integer((json_int_t)(b[3] & INT64_MAX)));
    json_array_append_new(ctx, o);
}

json_t *
pn_history_json(pn_history_t *h, pn_inst_t *in, int64_t range_s)
{
    static const char *const names[PN_NCOUNTERS] = { "tcprx", "tcptx", "udprx", "udptx" };
    pn_store_hist_t v;
    int64_t now = (int64_t)time(NULL);
    if (sample_one(in, now, &v) && pn_store_hist_add(h->store, &v, 1) != PN_OK)
        return NULL;
    int coarse = range_s > PN_STORE_HIST_FINE_KEEP;
    int step = coarse ? PN_STORE_HIST_COARSE_S : PN_STORE_HIST_FINE_S;
    int64_t since = now - range_s;
    since -= since % step;
    json_t *samples = json_array();
    if (pn_store_hist_get(h->store, in->id, since, coarse, h->rolled, add_sample, samples) != PN_OK) {
        json_decref(samples);
        return NULL;
    }
    json_t *o = json_object(), *totals = json_object();
    json_object_set_new(o, "id", json_string(in->id));
    json_object_set_new(o, "range", json_integer((json_int_t)range_s));
    json_object_set_new(o, "step", json_integer(step));
    json_object_set_new(o, "now", json_integer((json_int_t)now));
    /* The counters this answer counts up to: the page's baseline for the
     * increases its events bring next. */
    for (int k = 0; k < PN_NCOUNTERS; k++)
        json_object_set_new(totals, names[k], json_integer((json_int_t)(in->hist_last[k] & INT64_MAX)));
    json_object_set_new(o, "totals", totals);
    json_object_set_new(o, "samples", samples);
    return o;
}
