/* tests/fuzz/fuzz_h2.c: what the tunnel port reads from an HTTP/2 connection
 * before any authentication (type=3, src/tls/h2_mux.c, h2_stream.c): the
 * connection preface, frames, each request's head judged on its stream, and
 * the accepted streams' bytes as their greeters read them.
 *
 * The input is written into one end of a socketpair in pieces (its first byte
 * chooses the piece size) and the server mux over the other end is pumped
 * after each piece, as the loop would after each readiness. nghttp2 does the
 * framing; the harness covers what postern adds: the header callbacks
 * (:path, :method judged as they come), the refusals on their stream, the
 * streams' buffers, resets and the connection's end. Invariants:
 *   - reads of an accepted stream return > 0 bytes within the buffer, 0,
 *     PN_AGAIN or PN_ERR (with an err), and peek 1, 0 or PN_AGAIN;
 *   - a stream holds at most its window (plus the read buffer's growth);
 *   - the connection's end leaves every stream failed, and the set empty. */
#include "fuzz.h"
#include "core/err.h"
#include "core/ev.h"
#include "net/sock.h"
#include "tls/h2_mux.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#define STREAMS 16

struct got {
    pn_xprt_t *x[STREAMS];
    int n;
};

static void
on_stream(pn_xprt_t *x, void *ctx)
{
    struct got *g = ctx;
    if (g->n == STREAMS) {
        pn_xprt_free(x);        /* a stream freed at once: reset */
        return;
    }
    g->x[g->n++] = x;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ev_loop_t *loop;
    if (size < 1)
        return 0;
    if (loop == NULL)
        loop = ev_loop_new();
    size_t piece = 1 + data[0] % 64;
    data++;
    size--;
    int fd[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) != 0)
        return 0;
    fcntl(fd[0], F_SETFL, fcntl(fd[0], F_GETFL) | O_NONBLOCK);
    fcntl(fd[1], F_SETFL, fcntl(fd[1], F_GETFL) | O_NONBLOCK);
    pn_list_t set;
    pn_list_init(&set);
    struct got g = { .n = 0 };
    pn_h2_mux_t *m = pn_h2_mux_server(loop, pn_raw_xprt_new(fd[0]), "/t", on_stream, &g, &set);
    uint8_t buf[512], sink[4096];
    for (size_t off = 0; off <= size && !pn_list_empty(&set); off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        if (n > 0 && write(fd[1], data + off, n) != (ssize_t)n)
            break;
        if (off + piece > size)
            close(fd[1]), fd[1] = -1;           /* the peer is done: end of stream */
        pn_h2_mux_pump(m);
        for (int i = 0; i < g.n; i++) {
            pn_xprt_t *x = g.x[i];
            int pk = pn_xprt_peek(x);
            FUZZ_ASSERT(pk == 1 || pk == 0 || pk == PN_AGAIN);
            ssize_t r = x->ops->read(x, buf, sizeof(buf));
            FUZZ_ASSERT(r == PN_AGAIN || r == PN_ERR || (r >= 0 && (size_t)r <= sizeof(buf)));
            if (r == PN_ERR)
                FUZZ_ASSERT(x->err != NULL);
            if (r > 0 && (buf[0] & 1))
                (void)x->ops->write(x, buf, (size_t)r);     /* an answer, sometimes */
        }
        if (fd[1] != -1)
            while (read(fd[1], sink, sizeof(sink)) > 0) {
            }
        if (fd[1] == -1)
            break;
    }
    if (!pn_list_empty(&set))
        pn_h2_mux_pump(m);
    pn_h2_mux_close_all(&set);
    FUZZ_ASSERT(pn_list_empty(&set));
    for (int i = 0; i < g.n; i++) {
        uint8_t b[1];
        FUZZ_ASSERT(g.x[i]->ops->read(g.x[i], b, 1) <= 0);     /* failed, or ended */
        pn_xprt_free(g.x[i]);
    }
    if (fd[1] != -1)
        close(fd[1]);
    return 0;
}
