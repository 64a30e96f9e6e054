
/*
 * Session tokens, CSRF tokens, base64url and Cookie header parsing.
 * Plain C and OpenSSL only: see ngx_http_securechat_token.h.
 */


#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "ngx_http_securechat_token.h"


#define NGX_HTTP_SECURECHAT_SESSION_LABEL  "securechat session v1"
#define NGX_HTTP_SECURECHAT_CSRF_LABEL     "securechat csrf v1"


static unsigned char ngx_http_securechat_base64url_char(unsigned int v);
static int ngx_http_securechat_base64url_value(unsigned int c);
static int ngx_http_securechat_hmac_sha256(const unsigned char *secret,
    size_t secret_len, const char *label, const unsigned char *data,
    size_t data_len, unsigned char *out);
static int ngx_http_securechat_cookie_ows(unsigned char c);


size_t
ngx_http_securechat_base64url_encoded_len(size_t len)
{
    return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}


size_t
ngx_http_securechat_base64url_encode(unsigned char *dst,
    const unsigned char *src, size_t len)
{
    unsigned char  *d;
    unsigned int    v;

    d = dst;

    while (len >= 3) {
        v = (unsigned int) src[0] << 16 | (unsigned int) src[1] << 8 | src[2];

        *d++ = ngx_http_securechat_base64url_char(v >> 18);
        *d++ = ngx_http_securechat_base64url_char((v >> 12) & 0x3f);
        *d++ = ngx_http_securechat_base64url_char((v >> 6) & 0x3f);
        *d++ = ngx_http_securechat_base64url_char(v & 0x3f);

        src += 3;
        len -= 3;
    }

    if (len == 2) {
        v = (unsigned int) src[0] << 16 | (unsigned int) src[1] << 8;

        *d++ = ngx_http_securechat_base64url_char(v >> 18);
        *d++ = ngx_http_securechat_base64url_char((v >> 12) & 0x3f);
        *d++ = ngx_http_securechat_base64url_char((v >> 6) & 0x3f);

    } else if (len == 1) {
        v = (unsigned int) src[0] << 16;

        *d++ = ngx_http_securechat_base64url_char(v >> 18);
        *d++ = ngx_http_securechat_base64url_char((v >> 12) & 0x3f);
    }

    return (size_t) (d - dst);
}


int
ngx_http_securechat_base64url_decode(unsigned char *dst, size_t *dst_len,
    const unsigned char *src, size_t len)
{
    int             c0, c1, c2, c3, bad;
    size_t          rem;
    unsigned char  *d;

    rem = len % 4;

    if (rem == 1) {
        return -1;
    }

    d = dst;

    /*
     * bad accumulates instead of returning early, so the time taken does
     * not depend on where a bad character is (salts and keys go through here)
     */

    bad = 0;

    for ( /* void */ ; len >= 4; len -= 4, src += 4) {
        c0 = ngx_http_securechat_base64url_value(src[0]);
        c1 = ngx_http_securechat_base64url_value(src[1]);
        c2 = ngx_http_securechat_base64url_value(src[2]);
        c3 = ngx_http_securechat_base64url_value(src[3]);

        /*
         * -1 marks a byte outside the alphabet; the masks below keep the
         * shifts defined until the verdict at the end
         */

        bad |= c0 | c1 | c2 | c3;

        *d++ = (unsigned char) ((c0 & 0x3f) << 2 | (c1 & 0x3f) >> 4);
        *d++ = (unsigned char) ((c1 & 0x0f) << 4 | (c2 & 0x3f) >> 2);
        *d++ = (unsigned char) ((c2 & 0x03) << 6 | (c3 & 0x3f));
    }

    if (rem == 2) {
        c0 = ngx_http_securechat_base64url_value(src[0]);
        c1 = ngx_http_securechat_base64url_value(src[1]);

        /* the low 4 bits of the last character carry nothing: must be 0 */
        bad |= c0 | c1 | -((c1 & 0x0f) != 0);

        *d++ = (unsigned char) ((c0 & 0x3f) << 2 | (c1 & 0x3f) >> 4);

    } else if (rem == 3) {
        c0 = ngx_http_securechat_base64url_value(src[0]);
        c1 = ngx_http_securechat_base64url_value(src[1]);
        c2 = ngx_http_securechat_base64url_value(src[2]);

        /* likewise the low 2 bits */
        bad |= c0 | c1 | c2 | -((c2 & 0x03) != 0);

        *d++ = (unsigned char) ((c0 & 0x3f) << 2 | (c1 & 0x3f) >> 4);
        *d++ = (unsigned char) ((c1 & 0x0f) << 4 | (c2 & 0x3f) >> 2);
    }

    if (bad < 0) {
        return -1;
    }

    *dst_len = (size_t) (d - dst);

    return 0;
}


/*
 * Maps 0..63 to the alphabet without branches or table look-ups, so the
 * encoding of a secret does not leak through timing or the cache.
 * Each step adds the distance to the next alphabet range once v is past it.
 */

static unsigned char
ngx_http_securechat_base64url_char(unsigned int v)
{
    int  n, diff;

    n = (int) v;
    diff = 'A';

    diff += ((25 - n) >> 8) & ('a' - 26 - 'A');
    diff -= ((51 - n) >> 8) & (('a' - 26) - ('0' - 52));
    diff -= ((61 - n) >> 8) & (('0' - 52) - ('-' - 62));
    diff += ((62 - n) >> 8) & (('_' - 63) - ('-' - 62));

    return (unsigned char) (n + diff);
}


/*
 * The inverse: 0..63, or -1 for a byte outside the alphabet.  A term
 * ((lo - 1 - c) & (c - hi - 1)) >> 8 is all ones exactly when lo <= c <= hi.
 */

static int
ngx_http_securechat_base64url_value(unsigned int c)
{
    int  n, v;

    n = (int) c;
    v = -1;

    v += ((('A' - 1 - n) & (n - 'Z' - 1)) >> 8) & (n - 'A' + 1);
    v += ((('a' - 1 - n) & (n - 'z' - 1)) >> 8) & (n - 'a' + 26 + 1);
    v += ((('0' - 1 - n) & (n - '9' - 1)) >> 8) & (n - '0' + 52 + 1);
    v += ((('-' - 1 - n) & (n - '-' - 1)) >> 8) & (62 + 1);
    v += ((('_' - 1 - n) & (n - '_' - 1)) >> 8) & (63 + 1);

    return v;
}


int
ngx_http_securechat_token_generate(unsigned char *out)
{
    unsigned char  raw[NGX_HTTP_SECURECHAT_TOKEN_BYTES];

    /* RAND_bytes, not RAND_pseudo_bytes: fail rather than guess */

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        OPENSSL_cleanse(raw, sizeof(raw));
        return -1;
    }

    (void) ngx_http_securechat_base64url_encode(out, raw, sizeof(raw));

    OPENSSL_cleanse(raw, sizeof(raw));

    return 0;
}


int
ngx_http_securechat_token_syntax_ok(const unsigned char *s, size_t len)
{
    size_t         n;
    unsigned char  raw[NGX_HTTP_SECURECHAT_TOKEN_BYTES + 2];

    if (len != NGX_HTTP_SECURECHAT_TOKEN_LEN) {
        return 0;
    }

    /*
     * Decoding also refuses the non-canonical spellings of a token (nonzero
     * trailing bits), which we never issue.
     */

    if (ngx_http_securechat_base64url_decode(raw, &n, s, len) != 0
        || n != NGX_HTTP_SECURECHAT_TOKEN_BYTES)
    {
        OPENSSL_cleanse(raw, sizeof(raw));
        return 0;
    }

    OPENSSL_cleanse(raw, sizeof(raw));

    return 1;
}


int
ngx_http_securechat_token_hash(const unsigned char *secret,
    size_t secret_len, const unsigned char *token, size_t token_len,
    unsigned char *out)
{
    return ngx_http_securechat_hmac_sha256(secret, secret_len,
                                           NGX_HTTP_SECURECHAT_SESSION_LABEL,
                                           token, token_len, out);
}


int
ngx_http_securechat_csrf_derive(const unsigned char *secret,
    size_t secret_len, const unsigned char *token, size_t token_len,
    unsigned char *out)
{
    unsigned char  mac[NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN];

    if (ngx_http_securechat_hmac_sha256(secret, secret_len,
                                        NGX_HTTP_SECURECHAT_CSRF_LABEL,
                                        token, token_len, mac)
        != 0)
    {
        return -1;
    }

    (void) ngx_http_securechat_base64url_encode(out, mac, sizeof(mac));

    OPENSSL_cleanse(mac, sizeof(mac));

    return 0;
}


/*
 * HMAC-SHA-256(secret, label || data).  The labels are fixed strings, so
 * the concatenation is unambiguous and the two uses never collide.
 */

static int
ngx_http_securechat_hmac_sha256(const unsigned char *secret,
    size_t secret_len, const char *label, const unsigned char *data,
    size_t data_len, unsigned char *out)
{
    int            rc;
    char           digest[] = "SHA256";
    size_t         out_len;
    EVP_MAC       *mac;
    OSSL_PARAM     params[2];
    EVP_MAC_CTX   *ctx;

    /* an empty key is a configuration mistake, not something to hash with */

    if (secret_len == 0) {
        return -1;
    }

    rc = -1;
    ctx = NULL;

    mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (mac == NULL) {
        goto done;
    }

    ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL) {
        goto done;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 digest, 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_init(ctx, secret, secret_len, params) != 1
        || EVP_MAC_update(ctx, (const unsigned char *) label, strlen(label))
           != 1
        || EVP_MAC_update(ctx, data, data_len) != 1
        || EVP_MAC_final(ctx, out, &out_len,
                         NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN)
           != 1
        || out_len != NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN)
    {
        goto done;
    }

    rc = 0;

done:

    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);

    return rc;
}


int
ngx_http_securechat_token_equal(const unsigned char *a, size_t a_len,
    const unsigned char *b, size_t b_len)
{
    /* the length is public (tokens have a fixed one); the bytes are not */

    if (a_len != b_len) {
        return 0;
    }

    return CRYPTO_memcmp(a, b, a_len) == 0;
}


int
ngx_http_securechat_cookie_find(const unsigned char *header, size_t len,
    const char *name, const unsigned char **val, size_t *val_len)
{
    int                   found;
    size_t                name_len;
    const unsigned char  *p, *end, *pair, *pair_end, *eq, *n_end, *v;

    *val = NULL;
    *val_len = 0;

    name_len = strlen(name);
    if (name_len == 0) {
        return 0;
    }

    found = 0;

    p = header;
    end = header + len;

    while (p < end) {

        /* one "name=value" pair, up to the next ';' or the end */

        pair = p;
        pair_end = memchr(p, ';', (size_t) (end - p));
        if (pair_end == NULL) {
            pair_end = end;
        }

        p = (pair_end < end) ? pair_end + 1 : end;

        while (pair < pair_end && ngx_http_securechat_cookie_ows(*pair)) {
            pair++;
        }

        while (pair_end > pair && ngx_http_securechat_cookie_ows(pair_end[-1]))
        {
            pair_end--;
        }

        /* a pair without '=' is ignored, as RFC 6265 5.2 tells browsers */

        eq = memchr(pair, '=', (size_t) (pair_end - pair));
        if (eq == NULL) {
            continue;
        }

        n_end = eq;
        while (n_end > pair && ngx_http_securechat_cookie_ows(n_end[-1])) {
            n_end--;
        }

        if ((size_t) (n_end - pair) != name_len
            || memcmp(pair, name, name_len) != 0)
        {
            continue;
        }

        v = eq + 1;
        while (v < pair_end && ngx_http_securechat_cookie_ows(*v)) {
            v++;
        }

        /*
         * Every occurrence is counted: two cookies of one name mean a
         * cookie was injected for a parent domain or path, and the caller
         * refuses rather than guess which one the server set.
         */

        if (found == 0) {
            *val = v;
            *val_len = (size_t) (pair_end - v);
        }

        found++;
    }

    return found;
}


static int
ngx_http_securechat_cookie_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}
