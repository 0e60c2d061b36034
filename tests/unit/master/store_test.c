/* tests/unit/master/store_test.c: the SQLite store (master/store.h): rows,
 * settings and counters survive a close and reopen. */
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
