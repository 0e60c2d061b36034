/* modes/hub_prom.c: modes/hub_prom.h. */
#include "modes/hub_prom.h"
#include "modes/hub_reg.h"

#include <inttypes.h>
#include <string.h>

#define NTYPES 4

static int
count_route(struct hroute *r, void *arg)
{
    uint64_t *by_type = arg;
    if (r->type >= PN_RT_TCP && r->type <= PN_RT_HTTPS)
        by_type[r->type - PN_RT_TCP]++;
    return 0;
}

/* <name>{account="<a>"[,reason="<why>"]} <v> */
static void
acct_sample(pn_prom_t *b, const char *name, const char *account, const char *reason, uint64_t v)
{
    pn_prom_printf(b, "%s{account=\"", name);
    pn_prom_label(b, account);
    if (reason != NULL)
        pn_prom_printf(b, "\",reason=\"%s", reason);
    pn_prom_printf(b, "\"} %" PRIu64 "\n", v);
}

/* The per-account value of family <k> (rx, tx, connections, requests). */
static uint64_t
acct_value(const struct hacct *c, size_t k)
{
    switch (k) {
    case 0:
        return c->st.tcp_rx + c->st.udp_rx;
    case 1:
        return c->st.tcp_tx + c->st.udp_tx;
    case 2:
        return c->st.tcps + c->st.udps + c->http_live;
    default:
        return c->requests;
    }
}

void
hub_prom_write(pn_instance_t *in, void *ctx, pn_prom_t *b)
{
    struct hub *h = ctx;
    uint64_t clients = 0, by_type[NTYPES] = { 0 };
    for (pn_list_t *p = h->sessions.next; p != &h->sessions; p = p->next)
        clients++;
    hub_reg_each(h->reg, count_route, by_type);
    pn_prom_family(b, "postern_hub_clients", "gauge", "Agents connected to the hub.");
    pn_prom_sample(b, "postern_hub_clients", NULL, clients);
    pn_prom_family(b, "postern_hub_routes", "gauge", "Routes registered on the hub, by type.");
    for (int t = 0; t < NTYPES; t++) {
        pn_prom_printf(b, "postern_hub_routes{type=\"%s\"} %" PRIu64 "\n",
                       pn_conf_route_type_name((enum pn_conf_route_type)(t + PN_RT_TCP)), by_type[t]);
    }
    static const struct { const char *name, *type, *help; } fam[] = {
        { "postern_hub_account_rx_bytes_total", "counter", "Bytes from users, per account." },
        { "postern_hub_account_tx_bytes_total", "counter", "Bytes to users, per account." },
        { "postern_hub_account_connections", "gauge", "User connections now, per account." },
        { "postern_hub_account_requests_total", "counter", "HTTP requests, per account." },
        { "postern_hub_account_refused_total", "counter", "Users refused, per account and reason." },
    };
    for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
        pn_prom_family(b, fam[k].name, fam[k].type, fam[k].help);
        for (pn_list_t *p = h->accts.next; p != &h->accts; p = p->next) {
            struct hacct *c = pn_container_of(p, struct hacct, node);
            if (c->gone && c->nsess == 0)
                continue;
            if (k + 1 < sizeof(fam) / sizeof(fam[0])) {
                acct_sample(b, fam[k].name, c->name, NULL, acct_value(c, k));
                continue;
            }
            acct_sample(b, fam[k].name, c->name, "rate", c->refused_rate);
            acct_sample(b, fam[k].name, c->name, "conns", c->refused_conns);
            acct_sample(b, fam[k].name, c->name, "routes", c->refused_routes);
        }
    }
    pn_prom_family(b, "postern_hub_http_response_seconds", "histogram",
                   "HTTP requests: from routing to the agent's response head.");
    pn_prom_hist_write(b, "postern_hub_http_response_seconds", NULL, &h->http_hist);
    (void)in;
}
