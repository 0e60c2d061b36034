/* relay/udp_batch.c: what udp.c and udp_stream.c share at run time (see
 * udp_priv.h): the per-thread scratch area (slots datagrams are read into,
 * the out batch's headers and stage) and the out batch, and whether
 * recvmmsg()/sendmmsg() are used. */
#include "relay/udp_priv.h"
#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

__thread struct scratch *udp_sc;
__thread struct out_batch udp_ob;
int udp_mmsg_on = -1;
int udp_gso_on = -1;

void
udp_mmsg_init(void)
{
    if (udp_mmsg_on == -1) {
        const char *e = getenv("POSTERN_NO_MMSG");
        udp_mmsg_on = e == NULL || *e == '\0' || strcmp(e, "0") == 0;
        log_debug("udp: %s", udp_mmsg_on ? "batched path in use (recvmmsg/sendmmsg)"
                                     : "single-datagram path in use (POSTERN_NO_MMSG)");
    }
    if (udp_gso_on == -1) {
        const char *e = getenv("POSTERN_NO_GSO");
        udp_gso_on = e == NULL || *e == '\0' || strcmp(e, "0") == 0;
        if (!udp_gso_on)
            log_debug("udp: GSO and GRO not asked for (POSTERN_NO_GSO)");
    }
}

void
udp_mmsg_off(const char *call)
{
    if (udp_mmsg_on == 1)
        log_info("udp: %s unavailable (%s): one datagram per system call", call, strerror(errno));
    udp_mmsg_on = 0;
}

struct scratch *
udp_scratch(void)
{
    if (udp_sc == NULL)
        udp_sc = xmalloc(sizeof(*udp_sc));
    return udp_sc;
}
