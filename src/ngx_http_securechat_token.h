
/*
 * Session tokens, CSRF tokens, base64url and Cookie header parsing.
 * Pure: plain C and OpenSSL only, so unit tests and fuzzers call it directly.
 */

#ifndef _NGX_HTTP_SECURECHAT_TOKEN_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_TOKEN_H_INCLUDED_


#include <stddef.h>


#define NGX_HTTP_SECURECHAT_TOKEN_BYTES      32   /* 256 bits of entropy */
#define NGX_HTTP_SECURECHAT_TOKEN_LEN        43   /* base64url, no padding */
#define NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN   32   /* HMAC-SHA-256 */
#define NGX_HTTP_SECURECHAT_CSRF_LEN         43   /* base64url of 32 bytes */


/* base64url without padding; returns the encoded length (4n/3 rounded up) */
size_t ngx_http_securechat_base64url_encoded_len(size_t len);
size_t ngx_http_securechat_base64url_encode(unsigned char *dst,
    const unsigned char *src, size_t len);

/*
 * Strict decode: alphabet [A-Za-z0-9_-] only, no padding, no whitespace,
 * length mod 4 != 1, unused trailing bits must be zero.  Returns 0 and sets
 * *dst_len, or -1 (dst then holds garbage).  dst must hold len * 3 / 4
 * bytes.  Takes the same time wherever a bad character is.
 */
int ngx_http_securechat_base64url_decode(unsigned char *dst, size_t *dst_len,
    const unsigned char *src, size_t len);

/*
 * Fills out[NGX_HTTP_SECURECHAT_TOKEN_LEN] with a fresh token from the
 * OpenSSL CSPRNG.  Returns 0, or -1 if the CSPRNG failed (never falls back).
 */
int ngx_http_securechat_token_generate(unsigned char *out);

/*
 * 1 if s is exactly NGX_HTTP_SECURECHAT_TOKEN_LEN base64url characters in
 * canonical form (the unused low bits of the last character zero, as every
 * generated token has them)
 */
int ngx_http_securechat_token_syntax_ok(const unsigned char *s, size_t len);

/*
 * The key under which a session is stored: HMAC-SHA-256(secret,
 * "securechat session v1" || token).  Storing only this means a dump of the
 * shared memory zone does not reveal usable cookies.  Returns 0 or -1.
 */
int ngx_http_securechat_token_hash(const unsigned char *secret,
    size_t secret_len, const unsigned char *token, size_t token_len,
    unsigned char *out);

/*
 * The session's CSRF token, derived rather than stored:
 * base64url(HMAC-SHA-256(secret, "securechat csrf v1" || token)), written to
 * out[NGX_HTTP_SECURECHAT_CSRF_LEN].  Returns 0 or -1.
 */
int ngx_http_securechat_csrf_derive(const unsigned char *secret,
    size_t secret_len, const unsigned char *token, size_t token_len,
    unsigned char *out);

/* constant-time equality of two byte strings (lengths compared first) */
int ngx_http_securechat_token_equal(const unsigned char *a, size_t a_len,
    const unsigned char *b, size_t b_len);

/*
 * Finds cookie `name` in one Cookie header value ("a=1; b=2").  Returns the
 * number of occurrences found (0, 1, or more: callers treat >1 as an
 * attack/confusion and refuse), with the first one's value in *val and
 * *val_len (NULL and 0 when there is none).  Pairs without '=' are skipped.
 * Tolerates optional whitespace around ';' and '=' as browsers send it.
 */
int ngx_http_securechat_cookie_find(const unsigned char *header, size_t len,
    const char *name, const unsigned char **val, size_t *val_len);


#endif /* _NGX_HTTP_SECURECHAT_TOKEN_H_INCLUDED_ */
