
/*
 * Password hashes for the users file: scrypt with its parameters in the hash
 * string.  Pure: plain C and OpenSSL, shared by the module (inside a thread
 * pool task) and by tools/securechat-passwd.
 *
 * Format (one user per line in the users file):
 *
 *     name:$scrypt$ln=15,r=8,p=1$<salt base64url>$<dk base64url>
 *
 * ln is log2(N).  Salt is 16 bytes, the derived key 32 bytes.
 */

#ifndef _NGX_HTTP_SECURECHAT_PASSWD_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_PASSWD_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_SECURECHAT_USER_MAX        64     /* bytes */
#define NGX_HTTP_SECURECHAT_PASSWORD_MAX    1024   /* bytes */
#define NGX_HTTP_SECURECHAT_SCRYPT_LN       15     /* default N = 2^15 */
#define NGX_HTTP_SECURECHAT_SCRYPT_LN_MIN   10     /* refused below */
#define NGX_HTTP_SECURECHAT_SCRYPT_LN_MAX   22
#define NGX_HTTP_SECURECHAT_SCRYPT_R        8
#define NGX_HTTP_SECURECHAT_SCRYPT_P        1
#define NGX_HTTP_SECURECHAT_SALT_LEN        16
#define NGX_HTTP_SECURECHAT_DK_LEN          32
#define NGX_HTTP_SECURECHAT_HASH_STR_MAX    128

/*
 * scrypt needs 128 * r * (N + 2) + 128 * r * p bytes.  The cap admits the
 * defaults r = 8, p = 1 at LN_MAX (4 GiB) plus slack; parse refuses any
 * ln, r, p combination that would need more, so a users file cannot make a
 * login attempt allocate without bound.
 */
#define NGX_HTTP_SECURECHAT_SCRYPT_MAXMEM                                    \
    ((uint64_t) 128 * NGX_HTTP_SECURECHAT_SCRYPT_R                           \
     * (((uint64_t) 1 << NGX_HTTP_SECURECHAT_SCRYPT_LN_MAX) + 2)             \
     + ((uint64_t) 64 << 20))


typedef struct {
    unsigned int     ln;        /* log2(N) */
    unsigned int     r;
    unsigned int     p;
    unsigned char    salt[NGX_HTTP_SECURECHAT_SALT_LEN];
    unsigned char    dk[NGX_HTTP_SECURECHAT_DK_LEN];
} ngx_http_securechat_passwd_hash_t;


/* 1 if name is 1..64 bytes of [A-Za-z0-9._-] */
int ngx_http_securechat_username_ok(const unsigned char *name, size_t len);

/*
 * Parses "$scrypt$ln=..,r=..,p=..$salt$dk".  Refuses parameters outside
 * LN_MIN..LN_MAX, r 1..32, p 1..16, wrong salt/dk lengths, trailing bytes.
 * Returns 0 or -1.
 */
int ngx_http_securechat_passwd_parse(const unsigned char *s, size_t len,
    ngx_http_securechat_passwd_hash_t *h);

/*
 * Parses one users-file line "name:hash" (no newline).  Returns 0 and copies
 * the name's position into *name and *name_len, or -1.
 */
int ngx_http_securechat_passwd_parse_line(const unsigned char *line,
    size_t len, const unsigned char **name, size_t *name_len,
    ngx_http_securechat_passwd_hash_t *h);

/*
 * Writes the hash string (NUL-terminated, at most HASH_STR_MAX bytes incl.
 * NUL) into out.  Returns its length or -1.
 */
int ngx_http_securechat_passwd_format(
    const ngx_http_securechat_passwd_hash_t *h, char *out, size_t out_size);

/*
 * Fresh random salt from the CSPRNG, then derives dk from password with the
 * given ln (r and p default).  Returns 0 or -1.  Refuses passwords that are
 * empty, longer than PASSWORD_MAX or contain NUL (HMAC zero-pads its key,
 * so scrypt cannot tell "pw" from "pw\0").
 */
int ngx_http_securechat_passwd_create(const unsigned char *password,
    size_t len, unsigned int ln, ngx_http_securechat_passwd_hash_t *h);

/*
 * Derives with h's parameters and salt and compares with h->dk in constant
 * time.  Returns 1 match, 0 mismatch, -1 error (e.g. out of memory, or
 * parameters parse would refuse).  A password create would refuse is a
 * mismatch, answered without deriving.
 * This is the slow call: the module runs it in a thread pool.
 */
int ngx_http_securechat_passwd_verify(const unsigned char *password,
    size_t len, const ngx_http_securechat_passwd_hash_t *h);

/*
 * The raw KDF under create and verify: scrypt with N = 2^ln, any salt and
 * output length, within the MAXMEM cap.  Exposed for known-answer tests
 * (RFC 7914 uses a 4-byte salt and a 64-byte output).  Returns 0 or -1.
 */
int ngx_http_securechat_passwd_scrypt(const unsigned char *password,
    size_t len, const unsigned char *salt, size_t salt_len, unsigned int ln,
    unsigned int r, unsigned int p, unsigned char *dk, size_t dk_len);


#endif /* _NGX_HTTP_SECURECHAT_PASSWD_H_INCLUDED_ */
