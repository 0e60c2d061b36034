/* modes/hub_rcache.c: modes/hub_rcache.h. */
#include "modes/hub_rcache.h"
#include "core/err.h"
#include "core/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t
hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;       /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

void
hub_rcache_init(hub_rcache_t *c)
{
    memset(c, 0, sizeof(*c));
}

hub_rentry_t *
hub_rcache_get(const hub_rcache_t *c, const char *key)
{
    if (c->nb == 0)
        return NULL;
    for (hub_rentry_t *e = c->b[hash(key) & (c->nb - 1)]; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Double the buckets when the table is as full as it is wide. */
static void
grow(hub_rcache_t *c)
{
    size_t nb = c->nb ? c->nb * 2 : 64;
    hub_rentry_t **b = xcalloc(nb * sizeof(*b));
    for (size_t i = 0; i < c->nb; i++) {
        for (hub_rentry_t *e = c->b[i], *n; e != NULL; e = n) {
            n = e->next;
            size_t k = hash(e->key) & (nb - 1);
            e->next = b[k];
            b[k] = e;
        }
    }
    free(c->b);
    c->b = b;
    c->nb = nb;
}

/* Set <key>: see hub_rcache.h. */
void
hub_rcache_put(hub_rcache_t *c, const char *key, const char *hub, const char *acct, int held)
{
    hub_rentry_t *e = hub_rcache_get(c, key);
    if (e == NULL) {
        if (c->n >= c->nb)
            grow(c);
        size_t kl = strlen(key);
        e = xcalloc(sizeof(*e) + kl + 1);
        memcpy(e->key, key, kl + 1);
        size_t k = hash(key) & (c->nb - 1);
        e->next = c->b[k];
        c->b[k] = e;
        c->n++;
    }
    snprintf(e->hub, sizeof(e->hub), "%s", hub);
    snprintf(e->acct, sizeof(e->acct), "%s", acct);
    e->held = held;
}

/* Remove <key>: see hub_rcache.h. */
int
hub_rcache_del(hub_rcache_t *c, const char *key, const char *hub)
{
    if (c->nb == 0)
        return 0;
    for (hub_rentry_t **p = &c->b[hash(key) & (c->nb - 1)]; *p != NULL; p = &(*p)->next) {
        hub_rentry_t *e = *p;
        if (strcmp(e->key, key) != 0)
            continue;
        if (hub != NULL && strcmp(e->hub, hub) != 0)
            return 0;
        *p = e->next;
        free(e);
        c->n--;
        return 1;
    }
    return 0;
}

/* Parse "<held>|<hub>|<account>" under <key>: see hub_rcache.h. */
int
hub_rcache_put_value(hub_rcache_t *c, const char *key, const char *val, size_t len)
{
    char hub[65], acct[65];
    const char *bar1, *bar2, *end = val + len;
    if (len < 4 || (val[0] != '0' && val[0] != '1') || val[1] != '|' || memchr(val, '\0', len))
        return PN_ERR;
    bar1 = val + 1;
    bar2 = memchr(bar1 + 1, '|', (size_t)(end - bar1 - 1));
    if (bar2 == NULL || bar2 == bar1 + 1 || (size_t)(bar2 - bar1 - 1) >= sizeof(hub) ||
        (size_t)(end - bar2 - 1) >= sizeof(acct))
        return PN_ERR;
    memcpy(hub, bar1 + 1, (size_t)(bar2 - bar1 - 1));
    hub[bar2 - bar1 - 1] = '\0';
    memcpy(acct, bar2 + 1, (size_t)(end - bar2 - 1));
    acct[end - bar2 - 1] = '\0';
    hub_rcache_put(c, key, hub, acct, val[0] == '1');
    return PN_OK;
}

/* Parse a channel message: see hub_rcache.h. */
int
hub_rcache_msg_parse(const char *msg, size_t len, hub_rmsg_t *out)
{
    if (len < 4 || (msg[0] != '+' && msg[0] != '-') || msg[1] != ' ')
        return PN_ERR;
    const char *sp = memchr(msg + 2, ' ', len - 2), *end = msg + len;
    if (sp == NULL || sp == msg + 2 || (size_t)(sp - msg - 2) > HUB_RROUTE_MAX ||
        (size_t)(end - sp - 1) >= sizeof(out->rest) || memchr(msg, '\0', len) != NULL)
        return PN_ERR;
    out->add = msg[0] == '+';
    memcpy(out->route, msg + 2, (size_t)(sp - msg - 2));
    out->route[sp - msg - 2] = '\0';
    memcpy(out->rest, sp + 1, (size_t)(end - sp - 1));
    out->rest[end - sp - 1] = '\0';
    return PN_OK;
}

void
hub_rcache_clear(hub_rcache_t *c)
{
    for (size_t i = 0; i < c->nb; i++) {
        for (hub_rentry_t *e = c->b[i], *n; e != NULL; e = n) {
            n = e->next;
            free(e);
        }
    }
    free(c->b);
    memset(c, 0, sizeof(*c));
}
