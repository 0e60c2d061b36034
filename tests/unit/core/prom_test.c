/* tests/unit/core/prom_test.c: the Prometheus text writer of core/prom.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/prom.h"

static void
test_family_sample_label(void **state)
{
    pn_prom_t b;
    size_t len;
    pn_prom_init(&b);
    pn_prom_family(&b, "x_total", "counter", "Help.");
    pn_prom_sample(&b, "x_total", NULL, 7);
    pn_prom_printf(&b, "y{a=\"");
    pn_prom_label(&b, "q\"b\\n\nz");
    pn_prom_printf(&b, "\"} 1\n");
    char *t = pn_prom_take(&b, &len);
    assert_string_equal(t, "# HELP x_total Help.\n# TYPE x_total counter\nx_total 7\n"
                           "y{a=\"q\\\"b\\\\n\\nz\"} 1\n");
    assert_int_equal(len, strlen(t));
    free(t);
}

static void
test_histogram(void **state)
{
    pn_prom_hist_t h;
    pn_prom_t b;
    size_t len;
    memset(&h, 0, sizeof(h));
    pn_prom_hist_observe(&h, 0);
    pn_prom_hist_observe(&h, 1000);        /* 1 ms: the le="0.001" bucket */
    pn_prom_hist_observe(&h, 20000000);    /* 20 s: only +Inf */
    pn_prom_init(&b);
    pn_prom_hist_write(&b, "t_seconds", "k=\"v\"", &h);
    char *t = pn_prom_take(&b, &len);
    assert_non_null(strstr(t, "t_seconds_bucket{k=\"v\",le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{k=\"v\",le=\"0.001\"} 2\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{k=\"v\",le=\"10\"} 2\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{k=\"v\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(t, "t_seconds_sum{k=\"v\"} 20.001\n"));
    assert_non_null(strstr(t, "t_seconds_count{k=\"v\"} 3\n"));
    free(t);
    pn_prom_init(&b);
    memset(&h, 0, sizeof(h));
    pn_prom_hist_write(&b, "u", NULL, &h);
    t = pn_prom_take(&b, &len);
    assert_non_null(strstr(t, "u_bucket{le=\"2.5\"} 0\n"));
    assert_non_null(strstr(t, "u_sum 0\nu_count 0\n"));
    free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_sample_label),
        cmocka_unit_test(test_histogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
