/* conf/hubjson.c: what the hub's files (conf/hubconf.c: accounts,
 * conf/hubroute.c: the agent's routes) share: values echoed safely, name
 * checks, a bounded file read as JSON, and error messages that name their
 * place (see hubjson.h). */
#include "conf/hubjson.h"
#include "core/err.h"
#include "core/mem.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX (1024 * 1024)      /* accounts and routes files: read at most 1 MiB */

/* ---- small checks ---- */

/* <s> cut to 48 characters with anything outside printable ASCII as '?', for
 * echoing a value the user got wrong. Never called on a secret. */
const char *
pn_conf_shown(const char *s, char out[SHOWN_LEN])
{
    size_t i;
    for (i = 0; s[i] != '\0' && i < 48; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i] != '\0') {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* Every byte within [lo, hi]. */
int
pn_conf_all_in(const char *s, int lo, int hi)
{
    for (; *s; s++)
        if ((unsigned char)*s < lo || (unsigned char)*s > hi)
            return 0;
    return 1;
}

/* 1-64 characters of [A-Za-z0-9._-]: account and group names, safe in logs and
 * in the hub's state line without escaping. */
int
pn_conf_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

/* A lower-case DNS name: 1-253 characters, labels of 1-63 [a-z0-9-] that
 * neither start nor end with '-'. A bare label ("app") is one. */
int
pn_conf_dns_name_ok(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            if (label == 0 && c == '-')
                return 0;
            label++;
        } else {
            return 0;
        }
    }
    return 1;
}

/* ASCII lower-case copy: host names are compared in lower case everywhere. */
char *
pn_conf_lower_dup(const char *s)
{
    char *d = xstrdup(s);
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

/* Overwrite a secret before it goes back to the allocator. */
void
pn_conf_wipe_free(char *s)
{
    if (s != NULL)
        memset(s, 0, strlen(s));
    free(s);
}

/* ---- files ---- */

/* Read the whole of <path> (at most FILE_MAX bytes) into a new C string. */
int
pn_conf_read_file(const char *kind, const char *path, char **out, char *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return pn_err_set(err, "%s: %s: cannot open (%s)", kind, path, strerror(errno));
    char *buf = xmalloc(FILE_MAX + 1);
    size_t n = fread(buf, 1, FILE_MAX + 1, f);
    int bad = ferror(f), e = errno;
    fclose(f);
    if (bad || n > FILE_MAX || memchr(buf, '\0', n) != NULL) {
        memset(buf, 0, n);
        free(buf);
        if (bad)
            return pn_err_set(err, "%s: %s: cannot read (%s)", kind, path, strerror(e));
        if (n > FILE_MAX)
            return pn_err_set(err, "%s: %s: larger than 1 MiB", kind, path);
        return pn_err_set(err, "%s: %s: holds a NUL byte (expected JSON text)", kind, path);
    }
    buf[n] = '\0';
    *out = buf;
    return PN_OK;
}

/* json_loads with duplicate keys refused. jansson's messages end in "near
 * '<text>'", which may be a token written without quotes: that part is cut. */
json_t *
pn_conf_load_json(const char *kind, const char *label, const char *json, char *err)
{
    json_error_t jerr;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        char *near = strstr(jerr.text, " near ");
        if (near != NULL)
            *near = '\0';
        pn_err_set(err, "%s: %s: not JSON (line %d, column %d: %s)", kind, label, jerr.line,
                   jerr.column, jerr.text);
    }
    return root;
}

/* Fill p->err with the place, <member> (NULL for the element itself) and the
 * formatted reason; return PN_ERR. */
int
pn_conf_jfail(const pn_conf_place_t *p, const char *member, const char *fmt, ...)
{
    char what[PN_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return pn_err_set(p->err, "%s: %s: %s[%zu]%s%s: %s", p->kind, p->label, p->list, p->i,
                      member ? "." : "", member ? member : "", what);
}

/* Refuse members of <o> outside <known>, naming the first one. */
int
pn_conf_check_members(const pn_conf_place_t *p, json_t *o, const char *const *known)
{
    const char *k;
    json_t *v;
    char s[SHOWN_LEN];
    json_object_foreach(o, k, v) {
        const char *const *m;
        for (m = known; *m; m++)
            if (strcmp(*m, k) == 0)
                break;
        if (*m == NULL)
            return pn_conf_jfail(p, pn_conf_shown(k, s), "unknown member");
    }
    return PN_OK;
}

/* The top level: {"<list>": [...]} and nothing else; the array in *<arr>. */
int
pn_conf_top_array(const char *kind, const char *label, const char *list, json_t *root, json_t **arr,
          char *err)
{
    const char *k;
    json_t *v;
    char s[SHOWN_LEN];
    if (!json_is_object(root))
        return pn_err_set(err, "%s: %s: expected a JSON object {\"%s\": [...]}", kind, label, list);
    json_object_foreach(root, k, v) {
        if (strcmp(k, list) != 0)
            return pn_err_set(err, "%s: %s: %s: unknown member (expected only \"%s\")", kind,
                              label, pn_conf_shown(k, s), list);
    }
    *arr = json_object_get(root, list);
    if (*arr == NULL || !json_is_array(*arr))
        return pn_err_set(err, "%s: %s: %s: %s (expected an array)", kind, label, list,
                          *arr == NULL ? "missing" : "not an array");
    return PN_OK;
}
