/* tests/unit/conf/config_test.c: URL and environment to pn_config_t
 * (conf/config.h). Run under ASan, this also checks that every failure path
 * frees what it allocated. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "conf/config.h"
#include "conf/hubconf.h"

#define SECRET "s3cret"
#define TOKEN SECRET "-0123456789abcdef"    /* an agent's token: 16+ characters */

/* ---- helpers ---- */

static void
parse_ok(const char *url, pn_config_t *cfg)
{
    char err[PN_ERR_LEN] = "";
    if (pn_config_parse(url, cfg, err) != PN_OK)
        fail_msg("pn_config_parse(\"%s\") failed: %s", url, err);
}

/* Nothing left for pn_config_clear() to free. */
static void
assert_cfg_empty(const pn_config_t *cfg)
{
    assert_null(cfg->key);
    assert_null(cfg->host);
    assert_null(cfg->port);
    assert_null(cfg->targets);
    assert_int_equal(cfg->ntargets, 0);
    assert_null(cfg->crt);
    assert_null(cfg->crt_key);
    assert_null(cfg->ca);
    assert_null(cfg->sni);
    assert_null(cfg->dial);
    assert_null(cfg->accounts);
    assert_null(cfg->http_listen);
    assert_null(cfg->https_listen);
    assert_null(cfg->domain);
    assert_null(cfg->public_ip);
    assert_null(cfg->routes);
    assert_int_equal(cfg->nroutes, 0);
    assert_null(cfg->routes_file);
}

/* <url> must fail with an error that starts with <prefix>, leaves <cfg> empty
 * and never shows the key. */
static void
parse_fails(const char *url, const char *prefix)
{
    char err[PN_ERR_LEN];
    pn_config_t cfg;

    memset(err, 0, sizeof(err));
    memset(&cfg, 0xA5, sizeof(cfg));
    if (pn_config_parse(url, &cfg, err) != PN_ERR)
        fail_msg("pn_config_parse(\"%s\") accepted it", url);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("pn_config_parse(\"%s\"): error \"%s\" does not start with \"%s\"", url, err,
                 prefix);
    if (strstr(err, SECRET) != NULL)
        fail_msg("pn_config_parse(\"%s\"): error \"%s\" shows the key", url, err);
    assert_cfg_empty(&cfg);
    pn_config_clear(&cfg);
    assert_null(cfg.host);
}

/* ---- good URLs ---- */

/* notcp / noudp: each alone is fine on both roles, both at once leaves nothing. */
static void
test_protocol_switches(void **state)
{
    pn_config_t cfg;
    parse_ok("client://:8080/127.0.0.1:80", &cfg);
    assert_int_equal(cfg.notcp, 0);
    assert_int_equal(cfg.noudp, 0);
    assert_int_equal(cfg.udp_idle_ms, 30000);
    pn_config_clear(&cfg);
    parse_ok("client://:8080/127.0.0.1:80?notcp=1", &cfg);
    assert_int_equal(cfg.notcp, 1);
    assert_int_equal(cfg.noudp, 0);
    pn_config_clear(&cfg);
    parse_ok("server://:10101/:8080?noudp=1", &cfg);
    assert_int_equal(cfg.notcp, 0);
    assert_int_equal(cfg.noudp, 1);
    pn_config_clear(&cfg);
    parse_fails("client://:8080/127.0.0.1:80?notcp=1&noudp=1", "noudp:");
    parse_fails("client://:8080/127.0.0.1:80?notcp=2", "notcp:");
    parse_fails("server://:10101/:8080?noudp=yes", "noudp:");
}

static void
test_full_client(void **state)
{
    pn_config_t cfg;
    parse_ok("client://" SECRET "@127.0.0.1:10101/10.0.0.1:8080,[::1]:8081"
             "?mode=2&tls=2&crt=%2Fetc%2Fc.pem&key=/etc/k.pem&ca=/etc/ca.pem&sni=example.com"
             "&lbs=2&dial=10.0.0.5&read=1m30s&log=debug&min=8",
             &cfg);
    assert_int_equal(cfg.role, PN_ROLE_CLIENT);
    assert_string_equal(cfg.key, SECRET);
    assert_string_equal(cfg.host, "127.0.0.1");
    assert_string_equal(cfg.port, "10101");
    assert_int_equal(cfg.ntargets, 2);
    assert_string_equal(cfg.targets[0].host, "10.0.0.1");
    assert_string_equal(cfg.targets[0].port, "8080");
    assert_string_equal(cfg.targets[1].host, "::1");
    assert_string_equal(cfg.targets[1].port, "8081");
    assert_int_equal(cfg.mode, 2);
    assert_int_equal(cfg.tls, 2);
    assert_string_equal(cfg.crt, "/etc/c.pem");
    assert_string_equal(cfg.crt_key, "/etc/k.pem");
    assert_string_equal(cfg.ca, "/etc/ca.pem");
    assert_string_equal(cfg.sni, "example.com");
    assert_int_equal(cfg.lbs, LB_FAILOVER);
    assert_string_equal(cfg.dial, "10.0.0.5");
    assert_int_equal(cfg.read_ms, 90000);
    assert_int_equal(cfg.log, LOG_DEBUG);
    assert_int_equal(cfg.min, 8);
    assert_int_equal(cfg.max, 1024);
    pn_config_clear(&cfg);
    assert_cfg_empty(&cfg);
    assert_int_equal(cfg.min, 0);
}

static void
test_full_server(void **state)
{
    pn_config_t cfg;
    parse_ok("server://" SECRET "@:10101/127.0.0.1:8080"
             "?mode=1&tls=1&lbs=1&dial=auto&read=0&log=warn&max=2048",
             &cfg);
    assert_int_equal(cfg.role, PN_ROLE_SERVER);
    assert_string_equal(cfg.key, SECRET);
    assert_string_equal(cfg.host, "");
    assert_string_equal(cfg.port, "10101");
    assert_int_equal(cfg.ntargets, 1);
    assert_string_equal(cfg.targets[0].host, "127.0.0.1");
    assert_string_equal(cfg.targets[0].port, "8080");
    assert_int_equal(cfg.mode, 1);
    assert_int_equal(cfg.tls, 1);
    assert_int_equal(cfg.lbs, LB_LATENCY);
    assert_null(cfg.dial);
    assert_int_equal(cfg.read_ms, 0);
    assert_int_equal(cfg.log, LOG_WARN);
    assert_int_equal(cfg.max, 2048);
    assert_int_equal(cfg.min, 0);     /* not given: the client picks (64, or 8) */
    assert_null(cfg.crt);
    assert_null(cfg.crt_key);
    pn_config_clear(&cfg);
}

static void
test_server_tls2_files(void **state)
{
    pn_config_t cfg;
    parse_ok("server://:10101/127.0.0.1:8080?tls=2&crt=c.pem&key=k.pem&max=65536", &cfg);
    assert_int_equal(cfg.tls, 2);
    assert_string_equal(cfg.crt, "c.pem");
    assert_string_equal(cfg.crt_key, "k.pem");
    assert_int_equal(cfg.max, 65536);
    assert_null(cfg.key);
    pn_config_clear(&cfg);
}

static void
test_defaults(void **state)
{
    pn_config_t cfg;
    parse_ok("client://:8080/127.0.0.1:80", &cfg);
    assert_int_equal(cfg.role, PN_ROLE_CLIENT);
    assert_null(cfg.key);
    assert_string_equal(cfg.host, "");
    assert_string_equal(cfg.port, "8080");
    assert_int_equal(cfg.mode, 0);
    assert_int_equal(cfg.tls, 0);
    assert_null(cfg.crt);
    assert_null(cfg.crt_key);
    assert_null(cfg.ca);
    assert_null(cfg.sni);
    assert_int_equal(cfg.lbs, LB_ROUND_ROBIN);
    assert_null(cfg.dial);
    assert_int_equal(cfg.read_ms, 0);
    assert_int_equal(cfg.log, LOG_INFO);
    assert_int_equal(cfg.min, 0);
    assert_int_equal(cfg.max, 1024);
    assert_int_equal(cfg.report_ms, 5000);
    assert_int_equal(cfg.fallback_ms, 300000);
    assert_int_equal(cfg.dial_timeout_ms, 5000);
    assert_int_equal(cfg.handshake_ms, 10000);
    assert_int_equal(cfg.pool_wait_ms, 5000);
    assert_int_equal(cfg.backoff_max_ms, 30000);
    pn_config_clear(&cfg);
}

static void
test_targets(void **state)
{
    pn_config_t cfg;
    parse_ok("client://:80/127.0.0.1:8080,[::1]:8081,:8082", &cfg);
    assert_int_equal(cfg.ntargets, 3);
    assert_string_equal(cfg.targets[0].host, "127.0.0.1");
    assert_string_equal(cfg.targets[0].port, "8080");
    assert_string_equal(cfg.targets[1].host, "::1");
    assert_string_equal(cfg.targets[1].port, "8081");
    assert_string_equal(cfg.targets[2].host, "");
    assert_string_equal(cfg.targets[2].port, "8082");
    pn_config_clear(&cfg);
}

static void
test_port_bounds_accepted(void **state)
{
    pn_config_t cfg;
    parse_ok("client://:1/h:65535", &cfg);
    assert_string_equal(cfg.port, "1");
    assert_string_equal(cfg.targets[0].port, "65535");
    pn_config_clear(&cfg);
    parse_ok("client://:65535/h:1", &cfg);
    assert_string_equal(cfg.port, "65535");
    assert_string_equal(cfg.targets[0].port, "1");
    pn_config_clear(&cfg);
}

static void
test_dial_auto_and_empty(void **state)
{
    pn_config_t cfg;
    parse_ok("client://:80/h:1?dial=auto", &cfg);
    assert_null(cfg.dial);
    pn_config_clear(&cfg);
    parse_ok("client://:80/h:1?dial=", &cfg);
    assert_null(cfg.dial);
    pn_config_clear(&cfg);
    parse_ok("client://:80/h:1?dial=::1", &cfg);
    assert_string_equal(cfg.dial, "::1");
    pn_config_clear(&cfg);
}

static void
test_params_once_and_ranges(void **state)
{
    pn_config_t cfg;
    /* A parameter given twice is refused, naming it (escaped or not); the agent's
     * routes are lists. */
    parse_fails("client://:80/h:1?tls=1&log=none&tls=0", "tls: given more than once");
    parse_fails("client://:80/h:1?log=none&%6cog=info", "log: given more than once");
    parse_ok("agent://" SECRET "-0123456789ab@h:1?tcp=:22&tcp=:23&udp=:53&udp=:54", &cfg);
    assert_int_equal(cfg.nroutes, 4);
    pn_config_clear(&cfg);
    parse_fails("agent://" SECRET "-0123456789ab@h:1?tcp=:22&log=none&log=info",
                "log: given more than once");
    parse_ok("client://:80/h:1?tls=0&log=none&lbs=0&min=65536&read=250ms", &cfg);
    assert_int_equal(cfg.tls, 0);
    assert_int_equal(cfg.log, LOG_NONE);
    assert_int_equal(cfg.lbs, LB_ROUND_ROBIN);
    assert_int_equal(cfg.min, 65536);
    assert_int_equal(cfg.read_ms, 250);
    pn_config_clear(&cfg);

    parse_ok("server://:80/h:1?max=1&log=event&mode=0", &cfg);
    assert_int_equal(cfg.max, 1);
    assert_int_equal(cfg.log, LOG_EVENT);
    assert_int_equal(cfg.mode, 0);
    pn_config_clear(&cfg);

    parse_ok("client://:80/h:1?min=1&log=error", &cfg);
    assert_int_equal(cfg.min, 1);
    assert_int_equal(cfg.log, LOG_ERROR);
    pn_config_clear(&cfg);
}

/* ---- errors ---- */

static void
test_proxy_scheme(void **state)
{
    pn_config_t cfg;
    char err[PN_ERR_LEN];
    assert_int_equal(pn_config_parse("proxy://:1080?users=u.json&allow=127.0.0.0/8", &cfg, err), PN_OK);
    assert_int_equal(cfg.role, PN_ROLE_PROXY);
    assert_string_equal(cfg.users_file, "u.json");
    assert_string_equal(cfg.allow, "127.0.0.0/8");
    pn_config_clear(&cfg);
    assert_int_equal(pn_config_parse("proxy://:1080", &cfg, err), PN_ERR);
    assert_non_null(strstr(err, "users: proxy:// needs users=<file>"));
    assert_int_equal(pn_config_parse("proxy://k@:1080?users=u", &cfg, err), PN_ERR);
    assert_non_null(strstr(err, "key: proxy:// takes no"));
    assert_int_equal(pn_config_parse("proxy://:1080/a:1?users=u", &cfg, err), PN_ERR);
    assert_non_null(strstr(err, "target: proxy:// takes no target path"));
    assert_int_equal(pn_config_parse("proxy://:1080?users=u&tls=1", &cfg, err), PN_ERR);
    /* method=: SIP004's three AEAD methods, chacha20-ietf-poly1305 by default. */
    static const char *const methods[] = { "chacha20-ietf-poly1305", "aes-256-gcm", "aes-128-gcm" };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        char url[128];
        snprintf(url, sizeof(url), "proxy://:1080?users=u&ss=:8388&method=%s", methods[i]);
        assert_int_equal(pn_config_parse(url, &cfg, err), PN_OK);
        assert_string_equal(cfg.ss_method, methods[i]);
        pn_config_clear(&cfg);
    }
    assert_int_equal(pn_config_parse("proxy://:1080?users=u&ss=:8388", &cfg, err), PN_OK);
    assert_string_equal(cfg.ss_method, "chacha20-ietf-poly1305");
    pn_config_clear(&cfg);
    assert_int_equal(pn_config_parse("proxy://:1080?users=u&ss=:8388&method=aes-192-gcm", &cfg, err),
                     PN_ERR);
    assert_non_null(strstr(err, "method: unknown \"aes-192-gcm\""));
}

static void
test_error_scheme(void **state)
{
    char err[PN_ERR_LEN];
    pn_config_t cfg;
    parse_fails("bogus://" SECRET "@:80/h:1", "scheme:");
    parse_fails("master://" SECRET "@:80/h:1", "scheme:");
    assert_int_equal(pn_config_parse("bogus://:80/h:1", &cfg, err), PN_ERR);
    assert_string_equal(err, "scheme: unknown mode \"bogus\" (expected server://, client://, hub://, "
                             "agent:// or proxy://)");
}

/* ---- hub:// ---- */

static void
test_hub_full(void **state)
{
    pn_config_t cfg;
    parse_ok("hub://0.0.0.0:7000?accounts=%2Fetc%2Faccounts.json&http=:80&https=[::1]:443"
             "&ports=10000-20000&domain=Hub.Example.COM&public=203.0.113.5&timeout=2.5s"
             "&tls=2&crt=c.pem&key=k.pem&max=16&log=warn&read=1m&slot=100&dns=30s",
             &cfg);
    assert_int_equal(cfg.role, PN_ROLE_HUB);
    assert_null(cfg.key);
    assert_string_equal(cfg.host, "0.0.0.0");
    assert_string_equal(cfg.port, "7000");
    assert_null(cfg.targets);
    assert_int_equal(cfg.ntargets, 0);
    assert_string_equal(cfg.accounts, "/etc/accounts.json");
    assert_string_equal(cfg.http_listen, ":80");
    assert_string_equal(cfg.https_listen, "[::1]:443");
    assert_int_equal(cfg.ports_lo, 10000);
    assert_int_equal(cfg.ports_hi, 20000);
    assert_string_equal(cfg.domain, "hub.example.com");
    assert_string_equal(cfg.public_ip, "203.0.113.5");
    assert_int_equal(cfg.http_timeout_ms, 2500);
    assert_int_equal(cfg.tls, 2);
    assert_string_equal(cfg.crt, "c.pem");
    assert_string_equal(cfg.crt_key, "k.pem");
    assert_int_equal(cfg.max, 16);
    assert_int_equal(cfg.log, LOG_WARN);
    assert_int_equal(cfg.read_ms, 60000);
    assert_int_equal(cfg.slot, 100);
    assert_int_equal(cfg.dns_ms, 30000);
    assert_null(cfg.routes);
    assert_null(cfg.routes_file);
    pn_config_clear(&cfg);
    assert_cfg_empty(&cfg);
}

static void
test_hub_defaults(void **state)
{
    pn_config_t cfg;
    parse_ok("hub://:7000?accounts=a.json", &cfg);
    assert_int_equal(cfg.role, PN_ROLE_HUB);
    assert_string_equal(cfg.host, "");
    assert_string_equal(cfg.accounts, "a.json");
    assert_null(cfg.http_listen);
    assert_null(cfg.https_listen);
    assert_int_equal(cfg.ports_lo, 0);
    assert_int_equal(cfg.ports_hi, 0);
    assert_null(cfg.domain);
    assert_null(cfg.public_ip);
    assert_int_equal(cfg.http_timeout_ms, 30000);
    assert_int_equal(cfg.tls, 0);
    assert_int_equal(cfg.max, 1024);
    assert_int_equal(cfg.slot, 65536);
    assert_int_equal(cfg.log, LOG_INFO);
    assert_int_equal(cfg.dns_ms, 300000);
    assert_int_equal(cfg.report_ms, 5000);
    pn_config_clear(&cfg);

    /* One port is a range of one; an IPv6 public address; the shortest timeout. */
    parse_ok("hub://[::]:7000?accounts=a.json&ports=20022&public=2001:db8::5&timeout=100ms"
             "&http=127.0.0.1:8080&domain=localhost",
             &cfg);
    assert_string_equal(cfg.host, "::");
    assert_int_equal(cfg.ports_lo, 20022);
    assert_int_equal(cfg.ports_hi, 20022);
    assert_string_equal(cfg.public_ip, "2001:db8::5");
    assert_int_equal(cfg.http_timeout_ms, 100);
    assert_string_equal(cfg.http_listen, "127.0.0.1:8080");
    assert_string_equal(cfg.domain, "localhost");
    pn_config_clear(&cfg);
}

static void
test_hub_errors(void **state)
{
    /* required, and what has no place in a hub URL */
    parse_fails("hub://:7000", "accounts: hub:// needs accounts=<file>");
    parse_fails("hub://:7000?accounts=", "accounts: hub:// needs accounts=<file>");
    parse_fails("hub://:7000?http=:80", "accounts:");
    parse_fails("hub://:7000/127.0.0.1:80?accounts=a.json", "target: hub:// takes no target path");
    parse_fails("hub://:7000/?accounts=a.json", "target: hub:// takes no target path");
    parse_fails("hub://" SECRET "@:7000?accounts=a.json", "key: hub:// takes no <key>@");
    parse_fails("hub://:0?accounts=a.json", "port: hub address");
    parse_fails("hub://:70000?accounts=a.json", "port: hub address");
    parse_fails("hub://h?accounts=a.json", "port:");
    /* values */
    parse_fails("hub://:7000?accounts=a.json&http=80", "http: address \"80\": missing");
    parse_fails("hub://:7000?accounts=a.json&http=", "http:");
    parse_fails("hub://:7000?accounts=a.json&http=:0", "http: port of \":0\" is out of range");
    parse_fails("hub://:7000?accounts=a.json&http=::1:80", "http:");
    parse_fails("hub://:7000?accounts=a.json&https=:65536", "https: port of");
    parse_fails("hub://:7000?accounts=a.json&https=[::1", "https:");
    parse_fails("hub://:7000?accounts=a.json&ports=0-100", "ports: \"0-100\" is not a range");
    parse_fails("hub://:7000?accounts=a.json&ports=20-10", "ports:");
    parse_fails("hub://:7000?accounts=a.json&ports=", "ports:");
    parse_fails("hub://:7000?accounts=a.json&ports=1-2-3", "ports:");
    parse_fails("hub://:7000?accounts=a.json&domain=", "domain: \"\" is not a DNS name");
    parse_fails("hub://:7000?accounts=a.json&domain=a..b", "domain:");
    parse_fails("hub://:7000?accounts=a.json&domain=*.a.b", "domain:");
    parse_fails("hub://:7000?accounts=a.json&domain=a_b.c", "domain:");
    parse_fails("hub://:7000?accounts=a.json&domain=-a.b", "domain:");
    parse_fails("hub://:7000?accounts=a.json&domain=a-.b", "domain:");
    parse_fails("hub://:7000?accounts=a.json&public=hub.example.com", "public: \"hub.example.com\" is not an IP address");
    parse_fails("hub://:7000?accounts=a.json&public=[::1]", "public:");
    parse_fails("hub://:7000?accounts=a.json&public=", "public:");
    parse_fails("hub://:7000?accounts=a.json&public=1.2.3.256", "public:");
    parse_fails("hub://:7000?accounts=a.json&timeout=99ms", "timeout: \"99ms\" is not a duration of at least 100ms");
    parse_fails("hub://:7000?accounts=a.json&timeout=0", "timeout:");
    parse_fails("hub://:7000?accounts=a.json&timeout=30", "timeout:");
    parse_fails("hub://:7000?accounts=a.json&tls=2", "crt: tls=2 needs crt=<certificate PEM file>");
    parse_fails("hub://:7000?accounts=a.json&tls=2&crt=c.pem", "key: tls=2 needs key=<private key PEM file>");
    parse_fails("hub://:7000?accounts=a.json&tls=3", "tls:");
    parse_fails("hub://:7000?accounts=a.json&max=0", "max:");
    parse_fails("hub://:7000?accounts=a.json&log=loud", "log:");
    parse_fails("hub://:7000?accounts=a.json&read=x", "read:");
    parse_fails("hub://:7000?accounts=a.json&slot=x", "slot:");
    parse_fails("hub://:7000?accounts=a.json&dns=1ms", "dns:");
    /* parameters of other modes */
    parse_fails("hub://:7000?accounts=a.json&mode=1", "mode: unknown parameter for hub://");
    parse_fails("hub://:7000?accounts=a.json&tcp=h:1", "tcp: unknown parameter for hub://");
    parse_fails("hub://:7000?accounts=a.json&min=1", "min: unknown parameter for hub://");
    parse_fails("hub://:7000?accounts=a.json&ca=ca.pem", "ca: unknown parameter for hub://");
    parse_fails("hub://:7000?accounts=a.json&config=r.json", "config: unknown parameter for hub://");
    parse_fails("hub://:7000?accounts=a.json&lbs=1", "lbs: unknown parameter for hub://");
    parse_fails("hub://:7000?accounts=a.json&dial=1.2.3.4", "dial: unknown parameter for hub://");
}

/* ---- agent:// ---- */

static void
test_agent_full(void **state)
{
    pn_config_t cfg;
    parse_ok("agent://" TOKEN "@hub.example.com:7000"
             "?http=127.0.0.1:8080,host=app,probe=http:/health&tcp=127.0.0.1:22,port=10022"
             "&udp=:53,group=dns,group_key=k3y&https=[::1]:8443,host=Secure.Example"
             "&config=/etc/routes.json&ca=ca.pem&sni=hub.example.com&min=4&log=debug&read=1m"
             "&dns=10s&dial=10.0.0.1",
             &cfg);
    assert_int_equal(cfg.role, PN_ROLE_AGENT);
    assert_string_equal(cfg.key, TOKEN);
    assert_string_equal(cfg.host, "hub.example.com");
    assert_string_equal(cfg.port, "7000");
    assert_null(cfg.targets);
    assert_int_equal(cfg.nroutes, 4);
    /* URL order */
    assert_int_equal(cfg.routes[0].type, PN_RT_HTTP);
    assert_string_equal(cfg.routes[0].host, "app");
    assert_string_equal(cfg.routes[0].local_port, "8080");
    assert_string_equal(cfg.routes[0].probe_path, "/health");
    assert_int_equal(cfg.routes[1].type, PN_RT_TCP);
    assert_int_equal(cfg.routes[1].port, 10022);
    assert_string_equal(cfg.routes[1].name, "tcp:10022");
    assert_int_equal(cfg.routes[2].type, PN_RT_UDP);
    assert_string_equal(cfg.routes[2].local_host, "");
    assert_string_equal(cfg.routes[2].group, "dns");
    assert_string_equal(cfg.routes[2].group_key, "k3y");
    assert_int_equal(cfg.routes[3].type, PN_RT_HTTPS);
    assert_string_equal(cfg.routes[3].local_host, "::1");
    assert_string_equal(cfg.routes[3].host, "secure.example");
    assert_string_equal(cfg.routes_file, "/etc/routes.json");
    assert_string_equal(cfg.ca, "ca.pem");
    assert_string_equal(cfg.sni, "hub.example.com");
    assert_int_equal(cfg.min, 4);
    assert_int_equal(cfg.log, LOG_DEBUG);
    assert_int_equal(cfg.read_ms, 60000);
    assert_int_equal(cfg.dns_ms, 10000);
    assert_string_equal(cfg.dial, "10.0.0.1");
    assert_int_equal(cfg.tls, 0);
    assert_null(cfg.accounts);
    pn_config_clear(&cfg);
    assert_cfg_empty(&cfg);
}

static void
test_agent_minimal(void **state)
{
    pn_config_t cfg;
    /* Routes from the file only. */
    parse_ok("agent://" TOKEN "@127.0.0.1:7000?config=r.json", &cfg);
    assert_int_equal(cfg.role, PN_ROLE_AGENT);
    assert_int_equal(cfg.nroutes, 0);
    assert_null(cfg.routes);
    assert_string_equal(cfg.routes_file, "r.json");
    assert_int_equal(cfg.min, 0);
    pn_config_clear(&cfg);
    /* tls= with type=2|3: the TLS to a proxy, verified with ca= (no crt/key) */
    parse_ok("agent://" TOKEN "@127.0.0.1:7000?config=r.json&type=2&tls=2&ca=ca.pem", &cfg);
    assert_int_equal(cfg.tls, 2);
    assert_int_equal(cfg.xtype, 2);
    pn_config_clear(&cfg);
    /* One URL route; the same type may repeat. */
    parse_ok("agent://" TOKEN "@:7000?tcp=:22&tcp=:23,port=2323", &cfg);
    assert_int_equal(cfg.nroutes, 2);
    assert_null(cfg.routes_file);
    assert_string_equal(cfg.routes[0].local_port, "22");
    assert_int_equal(cfg.routes[0].port, 0);
    assert_string_equal(cfg.routes[1].local_port, "23");
    assert_int_equal(cfg.routes[1].port, 2323);
    pn_config_clear(&cfg);
    /* The longest token. */
    char url[512], tok[257];
    memset(tok, 'x', 256);
    tok[256] = '\0';
    snprintf(url, sizeof(url), "agent://%s@:7000?config=r.json", tok);
    parse_ok(url, &cfg);
    assert_int_equal(strlen(cfg.key), 256);
    pn_config_clear(&cfg);
}

static void
test_agent_errors(void **state)
{
    char url[512], tok[258];
    /* required */
    parse_fails("agent://hub:7000?tcp=:22", "token: agent:// needs <token>@ before the hub address");
    parse_fails("agent://@hub:7000?tcp=:22", "token: agent:// needs <token>@");
    parse_fails("agent://" SECRET "@hub:7000?tcp=:22", "token: expected the account's token");
    parse_fails("agent://" SECRET "%20-0123456789abcdef@hub:7000?tcp=:22", "token: expected");
    memset(tok, 'x', 257);
    tok[257] = '\0';
    snprintf(url, sizeof(url), "agent://%s@:7000?config=r.json", tok);
    parse_fails(url, "token: expected");
    parse_fails("agent://" TOKEN "@hub:7000", "route: agent:// needs at least one tcp=, udp=, http= or "
                "https= route, or config=<file>");
    parse_fails("agent://" TOKEN "@hub:7000?log=info", "route:");
    parse_fails("agent://" TOKEN "@hub:7000?config=", "config: expected config=<routes file>");
    parse_fails("agent://" TOKEN "@hub:7000/h:1?tcp=:22", "target: agent:// takes no target path");
    parse_fails("agent://" TOKEN "@hub:0?tcp=:22", "port: hub address");
    parse_fails("agent://" TOKEN "@hub?tcp=:22", "port:");
    /* routes, named by their type */
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&http=:80", "http: host: missing");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22,port=70000", "tcp: port:");
    parse_fails("agent://" TOKEN "@hub:7000?udp=:53,host=a", "udp: host:");
    parse_fails("agent://" TOKEN "@hub:7000?https=:443,host=a,group=g", "https: group:");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=22", "tcp: local address");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=", "tcp: missing the local service");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22,group=g,group_key=" SECRET "%20x", "tcp: group_key:");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&tcp=:23,probe=ping&config=r.json", "tcp: probe:");
    /* shared values */
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&min=0", "min:");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&log=x", "log:");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&read=x", "read:");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&dns=x", "dns:");
    /* parameters of other modes: the hub decides TLS */
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&tls=1", "tls: an agent takes tls= only with type=2 or type=3");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&max=10", "max: unknown parameter for agent://");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&accounts=a.json", "accounts: unknown parameter for agent://");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&crt=c.pem", "crt: unknown parameter for agent://");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&mode=1", "mode: unknown parameter for agent://");
    parse_fails("agent://" TOKEN "@hub:7000?tcp=:22&Tcp=:23", "Tcp: unknown parameter for agent://");
}

static void
test_error_port(void **state)
{
    parse_fails("client://" SECRET "@127.0.0.1/127.0.0.1:80", "port:");
    parse_fails("client://" SECRET "@127.0.0.1:/127.0.0.1:80", "port:");
    parse_fails("client://" SECRET "@:abc/h:1", "port:");
    parse_fails("client://" SECRET "@::1:80/h:1", "port:");
    parse_fails("client://" SECRET "@:0/h:1", "port:");
    parse_fails("client://" SECRET "@:70000/h:1", "port:");
    parse_fails("client://" SECRET "@:65536/h:1", "port:");
    parse_fails("server://" SECRET "@:0/h:1", "port:");
    parse_fails("server://" SECRET "@:70000/h:1", "port:");
    parse_fails("client://" SECRET "@:80/h:0", "port:");
    parse_fails("client://" SECRET "@:80/h:70000", "port:");
    parse_fails("client://" SECRET "@:80/a:1,b:2,h:0", "port:");
    parse_fails("server://" SECRET "@:80/a:1,[::1]:99999", "port:");
}

static void
test_error_target(void **state)
{
    parse_fails("client://" SECRET "@:80", "target:");
    parse_fails("client://" SECRET "@:80/", "target:");
    parse_fails("client://" SECRET "@:80?tls=1", "target:");
    parse_fails("server://" SECRET "@:80", "target:");
    parse_fails("client://" SECRET "@:80/a:1,,b:2", "target:");
    parse_fails("client://" SECRET "@:80/a:1,", "target:");
    parse_fails("client://" SECRET "@:80/,a:1", "target:");
    parse_fails("client://" SECRET "@:80/hostonly", "target:");
    parse_fails("client://" SECRET "@:80/a:1,b", "target:");
    parse_fails("client://" SECRET "@:80/::1:80", "target:");
    parse_fails("client://" SECRET "@:80/h:x", "target:");
}

static void
test_error_values(void **state)
{
    parse_fails("client://" SECRET "@:80/h:1?read=abc", "read:");
    parse_fails("client://" SECRET "@:80/h:1?read=5", "read:");
    parse_fails("client://" SECRET "@:80/h:1?read=", "read:");
    parse_fails("client://" SECRET "@:80/h:1?lbs=9", "lbs:");
    parse_fails("client://" SECRET "@:80/h:1?lbs=3", "lbs:");
    parse_fails("client://" SECRET "@:80/h:1?lbs=", "lbs:");
    parse_fails("client://" SECRET "@:80/h:1?tls=7", "tls:");
    parse_fails("client://" SECRET "@:80/h:1?tls=3", "tls:");
    parse_fails("client://" SECRET "@:80/h:1?tls=yes", "tls:");
    parse_fails("client://" SECRET "@:80/h:1?mode=5", "mode:");
    parse_fails("server://" SECRET "@:80/h:1?mode=-1", "mode:");
    parse_fails("client://" SECRET "@:80/h:1?log=loud", "log:");
    parse_fails("client://" SECRET "@:80/h:1?log=INFO", "log:");
    parse_fails("client://" SECRET "@:80/h:1?log=", "log:");
    parse_fails("client://" SECRET "@:80/h:1?min=0", "min:");
    parse_fails("client://" SECRET "@:80/h:1?min=65537", "min:");
    parse_fails("client://" SECRET "@:80/h:1?min=abc", "min:");
    parse_fails("server://" SECRET "@:80/h:1?max=0", "max:");
    parse_fails("server://" SECRET "@:80/h:1?max=70000", "max:");
    parse_fails("server://" SECRET "@:80/h:1?max=", "max:");
}

/* type= (transports), path=, host=: docs/usage.md "Transports". */
static void
test_transport(void **state)
{
    static const struct { const char *url; int xtype; const char *path, *host; } ok[] = {
        { "server://" SECRET "@:80/h:1", -1, NULL, NULL },
        { "server://" SECRET "@:80/h:1?type=0", 0, NULL, NULL },
        { "server://" SECRET "@:80/h:1?type=2&path=/t/x", 2, "/t/x", NULL },
        { "client://" SECRET "@:80/h:1?type=2&host=cdn.example&tls=2", 2, NULL, "cdn.example" },
        { "hub://:80?accounts=a.json&type=2&path=/hub", 2, "/hub", NULL },
        { "server://" SECRET "@:80/h:1?type=3&path=/h2", 3, "/h2", NULL },
        { "client://" SECRET "@:80/h:1?type=3&host=cdn.example&tls=2", 3, NULL, "cdn.example" },
        { "hub://:80?accounts=a.json&type=3", 3, NULL, NULL },
        { "server://" SECRET "@:80/h:1?type=1", 1, NULL, NULL },
        { "hub://:80?accounts=a.json&type=1&tls=1", 1, NULL, NULL },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        pn_config_t cfg;
        parse_ok(ok[i].url, &cfg);
        assert_int_equal(cfg.xtype, ok[i].xtype);
        if (ok[i].path != NULL)
            assert_string_equal(cfg.ws_path, ok[i].path);
        else
            assert_null(cfg.ws_path);
        if (ok[i].host != NULL)
            assert_string_equal(cfg.ws_host, ok[i].host);
        pn_config_clear(&cfg);
    }
    parse_fails("server://" SECRET "@:80/h:1?type=1&path=/q", "path: only with type=2");
    parse_fails("client://" SECRET "@:80/h:1?type=4", "type:");
    parse_fails("server://" SECRET "@:80/h:1?type=2&path=t", "path:");
    parse_fails("server://" SECRET "@:80/h:1?type=2&path=", "path:");
    parse_fails("server://" SECRET "@:80/h:1?type=2&path=/t%3Fx", "path:");
    parse_fails("server://" SECRET "@:80/h:1?path=/t", "path: only with type=2");
    parse_fails("client://" SECRET "@:80/h:1?host=x", "host: only with type=2");
    parse_fails("server://" SECRET "@:80/h:1?type=2&tls=2", "crt:");
}

static void
test_error_tls_files(void **state)
{
    parse_fails("client://" SECRET "@:80/h:1?tls=2", "crt:");
    parse_fails("client://" SECRET "@:80/h:1?tls=2&crt=", "crt:");
    parse_fails("server://" SECRET "@:80/h:1?tls=2&key=k.pem", "crt:");
    parse_fails("client://" SECRET "@:80/h:1?tls=2&crt=c.pem", "key:");
    parse_fails("server://" SECRET "@:80/h:1?tls=2&crt=c.pem&key=", "key:");
}

static void
test_error_unknown_param(void **state)
{
    parse_fails("client://" SECRET "@:80/h:1?foo=1", "foo:");
    parse_fails("client://" SECRET "@:80/h:1?tls=1&foo", "foo:");
    parse_fails("client://" SECRET "@:80/h:1?max=", "max:");
    parse_fails("client://" SECRET "@:80/h:1?max=10", "max:");
    parse_fails("server://" SECRET "@:80/h:1?min=10", "min:");
    parse_fails("server://" SECRET "@:80/h:1?ca=ca.pem", "ca:");
    parse_fails("server://" SECRET "@:80/h:1?sni=example.com", "sni:");
    parse_fails("client://" SECRET "@:80/h:1?TLS=1", "TLS:");
}

static void
test_error_url_level(void **state)
{
    /* Errors from core/url that are not about an address keep their own prefix. */
    parse_fails("client:/" SECRET "@:80/h:1", "url:");
    parse_fails("client://" SECRET "@", "url:");
    parse_fails("client://" SECRET "@:80/h:1?=1", "query:");
    parse_fails("client://" SECRET "@:80/h:1?tls=%zz", "query:");
}

/* ---- environment ---- */

struct env_pair {
    const char *name, *value;
};

static const struct env_pair *fake_env;

static const char *
fake_get(const char *name)
{
    for (const struct env_pair *p = fake_env; p != NULL && p->name != NULL; p++)
        if (strcmp(p->name, name) == 0)
            return p->value;
    return NULL;
}

static const char *const env_names[] = {
    "POSTERN_REPORT_INTERVAL", "POSTERN_FALLBACK_INTERVAL", "POSTERN_DIAL_TIMEOUT",
    "POSTERN_HANDSHAKE_TIMEOUT", "POSTERN_POOL_WAIT", "POSTERN_BACKOFF_MAX",
};

static uint64_t *
env_field(pn_config_t *cfg, size_t i)
{
    uint64_t *const f[] = {
        &cfg->report_ms, &cfg->fallback_ms, &cfg->dial_timeout_ms,
        &cfg->handshake_ms, &cfg->pool_wait_ms, &cfg->backoff_max_ms,
    };
    return f[i];
}

static void
test_env_none_set(void **state)
{
    static const struct env_pair env[] = {
        { "POSTERN_REPORT_INTERVAL", "" }, { "UNRELATED", "1s" }, { NULL, NULL },
    };
    pn_config_t cfg;
    char err[PN_ERR_LEN] = "";

    parse_ok("client://:80/h:1", &cfg);
    fake_env = env;
    assert_int_equal(pn_config_apply_env(&cfg, fake_get, err), PN_OK);
    assert_int_equal(cfg.report_ms, 5000);
    assert_int_equal(cfg.fallback_ms, 300000);
    assert_int_equal(cfg.dial_timeout_ms, 5000);
    assert_int_equal(cfg.handshake_ms, 10000);
    assert_int_equal(cfg.pool_wait_ms, 5000);
    assert_int_equal(cfg.backoff_max_ms, 30000);
    pn_config_clear(&cfg);
}

static void
test_env_all_set(void **state)
{
    static const struct env_pair env[] = {
        { "POSTERN_REPORT_INTERVAL", "250ms" },
        { "POSTERN_FALLBACK_INTERVAL", "0" },
        { "POSTERN_DIAL_TIMEOUT", "2s" },
        { "POSTERN_HANDSHAKE_TIMEOUT", "1m" },
        { "POSTERN_POOL_WAIT", "1.5s" },
        { "POSTERN_BACKOFF_MAX", "1m30s" },
        { NULL, NULL },
    };
    pn_config_t cfg;
    char err[PN_ERR_LEN] = "";

    parse_ok("client://" SECRET "@:80/h:1", &cfg);
    fake_env = env;
    if (pn_config_apply_env(&cfg, fake_get, err) != PN_OK)
        fail_msg("pn_config_apply_env failed: %s", err);
    assert_int_equal(cfg.report_ms, 250);
    assert_int_equal(cfg.fallback_ms, 0);
    assert_int_equal(cfg.dial_timeout_ms, 2000);
    assert_int_equal(cfg.handshake_ms, 60000);
    assert_int_equal(cfg.pool_wait_ms, 1500);
    assert_int_equal(cfg.backoff_max_ms, 90000);
    /* The URL part is untouched. */
    assert_string_equal(cfg.key, SECRET);
    assert_string_equal(cfg.port, "80");
    pn_config_clear(&cfg);
}

/* Each variable on its own: a good value lands in its field only. */
static void
test_env_each_variable(void **state)
{
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
        struct env_pair env[] = { { env_names[i], "7s" }, { NULL, NULL } };
        pn_config_t cfg, ref;
        char err[PN_ERR_LEN] = "";

        parse_ok("server://:80/h:1", &cfg);
        parse_ok("server://:80/h:1", &ref);
        fake_env = env;
        if (pn_config_apply_env(&cfg, fake_get, err) != PN_OK)
            fail_msg("%s=7s refused: %s", env_names[i], err);
        for (size_t j = 0; j < sizeof(env_names) / sizeof(env_names[0]); j++) {
            if (j == i)
                assert_int_equal(*env_field(&cfg, j), 7000);
            else
                assert_int_equal(*env_field(&cfg, j), *env_field(&ref, j));
        }
        pn_config_clear(&cfg);
        pn_config_clear(&ref);
    }
}

/* A server URL with <env> applied: pn_config_apply_env()'s result. */
static int
server_with_env(const struct env_pair *env, pn_config_t *cfg, char *err)
{
    parse_ok("server://:80/h:1", cfg);
    fake_env = env;
    return pn_config_apply_env(cfg, fake_get, err);
}

/* NodePass's names: each one lands where ours does; ours wins when both are
 * set; a malformed alias is reported under its own name. */
static void
test_env_nodepass_aliases(void **state)
{
    static const char *const np[] = {
        "NP_REPORT_INTERVAL", "NP_FALLBACK_INTERVAL", "NP_TCP_DIAL_TIMEOUT",
        "NP_HANDSHAKE_TIMEOUT", "NP_POOL_GET_TIMEOUT",
    };
    pn_config_t cfg;
    char err[PN_ERR_LEN] = "";
    for (size_t i = 0; i < sizeof(np) / sizeof(np[0]); i++) {
        struct env_pair env[] = { { np[i], "7s" }, { NULL, NULL } };
        if (server_with_env(env, &cfg, err) != PN_OK)
            fail_msg("%s=7s refused: %s", np[i], err);
        assert_int_equal(*env_field(&cfg, i), 7000);
        pn_config_clear(&cfg);
    }
    static const struct env_pair both[] = {
        { "NP_UDP_READ_TIMEOUT", "9s" }, { "POSTERN_DIAL_TIMEOUT", "2s" },
        { "NP_TCP_DIAL_TIMEOUT", "3s" }, { NULL, NULL },
    };
    assert_int_equal(server_with_env(both, &cfg, err), PN_OK);
    assert_int_equal(cfg.udp_idle_ms, 9000);
    assert_int_equal(cfg.dial_timeout_ms, 2000);
    pn_config_clear(&cfg);
    static const struct env_pair bad[] = { { "NP_POOL_GET_TIMEOUT", "5x" }, { NULL, NULL } };
    assert_int_equal(server_with_env(bad, &cfg, err), PN_ERR);
    assert_non_null(strstr(err, "NP_POOL_GET_TIMEOUT"));
    pn_config_clear(&cfg);
}

/* The tunables issue 19 added: defaults, aliases, bounds, the pool's two
 * intervals together, and the relay buffer size in bytes. */
static void
test_env_np_tunables(void **state)
{
    pn_config_t cfg;
    char err[PN_ERR_LEN] = "";
    static const struct env_pair none[] = { { NULL, NULL } };
    assert_int_equal(server_with_env(none, &cfg, err), PN_OK);
    assert_int_equal(cfg.pool_min_ms, 100);
    assert_int_equal(cfg.pool_max_ms, 1000);
    assert_int_equal(cfg.reload_ms, 1000);
    assert_int_equal(cfg.tcp_buf, 65536);
    pn_config_clear(&cfg);
    static const struct env_pair np[] = {
        { "NP_MIN_POOL_INTERVAL", "50ms" }, { "NP_MAX_POOL_INTERVAL", "3s" },
        { "NP_RELOAD_INTERVAL", "1h" }, { "NP_TCP_DATA_BUF_SIZE", "16384" }, { NULL, NULL },
    };
    assert_int_equal(server_with_env(np, &cfg, err), PN_OK);
    assert_int_equal(cfg.pool_min_ms, 50);
    assert_int_equal(cfg.pool_max_ms, 3000);
    assert_int_equal(cfg.reload_ms, 3600000);
    assert_int_equal(cfg.tcp_buf, 16384);
    pn_config_clear(&cfg);
    /* A floor above the default ceiling raises it. */
    static const struct env_pair floor[] = { { "POSTERN_POOL_MIN_INTERVAL", "2s" }, { NULL, NULL } };
    assert_int_equal(server_with_env(floor, &cfg, err), PN_OK);
    assert_int_equal(cfg.pool_max_ms, 2000);
    pn_config_clear(&cfg);
    static const struct {
        const char *name, *value;
    } bad[] = {
        { "POSTERN_POOL_MIN_INTERVAL", "5ms" }, { "POSTERN_POOL_MAX_INTERVAL", "2h" },
        { "NP_MIN_POOL_INTERVAL", "soon" }, { "POSTERN_RELOAD_INTERVAL", "50ms" },
        { "NP_RELOAD_INTERVAL", "25h" }, { "POSTERN_TCP_DATA_BUF_SIZE", "4095" },
        { "POSTERN_TCP_DATA_BUF_SIZE", "1048577" }, { "NP_TCP_DATA_BUF_SIZE", "64k" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct env_pair env[] = { { bad[i].name, bad[i].value }, { NULL, NULL } };
        if (server_with_env(env, &cfg, err) != PN_ERR)
            fail_msg("%s=%s accepted", bad[i].name, bad[i].value);
        assert_int_equal(strncmp(err, bad[i].name, strlen(bad[i].name)), 0);
        pn_config_clear(&cfg);
    }
    static const struct env_pair crossed[] = {
        { "POSTERN_POOL_MIN_INTERVAL", "2s" }, { "POSTERN_POOL_MAX_INTERVAL", "1s" }, { NULL, NULL },
    };
    assert_int_equal(server_with_env(crossed, &cfg, err), PN_ERR);
    assert_non_null(strstr(err, "POSTERN_POOL_MAX_INTERVAL"));
    pn_config_clear(&cfg);
}

static void
test_env_malformed(void **state)
{
    static const char *const bad[] = { "abc", "5", "5x", "-1s", "1.5", " 1s" };
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            struct env_pair env[] = { { env_names[i], bad[k] }, { NULL, NULL } };
            pn_config_t cfg;
            char err[PN_ERR_LEN] = "";
            char prefix[64];

            parse_ok("client://" SECRET "@:80/h:1", &cfg);
            uint64_t before = *env_field(&cfg, i);
            fake_env = env;
            if (pn_config_apply_env(&cfg, fake_get, err) != PN_ERR)
                fail_msg("%s=\"%s\" accepted", env_names[i], bad[k]);
            snprintf(prefix, sizeof(prefix), "%s:", env_names[i]);
            if (strncmp(err, prefix, strlen(prefix)) != 0)
                fail_msg("%s=\"%s\": error \"%s\" does not start with \"%s\"", env_names[i],
                         bad[k], err, prefix);
            assert_null(strstr(err, SECRET));
            assert_int_equal(*env_field(&cfg, i), before);
            pn_config_clear(&cfg);
        }
    }
}

static void
env_one(const char *name, const char *value, int want_rc, uint64_t want_ms)
{
    struct env_pair env[] = { { name, value }, { NULL, NULL } };
    pn_config_t cfg;
    char err[PN_ERR_LEN] = "";
    size_t idx = 0;

    while (strcmp(env_names[idx], name) != 0)
        idx++;
    parse_ok("client://:80/h:1", &cfg);
    fake_env = env;
    int rc = pn_config_apply_env(&cfg, fake_get, err);
    if (rc != want_rc)
        fail_msg("%s=%s: rc %d, expected %d (%s)", name, value, rc, want_rc, err);
    if (want_rc == PN_OK) {
        assert_int_equal(*env_field(&cfg, idx), want_ms);
    } else {
        assert_int_equal(strncmp(err, name, strlen(name)), 0);
        assert_int_equal(err[strlen(name)], ':');
    }
    pn_config_clear(&cfg);
}

static void
test_env_minimums(void **state)
{
    env_one("POSTERN_REPORT_INTERVAL", "10ms", PN_ERR, 0);
    env_one("POSTERN_REPORT_INTERVAL", "99ms", PN_ERR, 0);
    env_one("POSTERN_REPORT_INTERVAL", "0", PN_ERR, 0);
    env_one("POSTERN_REPORT_INTERVAL", "100ms", PN_OK, 100);
    env_one("POSTERN_FALLBACK_INTERVAL", "0", PN_OK, 0);
    env_one("POSTERN_FALLBACK_INTERVAL", "1h", PN_OK, 3600000);
    env_one("POSTERN_DIAL_TIMEOUT", "0", PN_ERR, 0);
    env_one("POSTERN_DIAL_TIMEOUT", "100us", PN_ERR, 0);
    env_one("POSTERN_DIAL_TIMEOUT", "1ms", PN_OK, 1);
    env_one("POSTERN_HANDSHAKE_TIMEOUT", "0s", PN_ERR, 0);
    env_one("POSTERN_HANDSHAKE_TIMEOUT", "1ms", PN_OK, 1);
    env_one("POSTERN_POOL_WAIT", "0", PN_ERR, 0);
    env_one("POSTERN_POOL_WAIT", "1ms", PN_OK, 1);
    env_one("POSTERN_BACKOFF_MAX", "999ms", PN_ERR, 0);
    env_one("POSTERN_BACKOFF_MAX", "1s", PN_OK, 1000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_client),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_full_server),
        cmocka_unit_test(test_server_tls2_files),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_port_bounds_accepted),
        cmocka_unit_test(test_dial_auto_and_empty),
        cmocka_unit_test(test_params_once_and_ranges),
        cmocka_unit_test(test_error_scheme),
        cmocka_unit_test(test_proxy_scheme),
        cmocka_unit_test(test_error_port),
        cmocka_unit_test(test_error_target),
        cmocka_unit_test(test_error_values),
        cmocka_unit_test(test_error_tls_files),
        cmocka_unit_test(test_error_unknown_param),
        cmocka_unit_test(test_error_url_level),
        cmocka_unit_test(test_env_none_set),
        cmocka_unit_test(test_env_all_set),
        cmocka_unit_test(test_env_each_variable),
        cmocka_unit_test(test_env_nodepass_aliases),
        cmocka_unit_test(test_env_np_tunables),
        cmocka_unit_test(test_env_malformed),
        cmocka_unit_test(test_env_minimums),
        cmocka_unit_test(test_protocol_switches),
        cmocka_unit_test(test_hub_full),
        cmocka_unit_test(test_hub_defaults),
        cmocka_unit_test(test_hub_errors),
        cmocka_unit_test(test_agent_full),
        cmocka_unit_test(test_agent_minimal),
        cmocka_unit_test(test_agent_errors),
    };
    return cmocka_run_group_tests_name("conf/config", tests, NULL, NULL);
}
