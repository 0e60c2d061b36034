/* tests/fuzz/fuzz_users.c: the proxy entrance's users file and allow= list
 * (src/conf/users.h), the input as a C string parsed as both.
 *
 * Invariants besides memory safety and leaks: failure writes a printable
 * message and leaves the output empty; accepted users have valid unique
 * names, a password or a key, and unique keys; an accepted CIDR list matches
 * each of its own network addresses. */
#include "fuzz.h"
#include "conf/users.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    char err[PN_ERR_LEN];
    pn_users_t us;
    if (pn_users_parse(s, "fuzz", &us, err) == PN_OK) {
        for (size_t i = 0; i < us.n; i++) {
            const pn_user_spec_t *u = &us.u[i];
            FUZZ_ASSERT(u->name && strlen(u->name) >= 1 && strlen(u->name) <= PN_USER_NAME_MAX);
            FUZZ_ASSERT(strchr(u->name, ':') == NULL);
            FUZZ_ASSERT(u->password != NULL || u->key != NULL);
            for (size_t j = 0; j < i; j++) {
                FUZZ_ASSERT(strcmp(us.u[j].name, u->name) != 0);
                FUZZ_ASSERT(!(u->key && us.u[j].key && strcmp(u->key, us.u[j].key) == 0));
            }
        }
        pn_users_clear(&us);
    } else {
        FUZZ_ASSERT(us.n == 0 && us.u == NULL);
        for (const char *p = err; *p; p++)
            FUZZ_ASSERT(*p >= 0x20 && *p < 0x7f);
    }
    pn_cidr_t *c;
    size_t n;
    if (pn_cidr_list_parse(s, &c, &n, err) == PN_OK) {
        for (size_t i = 0; i < n; i++) {
            FUZZ_ASSERT(c[i].bits <= 128);
            FUZZ_ASSERT(pn_cidr_match(c, n, c[i].ip));
        }
        free(c);
    }
    free(s);
    return 0;
}
