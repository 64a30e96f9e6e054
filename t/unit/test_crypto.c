
/*
 * Unit tests for src/ngx_http_securechat_crypto.c: the client public key
 * intake (ngx_http_securechat_client_key_import) and the server key
 * helpers.  Every refused kind of key has its own test.  Keys are made at
 * run time with OpenSSL, except one fixed key whose id was computed with
 * the openssl command line, independently of this code.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_token.h"


#define T_PEM_MAX  8192

/*
 * openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048;
 * openssl pkey -pubout; the id from
 * openssl pkey -pubout -outform DER | openssl dgst -sha256 -binary | base64
 */
#define T_FIXED_PEM                                                          \
    "-----BEGIN PUBLIC KEY-----\n"                                           \
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxeWq5TzWnG4nrgr5EvIq\n"     \
    "p2rOlHmh8GA3oiU37zu6+9/CbrCuC2xIH+uINwrMDSXwzO7WOgQns2FMo4XWuYfv\n"     \
    "kJqNXxPpnhcIVvQva3MqLAthkYT9/nZAuRlj9rd3WoM5tIKX7CczIerFJ27kaQsO\n"     \
    "OKAXIUr7+SsP4JFEfhECUh0btN4jutjyxUN+rVbCQp7hrC1SEPU5DUbxhmCwHvqt\n"     \
    "bYfa6yWWHeQWcS27T0/vdi4zKxV7Fr7mm0Z/vu1p/QmN2luUpkAiDvTdlrq1cio9\n"     \
    "ck/itvpsbV79+sjemNIqJfQ5XxRzRQMSzLsXgIyyIEWE0KlqVzjImYwpEvlM6dE+\n"     \
    "MQIDAQAB\n"                                                             \
    "-----END PUBLIC KEY-----\n"
#define T_FIXED_ID    "yH2IxIZAwP8d-Gb6VXxv5OW1L_paDLhV_vxrmJKSJ1s"

#define T_FIXED_BODY                                                         \
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxeWq5TzWnG4nrgr5EvIq"       \
    "p2rOlHmh8GA3oiU37zu6+9/CbrCuC2xIH+uINwrMDSXwzO7WOgQns2FMo4XWuYfv"       \
    "kJqNXxPpnhcIVvQva3MqLAthkYT9/nZAuRlj9rd3WoM5tIKX7CczIerFJ27kaQsO"       \
    "OKAXIUr7+SsP4JFEfhECUh0btN4jutjyxUN+rVbCQp7hrC1SEPU5DUbxhmCwHvqt"       \
    "bYfa6yWWHeQWcS27T0/vdi4zKxV7Fr7mm0Z/vu1p/QmN2luUpkAiDvTdlrq1cio9"       \
    "ck/itvpsbV79+sjemNIqJfQ5XxRzRQMSzLsXgIyyIEWE0KlqVzjImYwpEvlM6dE+"       \
    "MQIDAQAB"


typedef struct {
    EVP_PKEY  *rsa2048;
    EVP_PKEY  *rsa4096;
    EVP_PKEY  *rsa1024;
} t_keys_t;


static EVP_PKEY *t_keygen(const char *alg, size_t bits);
static EVP_PKEY *t_keygen_pss(size_t bits);
static EVP_PKEY *t_from_ne(const char *type, const BIGNUM *n,
    unsigned long e);
static EVP_PKEY *t_rsa_e(EVP_PKEY *like, unsigned long e);
static EVP_PKEY *t_rsa_random_n(int bits);
static size_t t_pem_pub(EVP_PKEY *pkey, char *out);
static size_t t_pem_bio(BIO *bio, char *out);
static size_t t_pem_wrap(const char *label, const unsigned char *der,
    size_t der_len, size_t width, char *out);
static size_t t_der_pub(EVP_PKEY *pkey, unsigned char *out);
static int t_import(const char *pem, size_t len, const char **why);
static void t_refused(const char *pem, size_t len, const char *want);
static void t_accepted(EVP_PKEY *pkey, const char *pem, size_t len);

static int t_setup(void **state);
static int t_teardown(void **state);

static void test_fixed_key_id(void **state);
static void test_accept_rsa_sizes(void **state);
static void test_accept_layouts(void **state);
static void test_refuse_garbage(void **state);
static void test_refuse_empty(void **state);
static void test_refuse_truncated(void **state);
static void test_refuse_trailing(void **state);
static void test_refuse_leading(void **state);
static void test_refuse_two_keys(void **state);
static void test_refuse_private_pkcs8(void **state);
static void test_refuse_private_traditional(void **state);
static void test_refuse_private_encrypted(void **state);
static void test_refuse_ec(void **state);
static void test_refuse_ed25519(void **state);
static void test_refuse_x25519(void **state);
static void test_refuse_dsa(void **state);
static void test_refuse_rsa_pss(void **state);
static void test_refuse_rsa1024(void **state);
static void test_refuse_rsa_just_over(void **state);
static void test_refuse_rsa8192(void **state);
static void test_refuse_e3(void **state);
static void test_refuse_e_huge(void **state);
static void test_refuse_certificate(void **state);
static void test_refuse_rsa_public_key(void **state);
static void test_refuse_other_label(void **state);
static void test_refuse_pem_headers(void **state);
static void test_refuse_bad_base64(void **state);
static void test_refuse_der_trailing(void **state);
static void test_refuse_der_noncanonical(void **state);
static void test_refuse_even_modulus(void **state);
static void test_why_has_no_key_material(void **state);
static void test_server_key_helpers(void **state);


static EVP_PKEY *
t_keygen(const char *alg, size_t bits)
{
    EVP_PKEY  *pkey;

    if (strcmp(alg, "RSA") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, alg, bits);

    } else if (strcmp(alg, "RSA-PSS") == 0) {
        pkey = t_keygen_pss(bits);

    } else if (strcmp(alg, "EC") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, alg, "P-256");

    } else {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, alg);
    }

    assert_non_null(pkey);

    return pkey;
}


/* RSA-PSS with its parameters (SHA-256) in the SPKI, as OpenSSL makes it */

static EVP_PKEY *
t_keygen_pss(size_t bits)
{
    EVP_PKEY      *pkey;
    OSSL_PARAM     params[3];
    EVP_PKEY_CTX  *ctx;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);

    params[0] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_RSA_DIGEST,
                                                 (char *) "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    assert_int_equal(EVP_PKEY_CTX_set_params(ctx, params), 1);

    pkey = NULL;
    assert_int_equal(EVP_PKEY_generate(ctx, &pkey), 1);
    EVP_PKEY_CTX_free(ctx);

    return pkey;
}


/* a public key from a modulus and exponent: sizes keygen cannot reach fast */

static EVP_PKEY *
t_from_ne(const char *type, const BIGNUM *n, unsigned long e)
{
    BIGNUM          *be;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    OSSL_PARAM_BLD  *bld;

    be = BN_new();
    assert_non_null(be);
    assert_int_equal(BN_set_word(be, e), 1);

    bld = OSSL_PARAM_BLD_new();
    assert_non_null(bld);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n),
                     1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be),
                     1);
    params = OSSL_PARAM_BLD_to_param(bld);
    assert_non_null(params);

    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);

    pkey = NULL;
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY,
                                       params), 1);

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(be);

    return pkey;
}


static EVP_PKEY *
t_rsa_e(EVP_PKEY *like, unsigned long e)
{
    BIGNUM    *n;
    EVP_PKEY  *pkey;

    n = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(like, OSSL_PKEY_PARAM_RSA_N, &n),
                     1);
    pkey = t_from_ne("RSA", n, e);
    BN_free(n);

    return pkey;
}


static EVP_PKEY *
t_rsa_random_n(int bits)
{
    BIGNUM    *n;
    EVP_PKEY  *pkey;

    n = BN_new();
    assert_non_null(n);
    assert_int_equal(BN_rand(n, bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD),
                     1);
    pkey = t_from_ne("RSA", n, 65537);
    BN_free(n);

    return pkey;
}


static size_t
t_pem_bio(BIO *bio, char *out)
{
    long   len;
    char  *data;

    len = BIO_get_mem_data(bio, &data);
    assert_true(len > 0 && len < T_PEM_MAX);
    memcpy(out, data, len);
    out[len] = '\0';
    BIO_free(bio);

    return (size_t) len;
}


static size_t
t_pem_pub(EVP_PKEY *pkey, char *out)
{
    BIO  *bio;

    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);

    return t_pem_bio(bio, out);
}


/* PEM of arbitrary bytes under any label, base64 lines of `width` */

static size_t
t_pem_wrap(const char *label, const unsigned char *der, size_t der_len,
    size_t width, char *out)
{
    int     n;
    size_t  len, i;
    char    b64[T_PEM_MAX];

    n = EVP_EncodeBlock((unsigned char *) b64, der, (int) der_len);
    assert_true(n > 0);

    len = sprintf(out, "-----BEGIN %s-----\n", label);

    for (i = 0; i < (size_t) n; i += width) {
        len += sprintf(out + len, "%.*s\n",
                       (int) ((size_t) n - i < width ? (size_t) n - i
                                                     : width),
                       b64 + i);
    }

    len += sprintf(out + len, "-----END %s-----\n", label);

    return len;
}


static size_t
t_der_pub(EVP_PKEY *pkey, unsigned char *out)
{
    int             n;
    unsigned char  *p;

    p = out;
    n = i2d_PUBKEY(pkey, &p);
    assert_true(n > 0 && n < T_PEM_MAX);

    return (size_t) n;
}


static int
t_import(const char *pem, size_t len, const char **why)
{
    size_t         der_len;
    unsigned char  der[NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX];
    unsigned char  id[NGX_HTTP_SECURECHAT_KEY_ID_LEN];

    *why = NULL;

    return ngx_http_securechat_client_key_import((const unsigned char *) pem,
                                                 len, der, &der_len, id, why);
}


/* refused, with a reason that contains `want` */

static void
t_refused(const char *pem, size_t len, const char *want)
{
    const char  *why;

    assert_int_equal(t_import(pem, len, &why), -1);
    assert_non_null(why);

    if (strstr(why, want) == NULL) {
        fail_msg("reason \"%s\" does not mention \"%s\"", why, want);
    }

    /* nothing left on the OpenSSL error queue for the caller to trip on */
    assert_int_equal(ERR_peek_error(), 0);
}


static void
t_accepted(EVP_PKEY *pkey, const char *pem, size_t len)
{
    size_t          der_len, want_len;
    const char     *why;
    unsigned int    md_len;
    unsigned char   der[NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX + 1];
    unsigned char   want[T_PEM_MAX], md[EVP_MAX_MD_SIZE];
    unsigned char   id[NGX_HTTP_SECURECHAT_KEY_ID_LEN + 1];
    unsigned char   want_id[NGX_HTTP_SECURECHAT_KEY_ID_LEN + 1];

    why = NULL;
    memset(der, 0xaa, sizeof(der));
    memset(id, 0xaa, sizeof(id));

    if (ngx_http_securechat_client_key_import((const unsigned char *) pem,
                                              len, der, &der_len, id, &why)
        != 0)
    {
        fail_msg("refused: %s", why);
    }

    want_len = t_der_pub(pkey, want);
    assert_int_equal(der_len, want_len);
    assert_memory_equal(der, want, want_len);
    assert_int_equal(der[NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX], 0xaa);

    assert_int_equal(EVP_Digest(want, want_len, md, &md_len, EVP_sha256(),
                                NULL), 1);
    ngx_http_securechat_base64url_encode(want_id, md, md_len);
    assert_memory_equal(id, want_id, NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    assert_int_equal(id[NGX_HTTP_SECURECHAT_KEY_ID_LEN], 0xaa);
}


static int
t_setup(void **state)
{
    t_keys_t  *k;

    k = calloc(1, sizeof(t_keys_t));
    assert_non_null(k);

    k->rsa2048 = t_keygen("RSA", 2048);
    k->rsa4096 = t_keygen("RSA", 4096);
    k->rsa1024 = t_keygen("RSA", 1024);

    *state = k;

    return 0;
}


static int
t_teardown(void **state)
{
    t_keys_t  *k;

    k = *state;

    EVP_PKEY_free(k->rsa2048);
    EVP_PKEY_free(k->rsa4096);
    EVP_PKEY_free(k->rsa1024);
    free(k);

    return 0;
}


static void
test_fixed_key_id(void **state)
{
    size_t          der_len;
    const char     *why;
    unsigned char   der[NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX];
    unsigned char   id[NGX_HTTP_SECURECHAT_KEY_ID_LEN];

    why = NULL;

    assert_int_equal(ngx_http_securechat_client_key_import(
                         (const unsigned char *) T_FIXED_PEM,
                         sizeof(T_FIXED_PEM) - 1, der, &der_len, id, &why),
                     0);
    assert_int_equal(der_len, 294);
    assert_memory_equal(id, T_FIXED_ID, NGX_HTTP_SECURECHAT_KEY_ID_LEN);

    assert_int_equal(ngx_http_securechat_crypto_der_key_id(der, der_len, id),
                     0);
    assert_memory_equal(id, T_FIXED_ID, NGX_HTTP_SECURECHAT_KEY_ID_LEN);
}


static void
test_accept_rsa_sizes(void **state)
{
    t_keys_t  *k;
    EVP_PKEY  *pkey;
    size_t     len;
    char       pem[T_PEM_MAX];

    k = *state;

    len = t_pem_pub(k->rsa2048, pem);
    t_accepted(k->rsa2048, pem, len);

    len = t_pem_pub(k->rsa4096, pem);
    t_accepted(k->rsa4096, pem, len);

    pkey = t_keygen("RSA", 3072);
    len = t_pem_pub(pkey, pem);
    t_accepted(pkey, pem, len);
    EVP_PKEY_free(pkey);
}


/* what real clients send: CRLF, one long line, no final newline, blanks */

static void
test_accept_layouts(void **state)
{
    t_keys_t       *k;
    size_t          der_len, len;
    char            pem[T_PEM_MAX], crlf[T_PEM_MAX];
    unsigned char   der[T_PEM_MAX];
    size_t          i, j;

    k = *state;
    der_len = t_der_pub(k->rsa2048, der);

    /* WebCrypto's exportKey("spki") wrapped at 64 columns, as documented */
    len = t_pem_wrap("PUBLIC KEY", der, der_len, 64, pem);
    t_accepted(k->rsa2048, pem, len);

    len = t_pem_wrap("PUBLIC KEY", der, der_len, 76, pem);
    t_accepted(k->rsa2048, pem, len);

    len = t_pem_wrap("PUBLIC KEY", der, der_len, 100000, pem);
    t_accepted(k->rsa2048, pem, len);

    /* no final newline */
    len = t_pem_wrap("PUBLIC KEY", der, der_len, 64, pem);
    t_accepted(k->rsa2048, pem, len - 1);

    /* CRLF throughout */
    for (i = 0, j = 0; i < len; i++) {
        if (pem[i] == '\n') {
            crlf[j++] = '\r';
        }

        crlf[j++] = pem[i];
    }

    t_accepted(k->rsa2048, crlf, j);

    /* whitespace before and after */
    len = snprintf(crlf, sizeof(crlf), " \n\t%s\n\n  \t\r\n", pem);
    t_accepted(k->rsa2048, crlf, len);

    /*
     * padding: the 2048-bit SPKI is 294 bytes (98 * 3), no padding; the
     * 4096-bit one is 550 bytes, two padding characters
     */
    der_len = t_der_pub(k->rsa4096, der);
    len = t_pem_wrap("PUBLIC KEY", der, der_len, 64, pem);
    assert_non_null(strstr(pem, "==\n"));
    t_accepted(k->rsa4096, pem, len);
}


static void
test_refuse_garbage(void **state)
{
    unsigned char  buf[512];

    t_refused("this is not a key", 17, "not in PEM form");
    t_refused("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", 32, "not in PEM form");

    assert_int_equal(RAND_bytes(buf, sizeof(buf)), 1);
    t_refused((const char *) buf, sizeof(buf), "");

    /* a NUL inside the body */
    t_refused("-----BEGIN PUBLIC KEY-----\nMIIB\0IjAN\n"
              "-----END PUBLIC KEY-----\n", 59, "not base64");
}


static void
test_refuse_empty(void **state)
{
    t_refused("", 0, "empty");
    t_refused(" \r\n\t\n", 5, "empty");
    t_refused("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
              51, "empty");
}


static void
test_refuse_truncated(void **state)
{
    char    pem[] = T_FIXED_PEM;
    size_t  len;

    len = sizeof(T_FIXED_PEM) - 1;

    /* cut in the body: no END line */
    t_refused(pem, len / 2, "truncated");

    /* cut inside the END line */
    t_refused(pem, len - 5, "truncated");

    /* only the BEGIN line */
    t_refused(pem, 27, "truncated");

    /* a whole line of the body missing: valid base64, invalid DER */
    memmove(pem + 27 + 65, pem + 27 + 130, len - (27 + 130) + 1);
    t_refused(pem, strlen(pem), "SubjectPublicKeyInfo");
}


static void
test_refuse_trailing(void **state)
{
    t_refused(T_FIXED_PEM "x", sizeof(T_FIXED_PEM), "after");
    t_refused(T_FIXED_PEM "\n\n# comment\n", sizeof(T_FIXED_PEM) + 11,
              "after");
    t_refused(T_FIXED_PEM "\0", sizeof(T_FIXED_PEM), "after");
    t_refused(T_FIXED_PEM " -", sizeof(T_FIXED_PEM) + 1, "more than one");
}


static void
test_refuse_leading(void **state)
{
    t_refused("key:\n" T_FIXED_PEM, sizeof(T_FIXED_PEM) + 4,
              "not in PEM form");
}


static void
test_refuse_two_keys(void **state)
{
    t_keys_t  *k;
    size_t     len;
    char       pem[T_PEM_MAX];

    k = *state;

    len = sprintf(pem, "%s", T_FIXED_PEM);
    len += t_pem_pub(k->rsa2048, pem + len);

    t_refused(pem, len, "more than one");

    /* the same key twice */
    t_refused(T_FIXED_PEM T_FIXED_PEM, 2 * (sizeof(T_FIXED_PEM) - 1),
              "more than one");
}


static void
test_refuse_private_pkcs8(void **state)
{
    t_keys_t  *k;
    BIO       *bio;
    size_t     len;
    char       pem[T_PEM_MAX];

    k = *state;

    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, k->rsa2048, NULL, NULL, 0,
                                              NULL, NULL), 1);
    len = t_pem_bio(bio, pem);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));

    t_refused(pem, len, "private key");
}


static void
test_refuse_private_traditional(void **state)
{
    t_keys_t  *k;
    BIO       *bio;
    size_t     len;
    char       pem[T_PEM_MAX];

    k = *state;

    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, k->rsa2048,
                                                          NULL, NULL, 0,
                                                          NULL, NULL), 1);
    len = t_pem_bio(bio, pem);
    assert_non_null(strstr(pem, "-----BEGIN RSA PRIVATE KEY-----"));

    t_refused(pem, len, "private key");

    /* a public key followed by its private key is refused as two blocks */
    memmove(pem + sizeof(T_FIXED_PEM) - 1, pem, len + 1);
    memcpy(pem, T_FIXED_PEM, sizeof(T_FIXED_PEM) - 1);
    t_refused(pem, strlen(pem), "more than one");
}


static void
test_refuse_private_encrypted(void **state)
{
    t_keys_t  *k;
    BIO       *bio;
    size_t     len;
    char       pem[T_PEM_MAX];

    k = *state;

    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, k->rsa2048,
                                                   EVP_aes_256_cbc(),
                                                   "secret", 6, NULL, NULL),
                     1);
    len = t_pem_bio(bio, pem);
    assert_non_null(strstr(pem, "ENCRYPTED PRIVATE KEY"));

    t_refused(pem, len, "private key");
}


static void
test_refuse_ec(void **state)
{
    EVP_PKEY  *pkey;
    size_t     len;
    char       pem[T_PEM_MAX];

    pkey = t_keygen("EC", 0);
    len = t_pem_pub(pkey, pem);
    EVP_PKEY_free(pkey);

    t_refused(pem, len, "EC keys are not accepted");
}


static void
test_refuse_ed25519(void **state)
{
    EVP_PKEY  *pkey;
    size_t     len;
    char       pem[T_PEM_MAX];

    pkey = t_keygen("ED25519", 0);
    len = t_pem_pub(pkey, pem);
    EVP_PKEY_free(pkey);

    t_refused(pem, len, "curve keys are not accepted");
}


static void
test_refuse_x25519(void **state)
{
    EVP_PKEY  *pkey;
    size_t     len;
    char       pem[T_PEM_MAX];

    pkey = t_keygen("X25519", 0);
    len = t_pem_pub(pkey, pem);
    EVP_PKEY_free(pkey);

    t_refused(pem, len, "curve keys are not accepted");
}


/* DSA parameter generation is slow; any well-formed DSA SPKI will do */

static void
test_refuse_dsa(void **state)
{
    BIGNUM          *p, *q, *g, *y;
    EVP_PKEY        *pkey;
    size_t           len;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    OSSL_PARAM_BLD  *bld;
    char             pem[T_PEM_MAX];

    p = BN_new();
    q = BN_new();
    g = BN_new();
    y = BN_new();
    assert_true(p != NULL && q != NULL && g != NULL && y != NULL);
    assert_int_equal(BN_rand(p, 2048, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD),
                     1);
    assert_int_equal(BN_rand(q, 256, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD), 1);
    assert_int_equal(BN_set_word(g, 2), 1);
    assert_int_equal(BN_rand(y, 2040, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY),
                     1);

    bld = OSSL_PARAM_BLD_new();
    assert_non_null(bld);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, p), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_Q, q), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, g), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, y),
                     1);
    params = OSSL_PARAM_BLD_to_param(bld);
    assert_non_null(params);

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    pkey = NULL;
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY,
                                       params), 1);

    len = t_pem_pub(pkey, pem);
    t_refused(pem, len, "DSA keys are not accepted");

    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(p);
    BN_free(q);
    BN_free(g);
    BN_free(y);
}


static void
test_refuse_rsa_pss(void **state)
{
    BIGNUM    *n;
    t_keys_t  *k;
    EVP_PKEY  *pkey;
    size_t     len;
    char       pem[T_PEM_MAX];

    k = *state;

    /* the same modulus under the id-RSASSA-PSS algorithm identifier */
    n = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k->rsa2048, OSSL_PKEY_PARAM_RSA_N,
                                           &n), 1);
    pkey = t_from_ne("RSA-PSS", n, 65537);
    BN_free(n);

    len = t_pem_pub(pkey, pem);
    EVP_PKEY_free(pkey);
    assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));

    t_refused(pem, len, "RSA-PSS-restricted");

    /* and one made by keygen, with PSS parameters in the SPKI */
    pkey = t_keygen("RSA-PSS", 2048);
    len = t_pem_pub(pkey, pem);
    EVP_PKEY_free(pkey);

    t_refused(pem, len, "RSA-PSS-restricted");
}


static void
test_refuse_rsa1024(void **state)
{
    t_keys_t  *k;
    size_t     len;
    char       pem[T_PEM_MAX];

    k = *state;

    len = t_pem_pub(k->rsa1024, pem);
    t_refused(pem, len, "2048 to 4096 bits");
}


/* just outside either end, past the length screen: the bit count decides */

static void
test_refuse_rsa_just_over(void **state)
{
    EVP_PKEY  *pkey;
    size_t     len;
    char       pem[T_PEM_MAX];

    pkey = t_rsa_random_n(4104);
    len = t_pem_pub(pkey, pem);
    EVP_PKEY_free(pkey);
    t_refused(pem, len, "2048 to 4096 bits");

    pkey = t_rsa_random_n(2047);
    len = t_pem_pub(pkey, pem);
    EVP_PKEY_free(pkey);
    t_refused(pem, len, "2048 to 4096 bits");
}


static void
test_refuse_rsa8192(void **state)
{
    EVP_PKEY  *pkey;
    size_t     len;
    char       pem[T_PEM_MAX];

    pkey = t_rsa_random_n(8192);
    len = t_pem_pub(pkey, pem);
    EVP_PKEY_free(pkey);

    t_refused(pem, len, "too large");
}


static void
test_refuse_e3(void **state)
{
    t_keys_t  *k;
    EVP_PKEY  *pkey;
    size_t     len;
    char       pem[T_PEM_MAX];

    k = *state;

    pkey = t_rsa_e(k->rsa2048, 3);
    len = t_pem_pub(pkey, pem);
    EVP_PKEY_free(pkey);

    t_refused(pem, len, "65537");
}


static void
test_refuse_e_huge(void **state)
{
    t_keys_t  *k;
    EVP_PKEY  *pkey;
    size_t     len;
    char       pem[T_PEM_MAX];

    k = *state;

    pkey = t_rsa_e(k->rsa2048, 0x10000001UL);
    len = t_pem_pub(pkey, pem);
    EVP_PKEY_free(pkey);

    t_refused(pem, len, "65537");
}


static void
test_refuse_certificate(void **state)
{
    BIO       *bio;
    X509      *x;
    t_keys_t  *k;
    size_t     len;
    char       pem[T_PEM_MAX];

    k = *state;

    x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x),
                         "CN", MBSTRING_ASC, (const unsigned char *) "t",
                         -1, -1, 0), 1);
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
    assert_int_equal(X509_set_pubkey(x, k->rsa2048), 1);
    assert_true(X509_sign(x, k->rsa2048, EVP_sha256()) > 0);

    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, x), 1);
    len = t_pem_bio(bio, pem);
    X509_free(x);

    t_refused(pem, len, "certificate");
}


static void
test_refuse_rsa_public_key(void **state)
{
    t_keys_t          *k;
    size_t             len, out_len;
    unsigned char     *out;
    OSSL_ENCODER_CTX  *ectx;
    char               pem[T_PEM_MAX];

    k = *state;

    /* PKCS#1 RSAPublicKey: what "openssl rsa -RSAPublicKey_out" writes */
    ectx = OSSL_ENCODER_CTX_new_for_pkey(k->rsa2048, EVP_PKEY_PUBLIC_KEY,
                                         "PEM", "type-specific", NULL);
    assert_non_null(ectx);
    out = NULL;
    out_len = 0;
    assert_int_equal(OSSL_ENCODER_to_data(ectx, &out, &out_len), 1);
    assert_true(out_len < T_PEM_MAX);
    memcpy(pem, out, out_len);
    pem[out_len] = '\0';
    len = out_len;
    OPENSSL_free(out);
    OSSL_ENCODER_CTX_free(ectx);

    assert_non_null(strstr(pem, "-----BEGIN RSA PUBLIC KEY-----"));
    t_refused(pem, len, "PKCS#1");
}


static void
test_refuse_other_label(void **state)
{
    t_keys_t       *k;
    size_t          der_len, len;
    char            pem[T_PEM_MAX];
    unsigned char   der[T_PEM_MAX];

    k = *state;
    der_len = t_der_pub(k->rsa2048, der);

    /* the right bytes under a wrong label */
    len = t_pem_wrap("PUBLIC  KEY", der, der_len, 64, pem);
    t_refused(pem, len, "not a public key");

    len = t_pem_wrap("public key", der, der_len, 64, pem);
    t_refused(pem, len, "not a public key");

    len = t_pem_wrap("CERTIFICATE", der, der_len, 64, pem);
    t_refused(pem, len, "certificate");

    /* a right BEGIN with a wrong END */
    len = t_pem_wrap("PUBLIC KEY", der, der_len, 64, pem);
    memcpy(strstr(pem, "-----END PUBLIC KEY"), "-----END PUBLIC KEX", 19);
    t_refused(pem, len, "END line");
}


static void
test_refuse_pem_headers(void **state)
{
    static const char  pem[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "Proc-Type: 4,ENCRYPTED\n"
        "\n"
        T_FIXED_BODY "\n"
        "-----END PUBLIC KEY-----\n";

    /* "Proc-Type" stops the body at its '-', which is no END line */
    t_refused(pem, sizeof(pem) - 1, "END line");
}


static void
test_refuse_bad_base64(void **state)
{
    size_t  len;
    char    pem[T_PEM_MAX];
    char    body[] = T_FIXED_BODY;

    /* base64url characters are not PEM */
    len = sprintf(pem, "-----BEGIN PUBLIC KEY-----\n%s\n"
                  "-----END PUBLIC KEY-----\n", body);
    *strchr(pem, '+') = '-';
    t_refused(pem, len, "");

    /* the fixed body has no padding: drop one character and pad */
    body[sizeof(body) - 2] = '=';
    len = sprintf(pem, "-----BEGIN PUBLIC KEY-----\n%s\n"
                  "-----END PUBLIC KEY-----\n", body);
    t_refused(pem, len, "");

    /* padding inside the body */
    len = sprintf(pem, "-----BEGIN PUBLIC KEY-----\nMIIB=IjAN\n"
                  "-----END PUBLIC KEY-----\n");
    t_refused(pem, len, "padding");

    /* three padding characters */
    len = sprintf(pem, "-----BEGIN PUBLIC KEY-----\nMI===\n"
                  "-----END PUBLIC KEY-----\n");
    t_refused(pem, len, "padding");

    /* missing padding: "MIIBIg" would need "==" */
    len = sprintf(pem, "-----BEGIN PUBLIC KEY-----\nMIIBIg\n"
                  "-----END PUBLIC KEY-----\n");
    t_refused(pem, len, "padding");

    /* 4n+1 characters */
    len = sprintf(pem, "-----BEGIN PUBLIC KEY-----\nMIIBI\n"
                  "-----END PUBLIC KEY-----\n");
    t_refused(pem, len, "padding");

    /* nonzero unused bits: "MIIBIh==" decodes like "MIIBIg==" elsewhere */
    len = sprintf(pem, "-----BEGIN PUBLIC KEY-----\nMIIBIh==\n"
                  "-----END PUBLIC KEY-----\n");
    t_refused(pem, len, "canonical");
}


static void
test_refuse_der_trailing(void **state)
{
    t_keys_t       *k;
    size_t          der_len, len;
    char            pem[T_PEM_MAX];
    unsigned char   der[T_PEM_MAX];

    k = *state;

    der_len = t_der_pub(k->rsa2048, der);
    der[der_len++] = 0;
    len = t_pem_wrap("PUBLIC KEY", der, der_len, 64, pem);

    t_refused(pem, len, "unexpected data after the key");
}


/* the outer length in long form with a leading zero: BER, not DER */

static void
test_refuse_der_noncanonical(void **state)
{
    t_keys_t       *k;
    size_t          der_len, len;
    char            pem[T_PEM_MAX];
    unsigned char   der[T_PEM_MAX], ber[T_PEM_MAX];

    k = *state;

    der_len = t_der_pub(k->rsa2048, der);
    assert_int_equal(der[0], 0x30);
    assert_int_equal(der[1], 0x82);

    ber[0] = 0x30;
    ber[1] = 0x83;
    ber[2] = 0x00;
    memcpy(ber + 3, der + 2, der_len - 2);

    len = t_pem_wrap("PUBLIC KEY", ber, der_len + 1, 64, pem);

    /* whether OpenSSL's decoder takes it or not, the import must refuse */
    t_refused(pem, len, "");
}


static void
test_refuse_even_modulus(void **state)
{
    BIGNUM    *n;
    t_keys_t  *k;
    EVP_PKEY  *pkey;
    size_t     len;
    char       pem[T_PEM_MAX];

    k = *state;

    n = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k->rsa2048, OSSL_PKEY_PARAM_RSA_N,
                                           &n), 1);
    assert_int_equal(BN_add_word(n, 1), 1);
    pkey = t_from_ne("RSA", n, 65537);
    BN_free(n);

    len = t_pem_pub(pkey, pem);
    EVP_PKEY_free(pkey);

    t_refused(pem, len, "not valid");
}


/* reasons are fixed sentences: none of them quotes the input */

static void
test_why_has_no_key_material(void **state)
{
    t_keys_t    *k;
    size_t       len;
    const char  *why;
    char         pem[T_PEM_MAX];

    k = *state;

    len = t_pem_pub(k->rsa1024, pem);
    assert_int_equal(t_import(pem, len, &why), -1);
    assert_null(strstr(why, "MII"));
    assert_true(strlen(why) < 120);

    assert_int_equal(t_import(T_FIXED_PEM "MIIBIjANBgkq",
                              sizeof(T_FIXED_PEM) + 11, &why), -1);
    assert_null(strstr(why, "MII"));
}


static void
test_server_key_helpers(void **state)
{
    t_keys_t       *k;
    EVP_PKEY       *ed;
    const char     *why;
    int             n;
    unsigned char   id[NGX_HTTP_SECURECHAT_KEY_ID_LEN];
    unsigned char   pem[T_PEM_MAX];

    k = *state;

    assert_int_equal(ngx_http_securechat_crypto_check_signing_key(k->rsa2048,
                                                                  &why), 0);
    assert_int_equal(ngx_http_securechat_crypto_check_signing_key(k->rsa1024,
                                                                  &why), -1);
    assert_string_equal(ngx_http_securechat_crypto_key_alg(k->rsa2048),
                        "RSA-PSS-SHA256");

    ed = t_keygen("ED25519", 0);
    assert_int_equal(ngx_http_securechat_crypto_check_signing_key(ed, &why),
                     0);
    assert_string_equal(ngx_http_securechat_crypto_key_alg(ed), "Ed25519");
    EVP_PKEY_free(ed);

    /* the server's key id and a client's are computed the same way */
    n = ngx_http_securechat_crypto_public_pem(k->rsa2048, pem, sizeof(pem));
    assert_true(n > 0);
    assert_int_equal(ngx_http_securechat_crypto_key_id(k->rsa2048, id), 0);
    t_accepted(k->rsa2048, (const char *) pem, n);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_fixed_key_id),
        cmocka_unit_test(test_accept_rsa_sizes),
        cmocka_unit_test(test_accept_layouts),
        cmocka_unit_test(test_refuse_garbage),
        cmocka_unit_test(test_refuse_empty),
        cmocka_unit_test(test_refuse_truncated),
        cmocka_unit_test(test_refuse_trailing),
        cmocka_unit_test(test_refuse_leading),
        cmocka_unit_test(test_refuse_two_keys),
        cmocka_unit_test(test_refuse_private_pkcs8),
        cmocka_unit_test(test_refuse_private_traditional),
        cmocka_unit_test(test_refuse_private_encrypted),
        cmocka_unit_test(test_refuse_ec),
        cmocka_unit_test(test_refuse_ed25519),
        cmocka_unit_test(test_refuse_x25519),
        cmocka_unit_test(test_refuse_dsa),
        cmocka_unit_test(test_refuse_rsa_pss),
        cmocka_unit_test(test_refuse_rsa1024),
        cmocka_unit_test(test_refuse_rsa_just_over),
        cmocka_unit_test(test_refuse_rsa8192),
        cmocka_unit_test(test_refuse_e3),
        cmocka_unit_test(test_refuse_e_huge),
        cmocka_unit_test(test_refuse_certificate),
        cmocka_unit_test(test_refuse_rsa_public_key),
        cmocka_unit_test(test_refuse_other_label),
        cmocka_unit_test(test_refuse_pem_headers),
        cmocka_unit_test(test_refuse_bad_base64),
        cmocka_unit_test(test_refuse_der_trailing),
        cmocka_unit_test(test_refuse_der_noncanonical),
        cmocka_unit_test(test_refuse_even_modulus),
        cmocka_unit_test(test_why_has_no_key_material),
        cmocka_unit_test(test_server_key_helpers),
    };

    return cmocka_run_group_tests_name("crypto", tests, t_setup, t_teardown);
}
