/* master/info.c: /proc/stat, /proc/meminfo, /proc/net/dev, /proc/uptime. */
#include "master/info.h"
#include "core/err.h"
#include "core/mem.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INFO_SAMPLE_MS 1000

struct pn_info {
    ev_timer_t *timer;          /* owned */
    uint64_t busy, total;       /* last /proc/stat sample */
    double cpu;                 /* busy share between the last two samples */
};

/* Read the small /proc file <path> into <buf>; its length or -1. */
static ssize_t
slurp(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t n = 0;
    if (fd < 0)
        return -1;
    while (n < size - 1) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

static uint64_t
meminfo_kb(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ':')
            return strtoull(p + klen + 1, NULL, 10);
    }
    return 0;
}

int
pn_info_parse_meminfo(const char *text, pn_host_t *h)
{
    uint64_t total = meminfo_kb(text, "MemTotal");
    uint64_t avail = meminfo_kb(text, "MemAvailable");
    if (total == 0)
        return PN_ERR;
    if (avail == 0)     /* before Linux 3.14 */
        avail = meminfo_kb(text, "MemFree") + meminfo_kb(text, "Buffers") + meminfo_kb(text, "Cached");
    if (avail > total)
        avail = total;
    uint64_t stotal = meminfo_kb(text, "SwapTotal"), sfree = meminfo_kb(text, "SwapFree");
    h->mem_total = total * 1024;
    h->mem_used = (total - avail) * 1024;
    h->swap_total = stotal * 1024;
    h->swap_used = (sfree > stotal ? 0 : stotal - sfree) * 1024;
    return PN_OK;
}

int
pn_info_parse_netdev(const char *text, uint64_t *rx, uint64_t *tx)
{
    *rx = *tx = 0;
    /* "  eth0: rxbytes packets errs drop fifo frame compressed multicast txbytes ..." */
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        const char *colon = strchr(p, ':');
        const char *eol = strchr(p, '\n');
        if (colon == NULL || (eol != NULL && colon > eol))
            continue;
        const char *name = p;
        while (*name == ' ')
            name++;
        if ((size_t)(colon - name) == 2 && strncmp(name, "lo", 2) == 0)
            continue;
        uint64_t v[9];
        char *q = (char *)colon + 1;
        int i;
        for (i = 0; i < 9; i++) {
            char *end;
            v[i] = strtoull(q, &end, 10);
            if (end == q)
                break;
            q = end;
        }
        if (i < 9)
            continue;
        *rx += v[0];
        *tx += v[8];
    }
    return PN_OK;
}

int
pn_info_parse_stat(const char *text, uint64_t *busy, uint64_t *total)
{
    /* cpu  user nice system idle iowait irq softirq steal guest guest_nice */
    if (strncmp(text, "cpu ", 4) != 0)
        return PN_ERR;
    uint64_t v[8] = { 0 };
    const char *q = text + 4;
    for (int i = 0; i < 8; i++) {
        char *end;
        v[i] = strtoull(q, &end, 10);
        if (end == q) {
            if (i < 4)
                return PN_ERR;
            break;
        }
        q = end;
    }
    uint64_t idle = v[3] + v[4];
    *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    *busy = *total - idle;
    return PN_OK;
}

static void
sample(pn_info_t *in)
{
    char buf[4096];
    uint64_t busy, total;
    if (slurp("/proc/stat", buf, sizeof(buf)) <= 0 || pn_info_parse_stat(buf, &busy, &total) != PN_OK)
        return;
    if (in->total != 0 && total > in->total) {
        double c = 100.0 * (double)(busy - in->busy) / (double)(total - in->total);
        in->cpu = c < 0 ? 0 : c > 100 ? 100 : c;
    }
    in->busy = busy;
    in->total = total;
}

static long
on_sample(ev_timer_t *t, void *arg)
{
    sample(arg);
    return INFO_SAMPLE_MS;
}

pn_info_t *
pn_info_new(ev_loop_t *loop)
{
    pn_info_t *in = xcalloc(sizeof(*in));
    in->timer = ev_timer_new(loop, on_sample, in);
    sample(in);
    ev_timer_arm(in->timer, INFO_SAMPLE_MS);
    return in;
}

void
pn_info_free_(pn_info_t *in)
{
    if (in == NULL)
        return;
    ev_timer_free(in->timer);
    free(in);
}

void
pn_info_read(pn_info_t *in, pn_host_t *h)
{
    char *buf = xmalloc(65536);
    memset(h, 0, sizeof(*h));
    h->cpu = in->cpu;
    if (slurp("/proc/meminfo", buf, 65536) > 0)
        pn_info_parse_meminfo(buf, h);
    if (slurp("/proc/net/dev", buf, 65536) > 0)
        pn_info_parse_netdev(buf, &h->netrx, &h->nettx);
    if (slurp("/proc/uptime", buf, 65536) > 0)
        h->sysup = strtoull(buf, NULL, 10);
    free(buf);
}
