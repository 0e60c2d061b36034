/* tests/fuzz/fuzz_url.c: the command line a user types, as a C string:
 * pn_url_parse (src/core/url.h), pn_config_parse and pn_config_apply_env
 * (src/conf/config.h), and the number and duration parsers under them
 * (src/core/duration.h).
 *
 * Invariants checked besides memory safety and leaks (LeakSanitizer runs at
 * exit of every libFuzzer run):
 *   - success fills the parts the header promises (scheme lower-case letters,
 *     host and digit-only port present, every parameter findable by its key);
 *   - failure writes a message and leaves the output zeroed;
 *   - clearing is idempotent;
 *   - a parsed configuration respects the ranges config.h documents;
 *   - pn_uint_parse agrees with printing the value back; a duration is
 *     unchanged by an extra "0s" component. */
#include "fuzz.h"
#include "core/duration.h"
#include "core/url.h"
#include "conf/config.h"

#include <ctype.h>

static const char *env_value;   /* borrowed: what every POSTERN_* variable reads as */

static const char *
get_env(const char *name)
{
    (void)name;
    return env_value;
}

static int
all_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

static void
fuzz_url(const char *s)
{
    pn_url_t u;
    char err[PN_ERR_LEN] = "";

    if (pn_url_parse(s, &u, err) != PN_OK) {
        FUZZ_ASSERT(err[0] != '\0');
        FUZZ_ASSERT(u.scheme == NULL && u.host == NULL && u.params == NULL && u.nparams == 0);
        pn_url_clear(&u);
        return;
    }
    FUZZ_ASSERT(u.scheme != NULL && u.scheme[0] != '\0');
    for (const char *c = u.scheme; *c; c++)
        FUZZ_ASSERT(islower((unsigned char)*c));
    FUZZ_ASSERT(u.host != NULL && u.port != NULL && all_digits(u.port));
    FUZZ_ASSERT(u.nparams == 0 || u.params != NULL);
    for (size_t i = 0; i < u.nparams; i++) {
        FUZZ_ASSERT(u.params[i].key[0] != '\0' && u.params[i].value != NULL);
        FUZZ_ASSERT(pn_url_param(&u, u.params[i].key) != NULL);
    }
    pn_url_clear(&u);
    FUZZ_ASSERT(u.scheme == NULL && u.nparams == 0);
    pn_url_clear(&u);
}

static void
fuzz_config(const char *s)
{
    pn_config_t cfg;
    char err[PN_ERR_LEN] = "";

    if (pn_config_parse(s, &cfg, err) != PN_OK) {
        FUZZ_ASSERT(err[0] != '\0');
        FUZZ_ASSERT(cfg.targets == NULL && cfg.ntargets == 0 && cfg.key == NULL);
        pn_config_clear(&cfg);
        return;
    }
    FUZZ_ASSERT(cfg.role == PN_ROLE_CLIENT || cfg.role == PN_ROLE_SERVER ||
                cfg.role == PN_ROLE_HUB || cfg.role == PN_ROLE_AGENT);
    FUZZ_ASSERT(cfg.host != NULL && cfg.port != NULL && all_digits(cfg.port));
    if (cfg.role == PN_ROLE_HUB || cfg.role == PN_ROLE_AGENT) {
        /* No target path; a hub has its accounts file, an agent its token and routes. */
        FUZZ_ASSERT(cfg.ntargets == 0 && cfg.targets == NULL);
        FUZZ_ASSERT(cfg.role != PN_ROLE_HUB || (cfg.accounts != NULL && cfg.key == NULL &&
                                                cfg.ports_lo <= cfg.ports_hi));
        FUZZ_ASSERT(cfg.role != PN_ROLE_AGENT || (cfg.key != NULL &&
                                                  (cfg.nroutes > 0 || cfg.routes_file != NULL)));
    } else {
        FUZZ_ASSERT(cfg.ntargets >= 1 && cfg.targets != NULL);
    }
    for (size_t i = 0; i < cfg.ntargets; i++)
        FUZZ_ASSERT(cfg.targets[i].host != NULL && all_digits(cfg.targets[i].port));
    FUZZ_ASSERT(cfg.mode >= 0 && cfg.mode <= 2 && cfg.tls >= 0 && cfg.tls <= 2);
    FUZZ_ASSERT(!(cfg.notcp && cfg.noudp));
    /* tls=2 brings a certificate of its own, but for a client or agent of type=2|3,
     * whose tls=2 verifies the proxy's (conf/config.c's own_crt). */
    int proxied = (cfg.role == PN_ROLE_CLIENT || cfg.role == PN_ROLE_AGENT) &&
                  (cfg.xtype == 2 || cfg.xtype == 3);
    FUZZ_ASSERT(cfg.tls != 2 || proxied ||
                (cfg.crt != NULL && cfg.crt[0] != '\0' && cfg.crt_key != NULL && cfg.crt_key[0] != '\0'));
    FUZZ_ASSERT(cfg.min <= 65536 && cfg.max >= 1 && cfg.max <= 65536);   /* min 0: not given */
    FUZZ_ASSERT(cfg.proxy >= 0 && cfg.proxy <= 2 && (cfg.block & ~0x0eu) == 0);
    FUZZ_ASSERT(cfg.rate_mbps <= 1000000 && cfg.slot <= 10000000 && cfg.dns_ms >= 1000);

    /* Every tunable read from the environment as the same input string. */
    env_value = s;
    err[0] = '\0';
    if (pn_config_apply_env(&cfg, get_env, err) != PN_OK)
        FUZZ_ASSERT(err[0] != '\0');
    env_value = NULL;
    pn_config_clear(&cfg);
    FUZZ_ASSERT(cfg.targets == NULL && cfg.key == NULL);
    pn_config_clear(&cfg);
}

static void
fuzz_numbers(const char *s)
{
    uint64_t v = 0, v2 = 0;

    if (pn_uint_parse(s, 0, UINT64_MAX, &v) == PN_OK) {
        char back[32];
        const char *digits = s;
        while (digits[0] == '0' && digits[1] != '\0')
            digits++;               /* leading zeros are accepted, not printed */
        snprintf(back, sizeof(back), "%llu", (unsigned long long)v);
        FUZZ_ASSERT(strcmp(back, digits) == 0);
    }

    if (pn_duration_parse(s, &v) == PN_OK) {
        size_t n = strlen(s);
        char *more = malloc(n + 3);
        memcpy(more, s, n);
        memcpy(more + n, "0s", 3);
        FUZZ_ASSERT(pn_duration_parse(more, &v2) == PN_OK && v2 == v);
        free(more);
    }

    char *copy = strdup(s);
    size_t before = strlen(copy);
    if (pn_percent_decode(copy) == PN_OK)
        FUZZ_ASSERT(strlen(copy) <= before);
    free(copy);

    char *host = NULL, *port = NULL, err[PN_ERR_LEN] = "";
    if (pn_hostport_split(s, &host, &port, err) == PN_OK)
        FUZZ_ASSERT(host != NULL && port != NULL && all_digits(port));
    else
        FUZZ_ASSERT(err[0] != '\0' && host == NULL && port == NULL);
    free(host);
    free(port);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    fuzz_url(s);
    fuzz_config(s);
    fuzz_numbers(s);
    free(s);
    return 0;
}
