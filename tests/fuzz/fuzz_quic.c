/* tests/fuzz/fuzz_quic.c: what the QUIC listener of a type=1 tunnel port reads
 * before any authentication (src/tls/quic_srv.c, quic_tab.c, quic_dial.c,
 * quic_conn.c): datagrams from anyone, dispatched by Destination Connection
 * ID; a well-formed Initial of an unknown ID opens a connection whose first
 * packets ngtcp2 reads.
 *
 * The input is a run of datagrams, each a 2-byte big-endian length (its top 2
 * bits choose one of 4 source ports) and its bytes; a seed's Initial header
 * makes ngtcp2_accept take it. An input of odd length runs the listener as if
 * under load (quic_gate.c: every new Initial answered with a Retry, each token
 * an Initial brings checked: a Retry token's magic 0xb6, a NEW_TOKEN's 0x36,
 * quic_resume.c; a NEW_TOKEN that does not verify counts as none), with its
 * token key derived from a fixed key when bit 1 of the length is set
 * (pn_quic_server_token_key); any input reaches Version Negotiation with a
 * long header of an unknown version, a stateless reset with a short header of
 * an unknown id (the 'short' seed). Invariants: the listener never holds
 * more connections, nor sends more Retry packets, than datagrams it was given;
 * freeing it leaves no connection (ASan's leak check: every connection, its
 * ids and its TLS session freed).
 *
 * The same datagrams are then DATAGRAM frames' payloads (tls/quic_dgram.c: a
 * varint stream id, then a UDP datagram) to a connection holding the streams
 * 0, 4 and 1028 (one bucket of the index): each frame is received by the
 * stream it names or dropped (malformed, unknown stream, a full queue), no
 * queue passes its bound, and the owners take back exactly what was received. */
#include "fuzz.h"
#include "core/ev.h"
#include "tls/quic.h"
#include "tls/quic_priv.h"
#include "tls/tls.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static void
on_stream(pn_xprt_t *x, pn_quic_conn_t *q, void *ctx)
{
    pn_xprt_free(x);            /* reset: no greeting here */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ev_loop_t *loop;
    static pn_tls_ctx_t *cert;
    char err[PN_ERR_LEN] = "";
    if (loop == NULL) {
        loop = ev_loop_new();
        cert = pn_tls_server_selfsigned(err);
        FUZZ_ASSERT(cert != NULL);
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd == -1 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd != -1)
            close(fd);
        return 0;
    }
    pn_quic_srv_t *s = pn_quic_server(loop, fd, cert, 1000, on_stream, NULL, err);
    FUZZ_ASSERT(s != NULL);
    pn_quic_server_retry(s, size & 1);
    if (size & 2) {
        static const uint8_t key[32] = { 1, 2, 3 };
        pn_quic_server_token_key(s, key, sizeof(key));
    }
    size_t ndgrams = 0;
    for (size_t off = 0; off + 2 <= size;) {
        size_t n = ((size_t)(data[off] & 0x3f) << 8) | data[off + 1];
        struct sockaddr_in from = {
            .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
            .sin_port = htons((uint16_t)(40000 + (data[off] >> 6))),
        };
        off += 2;
        if (n > size - off)
            n = size - off;
        pn_quic_server_input(s, data + off, n, (struct sockaddr *)&from, sizeof(from));
        ndgrams++;
        off += n;
        FUZZ_ASSERT(pn_quic_server_conns(s) <= ndgrams);
        FUZZ_ASSERT(pn_quic_server_retries(s) <= ndgrams);
    }
    pn_quic_server_free(s);

    pn_quic_conn_t *q = pn_quic_conn_new(loop);
    static const int64_t sids[] = { 0, 4, 1028 };
    pn_quics_t *st[3];
    for (int i = 0; i < 3; i++) {
        st[i] = pn_quic_stream_new(q, sids[i]);
        (void)st[i]->base.ops->dgram_max(&st[i]->base);    /* the owner takes datagrams */
    }
    pn_quic_dgram_stats_t before, after;
    pn_quic_dgram_stats(&before);
    size_t nframes = 0;
    for (size_t off = 0; off + 2 <= size;) {
        size_t n = ((size_t)(data[off] & 0x3f) << 8) | data[off + 1];
        off += 2;
        if (n > size - off)
            n = size - off;
        pn_quic_dgram_input(q, data + off, n);
        nframes++;
        off += n;
    }
    pn_quic_dgram_stats(&after);
    FUZZ_ASSERT((after.received - before.received) + (after.dropped - before.dropped) == nframes);
    size_t taken = 0;
    uint8_t buf[PN_XPRT_DGRAM_MAX];
    for (int i = 0; i < 3; i++) {
        FUZZ_ASSERT(st[i]->dgr.n <= QUIC_DGRAM_RECVQ);
        pn_xprt_t *x = &st[i]->base;
        FUZZ_ASSERT(((x->ops->ready(x) & EV_RD) != 0) == (st[i]->dgr.n > 0));
        while (x->ops->dgram_recv(x, buf, sizeof(buf)) >= 0)
            taken++;
        pn_xprt_free(x);
    }
    FUZZ_ASSERT(taken == after.received - before.received);
    pn_quic_unref(q);
    return 0;
}
