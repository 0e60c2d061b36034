/* master/statscan.h: a fast reading of a node's statistics in the rows form
 * (GET <prefix>/v1/node/stats?form=rows, docs/master.md "Nodes") without a
 * JSON tree: a manager reads 10000 users from each of 50 nodes every pull.
 *
 *   {"version": 7, ..., "boot": "9f1c2a7b3d4e5f60", ...,
 *    "users": [["alice", 79, 633, 1, 0, 0], ...]}
 *
 * Conservative (pure): it answers only for what it is sure of, a well-formed
 * JSON object whose "users" rows are ["<name>", <up>, <down>, <integers>...]
 * with plain ASCII names, each member once; anything else (objects as users,
 * escapes in a name, numbers out of range, any doubt about the JSON) is
 * PN_AGAIN: the caller reads the body with a JSON parser instead, so the
 * outcome is always the parser's (tests/fuzz/fuzz_nodeconf.c compares them). */
#ifndef PN_MASTER_STATSCAN_H
#define PN_MASTER_STATSCAN_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pn_statscan_row {
    const char *name;           /* borrowed from the body, not NUL-terminated */
    size_t len;
    int64_t up, down;           /* a negative value is as the node said it */
} pn_statscan_row_t;

typedef struct pn_statscan {
    int64_t version;
    char boot[40];              /* "" when it was longer */
    int has_boot, has_version, has_users;
    pn_statscan_row_t *rows;         /* owned array of <nrows> */
    size_t nrows, cap;
} pn_statscan_t;

/** Scan <body> (<len> bytes) into <s>: PN_OK when it is a whole object in the
 *  form above (boot, version and users may still be missing: check the has_
 *  flags), PN_AGAIN otherwise (<s> then holds nothing to use). Free with
 *  pn_statscan_clear() either way. */
int pn_statscan(const char *body, size_t len, pn_statscan_t *s);
/** Release what <s> holds. */
void pn_statscan_clear(pn_statscan_t *s);

#endif
