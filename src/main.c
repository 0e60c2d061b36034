/* main.c: postern's command line: --help, --version, or one URL to run. */
#include "core/err.h"
#include "core/log.h"
#include "master/master.h"
#include "master/zygote.h"
#include "conf/config.h"
#include "tls/quic.h"
#include "run.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char usage[] =
"postern " POSTERN_VERSION ": a tunnel and reverse proxy for TCP and UDP, through NAT and firewalls\n"
"\n"
"Usage:\n"
"  postern client://<listen_host>:<port>/<target>:<port>[,<target>:<port>...][?params]\n"
"      single-end forwarder: every TCP connection (and UDP session) to the listen address\n"
"      goes to a target\n"
"  postern server://[<key>@]<tunnel_host>:<port>/<target>[,<target>...][?params]\n"
"      tunnel server: clients connect to the tunnel address\n"
"  postern client://[<key>@]<server_host>:<port>/<target>[?params]\n"
"      tunnel client (when the first address is not one of this machine, or\n"
"      mode=2; with mode=0 a taken local address exits 1: address in use)\n"
"  postern hub://[<host>]:<port>?accounts=<file>[&http=<addr>][&https=<addr>][&ports=<lo>-<hi>]\n"
"      hub: many agents attach with their account's token and publish routes:\n"
"      ports (tcp, udp), HTTP hosts (routed by Host on http=), TLS names (routed\n"
"      by SNI on https=, not decrypted; with certs=<dir> https= also serves the\n"
"      HTTP hosts, TLS ending at the hub). Also domain=<name>, public=<ip>,\n"
"      timeout=30s (504 after it), tls=, crt=, key=, max=, log=, read=, slot=,\n"
"      type=, path=.\n"
"      cluster=redis://[<user>:<pass>@]<host>:<port>[/<db>]: share routes with the\n"
"      other hubs on that Redis (or cluster=redis-sentinel://<host>:<port>[,...]/\n"
"      <master>[/<db>]: the master those Sentinels name, followed on failover);\n"
"      id=<id>, cluster_auth=<file> (or\n"
"      POSTERN_CLUSTER_PASSWORD); peer=<ip>:<port> takes the other hubs' users,\n"
"      keyed by cluster_secret=<file> (or POSTERN_CLUSTER_SECRET). See docs/hub.md section 7\n"
"      SIGHUP re-reads the accounts file. See docs/hub.md\n"
"  postern agent://<token>@<hub_host>:<port>?<type>=<local>[,<opt>=<v>...][&...][&config=<file>]\n"
"      hub agent: publishes each route (type tcp, udp, http, https) of a local\n"
"      service; options port=, host=, group=, group_key=, probe=tcp|http:<path>,\n"
"      probe_interval=5s, name=; http: path=, host_header=, auth=, allow=,\n"
"      redirect=https, proto=h2c. SIGHUP re-reads config= (unchanged routes stay)\n"
"      hubs=<host>:<port>,...: other hubs of a cluster, tried in turn when the\n"
"      session ends (the routes are claimed again there)\n"
"  postern proxy://[<host>]:<port>?users=<file>[&allow=<cidr>,...][&ss=[<host>]:<port>]\n"
"      proxy entrance: SOCKS5 (user/password; CONNECT, UDP ASSOCIATE) and HTTP\n"
"      proxying (CONNECT, absolute URIs, Basic) on one port; per-user rate, quota,\n"
"      max_conns; internal destinations only inside allow=. Also log=, read=,\n"
"      slot=. ss= adds a Shadowsocks AEAD port, TCP and UDP (method=chacha20-\n"
"      ietf-poly1305, aes-256-gcm or aes-128-gcm), whose users are told apart\n"
"      by their key.\n"
"      SIGHUP re-reads the users file. via=[rev:][<key>@]<host>:<port>[?min=<n>\n"
"      |?max=<n>],... sends every connection through a tunnel to a node (a server\n"
"      with mode=2&egress=1 we dial, its pool min=; rev: a port a client with\n"
"      mode=2&egress=1 dials, its pool max=), picked by lbs= among those whose\n"
"      tunnel is up; a node's refusal comes back as SOCKS5/HTTP errors. See\n"
"      docs/proxy.md\n"
"  postern master://<host>:<port>[/<prefix>][?log=&tls=&crt=&key=&db=<file>]\n"
"      control plane: REST API under <prefix>/v1 (default /api), live events,\n"
"      Prometheus metrics and a web dashboard at /; runs the instances it is\n"
"      given as child processes, keeping them and their counters in SQLite\n"
"      (default $XDG_STATE_HOME/postern/master.db); the API key is printed once,\n"
"      on the first start. See docs/master.md\n"
"  postern --url-from-env [<label>]\n"
"      run the URL in $POSTERN_URL: the key stays out of the command line that\n"
"      other local users can read (the master starts its instances this way)\n"
"  postern --url-from-file <file>\n"
"      run the URL on the first line of <file> (systemd's postern@<name>.service\n"
"      reads /etc/postern/<name>.url): the key stays out of the command line\n"
"  postern --help | --version\n"
"\n"
"An empty host (\":8080\") means every interface when listening, loopback when dialing;\n"
"IPv6 hosts go in brackets: [::1]:8080.\n"
"\n"
"Parameters (default first):\n"
"  mode=0|1|2     client: 0 auto (single-end when the first address can be bound),\n"
"                 1 single-end, 2 tunnel client. server: 0 auto (reverse when the\n"
"                 target can be bound), 1 reverse, 2 forward\n"
"  tls=0|1|2      0 none; 1 in-memory self-signed ECDSA P-256 certificate (TLS 1.3);\n"
"                 2 certificate files crt= and key=, re-read when they change\n"
"  crt=<file>     PEM certificate chain (tls=2)\n"
"  key=<file>     PEM private key (tls=2)\n"
"  ca=<file>      tunnel client: CA file to verify a tls=2 server (system store if unset)\n"
"  sni=<name>     tunnel client: server name to send and verify (tls=2)\n"
"  type=0|1|2|3   server, hub: how clients reach the tunnel port, told to them in\n"
"                 the handshake: 0 a pool of TCP connections, 2 WebSocket (every\n"
"                 connection an HTTP/1.1 upgrade on path=; wss with tls=1|2),\n"
"                 3 HTTP/2 (every connection one POST stream on path=; h2c, or\n"
"                 TLS with ALPN h2 with tls=1|2), 1 QUIC (data streams in one QUIC\n"
"                 connection over UDP on the tunnel port's number; control stays TCP).\n"
"                 A client or agent takes type=2|3 only to cross an HTTP proxy\n"
"  path=/         type=2|3: the WebSocket or HTTP/2 path (server, hub; client, agent)\n"
"  host=<value>   type=2|3 client, agent: Host (:authority) value (a CDN's name); the\n"
"                 address if unset\n"
"  lbs=0|1|2      target choice: 0 round robin with failover, 1 lowest latency\n"
"                 (probed every report interval), 2 primary/backup with fallback\n"
"  dial=auto|<ip> source address for connections to targets\n"
"  read=0|<dur>   idle timeout per connection (e.g. 30s, 5m); 0 = none\n"
"  log=info|debug|warn|error|event|none\n"
"  min=64         tunnel client: idle pooled data connections to keep\n"
"                 (an agent on a type=3 hub: 8)\n"
"  max=1024       tunnel server: ceiling of the client's pool\n"
"  notcp=0|1      1: carry no TCP\n"
"  noudp=0|1      1: carry no UDP (each listen address serves TCP and UDP by default)\n"
"  rate=0|<Mbps>  bandwidth of the instance, both directions, TCP and UDP; 0 = unlimited\n"
"  slot=65536     TCP connections + UDP sessions at once; 0 = unlimited\n"
"  block=<1|2|3>  refuse SOCKS (1), HTTP (2), TLS (3) from users, e.g. block=13\n"
"  proxy=0|1|2    send a PROXY protocol v1/v2 header to targets with the user's address\n"
"  egress=0|1     tunnel end that dials: 1 dials the destination a signal names (a\n"
"                 proxy entrance's); internal ones only inside allow=<cidr>,...\n"
"  dns=5m         re-resolve target names this often, without blocking\n"
"  metrics=<addr> every mode but master: serve Prometheus GET /metrics on\n"
"                 [<host>]:<port> (e.g. 127.0.0.1:9100; any address is served,\n"
"                 a non-loopback one with a warning). See docs/metrics.md\n"
"\n"
"Environment (durations): POSTERN_REPORT_INTERVAL=5s (CHECK_POINT, pings, probes),\n"
"POSTERN_FALLBACK_INTERVAL=5m (lbs=2), POSTERN_DIAL_TIMEOUT=5s,\n"
"POSTERN_HANDSHAKE_TIMEOUT=10s, POSTERN_POOL_WAIT=5s, POSTERN_BACKOFF_MAX=30s,\n"
"POSTERN_UDP_IDLE=30s (a UDP session ends after this long without a datagram),\n"
"POSTERN_SEND_TIMEOUT=30s (a hub HTTP user that reads nothing for this long is reset),\n"
"POSTERN_LIVE_PER_SRC=<n> (connections open at once from one address on a plain TCP\n"
"port; default a quarter of ulimit -n, at least 64; 0: no cap),\n"
"POSTERN_HUB_HOLD=30s (a hub keeps a route whose agents are gone for their account),\n"
"POSTERN_CLUSTER_TTL=3s (a clustered hub's heartbeat; its claims die with it),\n"
"POSTERN_DNS_SERVER=<ip>[:<port>] (ask this DNS server instead of the system's),\n"
"POSTERN_NO_SPLICE=1 (relay plain TCP through a buffer instead of splice()),\n"
"POSTERN_NO_MMSG=1 (one UDP datagram per system call, not recvmmsg/sendmmsg),\n"
"POSTERN_NO_GSO=1 (no UDP_SEGMENT on UDP sends, no UDP_GRO on receives),\n"
"POSTERN_NO_KTLS=1 (seal TLS records in user space even where the kernel offers kTLS),\n"
"POSTERN_QUIC_RETRY=1 (type=1: a Retry validates every new client's address, not only\n"
"under an Initial flood),\n"
"POSTERN_QUIC_NO_RESUME=1 (type=1 client: no session ticket nor NEW_TOKEN kept between\n"
"QUIC connections), POSTERN_QUIC_CC=bbr|cubic|bbr2|reno (type=1: congestion control),\n"
"POSTERN_QUIC_RESET_KEY=<file> (a type=1 hub's stateless reset key, made at its first\n"
"start; default $XDG_STATE_HOME/postern/quic-reset.key),\n"
"POSTERN_REUSEPORT=1 (several processes with the same URL share a TCP listen port),\n"
"POSTERN_SHUTDOWN_TIMEOUT=5s (alias NP_SHUTDOWN_TIMEOUT: on SIGTERM open connections\n"
"may finish this long),\n"
"POSTERN_LOG_FORMAT=json (one JSON object a line: time, level, mode, instance, msg,\n"
"fields), POSTERN_POOL_MIN_INTERVAL=100ms and POSTERN_POOL_MAX_INTERVAL=1s (a tunnel\n"
"client's pool refills while short, and when full), POSTERN_RELOAD_INTERVAL=1s (tls=2\n"
"files checked for a change), POSTERN_TCP_DATA_BUF_SIZE=65536 (bytes: splice pipes,\n"
"relay reads), POSTERN_SERVICE_COOLDOWN=1s (master: first restart delay),\n"
"POSTERN_ZYGOTE=1 (master: 0 exec's each instance instead of forking it from a zygote).\n"
"A master managing nodes: POSTERN_NODE_SYNC=10s (nodes behind pushed again),\n"
"POSTERN_NODE_PULL=5s (counters pulled), POSTERN_NODE_DOWN=60s (unavailable without a\n"
"good pull), POSTERN_NODE_DEADLINE=5s (each push and pull).\n"
"NodePass's names are aliases (ours win): NP_REPORT_INTERVAL, NP_FALLBACK_INTERVAL,\n"
"NP_TCP_DIAL_TIMEOUT, NP_HANDSHAKE_TIMEOUT, NP_POOL_GET_TIMEOUT, NP_UDP_READ_TIMEOUT,\n"
"NP_SHUTDOWN_TIMEOUT, NP_MIN_POOL_INTERVAL, NP_MAX_POOL_INTERVAL, NP_RELOAD_INTERVAL,\n"
"NP_TCP_DATA_BUF_SIZE, NP_SERVICE_COOLDOWN. See docs/operations.md.\n"
"\n"
"Every report interval one line: CHECK_POINT|MODE=|PING=|POOL=|TCPS=|UDPS=|TCPRX=|...\n"
"and on each change of state: STATE|connecting|connected|degraded|error|<reason>.\n"
"Exit codes: 0 stopped by SIGINT/SIGTERM, 1 run-time error (e.g. address in use),\n"
"2 bad URL, parameter or file. SIGHUP reloads (target names re-resolved, a hub's\n"
"accounts, an agent's routes) without dropping connections; the master passes it on\n"
"to every running instance. See docs/usage.md.\n";

static const char *
env_get(const char *name)
{
    return getenv(name);
}

/* POSTERN_URL, copied and removed from the environment (so that nothing this
 * process starts inherits it); NULL when unset or empty. */
static char *
env_take_url(void)
{
    const char *u = getenv("POSTERN_URL");
    if (u == NULL || *u == '\0')
        return NULL;
    char *copy = strdup(u);
    unsetenv("POSTERN_URL");
    return copy;
}

/* The first line of <path> (at most 8 KiB), without surrounding blanks; NULL
 * when unreadable or empty. */
static char *
file_take_url(const char *path)
{
    char buf[8192];
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char *line = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (line == NULL)
        return NULL;
    while (*line == ' ' || *line == '\t')
        line++;
    size_t n = strlen(line);
    while (n > 0 && strchr(" \t\r\n", line[n - 1]) != NULL)
        line[--n] = '\0';
    char *copy = n ? strdup(line) : NULL;
    memset(buf, 0, sizeof(buf));
    return copy;
}

/* Run the mode <url> names to the end; return the exit code. */
static int
run_url(const char *url, const char *label)
{
    char err[PN_ERR_LEN];
    pn_config_t cfg;

    if (log_format_from_env() != 0) {
        fputs("postern: POSTERN_LOG_FORMAT: expected json or text\n", stderr);
        return PN_EXIT_USAGE;
    }
    const char *sep = strstr(url, "://");
    char mode[16] = "";
    if (sep != NULL && (size_t)(sep - url) < sizeof(mode))
        snprintf(mode, sizeof(mode), "%.*s", (int)(sep - url), url);
    log_set_context(mode, label);
    if (strncasecmp(url, "master://", 9) == 0)
        return pn_master_run(url);
    if (pn_config_parse(url, &cfg, err) != PN_OK) {
        fprintf(stderr, "postern: %s\n", err);
        return PN_EXIT_USAGE;
    }
    if (pn_config_apply_env(&cfg, env_get, err) != PN_OK ||
        pn_quic_cc_check(env_get("POSTERN_QUIC_CC"), err) != PN_OK) {
        fprintf(stderr, "postern: %s\n", err);
        pn_config_clear(&cfg);
        return PN_EXIT_USAGE;
    }
    int rc = pn_run(&cfg);
    pn_config_clear(&cfg);
    return rc;
}

/* `postern --zygote <padding>`, started by a master with its socket on fd 3
 * (master/zygote.h): returns in the zygote when the master goes, and in each
 * instance it forks, which then runs its URL like --url-from-env. */
static int
zygote_main(char **argv)
{
    char *url = NULL, *label = NULL;
    size_t area = (size_t)(argv[2] + strlen(argv[2]) + 1 - argv[0]);
    int rc = pn_zygote_serve(3, argv[0], area, &url, &label);
    if (url == NULL)
        return rc;
    rc = run_url(url, label);
    free(url);
    free(label);
    return rc;
}

int
main(int argc, char **argv)
{
#ifdef __GLIBC__
    /* glibc gives the heap's free top back to the kernel once it passes
     * 128 KiB (a threshold it raises only as far as the largest mmap'ed
     * chunk freed): a relay's buffers of 64 KiB and more, freed and taken
     * again at each exchange, made it shrink the heap and fault the same
     * pages in again many times a second (12% of an HTTP/2 hub's CPU at
     * 64 KiB responses). A free top of up to 4 MiB stays; what a burst
     * leaves goes back by malloc_trim when it ebbs (relay/relay.c). Setting
     * the one fixes the other, so both are said: chunks up to 1 MiB (an
     * HTTP/2 stream's window) come from the heap. */
    mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
#endif
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return PN_EXIT_OK;
    }
    if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("postern %s\n", POSTERN_VERSION);
        return PN_EXIT_OK;
    }
    if (argc == 3 && strcmp(argv[1], "--zygote") == 0)
        return zygote_main(argv);
    const char *url = argv[1];
    char *owned = NULL;         /* the URL taken from the environment */
    if (argc >= 2 && strcmp(argv[1], "--url-from-env") == 0) {
        /* The URL (and the key in it) stays out of the command line, which
         * every local user can read in /proc; a label may follow for ps. */
        if (argc > 3) {
            fputs(usage, stderr);
            return PN_EXIT_USAGE;
        }
        url = owned = env_take_url();
        if (url == NULL) {
            fputs("postern: --url-from-env: POSTERN_URL is not set\n", stderr);
            return PN_EXIT_USAGE;
        }
    } else if (argc == 3 && strcmp(argv[1], "--url-from-file") == 0) {
        /* A systemd unit's URL (and key) from a file of mode 0600, not argv. */
        url = owned = file_take_url(argv[2]);
        if (url == NULL) {
            fprintf(stderr, "postern: --url-from-file: cannot read a URL from %s\n", argv[2]);
            return PN_EXIT_USAGE;
        }
    } else if (argc != 2) {
        fputs(usage, stderr);
        return PN_EXIT_USAGE;
    }
    int rc = run_url(url, owned != NULL && argc == 3 ? argv[2] : "");
    free(owned);
    return rc;
}
