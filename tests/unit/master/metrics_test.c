/* tests/unit/master/metrics_test.c: the Prometheus text of master/metrics.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/metrics.h"

static void
test_format(void **state)
{
    pn_metric_inst_t v[2] = {
        { .id = "0000000a", .alias = "web", .status = "running", .bytes = { 1, 2, 3, 4 },
          .tcps = 5, .udps = 6, .pool = 7, .ping_ms = 8, .restarts = 9 },
        { .id = "0000000b", .alias = "a\"b\\c\nd", .status = "error" },
    };
    size_t len;
    char *t = pn_metrics_format(v, 2, 42, &len);
    assert_int_equal(strlen(t), len);
    const char *want[] = {
        "# TYPE postern_instances gauge\n",
        "postern_instances{status=\"running\"} 1\n",
        "postern_instances{status=\"stopped\"} 0\n",
        "postern_instances{status=\"error\"} 1\n",
        "postern_instance_up{id=\"0000000a\",alias=\"web\"} 1\n",
        "postern_instance_up{id=\"0000000b\",alias=\"a\\\"b\\\\c\\nd\"} 0\n",
        "# TYPE postern_instance_bytes_total counter\n",
        "postern_instance_bytes_total{id=\"0000000a\",alias=\"web\",proto=\"tcp\",direction=\"rx\"} 1\n",
        "postern_instance_bytes_total{id=\"0000000a\",alias=\"web\",proto=\"tcp\",direction=\"tx\"} 2\n",
        "postern_instance_bytes_total{id=\"0000000a\",alias=\"web\",proto=\"udp\",direction=\"rx\"} 3\n",
        "postern_instance_bytes_total{id=\"0000000a\",alias=\"web\",proto=\"udp\",direction=\"tx\"} 4\n",
        "postern_instance_connections{id=\"0000000a\",alias=\"web\",proto=\"tcp\"} 5\n",
        "postern_instance_connections{id=\"0000000a\",alias=\"web\",proto=\"udp\"} 6\n",
        "postern_instance_pool{id=\"0000000a\",alias=\"web\"} 7\n",
        "postern_instance_ping_ms{id=\"0000000a\",alias=\"web\"} 8\n",
        "# TYPE postern_instance_restarts_total counter\n",
        "postern_instance_restarts_total{id=\"0000000a\",alias=\"web\"} 9\n",
        "# TYPE postern_master_uptime_seconds gauge\npostern_master_uptime_seconds 42\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strstr(t, want[i]) == NULL)
            fail_msg("missing: %s\nin:\n%s", want[i], t);
    assert_int_equal(t[len - 1], '\n');
    free(t);
}

static void
test_empty_and_large(void **state)
{
    size_t len;
    char *t = pn_metrics_format(NULL, 0, 0, &len);
    assert_non_null(strstr(t, "postern_instances{status=\"running\"} 0\n"));
    assert_null(strstr(t, "postern_instance_up{"));
    free(t);
    /* Enough instances to grow the buffer many times. */
    pn_metric_inst_t *v = calloc(500, sizeof(*v));
    for (int i = 0; i < 500; i++) {
        v[i].id = "abcdef01";
        v[i].alias = "x";
        v[i].status = "stopped";
    }
    t = pn_metrics_format(v, 500, 1, &len);
    assert_non_null(strstr(t, "postern_instances{status=\"stopped\"} 500\n"));
    assert_int_equal(strlen(t), len);
    free(t);
    free(v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_empty_and_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
