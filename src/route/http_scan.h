/* route/http_scan.h: the strict checker of HTTP/1.x framing that runs before
 * http-parser (see route/http.c), and the byte classes the router's HTTP files
 * share. Only route/http*.c include it; callers use route/http.h. */
#ifndef PN_ROUTE_HTTP_SCAN_H
#define PN_ROUTE_HTTP_SCAN_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Where the checker is within a line of a head or of trailers. */
enum line_st {
    LN_START,           /* before the start line (responses may have empty lines here) */
    LN_LINE0,           /* in the request or status line */
    LN_BEGIN,           /* at the start of a field line or of the final empty line */
    LN_NAME,            /* in a field name */
    LN_VALUE,           /* after the colon */
    LN_CR,              /* after CR: LF must follow */
    LN_END,             /* the empty line ended the head (or the trailers) */
};

/* Where the checker is within a chunked body. */
enum chunk_st {
    CK_SIZE0,           /* first hex digit of a chunk size */
    CK_SIZE,            /* more hex digits, extensions or CR */
    CK_EXT,             /* chunk extensions, up to CR */
    CK_SIZE_LF,         /* after the size line's CR */
    CK_DATA,            /* chunk data */
    CK_DATA_CR,         /* the CR after chunk data */
    CK_DATA_LF,         /* the LF after chunk data */
    CK_TRAILER,         /* trailer fields, then the final empty line (a line_st scan) */
    CK_END,             /* the body ended */
};

struct scan {
    enum line_st ln;
    enum line_st cr_next;       /* LN_CR: the state its LF leads to */
    int request;                /* requests: CRLF only, request line shape */
    int lf_ok;                  /* responses: a bare LF ends a line too, as http-parser takes it */
    unsigned spaces;            /* SPs in the request line */
    size_t part;                /* bytes of the request line's current part; of the status line */
    enum chunk_st ck;
    uint64_t size;              /* chunk size, then what remains of its data */
    size_t line_len;            /* bytes of the current size line */
    size_t trailer_len;         /* bytes of the trailers */
    size_t trailer_max;         /* bound of <trailer_len>: PN_HTTP_HEAD_MAX */
    const char *why;
};

/* tchar of RFC 9110 5.6.2: what a method or a field name is made of. */
static inline int
is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    switch (c) {                /* the other tchars; a switch, not a strchr per byte */
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

/* A byte of a field value, a reason phrase or a chunk extension: HT, SP,
 * VCHAR or obs-text, so no control character and no DEL. */
static inline int
is_text(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline int
lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Nonzero when the <n> bytes at <a> are <lit> in any case. */
static inline int
same_ci(const char *a, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((uint8_t)a[i]) != lit[i])
            return 0;
    return 1;
}

/* The value of the hex digit <c> (any case), or -1. */
static inline int
hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/** Check the head bytes at <p> (<n>): set *<k> to how many belong to the head
 *  (all of them unless its end is among them); s->ln is LN_END once it ended.
 *  PN_ERR with s->why set. */
int pn_http_scan_head(struct scan *s, const uint8_t *p, size_t n, size_t *k);

/** Check the chunked body bytes at <p> (<n>): set *<k> to how many belong to
 *  the message (all of them unless its end is among them); s->ck is CK_END
 *  once it ended. PN_ERR with s->why set. */
int pn_http_scan_chunked(struct scan *s, const uint8_t *p, size_t n, size_t *k);

#endif
