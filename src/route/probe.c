/* route/probe.c: one health check of a local service: a non-blocking TCP
 * connect and, for HTTP probes, a GET whose status line is judged as soon as
 * its code has arrived. One timer holds the deadline of the whole exchange;
 * the outcome always reaches the caller through a deferred callback, so it
 * never runs inside route_probe_start() nor inside the probe's own watchers. */
#include "route/probe.h"
#include "core/err.h"
#include "core/mem.h"
#include "net/sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define PROBE_READ_MAX 4096     /* the most of the response ever read */
#define STATUS_HEAD 13          /* "HTTP/1.x NNN" and the byte after the code */

/* Static text for every status a probe can fail with, "HTTP status NNN" for
 * 1xx, 4xx and 5xx, built by the preprocessor: each entry is 16 bytes. */
#define ST(c) "HTTP status " c "\0"
#define ST10(c) ST(c "0") ST(c "1") ST(c "2") ST(c "3") ST(c "4") ST(c "5") ST(c "6")      \
                ST(c "7") ST(c "8") ST(c "9")
#define ST100(c) ST10(c "0") ST10(c "1") ST10(c "2") ST10(c "3") ST10(c "4") ST10(c "5")  \
                 ST10(c "6") ST10(c "7") ST10(c "8") ST10(c "9")
#define ST_WIDTH 16
static const char status_text[] = ST100("1") ST100("4") ST100("5");
_Static_assert(sizeof(status_text) == 300 * ST_WIDTH + 1, "status_text entries are 16 bytes");

/* Socket errors a probe reports by name; anything else is "connect failed". */
static const struct {
    int err;
    const char *why;
} errno_text[] = {
    { ECONNREFUSED, "connection refused" },
    { ETIMEDOUT, "timed out" },
    { ECONNRESET, "connection reset" },
    { EPIPE, "connection closed" },
    { EHOSTUNREACH, "host unreachable" },
    { ENETUNREACH, "network unreachable" },
    { EADDRNOTAVAIL, "address not available" },
    { EACCES, "permission denied" },
    { EPERM, "operation not permitted" },
    { EMFILE, "too many open files" },
    { ENFILE, "too many open files" },
};

enum probe_state { CONNECTING, SENDING, READING };

struct route_probe {
    enum probe_state state;
    int fd;                     /* owned, -1 once the outcome is known */
    ev_io_t *io;                /* owned; watches <fd> */
    ev_timer_t *deadline;       /* owned; covers connect, request and status line */
    ev_defer_t *report;         /* owned; delivers the outcome from the loop */
    char *req;                  /* owned; the HTTP request, NULL for a TCP probe */
    size_t req_len, req_sent;
    size_t resp_len;
    int ended;                  /* the outcome is known and <report> scheduled */
    int ok;
    const char *why;            /* static */
    route_probe_cb cb;
    void *ctx;                  /* borrowed */
    uint8_t resp[PROBE_READ_MAX];
};

static const char *
errno_why(int e)
{
    for (size_t i = 0; i < sizeof(errno_text) / sizeof(errno_text[0]); i++)
        if (errno_text[i].err == e)
            return errno_text[i].why;
    return "connect failed";
}

/* pn_dial_tcp() reports an immediate failure as text ending in strerror(): map
 * it back to static text (errno itself is not promised to survive the call). */
static const char *
dial_why(const char *err)
{
    for (size_t i = 0; i < sizeof(errno_text) / sizeof(errno_text[0]); i++)
        if (strstr(err, strerror(errno_text[i].err)) != NULL)
            return errno_text[i].why;
    return "connect failed";
}

static void
probe_free(route_probe_t *p)
{
    ev_io_free(p->io);
    pn_close(p->fd);
    ev_timer_free(p->deadline);
    ev_defer_free(p->report);
    free(p->req);
    free(p);
}

void
route_probe_cancel(route_probe_t *p)
{
    if (p != NULL)
        probe_free(p);
}

static void
on_report(void *arg)
{
    route_probe_t *p = arg;
    route_probe_cb cb = p->cb;
    void *ctx = p->ctx;
    int ok = p->ok;
    const char *why = p->why;
    /* Freed first: the callback may stop or even free the loop. */
    probe_free(p);
    cb(ok, ok ? NULL : why, ctx);
}

/* The outcome is known: close the socket now and report from the loop. */
static void
probe_end(route_probe_t *p, int ok, const char *why)
{
    if (p->ended)
        return;
    p->ended = 1;
    p->ok = ok;
    p->why = why;
    ev_io_free(p->io);
    pn_close(p->fd);
    p->fd = -1;
    ev_timer_disarm(p->deadline);
    ev_defer_schedule(p->report);
}

static int
is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* Judge the first <n> bytes of the response: PN_AGAIN until "HTTP/1.x NNN"
 * and the byte after it are there (a mismatch is refused at once), then PN_OK
 * for 2xx and 3xx, or PN_ERR with static text in <why>. */
static int
status_judge(const uint8_t *s, size_t n, const char **why)
{
    static const char shape[] = "HTTP/1.d ddd";   /* d: a digit */
    for (size_t i = 0; i < n && i < STATUS_HEAD; i++) {
        int match;
        if (i == STATUS_HEAD - 1)   /* end of the code: SP before the reason, or CRLF */
            match = s[i] == ' ' || s[i] == '\r' || s[i] == '\n';
        else if (shape[i] == 'd')
            match = is_digit(s[i]);
        else
            match = s[i] == (uint8_t)shape[i];
        if (!match) {
            *why = "not HTTP";
            return PN_ERR;
        }
    }
    if (n < STATUS_HEAD)
        return PN_AGAIN;
    int code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (code >= 200 && code <= 399)
        return PN_OK;
    if (code >= 100 && code <= 199)
        *why = status_text + (size_t)(code - 100) * ST_WIDTH;
    else if (code >= 400 && code <= 599)
        *why = status_text + (size_t)(code - 400 + 100) * ST_WIDTH;
    else
        *why = "HTTP status out of range";
    return PN_ERR;
}

static void
probe_read(route_probe_t *p)
{
    const char *why = NULL;
    for (;;) {
        ssize_t r = recv(p->fd, p->resp + p->resp_len, sizeof(p->resp) - p->resp_len, 0);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r == -1) {
            probe_end(p, 0, errno_why(errno));
            return;
        }
        if (r == 0) {
            probe_end(p, 0, p->resp_len == 0 ? "closed without answering"
                                             : "closed within the status line");
            return;
        }
        p->resp_len += (size_t)r;
        /* STATUS_HEAD < PROBE_READ_MAX: this settles before the buffer fills. */
        int rc = status_judge(p->resp, p->resp_len, &why);
        if (rc != PN_AGAIN) {
            probe_end(p, rc == PN_OK, why);
            return;
        }
    }
}

static void
probe_send(route_probe_t *p)
{
    while (p->req_sent < p->req_len) {
        ssize_t w = send(p->fd, p->req + p->req_sent, p->req_len - p->req_sent, MSG_NOSIGNAL);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;             /* still armed for writability */
        if (w == -1) {
            probe_end(p, 0, errno_why(errno));
            return;
        }
        p->req_sent += (size_t)w;
    }
    p->state = READING;
    ev_io_set(p->io, EV_RD);
}

static void
on_io(int fd, int ready, void *arg)
{
    route_probe_t *p = arg;
    switch (p->state) {
    case CONNECTING: {
        int e = pn_sock_error(fd);
        if (e != 0) {
            probe_end(p, 0, errno_why(e));
            return;
        }
        if (p->req == NULL) {
            probe_end(p, 1, NULL);
            return;
        }
        p->state = SENDING;
        probe_send(p);
        return;
    }
    case SENDING:
        probe_send(p);
        return;
    case READING:
        probe_read(p);
        return;
    }
}

static long
on_deadline(ev_timer_t *t, void *arg)
{
    probe_end(arg, 0, "timed out");
    return EV_TIMER_STOP;
}

/* Nonzero when <s> may stand in a request line or a header value as it is: no
 * spaces, controls or DEL, which would split or forge the request. */
static int
request_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return 0;
    return 1;
}

static int
build_request(route_probe_t *p, const pn_addr_t *addr, const char *host, const char *path)
{
    static const char fmt[] = "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: postern-probe\r\n"
                              "Connection: close\r\n\r\n";
    char a[PN_ADDRSTRLEN];
    if (host == NULL)
        host = pn_addr_str(addr, a);
    if (!request_token(path) || !request_token(host))
        return PN_ERR;
    int len = snprintf(NULL, 0, fmt, path, host);
    if (len < 0)
        return PN_ERR;
    p->req = xmalloc((size_t)len + 1);
    snprintf(p->req, (size_t)len + 1, fmt, path, host);
    p->req_len = (size_t)len;
    return PN_OK;
}

route_probe_t *
route_probe_start(ev_loop_t *loop, const pn_addr_t *addr, const char *host, const char *path,
                  uint64_t timeout_ms, route_probe_cb cb, void *ctx)
{
    char err[PN_ERR_LEN];
    route_probe_t *p = xcalloc(sizeof(*p));
    p->fd = -1;
    p->cb = cb;
    p->ctx = ctx;
    p->deadline = ev_timer_new(loop, on_deadline, p);
    p->report = ev_defer_new(loop, on_report, p);
    /* Failures found here are reported through <report> too: never inline. */
    if (path != NULL && build_request(p, addr, host, path) != PN_OK) {
        probe_end(p, 0, "invalid probe path or host");
        return p;
    }
    p->fd = pn_dial_tcp(addr, NULL, err);
    if (p->fd == -1) {
        probe_end(p, 0, dial_why(err));
        return p;
    }
    p->io = ev_io_new(loop, p->fd, on_io, p);
    ev_io_set(p->io, EV_WR);
    ev_timer_arm(p->deadline, timeout_ms);
    return p;
}
