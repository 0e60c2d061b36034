/* tunnel/frame_route.c: payloads of the hub's route frames (pure), declared in
 * tunnel/frame.h; docs/hub.md section 5 is normative.
 *
 * Same rules as frame.c: every decoder bounds-checks before it reads, never
 * allocates and reports failure through a static string in <why>. */
#include "tunnel/frame.h"
#include "tunnel/frame_wire.h"

#include <string.h>

/* ---- hub route frames (docs/hub.md §5) ---- */

/* Route TLV types, shared by the five route frames. */
enum {
    RT_TYPE = 1,                /* u8: 1 tcp, 2 udp, 3 http, 4 https */
    RT_PORT = 2,                /* u16 */
    RT_HOST = 3,                /* printable ASCII, 1..253 bytes */
    RT_GROUP = 4,               /* printable ASCII, 1..64 bytes */
    RT_GROUP_KEY = 5,           /* text without NUL, 1..128 bytes */
    RT_ONLINE = 6,              /* u8: 0 or 1 */
    RT_CODE = 7,                /* u16: enum pn_frame_route_fail */
    RT_REASON = 8,              /* text without NUL, 0..256 bytes, made log-safe */
    RT_PATH = 9,                /* printable ASCII, 1..256 bytes */
    RT_HOST_HEADER = 10,        /* printable ASCII, 1..253 bytes */
    RT_AUTH = 11,               /* printable ASCII, 1..400 bytes */
    RT_ALLOW = 12,              /* printable ASCII, 1..1024 bytes */
    RT_REDIRECT = 13,           /* u8: 0 or 1 */
    RT_H2C = 14,                /* u8: 0 or 1 */
};
#define RT_LAST RT_H2C
#define RT_BIT(t) (1u << (t))
#define ROUTE_TYPE_MAX 4

/* Value sizes of the route TLVs, indexed by type - 1. */
static const struct route_tlv {
    uint16_t min, max;
    const char *bad_len;
} route_tlvs[RT_LAST] = {
    { 1, 1, "route TYPE is not 1 byte" },
    { 2, 2, "route PORT is not 2 bytes" },
    { 1, PN_ROUTE_HOST_MAX, "route HOST is not 1..253 bytes" },
    { 1, PN_ROUTE_GROUP_MAX, "route GROUP is not 1..64 bytes" },
    { 1, PN_ROUTE_GROUP_KEY_MAX, "route GROUP_KEY is not 1..128 bytes" },
    { 1, 1, "route ONLINE is not 1 byte" },
    { 2, 2, "route CODE is not 2 bytes" },
    { 0, PN_ERROR_REASON_MAX, "route REASON is over 256 bytes" },
    { 1, PN_ROUTE_PATH_MAX, "route PATH is not 1..256 bytes" },
    { 1, PN_ROUTE_HOST_MAX, "route HOST_HEADER is not 1..253 bytes" },
    { 1, PN_ROUTE_AUTH_MAX, "route AUTH is not 1..400 bytes" },
    { 1, PN_ROUTE_ALLOW_MAX, "route ALLOW is not 1..1024 bytes" },
    { 1, 1, "route REDIRECT is not 1 byte" },
    { 1, 1, "route H2C is not 1 byte" },
};

/* The members each route frame carries (RT_BIT of their TLV types), indexed by
 * frame type - PN_FT_ROUTE_ADD, and the one it cannot go without. */
static const struct route_frame {
    unsigned carries;
    unsigned required;
    const char *missing;
} route_frames[] = {
    { RT_BIT(RT_TYPE) | RT_BIT(RT_PORT) | RT_BIT(RT_HOST) | RT_BIT(RT_GROUP) |
      RT_BIT(RT_GROUP_KEY) | RT_BIT(RT_ONLINE) | RT_BIT(RT_PATH) | RT_BIT(RT_HOST_HEADER) |
      RT_BIT(RT_AUTH) | RT_BIT(RT_ALLOW) | RT_BIT(RT_REDIRECT) | RT_BIT(RT_H2C), RT_BIT(RT_TYPE),
      "ROUTE_ADD lacks the TYPE TLV" },
    { RT_BIT(RT_PORT) | RT_BIT(RT_HOST), 0, NULL },
    { RT_BIT(RT_CODE) | RT_BIT(RT_REASON), RT_BIT(RT_CODE), "ROUTE_FAIL lacks the CODE TLV" },
    { 0, 0, NULL },
    { RT_BIT(RT_ONLINE), RT_BIT(RT_ONLINE), "ROUTE_STATE lacks the ONLINE TLV" },
};

/* Return the entry of route frame type <ftype>, or NULL when it is not one. */
static const struct route_frame *
route_frame(uint8_t ftype)
{
    if (ftype < PN_FT_ROUTE_ADD || ftype > PN_FT_ROUTE_STATE)
        return NULL;
    return &route_frames[ftype - PN_FT_ROUTE_ADD];
}

/* Check the <n> text bytes at <s>: no NUL and, when <printable>, nothing but
 * printable ASCII (0x20..0x7E). PN_OK or PN_ERR. */
static int
text_ok(const uint8_t *s, size_t n, int printable)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == 0 || (printable && (s[i] < 0x20 || s[i] > 0x7E)))
            return PN_ERR;
    return PN_OK;
}

/* Return the length of the NUL-terminated <s> if it is at most <max>, else
 * <max> + 1; reads at most s[max]. */
static size_t
text_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n] != '\0')
        n++;
    return n;
}

/* Append the TLV <type> with the <n> bytes at <val> (never NULL) at <out> + *<off>;
 * 0 when it does not fit in <cap>. */
static int
put_route_tlv(uint8_t type, const void *val, size_t n, uint8_t *out, size_t cap, size_t *off)
{
    if (cap - *off < PN_TLV_HDR + n)
        return 0;
    uint8_t *p = out + *off;
    p[0] = type;
    put16(p + 1, (uint16_t)n);
    memcpy(p + PN_TLV_HDR, val, n);
    *off += PN_TLV_HDR + n;
    return 1;
}

/* Append the text TLV <type> of <s> (1..<max> bytes, printable ASCII when
 * <printable>), or nothing when <s> is empty. 0 when it does not fit or <s> is
 * one the decoder would refuse (longer than <max>, or a byte not allowed). */
static int
put_route_text(uint8_t type, const char *s, size_t max, int printable, uint8_t *out,
               size_t cap, size_t *off)
{
    size_t n = text_len(s, max);
    if (n == 0)
        return 1;
    if (n > max || text_ok((const uint8_t *)s, n, printable) != PN_OK)
        return 0;
    return put_route_tlv(type, s, n, out, cap, off);
}

/* Encode the payload of route frame <ftype> from <m>: the route id, then the TLVs
 * that type carries, in TLV type order: ROUTE_ADD TYPE, PORT (when non-zero), HOST,
 * GROUP, GROUP_KEY (when non-empty), ONLINE; ROUTE_OK PORT (when non-zero), HOST
 * (when non-empty); ROUTE_FAIL CODE, REASON (when non-empty, cut as pn_frame_reason_len()
 * says); ROUTE_DEL nothing; ROUTE_STATE ONLINE. Return the payload size, or 0 when
 * <ftype> is not a route frame, <cap> is too small or a member of <m> is one the
 * decoder would refuse (id 0, TYPE not 1..4, ONLINE not 0/1, a text too long or
 * with bytes its TLV does not allow). */
size_t
pn_frame_route_encode(uint8_t ftype, const pn_frame_route_t *m, uint8_t *out, size_t cap)
{
    const struct route_frame *rf = route_frame(ftype);
    size_t off = 4;
    uint8_t v[2];

    if (rf == NULL || m->id == 0 || cap < 4)
        return 0;
    put32(out, m->id);
    if (rf->carries & RT_BIT(RT_TYPE)) {
        if (m->type < 1 || m->type > ROUTE_TYPE_MAX ||
            !put_route_tlv(RT_TYPE, &m->type, 1, out, cap, &off))
            return 0;
    }
    if ((rf->carries & RT_BIT(RT_PORT)) && m->port != 0) {
        put16(v, m->port);
        if (!put_route_tlv(RT_PORT, v, 2, out, cap, &off))
            return 0;
    }
    if ((rf->carries & RT_BIT(RT_HOST)) &&
        !put_route_text(RT_HOST, m->host, PN_ROUTE_HOST_MAX, 1, out, cap, &off))
        return 0;
    if ((rf->carries & RT_BIT(RT_GROUP)) &&
        !put_route_text(RT_GROUP, m->group, PN_ROUTE_GROUP_MAX, 1, out, cap, &off))
        return 0;
    if ((rf->carries & RT_BIT(RT_GROUP_KEY)) &&
        !put_route_text(RT_GROUP_KEY, m->group_key, PN_ROUTE_GROUP_KEY_MAX, 0, out, cap, &off))
        return 0;
    if (rf->carries & RT_BIT(RT_ONLINE)) {
        if (m->online > 1 || !put_route_tlv(RT_ONLINE, &m->online, 1, out, cap, &off))
            return 0;
    }
    if ((rf->carries & RT_BIT(RT_PATH)) &&
        (!put_route_text(RT_PATH, m->path, PN_ROUTE_PATH_MAX, 1, out, cap, &off) ||
         !put_route_text(RT_HOST_HEADER, m->host_header, PN_ROUTE_HOST_MAX, 1, out, cap, &off) ||
         !put_route_text(RT_AUTH, m->auth, PN_ROUTE_AUTH_MAX, 1, out, cap, &off) ||
         !put_route_text(RT_ALLOW, m->allow, PN_ROUTE_ALLOW_MAX, 1, out, cap, &off)))
        return 0;
    if ((rf->carries & RT_BIT(RT_REDIRECT)) && m->redirect != 0) {
        if (m->redirect > 1 || !put_route_tlv(RT_REDIRECT, &m->redirect, 1, out, cap, &off))
            return 0;
    }
    if ((rf->carries & RT_BIT(RT_H2C)) && m->h2c != 0) {
        if (m->h2c > 1 || !put_route_tlv(RT_H2C, &m->h2c, 1, out, cap, &off))
            return 0;
    }
    if (rf->carries & RT_BIT(RT_CODE)) {     /* ROUTE_FAIL: CODE, then REASON */
        put16(v, m->code);
        if (!put_route_tlv(RT_CODE, v, 2, out, cap, &off))
            return 0;
        size_t n = pn_frame_reason_len(m->reason);
        if (n > 0 && !put_route_tlv(RT_REASON, m->reason, n, out, cap, &off))
            return 0;
    }
    return off;
}

/* Decode the payload <p> of <len> bytes of route frame <ftype> into <m>: the route
 * id (non-zero), then TLVs in any order. Every known TLV (types 1..8) is checked
 * in every route frame, whether or not that frame carries it: a wrong size, a
 * repeat, a value out of range (TYPE not 1..4, ONLINE not 0/1) or text with a NUL
 * (HOST and GROUP: anything but printable ASCII) is an error. Only the members the
 * frame type carries are set (see pn_frame_route_encode()); the others stay zero / empty,
 * ONLINE 1. REASON is made log-safe like an ERROR reason. Unknown TLVs are skipped.
 * Return PN_OK, or PN_ERR with *<why>; <m> is only meaningful after PN_OK. */
int
pn_frame_route_decode(uint8_t ftype, const uint8_t *p, size_t len, pn_frame_route_t *m,
                const char **why)
{
    const struct route_frame *rf = route_frame(ftype);
    unsigned seen = 0;
    uint8_t type;
    const uint8_t *val;
    uint16_t vlen;
    int rc;

    memset(m, 0, sizeof(*m));
    m->online = 1;
    if (rf == NULL)
        return fail(why, "not a route frame type");
    if (len < 4)
        return fail(why, "route frame lacks its route id");
    m->id = get32(p);
    if (m->id == 0)
        return fail(why, "route id is 0");
    const uint8_t *cur = p + 4, *end = p + len;
    while ((rc = pn_tlv_next(&cur, end, &type, &val, &vlen)) == PN_OK) {
        if (type < RT_TYPE || type > RT_LAST)
            continue;               /* unknown: a later version's, skip it */
        if (seen & RT_BIT(type))
            return fail(why, "route frame repeats a TLV");
        seen |= RT_BIT(type);
        const struct route_tlv *t = &route_tlvs[type - 1];
        if (vlen < t->min || vlen > t->max)
            return fail(why, t->bad_len);
        int keep = (rf->carries & RT_BIT(type)) != 0;
        switch (type) {
        case RT_TYPE:
            if (val[0] < 1 || val[0] > ROUTE_TYPE_MAX)
                return fail(why, "route TYPE is not 1..4");
            if (keep)
                m->type = val[0];
            break;
        case RT_PORT:
            if (keep)
                m->port = get16(val);
            break;
        case RT_HOST:
        case RT_GROUP:
            if (text_ok(val, vlen, 1) != PN_OK)
                return fail(why, type == RT_HOST ? "route HOST is not printable ASCII"
                                                 : "route GROUP is not printable ASCII");
            if (keep) {
                char *to = type == RT_HOST ? m->host : m->group;
                memcpy(to, val, vlen);
                to[vlen] = '\0';
            }
            break;
        case RT_GROUP_KEY:
            if (text_ok(val, vlen, 0) != PN_OK)
                return fail(why, "route GROUP_KEY holds a NUL");
            if (keep) {
                memcpy(m->group_key, val, vlen);
                m->group_key[vlen] = '\0';
            }
            break;
        case RT_ONLINE:
            if (val[0] > 1)
                return fail(why, "route ONLINE is not 0 or 1");
            if (keep)
                m->online = val[0];
            break;
        case RT_CODE:
            if (keep)
                m->code = get16(val);
            break;
        case RT_PATH:
        case RT_HOST_HEADER:
        case RT_AUTH:
        case RT_ALLOW: {
            if (text_ok(val, vlen, 1) != PN_OK)
                return fail(why, "route PATH, HOST_HEADER, AUTH or ALLOW is not printable ASCII");
            char *to = type == RT_PATH ? m->path : type == RT_HOST_HEADER ? m->host_header
                       : type == RT_AUTH ? m->auth : m->allow;
            if (keep) {
                memcpy(to, val, vlen);
                to[vlen] = '\0';
            }
            break;
        }
        case RT_REDIRECT:
        case RT_H2C:
            if (val[0] > 1)
                return fail(why, type == RT_H2C ? "route H2C is not 0 or 1"
                                                : "route REDIRECT is not 0 or 1");
            if (keep)
                *(type == RT_H2C ? &m->h2c : &m->redirect) = val[0];
            break;
        default:                    /* RT_REASON */
            if (text_ok(val, vlen, 0) != PN_OK)
                return fail(why, "route REASON holds a NUL");
            if (keep)
                pn_frame_log_safe(val, vlen, m->reason);
            break;
        }
    }
    if (rc == PN_ERR)
        return fail(why, "route frame has a truncated TLV");
    if ((seen & rf->required) != rf->required)
        return fail(why, rf->missing);
    return PN_OK;
}

/* Return a static name for ROUTE_FAIL <code>, "UNKNOWN" for values not defined. */
const char *
pn_frame_route_fail_name(uint16_t code)
{
    switch (code) {
    case PN_RF_TAKEN: return "TAKEN";
    case PN_RF_DENIED: return "DENIED";
    case PN_RF_LIMIT: return "LIMIT";
    case PN_RF_INVALID: return "INVALID";
    case PN_RF_EXISTS: return "EXISTS";
    case PN_RF_UNAVAILABLE: return "UNAVAILABLE";
    default: return "UNKNOWN";
    }
}

