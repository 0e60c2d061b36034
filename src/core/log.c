/* core/log.c: the line logger behind core/log.h. */
#include "core/log.h"
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

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

/* One JSON line for <msg> at <lvl>, written with one fwrite. */
static void
log_json(enum log_level lvl, const struct timeval *tv, const char *msg)
{
    static char line[8192];
    size_t n = log_json_head(lvl, tv, line, sizeof(line));
    n = json_esc(line, n, sizeof(line) - 1024, msg);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"fields\":");
    n = json_fields(line, n, sizeof(line) - 8, msg);
    line[n++] = '}';
    line[n++] = '\n';
    fwrite(line, 1, n, stdout);
    fflush(stdout);
}

/* Build the whole line in one buffer and write it with one fwrite, so lines from
 * concurrent writers (later: worker threads) never interleave mid-line. */
void
log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (!log_enabled(lvl))
        return;

    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    if (format == LOG_FMT_JSON) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        log_json(lvl, &tv, line);
        return;
    }
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03d %s ",
                          (int)(tv.tv_usec / 1000), level_tags[lvl]);

    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    fwrite(line, 1, n, stdout);
    fflush(stdout);
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
        /* Any length: the message is escaped as it is written. */
        char buf[64];
        size_t n = 0;
        log_json_head(lvl, &tv, head, sizeof(head));
        fputs(head, stdout);
        for (const char *s = text; *s; s++) {
            n = json_esc(buf, 0, sizeof(buf), (char[]){ *s, 0 });
            fwrite(buf, 1, n, stdout);
        }
        fputs("\",\"fields\":{}}\n", stdout);
        fflush(stdout);
        return;
    }
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(head, sizeof(head), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(head + n, sizeof(head) - n, ".%03d %s ", (int)(tv.tv_usec / 1000), level_tags[lvl]);
    /* stdout is one stream: the three writes leave together at the flush. */
    fputs(head, stdout);
    fputs(text, stdout);
    fputc('\n', stdout);
    fflush(stdout);
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
