/* tls/tls.h: OpenSSL contexts for every TLS use in postern, TLS 1.3 only.
 *
 *  - server, in-memory (tls=1): a fresh self-signed ECDSA P-256 certificate per
 *    process; its SHA-256 fingerprint is what a tunnel client pins.
 *  - server, files (tls=2): PEM certificate chain + key, re-read when either file
 *    changes on disk; live connections keep the context they started with.
 *  - client: verifying (system store or a CA file, with a host name) or not
 *    (the tunnel pins a fingerprint instead).
 *  - PSK (control channel): TLS 1.3 external PSK with (EC)DHE, no certificates;
 *    both ends prove they hold the key, nothing secret crosses the wire.
 *
 * Only this layer includes OpenSSL's SSL headers. */
#ifndef PN_TLS_TLS_H
#define PN_TLS_TLS_H

#include "core/err.h"
#include "core/xprt.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ssl_st SSL;
typedef struct pn_tls_ctx pn_tls_ctx_t;

#define PN_TLS_FP_LEN 32            /* SHA-256 */
#define PN_TLS_FP_HEXLEN (PN_TLS_FP_LEN * 3)

/** Make a server context with a new self-signed ECDSA P-256 certificate
 *  (CN "postern", valid one year). NULL with <err> on failure. */
pn_tls_ctx_t *pn_tls_server_selfsigned(char *err);
/** Make a server context from the PEM files <crt> (chain) and <key>. Fail, with
 *  <err> naming the file and the problem, when a file is unreadable, not PEM, or
 *  the key does not match the certificate. */
pn_tls_ctx_t *pn_tls_server_files(const char *crt, const char *key, char *err);
/** A server context of a type=3 port: choose ALPN "h2" when the client offers
 *  it (kept across certificate reloads). Other contexts choose none. NULL is
 *  a no-op. */
void pn_tls_ctx_alpn_h2(pn_tls_ctx_t *c);
/** A context of pn_tls_server_files(): check its files for a change at most
 *  every <ms> (default 1 s; POSTERN_RELOAD_INTERVAL). Other contexts: no-op. */
void pn_tls_ctx_reload_every(pn_tls_ctx_t *c, uint64_t ms);
/** Make a client context. With <verify>, check the server's chain against
 *  <ca_file> (or the system store when NULL) and its name (see pn_tls_client_ssl);
 *  without, accept any certificate (the caller pins a fingerprint). */
pn_tls_ctx_t *pn_tls_client_new(int verify, const char *ca_file, char *err);
/** Make a TLS 1.3 external-PSK context for the control channel: <server> or
 *  client side, keyed by <psk> (<len> bytes, 32 expected). */
pn_tls_ctx_t *pn_tls_psk_new(int server, const uint8_t *psk, size_t len, char *err);

#define TUN_HUB_PSK_LEN 32          /* a hub account's PSK (HMAC-SHA256 output) */
/** Make one SSL_CTX of each side for the next PSK contexts (a zygote does
 *  this once, so that the instances it forks share its pages). */
void pn_tls_psk_prepare(void);

/** A hub: fill <psk> (TUN_HUB_PSK_LEN bytes) with the key of the PSK
 *  <identity> and return 0, or return -1 when no account has it. Runs inside
 *  the handshake, on the loop's thread. */
typedef int (*pn_tls_psk_lookup_cb)(const char *identity, uint8_t *psk, void *ctx);
/** Client side of a PSK control channel that offers <identity> (at most 64
 *  bytes) with <psk> (<len> bytes): an agent of a hub. */
pn_tls_ctx_t *pn_tls_psk_client_new(const uint8_t *psk, size_t len, const char *identity,
                                    char *err);
/** Server side of a PSK control channel whose key depends on the identity the
 *  client offers, found by <lookup> (<ctx> borrowed, outliving every SSL). */
pn_tls_ctx_t *pn_tls_psk_server_lookup(pn_tls_psk_lookup_cb lookup, void *ctx, char *err);
/** The identity a lookup server accepted on <ssl> (borrowed), or NULL. */
const char *pn_tls_psk_identity(SSL *ssl);
/** Free <c>; SSL objects made from it stay valid (OpenSSL refcounts). NULL is a no-op. */
void pn_tls_ctx_free_(pn_tls_ctx_t *c);
#define pn_tls_ctx_free(p) do { pn_tls_ctx_free_(p); (p) = NULL; } while (0)

/** For a files context, the reload check of pn_tls_server_ssl (below) and the
 *  number of reloads so far; 0 for any other context or NULL. The QUIC
 *  listener (tls/quic_srv.c) follows the files so. */
unsigned pn_tls_ctx_generation(pn_tls_ctx_t *c);
/** Return a new SSL in accept state for a server context. For a files context,
 *  first check (at most once a second) whether the files changed and reload
 *  them; a reload that fails logs a warning and keeps the old certificate. */
SSL *pn_tls_server_ssl(pn_tls_ctx_t *c);
/** Return a new SSL in connect state for a client or PSK context, sending <sni>
 *  (may be NULL) and, for a verifying context, checking the certificate against
 *  <sni>. */
SSL *pn_tls_client_ssl(pn_tls_ctx_t *c, const char *sni);
/** Copy the SHA-256 fingerprint of the certificate <c> serves now into <out>; 0 or -1. */
int pn_tls_ctx_fingerprint(pn_tls_ctx_t *c, uint8_t out[PN_TLS_FP_LEN]);
/** Copy the fingerprint of the certificate the peer of <ssl> presented; 0 or -1. */
int pn_tls_peer_fingerprint(SSL *ssl, uint8_t out[PN_TLS_FP_LEN]);
/** Make the handshake of the client <ssl> fail unless the server's certificate
 *  has the SHA-256 fingerprint <fp> (checked before application data); 0 or -1. */
int pn_tls_ssl_pin(SSL *ssl, const uint8_t fp[PN_TLS_FP_LEN]);
/** Format <fp> as "AB:CD:..." into <out>. */
void pn_tls_fp_hex(const uint8_t fp[PN_TLS_FP_LEN], char out[PN_TLS_FP_HEXLEN]);
/** Derive <len> bytes of keying material labelled <label> from the session of the
 *  established <ssl> (RFC 8446 exporter); 0 or -1. */
int pn_tls_export(SSL *ssl, const char *label, uint8_t *out, size_t len);
/** Free an SSL that never got wrapped in a transport. */
void pn_tls_ssl_free(SSL *ssl);

/** Wrap the TCP <fd> and <ssl> (both owned by the transport from now on) in a
 *  TLS transport; the handshake runs inside the first read/write, or explicitly
 *  through pn_tls_xprt_handshake(). Never NULL. */
pn_xprt_t *pn_tls_xprt_new(int fd, SSL *ssl);
/** As pn_tls_xprt_wrap(), for an <inner> whose first <len> bytes at <pre>
 *  (copied) were read already: the TLS layer reads them first. Never NULL. */
pn_xprt_t *pn_tls_xprt_wrap_pre(pn_xprt_t *inner, SSL *ssl, const uint8_t *pre, size_t len);
/** Drive the handshake of <x>: PN_OK when done, PN_AGAIN (see x->want), or
 *  PN_ERR with x->err set to a readable reason. */
int pn_tls_xprt_handshake(pn_xprt_t *x);
/** The SSL inside the TLS transport <x> (borrowed). */
SSL *pn_tls_xprt_ssl(pn_xprt_t *x);
/** The transport a pn_tls_xprt_wrap() TLS <x> runs over (borrowed), else NULL. */
pn_xprt_t *pn_tls_xprt_inner(pn_xprt_t *x);
/** Make <ssl> read a TCP end without close_notify as an error ("unexpected eof"),
 *  not as the end of the stream: for data channels between postern ends, which
 *  always send close_notify before a clean end, so that a peer killed mid-transfer
 *  is seen as a truncation (docs/security.md). */
void pn_tls_ssl_strict_eof(SSL *ssl);

enum { PN_KTLS_SEND = 1, PN_KTLS_RECV = 2 };
/** Which directions of the established TLS transport <x> the kernel seals and
 *  opens (PN_KTLS_SEND | PN_KTLS_RECV), 0 when OpenSSL does it in user space. */
int pn_tls_xprt_ktls(pn_xprt_t *x);
/** 0 when POSTERN_NO_KTLS is set, else 1 (read once). */
int pn_tls_ktls_allowed(void);
/** 1 when this kernel offers the "tls" ULP (loaded, or its module installed),
 *  else 0 (read once). Where it does not, or kTLS is not allowed, a TLS
 *  transport on a socket gathers records and sends several per write. */
int pn_tls_ktls_kernel(void);
/** With <quiet> nonzero, "kernel TLS unavailable" is a DEBUG line, not INFO
 *  (tls=0: only the control channel is TLS). */
void pn_tls_ktls_quiet(int quiet);

/** Fill <out> with <len> cryptographically random bytes; 0 or -1. */
int pn_random(void *out, size_t len);
/** HMAC-SHA256 of <msg> under <key> into <out>. */
void pn_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
                    uint8_t out[32]);

#endif
