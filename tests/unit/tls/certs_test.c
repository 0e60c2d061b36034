/* tests/unit/tls/certs_test.c: the certificate folder (tls/certs.h): name
 * matching (a table), pairs found by name (exact before wildcard), a lone
 * .crt ignored, a bad pair refused at start and kept over at a reload. */
#include "tls/certs.h"
#include "tls/tls.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static void
test_name_match(void **state)
{
    static const struct { const char *pat, *name; int want; } cases[] = {
        { "app.example.com", "app.example.com", 1 },
        { "App.Example.COM", "app.example.com", 1 },
        { "app.example.com", "api.example.com", 0 },
        { "*.example.com", "a.example.com", 1 },
        { "*.Example.com", "b.example.com", 1 },
        { "*.example.com", "example.com", 0 },
        { "*.example.com", "a.b.example.com", 0 },
        { "*.example.com", ".example.com", 0 },
        { "*.example.com", "aexample.com", 0 },
        { "*.com", "com", 0 },
        { "*.example.com", "a.example.com.", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(pn_tls_name_match(cases[i].pat, cases[i].name), cases[i].want);
}

/* Write <dir>/<base>.crt and .key: a self-signed P-256 certificate for <san>. */
static void
write_pair(const char *dir, const char *base, const char *san, int with_key)
{
    char path[512];
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(k);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"test", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    assert_non_null(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    snprintf(path, sizeof(path), "%s/%s.crt", dir, base);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    if (with_key) {
        snprintf(path, sizeof(path), "%s/%s.key", dir, base);
        f = fopen(path, "w");
        assert_non_null(f);
        PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
        fclose(f);
    }
    X509_free(x);
    EVP_PKEY_free(k);
}

/* The DNS name the certificate <c> would serve to <name> starts with, or "". */
static void
served(pn_tls_certs_t *c, const char *name, char *out, size_t cap)
{
    SSL *ssl = pn_tls_certs_ssl(c, name);
    out[0] = '\0';
    if (ssl == NULL)
        return;
    X509 *x = SSL_get_certificate(ssl);
    GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    const GENERAL_NAME *n = sk_GENERAL_NAME_value(g, 0);
    snprintf(out, cap, "%.*s", ASN1_STRING_length(n->d.dNSName),
             (const char *)ASN1_STRING_get0_data(n->d.dNSName));
    GENERAL_NAMES_free(g);
    SSL_free(ssl);
}

static void
rm_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_folder(void **state)
{
    char dir[] = "/tmp/pn_certs_XXXXXX", err[PN_ERR_LEN], got[256];
    assert_non_null(mkdtemp(dir));
    write_pair(dir, "wild", "DNS:*.example.com", 1);
    write_pair(dir, "app", "DNS:app.example.com,DNS:www.example.com", 1);
    write_pair(dir, "lone", "DNS:lone.example.org", 0);     /* no key: not a pair */
    pn_tls_certs_t *c = pn_tls_certs_new(dir, 3600000, err);
    assert_non_null(c);
    assert_int_equal(pn_tls_certs_count(c), 2);
    served(c, "app.example.com", got, sizeof(got));
    assert_string_equal(got, "app.example.com");             /* exact beats the wildcard */
    served(c, "www.example.com", got, sizeof(got));
    assert_string_equal(got, "app.example.com");
    served(c, "other.example.com", got, sizeof(got));
    assert_string_equal(got, "*.example.com");
    assert_null(pn_tls_certs_ssl(c, "a.b.example.com"));
    assert_null(pn_tls_certs_ssl(c, "lone.example.org"));
    assert_int_equal(pn_tls_certs_has(c, "x.example.com"), 1);

    /* A pair broken on disk keeps its previous certificate at a reload. */
    char path[600];
    snprintf(path, sizeof(path), "%s/app.key", dir);
    FILE *f = fopen(path, "w");
    fputs("not a key\n", f);
    fclose(f);
    pn_tls_certs_reload(c);
    served(c, "app.example.com", got, sizeof(got));
    assert_string_equal(got, "app.example.com");
    /* A removed pair goes, an added one comes. */
    snprintf(path, sizeof(path), "%s/wild.crt", dir);
    assert_int_equal(unlink(path), 0);
    write_pair(dir, "lone", "DNS:lone.example.org", 1);
    pn_tls_certs_reload(c);
    assert_null(pn_tls_certs_ssl(c, "other.example.com"));
    served(c, "lone.example.org", got, sizeof(got));
    assert_string_equal(got, "lone.example.org");
    pn_tls_certs_free(c);
    assert_null(c);

    /* At start a broken pair is an error naming the file. */
    assert_null(pn_tls_certs_new(dir, 1000, err));
    assert_non_null(strstr(err, "app.key"));
    rm_dir(dir);
    assert_null(pn_tls_certs_new(dir, 1000, err));
    assert_non_null(strstr(err, "cannot read the folder"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_match),
        cmocka_unit_test(test_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
