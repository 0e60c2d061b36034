/* master/history.h: the traffic history of the dashboard's chart (docs/master.md
 * "History"): every PN_STORE_HIST_FINE_S seconds each instance's byte increases
 * go into the store's fine buckets; every minute the finished minutes are rolled
 * up into coarse buckets and what is too old is deleted (master/store.h).
 *
 *   timer (10 s) ─> sample every instance ─> pn_store_hist_add
 *   every 6th    ─> pn_store_hist_compact(minutes since the last one)
 *   GET /instances/{id}/history ─> sample that instance ─> pn_store_hist_get */
#ifndef PN_MASTER_HISTORY_H
#define PN_MASTER_HISTORY_H

#include "core/ev.h"
#include "master/store.h"
#include "master/super.h"

#include <jansson.h>
#include <stdint.h>

#define PN_HISTORY_RANGE_MIN 60         /* seconds a range covers at least */
#define PN_HISTORY_RANGE_MAX 86400      /* and at most (the coarse buckets' keep) */

typedef struct pn_history pn_history_t;

/** Start sampling the instances of <super> into <store> (both borrowed) on
 *  <loop>, each counting from its counters now (call it once they are loaded;
 *  an instance made later counts from 0); the store is compacted at once.
 *  Never NULL. */
pn_history_t *pn_history_new(ev_loop_t *loop, pn_store_t *store, pn_super_t *super);
/** Stop and free <h>. NULL is a no-op. */
void pn_history_free_(pn_history_t *h);
#define pn_history_free(p) do { pn_history_free_(p); (p) = NULL; } while (0)

/** Sample every instance now (the master's stop does, so nothing is lost).
 *  NULL is a no-op. */
void pn_history_sample(pn_history_t *h);
/** The answer of GET /instances/{id}/history for <in> over the last <range_s>
 *  seconds, <in> sampled first (so it holds every byte counted so far): a new
 *  object, or NULL when the database failed. */
json_t *pn_history_json(pn_history_t *h, pn_inst_t *in, int64_t range_s);

/** How much a counter grew from <last> to <now>: a drop (reset) counts from 0. */
uint64_t pn_history_delta(uint64_t last, uint64_t now);
/** Parse a range ("15m", "1h", "24h", "3600s": a duration) into whole seconds
 *  within PN_HISTORY_RANGE_MIN..MAX; PN_OK or PN_ERR. */
int pn_history_range(const char *s, int64_t *out_s);

#endif
