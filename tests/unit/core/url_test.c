/* tests/unit/core/url_test.c: URL splitting, host:port splitting and
 * percent-decoding (core/url.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/url.h"

#define SECRET "s3cret"

/* ---- helpers ---- */

/* Parse <s>, which must succeed; the caller clears <u>. */
static void
parse_ok(const char *s, pn_url_t *u)
{
    char err[PN_ERR_LEN] = "";
    int rc = pn_url_parse(s, u, err);
    if (rc != PN_OK)
        fail_msg("pn_url_parse(\"%s\") failed: %s", s, err);
}

/* Parse <s>, which must fail with an error containing <needle> (may be NULL);
 * check the URL is left empty and that no secret leaks into the message. */
static void
parse_fails(const char *s, const char *needle)
{
    char err[PN_ERR_LEN];
    pn_url_t u;

    memset(err, 0, sizeof(err));
    memset(&u, 0xA5, sizeof(u));
    assert_int_equal(pn_url_parse(s, &u, err), PN_ERR);
    assert_true(err[0] != '\0');
    if (needle != NULL && strstr(err, needle) == NULL)
        fail_msg("error for \"%.60s\" is \"%s\", expected it to contain \"%s\"", s, err, needle);
    if (strstr(err, SECRET) != NULL)
        fail_msg("error for \"%.60s\" shows the key: \"%s\"", s, err);
    assert_null(u.scheme);
    assert_null(u.user);
    assert_null(u.host);
    assert_null(u.port);
    assert_null(u.path);
    assert_null(u.params);
    assert_int_equal(u.nparams, 0);
    pn_url_clear(&u);
}

/* ---- pn_url_parse: scheme, user, authority, path ---- */

static void
test_full_url(void **state)
{
    pn_url_t u;
    parse_ok("client://k3y@127.0.0.1:10101/127.0.0.1:8080,[::1]:8081?tls=1&log=debug", &u);
    assert_string_equal(u.scheme, "client");
    assert_string_equal(u.user, "k3y");
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "10101");
    assert_string_equal(u.path, "127.0.0.1:8080,[::1]:8081");
    assert_int_equal(u.nparams, 2);
    assert_string_equal(u.params[0].key, "tls");
    assert_string_equal(u.params[0].value, "1");
    assert_string_equal(u.params[1].key, "log");
    assert_string_equal(u.params[1].value, "debug");
    pn_url_clear(&u);
    assert_null(u.scheme);
    assert_null(u.params);
    assert_int_equal(u.nparams, 0);
}

static void
test_scheme_lowercased(void **state)
{
    pn_url_t u;
    parse_ok("SeRvEr://:80/x:1", &u);
    assert_string_equal(u.scheme, "server");
    pn_url_clear(&u);
}

static void
test_scheme_not_a_word(void **state)
{
    parse_fails("cl1ent://:80/x:1", "scheme");
    parse_fails("cli-ent://:80/x:1", "scheme");
}

static void
test_missing_separator(void **state)
{
    parse_fails("client:/:80/x:1", "url:");
    parse_fails("client:80", "url:");
    parse_fails("", "url:");
    parse_fails("://:80/x:1", "url:");   /* empty scheme */
}

static void
test_user_part(void **state)
{
    pn_url_t u;

    parse_ok("client://a%40b%2Fc%3Fd@:80/x:1", &u);
    assert_string_equal(u.user, "a@b/c?d");
    assert_string_equal(u.host, "");
    assert_string_equal(u.port, "80");
    pn_url_clear(&u);

    /* No '@': no user part. */
    parse_ok("client://:80/x:1", &u);
    assert_null(u.user);
    pn_url_clear(&u);

    /* An '@' in the path is not a user part. */
    parse_ok("client://h:80/u@x:1", &u);
    assert_null(u.user);
    assert_string_equal(u.host, "h");
    assert_string_equal(u.path, "u@x:1");
    pn_url_clear(&u);

    /* Empty user part before '@'. */
    parse_ok("client://@h:80", &u);
    assert_non_null(u.user);
    assert_string_equal(u.user, "");
    assert_string_equal(u.host, "h");
    pn_url_clear(&u);
}

static void
test_user_bad_escape(void **state)
{
    parse_fails("client://" SECRET "%zz@:80/x:1", "key");
    parse_fails("client://" SECRET "%00@:80/x:1", "key");
    parse_fails("client://" SECRET "%4@:80/x:1", "key");
}

static void
test_empty_host(void **state)
{
    pn_url_t u;
    parse_ok("server://:8080", &u);
    assert_string_equal(u.host, "");
    assert_string_equal(u.port, "8080");
    assert_null(u.path);
    assert_null(u.user);
    assert_int_equal(u.nparams, 0);
    assert_null(u.params);
    pn_url_clear(&u);
}

static void
test_ipv6_bracketed(void **state)
{
    pn_url_t u;
    parse_ok("client://[::1]:80/[fe80::1]:443", &u);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "80");
    assert_string_equal(u.path, "[fe80::1]:443");
    pn_url_clear(&u);
}

static void
test_ipv6_without_brackets_refused(void **state)
{
    parse_fails("client://::1:80/x:1", "brackets");
    parse_fails("client://fe80::1:80", "brackets");
}

static void
test_ipv6_malformed(void **state)
{
    parse_fails("client://[::1:80/x:1", "unterminated");
    parse_fails("client://[::1]/x:1", "expected");
    parse_fails("client://[::1]80/x:1", "expected");
}

static void
test_missing_port(void **state)
{
    parse_fails("client://127.0.0.1/127.0.0.1:80", "missing");
    parse_fails("client://127.0.0.1:/x:1", "missing port");
    parse_fails("client://127.0.0.1", "missing");
    parse_fails("client://[::1]:", "missing port");
}

static void
test_missing_authority(void **state)
{
    parse_fails("client://", "missing <host>:<port>");
    parse_fails("client:///x:1", "missing <host>:<port>");
    parse_fails("client://?tls=1", "missing <host>:<port>");
}

static void
test_non_numeric_port(void **state)
{
    parse_fails("client://h:http/x:1", "not a number");
    parse_fails("client://h:80a/x:1", "not a number");
    parse_fails("client://h:-1/x:1", "not a number");
    parse_fails("client://[::1]:8o/x:1", "not a number");
}

static void
test_path_present_absent(void **state)
{
    pn_url_t u;

    parse_ok("client://:80", &u);
    assert_null(u.path);
    pn_url_clear(&u);

    parse_ok("client://:80?tls=1", &u);
    assert_null(u.path);
    assert_int_equal(u.nparams, 1);
    pn_url_clear(&u);

    parse_ok("client://:80/", &u);
    assert_non_null(u.path);
    assert_string_equal(u.path, "");
    pn_url_clear(&u);

    parse_ok("client://:80/a:1,b:2?x=y", &u);
    assert_string_equal(u.path, "a:1,b:2");
    pn_url_clear(&u);

    /* Slashes after the first belong to the path. */
    parse_ok("master://:9090/api/v1", &u);
    assert_string_equal(u.scheme, "master");
    assert_string_equal(u.path, "api/v1");
    pn_url_clear(&u);
}

/* ---- query parameters ---- */

static void
test_query_order_and_last_wins(void **state)
{
    pn_url_t u;
    parse_ok("client://:80/x:1?b=1&a=2&b=3&c", &u);
    assert_int_equal(u.nparams, 4);
    assert_string_equal(u.params[0].key, "b");
    assert_string_equal(u.params[0].value, "1");
    assert_string_equal(u.params[1].key, "a");
    assert_string_equal(u.params[1].value, "2");
    assert_string_equal(u.params[2].key, "b");
    assert_string_equal(u.params[2].value, "3");
    assert_string_equal(u.params[3].key, "c");
    assert_string_equal(u.params[3].value, "");
    assert_string_equal(pn_url_param(&u, "b"), "3");
    assert_string_equal(pn_url_param(&u, "a"), "2");
    assert_string_equal(pn_url_param(&u, "c"), "");
    assert_null(pn_url_param(&u, "d"));
    assert_null(pn_url_param(&u, "B"));
    pn_url_clear(&u);
}

static void
test_query_empty_values_and_segments(void **state)
{
    pn_url_t u;
    parse_ok("client://:80/x:1?a=&&b=x=y&", &u);
    assert_int_equal(u.nparams, 2);
    assert_string_equal(u.params[0].key, "a");
    assert_string_equal(u.params[0].value, "");
    /* Only the first '=' separates; the rest is part of the value. */
    assert_string_equal(u.params[1].key, "b");
    assert_string_equal(u.params[1].value, "x=y");
    pn_url_clear(&u);

    parse_ok("client://:80/x:1?", &u);
    assert_int_equal(u.nparams, 0);
    pn_url_clear(&u);
}

static void
test_query_decoding(void **state)
{
    pn_url_t u;
    parse_ok("client://:80/x:1?sni=a+b%2Cc&crt=%2Fetc%2fc.pem&k%65y=v", &u);
    assert_string_equal(pn_url_param(&u, "sni"), "a b,c");
    assert_string_equal(pn_url_param(&u, "crt"), "/etc/c.pem");
    /* Keys are decoded too. */
    assert_string_equal(pn_url_param(&u, "key"), "v");
    assert_null(pn_url_param(&u, "k%65y"));
    pn_url_clear(&u);

    /* A '/' inside the query does not start a path. */
    parse_ok("client://:80?ca=/etc/ca.pem", &u);
    assert_null(u.path);
    assert_string_equal(pn_url_param(&u, "ca"), "/etc/ca.pem");
    pn_url_clear(&u);
}

static void
test_query_bad_escape(void **state)
{
    parse_fails("client://:80/x:1?a=%zz", "%-escape");
    parse_fails("client://:80/x:1?a=%4", "%-escape");
    parse_fails("client://:80/x:1?a=%", "%-escape");
    parse_fails("client://:80/x:1?%g1=v", "%-escape");
}

static void
test_query_nul_refused(void **state)
{
    parse_fails("client://:80/x:1?a=b%00c", "%-escape");
    parse_fails("client://:80/x:1?a%00=b", "%-escape");
}

static void
test_query_empty_key_refused(void **state)
{
    parse_fails("client://:80/x:1?=1", "empty name");
    parse_fails("client://:80/x:1?a=1&=2", "empty name");
    parse_fails("client://:80/x:1?=", "empty name");
}

/* ---- length limit ---- */

static char *
url_of_length(size_t total)
{
    static const char head[] = "client://:80/x:1?p=";
    char *s = malloc(total + 1);
    assert_non_null(s);
    assert_true(total > sizeof(head));
    memcpy(s, head, sizeof(head) - 1);
    memset(s + sizeof(head) - 1, 'a', total - (sizeof(head) - 1));
    s[total] = '\0';
    return s;
}

static void
test_overlong_refused(void **state)
{
    pn_url_t u;
    char *s = url_of_length(8192);
    parse_ok(s, &u);
    assert_int_equal(strlen(pn_url_param(&u, "p")), 8192 - strlen("client://:80/x:1?p="));
    pn_url_clear(&u);
    free(s);

    s = url_of_length(8193);
    parse_fails(s, "longer than 8192");
    free(s);

    s = url_of_length(100000);
    parse_fails(s, "longer than");
    free(s);
}

/* ---- the key never appears in an error ---- */

static void
test_key_never_in_error(void **state)
{
    static const char *const bad[] = {
        "client://" SECRET "@",
        "client://" SECRET "@/x:1",
        "client://" SECRET "@host/x:1",
        "client://" SECRET "@host:/x:1",
        "client://" SECRET "@host:abc/x:1",
        "client://" SECRET "@::1:80/x:1",
        "client://" SECRET "@[::1/x:1",
        "client://" SECRET "@[::1]/x:1",
        "client://" SECRET "@:80/x:1?=1",
        "client://" SECRET "@:80/x:1?a=%zz",
        "client://" SECRET "@:80/x:1?a=%00",
        "cl1ent://" SECRET "@:80/x:1",
        "client:/" SECRET "@:80/x:1",
        SECRET "@:80/x:1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_fails(bad[i], NULL);
}

/* A mistyped separator with a later "://" (here inside a parameter value)
 * makes everything before that later "://" the "scheme"; its error must still
 * not echo the key. */
static void
test_key_never_in_error_mistyped_separator(void **state)
{
    parse_fails("client:/" SECRET "@:80/x:1?ca=file://ca.pem", NULL);
    parse_fails("client//" SECRET "@:80/x:1?sni=http://h", NULL);
}

/* ---- pn_hostport_split ---- */

static void
split_ok(const char *s, const char *want_host, const char *want_port)
{
    char err[PN_ERR_LEN] = "";
    char *host = (char *)"unset", *port = (char *)"unset";
    if (pn_hostport_split(s, &host, &port, err) != PN_OK)
        fail_msg("pn_hostport_split(\"%s\") failed: %s", s, err);
    assert_string_equal(host, want_host);
    assert_string_equal(port, want_port);
    free(host);
    free(port);
}

static void
split_fails(const char *s, const char *needle)
{
    char err[PN_ERR_LEN] = "";
    char *host = (char *)"unset", *port = (char *)"unset";
    assert_int_equal(pn_hostport_split(s, &host, &port, err), PN_ERR);
    assert_null(host);
    assert_null(port);
    if (strstr(err, needle) == NULL)
        fail_msg("error for \"%s\" is \"%s\", expected \"%s\"", s, err, needle);
}

static void
test_hostport_split_ok(void **state)
{
    split_ok("127.0.0.1:80", "127.0.0.1", "80");
    split_ok("example.com:65535", "example.com", "65535");
    split_ok(":8080", "", "8080");
    split_ok("[::1]:80", "::1", "80");
    split_ok("[]:80", "", "80");
    split_ok("[fe80::1%eth0]:443", "fe80::1%eth0", "443");
    /* Range is config.c's business: digits are all that is checked here. */
    split_ok("h:0", "h", "0");
    split_ok("h:99999", "h", "99999");
}

static void
test_hostport_split_errors(void **state)
{
    split_fails("127.0.0.1", "missing \":<port>\"");
    split_fails("", "missing \":<port>\"");
    split_fails("h:", "missing port");
    split_fails(":", "missing port");
    split_fails("h:8o", "not a number");
    split_fails("h: 80", "not a number");
    split_fails("::1:80", "brackets");
    split_fails("a:b:80", "brackets");
    split_fails("[::1:80", "unterminated");
    split_fails("[::1]", "expected");
    split_fails("[::1]x:80", "expected");
    split_fails("[::1]:", "missing port");
    split_fails("[::1]:http", "not a number");
}

/* ---- pn_percent_decode ---- */

static void
decode_ok(const char *in, const char *want)
{
    char buf[128];
    assert_true(strlen(in) < sizeof(buf));
    strcpy(buf, in);
    assert_int_equal(pn_percent_decode(buf), PN_OK);
    assert_string_equal(buf, want);
}

static void
decode_fails(const char *in)
{
    char buf[128];
    assert_true(strlen(in) < sizeof(buf));
    strcpy(buf, in);
    if (pn_percent_decode(buf) != PN_ERR)
        fail_msg("pn_percent_decode(\"%s\") accepted it", in);
}

static void
test_percent_decode(void **state)
{
    decode_ok("", "");
    decode_ok("plain", "plain");
    decode_ok("a+b", "a b");
    decode_ok("%41%42%43", "ABC");
    decode_ok("%2f%2F", "//");
    decode_ok("%aA%Bb", "\xaa\xbb");
    decode_ok("%25", "%");
    decode_ok("%2B+", "+ ");
    decode_ok("x%20y%7e", "x y~");
    decode_ok("%ff", "\xff");
    decode_ok("%01", "\x01");

    decode_fails("%");
    decode_fails("%4");
    decode_fails("abc%");
    decode_fails("%zz");
    decode_fails("%4g");
    decode_fails("%g4");
    decode_fails("% 1");
    decode_fails("%00");
    decode_fails("a%00b");
}

static void
test_mask_key(void **state)
{
    (void)state;
    char out[64];
    pn_url_mask_key("server://s3cret@:10101/:80?tls=1", out, sizeof(out));
    assert_string_equal(out, "server://***@:10101/:80?tls=1");
    /* The last '@' of the authority ends the key, as the parser reads it. */
    pn_url_mask_key("client://a@b#c@host:1/t:2", out, sizeof(out));
    assert_string_equal(out, "client://***@host:1/t:2");
    /* No key, or an '@' only after the authority: unchanged. */
    pn_url_mask_key("client://:8080/127.0.0.1:80", out, sizeof(out));
    assert_string_equal(out, "client://:8080/127.0.0.1:80");
    pn_url_mask_key("client://:8080/h:80?sni=a@b", out, sizeof(out));
    assert_string_equal(out, "client://:8080/h:80?sni=a@b");
    pn_url_mask_key("not a url@all", out, sizeof(out));
    assert_string_equal(out, "not a url@all");
    /* Cut to the buffer, never past it, and the key is never what is cut in. */
    char small[12];
    pn_url_mask_key("server://s3cret@:10101/:80", small, sizeof(small));
    assert_string_equal(small, "server://**");
    pn_url_mask_key("x", small, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_url),
        cmocka_unit_test(test_scheme_lowercased),
        cmocka_unit_test(test_scheme_not_a_word),
        cmocka_unit_test(test_missing_separator),
        cmocka_unit_test(test_user_part),
        cmocka_unit_test(test_user_bad_escape),
        cmocka_unit_test(test_empty_host),
        cmocka_unit_test(test_ipv6_bracketed),
        cmocka_unit_test(test_ipv6_without_brackets_refused),
        cmocka_unit_test(test_ipv6_malformed),
        cmocka_unit_test(test_missing_port),
        cmocka_unit_test(test_missing_authority),
        cmocka_unit_test(test_non_numeric_port),
        cmocka_unit_test(test_path_present_absent),
        cmocka_unit_test(test_query_order_and_last_wins),
        cmocka_unit_test(test_query_empty_values_and_segments),
        cmocka_unit_test(test_query_decoding),
        cmocka_unit_test(test_query_bad_escape),
        cmocka_unit_test(test_query_nul_refused),
        cmocka_unit_test(test_query_empty_key_refused),
        cmocka_unit_test(test_overlong_refused),
        cmocka_unit_test(test_key_never_in_error),
        cmocka_unit_test(test_key_never_in_error_mistyped_separator),
        cmocka_unit_test(test_hostport_split_ok),
        cmocka_unit_test(test_hostport_split_errors),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_mask_key),
    };
    return cmocka_run_group_tests_name("core/url", tests, NULL, NULL);
}
