/* run.c: the dispatcher: the only place that names every mode, so modes/
 * holds modes and none of them calls another. */
#include "run.h"
#include "core/log.h"
#include "modes/modes.h"
#include "net/addr.h"
#include "net/sock.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

/* Whether <a> can be bound for TCP here; *<in_use> says it is taken. Linux
 * lets the dual-stack wildcard [::] bind a port that an IPv4 listener holds
 * on one address (127.0.0.1:8080), so the IPv4 wildcard is tried as well. */
static int
bind_probe(const pn_addr_t *a, int *in_use)
{
    int fd = pn_listen_tcp(a, 1, in_use, NULL);
    if (fd == -1)
        return 0;
    pn_close(fd);
    if (a->ss.ss_family != AF_INET6 || !pn_addr_is_any(a))
        return 1;
    pn_addr_t v4;
    if (pn_addr_parse_ip("0.0.0.0", &v4) != PN_OK)
        return 1;
    pn_addr_set_port(&v4, pn_addr_port(a));
    int in_use4 = 0;
    fd = pn_listen_tcp(&v4, 1, &in_use4, NULL);
    if (fd != -1) {
        pn_close(fd);
        return 1;
    }
    *in_use = in_use4;
    return !in_use4;
}

/* SIGINT/SIGTERM outside the event loop's watch: before it is set up, and
 * after a mode freed its signal events (libevent then puts back the handler
 * it found). A supervisor sends SIGTERM to the process and to its group, so a
 * second one may come while the first is being handled: without this it would
 * kill the process that is already stopping cleanly ("killed by signal 15"). */
static void
on_term_outside_loop(int sig)
{
    (void)sig;
    _exit(PN_EXIT_OK);
}

int
pn_run(const pn_config_t *cfg)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_term_outside_loop);
    signal(SIGTERM, on_term_outside_loop);
    /* A reload asked for before the mode watches SIGHUP (its listeners may
     * already accept) must not end the process: ignored until then. */
    signal(SIGHUP, SIG_IGN);
    log_set_level(cfg->log);
    pn_sock_nofile_raise();
    if (cfg->role == PN_ROLE_SERVER)
        return pn_server_run(cfg);
    if (cfg->role == PN_ROLE_HUB)
        return pn_hub_run(cfg);
    if (cfg->role == PN_ROLE_AGENT)
        return pn_agent_run(cfg);
    if (cfg->role == PN_ROLE_PROXY)
        return pn_proxy_run(cfg);
    if (cfg->mode == 1)
        return pn_single_run(cfg);
    if (cfg->mode == 2)
        return pn_client_run(cfg);
    /* mode=0: single-end when the first address can be bound here; a tunnel
     * client when it is not an address of this machine. An address of this
     * machine that is taken is an error, not a tunnel client dialing whatever
     * holds the port (a web server would see TLS handshakes for ever). */
    pn_addr_t a;
    char err[PN_ERR_LEN], s[PN_ADDRSTRLEN];
    int in_use = 0;
    if (pn_addr_resolve(cfg->host, cfg->port, 1, &a, err) == PN_OK) {
        if (bind_probe(&a, &in_use))
            return pn_single_run(cfg);
        if (in_use) {
            fprintf(stderr, "postern: listen %s: address in use (mode=2 makes this a tunnel client)\n",
                    pn_addr_str(&a, s));
            return PN_EXIT_RUNTIME;
        }
    }
    return pn_client_run(cfg);
}
