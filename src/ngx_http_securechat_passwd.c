
/*
 * scrypt password hashes for the users file: see
 * ngx_http_securechat_passwd.h.
 */


#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_http_securechat_passwd.h"
#include "ngx_http_securechat_token.h"


#define NGX_HTTP_SECURECHAT_SCRYPT_PREFIX   "$scrypt$"
#define NGX_HTTP_SECURECHAT_SCRYPT_R_MAX    32
#define NGX_HTTP_SECURECHAT_SCRYPT_P_MAX    16

/* base64url lengths of the 16-byte salt and the 32-byte key */
#define NGX_HTTP_SECURECHAT_SALT_B64_LEN    22
#define NGX_HTTP_SECURECHAT_DK_B64_LEN      43


static int ngx_http_securechat_passwd_acceptable(
    const unsigned char *password, size_t len);
static int ngx_http_securechat_passwd_params_ok(unsigned int ln,
    unsigned int r, unsigned int p);
static int ngx_http_securechat_passwd_mem_ok(unsigned int ln, unsigned int r,
    unsigned int p);
static int ngx_http_securechat_passwd_uint(const unsigned char **pos,
    const unsigned char *end, const char *label, unsigned int *value);
static int ngx_http_securechat_passwd_b64(const unsigned char **pos,
    const unsigned char *end, size_t b64_len, unsigned char *dst,
    size_t dst_len);


int
ngx_http_securechat_username_ok(const unsigned char *name, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > NGX_HTTP_SECURECHAT_USER_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = name[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


int
ngx_http_securechat_passwd_parse(const unsigned char *s, size_t len,
    ngx_http_securechat_passwd_hash_t *h)
{
    size_t                plen;
    const unsigned char  *p, *end;

    p = s;
    end = s + len;

    plen = sizeof(NGX_HTTP_SECURECHAT_SCRYPT_PREFIX) - 1;

    if (len < plen || memcmp(p, NGX_HTTP_SECURECHAT_SCRYPT_PREFIX, plen) != 0)
    {
        goto failed;
    }

    p += plen;

    /*
     * One spelling per hash: fixed member order, no leading zeros, no
     * padding, no stray trailing bits.  Then formatting what was parsed
     * gives back the same string, which the fuzzer checks.
     */

    if (ngx_http_securechat_passwd_uint(&p, end, "ln=", &h->ln) != 0
        || ngx_http_securechat_passwd_uint(&p, end, ",r=", &h->r) != 0
        || ngx_http_securechat_passwd_uint(&p, end, ",p=", &h->p) != 0)
    {
        goto failed;
    }

    if (!ngx_http_securechat_passwd_params_ok(h->ln, h->r, h->p)) {
        goto failed;
    }

    if (p == end || *p++ != '$') {
        goto failed;
    }

    if (ngx_http_securechat_passwd_b64(&p, end,
                                       NGX_HTTP_SECURECHAT_SALT_B64_LEN,
                                       h->salt, sizeof(h->salt))
        != 0)
    {
        goto failed;
    }

    if (p == end || *p++ != '$') {
        goto failed;
    }

    if (ngx_http_securechat_passwd_b64(&p, end,
                                       NGX_HTTP_SECURECHAT_DK_B64_LEN,
                                       h->dk, sizeof(h->dk))
        != 0)
    {
        goto failed;
    }

    if (p != end) {
        goto failed;
    }

    return 0;

failed:

    OPENSSL_cleanse(h, sizeof(*h));

    return -1;
}


/* reads label, then a decimal without leading zeros, at most 3 digits */

static int
ngx_http_securechat_passwd_uint(const unsigned char **pos,
    const unsigned char *end, const char *label, unsigned int *value)
{
    size_t                llen, digits;
    unsigned int          v;
    const unsigned char  *p;

    p = *pos;
    llen = strlen(label);

    if ((size_t) (end - p) < llen || memcmp(p, label, llen) != 0) {
        return -1;
    }

    p += llen;

    v = 0;
    digits = 0;

    while (p < end && *p >= '0' && *p <= '9') {
        if (digits == 3) {
            return -1;
        }

        if (digits == 1 && v == 0) {
            return -1;
        }

        v = v * 10 + (unsigned int) (*p - '0');
        digits++;
        p++;
    }

    if (digits == 0) {
        return -1;
    }

    *value = v;
    *pos = p;

    return 0;
}


/* exactly b64_len alphabet characters that decode to dst_len bytes */

static int
ngx_http_securechat_passwd_b64(const unsigned char **pos,
    const unsigned char *end, size_t b64_len, unsigned char *dst,
    size_t dst_len)
{
    size_t                n;
    const unsigned char  *p, *q;
    unsigned char         buf[64];

    p = *pos;

    q = p;
    while (q < end && *q != '$') {
        q++;
    }

    if ((size_t) (q - p) != b64_len || b64_len * 3 / 4 > sizeof(buf)) {
        return -1;
    }

    if (ngx_http_securechat_base64url_decode(buf, &n, p, b64_len) != 0
        || n != dst_len)
    {
        OPENSSL_cleanse(buf, sizeof(buf));
        return -1;
    }

    memcpy(dst, buf, dst_len);
    OPENSSL_cleanse(buf, sizeof(buf));

    *pos = q;

    return 0;
}


int
ngx_http_securechat_passwd_parse_line(const unsigned char *line,
    size_t len, const unsigned char **name, size_t *name_len,
    ngx_http_securechat_passwd_hash_t *h)
{
    const unsigned char  *colon;

    colon = memchr(line, ':', len);
    if (colon == NULL) {
        return -1;
    }

    if (!ngx_http_securechat_username_ok(line, (size_t) (colon - line))) {
        return -1;
    }

    colon++;

    if (ngx_http_securechat_passwd_parse(colon,
                                         len - (size_t) (colon - line), h)
        != 0)
    {
        return -1;
    }

    *name = line;
    *name_len = (size_t) (colon - 1 - line);

    return 0;
}


int
ngx_http_securechat_passwd_format(const ngx_http_securechat_passwd_hash_t *h,
    char *out, size_t out_size)
{
    int     n;
    size_t  need;

    if (!ngx_http_securechat_passwd_params_ok(h->ln, h->r, h->p)) {
        return -1;
    }

    n = snprintf(out, out_size, NGX_HTTP_SECURECHAT_SCRYPT_PREFIX
                 "ln=%u,r=%u,p=%u$", h->ln, h->r, h->p);

    if (n < 0) {
        return -1;
    }

    need = (size_t) n + NGX_HTTP_SECURECHAT_SALT_B64_LEN + 1
           + NGX_HTTP_SECURECHAT_DK_B64_LEN + 1;

    if (need > out_size || need > NGX_HTTP_SECURECHAT_HASH_STR_MAX) {
        return -1;
    }

    n += (int) ngx_http_securechat_base64url_encode((unsigned char *) out + n,
                                                    h->salt, sizeof(h->salt));
    out[n++] = '$';

    n += (int) ngx_http_securechat_base64url_encode((unsigned char *) out + n,
                                                    h->dk, sizeof(h->dk));
    out[n] = '\0';

    return n;
}


int
ngx_http_securechat_passwd_create(const unsigned char *password,
    size_t len, unsigned int ln, ngx_http_securechat_passwd_hash_t *h)
{
    if (!ngx_http_securechat_passwd_acceptable(password, len)) {
        return -1;
    }

    h->ln = ln;
    h->r = NGX_HTTP_SECURECHAT_SCRYPT_R;
    h->p = NGX_HTTP_SECURECHAT_SCRYPT_P;

    if (!ngx_http_securechat_passwd_params_ok(h->ln, h->r, h->p)) {
        return -1;
    }

    if (RAND_bytes(h->salt, sizeof(h->salt)) != 1) {
        OPENSSL_cleanse(h, sizeof(*h));
        return -1;
    }

    if (ngx_http_securechat_passwd_scrypt(password, len,
                                          h->salt, sizeof(h->salt),
                                          h->ln, h->r, h->p,
                                          h->dk, sizeof(h->dk))
        != 0)
    {
        OPENSSL_cleanse(h, sizeof(*h));
        return -1;
    }

    return 0;
}


int
ngx_http_securechat_passwd_verify(const unsigned char *password,
    size_t len, const ngx_http_securechat_passwd_hash_t *h)
{
    int            rc;
    unsigned char  dk[NGX_HTTP_SECURECHAT_DK_LEN];

    /*
     * Callers build h with parse, but check again: ln comes from a file and
     * decides how much memory this call takes.
     */

    if (!ngx_http_securechat_passwd_params_ok(h->ln, h->r, h->p)) {
        return -1;
    }

    /*
     * No stored hash can match these, and answering early reveals nothing
     * the client does not know: it chose the password.
     */

    if (!ngx_http_securechat_passwd_acceptable(password, len)) {
        return 0;
    }

    if (ngx_http_securechat_passwd_scrypt(password, len,
                                          h->salt, sizeof(h->salt),
                                          h->ln, h->r, h->p, dk, sizeof(dk))
        != 0)
    {
        OPENSSL_cleanse(dk, sizeof(dk));
        return -1;
    }

    rc = CRYPTO_memcmp(dk, h->dk, sizeof(dk)) == 0;

    OPENSSL_cleanse(dk, sizeof(dk));

    return rc;
}


int
ngx_http_securechat_passwd_scrypt(const unsigned char *password,
    size_t len, const unsigned char *salt, size_t salt_len, unsigned int ln,
    unsigned int r, unsigned int p, unsigned char *dk, size_t dk_len)
{
    if (ln < 1 || ln > NGX_HTTP_SECURECHAT_SCRYPT_LN_MAX
        || r < 1 || r > NGX_HTTP_SECURECHAT_SCRYPT_R_MAX
        || p < 1 || p > NGX_HTTP_SECURECHAT_SCRYPT_P_MAX
        || !ngx_http_securechat_passwd_mem_ok(ln, r, p))
    {
        return -1;
    }

    /*
     * EVP_PBE_scrypt() treats maxmem 0 as its own 32 MiB default, which
     * ln 15 with r 8 already exceeds: always pass our cap.
     */

    if (EVP_PBE_scrypt((const char *) password, len, salt, salt_len,
                       (uint64_t) 1 << ln, r, p,
                       NGX_HTTP_SECURECHAT_SCRYPT_MAXMEM, dk, dk_len)
        != 1)
    {
        return -1;
    }

    return 0;
}


/*
 * 1..PASSWORD_MAX bytes without NUL.  NUL matters: scrypt keys HMAC with
 * the password and HMAC zero-pads short keys, so "pw" and "pw\0" would
 * derive the same key.  JSON bodies cannot carry NUL anyway.
 */

static int
ngx_http_securechat_passwd_acceptable(const unsigned char *password,
    size_t len)
{
    return len != 0 && len <= NGX_HTTP_SECURECHAT_PASSWORD_MAX
           && memchr(password, '\0', len) == NULL;
}


static int
ngx_http_securechat_passwd_params_ok(unsigned int ln, unsigned int r,
    unsigned int p)
{
    return ln >= NGX_HTTP_SECURECHAT_SCRYPT_LN_MIN
           && ln <= NGX_HTTP_SECURECHAT_SCRYPT_LN_MAX
           && r >= 1 && r <= NGX_HTTP_SECURECHAT_SCRYPT_R_MAX
           && p >= 1 && p <= NGX_HTTP_SECURECHAT_SCRYPT_P_MAX
           && ngx_http_securechat_passwd_mem_ok(ln, r, p);
}


/* the same sum OpenSSL checks against maxmem: V plus B */

static int
ngx_http_securechat_passwd_mem_ok(unsigned int ln, unsigned int r,
    unsigned int p)
{
    uint64_t  need;

    need = (uint64_t) 128 * r * (((uint64_t) 1 << ln) + 2)
           + (uint64_t) 128 * r * p;

    return need <= NGX_HTTP_SECURECHAT_SCRYPT_MAXMEM;
}
