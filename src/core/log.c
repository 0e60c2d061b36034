/* core/log.c: the line logger behind core/log.h. */
#include "core/log.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static enum log_level threshold = LOG_INFO;
static enum log_format format = LOG_FMT_TEXT;
static char ctx_mode[16], ctx_instance[64];

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug", [LOG_INFO] = "info", [LOG_WARN] = "warn",
    [LOG_ERROR] = "error", [LOG_EVENT] = "event", [LOG_NONE] = "none",
};

static const char *const level_tags[] = {
    [LOG_DEBUG] = "DEBUG", [LOG_INFO] = "INFO", [LOG_WARN] = "WARN",
    [LOG_ERROR] = "ERROR", [LOG_EVENT] = "EVENT", [LOG_NONE] = "",
};

void
log_set_level(enum log_level lvl)
{
    threshold = lvl;
}

enum log_level
log_get_level(void)
{
    return threshold;
}

int
log_level_parse(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return PN_OK;
        }
    }
    return PN_ERR;
}

int
log_enabled(enum log_level lvl)
{
    return lvl != LOG_NONE && lvl >= threshold;
}

int
log_format_from_env(void)
{
    const char *v = getenv("POSTERN_LOG_FORMAT");
    if (v == NULL || *v == '\0' || strcmp(v, "text") == 0)
        format = LOG_FMT_TEXT;
    else if (strcmp(v, "json") == 0)
        format = LOG_FMT_JSON;
    else
        return -1;
    return 0;
}

void
log_set_format(enum log_format fmt)
{
    format = fmt;
}

void
log_set_context(const char *mode, const char *instance)
{
    snprintf(ctx_mode, sizeof(ctx_mode), "%s", mode ? mode : "");
    snprintf(ctx_instance, sizeof(ctx_instance), "%s", instance ? instance : "");
}

/* Append <s> to <out> (size <cap>, used <n>) as JSON string content; stops
 * short of <cap> - 8 so that the closing characters always fit. */
static size_t
json_esc(char *out, size_t n, size_t cap, const char *s)
{
    for (; *s && n + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    return n;
}

/* CHECK_POINT|K=V|K=V...: the counters as JSON fields (numbers, "ms" dropped). */
static size_t
json_fields(char *out, size_t n, size_t cap, const char *msg)
{
    if (strncmp(msg, "CHECK_POINT|", 12) != 0)
        return n + (size_t)snprintf(out + n, cap - n, "{}");
    out[n++] = '{';
    int first = 1;
    for (const char *p = msg + 12; *p && n + 48 < cap;) {
        const char *eq = strchr(p, '='), *bar = strchr(p, '|');
        if (eq == NULL || (bar != NULL && bar < eq))
            break;
        unsigned long long v = strtoull(eq + 1, NULL, 10);
        n += (size_t)snprintf(out + n, cap - n, "%s\"%.*s\":%llu", first ? "" : ",",
                              (int)(eq - p) > 24 ? 24 : (int)(eq - p), p, v);
        first = 0;
        if (bar == NULL)
            break;
        p = bar + 1;
    }
    out[n++] = '}';
    return n;
}

/* {"time":..,"level":..,"mode":..,"instance":..,"msg":" into <out>; its length. */
static size_t
log_json_head(enum log_level lvl, const struct timeval *tv, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&tv->tv_sec, &tm);
    size_t n = strftime(out, cap, "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(out + n, cap - n, ".%03dZ\",\"level\":\"%s\",\"mode\":\"",
                          (int)(tv->tv_usec / 1000), level_names[lvl]);
    n = json_esc(out, n, cap, ctx_mode);
    n += (size_t)snprintf(out + n, cap - n, "\",\"instance\":\"");
    n = json_esc(out, n, cap, ctx_instance);
    n += (size_t)snprintf(out + n, cap - n, "\",\"msg\":\"");
    return n;
}

/* ---- output: one write(2) a line; never blocks on a full pipe ----
 *
 * A master reads its instances' stdout through a pipe: were it stopped, a
 * blocking write would stop the instance with it once the pipe is full. When
 * stdout is a pipe or a socket it is made non-blocking: a line that does not
 * fit is dropped and counted, and the count is said once lines pass again. A
 * line already started is finished within a few milliseconds, or cut (and the
 * next starts on a new line). */
static int out_nb = -1;         /* stdout made non-blocking; -1 before the first line */
static uint64_t out_dropped;    /* lines dropped since the last note */
static int out_cut;             /* the last line was cut short */

static void
out_init(void)
{
    struct stat st;
    out_nb = 0;
    if (fstat(STDOUT_FILENO, &st) == -1 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
        return;
    int fl = fcntl(STDOUT_FILENO, F_GETFL);
    if (fl != -1 && fcntl(STDOUT_FILENO, F_SETFL, fl | O_NONBLOCK) != -1)
        out_nb = 1;
}

/* Write <iov> (<cnt> pieces) as one line: PN_OK, or PN_ERR when it was dropped. */
static int
out_write(struct iovec *iov, int cnt)
{
    size_t total = 0, done = 0;
    int waits = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    fflush(stdout);             /* what was printed through stdio goes first */
    while (done < total) {
        ssize_t w = writev(STDOUT_FILENO, iov, cnt);
        if (w > 0) {
            done += (size_t)w;
            while (cnt > 0 && (size_t)w >= iov->iov_len) {
                w -= (ssize_t)iov->iov_len;
                iov++;
                cnt--;
            }
            if (cnt > 0) {
                iov->iov_base = (char *)iov->iov_base + w;
                iov->iov_len -= (size_t)w;
            }
            continue;
        }
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1 && errno == EAGAIN && done > 0 && waits++ < 10) {
            struct pollfd pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };
            (void)poll(&pfd, 1, 2);
            continue;
        }
        if (done > 0)
            out_cut = 1;
        return PN_ERR;
    }
    return PN_OK;
}

static size_t build_line(enum log_level lvl, const struct timeval *tv, const char *msg,
                         char *line, size_t cap);

/* Write one line, after the note of those dropped before it, if any. */
static void
out_line(struct iovec *iov, int cnt)
{
    if (out_nb < 0)
        out_init();
    if (out_dropped > 0 || out_cut) {
        char msg[160], line[1024];
        struct timeval tv;
        gettimeofday(&tv, NULL);
        snprintf(msg, sizeof(msg), "log: %llu lines dropped: stdout was full (its reader "
                 "is slow or stopped)", (unsigned long long)out_dropped);
        line[0] = '\n';
        size_t n = build_line(LOG_WARN, &tv, msg, line + 1, sizeof(line) - 1);
        struct iovec note = { .iov_base = line + !out_cut, .iov_len = n + out_cut };
        if (out_write(&note, 1) != PN_OK) {
            out_dropped++;
            return;
        }
        out_dropped = 0;
        out_cut = 0;
    }
    if (out_write(iov, cnt) != PN_OK)
        out_dropped++;
}

/* One JSON line for <msg> at <lvl> into <line> (<cap> at least 2048); its length. */
static size_t
log_json(enum log_level lvl, const struct timeval *tv, const char *msg, char *line, size_t cap)
{
    size_t n = log_json_head(lvl, tv, line, cap);
    n = json_esc(line, n, cap - 1024, msg);
    n += (size_t)snprintf(line + n, cap - n, "\",\"fields\":");
    n = json_fields(line, n, cap - 8, msg);
    line[n++] = '}';
    line[n++] = '\n';
    return n;
}

/* One line for <msg> at <lvl> in the format set, '\n' included; its length. */
static size_t
build_line(enum log_level lvl, const struct timeval *tv, const char *msg, char *line,
           size_t cap)
{
    struct tm tm;
    if (format == LOG_FMT_JSON)
        return log_json(lvl, tv, msg, line, cap);
    localtime_r(&tv->tv_sec, &tm);
    size_t n = strftime(line, cap, "%Y-%m-%d %H:%M:%S", &tm);
    int m = snprintf(line + n, cap - n - 1, ".%03d %s %s", (int)(tv->tv_usec / 1000),
                     level_tags[lvl], msg);
    n += m < 0 ? 0 : (size_t)m;
    if (n > cap - 2)
        n = cap - 2;
    line[n++] = '\n';
    return n;
}

/* Build the whole line in one buffer and write it with one write, so lines from
 * concurrent writers (later: worker threads) never interleave mid-line. */
void
log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (!log_enabled(lvl))
        return;

    char msg[1024];
    static char line[8192];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg) - 40, fmt, ap);  /* the text line stays within 1 KiB */
    va_end(ap);
    struct iovec iov = { .iov_base = line,
                         .iov_len = build_line(lvl, &tv, msg, line,
                                               format == LOG_FMT_JSON ? sizeof(line) : 1024) };
    out_line(&iov, 1);
}

void
log_long(enum log_level lvl, const char *text)
{
    if (!log_enabled(lvl))
        return;
    char head[256];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    if (format == LOG_FMT_JSON) {
        /* Any length: escaped into a buffer of the worst case. */
        size_t cap = strlen(text) * 6 + 64;
        char *body = malloc(cap);
        if (body == NULL) {
            out_dropped++;
            return;
        }
        size_t n = json_esc(body, 0, cap, text);
        n += (size_t)snprintf(body + n, cap - n, "\",\"fields\":{}}\n");
        struct iovec iov[2] = {
            { .iov_base = head, .iov_len = log_json_head(lvl, &tv, head, sizeof(head)) },
            { .iov_base = body, .iov_len = n },
        };
        out_line(iov, 2);
        free(body);
        return;
    }
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(head, sizeof(head), "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(head + n, sizeof(head) - n, ".%03d %s ", (int)(tv.tv_usec / 1000),
                          level_tags[lvl]);
    struct iovec iov[3] = {
        { .iov_base = head, .iov_len = n },
        { .iov_base = (void *)text, .iov_len = strlen(text) },
        { .iov_base = "\n", .iov_len = 1 },
    };
    out_line(iov, 3);
}

int
pn_ratelim_pass(pn_ratelim_t *r, uint64_t now_ms, uint64_t *held)
{
    if (r->last_ms != 0 && now_ms - r->last_ms < r->interval_ms) {
        r->suppressed++;
        return 0;
    }
    r->last_ms = now_ms ? now_ms : 1;
    *held = r->suppressed;
    r->suppressed = 0;
    return 1;
}

int
pn_err_set(char *err, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, PN_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return PN_ERR;
}
