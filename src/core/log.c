/* core/log.c: the line logger behind core/log.h. */
#include "core/log.h"
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level threshold = LOG_INFO;

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
    char head[64];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
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
