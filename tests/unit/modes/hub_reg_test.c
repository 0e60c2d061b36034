/* tests/unit/modes/hub_reg_test.c: the hub's in-memory route registry
 * (modes/hub_reg.h, hub_reg_mem_new) through its ops only: claims answered
 * by callback, taken ports and hosts, release, a group's round robin, routes
 * held for their account, refresh, the watch events and free. Sessions and
 * accounts are plain structs; tcp routes listen on 127.0.0.1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/ev.h"
#include "modes/hub_reg.h"
#include "net/addr.h"

#define NSESS 4
#define NEV 32

struct fix {
    ev_loop_t *loop;
    pn_config_t cfg;
    int stopping;
    hub_reg_t *g;
    struct hacct acct[2];
    struct hsess sess[NSESS];
    /* the last claim's answer */
    int answers;
    struct hmember *mb;
    uint16_t code;
    char reason[256];
    /* the events watched */
    hub_reg_event_t ev[NEV];
    struct hroute *ev_route[NEV];
    int nev;
};

static void
on_claim(struct hsess *s, const pn_frame_route_t *m, struct hmember *mb, uint16_t code,
         const char *reason, void *arg)
{
    struct fix *fx = arg;
    (void)s;
    (void)m;
    fx->answers++;
    fx->mb = mb;
    fx->code = code;
    snprintf(fx->reason, sizeof(fx->reason), "%s", reason ? reason : "");
}

static void
on_event(hub_reg_event_t ev, struct hroute *r, struct hmember *m, void *arg)
{
    struct fix *fx = arg;
    (void)m;
    if (fx->nev < NEV) {
        fx->ev[fx->nev] = ev;
        fx->ev_route[fx->nev] = r;
    }
    fx->nev++;
}

/* A port free on 127.0.0.1 this instant (tcp and udp), or 0. */
static uint16_t
free_port(void)
{
    for (int tries = 0; tries < 20; tries++) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(a);
        int t = socket(AF_INET, SOCK_STREAM, 0);
        if (t == -1 || bind(t, (struct sockaddr *)&a, sizeof(a)) == -1 ||
            getsockname(t, (struct sockaddr *)&a, &al) == -1) {
            close(t);
            continue;
        }
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        int ok = u != -1 && bind(u, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(u);
        close(t);
        if (ok)
            return ntohs(a.sin_port);
    }
    return 0;
}

static int
setup(void **state)
{
    struct fix *fx = calloc(1, sizeof(*fx));
    fx->loop = ev_loop_new();
    fx->cfg.http_listen = (char *)"127.0.0.1:0";
    fx->cfg.https_listen = (char *)"127.0.0.1:0";
    fx->cfg.domain = (char *)"hub.test";
    fx->cfg.hub_hold_ms = 60000;
    fx->cfg.handshake_ms = 1000;
    fx->cfg.udp_idle_ms = 1000;
    for (int i = 0; i < 2; i++)
        snprintf(fx->acct[i].name, sizeof(fx->acct[i].name), "acct%d", i);
    for (int i = 0; i < NSESS; i++) {
        fx->sess[i].acct = &fx->acct[i == 3 ? 1 : 0];   /* 0..2: acct0, 3: acct1 */
        fx->sess[i].t.ctrl = (tun_ctrl_t *)(uintptr_t)1;    /* "attached": never used */
        pn_list_init(&fx->sess[i].members);
    }
    hub_reg_env_t env = { .loop = fx->loop, .cfg = &fx->cfg, .stopping = &fx->stopping };
    assert_int_equal(pn_addr_parse_ip("127.0.0.1", &env.public_addr), PN_OK);
    fx->g = hub_reg_mem_new(&env);
    assert_int_equal(hub_reg_watch(fx->g, on_event, fx), PN_OK);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fix *fx = *state;
    hub_reg_free(fx->g);
    for (int i = 0; i < NSESS; i++)
        assert_true(pn_list_empty(&fx->sess[i].members));
    ev_loop_free(fx->loop);
    free(fx);
    return 0;
}

/* Claim for session <si>; returns the member or NULL (fx->code says why). */
static struct hmember *
claim(struct fix *fx, int si, uint32_t id, uint8_t type, uint16_t port, const char *host,
      const char *group, const char *key)
{
    pn_frame_route_t m;
    memset(&m, 0, sizeof(m));
    m.id = id;
    m.type = type;
    m.port = port;
    m.online = 1;
    snprintf(m.host, sizeof(m.host), "%s", host ? host : "");
    snprintf(m.group, sizeof(m.group), "%s", group ? group : "");
    snprintf(m.group_key, sizeof(m.group_key), "%s", key ? key : "");
    int before = fx->answers;
    fx->mb = NULL;
    fx->code = 0;
    hub_reg_claim(fx->g, &fx->sess[si], &m, on_claim, fx);
    assert_int_equal(fx->answers, before + 1);  /* answered once, here at once */
    return fx->mb;
}

static void
test_claim_http_and_lookup(void **state)
{
    struct fix *fx = *state;
    struct hmember *m = claim(fx, 0, 7, PN_RT_HTTP, 0, "Web", NULL, NULL);
    assert_non_null(m);
    assert_int_equal(m->id, 7);
    assert_ptr_equal(m->sess, &fx->sess[0]);
    /* a name without a dot takes the hub's domain, lower-cased */
    assert_string_equal(m->route->host, "web.hub.test");
    assert_ptr_equal(hub_reg_by_host(fx->g, PN_RT_HTTP, "web.hub.test"), m->route);
    assert_null(hub_reg_by_host(fx->g, PN_RT_HTTPS, "web.hub.test"));
    assert_ptr_equal(hub_reg_member(fx->g, &fx->sess[0], 7), m);
    assert_null(hub_reg_member(fx->g, &fx->sess[0], 8));
    assert_null(hub_reg_member(fx->g, &fx->sess[1], 7));
    assert_int_equal(fx->acct[0].nroutes, 1);
    assert_int_equal(fx->nev, 1);
    assert_int_equal(fx->ev[0], HUB_REG_ADD);
    /* the same id twice on one session */
    assert_null(claim(fx, 0, 7, PN_RT_HTTP, 0, "other", NULL, NULL));
    assert_int_equal(fx->code, PN_RF_EXISTS);
}

static void
test_taken(void **state)
{
    struct fix *fx = *state;
    assert_non_null(claim(fx, 0, 1, PN_RT_HTTP, 0, "a.example", NULL, "k1"));
    /* another account, another session of the same account: taken without the key */
    assert_null(claim(fx, 3, 1, PN_RT_HTTP, 0, "a.example", NULL, NULL));
    assert_int_equal(fx->code, PN_RF_TAKEN);
    assert_non_null(strstr(fx->reason, "a.example is taken"));
    assert_null(claim(fx, 1, 1, PN_RT_HTTP, 0, "a.example", NULL, "wrong"));
    assert_int_equal(fx->code, PN_RF_TAKEN);
    /* the same name on https is another route */
    assert_non_null(claim(fx, 3, 2, PN_RT_HTTPS, 0, "a.example", NULL, NULL));
    assert_int_equal(fx->acct[0].nroutes, 1);
    assert_int_equal(fx->acct[1].nroutes, 1);
}

static void
test_refusals(void **state)
{
    struct fix *fx = *state;
    assert_null(claim(fx, 0, 1, PN_RT_TCP, 0, NULL, NULL, NULL));
    assert_int_equal(fx->code, PN_RF_INVALID);              /* no ports= */
    assert_null(claim(fx, 0, 1, PN_RT_HTTP, 0, "bad_name!", NULL, NULL));
    assert_int_equal(fx->code, PN_RF_INVALID);
    assert_null(claim(fx, 0, 1, PN_RT_HTTP, 0, "", NULL, NULL));
    assert_int_equal(fx->code, PN_RF_INVALID);
    assert_null(claim(fx, 0, 1, 9, 0, "x.example", NULL, NULL));
    assert_int_equal(fx->code, PN_RF_INVALID);
    fx->cfg.https_listen = NULL;
    assert_null(claim(fx, 0, 1, PN_RT_HTTPS, 0, "x.example", NULL, NULL));
    assert_int_equal(fx->code, PN_RF_INVALID);
    fx->acct[0].max_routes = 1;
    assert_non_null(claim(fx, 0, 1, PN_RT_HTTP, 0, "x.example", NULL, NULL));
    assert_null(claim(fx, 1, 2, PN_RT_HTTP, 0, "y.example", NULL, NULL));
    assert_int_equal(fx->code, PN_RF_LIMIT);
    assert_int_equal(fx->acct[0].nroutes, 1);
    assert_int_equal(fx->nev, 1);                           /* refusals change nothing */
}

static void
test_release(void **state)
{
    struct fix *fx = *state;
    struct hmember *a = claim(fx, 0, 1, PN_RT_HTTP, 0, "r.example", NULL, "k");
    struct hmember *b = claim(fx, 1, 1, PN_RT_HTTP, 0, "r.example", NULL, "k");
    assert_non_null(a);
    assert_non_null(b);
    struct hroute *r = a->route;
    assert_ptr_equal(b->route, r);
    assert_int_equal(r->nmembers, 2);
    fx->nev = 0;
    hub_reg_release(fx->g, a);
    assert_int_equal(fx->nev, 1);
    assert_int_equal(fx->ev[0], HUB_REG_DEL);
    assert_ptr_equal(hub_reg_by_host(fx->g, PN_RT_HTTP, "r.example"), r);
    assert_int_equal(r->nmembers, 1);
    /* the last member withdrawn: the route goes at once, hold or not */
    hub_reg_release(fx->g, b);
    assert_int_equal(fx->nev, 3);
    assert_int_equal(fx->ev[1], HUB_REG_DEL);
    assert_int_equal(fx->ev[2], HUB_REG_GONE);
    assert_null(hub_reg_by_host(fx->g, PN_RT_HTTP, "r.example"));
    assert_int_equal(fx->acct[0].nroutes, 0);
    /* the name is free for another account now */
    assert_non_null(claim(fx, 3, 1, PN_RT_HTTP, 0, "r.example", NULL, NULL));
}

static void
test_round_robin(void **state)
{
    struct fix *fx = *state;
    struct hmember *m[3];
    for (int i = 0; i < 3; i++)
        m[i] = claim(fx, i, 5, PN_RT_HTTP, 0, "g.example", NULL, "gk");
    struct hroute *r = m[0]->route;
    assert_int_equal(r->nmembers, 3);
    /* every member once per round, in a fixed order */
    struct hmember *seen[6];
    for (int i = 0; i < 6; i++)
        seen[i] = hub_reg_pick(fx->g, r);
    for (int i = 0; i < 3; i++) {
        assert_ptr_equal(seen[i], seen[i + 3]);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(seen[i], seen[j]);
    }
    /* offline, ending and detached members are skipped */
    m[0]->online = 0;
    fx->sess[1].ending = 1;
    for (int i = 0; i < 4; i++)
        assert_ptr_equal(hub_reg_pick(fx->g, r), m[2]);
    fx->sess[2].t.ctrl = NULL;
    assert_null(hub_reg_pick(fx->g, r));
    fx->sess[2].t.ctrl = (tun_ctrl_t *)(uintptr_t)1;
    /* releasing the member served last keeps the round going */
    m[0]->online = 1;
    fx->sess[1].ending = 0;
    struct hmember *last = hub_reg_pick(fx->g, r);
    hub_reg_release(fx->g, last);
    struct hmember *p1 = hub_reg_pick(fx->g, r), *p2 = hub_reg_pick(fx->g, r);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_ptr_not_equal(p1, p2);
    assert_ptr_not_equal(p1, last);
    assert_ptr_not_equal(p2, last);
}

static void
test_hold(void **state)
{
    struct fix *fx = *state;
    assert_non_null(claim(fx, 0, 1, PN_RT_HTTP, 0, "h.example", NULL, "old"));
    struct hroute *r = fx->mb->route;
    fx->nev = 0;
    /* the agent is gone: the route is held for its account */
    hub_reg_release_sess(fx->g, &fx->sess[0], 1);
    assert_true(pn_list_empty(&fx->sess[0].members));
    assert_ptr_equal(hub_reg_by_host(fx->g, PN_RT_HTTP, "h.example"), r);
    assert_int_equal(r->nmembers, 0);
    assert_null(hub_reg_pick(fx->g, r));
    assert_int_equal(fx->nev, 1);
    /* not for another account without the key (a key holder may join) */
    assert_null(claim(fx, 3, 1, PN_RT_HTTP, 0, "h.example", NULL, "bad"));
    assert_int_equal(fx->code, PN_RF_TAKEN);
    assert_null(claim(fx, 3, 1, PN_RT_HTTP, 0, "h.example", NULL, NULL));
    assert_int_equal(fx->code, PN_RF_TAKEN);
    /* refresh before the hold is over keeps it */
    hub_reg_refresh(fx->g, pn_now_ms() + 1000);
    assert_ptr_equal(hub_reg_by_host(fx->g, PN_RT_HTTP, "h.example"), r);
    /* its account takes it back with any key, which becomes the key */
    struct hmember *m = claim(fx, 1, 9, PN_RT_HTTP, 0, "h.example", NULL, "new");
    assert_non_null(m);
    assert_ptr_equal(m->route, r);
    assert_non_null(claim(fx, 2, 9, PN_RT_HTTP, 0, "h.example", NULL, "new"));
    assert_null(claim(fx, 3, 2, PN_RT_HTTP, 0, "h.example", NULL, "old"));
    assert_int_equal(fx->code, PN_RF_TAKEN);
    /* held again; refresh past the hold frees it */
    hub_reg_release_sess(fx->g, &fx->sess[1], 1);
    hub_reg_release_sess(fx->g, &fx->sess[2], 1);
    int before = fx->nev;
    hub_reg_refresh(fx->g, pn_now_ms() + fx->cfg.hub_hold_ms + 1);
    assert_int_equal(fx->nev, before + 1);
    assert_int_equal(fx->ev[before], HUB_REG_GONE);
    assert_null(hub_reg_by_host(fx->g, PN_RT_HTTP, "h.example"));
    /* a hub with no hold, or stopping, holds nothing */
    assert_non_null(claim(fx, 0, 1, PN_RT_HTTP, 0, "s.example", NULL, NULL));
    fx->stopping = 1;
    hub_reg_release_sess(fx->g, &fx->sess[0], 1);
    assert_null(hub_reg_by_host(fx->g, PN_RT_HTTP, "s.example"));
}

static int
count_route(struct hroute *r, void *arg)
{
    (void)r;
    ++*(int *)arg;
    return 0;
}

static int
stop_at_one(struct hroute *r, void *arg)
{
    (void)r;
    ++*(int *)arg;
    return 1;
}

static void
test_tcp_ports_and_groups(void **state)
{
    struct fix *fx = *state;
    uint16_t p = free_port();
    if (p == 0)
        skip();
    fx->cfg.ports_lo = fx->cfg.ports_hi = p;
    /* asked outside the range */
    assert_null(claim(fx, 0, 1, PN_RT_TCP, (uint16_t)(p == 65535 ? p - 1 : p + 1), NULL, NULL, NULL));
    assert_int_equal(fx->code, PN_RF_DENIED);
    /* assigned: the one port of the range, listening */
    struct hmember *m = claim(fx, 0, 1, PN_RT_TCP, 0, NULL, "grp", "gk");
    assert_non_null(m);
    assert_int_equal(m->route->port, p);
    assert_non_null(m->route->entry);
    assert_ptr_equal(hub_reg_by_port(fx->g, PN_RT_TCP, p), m->route);
    assert_ptr_equal(hub_reg_by_group(fx->g, PN_RT_TCP, "grp"), m->route);
    assert_null(hub_reg_by_group(fx->g, PN_RT_UDP, "grp"));
    assert_null(hub_reg_by_port(fx->g, PN_RT_UDP, p));
    /* no port left; the group with a wrong key; with the key it joins */
    assert_null(claim(fx, 3, 1, PN_RT_TCP, 0, NULL, NULL, NULL));
    assert_int_equal(fx->code, PN_RF_TAKEN);
    assert_null(claim(fx, 3, 1, PN_RT_TCP, 0, NULL, "grp", "bad"));
    assert_int_equal(fx->code, PN_RF_TAKEN);
    struct hmember *j = claim(fx, 3, 1, PN_RT_TCP, 0, NULL, "grp", "gk");
    assert_non_null(j);
    assert_ptr_equal(j->route, m->route);
    /* the port asked by number: taken without the key */
    assert_null(claim(fx, 1, 1, PN_RT_TCP, p, NULL, NULL, NULL));
    assert_int_equal(fx->code, PN_RF_TAKEN);
    /* udp has its own ports */
    struct hmember *u = claim(fx, 1, 2, PN_RT_UDP, p, NULL, NULL, NULL);
    assert_non_null(u);
    assert_non_null(u->route->utable);
    /* each walks every route; nonzero stops it */
    int n = 0;
    hub_reg_each(fx->g, count_route, &n);
    assert_int_equal(n, 2);
}

static void
test_each_and_watch_limit(void **state)
{
    struct fix *fx = *state;
    int n = 0;
    hub_reg_each(fx->g, count_route, &n);
    assert_int_equal(n, 0);
    assert_non_null(claim(fx, 0, 1, PN_RT_HTTP, 0, "e1.example", NULL, NULL));
    assert_non_null(claim(fx, 0, 2, PN_RT_HTTP, 0, "e2.example", NULL, NULL));
    hub_reg_each(fx->g, count_route, &n);
    assert_int_equal(n, 2);
    n = 0;
    hub_reg_each(fx->g, stop_at_one, &n);
    assert_int_equal(n, 1);
    /* one watcher is set up; three more fit, then no more */
    for (int i = 0; i < 3; i++)
        assert_int_equal(hub_reg_watch(fx->g, on_event, fx), PN_OK);
    assert_int_equal(hub_reg_watch(fx->g, on_event, fx), PN_ERR);
    fx->nev = 0;
    assert_non_null(claim(fx, 1, 1, PN_RT_HTTP, 0, "e3.example", NULL, NULL));
    assert_int_equal(fx->nev, 4);
}

/* Freeing the registry with members and held routes leaves every session's
 * list empty and tells every route's end (ASan: nothing leaks). */
static void
test_free_with_routes(void **state)
{
    struct fix *fx = *state;
    assert_non_null(claim(fx, 0, 1, PN_RT_HTTP, 0, "f1.example", NULL, NULL));
    assert_non_null(claim(fx, 1, 1, PN_RT_HTTP, 0, "f2.example", NULL, NULL));
    hub_reg_release_sess(fx->g, &fx->sess[1], 1);
    fx->nev = 0;
    hub_reg_free(fx->g);
    fx->g = NULL;
    int gone = 0;
    for (int i = 0; i < fx->nev && i < NEV; i++)
        gone += fx->ev[i] == HUB_REG_GONE;
    assert_int_equal(gone, 2);
    assert_int_equal(fx->acct[0].nroutes, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claim_http_and_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_robin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_ports_and_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_and_watch_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_with_routes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
