/* master/view.h: an instance as the API shows it (JSON), and RFC 3339 times. */
#ifndef PN_MASTER_VIEW_H
#define PN_MASTER_VIEW_H

#include "master/super.h"

#include <jansson.h>
#include <stdint.h>

#define PN_TIME_LEN 21              /* "2026-11-21T10:00:00Z" and a NUL */

/** Return a new JSON object of <in>'s health: {"state", "reason", "since"}
 *  (docs/master.md "States"). */
json_t *pn_inst_health_json(const pn_inst_t *in);
/** Return a new JSON object of <in> in the shape of docs/master.md. */
json_t *pn_inst_json(const pn_inst_t *in);
/** Format the Unix time <t> as "YYYY-MM-DDTHH:MM:SSZ" into <out>; return <out>. */
const char *pn_time_rfc3339(int64_t t, char out[PN_TIME_LEN]);

#endif
