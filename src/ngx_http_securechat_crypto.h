
/*
 * Server signing-key handling and client public-key intake.  Pure: OpenSSL
 * only, no nginx types.
 */

#ifndef _NGX_HTTP_SECURECHAT_CRYPTO_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_CRYPTO_H_INCLUDED_


#include <stddef.h>
#include <openssl/evp.h>


#define NGX_HTTP_SECURECHAT_KEY_ID_LEN   43   /* base64url of SHA-256 */
#define NGX_HTTP_SECURECHAT_RSA_MIN_BITS 2048
#define NGX_HTTP_SECURECHAT_RSA_MAX_BITS 4096

/* largest signature: RSA-4096; Ed25519's is 64 bytes */
#define NGX_HTTP_SECURECHAT_SIG_MAX      512

/* SPKI DER of RSA-4096 is about 550 bytes */
#define NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX  600


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

/*
 * Signs data with the server key, the algorithm chosen by the key's type:
 * RSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (all set
 * explicitly, never left to defaults), or Ed25519 (pure, no pre-hash).
 * sig must hold NGX_HTTP_SECURECHAT_SIG_MAX bytes.  Returns 0 with
 * *sig_len set, or -1.  Thread-safe: the key is only read, so a thread
 * pool may sign while the event loop uses the same key.
 */
int ngx_http_securechat_crypto_sign(EVP_PKEY *pkey, const unsigned char *data,
    size_t len, unsigned char *sig, size_t *sig_len);

/* the check a client makes, same parameters; returns 0 if valid, else -1 */
int ngx_http_securechat_crypto_verify(EVP_PKEY *pkey,
    const unsigned char *data, size_t len, const unsigned char *sig,
    size_t sig_len);

/*
 * Parses the client's public key sent at login: exactly one SPKI PEM
 * ("-----BEGIN PUBLIC KEY-----"), nothing but optional whitespace after
 * it.  Accepts only rsaEncryption keys of 2048..4096 bits with e = 65537.
 * On success returns 0, writes the SPKI DER into der (*der_len) and the
 * key id (base64url of SHA-256 of the DER, 43 chars) into key_id.  On
 * failure returns -1 and sets *why to a short sentence safe to show the
 * client (never containing key material).
 *
 * der must hold NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX bytes and key_id
 * NGX_HTTP_SECURECHAT_KEY_ID_LEN (no terminating NUL is written); both may
 * hold garbage after a failure.  Whitespace may also precede the PEM, and
 * the base64 lines may be of any length (one line is fine), but the DER
 * must be the canonical encoding, so the key id is the one WebCrypto's
 * exportKey("spki") bytes hash to.
 */
int ngx_http_securechat_client_key_import(const unsigned char *pem,
    size_t len, unsigned char *der, size_t *der_len, unsigned char *key_id,
    const char **why);

/* base64url(SHA-256(der)) into out[KEY_ID_LEN]; returns 0 or -1 */
int ngx_http_securechat_crypto_der_key_id(const unsigned char *der,
    size_t len, unsigned char *out);


#endif /* _NGX_HTTP_SECURECHAT_CRYPTO_H_INCLUDED_ */
