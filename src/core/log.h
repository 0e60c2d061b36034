/* core/log.h: leveled logging to stdout, one line per message.
 *
 * Levels follow NodePass: debug < info < warn < error < event < none. A message
 * is printed when its level is at or above the configured one, so `log=event`
 * shows only the CHECK_POINT and STATE lines and `log=none` shows nothing. Never pass a
 * key, token or other secret to these functions.
 *
 * Each line is one write(2). On a pipe or socket stdout is non-blocking: a line
 * that does not fit is dropped, and a "N lines dropped" line follows once one
 * fits (a stopped reader never stops the process). */
#ifndef PN_CORE_LOG_H
#define PN_CORE_LOG_H

#include <stdint.h>

enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
    LOG_EVENT,
    LOG_NONE,
};

/** Set the threshold under which messages are dropped. */
void log_set_level(enum log_level lvl);
/** Return the current threshold. */
enum log_level log_get_level(void);
/** Parse a level name ("debug", ... "none") into <out>; 0 on success, -1 if unknown. */
int log_level_parse(const char *name, enum log_level *out);
/** Return nonzero when a message at <lvl> would be printed. */
int log_enabled(enum log_level lvl);
/** Line formats: LOG_FMT_TEXT "<date> <time> <LEVEL> <msg>"; LOG_FMT_JSON one JSON
 *  object a line with the stable keys time (RFC 3339, UTC, ms), level, mode,
 *  instance, msg and fields (an object; CHECK_POINT lines put their counters
 *  there). Secrets never reach a log line in either format. */
enum log_format { LOG_FMT_TEXT = 0, LOG_FMT_JSON };
/** Choose the line format from $POSTERN_LOG_FORMAT ("json" or "text", default
 *  text); -1 for another value, else 0. */
int log_format_from_env(void);
/** Set the format. */
void log_set_format(enum log_format fmt);
/** Name the process in JSON lines: <mode> (client, server, hub...) and
 *  <instance> (the master's instance label, or ""); both copied. */
void log_set_context(const char *mode, const char *instance);

/** Print one line at <lvl>, prefixed with a timestamp and the level's name. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Print <text> (any length, no newline in it) as one line at <lvl>, with the
 *  same prefix: for machine-read lines longer than log_msg's 1 KiB. */
void log_long(enum log_level lvl, const char *text);

/* A message allowed at most once per interval; the ones held back are counted
 * and reported with the next one that passes. */
typedef struct pn_ratelim {
    uint64_t interval_ms;       /* at most one message per interval */
    uint64_t last_ms;           /* when the last one passed */
    uint64_t suppressed;        /* held back since */
} pn_ratelim_t;

/** Nonzero when a message may pass at <now_ms>; then *<held> says how many were
 *  held back before it (and the count restarts). */
int pn_ratelim_pass(pn_ratelim_t *r, uint64_t now_ms, uint64_t *held);

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_event(...) log_msg(LOG_EVENT, __VA_ARGS__)

#endif
