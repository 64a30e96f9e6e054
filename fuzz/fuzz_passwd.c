
/*
 * libFuzzer target: users-file lines through
 * ngx_http_securechat_passwd_parse_line().  Whatever parses must format
 * back to the very same bytes and re-parse to the same hash; base64url
 * decoding must be canonical in the same way.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_securechat_passwd.h"
#include "ngx_http_securechat_token.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_passwd_b64(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                                n;
    char                               out[NGX_HTTP_SECURECHAT_HASH_STR_MAX];
    size_t                             name_len;
    const unsigned char               *name, *hash;
    ngx_http_securechat_passwd_hash_t  h, h2;

    fuzz_passwd_b64(data, size);

    /* a bare hash string */

    if (ngx_http_securechat_passwd_parse(data, size, &h) == 0) {
        n = ngx_http_securechat_passwd_format(&h, out, sizeof(out));

        if (n < 0 || (size_t) n != size || memcmp(out, data, size) != 0) {
            abort();
        }
    }

    /* a whole line */

    if (ngx_http_securechat_passwd_parse_line(data, size, &name, &name_len,
                                              &h)
        != 0)
    {
        return 0;
    }

    if (name != data || name_len >= size || data[name_len] != ':'
        || !ngx_http_securechat_username_ok(name, name_len))
    {
        abort();
    }

    n = ngx_http_securechat_passwd_format(&h, out, sizeof(out));
    if (n < 0 || (size_t) n >= sizeof(out) || out[n] != '\0') {
        abort();
    }

    /* one spelling per hash: formatting gives back the input */

    hash = data + name_len + 1;

    if ((size_t) n != size - name_len - 1 || memcmp(out, hash, n) != 0) {
        abort();
    }

    memset(&h2, 0x5a, sizeof(h2));

    if (ngx_http_securechat_passwd_parse((const unsigned char *) out,
                                         (size_t) n, &h2)
        != 0
        || memcmp(&h, &h2, sizeof(h)) != 0)
    {
        abort();
    }

    return 0;
}


static void
fuzz_passwd_b64(const uint8_t *data, size_t size)
{
    size_t          n, m;
    unsigned char  *dec, *enc;

    if (size > 4096) {
        return;
    }

    dec = malloc(size * 3 / 4 + 1);
    if (dec == NULL) {
        return;
    }

    if (ngx_http_securechat_base64url_decode(dec, &n, data, size) == 0) {

        if (n > size * 3 / 4) {
            abort();
        }

        enc = malloc(ngx_http_securechat_base64url_encoded_len(n) + 1);
        if (enc == NULL) {
            free(dec);
            return;
        }

        m = ngx_http_securechat_base64url_encode(enc, dec, n);

        if (m != size || memcmp(enc, data, size) != 0) {
            abort();
        }

        free(enc);
    }

    free(dec);
}
