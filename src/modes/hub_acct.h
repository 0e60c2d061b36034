/* modes/hub_acct.h: the hub's accounts (struct hacct, modes/hub_types.h), from the
 * accounts file (conf/hubconf.h). An account removed by a reload is kept,
 * emptied, until the hub stops, so pointers to it stay good. */
#ifndef PN_MODES_HUB_ACCT_H
#define PN_MODES_HUB_ACCT_H

#include "modes/hub_types.h"

/** End the sessions of <a> telling their agents <why> (the account changed). */
typedef void (*hub_acct_kick_cb)(struct hub *h, struct hacct *a, const char *why);

/** Make (or update) h->accts from the file just read into h->accounts: new
 *  accounts appear, changed limits apply (buckets restart when a rate
 *  changed), an account whose token changed or that is gone has its
 *  sessions ended through <kick>. */
void hub_accts_sync(struct hub *h, hub_acct_kick_cb kick);
/** The TLS layer's lookup of a PSK <identity> (inside a handshake): its key
 *  into <psk>; 0, or -1 when no account has it. <arg> is the hub. */
int hub_psk_lookup(const char *identity, uint8_t *psk, void *arg);
/** The live account whose PSK identity is <ident> (may be NULL), or NULL. */
struct hacct *hub_acct_by_ident(struct hub *h, const char *ident);
/** Nonzero when <a> may open one more connection; else count it and return 0. */
int hub_acct_admit(struct hacct *a);
/** Free the allowed ports and hosts of <a>. */
void hub_acct_limits_clear(struct hacct *a);
/** Free every account (the hub stops). */
void hub_accts_free(struct hub *h);

#endif
