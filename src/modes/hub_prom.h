/* modes/hub_prom.h: the hub's own series on its metrics= page (modes/imetrics.h),
 * named as the master's for a hub instance (docs/metrics.md) without the
 * id and alias labels: postern_hub_clients, postern_hub_routes{type},
 * postern_hub_account_{rx,tx}_bytes_total, _connections, _requests_total and
 * _refused_total{reason}; and the histogram postern_hub_http_response_seconds
 * (HTTP requests, routed to response head). */
#ifndef PN_MODES_HUB_PROM_H
#define PN_MODES_HUB_PROM_H

#include "core/prom.h"
#include "modes/hub_types.h"

/** Write the series of the hub <ctx> (struct hub *) into <b>: the instance's
 *  <metrics> hook. */
void hub_prom_write(pn_instance_t *in, void *ctx, pn_prom_t *b);

#endif
