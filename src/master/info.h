/* master/info.h: what the host looks like: CPU busy share over the last
 * second, memory, swap, network bytes and uptime, from /proc; the parsers are
 * pure so they can be tested on sample text. */
#ifndef PN_MASTER_INFO_H
#define PN_MASTER_INFO_H

#include "core/ev.h"

#include <stdint.h>

typedef struct pn_host {
    double cpu;                 /* percent busy over the last second, 0..100 */
    uint64_t mem_total, mem_used;   /* bytes; used = total - available */
    uint64_t swap_total, swap_used; /* bytes */
    uint64_t netrx, nettx;      /* bytes since boot, non-loopback interfaces */
    uint64_t sysup;             /* host uptime, seconds */
} pn_host_t;

typedef struct pn_info pn_info_t;

/** Parse /proc/meminfo <text> into <h>'s memory and swap fields; PN_OK/PN_ERR. */
int pn_info_parse_meminfo(const char *text, pn_host_t *h);
/** Sum the byte columns of /proc/net/dev <text> over every interface but lo. */
int pn_info_parse_netdev(const char *text, uint64_t *rx, uint64_t *tx);
/** Read the "cpu" line of /proc/stat <text>: busy and total jiffies. */
int pn_info_parse_stat(const char *text, uint64_t *busy, uint64_t *total);

/** Start sampling /proc/stat once a second on <loop>. Never NULL. */
pn_info_t *pn_info_new(ev_loop_t *loop);
/** Stop sampling and free <i>. NULL is a no-op. */
void pn_info_free_(pn_info_t *i);
#define pn_info_free(p) do { pn_info_free_(p); (p) = NULL; } while (0)
/** Fill <h> from /proc now (the CPU share from the last sample). */
void pn_info_read(pn_info_t *i, pn_host_t *h);

#endif
