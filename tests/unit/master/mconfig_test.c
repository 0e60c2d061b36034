/* tests/unit/master/mconfig_test.c: the master:// URL and its environment
 * (master/mconfig.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "master/mconfig.h"

static void
test_defaults(void **state)
{
    pn_mconfig_t c;
    char err[PN_ERR_LEN] = "";
    assert_int_equal(pn_mconfig_parse("master://:9090", &c, err), PN_OK);
    assert_string_equal(c.host, "");
    assert_string_equal(c.port, "9090");
    assert_string_equal(c.prefix, "/api");
    assert_int_equal(c.tls, 0);
    assert_int_equal(c.log, LOG_INFO);
    assert_null(c.db);
    assert_int_equal(c.report_ms, 5000);
    assert_int_equal(c.keepalive_ms, 15000);
    pn_mconfig_clear(&c);
}

static void
test_everything(void **state)
{
    pn_mconfig_t c;
    char err[PN_ERR_LEN] = "";
    assert_int_equal(pn_mconfig_parse("master://127.0.0.1:8443/admin/x/?log=debug&tls=2&crt=/a.pem"
                                      "&key=/a.key&db=/tmp/m%20x.db", &c, err), PN_OK);
    assert_string_equal(c.host, "127.0.0.1");
    assert_string_equal(c.prefix, "/admin/x");
    assert_int_equal(c.log, LOG_DEBUG);
    assert_int_equal(c.tls, 2);
    assert_string_equal(c.crt, "/a.pem");
    assert_string_equal(c.key, "/a.key");
    assert_string_equal(c.db, "/tmp/m x.db");
    pn_mconfig_clear(&c);
    assert_int_equal(pn_mconfig_parse("master://[::1]:9090/", &c, err), PN_OK);
    assert_string_equal(c.host, "::1");
    assert_string_equal(c.prefix, "/api");
    pn_mconfig_clear(&c);
}

static void
expect_err(const char *url, const char *field)
{
    pn_mconfig_t c;
    char err[PN_ERR_LEN] = "";
    if (pn_mconfig_parse(url, &c, err) != PN_ERR)
        fail_msg("accepted %s", url);
    if (strncmp(err, field, strlen(field)) != 0 || err[strlen(field)] != ':')
        fail_msg("%s: expected the error to name %s, got \"%s\"", url, field, err);
    assert_null(c.host);
    assert_null(c.db);
}

static void
test_errors_name_the_field(void **state)
{
    expect_err("client://:9090/127.0.0.1:1", "scheme");
    expect_err("master://:0", "port");
    expect_err("master://:70000", "port");
    expect_err("master://host", "port");
    expect_err("master://:9090?tls=3", "tls");
    expect_err("master://:9090?tls=2&key=/k", "crt");
    expect_err("master://:9090?tls=2&crt=/c", "key");
    expect_err("master://:9090?log=loud", "log");
    expect_err("master://:9090?db=", "db");
    expect_err("master://:9090?mode=1", "mode");
    expect_err("master://:9090/a%20b", "prefix");
    expect_err("master://:9090/a//b", "prefix");
    expect_err("master://:9090/assets", "prefix");
    expect_err("master://secret@:9090", "url");
}

static const char *env_report, *env_ka, *env_cd, *env_np_cd;

static const char *
get(const char *name)
{
    if (strcmp(name, "POSTERN_REPORT_INTERVAL") == 0)
        return env_report;
    if (strcmp(name, "POSTERN_SSE_KEEPALIVE") == 0)
        return env_ka;
    if (strcmp(name, "POSTERN_SERVICE_COOLDOWN") == 0)
        return env_cd;
    if (strcmp(name, "NP_SERVICE_COOLDOWN") == 0)
        return env_np_cd;
    if (strcmp(name, "HOME") == 0)
        return "/home/u";
    return NULL;
}

static void
test_env(void **state)
{
    pn_mconfig_t c;
    char err[PN_ERR_LEN] = "";
    assert_int_equal(pn_mconfig_parse("master://:9090", &c, err), PN_OK);
    env_report = "200ms";
    env_ka = "1s";
    assert_int_equal(pn_mconfig_apply_env(&c, get, err), PN_OK);
    assert_int_equal(c.report_ms, 200);
    assert_int_equal(c.keepalive_ms, 1000);
    env_ka = "soon";
    assert_int_equal(pn_mconfig_apply_env(&c, get, err), PN_ERR);
    assert_non_null(strstr(err, "POSTERN_SSE_KEEPALIVE"));
    env_ka = NULL;
    env_report = "10ms";
    assert_int_equal(pn_mconfig_apply_env(&c, get, err), PN_ERR);
    assert_non_null(strstr(err, "POSTERN_REPORT_INTERVAL"));
    env_report = NULL;
    /* POSTERN_SERVICE_COOLDOWN, alias NP_SERVICE_COOLDOWN: 100ms..10m. */
    assert_int_equal(c.cooldown_ms, 1000);
    env_np_cd = "3s";
    assert_int_equal(pn_mconfig_apply_env(&c, get, err), PN_OK);
    assert_int_equal(c.cooldown_ms, 3000);
    env_cd = "500ms";
    assert_int_equal(pn_mconfig_apply_env(&c, get, err), PN_OK);
    assert_int_equal(c.cooldown_ms, 500);
    env_cd = "11m";
    assert_int_equal(pn_mconfig_apply_env(&c, get, err), PN_ERR);
    assert_non_null(strstr(err, "POSTERN_SERVICE_COOLDOWN"));
    env_cd = NULL;
    env_np_cd = "10ms";
    assert_int_equal(pn_mconfig_apply_env(&c, get, err), PN_ERR);
    assert_non_null(strstr(err, "NP_SERVICE_COOLDOWN"));
    env_np_cd = NULL;
    pn_mconfig_clear(&c);
    char *db = pn_mconfig_default_db(get);
    assert_string_equal(db, "/home/u/.local/state/postern/master.db");
    free(db);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_everything),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
