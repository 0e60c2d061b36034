/* master/puser.h: a proxy entrance's per-user counters, read from its
 * PROXY_USER lines (docs/proxy.md §4) and kept per instance across its
 * restarts (pure apart from the instance it updates).
 *
 *     PROXY_USER|{"name":"alice","enabled":true,"up":1000,"down":1010,
 *                 "conns":1,"open":1,"refused":0}
 *
 * An instance keeps, per user name, the last values of its running child
 * (pn_inst_t.pusers) and the sums of its earlier children (pusers_base): the
 * counters a child prints start from 0, the totals served never go back while
 * the master runs. */
#ifndef PN_MASTER_PUSER_H
#define PN_MASTER_PUSER_H

#include "master/inst.h"

#include <stddef.h>
#include <stdint.h>

#define PN_PUSER_TAG "PROXY_USER|"

enum pn_puser_counter { PN_PU_UP = 0, PN_PU_DOWN, PN_PU_CONNS, PN_PU_REFUSED, PN_PU_OPEN, PN_PU_N };

/** Parse the PROXY_USER line <line> (<len> bytes): PN_OK with the user's name
 *  copied into <name> (PN_PUSER_NAME_MAX + 1 bytes) and its counters in <v>,
 *  PN_AGAIN when it is no PROXY_USER line, PN_ERR when it is a malformed one. */
#define PN_PUSER_NAME_MAX 64
int pn_puser_parse(const char *line, size_t len, char name[PN_PUSER_NAME_MAX + 1],
                   uint64_t v[PN_PU_N]);
/** Take <line> when it is a PROXY_USER line of <in>: its counters replace the
 *  child's last ones for that user. 1 when it was one (also a malformed one,
 *  dropped), 0 for any other line. */
int pn_puser_take(pn_inst_t *in, const char *line, size_t len);
/** The child of <in> is gone: add its last counters to the base (open ones 0). */
void pn_puser_fold(pn_inst_t *in);
/** Add the totals of <in> (base + running child) for every user into <sum>,
 *  an object name -> [up, down, conns, refused, open] of integers. */
void pn_puser_sum(const pn_inst_t *in, json_t *sum);

#endif
