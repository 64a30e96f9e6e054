
/*
 * libFuzzer target: the login body through
 * ngx_http_securechat_json_parse_fields(), with the invariants the module
 * relies on checked on every accepted input.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "ngx_http_securechat_json.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                            i, j;
    json_t                           *doc, *v;
    const char                       *bad;
    ngx_http_securechat_json_rc_e     rc;
    ngx_http_securechat_json_field_t  f[2];

    memset(f, 0, sizeof(f));

    f[0].name = "username";
    f[0].min_len = 1;
    f[0].max_len = 64;
    f[0].required = 1;
    f[0].no_control = 1;

    f[1].name = "password";
    f[1].min_len = 1;
    f[1].max_len = 1024;
    f[1].required = 1;
    f[1].no_control = 0;

    rc = ngx_http_securechat_json_parse_fields(data, size, f, 2, &doc, &bad);

    if (ngx_http_securechat_json_rc_code(rc) == NULL
        || ngx_http_securechat_json_rc_text(rc) == NULL)
    {
        abort();
    }

    if (rc != NGX_HTTP_SECURECHAT_JSON_OK) {

        /* nothing may point into a document that no longer exists */

        if (doc != NULL || f[0].value != NULL || f[1].value != NULL) {
            abort();
        }

        /* bad_field, when set, is one of ours, never client input */

        if (bad != NULL && bad != f[0].name && bad != f[1].name) {
            abort();
        }

        return 0;
    }

    if (doc == NULL || !json_is_object(doc) || json_object_size(doc) != 2) {
        abort();
    }

    for (i = 0; i < 2; i++) {
        v = json_object_get(doc, f[i].name);

        if (f[i].value == NULL
            || f[i].value != json_string_value(v)
            || f[i].len != json_string_length(v)
            || f[i].len < f[i].min_len
            || f[i].len > f[i].max_len
            || memchr(f[i].value, '\0', f[i].len) != NULL)
        {
            abort();
        }

        if (f[i].no_control) {
            for (j = 0; j < f[i].len; j++) {
                if ((unsigned char) f[i].value[j] < 0x20
                    || (unsigned char) f[i].value[j] == 0x7f)
                {
                    abort();
                }
            }
        }
    }

    json_decref(doc);

    return 0;
}
