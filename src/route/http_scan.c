/* route/http_scan.c: the strict checker of route/http.c (pure).
 *
 * Debian builds http-parser with HTTP_PARSER_STRICT=0 (see route/http.c), so
 * this checker reads the head, the chunk framing and the trailers first, and
 * http-parser only ever sees bytes it accepted: CRLF line ends (a bare LF only
 * in responses), one SP between the parts of a request line, the shape of a
 * status line, tchar field names, no obs-fold, no control characters in
 * values, hex chunk sizes with a bounded size line and bounded trailers. */
#include "route/http_scan.h"

#define SIZE_LINE_MAX 1024                      /* chunk size line, extensions included */

static int
scan_fail(struct scan *s, const char *why)
{
    s->why = why;
    return PN_ERR;
}

/* An end of line seen at state <next_after>: CR waits for its LF; a bare LF is
 * the end only for responses. */
static int
line_eol(struct scan *s, uint8_t c, enum line_st next)
{
    if (c == '\r') {
        s->cr_next = next;
        s->ln = LN_CR;
        return PN_OK;
    }
    if (!s->lf_ok)
        return scan_fail(s, "bare LF in the head");
    s->ln = next;
    return PN_OK;
}

/* Nonzero when <c> may be byte <i> of a status line: "HTTP/d.d ddd" then
 * SP or the end of the line. */
static int
status_line_ok(size_t i, uint8_t c)
{
    static const char shape[] = "HTTP/0.0 000 ";
    if (i >= sizeof(shape) - 1)
        return is_text(c);
    if (shape[i] == '0')
        return c >= '0' && c <= '9';
    return c == (uint8_t)shape[i];
}

/* The start line. A request line is METHOD SP target SP HTTP/d.d with one
 * space between parts and no control character; a status line is shaped as
 * status_line_ok() says. http-parser checks the parts too, but built lenient
 * it takes "HTXP/" for "HTTP/" and several spaces for one. */
static int
line0_byte(struct scan *s, uint8_t c)
{
    static const char http[] = "HTTP/";
    if (c == '\r' || c == '\n') {
        if (s->request ? s->spaces != 2 || s->part != 8 : s->part < 12)
            return scan_fail(s, "malformed start line");
        return line_eol(s, c, LN_BEGIN);
    }
    if (!s->request) {
        if (!status_line_ok(s->part++, c))
            return scan_fail(s, "malformed status line");
        return PN_OK;
    }
    if (c < 0x20 || c == 0x7f)
        return scan_fail(s, "control character in the request line");
    if (c == ' ') {
        if (s->part == 0 || ++s->spaces > 2)
            return scan_fail(s, "malformed request line");
        s->part = 0;
        return PN_OK;
    }
    if (s->spaces == 2 && s->part < 5 && c != (uint8_t)http[s->part])
        return scan_fail(s, "malformed HTTP version");
    s->part++;
    return PN_OK;
}

/* One byte of a head or of trailers. */
static int
line_byte(struct scan *s, uint8_t c)
{
    switch (s->ln) {
    case LN_START:
        if (!s->request && (c == '\r' || c == '\n'))
            return line_eol(s, c, LN_START);    /* empty lines before a status line */
        if (s->request && !is_tchar(c))
            return scan_fail(s, "malformed request line");
        s->ln = LN_LINE0;
        return line0_byte(s, c);
    case LN_LINE0:
        return line0_byte(s, c);
    case LN_BEGIN:
        if (c == '\r' || c == '\n')
            return line_eol(s, c, LN_END);
        if (c == ' ' || c == '\t')
            return scan_fail(s, "obsolete line folding");
        if (!is_tchar(c))
            return scan_fail(s, "invalid character in a field name");
        s->ln = LN_NAME;
        return PN_OK;
    case LN_NAME:
        if (c == ':')
            s->ln = LN_VALUE;
        else if (!is_tchar(c))
            return scan_fail(s, "invalid character in a field name");
        return PN_OK;
    case LN_VALUE:
        if (c == '\r' || c == '\n')
            return line_eol(s, c, LN_BEGIN);
        if (!is_text(c))
            return scan_fail(s, "invalid character in a field value");
        return PN_OK;
    case LN_CR:
        if (c != '\n')
            return scan_fail(s, "CR without LF");
        s->ln = s->cr_next;
        return PN_OK;
    case LN_END:
        break;
    }
    return scan_fail(s, "bytes after the head");
}

/* Check the head bytes at <p> (<n>): set *<k> to how many belong to the head
 * (all of them unless its end is among them). PN_ERR with s->why set. */
int
pn_http_scan_head(struct scan *s, const uint8_t *p, size_t n, size_t *k)
{
    size_t i = 0;
    while (i < n && s->ln != LN_END) {
        /* The runs of plain bytes, which line_byte() would only accept or
         * count one call each: field values and names, a request line's parts. */
        if (s->ln == LN_VALUE) {
            while (i < n && is_text(p[i]))
                i++;
        } else if (s->ln == LN_NAME) {
            while (i < n && is_tchar(p[i]))
                i++;
        } else if (s->ln == LN_LINE0 && s->request && (s->spaces < 2 || s->part >= 5)) {
            size_t j = i;
            while (j < n && p[j] > 0x20 && p[j] != 0x7f)
                j++;
            s->part += j - i;
            i = j;
        }
        if (i == n)
            break;
        if (line_byte(s, p[i]) != PN_OK)
            return PN_ERR;
        i++;
    }
    *k = i;
    return PN_OK;
}

/* One byte of a chunk size line: 1*HEXDIG [ (SP / ";") extensions ] CRLF,
 * the forms http-parser reads too. */
static int
size_byte(struct scan *s, uint8_t c)
{
    int v = hex_val(c);
    if (++s->line_len > SIZE_LINE_MAX)
        return scan_fail(s, "chunk size line too long");
    if (s->ck == CK_SIZE0) {
        if (v < 0)
            return scan_fail(s, "invalid chunk size");
        s->size = (uint64_t)v;
        s->ck = CK_SIZE;
    } else if (s->ck == CK_SIZE && v >= 0) {
        if (s->size > (UINT64_MAX >> 4))
            return scan_fail(s, "chunk size too large");
        s->size = s->size << 4 | (uint64_t)v;
    } else if (s->ck == CK_SIZE_LF) {
        if (c != '\n')
            return scan_fail(s, "CR without LF in chunk framing");
        s->ck = s->size == 0 ? CK_TRAILER : CK_DATA;
        s->ln = LN_BEGIN;
    } else if (s->ck == CK_SIZE && (c == ';' || c == ' ')) {
        s->ck = CK_EXT;
    } else if (c == '\r') {
        s->ck = CK_SIZE_LF;
    } else if (s->ck != CK_EXT || !is_text(c)) {
        return scan_fail(s, "invalid chunk size line");
    }
    return PN_OK;
}

/* One framing byte of a chunked body: the CRLF after data, a size line, or
 * the trailers and their final empty line. */
static int
chunk_byte(struct scan *s, uint8_t c)
{
    switch (s->ck) {
    case CK_DATA_CR:
        if (c != '\r')
            return scan_fail(s, "chunk data not followed by CRLF");
        s->ck = CK_DATA_LF;
        return PN_OK;
    case CK_DATA_LF:
        if (c != '\n')
            return scan_fail(s, "chunk data not followed by CRLF");
        s->ck = CK_SIZE0;
        s->line_len = 0;
        return PN_OK;
    case CK_TRAILER:
        if (++s->trailer_len > s->trailer_max)
            return scan_fail(s, "trailers too long");
        if (line_byte(s, c) != PN_OK)
            return PN_ERR;
        if (s->ln == LN_END)
            s->ck = CK_END;
        return PN_OK;
    default:
        return size_byte(s, c);
    }
}

/* Check the chunked body bytes at <p> (<n>): set *<k> to how many belong to
 * the message (all of them unless its end is among them). Chunk data is
 * skipped in one step, not byte by byte. */
int
pn_http_scan_chunked(struct scan *s, const uint8_t *p, size_t n, size_t *k)
{
    size_t i = 0;
    while (i < n && s->ck != CK_END) {
        if (s->ck == CK_DATA) {
            uint64_t d = n - i < s->size ? n - i : s->size;
            i += (size_t)d;
            s->size -= d;
            if (s->size == 0)
                s->ck = CK_DATA_CR;
            continue;
        }
        if (chunk_byte(s, p[i]) != PN_OK)
            return PN_ERR;
        i++;
    }
    *k = i;
    return PN_OK;
}
