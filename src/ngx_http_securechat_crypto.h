
/*
 * Server key handling.  Pure: OpenSSL only, no nginx types.
 */

#ifndef _NGX_HTTP_SECURECHAT_CRYPTO_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_CRYPTO_H_INCLUDED_


#include <stddef.h>
#include <openssl/evp.h>


#define NGX_HTTP_SECURECHAT_KEY_ID_LEN   43   /* base64url of SHA-256 */
#define NGX_HTTP_SECURECHAT_RSA_MIN_BITS 2048
#define NGX_HTTP_SECURECHAT_RSA_MAX_BITS 4096


/*
 * Reads exactly one private key from PEM bytes without ever prompting for a
 * passphrase (an encrypted key is an error).  Returns the key or NULL with
 * *why set to a sentence for the operator.
 */
EVP_PKEY *ngx_http_securechat_crypto_read_private_key(const unsigned char *pem,
    size_t len, const char **why);

/* 0 if the key may sign: RSA of 2048..4096 bits, or Ed25519; else -1, *why */
int ngx_http_securechat_crypto_check_signing_key(EVP_PKEY *pkey,
    const char **why);

/* the algorithm the key signs with, as named in docs/PROTOCOL.md */
const char *ngx_http_securechat_crypto_key_alg(EVP_PKEY *pkey);

/*
 * SubjectPublicKeyInfo PEM of the key into buf; returns its length, or -1
 * (also when size is too small).
 */
int ngx_http_securechat_crypto_public_pem(EVP_PKEY *pkey, unsigned char *buf,
    size_t size);

/* base64url(SHA-256(SPKI DER)) into out[KEY_ID_LEN]; returns 0 or -1 */
int ngx_http_securechat_crypto_key_id(EVP_PKEY *pkey, unsigned char *out);


#endif /* _NGX_HTTP_SECURECHAT_CRYPTO_H_INCLUDED_ */
