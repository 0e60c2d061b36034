/* tests/unit/master/health_test.c: STATE lines (master/health.h) as the modes
 * print them (modes/instance.c pn_instance_state), in both log formats, and the
 * lines that are not one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "master/health.h"

static int
parse(const char *line, enum pn_health *h, char *reason)
{
    return pn_health_parse(line, strlen(line), h, reason);
}

static void
test_text_and_json(void **state)
{
    enum pn_health h = PN_HEALTH_STOPPED;
    char reason[PN_HEALTH_REASON_MAX];
    assert_int_equal(parse("2026-12-06 03:20:00.123 EVENT STATE|degraded|every target down (2 of 2)\n",
                           &h, reason), PN_OK);
    assert_int_equal(h, PN_HEALTH_DEGRADED);
    assert_string_equal(reason, "every target down (2 of 2)");
    assert_int_equal(parse("{\"time\":\"2026-12-06T03:20:00.123Z\",\"level\":\"event\",\"mode\":\"client\","
                           "\"instance\":\"\",\"msg\":\"STATE|error|authentication failed with "
                           "127.0.0.1:1: wrong key\",\"fields\":{}}", &h, reason), PN_OK);
    assert_int_equal(h, PN_HEALTH_ERROR);
    assert_string_equal(reason, "authentication failed with 127.0.0.1:1: wrong key");
    assert_int_equal(parse("STATE|connected|", &h, reason), PN_OK);
    assert_int_equal(h, PN_HEALTH_CONNECTED);
    assert_string_equal(reason, "");
    assert_int_equal(parse("x STATE|connecting|a|b\r\n", &h, reason), PN_OK);
    assert_int_equal(h, PN_HEALTH_CONNECTING);
    assert_string_equal(reason, "a|b");
}

static void
test_not_state_lines(void **state)
{
    static const char *const bad[] = {
        "2026-12-06 03:20:00.123 EVENT HUB_STATE|{\"clients\":[]}",
        "2026-12-06 03:20:00.123 EVENT CHECK_POINT|MODE=1|PING=0ms|POOL=0",
        "EVENT STATE|stopped|an instance never says stopped",
        "EVENT STATE|fine|unknown state",
        "EVENT STATE|connected",
        "EVENT STATE|",
        "EVENT xSTATE|connected|inside a word",
        "{\"msg\":\"STATE|connected|no closing quote",
        "",
    };
    enum pn_health h;
    char reason[PN_HEALTH_REASON_MAX];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse(bad[i], &h, reason) != PN_ERR)
            fail_msg("accepted: %s", bad[i]);
}

/* A long reason is cut; bytes outside printable ASCII become '?'. */
static void
test_reason_bounds(void **state)
{
    char line[1200], reason[PN_HEALTH_REASON_MAX];
    enum pn_health h;
    int n = snprintf(line, sizeof(line), "EVENT STATE|degraded|\x01\xc3\xa9");
    memset(line + n, 'r', 1000);
    line[n + 1000] = '\0';
    assert_int_equal(parse(line, &h, reason), PN_OK);
    assert_int_equal(strlen(reason), PN_HEALTH_REASON_MAX - 1);
    assert_memory_equal(reason, "???rrr", 6);
    assert_string_equal(pn_health_name(PN_HEALTH_STOPPED), "stopped");
    assert_string_equal(pn_health_name(PN_HEALTH_DEGRADED), "degraded");
    assert_string_equal(pn_health_name((enum pn_health)99), "stopped");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_and_json),
        cmocka_unit_test(test_not_state_lines),
        cmocka_unit_test(test_reason_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
