
/*
 * Server key handling.  Pure: OpenSSL only, no nginx types, so the unit
 * tests call it directly.
 */

#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_token.h"


static int ngx_http_securechat_crypto_no_passphrase(char *buf, int size,
    int rwflag, void *u);


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
    int             len;
    unsigned int    md_len;
    unsigned char  *der, md[EVP_MAX_MD_SIZE];

    der = NULL;
    len = i2d_PUBKEY(pkey, &der);

    if (len <= 0) {
        ERR_clear_error();
        return -1;
    }

    if (EVP_Digest(der, len, md, &md_len, EVP_sha256(), NULL) != 1) {
        OPENSSL_free(der);
        ERR_clear_error();
        return -1;
    }

    OPENSSL_free(der);

    ngx_http_securechat_base64url_encode(out, md, md_len);

    return 0;
}
