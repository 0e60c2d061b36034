/* tunnel/seen.h: the data connection ids a session has accepted, so a
 * DATA_HELLO recorded on a tls=0 data channel cannot be replayed to register
 * the same id again. The last 8 bytes of an id are random (a hub's ids start
 * with their session's tag), so they identify it. */
#ifndef PN_TUNNEL_SEEN_H
#define PN_TUNNEL_SEEN_H

#include "tunnel/frame.h"

#include <stddef.h>
#include <stdint.h>

#define TUN_SEEN_MAX (1u << 20)     /* ids per session before it must rotate */

typedef struct tun_seen {
    uint64_t *slots;            /* owned; open addressing, 0 = empty */
    size_t cap;                 /* power of two */
    size_t n;
} tun_seen_t;

/** Record <id>: PN_OK when new, PN_ERR when already seen, PN_AGAIN when the
 *  set holds TUN_SEEN_MAX ids (the session should rotate its secret). */
int tun_seen_add(tun_seen_t *s, const uint8_t id[PN_CONN_ID_LEN]);
/** Forget every id and free the table. */
void tun_seen_clear(tun_seen_t *s);

/* The replay window of a session whose data proofs name their epoch (HELLO
 * EPOCH, docs/protocol.md 6.2): a proof is good in the server's epoch and
 * the ones either side of it only, so the ids of those three epochs are all
 * that must be remembered; an epoch's set is emptied when its slot is taken
 * by an epoch three later, and holds at most TUN_SEEN_EPOCH_MAX ids. */
#define TUN_SEEN_GENS 3
#define TUN_SEEN_EPOCH_MAX (1u << 18)   /* ids per epoch; more are refused */

typedef struct tun_seen_win {
    tun_seen_t gen[TUN_SEEN_GENS];      /* epoch e's ids in gen[e % TUN_SEEN_GENS] */
    uint64_t epoch[TUN_SEEN_GENS];      /* the epoch each holds, plus 1 (0: none) */
} tun_seen_win_t;

/** Record <id> proved in <epoch>: PN_OK when new, PN_ERR when seen in that
 *  epoch already, PN_AGAIN when that epoch holds TUN_SEEN_EPOCH_MAX ids. The
 *  caller admits only the epochs next to its own (the others' sets are gone). */
int tun_seen_win_add(tun_seen_win_t *w, uint32_t epoch, const uint8_t id[PN_CONN_ID_LEN]);
/** The ids held, in all epochs. */
size_t tun_seen_win_count(const tun_seen_win_t *w);
/** Forget every epoch and free the tables. */
void tun_seen_win_clear(tun_seen_win_t *w);

#endif
