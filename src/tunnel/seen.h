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

#endif
