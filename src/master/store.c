/* master/store.c: master/store.h over SQLite 3 (WAL, synchronous=NORMAL: a
 * power cut may lose the last transactions, a process crash loses nothing
 * committed; the master commits at least once per report interval). */
#include "master/store.h"
#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#define STORE_SCHEMA_VERSION 2    /* 2: instances.halted */

struct pn_store {
    sqlite3 *db;                /* owned */
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS settings ("
    "  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS instances ("
    "  id TEXT PRIMARY KEY, alias TEXT NOT NULL DEFAULT '', url TEXT NOT NULL,"
    "  restart INTEGER NOT NULL DEFAULT 1, desired INTEGER NOT NULL DEFAULT 1,"
    "  tags TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL,"
    "  restarts INTEGER NOT NULL DEFAULT 0,"
    "  tcprx INTEGER NOT NULL DEFAULT 0, tcptx INTEGER NOT NULL DEFAULT 0,"
    "  udprx INTEGER NOT NULL DEFAULT 0, udptx INTEGER NOT NULL DEFAULT 0);"
    /* Byte increases per instance and bucket (store.h "History"); no schema
     * version needed: an older master leaves the table alone. */
    "CREATE TABLE IF NOT EXISTS history ("
    "  id TEXT NOT NULL, tier INTEGER NOT NULL, t INTEGER NOT NULL,"
    "  tcprx INTEGER NOT NULL, tcptx INTEGER NOT NULL,"
    "  udprx INTEGER NOT NULL, udptx INTEGER NOT NULL,"
    "  PRIMARY KEY (id, tier, t)) WITHOUT ROWID;"
    /* The manager's nodes and users (master/manager.h): one JSON object each. */
    "CREATE TABLE IF NOT EXISTS fleet ("
    "  kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,"
    "  PRIMARY KEY (kind, id));";

static int
exec_sql(pn_store_t *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("db: %s", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return PN_ERR;
    }
    return PN_OK;
}

pn_store_t *
pn_store_open(const char *path, char *err)
{
    pn_store_t *s = xcalloc(sizeof(*s));
    /* Create the file ourselves so that it (and SQLite's -wal and -shm files,
     * which copy its mode) is private to the user from the start. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        pn_err_set(err, "db: %s: %s", path, strerror(errno));
        free(s);
        return NULL;
    }
    close(fd);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        pn_err_set(err, "db: %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 2000);
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     &msg) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        pn_err_set(err, "db: %s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        goto fail;
    }
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > STORE_SCHEMA_VERSION) {
        pn_err_set(err, "db: %s: made by a newer postern (schema %d, this one knows %d)", path,
                   version, STORE_SCHEMA_VERSION);
        goto fail;
    }
    /* Schema 2 adds instances.halted: an instance that exited 2 and is not
     * restarted stays so across a master restart. */
    if (version < 2 && exec_sql(s, "ALTER TABLE instances ADD COLUMN halted INTEGER NOT NULL "
                                   "DEFAULT 0") != PN_OK) {
        pn_err_set(err, "db: %s: cannot add the halted column", path);
        goto fail;
    }
    if (version < STORE_SCHEMA_VERSION && exec_sql(s, "PRAGMA user_version=2") != PN_OK) {
        pn_err_set(err, "db: %s: cannot write the schema version", path);
        goto fail;
    }
    return s;

fail:
    sqlite3_close(s->db);
    free(s);
    return NULL;
}

void
pn_store_free_(pn_store_t *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    free(s);
}

static sqlite3_stmt *
prepare(pn_store_t *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("db: %s", sqlite3_errmsg(s->db));
        return NULL;
    }
    return st;
}

/* Step <st> to completion and finalize it; PN_OK or PN_ERR (logged). */
static int
finish(pn_store_t *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_error("db: %s", sqlite3_errmsg(s->db));
        return PN_ERR;
    }
    return PN_OK;
}

/* Run <sql> once for each of <n> rows, <bind> setting its parameters, in one
 * transaction (none when <n> is 0); PN_OK, or PN_ERR (logged, rolled back). */
static int
batch(pn_store_t *s, const char *sql, size_t n,
      void (*bind)(sqlite3_stmt *st, size_t i, const void *rows), const void *rows)
{
    if (n == 0)
        return PN_OK;
    if (exec_sql(s, "BEGIN IMMEDIATE") != PN_OK)
        return PN_ERR;
    sqlite3_stmt *st = prepare(s, sql);
    if (st == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        bind(st, i, rows);
        if (sqlite3_step(st) != SQLITE_DONE) {
            log_error("db: %s", sqlite3_errmsg(s->db));
            sqlite3_finalize(st);
            goto fail;
        }
    }
    sqlite3_finalize(st);
    return exec_sql(s, "COMMIT");

fail:
    exec_sql(s, "ROLLBACK");
    return PN_ERR;
}

int
pn_store_get(pn_store_t *s, const char *key, char **out)
{
    sqlite3_stmt *st = prepare(s, "SELECT value FROM settings WHERE key = ?1");
    if (st == NULL)
        return PN_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int ret = PN_AGAIN;
    if (rc == SQLITE_ROW) {
        *out = xstrdup((const char *)sqlite3_column_text(st, 0));
        ret = PN_OK;
    } else if (rc != SQLITE_DONE) {
        log_error("db: %s", sqlite3_errmsg(s->db));
        ret = PN_ERR;
    }
    sqlite3_finalize(st);
    return ret;
}

int
pn_store_set(pn_store_t *s, const char *key, const char *value)
{
    sqlite3_stmt *st = prepare(s, "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)");
    if (st == NULL)
        return PN_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    return finish(s, st);
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

int
pn_store_load(pn_store_t *s, void (*cb)(const pn_store_row_t *row, void *ctx), void *ctx)
{
    sqlite3_stmt *st = prepare(s, "SELECT id, alias, url, tags, restart, desired, created, restarts,"
                                  " tcprx, tcptx, udprx, udptx, halted FROM instances ORDER BY rowid");
    if (st == NULL)
        return PN_ERR;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        pn_store_row_t r = {
            .id = col_text(st, 0), .alias = col_text(st, 1), .url = col_text(st, 2),
            .tags = col_text(st, 3), .restart = sqlite3_column_int(st, 4),
            .desired = sqlite3_column_int(st, 5), .created = sqlite3_column_int64(st, 6),
            .restarts = (uint64_t)sqlite3_column_int64(st, 7),
            .halted = sqlite3_column_int(st, 12),
        };
        for (int i = 0; i < 4; i++)
            r.counters[i] = (uint64_t)sqlite3_column_int64(st, 8 + i);
        cb(&r, ctx);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("db: %s", sqlite3_errmsg(s->db));
        return PN_ERR;
    }
    return PN_OK;
}

int
pn_store_put(pn_store_t *s, const pn_store_row_t *r)
{
    /* An UPSERT keeps the rowid, hence the listing order, of an existing row. */
    sqlite3_stmt *st = prepare(s,
        "INSERT INTO instances (id, alias, url, tags, restart, desired, created, restarts,"
        " tcprx, tcptx, udprx, udptx) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        " ON CONFLICT(id) DO UPDATE SET alias = ?2, url = ?3, tags = ?4, restart = ?5,"
        " desired = ?6, created = ?7, restarts = ?8, tcprx = ?9, tcptx = ?10, udprx = ?11,"
        " udptx = ?12");
    if (st == NULL)
        return PN_ERR;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->alias ? r->alias : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->tags ? r->tags : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, r->restart ? 1 : 0);
    sqlite3_bind_int(st, 6, r->desired ? 1 : 0);
    sqlite3_bind_int64(st, 7, r->created);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)r->restarts);
    for (int i = 0; i < 4; i++)
        sqlite3_bind_int64(st, 9 + i, (sqlite3_int64)r->counters[i]);
    return finish(s, st);
}

int
pn_store_delete(pn_store_t *s, const char *id)
{
    sqlite3_stmt *st = prepare(s, "DELETE FROM instances WHERE id = ?1");
    if (st == NULL)
        return PN_ERR;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (finish(s, st) != PN_OK)
        return PN_ERR;
    st = prepare(s, "DELETE FROM history WHERE id = ?1");
    if (st == NULL)
        return PN_ERR;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    return finish(s, st);
}

/* ---- history ---------------------------------------------------------------- */

/* Bind increase <i> of <v> to <st> (pn_store_hist_add). */
static void
bind_hist(sqlite3_stmt *st, size_t i, const void *v)
{
    const pn_store_hist_t *h = (const pn_store_hist_t *)v + i;
    sqlite3_bind_text(st, 1, h->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, h->t - h->t % PN_STORE_HIST_FINE_S);
    for (int k = 0; k < 4; k++)
        sqlite3_bind_int64(st, 3 + k, (sqlite3_int64)(h->bytes[k] & INT64_MAX));
}

int
pn_store_hist_add(pn_store_t *s, const pn_store_hist_t *v, size_t n)
{
    return batch(s, "INSERT INTO history (id, tier, t, tcprx, tcptx, udprx, udptx)"
                    " VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id, tier, t) DO UPDATE SET"
                    " tcprx = tcprx + ?3, tcptx = tcptx + ?4, udprx = udprx + ?5,"
                    " udptx = udptx + ?6", n, bind_hist, v);
}

int
pn_store_hist_compact(pn_store_t *s, int64_t from, int64_t to, int64_t now)
{
    static const char *const sql[] = {
        /* A minute rolled up before keeps its sum: its fine buckets may be
         * partly gone by now. */
        "INSERT OR IGNORE INTO history (id, tier, t, tcprx, tcptx, udprx, udptx)"
        " SELECT id, 1, t - t % 60, sum(tcprx), sum(tcptx), sum(udprx), sum(udptx)"
        " FROM history WHERE tier = 0 AND t >= ?1 AND t < ?2 GROUP BY id, t - t % 60",
        "DELETE FROM history WHERE tier = 0 AND t < ?3",
        "DELETE FROM history WHERE tier = 1 AND t < ?4",
    };
    if (exec_sql(s, "BEGIN IMMEDIATE") != PN_OK)
        return PN_ERR;
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        sqlite3_stmt *st = prepare(s, sql[i]);
        if (st == NULL)
            goto fail;
        /* Unused parameters of a statement stay unbound (NULL): harmless. */
        sqlite3_bind_int64(st, 1, from);
        sqlite3_bind_int64(st, 2, to);
        sqlite3_bind_int64(st, 3, now - PN_STORE_HIST_FINE_KEEP);
        sqlite3_bind_int64(st, 4, now - PN_STORE_HIST_COARSE_KEEP);
        if (finish(s, st) != PN_OK)
            goto fail;
    }
    return exec_sql(s, "COMMIT");

fail:
    exec_sql(s, "ROLLBACK");
    return PN_ERR;
}

int
pn_store_hist_get(pn_store_t *s, const char *id, int64_t since, int coarse, int64_t split,
                  pn_store_hist_cb cb, void *ctx)
{
    sqlite3_stmt *st = prepare(s, coarse
        ? "SELECT t - t % 60 AS b, sum(tcprx), sum(tcptx), sum(udprx), sum(udptx) FROM history"
          " WHERE id = ?1 AND t >= ?2 AND ((tier = 1 AND t < ?3) OR (tier = 0 AND t >= ?3))"
          " GROUP BY b ORDER BY b"
        : "SELECT t, tcprx, tcptx, udprx, udptx FROM history"
          " WHERE id = ?1 AND tier = 0 AND t >= ?2 ORDER BY t");
    if (st == NULL)
        return PN_ERR;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since);
    if (coarse)
        sqlite3_bind_int64(st, 3, split);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t b[4];
        for (int k = 0; k < 4; k++) {
            sqlite3_int64 v = sqlite3_column_int64(st, 1 + k);
            b[k] = v > 0 ? (uint64_t)v : 0;
        }
        cb(sqlite3_column_int64(st, 0), b, ctx);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("db: %s", sqlite3_errmsg(s->db));
        return PN_ERR;
    }
    return PN_OK;
}

/* Bind row <i> of <rows> to <st> (pn_store_save_counters). */
static void
bind_counters(sqlite3_stmt *st, size_t i, const void *rows)
{
    const pn_store_row_t *r = (const pn_store_row_t *)rows + i;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)r->restarts);
    for (int k = 0; k < 4; k++)
        sqlite3_bind_int64(st, 3 + k, (sqlite3_int64)r->counters[k]);
}

int
pn_store_save_counters(pn_store_t *s, const pn_store_row_t *rows, size_t n)
{
    return batch(s, "UPDATE instances SET restarts = ?2, tcprx = ?3, tcptx = ?4,"
                    " udprx = ?5, udptx = ?6 WHERE id = ?1", n, bind_counters, rows);
}

int
pn_store_set_halted(pn_store_t *s, const char *id, int halted)
{
    sqlite3_stmt *st = prepare(s, "UPDATE instances SET halted = ?2 WHERE id = ?1");
    if (st == NULL)
        return PN_ERR;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, halted ? 1 : 0);
    return finish(s, st);
}

/* ---- the manager's objects ------------------------------------------------ */

int
pn_store_obj_put(pn_store_t *s, const char *kind, size_t n, const char *const *ids,
                 const char *const *bodies)
{
    if (n > 1 && exec_sql(s, "BEGIN IMMEDIATE") != PN_OK)
        return PN_ERR;
    sqlite3_stmt *st = prepare(s, "INSERT OR REPLACE INTO fleet (kind, id, body) VALUES (?1, ?2, ?3)");
    if (st == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ids[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, bodies[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            log_error("db: %s", sqlite3_errmsg(s->db));
            sqlite3_finalize(st);
            goto fail;
        }
    }
    sqlite3_finalize(st);
    return n > 1 ? exec_sql(s, "COMMIT") : PN_OK;
fail:
    if (n > 1)
        exec_sql(s, "ROLLBACK");
    return PN_ERR;
}

int
pn_store_obj_delete(pn_store_t *s, const char *kind, const char *id)
{
    sqlite3_stmt *st = prepare(s, "DELETE FROM fleet WHERE kind = ?1 AND id = ?2");
    if (st == NULL)
        return PN_ERR;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    return finish(s, st);
}

int
pn_store_obj_load(pn_store_t *s, const char *kind,
                  void (*cb)(const char *id, const char *body, void *ctx), void *ctx)
{
    sqlite3_stmt *st = prepare(s, "SELECT id, body FROM fleet WHERE kind = ?1 ORDER BY rowid");
    if (st == NULL)
        return PN_ERR;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cb(col_text(st, 0), col_text(st, 1), ctx);
    if (rc != SQLITE_DONE)
        log_error("db: %s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? PN_OK : PN_ERR;
}
