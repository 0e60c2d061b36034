/* modes/client_hooks.h: the tunnel client's handle and the hooks through which
 * the hub's agent (modes/agent.c) drives it (modes/client.h). */
#ifndef PN_MODES_CLIENT_HOOKS_H
#define PN_MODES_CLIENT_HOOKS_H

#include "net/addr.h"
#include "core/xprt.h"
#include "tunnel/ctrl.h"
#include "tunnel/frame.h"

typedef struct client pn_client_t;

typedef struct pn_client_hooks {
    void *ctx;                  /* borrowed, passed to each hook */
    /** Set-up once the loop exists, before the first connection. */
    void (*start)(pn_client_t *cl, void *ctx);
    /** A session is up (HELLO, and VERIFY for tls=1, received). */
    void (*ready)(pn_client_t *cl, tun_ctrl_t *ctrl, void *ctx);
    /** The session ended (its exchanges are closed); a reconnection follows. */
    void (*ended)(pn_client_t *cl, void *ctx);
    /** A frame the client does not handle itself; return PN_ERR for a
     *  protocol error (the session then ends). */
    int (*frame)(pn_client_t *cl, const pn_frame_t *f, void *ctx);
    /** The far end of an exchange of <type> for <route>, on <data> (owned). */
    void (*exit)(pn_client_t *cl, uint32_t route, uint8_t type, pn_xprt_t *data,
                 const pn_addr_t *src, const pn_addr_t *dst, void *ctx);
    /** Stopping: close what the hooks own (before the loop goes away). */
    void (*stop)(pn_client_t *cl, void *ctx);
} pn_client_hooks_t;

#endif
