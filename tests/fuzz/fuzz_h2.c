/* tests/fuzz/fuzz_h2.c: what the tunnel port reads from an HTTP/2 connection
 * before any authentication (type=3, src/tls/xprt_h2.c): the connection
 * preface, frames and the first request's head, judged by pn_h2_xprt_accept;
 * then, when accepted, the stream's bytes as the greeter reads them.
 *
 * The input is written into one end of a socketpair in pieces (its first byte
 * chooses the piece size) and the server transport over the other end reads
 * after each piece, as it would after each readiness. nghttp2 does the framing;
 * the harness covers what postern adds: the header callbacks (:path, :method,
 * :status kept in bounded buffers), the refusals, the window accounting and
 * the buffers. Invariants:
 *   - accept returns PN_OK, PN_AGAIN or PN_ERR, and PN_ERR comes with an err;
 *   - once PN_ERR, it stays PN_ERR; reads after PN_OK return > 0 bytes within
 *     the buffer, 0, PN_AGAIN or PN_ERR (with an err);
 *   - pending() never exceeds the window plus one. */
#include "fuzz.h"
#include "core/err.h"
#include "net/sock.h"
#include "tls/h2.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = 1 + data[0] % 64;
    data++;
    size--;
    int fd[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) != 0)
        return 0;
    fcntl(fd[0], F_SETFL, fcntl(fd[0], F_GETFL) | O_NONBLOCK);
    fcntl(fd[1], F_SETFL, fcntl(fd[1], F_GETFL) | O_NONBLOCK);
    pn_xprt_t *x = pn_h2_xprt_server(pn_raw_xprt_new(fd[0]), "/t");
    int rc = PN_AGAIN;
    uint8_t buf[512], sink[4096];
    for (size_t off = 0; off <= size; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        if (n > 0 && write(fd[1], data + off, n) != (ssize_t)n)
            break;
        if (off + piece > size)
            close(fd[1]), fd[1] = -1;           /* the peer is done: end of stream */
        if (rc == PN_AGAIN) {
            rc = pn_h2_xprt_accept(x);
            FUZZ_ASSERT(rc == PN_OK || rc == PN_AGAIN || rc == PN_ERR);
            if (rc == PN_ERR)
                FUZZ_ASSERT(x->err != NULL);
        } else if (rc == PN_ERR) {
            FUZZ_ASSERT(pn_h2_xprt_accept(x) == PN_ERR);
        }
        if (rc == PN_OK) {
            ssize_t r = x->ops->read(x, buf, sizeof(buf));
            FUZZ_ASSERT(r == PN_AGAIN || r == PN_ERR || (r >= 0 && (size_t)r <= sizeof(buf)));
            if (r == PN_ERR)
                FUZZ_ASSERT(x->err != NULL);
        }
        FUZZ_ASSERT(x->ops->pending(x) <= PN_H2_WINDOW + 1);
        if (fd[1] != -1)
            while (read(fd[1], sink, sizeof(sink)) > 0) {
            }
        if (fd[1] == -1)
            break;
    }
    pn_xprt_free(x);
    if (fd[1] != -1)
        close(fd[1]);
    return 0;
}
