/* relay/entry.h: the entry side of a mode: a TCP listener that accepts users'
 * connections and, when a TLS context is given, completes the TLS handshake
 * (bounded in time) before handing each connection over as a transport. */
#ifndef PN_RELAY_ENTRY_H
#define PN_RELAY_ENTRY_H

#include "core/ev.h"
#include "net/addr.h"
#include "net/gate.h"
#include "core/xprt.h"
#include "tls/tls.h"

typedef struct pn_entry pn_entry_t;

/** Called for each ready connection: <x> is owned by the callee; <peer> (the
 *  user) and <local> (the address the user reached) are borrowed for the call. */
typedef void (*pn_entry_cb)(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local,
                            void *ctx);

/** Accept on the listening <lfd> (owned from now on). With <tls> (borrowed; must
 *  outlive the entry) terminate TLS, giving each handshake <handshake_ms>
 *  from accept (a deadline, not an idle timer). accept() failures back off
 *  (net/gate.h).
 *  Never NULL. */
pn_entry_t *pn_entry_new(ev_loop_t *loop, int lfd, pn_tls_ctx_t *tls, uint64_t handshake_ms,
                         pn_entry_cb cb, void *ctx);
/** The entry's admission gate (net/gate.h; its deadline is <handshake_ms>):
 *  TLS handshakes are counted in it, and a consumer that reads a head of its
 *  own (HTTP, ClientHello, tunnel greeting) counts that head in it too. */
pn_gate_t *pn_entry_gate(pn_entry_t *e);
/** Close the listener and every handshake in progress; free <e>. NULL is a no-op. */
void pn_entry_free_(pn_entry_t *e);
#define pn_entry_free(p) do { pn_entry_free_(p); (p) = NULL; } while (0)

#endif
