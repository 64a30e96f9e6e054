
/*
 * Server signing-key handling and client public-key intake.  Pure: OpenSSL
 * only, no nginx types, so the unit tests and fuzzers call it directly.
 */

#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_token.h"


#define NGX_HTTP_SECURECHAT_PEM_BEGIN  "-----BEGIN PUBLIC KEY-----"
#define NGX_HTTP_SECURECHAT_PEM_END    "-----END PUBLIC KEY-----"

/* base64 characters of the largest DER accepted (4 per 3 bytes) */
#define NGX_HTTP_SECURECHAT_CLIENT_KEY_B64_MAX                               \
    (NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX / 3 * 4)


static int ngx_http_securechat_crypto_no_passphrase(char *buf, int size,
    int rwflag, void *u);
static EVP_MD_CTX *ngx_http_securechat_crypto_md_ctx(EVP_PKEY *pkey,
    int sign);
static int ngx_http_securechat_crypto_is_space(unsigned char c);
static const char *ngx_http_securechat_crypto_wrong_label(
    const unsigned char *p, const unsigned char *last);
static int ngx_http_securechat_crypto_pem_decode(const unsigned char *pem,
    size_t len, unsigned char *der, size_t *der_len, const char **why);
static int ngx_http_securechat_crypto_client_key_check(
    const unsigned char *der, size_t der_len, const char **why);


/* a key file is read at startup, never at a terminal: refuse to prompt */

static int
ngx_http_securechat_crypto_no_passphrase(char *buf, int size, int rwflag,
    void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;

    return -1;
}


EVP_PKEY *
ngx_http_securechat_crypto_read_private_key(const unsigned char *pem,
    size_t len, const char **why)
{
    BIO       *bio;
    EVP_PKEY  *pkey, *extra;

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        *why = "out of memory";
        return NULL;
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL,
                                   ngx_http_securechat_crypto_no_passphrase,
                                   NULL);
    if (pkey == NULL) {
        BIO_free(bio);
        ERR_clear_error();
        *why = "no unencrypted PEM private key in the file";
        return NULL;
    }

    /* a second key would leave it unclear which one signs */

    extra = PEM_read_bio_PrivateKey(bio, NULL,
                                    ngx_http_securechat_crypto_no_passphrase,
                                    NULL);
    BIO_free(bio);
    ERR_clear_error();

    if (extra != NULL) {
        EVP_PKEY_free(extra);
        EVP_PKEY_free(pkey);
        *why = "the file holds more than one private key";
        return NULL;
    }

    return pkey;
}


int
ngx_http_securechat_crypto_check_signing_key(EVP_PKEY *pkey, const char **why)
{
    int  bits;

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_ED25519:
        return 0;

    case EVP_PKEY_RSA:
        bits = EVP_PKEY_get_bits(pkey);

        if (bits < NGX_HTTP_SECURECHAT_RSA_MIN_BITS
            || bits > NGX_HTTP_SECURECHAT_RSA_MAX_BITS)
        {
            *why = "RSA signing keys must have 2048 to 4096 bits";
            return -1;
        }

        return 0;

    default:
        *why = "the signing key must be RSA (2048 to 4096 bits) or Ed25519";
        return -1;
    }
}


const char *
ngx_http_securechat_crypto_key_alg(EVP_PKEY *pkey)
{
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) {
        return "Ed25519";
    }

    return "RSA-PSS-SHA256";
}


int
ngx_http_securechat_crypto_public_pem(EVP_PKEY *pkey, unsigned char *buf,
    size_t size)
{
    BIO   *bio;
    char  *data;
    long   len;

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return -1;
    }

    if (PEM_write_bio_PUBKEY(bio, pkey) != 1) {
        BIO_free(bio);
        ERR_clear_error();
        return -1;
    }

    len = BIO_get_mem_data(bio, &data);

    if (len <= 0 || (size_t) len > size) {
        BIO_free(bio);
        return -1;
    }

    memcpy(buf, data, len);
    BIO_free(bio);

    return (int) len;
}


int
ngx_http_securechat_crypto_key_id(EVP_PKEY *pkey, unsigned char *out)
{
    int             len, rc;
    unsigned char  *der;

    der = NULL;
    len = i2d_PUBKEY(pkey, &der);

    if (len <= 0) {
        ERR_clear_error();
        return -1;
    }

    rc = ngx_http_securechat_crypto_der_key_id(der, len, out);

    OPENSSL_free(der);

    return rc;
}


int
ngx_http_securechat_crypto_der_key_id(const unsigned char *der, size_t len,
    unsigned char *out)
{
    unsigned int   md_len;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_Digest(der, len, md, &md_len, EVP_sha256(), NULL) != 1) {
        ERR_clear_error();
        return -1;
    }

    ngx_http_securechat_base64url_encode(out, md, md_len);

    return 0;
}


/*
 * A digest-sign or digest-verify context with the protocol's parameters.
 * RSA-PSS: OpenSSL's defaults (MGF1 follows the digest, salt as long as
 * the digest) would match today, but the protocol fixes them, so they are
 * spelled out rather than inherited.
 */

static EVP_MD_CTX *
ngx_http_securechat_crypto_md_ctx(EVP_PKEY *pkey, int sign)
{
    int          rc, salt;
    EVP_MD_CTX  *md;
    OSSL_PARAM   params[4], *p;

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NULL;
    }

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_ED25519:
        rc = sign ? EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, pkey,
                                          NULL)
                  : EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, pkey,
                                            NULL);
        break;

    case EVP_PKEY_RSA:
        salt = 32;
        p = params;
        *p++ = OSSL_PARAM_construct_utf8_string(
                   OSSL_SIGNATURE_PARAM_PAD_MODE,
                   (char *) OSSL_PKEY_RSA_PAD_MODE_PSS, 0);
        *p++ = OSSL_PARAM_construct_utf8_string(
                   OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *) "SHA256", 0);
        *p++ = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
                                        &salt);
        *p = OSSL_PARAM_construct_end();

        rc = sign ? EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL,
                                          pkey, params)
                  : EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL,
                                            pkey, params);
        break;

    default:
        rc = 0;
    }

    if (rc != 1) {
        EVP_MD_CTX_free(md);
        return NULL;
    }

    return md;
}


int
ngx_http_securechat_crypto_sign(EVP_PKEY *pkey, const unsigned char *data,
    size_t len, unsigned char *sig, size_t *sig_len)
{
    int          rc;
    size_t       n;
    EVP_MD_CTX  *md;

    rc = -1;

    md = ngx_http_securechat_crypto_md_ctx(pkey, 1);
    if (md == NULL) {
        goto done;
    }

    /* one-shot: Ed25519 cannot stream */

    if (EVP_DigestSign(md, NULL, &n, data, len) != 1
        || n > NGX_HTTP_SECURECHAT_SIG_MAX)
    {
        goto done;
    }

    if (EVP_DigestSign(md, sig, &n, data, len) != 1) {
        goto done;
    }

    *sig_len = n;
    rc = 0;

done:

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    return rc;
}


int
ngx_http_securechat_crypto_verify(EVP_PKEY *pkey, const unsigned char *data,
    size_t len, const unsigned char *sig, size_t sig_len)
{
    int          rc;
    EVP_MD_CTX  *md;

    md = ngx_http_securechat_crypto_md_ctx(pkey, 0);
    if (md == NULL) {
        ERR_clear_error();
        return -1;
    }

    rc = EVP_DigestVerify(md, sig, sig_len, data, len);

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    return rc == 1 ? 0 : -1;
}


int
ngx_http_securechat_client_key_import(const unsigned char *pem, size_t len,
    unsigned char *der, size_t *der_len, unsigned char *key_id,
    const char **why)
{
    if (ngx_http_securechat_crypto_pem_decode(pem, len, der, der_len, why)
        != 0)
    {
        return -1;
    }

    if (ngx_http_securechat_crypto_client_key_check(der, *der_len, why)
        != 0)
    {
        return -1;
    }

    if (ngx_http_securechat_crypto_der_key_id(der, *der_len, key_id) != 0) {
        *why = "internal error while reading the public key";
        return -1;
    }

    return 0;
}


static int
ngx_http_securechat_crypto_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/*
 * Names what was sent instead of a public key, from its PEM label alone, so
 * the client learns what to fix without us echoing any of its bytes.
 */

static const char *
ngx_http_securechat_crypto_wrong_label(const unsigned char *p,
    const unsigned char *last)
{
    size_t                n;
    const unsigned char  *eol;

    static const char     begin[] = "-----BEGIN ";

    n = sizeof(begin) - 1;

    if ((size_t) (last - p) < n || memcmp(p, begin, n) != 0) {
        return "the public key is not in PEM form"
               " (-----BEGIN PUBLIC KEY-----)";
    }

    p += n;

    for (eol = p; eol < last && *eol != '\n' && *eol != '-'; eol++) {
        /* void */
    }

    n = eol - p;

#define NGX_HTTP_SECURECHAT_LABEL_IS(s)                                      \
    (n == sizeof(s) - 1 && memcmp(p, s, n) == 0)

    if (n >= sizeof("PRIVATE KEY") - 1
        && memcmp(eol - (sizeof("PRIVATE KEY") - 1), "PRIVATE KEY",
                  sizeof("PRIVATE KEY") - 1)
           == 0)
    {
        return "a private key was sent: send only the public key"
               " (-----BEGIN PUBLIC KEY-----)";
    }

    if (NGX_HTTP_SECURECHAT_LABEL_IS("RSA PUBLIC KEY")) {
        return "a PKCS#1 RSA PUBLIC KEY is not accepted: send the"
               " SubjectPublicKeyInfo form (-----BEGIN PUBLIC KEY-----)";
    }

    if (NGX_HTTP_SECURECHAT_LABEL_IS("CERTIFICATE")) {
        return "a certificate is not accepted: send the public key"
               " (-----BEGIN PUBLIC KEY-----)";
    }

#undef NGX_HTTP_SECURECHAT_LABEL_IS

    return "the PEM block is not a public key (-----BEGIN PUBLIC KEY-----)";
}


/*
 * Strict PEM: one "PUBLIC KEY" block, base64 with correct padding and zero
 * trailing bits, no RFC 1421 headers, nothing but whitespace around it.
 * OpenSSL's PEM reader skips text before the block and would let such
 * leftovers through, so the block is taken apart here.
 */

static int
ngx_http_securechat_crypto_pem_decode(const unsigned char *pem, size_t len,
    unsigned char *der, size_t *der_len, const char **why)
{
    size_t                n, pad, mark;
    unsigned char         c;
    const unsigned char  *p, *last;
    unsigned char         b64[NGX_HTTP_SECURECHAT_CLIENT_KEY_B64_MAX];

    p = pem;
    last = pem + len;

    while (p < last && ngx_http_securechat_crypto_is_space(*p)) {
        p++;
    }

    if (p == last) {
        *why = "the public key is empty";
        return -1;
    }

    mark = sizeof(NGX_HTTP_SECURECHAT_PEM_BEGIN) - 1;

    if ((size_t) (last - p) < mark
        || memcmp(p, NGX_HTTP_SECURECHAT_PEM_BEGIN, mark) != 0)
    {
        *why = ngx_http_securechat_crypto_wrong_label(p, last);
        return -1;
    }

    p += mark;
    n = 0;
    pad = 0;

    /* the body: base64 as PEM has it, mapped to base64url as we go */

    for ( /* void */ ; p < last; p++) {
        c = *p;

        if (ngx_http_securechat_crypto_is_space(c)) {
            continue;
        }

        if (c == '-') {
            break;
        }

        if (c == '=') {
            if (++pad > 2) {
                *why = "the public key's base64 has bad padding";
                return -1;
            }

            continue;
        }

        if (pad != 0) {
            *why = "the public key's base64 has bad padding";
            return -1;
        }

        if (c == '+') {
            c = '-';

        } else if (c == '/') {
            c = '_';

        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                     || (c >= '0' && c <= '9')))
        {
            *why = "the public key's PEM body is not base64";
            return -1;
        }

        if (n == sizeof(b64)) {
            *why = "the public key is too large: RSA keys of 2048 to 4096"
                   " bits are accepted";
            return -1;
        }

        b64[n++] = c;
    }

    if (p == last) {
        *why = "the public key PEM is truncated (no END line)";
        return -1;
    }

    if (n == 0) {
        *why = "the public key PEM is empty";
        return -1;
    }

    if ((n + pad) % 4 != 0 || n % 4 == 1) {
        *why = "the public key's base64 has bad padding";
        return -1;
    }

    mark = sizeof(NGX_HTTP_SECURECHAT_PEM_END) - 1;

    if ((size_t) (last - p) < mark
        || memcmp(p, NGX_HTTP_SECURECHAT_PEM_END, mark) != 0)
    {
        *why = "the public key PEM is truncated or its END line is wrong";
        return -1;
    }

    for (p += mark; p < last; p++) {
        if (!ngx_http_securechat_crypto_is_space(*p)) {
            *why = (*p == '-')
                   ? "more than one PEM block was sent: send exactly one"
                     " public key"
                   : "unexpected data after the public key's END line";
            return -1;
        }
    }

    /* strict: also refuses nonzero unused bits, one encoding per DER */

    if (ngx_http_securechat_base64url_decode(der, der_len, b64, n) != 0) {
        *why = "the public key's base64 is not canonical";
        return -1;
    }

    return 0;
}


static int
ngx_http_securechat_crypto_client_key_check(const unsigned char *der,
    size_t der_len, const char **why)
{
    int                   rc, n;
    BIGNUM               *e;
    EVP_PKEY             *pkey;
    EVP_PKEY_CTX         *ctx;
    const unsigned char  *p;
    unsigned char        *q, canon[NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX];

    p = der;
    pkey = d2i_PUBKEY(NULL, &p, (long) der_len);

    if (pkey == NULL) {
        ERR_clear_error();
        *why = "the PEM does not hold a valid SubjectPublicKeyInfo";
        return -1;
    }

    e = NULL;
    ctx = NULL;
    rc = -1;

    if (p != der + der_len) {
        *why = "unexpected data after the key inside the PEM";
        goto done;
    }

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_RSA:
        break;

    case EVP_PKEY_RSA_PSS:
        /* such a key may only sign; the session key is wrapped with OAEP */
        *why = "RSA-PSS-restricted keys are not accepted: send an RSA-OAEP"
               " (rsaEncryption) key";
        goto done;

    case EVP_PKEY_EC:
        *why = "EC keys are not accepted: send an RSA-OAEP key of 2048 to"
               " 4096 bits";
        goto done;

    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
    case EVP_PKEY_X25519:
    case EVP_PKEY_X448:
        *why = "Edwards/Montgomery curve keys are not accepted: send an"
               " RSA-OAEP key of 2048 to 4096 bits";
        goto done;

    case EVP_PKEY_DSA:
        *why = "DSA keys are not accepted: send an RSA-OAEP key of 2048 to"
               " 4096 bits";
        goto done;

    default:
        *why = "only RSA keys of 2048 to 4096 bits are accepted";
        goto done;
    }

    n = EVP_PKEY_get_bits(pkey);

    if (n < NGX_HTTP_SECURECHAT_RSA_MIN_BITS
        || n > NGX_HTTP_SECURECHAT_RSA_MAX_BITS)
    {
        *why = "the RSA key must have 2048 to 4096 bits";
        goto done;
    }

    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
        *why = "the RSA key has no readable public exponent";
        goto done;
    }

    if (!BN_is_word(e, 65537)) {
        *why = "the RSA key's public exponent must be 65537";
        goto done;
    }

    /* even modulus, small factors and the like */

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

    if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
        *why = "the RSA public key is not valid";
        goto done;
    }

    /*
     * One key, one encoding: a BER variant would hash to another key id
     * than the one WebCrypto's exportKey("spki") gives for the same key.
     */

    n = i2d_PUBKEY(pkey, NULL);

    if (n <= 0 || (size_t) n != der_len) {
        *why = "the public key is not in canonical DER";
        goto done;
    }

    q = canon;

    if (i2d_PUBKEY(pkey, &q) != n || memcmp(canon, der, der_len) != 0) {
        *why = "the public key is not in canonical DER";
        goto done;
    }

    rc = 0;

done:

    ERR_clear_error();
    BN_free(e);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);

    return rc;
}
