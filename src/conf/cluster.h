/* conf/cluster.h: a hub's cluster= setting (docs/hub.md "Several hubs as one"):
 * the Redis address several hubs share, this hub's id= and peer=, and where
 * the Redis password comes from. Pure apart from reading the cluster_auth= file. */
#ifndef PN_CONF_CLUSTER_H
#define PN_CONF_CLUSTER_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

#define PN_CLUSTER_ID_MAX 64
#define PN_CLUSTER_SECRET_MAX 512
#define PN_CLUSTER_SENTINELS_MAX 8
#define PN_CLUSTER_MASTER_MAX 64    /* a Sentinel master name: 1-64 of [A-Za-z0-9._-] */

typedef struct pn_cluster_conf {
    char *host;                 /* owned; Redis host, as written (redis-sentinel://: the first
                                 * Sentinel's) */
    char *port;                 /* owned; Redis port digits (likewise) */
    char *master;               /* owned; redis-sentinel://: the master's name, else NULL */
    char *sentinel_host[PN_CLUSTER_SENTINELS_MAX];  /* owned; redis-sentinel://: each Sentinel */
    char *sentinel_port[PN_CLUSTER_SENTINELS_MAX];
    size_t nsentinels;          /* 0 for redis:// */
    char *user;                 /* owned; ACL user, NULL = the default user */
    char *pass;                 /* owned secret; NULL = none; wiped when cleared */
    unsigned db;                /* SELECT <db>, 0 by default */
    char *auth_file;            /* owned; cluster_auth=<file> ("[user:]password"), NULL = none */
    char *id;                   /* owned; id=, NULL = "<hostname>:<hub port>" (set at start) */
    char *peer;                 /* owned; peer= "host:port" other hubs reach this hub at */
    char *secret_file;          /* owned; cluster_secret=<file>, NULL = none */
    char *secret;               /* owned secret: keys hub-to-hub links; wiped when cleared */
} pn_cluster_conf_t;

/** Parse the cluster= value <url> ("redis://[user[:pass]@]host:port[/db]", or
 *  "redis-sentinel://[user[:pass]@]host:port[,host:port...]/<master name>[/db]":
 *  up to PN_CLUSTER_SENTINELS_MAX Sentinels, "[v6]:port" allowed, the password
 *  being the master's) into <c> (zeroed first). PN_ERR with <err> naming
 *  "cluster" and never echoing the password; "rediss://" is refused (no TLS in
 *  Debian 12's hiredis 0.14). */
int pn_cluster_conf_parse(const char *url, pn_cluster_conf_t *c, char *err);
/** Check a hub id: 1-64 of [A-Za-z0-9._:-]. PN_OK or PN_ERR. */
int pn_cluster_id_check(const char *id);
/** Fill <c>'s password when the URL had none: from the environment variable
 *  POSTERN_CLUSTER_PASSWORD (read through <get>), else the cluster_auth= file
 *  ("password" or "user:password", one line). PN_ERR with <err> (no secret in it). */
int pn_cluster_secret_load(pn_cluster_conf_t *c, const char *(*get)(const char *name), char *err);
/** With peer=, load the cluster secret that keys hub-to-hub links: the
 *  environment variable POSTERN_CLUSTER_SECRET, else the cluster_secret= file
 *  (its first line, at least 16 bytes). PN_ERR with <err> (no secret in it). */
int pn_cluster_link_secret_load(pn_cluster_conf_t *c, const char *(*get)(const char *name),
                                char *err);
/** Release what <c> owns (the password wiped) and zero it. */
void pn_cluster_conf_clear(pn_cluster_conf_t *c);

#endif
