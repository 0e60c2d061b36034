/* master/puser.c: PROXY_USER lines to per-user counters (see master/puser.h). */
#include "master/puser.h"
#include "core/err.h"
#include "master/hubstate.h"

#include <stdio.h>
#include <string.h>

#define LINE_JSON_MAX 4096      /* one user's line is about 150 bytes */

static const char *const NAMES[PN_PU_N] = { "up", "down", "conns", "refused", "open" };

int
pn_puser_parse(const char *line, size_t len, char name[PN_PUSER_NAME_MAX + 1], uint64_t v[PN_PU_N])
{
    size_t off;
    if (!pn_tagline_match(line, len, PN_PUSER_TAG, &off))
        return PN_AGAIN;
    while (len > off && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len - off > LINE_JSON_MAX)
        return PN_ERR;
    json_t *o = json_loadb(line + off, len - off, JSON_REJECT_DUPLICATES, NULL);
    const char *n = json_string_value(json_object_get(o, "name"));
    int rc = PN_ERR;
    if (n == NULL || *n == '\0' || strlen(n) > PN_PUSER_NAME_MAX)
        goto done;
    for (int k = 0; k < PN_PU_N; k++) {
        json_t *c = json_object_get(o, NAMES[k]);
        if (!json_is_integer(c) || json_integer_value(c) < 0)
            goto done;
        v[k] = (uint64_t)json_integer_value(c);
    }
    snprintf(name, PN_PUSER_NAME_MAX + 1, "%s", n);
    rc = PN_OK;
done:
    json_decref(o);
    return rc;
}

/* The array [up, down, conns, refused, open] of <obj>'s member <name>, made
 * (zeros) when missing. Borrowed. */
static json_t *
slot(json_t *obj, const char *name)
{
    json_t *a = json_object_get(obj, name);
    if (a == NULL) {
        a = json_array();
        for (int k = 0; k < PN_PU_N; k++)
            json_array_append_new(a, json_integer(0));
        json_object_set_new(obj, name, a);
    }
    return a;
}

static uint64_t
at(const json_t *a, int k)
{
    return (uint64_t)json_integer_value(json_array_get(a, (size_t)k));
}

static void
add_to(json_t *a, int k, uint64_t v)
{
    json_array_set_new(a, (size_t)k, json_integer((json_int_t)(at(a, k) + v)));
}

int
pn_puser_take(pn_inst_t *in, const char *line, size_t len)
{
    char name[PN_PUSER_NAME_MAX + 1];
    uint64_t v[PN_PU_N];
    int rc = pn_puser_parse(line, len, name, v);
    if (rc == PN_AGAIN)
        return 0;
    if (rc != PN_OK)
        return 1;
    if (in->pusers == NULL)
        in->pusers = json_object();
    json_t *a = slot(in->pusers, name);
    for (int k = 0; k < PN_PU_N; k++)
        json_array_set_new(a, (size_t)k, json_integer((json_int_t)v[k]));
    return 1;
}

void
pn_puser_fold(pn_inst_t *in)
{
    const char *name;
    json_t *a;
    if (in->pusers == NULL)
        return;
    if (in->pusers_base == NULL)
        in->pusers_base = json_object();
    json_object_foreach(in->pusers, name, a) {
        json_t *b = slot(in->pusers_base, name);
        for (int k = 0; k < PN_PU_OPEN; k++)
            add_to(b, k, at(a, k));
    }
    json_decref(in->pusers);
    in->pusers = NULL;
}

void
pn_puser_sum(const pn_inst_t *in, json_t *sum)
{
    const json_t *const parts[] = { in->pusers_base, in->pusers };
    for (size_t i = 0; i < 2; i++) {
        const char *name;
        json_t *a;
        if (parts[i] == NULL)
            continue;
        json_object_foreach((json_t *)parts[i], name, a) {
            json_t *s = slot(sum, name);
            for (int k = 0; k < PN_PU_N; k++)
                add_to(s, k, at(a, k));
        }
    }
}
