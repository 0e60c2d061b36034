/* tests/fuzz/fuzz_h2gw.c: an HTTP/2 user of the hub's terminated port and the
 * HTTP/1.x answers its streams get (src/tls/h2gw.c), both from the input.
 *
 * Layout: byte 0 picks the piece size of the user's bytes, byte 1 the length
 * (x 8) of the response every stream's owner writes back; the response bytes
 * follow, then the user's bytes (a preface, frames). The user's bytes go into
 * one end of a socketpair piece by piece, one piece per loop turn, and the
 * gateway runs on the other end on a real loop; each stream's owner reads its
 * request head and answers with the response bytes, then closes. nghttp2 does
 * the framing and HPACK; the harness covers what postern adds: the field
 * callbacks and their caps, the request head built for HTTP/1.1, the held
 * body, the rate caps, the response head read back into HEADERS, the data
 * provider. A stream whose path starts with "/c" is an h2c stream
 * (src/tls/h2gw_h2c.c): its owner answers "101 h2c", its own head and an
 * empty SETTINGS, then the response bytes as the service's HTTP/2 frames (or,
 * when byte 0 has bit 1, the response bytes as a page). Invariants:
 *   - the request head an owner reads starts with "<METHOD> /" or "* " path
 *     and " HTTP/1.1\r\nHost: ", and has no bare CR or LF before its end;
 *   - the done callback runs at most once, and nothing runs after it;
 *   - no crash, leak or sanitizer report, and the loop ends. */
#include "fuzz.h"
#include "core/err.h"
#include "core/ev.h"
#include "net/sock.h"
#include "tls/h2gw.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#define OWNERS_MAX 128
#define TURNS_AFTER 40          /* loop turns after the input ended */

struct run {
    ev_loop_t *loop;
    pn_h2gw_t *gw;
    int done;
    int fd;                     /* the user's end, -1 once closed */
    const uint8_t *in, *resp;
    size_t in_len, resp_len, off, piece, turns;
    struct owner {
        pn_xprt_t *x;
        uint8_t head[20000];
        size_t hl, wrote, he;
        int h2c;
    } *own[OWNERS_MAX];
    int h2c_page;               /* h2c owners answer with a page */
    size_t nown;
};

static void
on_done(pn_h2gw_t *g, void *arg)
{
    struct run *r = arg;
    FUZZ_ASSERT(!r->done);
    r->done = 1;
    pn_h2gw_free(r->gw);
}

static void
check_head(const uint8_t *h, size_t n)
{
    const uint8_t *sp = memchr(h, ' ', n);
    FUZZ_ASSERT(sp != NULL && sp + 1 < h + n);
    const char *mark = " HTTP/1.1\r\nHost: ";
    FUZZ_ASSERT(memmem(h, n, mark, strlen(mark)) != NULL);
    for (size_t i = 0; i < n; i++) {
        if (h[i] == '\r')
            FUZZ_ASSERT(i + 1 < n && h[i + 1] == '\n');
        if (h[i] == '\n')
            FUZZ_ASSERT(i > 0 && h[i - 1] == '\r');
    }
}

static void
on_owner_io(pn_xprt_t *x, int ready, void *arg)
{
    struct owner *o = arg;
    for (;;) {
        ssize_t n = x->ops->read(x, o->head + o->hl, sizeof(o->head) - o->hl);
        if (n <= 0)
            break;
        o->hl += (size_t)n;
        uint8_t *e = memmem(o->head, o->hl, "\r\n\r\n", 4);
        if (e != NULL && o->wrote == 0) {
            o->he = (size_t)(e - o->head) + 4;
            check_head(o->head, o->he);
            o->wrote = 1;
        }
        if (o->hl == sizeof(o->head))
            o->hl = 0;          /* a body: not kept */
    }
}

static void
on_stream(pn_xprt_t *x, int h2c, void *arg)
{
    struct run *r = arg;
    if (r->nown == OWNERS_MAX) {
        pn_xprt_free(x);
        return;
    }
    struct owner *o = calloc(1, sizeof(*o));
    FUZZ_ASSERT(o != NULL);
    o->x = x;
    o->h2c = h2c;
    r->own[r->nown++] = o;
    pn_xprt_watch(x, r->loop, EV_RD, on_owner_io, o);
}

static int
is_h2c(const char *authority, const char *path, void *arg)
{
    return strncmp(path, "/c", 2) == 0;
}

static long
on_turn(ev_timer_t *t, void *arg)
{
    struct run *r = arg;
    uint8_t sink[16384];
    if (r->fd != -1) {
        while (read(r->fd, sink, sizeof(sink)) > 0) {
        }
        if (r->off < r->in_len) {
            size_t n = r->in_len - r->off < r->piece ? r->in_len - r->off : r->piece;
            if (write(r->fd, r->in + r->off, n) != (ssize_t)n)
                r->off = r->in_len;
            r->off += n;
        } else if (r->turns == 0) {
            shutdown(r->fd, SHUT_WR);
        }
    }
    /* Owners answer once they have read their head (the response, then the end). */
    for (size_t i = 0; i < r->nown; i++) {
        struct owner *o = r->own[i];
        if (o->x != NULL && o->wrote == 1) {
            static const char sw[] = "HTTP/1.1 101 h2c\r\n\r\n", settings[] = "\0\0\0\4\0\0\0\0\0";
            if (o->h2c && !r->h2c_page) {
                (void)o->x->ops->write(o->x, sw, sizeof(sw) - 1);
                (void)o->x->ops->write(o->x, o->head, o->he);
                (void)o->x->ops->write(o->x, settings, sizeof(settings) - 1);
            }
            if (r->resp_len > 0)
                (void)o->x->ops->write(o->x, r->resp, r->resp_len);
            o->wrote = 2;
            pn_xprt_free(o->x);
        }
    }
    if (r->off >= r->in_len && ++r->turns > TURNS_AFTER) {
        ev_loop_stop(r->loop);
        return EV_TIMER_STOP;
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (size < 2)
        return 0;
    signal(SIGPIPE, SIG_IGN);   /* as postern: a write to a closed peer is an error, not a signal */
    struct run r;
    memset(&r, 0, sizeof(r));
    r.piece = 1 + data[0] % 256;
    r.h2c_page = (data[0] & 2) != 0;
    r.resp_len = (size_t)data[1] * 8 < size - 2 ? (size_t)data[1] * 8 : size - 2;
    r.resp = data + 2;
    r.in = data + 2 + r.resp_len;
    r.in_len = size - 2 - r.resp_len;
    int fd[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) != 0)
        return 0;
    fcntl(fd[0], F_SETFL, fcntl(fd[0], F_GETFL) | O_NONBLOCK);
    fcntl(fd[1], F_SETFL, fcntl(fd[1], F_GETFL) | O_NONBLOCK);
    r.fd = fd[1];
    /* Most inputs start with the preface, so that frames are reached. */
    if (data[0] & 1)
        (void)write(fd[1], preface, sizeof(preface) - 1);
    r.loop = ev_loop_new();
    r.gw = pn_h2gw_new(r.loop, pn_raw_xprt_new(fd[0]), "fuzz", on_stream, on_done, &r);
    pn_h2gw_set_h2c(r.gw, is_h2c);
    ev_timer_t *t = ev_timer_new(r.loop, on_turn, &r);
    ev_timer_arm(t, 0);
    ev_loop_run(r.loop);
    if (!r.done)
        pn_h2gw_free(r.gw);
    for (size_t i = 0; i < r.nown; i++) {
        pn_xprt_free(r.own[i]->x);
        free(r.own[i]);
    }
    ev_timer_free(t);
    ev_loop_free(r.loop);
    close(fd[1]);
    return 0;
}
