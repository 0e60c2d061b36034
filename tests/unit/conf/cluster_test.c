/* tests/unit/conf/cluster_test.c: a hub's cluster= setting (conf/cluster.h):
 * the Redis URL, rediss:// refused, the password from the URL, the environment
 * or a file, never in a message; hub ids; cluster= parameters of hub://. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/err.h"
#include "conf/cluster.h"
#include "conf/config.h"

static const char *env_pw;

static const char *env_secret;

static const char *
get_env(const char *name)
{
    if (strcmp(name, "POSTERN_CLUSTER_SECRET") == 0)
        return env_secret;
    return strcmp(name, "POSTERN_CLUSTER_PASSWORD") == 0 ? env_pw : NULL;
}

/* Each of <bad> is refused, the error naming cluster= and not the password,
 * nothing left in the result. */
static void
all_refused(const char *const *bad, size_t n)
{
    pn_cluster_conf_t c;
    char err[PN_ERR_LEN];
    for (size_t i = 0; i < n; i++) {
        err[0] = '\0';
        assert_int_equal(pn_cluster_conf_parse(bad[i], &c, err), PN_ERR);
        assert_true(strncmp(err, "cluster: ", 9) == 0);
        assert_null(strstr(err, "s3cret"));
        assert_null(c.host);
        assert_int_equal(c.nsentinels, 0);
    }
}

static void
test_urls(void **state)
{
    pn_cluster_conf_t c;
    char err[PN_ERR_LEN];
    (void)state;
    assert_int_equal(pn_cluster_conf_parse("redis://127.0.0.1:6379", &c, err), PN_OK);
    assert_string_equal(c.host, "127.0.0.1");
    assert_string_equal(c.port, "6379");
    assert_null(c.user);
    assert_null(c.pass);
    assert_int_equal(c.db, 0);
    pn_cluster_conf_clear(&c);
    assert_int_equal(pn_cluster_conf_parse("redis://ops:pw%40x@[::1]:7000/3", &c, err), PN_OK);
    assert_string_equal(c.host, "::1");
    assert_string_equal(c.user, "ops");
    assert_string_equal(c.pass, "pw@x");
    assert_int_equal(c.db, 3);
    pn_cluster_conf_clear(&c);
    assert_int_equal(pn_cluster_conf_parse("redis://:only@r:1", &c, err), PN_OK);
    assert_null(c.user);
    assert_string_equal(c.pass, "only");
    pn_cluster_conf_clear(&c);
    static const char *const bad[] = {
        "redis://h", "redis://h:0", "redis://:1", "redis://h:1/16", "redis://h:1/x",
        "http://h:1", "redis://h:1?x=1", "redis://s3cret@h:99999",
    };
    all_refused(bad, sizeof(bad) / sizeof(bad[0]));
    /* Sentinels: the first is host/port too; the password is the master's */
    assert_int_equal(pn_cluster_conf_parse("redis-sentinel://u:p%40w+@10.0.0.1:26379,[::1]:26380,"
                                           "s3:1/my-master.1/2", &c, err), PN_OK);
    assert_int_equal(c.nsentinels, 3);
    assert_string_equal(c.sentinel_host[1], "::1");
    assert_string_equal(c.sentinel_port[1], "26380");
    assert_string_equal(c.sentinel_host[2], "s3");
    assert_string_equal(c.host, "10.0.0.1");
    assert_string_equal(c.port, "26379");
    assert_string_equal(c.master, "my-master.1");
    assert_string_equal(c.user, "u");
    assert_string_equal(c.pass, "p@w+");
    assert_int_equal(c.db, 2);
    pn_cluster_conf_clear(&c);
    assert_int_equal(pn_cluster_conf_parse("redis-sentinel://h:1/m", &c, err), PN_OK);
    assert_int_equal(c.nsentinels, 1);
    assert_null(c.pass);
    assert_int_equal(c.db, 0);
    pn_cluster_conf_clear(&c);
    static const char *const bads[] = {
        "redis-sentinel://h:1", "redis-sentinel://h:1/", "redis-sentinel:///m", "redis-sentinel://h/m",
        "redis-sentinel://h:0/m", "redis-sentinel://h:1,/m", "redis-sentinel://h:1/m/16",
        "redis-sentinel://h:1/m x", "redis-sentinel://[::1:1/m", "redis-sentinel://s3cret@h:1/m/x",
        "redis-sentinel://a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1/m", "redis-sentinel://s3cret%zz@h:1/m",
    };
    all_refused(bads, sizeof(bads) / sizeof(bads[0]));
    assert_int_equal(pn_cluster_conf_parse("rediss://u:s3cret@h:1", &c, err), PN_ERR);
    assert_non_null(strstr(err, "rediss:// (Redis over TLS) is not supported"));
    assert_null(strstr(err, "s3cret"));
}

static void
test_secret_sources(void **state)
{
    pn_cluster_conf_t c;
    char err[PN_ERR_LEN], path[] = "/tmp/pn-cluster-auth-XXXXXX";
    (void)state;
    /* the URL's password wins */
    assert_int_equal(pn_cluster_conf_parse("redis://:url-pw@h:1", &c, err), PN_OK);
    env_pw = "env-pw";
    assert_int_equal(pn_cluster_secret_load(&c, get_env, err), PN_OK);
    assert_string_equal(c.pass, "url-pw");
    pn_cluster_conf_clear(&c);
    /* then the environment */
    assert_int_equal(pn_cluster_conf_parse("redis://h:1", &c, err), PN_OK);
    assert_int_equal(pn_cluster_secret_load(&c, get_env, err), PN_OK);
    assert_string_equal(c.pass, "env-pw");
    pn_cluster_conf_clear(&c);
    /* then the file: "user:password" */
    env_pw = NULL;
    int fd = mkstemp(path);
    assert_true(fd != -1);
    assert_int_equal(write(fd, "ops:file-pw\n", 12), 12);
    close(fd);
    assert_int_equal(pn_cluster_conf_parse("redis://h:1", &c, err), PN_OK);
    c.auth_file = strdup(path);
    assert_int_equal(pn_cluster_secret_load(&c, get_env, err), PN_OK);
    assert_string_equal(c.user, "ops");
    assert_string_equal(c.pass, "file-pw");
    pn_cluster_conf_clear(&c);
    /* an empty file, a missing one */
    fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    assert_int_equal(pn_cluster_conf_parse("redis://h:1", &c, err), PN_OK);
    c.auth_file = strdup(path);
    assert_int_equal(pn_cluster_secret_load(&c, get_env, err), PN_ERR);
    assert_non_null(strstr(err, "holds no password"));
    unlink(path);
    assert_int_equal(pn_cluster_secret_load(&c, get_env, err), PN_ERR);
    assert_non_null(strstr(err, "cannot read"));
    pn_cluster_conf_clear(&c);
    /* none at all is fine (Redis without a password) */
    assert_int_equal(pn_cluster_conf_parse("redis://h:1", &c, err), PN_OK);
    assert_int_equal(pn_cluster_secret_load(&c, get_env, err), PN_OK);
    assert_null(c.pass);
    pn_cluster_conf_clear(&c);
}

static void
test_link_secret(void **state)
{
    pn_cluster_conf_t c;
    char err[PN_ERR_LEN], path[] = "/tmp/pn-cluster-secret-XXXXXX";
    (void)state;
    /* without peer= no secret is needed */
    assert_int_equal(pn_cluster_conf_parse("redis://h:1", &c, err), PN_OK);
    assert_int_equal(pn_cluster_link_secret_load(&c, get_env, err), PN_OK);
    assert_null(c.secret);
    /* with it, one is */
    c.peer = strdup("127.0.0.1:7100");
    assert_int_equal(pn_cluster_link_secret_load(&c, get_env, err), PN_ERR);
    assert_non_null(strstr(err, "cluster_secret=<file> or POSTERN_CLUSTER_SECRET"));
    env_secret = "short-one";
    assert_int_equal(pn_cluster_link_secret_load(&c, get_env, err), PN_ERR);
    assert_null(strstr(err, "short-one"));
    env_secret = "a-cluster-secret-of-some-length";
    assert_int_equal(pn_cluster_link_secret_load(&c, get_env, err), PN_OK);
    assert_string_equal(c.secret, env_secret);
    pn_cluster_conf_clear(&c);
    env_secret = NULL;
    int fd = mkstemp(path);
    assert_true(fd != -1);
    assert_int_equal(write(fd, "file-secret-0123456789\r\n", 24), 24);
    close(fd);
    assert_int_equal(pn_cluster_conf_parse("redis://h:1", &c, err), PN_OK);
    c.peer = strdup("127.0.0.1:7100");
    c.secret_file = strdup(path);
    assert_int_equal(pn_cluster_link_secret_load(&c, get_env, err), PN_OK);
    assert_string_equal(c.secret, "file-secret-0123456789");
    pn_cluster_conf_clear(&c);
    unlink(path);
}

static void
test_ids(void **state)
{
    char id65[66];
    (void)state;
    assert_int_equal(pn_cluster_id_check("hub-a_1.eu:2"), PN_OK);
    assert_int_equal(pn_cluster_id_check(""), PN_ERR);
    assert_int_equal(pn_cluster_id_check("a b"), PN_ERR);
    assert_int_equal(pn_cluster_id_check("a|b"), PN_ERR);
    memset(id65, 'a', 65);
    id65[65] = '\0';
    assert_int_equal(pn_cluster_id_check(id65), PN_ERR);
    id65[64] = '\0';
    assert_int_equal(pn_cluster_id_check(id65), PN_OK);
}

static void
test_hub_url(void **state)
{
    pn_config_t cfg;
    char err[PN_ERR_LEN];
    (void)state;
    assert_int_equal(pn_config_parse("hub://:7000?accounts=a.json&cluster=redis%3A%2F%2F10.0.0.5"
                                     "%3A6379%2F2&id=eu-1&peer=10.0.0.1:7100&cluster_auth=/etc/pw",
                                     &cfg, err), PN_OK);
    assert_non_null(cfg.cluster);
    assert_string_equal(cfg.cluster->host, "10.0.0.5");
    assert_int_equal(cfg.cluster->db, 2);
    assert_string_equal(cfg.cluster->id, "eu-1");
    assert_string_equal(cfg.cluster->peer, "10.0.0.1:7100");
    assert_string_equal(cfg.cluster->auth_file, "/etc/pw");
    assert_int_equal(cfg.cluster_ttl_ms, 3000);
    pn_config_clear(&cfg);
    assert_int_equal(pn_config_parse("hub://:7000?accounts=a.json&cluster=redis://r:1&id=a b",
                                     &cfg, err), PN_ERR);
    assert_true(strncmp(err, "id: ", 4) == 0);
    assert_int_equal(pn_config_parse("hub://:7000?accounts=a.json&peer=1.2.3.4:5", &cfg, err),
                     PN_ERR);
    assert_string_equal(err, "peer: only with cluster=redis://... (or redis-sentinel://...)");
    assert_int_equal(pn_config_parse("hub://:7000?accounts=a.json", &cfg, err), PN_OK);
    assert_null(cfg.cluster);
    pn_config_clear(&cfg);
}

static void
test_agent_hubs(void **state)
{
    pn_config_t cfg;
    char err[PN_ERR_LEN];
    static const char *const bad[] = { "", ",", "h", "h:0", ":7000", "h:1,h:x",
        "a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1,a:1" };
    char url[256];
    (void)state;
    assert_int_equal(pn_config_parse("agent://tok-0123456789abcdef@h1:7000?http=:80,host=a&"
                                     "hubs=h2:7000,[::1]:7001", &cfg, err), PN_OK);
    assert_string_equal(cfg.hubs, "h2:7000,[::1]:7001");
    pn_config_clear(&cfg);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(url, sizeof(url), "agent://tok-0123456789abcdef@h1:7000?http=:80,host=a&hubs=%s",
                 bad[i]);
        assert_int_equal(pn_config_parse(url, &cfg, err), PN_ERR);
        assert_true(strncmp(err, "hubs: ", 6) == 0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_secret_sources),
        cmocka_unit_test(test_link_secret),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_hub_url),
        cmocka_unit_test(test_agent_hubs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
