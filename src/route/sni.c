/* route/sni.c: the server name of a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066
 * §3), read from the first bytes a client sent, without terminating TLS.
 *
 * Pure and stateless: the caller passes everything received so far on each
 * call. The handshake message is gathered from its records into a local buffer
 * (at most PN_SNI_READ_MAX bytes, no allocation), then walked field by field
 * with a bounds-checked reader. Every check looks only at bytes already seen
 * and runs in byte order, so a verdict on a prefix (PN_OK or PN_ERR) is the
 * verdict on any longer input too. */
#include "route/sni.h"
#include "core/err.h"

#include <string.h>

#define REC_HDR 5               /* type u8, legacy_record_version u16, length u16 */
#define REC_MAX 16384           /* RFC 8446 §5.1: TLSPlaintext.length */
#define CT_HANDSHAKE 22
#define HS_HDR 4                /* msg_type u8, length u24 */
#define HS_CLIENT_HELLO 1
#define RANDOM_LEN 32
#define SESSION_ID_MAX 32
#define EXT_SERVER_NAME 0
#define NAME_HOST 0             /* NameType host_name */
#define LABEL_MAX 63

static int
fail(const char **why, const char *msg)
{
    if (why != NULL)
        *why = msg;
    return PN_ERR;
}

/* ---- a bounds-checked reader over a byte range ---- */

struct rd {
    const uint8_t *p;
    size_t n;                   /* bytes left */
};

static int
rd_skip(struct rd *r, size_t k)
{
    if (r->n < k)
        return -1;
    r->p += k;
    r->n -= k;
    return 0;
}

static int
rd_u8(struct rd *r, size_t *v)
{
    if (r->n < 1)
        return -1;
    *v = r->p[0];
    return rd_skip(r, 1);
}

static int
rd_u16(struct rd *r, size_t *v)
{
    if (r->n < 2)
        return -1;
    *v = (size_t)r->p[0] << 8 | r->p[1];
    return rd_skip(r, 2);
}

/* Split off a vector whose length prefix is <width> (1 or 2) bytes into <v>. */
static int
rd_vec(struct rd *r, int width, struct rd *v)
{
    size_t len;
    if ((width == 1 ? rd_u8(r, &len) : rd_u16(r, &len)) != 0 || r->n < len)
        return -1;
    v->p = r->p;
    v->n = len;
    return rd_skip(r, len);
}

/* ---- the name ---- */

/* Copy the HostName <s> (<len> bytes) into <name>, lower-cased, without one
 * trailing dot, refusing what is not a DNS name of [a-z0-9-] labels (the same
 * rule as pn_http_host_valid, so that any name a route can hold is reachable
 * and nothing else is). */
static int
host_name(const uint8_t *s, size_t len, char name[PN_SNI_MAX + 1], const char **why)
{
    size_t label = 0;
    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0)
        return fail(why, "empty server name");
    if (len > PN_SNI_MAX)
        return fail(why, "server name longer than 253 bytes");
    for (size_t i = 0; i < len; i++) {
        char c = (char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                return fail(why, "server name has an empty label or one ending with '-'");
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            if (label == 0 && c == '-')
                return fail(why, "server name has a label starting with '-'");
            if (++label > LABEL_MAX)
                return fail(why, "server name has a label longer than 63 bytes");
        } else {
            return fail(why, "server name has a byte other than [A-Za-z0-9.-]");
        }
        name[i] = c;
    }
    if (label == 0 || name[len - 1] == '-')
        return fail(why, "server name has an empty label or one ending with '-'");
    name[len] = '\0';
    return PN_OK;
}

/* The server_name extension's data (RFC 6066 §3): a non-empty ServerNameList
 * filling it exactly. As Go's crypto/tls does, entries of other name types are
 * skipped (each is a u16-prefixed opaque), and a second host_name is refused. */
static int
server_name_ext(struct rd ext, char name[PN_SNI_MAX + 1], const char **why)
{
    struct rd list, host;
    size_t type;
    int found = 0;
    if (rd_vec(&ext, 2, &list) != 0 || ext.n != 0 || list.n == 0)
        return fail(why, "malformed server_name extension");
    while (list.n > 0) {
        if (rd_u8(&list, &type) != 0 || rd_vec(&list, 2, &host) != 0)
            return fail(why, "malformed server_name extension");
        if (type != NAME_HOST)
            continue;
        if (found)
            return fail(why, "more than one host_name in server_name");
        found = 1;
        if (host_name(host.p, host.n, name, why) != PN_OK)
            return PN_ERR;
    }
    return PN_OK;
}

/* ---- the ClientHello ---- */

/* Walk the ClientHello body (after its 4-byte header) up to and through its
 * extensions, which must fill it exactly; every extension is walked so that a
 * malformed one past server_name is still refused. */
static int
client_hello(const uint8_t *body, size_t len, char name[PN_SNI_MAX + 1], const char **why)
{
    struct rd r = { body, len }, v, exts, data;
    size_t version, type;
    int seen = 0;
    if (rd_u16(&r, &version) != 0 || rd_skip(&r, RANDOM_LEN) != 0)
        return fail(why, "ClientHello too short");
    if (version >> 8 != 3)
        return fail(why, "ClientHello version is not 3.x");
    if (rd_vec(&r, 1, &v) != 0 || v.n > SESSION_ID_MAX)
        return fail(why, "malformed ClientHello session id");
    if (rd_vec(&r, 2, &v) != 0 || v.n == 0 || v.n % 2 != 0)
        return fail(why, "malformed ClientHello cipher suites");
    if (rd_vec(&r, 1, &v) != 0 || v.n == 0)
        return fail(why, "malformed ClientHello compression methods");
    if (r.n == 0)
        return PN_OK;           /* no extensions at all (an old client): no SNI */
    if (rd_vec(&r, 2, &exts) != 0 || r.n != 0)
        return fail(why, "malformed ClientHello extensions");
    while (exts.n > 0) {
        if (rd_u16(&exts, &type) != 0 || rd_vec(&exts, 2, &data) != 0)
            return fail(why, "malformed ClientHello extensions");
        if (type != EXT_SERVER_NAME)
            continue;
        if (seen)
            return fail(why, "more than one server_name extension");
        seen = 1;
        if (server_name_ext(data, name, why) != PN_OK)
            return PN_ERR;
    }
    return PN_OK;
}

/* ---- records ---- */

/* Check the record header at <p> as far as its <n> bytes go (maybe fewer than
 * five), so that what is not TLS is refused on its first byte rather than
 * waited for; PN_OK with the payload length in <len> once complete. */
static int
record_header(const uint8_t *p, size_t n, size_t *len, const char **why)
{
    if (n >= 1 && p[0] != CT_HANDSHAKE)
        return fail(why, "not a TLS handshake record");
    if ((n >= 2 && p[1] != 3) || (n >= 3 && (p[2] < 1 || p[2] > 4)))
        return fail(why, "TLS record version is not 3.1-3.4");
    if (n < REC_HDR)
        return PN_AGAIN;
    *len = (size_t)p[3] << 8 | p[4];
    if (*len == 0)
        return fail(why, "empty TLS handshake record");
    if (*len > REC_MAX)
        return fail(why, "TLS record longer than 16384 bytes");
    return PN_OK;
}

/* Judge the <have> handshake bytes gathered so far: PN_AGAIN until the whole
 * ClientHello is there, then its verdict. */
static int
handshake(const uint8_t *msg, size_t have, char name[PN_SNI_MAX + 1], const char **why)
{
    if (have >= 1 && msg[0] != HS_CLIENT_HELLO)
        return fail(why, "not a ClientHello");
    if (have < HS_HDR)
        return PN_AGAIN;
    size_t len = (size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3];
    /* Even in one record it would need more bytes than the caller reads. */
    if (REC_HDR + HS_HDR + len > PN_SNI_READ_MAX)
        return fail(why, "ClientHello longer than 16 KiB");
    if (have < HS_HDR + len)
        return PN_AGAIN;
    return client_hello(msg + HS_HDR, len, name, why);
}

static int
sni_parse(const uint8_t *p, size_t n, char name[PN_SNI_MAX + 1], const char **why)
{
    uint8_t msg[PN_SNI_READ_MAX];       /* the handshake bytes, records stripped */
    size_t have = 0, off = 0, len;

    for (;;) {
        int rc = record_header(p + off, n - off, &len, why);
        if (rc != PN_OK)
            return rc;
        /* Records end before PN_SNI_READ_MAX, so <msg> cannot overflow: the
         * payloads gathered are fewer bytes than the input they came from. */
        if (off + REC_HDR + len > PN_SNI_READ_MAX)
            return fail(why, "ClientHello longer than 16 KiB");
        size_t got = n - off - REC_HDR < len ? n - off - REC_HDR : len;
        memcpy(msg + have, p + off + REC_HDR, got);
        have += got;
        rc = handshake(msg, have, name, why);
        if (rc != PN_AGAIN || got < len)
            return rc;
        /* The ClientHello goes on in the next record, which must fit too:
         * with PN_SNI_READ_MAX bytes in hand the verdict is never PN_AGAIN. */
        off += REC_HDR + len;
        if (off + REC_HDR + 1 > PN_SNI_READ_MAX)
            return fail(why, "ClientHello longer than 16 KiB");
    }
}

int
pn_sni_parse(const uint8_t *p, size_t n, char name[PN_SNI_MAX + 1], const char **why)
{
    name[0] = '\0';
    if (n == 0)
        return PN_AGAIN;
    int rc = sni_parse(p, n, name, why);
    if (rc != PN_OK)
        name[0] = '\0';         /* a name may have been copied before a later error */
    return rc;
}
