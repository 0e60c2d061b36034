/* relay/udp_seg.c: GSO grouping, GRO cutting and their control messages
 * (see udp_seg.h). */
#include "relay/udp_seg.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>

unsigned
udp_gso_take(const size_t *len, unsigned n, size_t hdr, size_t seg_max)
{
    if (n == 0)
        return 0;
    size_t g = hdr + len[0];
    if (g == 0 || g > seg_max || g > UDP_GSO_BYTES)
        return 1;
    size_t total = g;
    unsigned k = 1;
    while (k < n && k < UDP_GSO_SEGS) {
        size_t l = hdr + len[k];
        if (l == 0 || l > g || total + l > UDP_GSO_BYTES)
            break;
        total += l;
        k++;
        if (l < g)
            break;              /* a shorter one ends the group */
    }
    return k;
}

size_t
udp_gro_count(size_t len, size_t gso)
{
    if (gso == 0 || len <= gso)
        return 1;
    return (len + gso - 1) / gso;
}

size_t
udp_gro_seg(size_t len, size_t gso, size_t i)
{
    if (gso == 0 || len <= gso)
        return len;
    size_t off = i * gso;
    return len - off < gso ? len - off : gso;
}

size_t
udp_cmsg_segment(void *buf, size_t cap, uint16_t gso)
{
    if (cap < UDP_SEG_CMSG_SPACE)
        return 0;
    memset(buf, 0, UDP_SEG_CMSG_SPACE);
    struct cmsghdr *c = buf;
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(c), &gso, sizeof(gso));
    return UDP_SEG_CMSG_SPACE;
}

size_t
udp_cmsg_gro(const struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int v;
            memcpy(&v, CMSG_DATA(c), sizeof(v));
            return v > 0 ? (size_t)v : 0;
        }
    }
    return 0;
}
