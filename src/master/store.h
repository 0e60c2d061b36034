/* master/store.h: the master's state in SQLite (WAL): instances and settings.
 *
 * Every write is one statement or one transaction with bound parameters, so a
 * kill -9 at any moment leaves a database that opens cleanly and holds the
 * state of the last committed write (counters at most one save interval old). */
#ifndef PN_MASTER_STORE_H
#define PN_MASTER_STORE_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pn_store pn_store_t;

/* One instance as stored. Strings are owned by the row when it comes from
 * pn_store_load() (freed by the store after the callback), borrowed when
 * passed to pn_store_put(). */
typedef struct pn_store_row {
    const char *id;             /* 8 hex characters */
    const char *alias;
    const char *url;            /* may hold a tunnel key: never logged */
    const char *tags;           /* JSON object text */
    int restart;                /* policy flag */
    int desired;                /* 1 running, 0 stopped by request */
    int64_t created;            /* Unix seconds */
    uint64_t restarts;
    uint64_t counters[4];       /* tcprx, tcptx, udprx, udptx */
    int halted;                 /* loaded only: exited 2, not restarted (pn_store_set_halted) */
} pn_store_row_t;

/** Open (creating when missing, mode 0600) the database at <path> and its
 *  tables; NULL with <err> ("db: <path>: <reason>"). */
pn_store_t *pn_store_open(const char *path, char *err);
/** Close <s>. NULL is a no-op. */
void pn_store_free_(pn_store_t *s);
#define pn_store_free(p) do { pn_store_free_(p); (p) = NULL; } while (0)

/** Copy the setting <key> into a new string at *<out> (the caller frees it):
 *  PN_OK, PN_AGAIN when absent, PN_ERR on a database error. */
int pn_store_get(pn_store_t *s, const char *key, char **out);
/** Set the setting <key> to <value>; PN_OK or PN_ERR. */
int pn_store_set(pn_store_t *s, const char *key, const char *value);

/** Call <cb> for every stored instance in creation order; PN_OK or PN_ERR. */
int pn_store_load(pn_store_t *s, void (*cb)(const pn_store_row_t *row, void *ctx), void *ctx);
/** Insert or replace the instance <row>; PN_OK or PN_ERR. */
int pn_store_put(pn_store_t *s, const pn_store_row_t *row);
/** Delete the instance <id> and its history; PN_OK or PN_ERR. */
int pn_store_delete(pn_store_t *s, const char *id);
/** Mark the instance <id> as halted (it exited 2 and is not restarted, even by a
 *  new master) or not; pn_store_put leaves the mark alone. PN_OK or PN_ERR. */
int pn_store_set_halted(pn_store_t *s, const char *id, int halted);
/* History (docs/master.md "History"): the byte increases of each instance in
 * buckets: tier 0 of PN_STORE_HIST_FINE_S seconds kept PN_STORE_HIST_FINE_KEEP
 * seconds, tier 1 of 60 s (rolled up from tier 0) kept PN_STORE_HIST_COARSE_KEEP.
 * A bucket's time is its start (Unix seconds, a multiple of its width). */
#define PN_STORE_HIST_FINE_S 10
#define PN_STORE_HIST_FINE_KEEP 3600
#define PN_STORE_HIST_COARSE_S 60
#define PN_STORE_HIST_COARSE_KEEP 86400

typedef struct pn_store_hist {
    const char *id;             /* borrowed */
    int64_t t;                  /* when, Unix seconds */
    uint64_t bytes[4];          /* increases of tcprx, tcptx, udprx, udptx */
} pn_store_hist_t;

typedef void (*pn_store_hist_cb)(int64_t t, const uint64_t bytes[4], void *ctx);

/** Add each of the <n> increases <v> to its instance's fine bucket (the one
 *  holding its time) in one transaction; PN_OK or PN_ERR. */
int pn_store_hist_add(pn_store_t *s, const pn_store_hist_t *v, size_t n);
/** Roll the fine buckets of [<from>, <to>) (multiples of 60; only whole minutes
 *  that are over) up into coarse ones (a minute rolled up before keeps its sum),
 *  then delete the fine buckets older than <now> - PN_STORE_HIST_FINE_KEEP and
 *  the coarse ones older than <now> - PN_STORE_HIST_COARSE_KEEP, in one
 *  transaction; PN_OK or PN_ERR. */
int pn_store_hist_compact(pn_store_t *s, int64_t from, int64_t to, int64_t now);
/** Call <cb> for each bucket of <id> that starts at <since> or later, in time
 *  order: the fine buckets; or, <coarse>, per minute: the coarse buckets before
 *  <split> (the end of what was rolled up) and the sums of the fine ones from
 *  <split> on. PN_OK or PN_ERR. */
int pn_store_hist_get(pn_store_t *s, const char *id, int64_t since, int coarse, int64_t split,
                      pn_store_hist_cb cb, void *ctx);

/** Save the restart and byte counters of the <n> rows in one transaction;
 *  rows whose id is gone are skipped. PN_OK or PN_ERR. */
int pn_store_save_counters(pn_store_t *s, const pn_store_row_t *rows, size_t n);

/* The manager's nodes and users (docs/master.md "Manager"): JSON objects by
 * <kind> ("node", "user") and id. */
/** Insert or replace the <n> objects <ids>/<bodies> of <kind> (in one
 *  transaction when more than one); PN_OK or PN_ERR. */
int pn_store_obj_put(pn_store_t *s, const char *kind, size_t n, const char *const *ids,
                     const char *const *bodies);
/** Delete the object <id> of <kind>; PN_OK or PN_ERR. */
int pn_store_obj_delete(pn_store_t *s, const char *kind, const char *id);
/** Call <cb> for every object of <kind> in insertion order; PN_OK or PN_ERR. */
int pn_store_obj_load(pn_store_t *s, const char *kind,
                      void (*cb)(const char *id, const char *body, void *ctx), void *ctx);

#endif
