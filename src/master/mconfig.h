/* master/mconfig.h: a master:// URL turned into the master's configuration
 * (pure: no sockets, no files; every message names the field).
 *
 *     master://<host>:<port>[/<prefix>]?log=&tls=0|1|2&crt=&key=&db=
 */
#ifndef PN_MASTER_MCONFIG_H
#define PN_MASTER_MCONFIG_H

#include "core/err.h"
#include "core/log.h"

#include <stdint.h>

#define PN_MASTER_PREFIX_MAX 64     /* bytes of <prefix>, with its leading '/' */
#define PN_COOLDOWN_DEFAULT_MS 1000 /* POSTERN_SERVICE_COOLDOWN: 100ms..10m */
#define PN_COOLDOWN_MIN_MS 100
#define PN_COOLDOWN_MAX_MS 600000

typedef struct pn_mconfig {
    char *host;                 /* owned; "" for every interface */
    char *port;                 /* owned; digits, 1..65535 */
    char prefix[PN_MASTER_PREFIX_MAX + 1]; /* "/api" by default; no trailing '/' */
    enum log_level log;
    int tls;                    /* 0 plain HTTP, 1 in-memory certificate, 2 files */
    char *crt, *key;            /* owned; tls=2 PEM files */
    char *db;                   /* owned; SQLite file, NULL = the default path */
    uint64_t report_ms;         /* POSTERN_REPORT_INTERVAL: counters saved this often */
    uint64_t keepalive_ms;      /* POSTERN_SSE_KEEPALIVE: SSE comment after this much silence */
    uint64_t cooldown_ms;       /* POSTERN_SERVICE_COOLDOWN: the first restart's delay */
} pn_mconfig_t;

/** Parse <url> into <cfg> (zeroed first); PN_ERR with "<field>: <reason>" in
 *  <err>, <cfg> then empty. Release with pn_mconfig_clear(). */
int pn_mconfig_parse(const char *url, pn_mconfig_t *cfg, char *err);
/** Read POSTERN_REPORT_INTERVAL, POSTERN_SSE_KEEPALIVE and
 *  POSTERN_SERVICE_COOLDOWN (alias NP_SERVICE_COOLDOWN) through <get>;
 *  PN_ERR with <err> naming the variable when one is malformed. */
int pn_mconfig_apply_env(pn_mconfig_t *cfg, const char *(*get)(const char *name), char *err);
/** Release what <cfg> owns and zero it. */
void pn_mconfig_clear(pn_mconfig_t *cfg);
/** The default database path from <get>: $XDG_STATE_HOME/postern/master.db,
 *  else $HOME/.local/state/postern/master.db; a new string, or NULL when
 *  neither variable is set. */
char *pn_mconfig_default_db(const char *(*get)(const char *name));

#endif
