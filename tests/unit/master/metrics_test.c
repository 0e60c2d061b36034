/* tests/unit/master/metrics_test.c: the Prometheus text of master/metrics.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/hubstate.h"
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
        "postern_instance_ping_seconds{id=\"0000000a\",alias=\"web\"} 0.008\n",
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

/* <line> appears in <t>, and exactly once. */
static void
has_once(const char *t, const char *line)
{
    const char *at = strstr(t, line);
    if (at == NULL)
        fail_msg("missing: %s\nin:\n%s", line, t);
    if (strstr(at + 1, line) != NULL)
        fail_msg("twice: %s", line);
}

static void
test_hub(void **state)
{
    char err[256];
    static const char line[] =
        "HUB_STATE|{\"clients\":[{\"id\":\"c1\",\"account\":\"alice\"},{\"id\":\"c2\"}],"
        "\"routes\":[{\"type\":\"http\",\"key\":\"app.hub.test\"},{\"type\":\"tcp\",\"key\":\"10022\"},"
        "{\"type\":\"http\",\"key\":\"b.hub.test\"},{\"type\":\"quic\",\"key\":\"x\"}],"
        "\"accounts\":[{\"name\":\"alice\",\"conns\":4,\"requests\":1200,\"rx\":123456,"
        "\"tx\":654321,\"refused\":{\"rate\":3,\"conns\":0,\"routes\":1}},{\"name\":\"bob\"}]}";
    json_t *hub = pn_hubstate_parse(line, strlen(line), err);
    assert_non_null(hub);
    pn_metric_inst_t v[3] = {
        { .id = "0000000a", .alias = "plain", .status = "running" },
        { .id = "0000000b", .alias = "hub", .status = "running", .is_hub = 1, .hub = hub },
        { .id = "0000000c", .alias = "", .status = "stopped", .is_hub = 1 },   /* no state */
    };
    size_t len;
    char *t = pn_metrics_format(v, 3, 1, &len);
    assert_int_equal(strlen(t), len);
    const char *want[] = {
        "# TYPE postern_hub_clients gauge\n",
        "postern_hub_clients{id=\"0000000b\",alias=\"hub\"} 2\n",
        "postern_hub_clients{id=\"0000000c\",alias=\"\"} 0\n",
        "# TYPE postern_hub_routes gauge\n",
        "postern_hub_routes{id=\"0000000b\",alias=\"hub\",type=\"tcp\"} 1\n",
        "postern_hub_routes{id=\"0000000b\",alias=\"hub\",type=\"udp\"} 0\n",
        "postern_hub_routes{id=\"0000000b\",alias=\"hub\",type=\"http\"} 2\n",
        "postern_hub_routes{id=\"0000000b\",alias=\"hub\",type=\"https\"} 0\n",
        "postern_hub_routes{id=\"0000000b\",alias=\"hub\",type=\"quic\"} 1\n",
        "postern_hub_routes{id=\"0000000c\",alias=\"\",type=\"http\"} 0\n",
        "# TYPE postern_hub_account_rx_bytes_total counter\n",
        "postern_hub_account_rx_bytes_total{id=\"0000000b\",alias=\"hub\",account=\"alice\"} 123456\n",
        "postern_hub_account_rx_bytes_total{id=\"0000000b\",alias=\"hub\",account=\"bob\"} 0\n",
        "# TYPE postern_hub_account_tx_bytes_total counter\n",
        "postern_hub_account_tx_bytes_total{id=\"0000000b\",alias=\"hub\",account=\"alice\"} 654321\n",
        "# TYPE postern_hub_account_connections gauge\n",
        "postern_hub_account_connections{id=\"0000000b\",alias=\"hub\",account=\"alice\"} 4\n",
        "# TYPE postern_hub_account_requests_total counter\n",
        "postern_hub_account_requests_total{id=\"0000000b\",alias=\"hub\",account=\"alice\"} 1200\n",
        "# TYPE postern_hub_account_refused_total counter\n",
        "postern_hub_account_refused_total{id=\"0000000b\",alias=\"hub\",account=\"alice\","
        "reason=\"rate\"} 3\n",
        "postern_hub_account_refused_total{id=\"0000000b\",alias=\"hub\",account=\"alice\","
        "reason=\"conns\"} 0\n",
        "postern_hub_account_refused_total{id=\"0000000b\",alias=\"hub\",account=\"alice\","
        "reason=\"routes\"} 1\n",
        "postern_hub_account_refused_total{id=\"0000000b\",alias=\"hub\",account=\"bob\","
        "reason=\"rate\"} 0\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        has_once(t, want[i]);
    /* No hub series for the instance that is not a hub, nor accounts without a state. */
    assert_null(strstr(t, "postern_hub_clients{id=\"0000000a\""));
    assert_null(strstr(t, "postern_hub_routes{id=\"0000000a\""));
    assert_null(strstr(t, "account=\"\""));
    assert_null(strstr(t, "postern_hub_account_rx_bytes_total{id=\"0000000c\""));
    /* Each family's samples follow its TYPE line, before the next family. */
    const char *rt = strstr(t, "# TYPE postern_hub_routes gauge\n");
    const char *rx = strstr(t, "# TYPE postern_hub_account_rx_bytes_total");
    const char *last = strstr(t, "postern_hub_routes{id=\"0000000c\",alias=\"\",type=\"https\"}");
    assert_true(rt < last && last < rx);
    assert_int_equal(t[len - 1], '\n');
    free(t);
    json_decref(hub);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_empty_and_large),
        cmocka_unit_test(test_hub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
