/* net/scrape.c: net/scrape.h. */
#include "net/scrape.h"
#include "core/err.h"
#include "core/list.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/gate.h"
#include "net/sock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BURST 64

struct scrape_conn {
    pn_admit_ent_t adm;         /* in the gate from accept to close */
    pn_list_t node;             /* in pn_scrape.conns */
    pn_scrape_t *s;
    int fd;                     /* owned */
    ev_io_t *io;                /* owned */
    size_t inlen;
    char *out;                  /* owned: the whole answer, or NULL while reading */
    size_t outlen, outoff;
    char in[PN_SCRAPE_HEAD_MAX];
};

struct pn_scrape {
    ev_loop_t *loop;
    int lfd;                    /* owned */
    ev_io_t *lio;               /* owned */
    pn_gate_t *gate;            /* owned */
    pn_addr_t addr;
    pn_list_t conns;            /* struct scrape_conn */
    pn_scrape_page_cb page;
    void *ctx;
    char who[64];
};

/* The request line: "<METHOD> <target> HTTP/1.<d>" then CRLF or LF. */
static int
parse_line(const char *p, size_t n, enum pn_scrape_method *method, char path[PN_SCRAPE_PATH_MAX])
{
    size_t i = 0, m;
    while (i < n && i < 16 && p[i] >= 'A' && p[i] <= 'Z')
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        return PN_ERR;
    m = i;
    *method = m == 3 && memcmp(p, "GET", 3) == 0    ? PN_SCRAPE_GET
              : m == 4 && memcmp(p, "HEAD", 4) == 0 ? PN_SCRAPE_HEAD
                                                    : PN_SCRAPE_OTHER;
    size_t t = ++i;
    if (i >= n || p[i] != '/')
        return PN_ERR;
    while (i < n && p[i] > 0x20 && p[i] < 0x7f)
        i++;
    size_t tend = i, plen = 0;
    while (t + plen < tend && p[t + plen] != '?')
        plen++;
    if (plen >= PN_SCRAPE_PATH_MAX)
        return PN_ERR;
    if (n - i < 10 || memcmp(p + i, " HTTP/1.", 8) != 0 || p[i + 8] < '0' || p[i + 8] > '9')
        return PN_ERR;
    i += 9;
    if (i < n && p[i] == '\r')
        i++;
    if (i + 1 != n || p[i] != '\n')
        return PN_ERR;
    memcpy(path, p + t, plen);
    path[plen] = '\0';
    return PN_OK;
}

int
pn_scrape_head_parse(const char *buf, size_t len, enum pn_scrape_method *method,
                     char path[PN_SCRAPE_PATH_MAX])
{
    *method = PN_SCRAPE_OTHER;
    path[0] = '\0';
    const char *nl = memchr(buf, '\n', len);
    if (nl == NULL)
        return len >= PN_SCRAPE_HEAD_MAX ? PN_ERR : PN_AGAIN;
    enum pn_scrape_method m;
    char p[PN_SCRAPE_PATH_MAX];
    if (parse_line(buf, (size_t)(nl - buf) + 1, &m, p) != PN_OK)
        return PN_ERR;
    /* The head ends at an empty line (CRLF CRLF, or bare LFs). */
    for (size_t i = (size_t)(nl - buf) + 1; i < len && i < PN_SCRAPE_HEAD_MAX; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i - 1] == '\n' || (buf[i - 1] == '\r' && buf[i - 2] == '\n')) {
            *method = m;
            memcpy(path, p, strlen(p) + 1);
            return PN_OK;
        }
    }
    return len >= PN_SCRAPE_HEAD_MAX ? PN_ERR : PN_AGAIN;
}

static void
conn_close(struct scrape_conn *c)
{
    pn_gate_leave(c->s->gate, &c->adm);
    pn_list_del(&c->node);
    ev_io_free(c->io);
    pn_close(c->fd);
    free(c->out);
    free(c);
}

static void
on_kill(void *arg)
{
    struct scrape_conn *c = arg;
    log_debug("%s: a request not answered in time, or evicted: closing", c->s->who);
    conn_close(c);
}

static void
respond(struct scrape_conn *c, int status, const char *reason, const char *type, char *body,
        size_t blen, int head_only)
{
    char h[256];
    int n = snprintf(h, sizeof(h),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                     "Connection: close\r\n\r\n",
                     status, reason, type, blen, status == 405 ? "Allow: GET, HEAD\r\n" : "");
    size_t send_body = head_only ? 0 : blen;
    c->out = xmalloc((size_t)n + send_body + 1);
    memcpy(c->out, h, (size_t)n);
    if (send_body)
        memcpy(c->out + n, body, send_body);
    c->outlen = (size_t)n + send_body;
    c->outoff = 0;
    free(body);
    ev_io_set(c->io, EV_WR);
}

static void
answer(struct scrape_conn *c, int rc, enum pn_scrape_method m, const char *path)
{
    static const char text[] = "text/plain; charset=utf-8";
    if (rc != PN_OK) {
        log_debug("%s: a malformed request head: closing", c->s->who);
        respond(c, 400, "Bad Request", text, xstrdup("bad request\n"), 12, 0);
        return;
    }
    if (m == PN_SCRAPE_OTHER) {
        respond(c, 405, "Method Not Allowed", text, xstrdup("method not allowed\n"), 19, 0);
        return;
    }
    size_t len = 0;
    const char *type = text;
    char *body = c->s->page(path, &len, &type, c->s->ctx);
    if (body == NULL)
        respond(c, 404, "Not Found", text, xstrdup("not found\n"), 10, m == PN_SCRAPE_HEAD);
    else
        respond(c, 200, "OK", type, body, len, m == PN_SCRAPE_HEAD);
}

static void
on_conn(int fd, int ready, void *arg)
{
    struct scrape_conn *c = arg;
    if (c->out == NULL && (ready & EV_RD)) {
        ssize_t r = read(fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
        if (r == -1 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            conn_close(c);
            return;
        }
        c->inlen += (size_t)r;
        enum pn_scrape_method m;
        char path[PN_SCRAPE_PATH_MAX];
        int rc = pn_scrape_head_parse(c->in, c->inlen, &m, path);
        if (rc == PN_AGAIN)
            return;
        answer(c, rc, m, path);
    }
    if (c->out == NULL)
        return;
    while (c->outoff < c->outlen) {
        ssize_t w = send(fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w == -1 && (errno == EAGAIN || errno == EINTR))
            return;
        if (w <= 0) {
            conn_close(c);
            return;
        }
        c->outoff += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    conn_close(c);
}

static void
on_resume(void *arg)
{
    pn_scrape_t *s = arg;
    ev_io_set(s->lio, EV_RD);
}

static void
on_accept(int lfd, int ready, void *arg)
{
    pn_scrape_t *s = arg;
    for (int i = 0; i < ACCEPT_BURST; i++) {
        pn_addr_t peer;
        int fd = pn_accept(lfd, &peer);
        if (fd == -1) {
            if (pn_gate_accept_failed(s->gate, errno, on_resume, s))
                ev_io_set(s->lio, 0);
            return;
        }
        pn_gate_accept_ok(s->gate);
        struct scrape_conn *c = xcalloc(sizeof(*c));
        c->s = s;
        c->fd = fd;
        c->io = ev_io_new(s->loop, fd, on_conn, c);
        pn_list_add(&s->conns, &c->node);
        ev_io_set(c->io, EV_RD);
        pn_gate_enter(s->gate, &c->adm, &peer, on_kill, c);
    }
}

pn_scrape_t *
pn_scrape_new(ev_loop_t *loop, const pn_addr_t *addr, const char *who, pn_scrape_page_cb page,
              void *ctx, char *err)
{
    /* The backlog of the other ports: at 128, a flood of connections fills the
     * queue and a good scraper's SYN is dropped, retried only 1 s later. */
    int lfd = pn_listen_tcp(addr, 4096, NULL, err);
    if (lfd == -1)
        return NULL;
    pn_scrape_t *s = xcalloc(sizeof(*s));
    s->loop = loop;
    s->lfd = lfd;
    s->page = page;
    s->ctx = ctx;
    snprintf(s->who, sizeof(s->who), "%s", who);
    s->addr = *addr;
    s->addr.len = sizeof(s->addr.ss);
    if (getsockname(lfd, (struct sockaddr *)&s->addr.ss, &s->addr.len) == -1)
        s->addr = *addr;
    pn_list_init(&s->conns);
    pn_gate_opts_t go = { .who = s->who, .deadline_ms = PN_SCRAPE_MS };
    s->gate = pn_gate_new(loop, &go);
    s->lio = ev_io_new(loop, lfd, on_accept, s);
    ev_io_set(s->lio, EV_RD);
    return s;
}

const pn_addr_t *
pn_scrape_addr(const pn_scrape_t *s)
{
    return &s->addr;
}

void
pn_scrape_free_(pn_scrape_t *s)
{
    if (s == NULL)
        return;
    while (!pn_list_empty(&s->conns))
        conn_close(pn_container_of(s->conns.next, struct scrape_conn, node));
    ev_io_free(s->lio);
    pn_close(s->lfd);
    pn_gate_free(s->gate);
    free(s);
}
