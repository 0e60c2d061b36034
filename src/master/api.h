/* master/api.h: the REST API of docs/master.md: routing, the key check, and
 * each endpoint over the supervisor, the store, the event hub and the host
 * info. Requests come from master/http.h; bodies are checked by
 * master/body.h; every error is {"error": "<field>: <reason>", "field"}. */
#ifndef PN_MASTER_API_H
#define PN_MASTER_API_H

#include "core/ev.h"
#include "core/list.h"
#include "master/body.h"
#include "master/events.h"
#include "master/history.h"
#include "master/http.h"
#include "master/info.h"
#include "master/mconfig.h"
#include "master/store.h"
#include "master/super.h"
#include "net/dns.h"
#include "tls/digest.h"

#include <stdint.h>

#define PN_API_BODY_MAX (64 * 1024)
#define PN_API_KEY_BYTES 32

typedef struct pn_api {
    ev_loop_t *loop;            /* borrowed, like every pointer below */
    const pn_mconfig_t *cfg;
    pn_store_t *store;
    pn_super_t *super;
    pn_events_t *events;
    pn_info_t *info;
    pn_dns_t *dns;              /* for tcping; may be NULL (literals only) */
    pn_history_t *history;      /* the chart's history; NULL until the instances are loaded */
    uint64_t start_ms;          /* when the master started (monotonic) */
    uint8_t key_hash[PN_SHA256_LEN];    /* SHA-256 of the API key */
    char *name;                 /* owned: the master's display name */
    pn_list_t pings;            /* tcping probes in flight, owned */
    int stopping;               /* shutdown begun: new requests get 503 */
    /* Serves POST <prefix>/v1/mcp after the key and size checks (master.c sets
     * master/mcp_tools.h's pn_mcp_serve; NULL: 404). */
    void (*mcp)(struct pn_api *a, pn_mhttp_req_t *r);
    /* Serves the node and manager paths (<rest> after <prefix>/v1) once the key
     * is checked: 1 when it answered, 0 to go on (master.c sets master/fleet.h's
     * pn_fleet_route; NULL: none). */
    int (*fleet)(struct pn_api *a, pn_mhttp_req_t *r, const char *rest);
    void *fleet_ctx;            /* borrowed: its state */
} pn_api_t;

/** Prepare <a>: load the key hash and the name from the store, making a key
 *  when there is none; *<new_key> then gets it as 64 hex characters (a new
 *  string the caller prints once and frees), else NULL. PN_OK or PN_ERR. */
int pn_api_init(pn_api_t *a, char **new_key);
/** The pn_mhttp_handler_cb of the master: <ctx> is the pn_api_t. */
void pn_api_handle(pn_mhttp_req_t *r, void *ctx);
/** Answer every request still waiting (tcping) with 503 and refuse new ones. */
void pn_api_stop(pn_api_t *a);
/** Free what <a> owns. */
void pn_api_clear(pn_api_t *a);

/** Answer <r> with <status> and the JSON <o> (the reference is taken). */
void pn_api_reply_json(pn_mhttp_req_t *r, int status, json_t *o);
/** Answer <r> with {"error": <msg>, "field": <field>} (no field when NULL or ""). */
void pn_api_reply_error(pn_mhttp_req_t *r, int status, const char *field, const char *msg);

/** Apply the checked PATCH body <b> to <in> (stored), then run its action. */
void pn_api_patch(pn_inst_t *in, const pn_body_t *b);
/** Return the Info object of docs/master.md (a new reference). */
json_t *pn_api_info_json(pn_api_t *a);
/** Return the Prometheus page as a new string; its length in *<len>. */
char *pn_api_metrics_text(pn_api_t *a, size_t *len);

/** Make a new random key as 64 hex characters into <hex> and its SHA-256
 *  into <hash>; PN_OK or PN_ERR. */
int pn_api_key_new(char hex[2 * PN_API_KEY_BYTES + 1], uint8_t hash[PN_SHA256_LEN]);
/** Nonzero when <presented> (may be NULL) hashes to <hash>, compared in
 *  constant time. */
int pn_api_key_ok(const uint8_t hash[PN_SHA256_LEN], const char *presented);

#endif
