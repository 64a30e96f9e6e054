
/*
 * libFuzzer target: ngx_http_securechat_cookie_find() on arbitrary Cookie
 * header values, for a fixed name and for a name taken from the input.
 * Checks that a value found lies inside the header and is delimited the
 * way the parser promises.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_securechat_token.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_cookie_check(const uint8_t *h, size_t len, const char *name);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    name[16];
    size_t  nlen;

    fuzz_cookie_check(data, size, "sc_session");

    /* first byte: length of a name that follows; the rest is the header */

    if (size == 0) {
        return 0;
    }

    nlen = data[0] % sizeof(name);
    if (nlen >= size) {
        return 0;
    }

    memcpy(name, data + 1, nlen);
    name[nlen] = '\0';

    fuzz_cookie_check(data + 1 + nlen, size - 1 - nlen, name);

    return 0;
}


static void
fuzz_cookie_check(const uint8_t *h, size_t len, const char *name)
{
    int             n;
    size_t          vlen;
    const uint8_t  *v, *p;

    n = ngx_http_securechat_cookie_find(h, len, name, &v, &vlen);

    if (n < 0) {
        abort();
    }

    if (n == 0) {
        if (v != NULL || vlen != 0) {
            abort();
        }

        return;
    }

    if (v == NULL || v < h || v > h + len || vlen > (size_t) (h + len - v)) {
        abort();
    }

    /* the value has no ';' and no surrounding whitespace */

    if (vlen > 0
        && (v[0] == ' ' || v[0] == '\t'
            || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
    {
        abort();
    }

    if (memchr(v, ';', vlen) != NULL) {
        abort();
    }

    /* it ends at the end, at ';' or at whitespace before one */

    p = v + vlen;
    while (p < h + len && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p != h + len && *p != ';') {
        abort();
    }

    /* and is preceded by "name" OWS "=" OWS */

    p = v;
    while (p > h && (p[-1] == ' ' || p[-1] == '\t')) {
        p--;
    }

    if (p == h || p[-1] != '=') {
        abort();
    }
}
