/* tests/unit/net/stall_test.c: the progress deadline of net/stall.h on a real
 * loop: a connection without progress is ended once, progress restarts its
 * clock, nothing pending takes it out, and entries end in the order of their
 * last progress. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../testutil.h"
#include "net/stall.h"

#define N 3

typedef struct t {
    ev_loop_t *loop;
    pn_stall_t *st;
    pn_stall_ent_t e[N];
    int killed[N];
    int order[N], nkilled;
} t_t;

static t_t *cur;

static void
on_kill(void *arg)
{
    int i = (int)(intptr_t)arg;
    cur->killed[i]++;
    cur->order[cur->nkilled++] = i;
}

static int
setup(void **state)
{
    static t_t t;
    memset(&t, 0, sizeof(t));
    t.loop = ev_loop_new();
    t.st = pn_stall_new(t.loop, 60);
    cur = &t;
    *state = &t;
    return 0;
}

static int
teardown(void **state)
{
    t_t *t = *state;
    pn_stall_free(t->st);
    ev_loop_free(t->loop);
    return 0;
}

static void
note(t_t *t, int i, size_t pending, int moved)
{
    pn_stall_note(t->st, &t->e[i], pending, moved, "test", on_kill, (void *)(intptr_t)i);
}

static int
all_killed(void *ctx)
{
    t_t *t = ctx;
    return t->nkilled == N;
}

/* No progress: ended once, after the timeout, in the order of last progress. */
static void
test_ends_in_order(void **state)
{
    t_t *t = *state;
    uint64_t t0 = pn_now_ms();
    note(t, 0, 10, 0);
    note(t, 1, 10, 0);
    note(t, 2, 10, 0);
    note(t, 0, 10, 1);          /* progress: 0 is now the youngest */
    note(t, 1, 10, 0);          /* no progress: its clock runs on */
    assert_true(tu_run_until(t->loop, all_killed, t, 2000));
    assert_true(pn_now_ms() - t0 >= 60);
    assert_int_equal(t->order[0], 1);
    assert_int_equal(t->order[1], 2);
    assert_int_equal(t->order[2], 0);
    tu_run_until(t->loop, NULL, NULL, 100);
    for (int i = 0; i < N; i++)
        assert_int_equal(t->killed[i], 1);
    assert_int_equal(pn_stall_killed(t->st), N);
}

/* Progress more often than the timeout keeps it; nothing pending takes it out;
 * a deleted entry is never ended. */
static void
test_progress_and_done(void **state)
{
    t_t *t = *state;
    note(t, 0, 10, 0);
    note(t, 1, 10, 0);
    note(t, 2, 10, 0);
    note(t, 1, 0, 0);           /* all written */
    pn_stall_del(t->st, &t->e[2]);
    pn_stall_del(t->st, &t->e[2]);      /* idempotent */
    for (int k = 0; k < 6; k++) {
        tu_run_until(t->loop, NULL, NULL, 25);
        note(t, 0, 10, 1);
    }
    assert_int_equal(t->nkilled, 0);
    note(t, 0, 0, 0);
    tu_run_until(t->loop, NULL, NULL, 150);
    assert_int_equal(t->nkilled, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ends_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_and_done, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
