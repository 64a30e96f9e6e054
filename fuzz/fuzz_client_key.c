
/*
 * libFuzzer target: ngx_http_securechat_client_key_import() on arbitrary
 * bytes, twice per input: as the PEM text itself (the PEM scanner), and
 * wrapped as the body of a well-formed PEM block (so mutations reach the
 * DER decoder and the key checks).  An accepted key must come back with
 * the same DER and key id when imported again from a canonical PEM, and in
 * the wrapped case its DER must be exactly the input (canonical DER only).
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_token.h"


#define FUZZ_PEM_MAX  2048


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_client_key_wrap(const uint8_t *der, size_t len,
    unsigned char *pem);
static int fuzz_client_key_import(const uint8_t *pem, size_t len,
    unsigned char *der, size_t *der_len, unsigned char *id);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t         der_len, der2_len, pem_len;
    unsigned char  der[NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX];
    unsigned char  der2[NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX];
    unsigned char  id[NGX_HTTP_SECURECHAT_KEY_ID_LEN];
    unsigned char  id2[NGX_HTTP_SECURECHAT_KEY_ID_LEN];
    unsigned char  pem[FUZZ_PEM_MAX];

    if (fuzz_client_key_import(data, size, der, &der_len, id) == 0) {

        /* the same key again from the canonical PEM of what came out */

        pem_len = fuzz_client_key_wrap(der, der_len, pem);

        /*
         * OpenSSL's check of a crafted modulus is probabilistic (enhanced
         * Miller-Rabin with random bases), so a second look may refuse
         * what the first accepted; it must never yield another key.
         */

        if (fuzz_client_key_import(pem, pem_len, der2, &der2_len, id2) == 0
            && (der2_len != der_len || memcmp(der, der2, der_len) != 0
                || memcmp(id, id2, sizeof(id)) != 0))
        {
            abort();
        }
    }

    if (size > NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX) {
        return 0;
    }

    pem_len = fuzz_client_key_wrap(data, size, pem);

    if (fuzz_client_key_import(pem, pem_len, der, &der_len, id) == 0) {
        if (der_len != size || memcmp(der, data, size) != 0) {
            abort();
        }
    }

    return 0;
}


static size_t
fuzz_client_key_wrap(const uint8_t *der, size_t len, unsigned char *pem)
{
    int     n;
    size_t  off, i, w;

    static const char  begin[] = "-----BEGIN PUBLIC KEY-----\n";
    static const char  end[] = "-----END PUBLIC KEY-----\n";
    unsigned char      b64[FUZZ_PEM_MAX];

    n = EVP_EncodeBlock(b64, der, (int) len);

    memcpy(pem, begin, sizeof(begin) - 1);
    off = sizeof(begin) - 1;

    for (i = 0; i < (size_t) n; i += 64) {
        w = (size_t) n - i < 64 ? (size_t) n - i : 64;
        memcpy(pem + off, b64 + i, w);
        off += w;
        pem[off++] = '\n';
    }

    memcpy(pem + off, end, sizeof(end) - 1);

    return off + sizeof(end) - 1;
}


static int
fuzz_client_key_import(const uint8_t *pem, size_t len, unsigned char *der,
    size_t *der_len, unsigned char *id)
{
    size_t       i;
    const char  *why;
    int          rc;

    why = NULL;
    rc = ngx_http_securechat_client_key_import(pem, len, der, der_len, id,
                                               &why);

    if (rc != 0) {
        if (rc != -1 || why == NULL || why[0] == '\0') {
            abort();
        }

        return -1;
    }

    if (*der_len == 0 || *der_len > NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX) {
        abort();
    }

    for (i = 0; i < NGX_HTTP_SECURECHAT_KEY_ID_LEN; i++) {
        if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= 'a' && id[i] <= 'z')
              || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'
              || id[i] == '_'))
        {
            abort();
        }
    }

    return 0;
}
