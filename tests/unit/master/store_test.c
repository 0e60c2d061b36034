/* tests/unit/master/store_test.c: the SQLite store (master/store.h): rows,
 * settings and counters survive a close and reopen; the history's buckets,
 * their roll-up into minutes, what each query returns, retention (1 h fine,
 * 24 h coarse). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "master/store.h"

#include <sys/stat.h>
#include <unistd.h>

static char dir[64], path[128];

static int
setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/pn-store-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/master.db", dir);
    return 0;
}

static int
teardown(void **state)
{
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

typedef struct seen {
    int n;
    char ids[4][9];
    uint64_t c0[4];
    int desired[4];
    char tags[4][64];
} seen_t;

static void
on_row(const pn_store_row_t *r, void *ctx)
{
    seen_t *s = ctx;
    snprintf(s->ids[s->n], 9, "%s", r->id);
    s->c0[s->n] = r->counters[0];
    s->desired[s->n] = r->desired;
    snprintf(s->tags[s->n], 64, "%s", r->tags);
    s->n++;
}

static void
test_round_trip(void **state)
{
    char err[PN_ERR_LEN] = "";
    pn_store_t *s = pn_store_open(path, err);
    assert_non_null(s);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    char *v = NULL;
    assert_int_equal(pn_store_get(s, "key_sha256", &v), PN_AGAIN);
    assert_int_equal(pn_store_set(s, "key_sha256", "ab12"), PN_OK);
    assert_int_equal(pn_store_set(s, "name", "edge"), PN_OK);

    pn_store_row_t a = { .id = "0000000b", .alias = "b", .url = "client://:1/:2", .tags = "{}",
                         .restart = 1, .desired = 1, .created = 100 };
    pn_store_row_t b = { .id = "0000000a", .alias = "a", .url = "server://:1/:2",
                         .tags = "{\"env\":\"prod\"}", .restart = 0, .desired = 0, .created = 200 };
    assert_int_equal(pn_store_put(s, &a), PN_OK);
    assert_int_equal(pn_store_put(s, &b), PN_OK);
    /* An update keeps the listing order. */
    a.alias = "b2";
    assert_int_equal(pn_store_put(s, &a), PN_OK);
    pn_store_row_t rows[3] = {
        { .id = "0000000b", .restarts = 3, .counters = { 10, 20, 30, 40 } },
        { .id = "0000000a", .counters = { 1, 2, 3, 4 } },
        { .id = "gone0000", .counters = { 9, 9, 9, 9 } },
    };
    assert_int_equal(pn_store_save_counters(s, rows, 3), PN_OK);
    pn_store_free(s);
    assert_null(s);

    s = pn_store_open(path, err);
    assert_non_null(s);
    assert_int_equal(pn_store_get(s, "key_sha256", &v), PN_OK);
    assert_string_equal(v, "ab12");
    free(v);
    seen_t seen = { 0 };
    assert_int_equal(pn_store_load(s, on_row, &seen), PN_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.ids[0], "0000000b");
    assert_int_equal(seen.c0[0], 10);
    assert_int_equal(seen.desired[0], 1);
    assert_string_equal(seen.ids[1], "0000000a");
    assert_int_equal(seen.c0[1], 1);
    assert_int_equal(seen.desired[1], 0);
    assert_string_equal(seen.tags[1], "{\"env\":\"prod\"}");

    assert_int_equal(pn_store_delete(s, "0000000b"), PN_OK);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(pn_store_load(s, on_row, &seen), PN_OK);
    assert_int_equal(seen.n, 1);
    pn_store_free(s);
}

static void
test_bad_path(void **state)
{
    char err[PN_ERR_LEN] = "";
    assert_null(pn_store_open("/nonexistent-dir/x/master.db", err));
    assert_true(strncmp(err, "db: ", 4) == 0);
    /* Not a database. */
    char junk[160];
    snprintf(junk, sizeof(junk), "%s/junk.db", dir);
    FILE *f = fopen(junk, "w");
    fputs("this is not an SQLite file, not at all, and long enough to look like a header\n", f);
    fclose(f);
    assert_null(pn_store_open(junk, err));
    assert_true(strncmp(err, "db: ", 4) == 0);
}

/* ---- history (store.h "History"): buckets, roll-up, retention ---- */

#define MAXB 64
typedef struct got {
    size_t n;
    int64_t t[MAXB];
    uint64_t rx[MAXB], total;
} got_t;

static void
collect(int64_t t, const uint64_t b[4], void *ctx)
{
    got_t *g = ctx;
    assert_true(g->n < MAXB);
    g->t[g->n] = t;
    g->rx[g->n] = b[0];
    g->total += b[0] + b[1] + b[2] + b[3];
    g->n++;
}

static void
add(pn_store_t *s, const char *id, int64_t t, uint64_t rx)
{
    pn_store_hist_t v = { .id = id, .t = t, .bytes = { rx, 2 * rx, 0, 1 } };
    assert_int_equal(pn_store_hist_add(s, &v, 1), PN_OK);
}

/* Samples land in the 10 s bucket that holds their time and add up there. */
static void
test_fine_buckets(void **state)
{
    char err[PN_ERR_LEN];
    pn_store_t *s = pn_store_open(path, err);
    assert_non_null(s);
    const int64_t now = 1800000000;        /* a multiple of 60 */
    add(s, "aaaaaaaa", now - 25, 100);     /* bucket now-30 */
    add(s, "aaaaaaaa", now - 21, 5);       /* the same bucket */
    add(s, "aaaaaaaa", now - 1, 7);        /* bucket now-10 */
    add(s, "bbbbbbbb", now - 1, 1000);     /* another instance */
    got_t g = { 0 };
    assert_int_equal(pn_store_hist_get(s, "aaaaaaaa", now - 3600, 0, 0, collect, &g), PN_OK);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.t[0], now - 30);
    assert_int_equal(g.rx[0], 105);
    assert_int_equal(g.t[1], now - 10);
    assert_int_equal(g.rx[1], 7);
    assert_int_equal(g.total, 105 * 3 + 2 + 7 * 3 + 1);   /* rx + 2 rx + 0 + 1 a sample */
    /* <since> cuts. */
    memset(&g, 0, sizeof(g));
    assert_int_equal(pn_store_hist_get(s, "aaaaaaaa", now - 20, 0, 0, collect, &g), PN_OK);
    assert_int_equal(g.n, 1);
    pn_store_free(s);
}

/* Compaction rolls whole minutes up, deletes fine buckets older than 1 h and
 * coarse ones older than 24 h; the coarse query joins both tiers at <split>
 * without counting a byte twice. */
static void
test_rollup_and_retention(void **state)
{
    char err[PN_ERR_LEN];
    pn_store_t *s = pn_store_open(path, err);
    assert_non_null(s);
    const int64_t now = 1800000000;
    const char *id = "cccccccc";
    add(s, id, now - 90000, 1);            /* over 24 h old: dropped whole */
    add(s, id, now - 7200, 10);            /* 2 h old: only its minute stays */
    add(s, id, now - 7190, 20);            /* same minute */
    add(s, id, now - 600, 300);            /* 10 min old: both tiers */
    add(s, id, now + 5, 4000);             /* the minute not over yet: fine only */
    int64_t to = now;                      /* minutes before now are over */
    assert_int_equal(pn_store_hist_compact(s, 0, to, now), PN_OK);

    got_t fine = { 0 }, coarse = { 0 };
    assert_int_equal(pn_store_hist_get(s, id, now - 3600, 0, 0, collect, &fine), PN_OK);
    assert_int_equal(fine.n, 2);           /* now-600 and now (the 2 h old ones are gone) */
    assert_int_equal(fine.rx[0] + fine.rx[1], 4300);
    assert_int_equal(pn_store_hist_get(s, id, now - 86400, 1, to, collect, &coarse), PN_OK);
    assert_int_equal(coarse.n, 3);         /* minutes now-7200, now-600 and now */
    assert_int_equal(coarse.t[0], now - 7200);
    assert_int_equal(coarse.rx[0], 30);
    assert_int_equal(coarse.t[1], now - 600);
    assert_int_equal(coarse.rx[1], 300);
    assert_int_equal(coarse.t[2], now);
    assert_int_equal(coarse.rx[2], 4000);  /* from the fine tier, after <split> */

    /* A second compaction over the same minutes changes nothing (their fine
     * buckets may be partly gone: the first sum stays). */
    assert_int_equal(pn_store_hist_compact(s, 0, to, now + 3000), PN_OK);
    memset(&coarse, 0, sizeof(coarse));
    assert_int_equal(pn_store_hist_get(s, id, now - 86400, 1, to, collect, &coarse), PN_OK);
    assert_int_equal(coarse.rx[0], 30);
    assert_int_equal(coarse.rx[1], 300);

    /* A day later only what is younger than 24 h is left. */
    assert_int_equal(pn_store_hist_compact(s, to, now + 86400 - 600 + 60, now + 86400 - 500), PN_OK);
    memset(&coarse, 0, sizeof(coarse));
    assert_int_equal(pn_store_hist_get(s, id, 0, 1, now + 86400 - 600 + 60, collect, &coarse),
                     PN_OK);
    assert_int_equal(coarse.n, 1);         /* older than now-500 is gone: only the minute of now */
    assert_int_equal(coarse.t[0], now);
    assert_int_equal(coarse.rx[0], 4000);

    /* Deleting the instance deletes its history. */
    assert_int_equal(pn_store_delete(s, id), PN_OK);
    memset(&coarse, 0, sizeof(coarse));
    assert_int_equal(pn_store_hist_get(s, id, 0, 1, now + 86400, collect, &coarse), PN_OK);
    assert_int_equal(coarse.n, 0);
    pn_store_free(s);
}

/* History survives a close and reopen of the database. */
static void
test_reopen(void **state)
{
    char err[PN_ERR_LEN];
    pn_store_t *s = pn_store_open(path, err);
    assert_non_null(s);
    add(s, "dddddddd", 1800000000, 42);
    pn_store_free(s);
    s = pn_store_open(path, err);
    assert_non_null(s);
    got_t g = { 0 };
    assert_int_equal(pn_store_hist_get(s, "dddddddd", 0, 0, 0, collect, &g), PN_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.rx[0], 42);
    pn_store_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fine_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollup_and_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
