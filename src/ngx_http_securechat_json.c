
/*
 * Strict JSON intake for request bodies: see ngx_http_securechat_json.h.
 */


#include <string.h>
#include <jansson.h>

#include "ngx_http_securechat_json.h"


static int ngx_http_securechat_json_space(unsigned char c);
static ngx_http_securechat_json_rc_e ngx_http_securechat_json_check(
    json_t *obj, ngx_http_securechat_json_field_t *fields, size_t n,
    const char **bad_field);
static int ngx_http_securechat_json_has_control(const char *s, size_t len);


ngx_http_securechat_json_rc_e
ngx_http_securechat_json_parse_fields(const unsigned char *buf, size_t len,
    ngx_http_securechat_json_field_t *fields, size_t n, json_t **doc,
    const char **bad_field)
{
    size_t                          i;
    json_t                         *root;
    json_error_t                    err;
    const unsigned char            *p, *end;
    ngx_http_securechat_json_rc_e   rc;

    *doc = NULL;

    if (bad_field != NULL) {
        *bad_field = NULL;
    }

    for (i = 0; i < n; i++) {
        fields[i].value = NULL;
        fields[i].len = 0;
    }

    /* an empty body may come as a NULL buffer: no arithmetic on it */

    if (len == 0) {
        return NGX_HTTP_SECURECHAT_JSON_EMPTY;
    }

    p = buf;
    end = buf + len;

    while (p < end && ngx_http_securechat_json_space(*p)) {
        p++;
    }

    if (p == end) {
        return NGX_HTTP_SECURECHAT_JSON_EMPTY;
    }

    /*
     * Without JSON_DECODE_ANY jansson refuses a top-level scalar with the
     * same generic syntax error as garbage; tell the client which it was
     * from the first byte.  A top-level array still goes through jansson,
     * so that a broken one is reported as malformed.
     */

    if (*p != '{' && *p != '[') {
        if (*p == '"' || *p == '-' || (*p >= '0' && *p <= '9')
            || *p == 't' || *p == 'f' || *p == 'n')
        {
            return NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT;
        }

        return NGX_HTTP_SECURECHAT_JSON_MALFORMED;
    }

    /*
     * json_loadb() refuses on its own: invalid UTF-8, lone surrogates,
     * \u0000 (no JSON_ALLOW_NUL), raw control bytes including NUL, nesting
     * deeper than its parser limit, numbers out of range, trailing bytes
     * (no JSON_DISABLE_EOF_CHECK); the unit tests pin each of these down.
     */

    root = json_loadb((const char *) buf, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        return NGX_HTTP_SECURECHAT_JSON_MALFORMED;
    }

    if (!json_is_object(root)) {
        json_decref(root);
        return NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT;
    }

    rc = ngx_http_securechat_json_check(root, fields, n, bad_field);

    if (rc != NGX_HTTP_SECURECHAT_JSON_OK) {

        /* nothing may keep pointing into the document we free */

        for (i = 0; i < n; i++) {
            fields[i].value = NULL;
            fields[i].len = 0;
        }

        json_decref(root);
        return rc;
    }

    *doc = root;

    return NGX_HTTP_SECURECHAT_JSON_OK;
}


static int
ngx_http_securechat_json_space(unsigned char c)
{
    /* the four whitespace characters of RFC 8259, nothing else */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}


static ngx_http_securechat_json_rc_e
ngx_http_securechat_json_check(json_t *obj,
    ngx_http_securechat_json_field_t *fields, size_t n,
    const char **bad_field)
{
    size_t                          i, slen;
    json_t                         *v;
    const char                     *key, *s;
    ngx_http_securechat_json_rc_e   rc;

    /*
     * Unknown members first: a typo'd or unexpected field is refused
     * whatever else is wrong, and its name is not echoed back (it is
     * client input and lives in the document we are about to free).
     */

    json_object_foreach(obj, key, v) {

        for (i = 0; i < n; i++) {
            if (strcmp(key, fields[i].name) == 0) {
                break;
            }
        }

        if (i == n) {
            return NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD;
        }
    }

    for (i = 0; i < n; i++) {

        v = json_object_get(obj, fields[i].name);

        if (v == NULL) {
            if (fields[i].required) {
                rc = NGX_HTTP_SECURECHAT_JSON_MISSING_FIELD;
                goto failed;
            }

            continue;
        }

        if (!json_is_string(v)) {
            rc = NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE;
            goto failed;
        }

        /* byte length: the strings cannot hold NUL, but do not rely on it */

        s = json_string_value(v);
        slen = json_string_length(v);

        if (slen > fields[i].max_len) {
            rc = NGX_HTTP_SECURECHAT_JSON_TOO_LONG;
            goto failed;
        }

        if (slen < fields[i].min_len) {
            rc = NGX_HTTP_SECURECHAT_JSON_TOO_SHORT;
            goto failed;
        }

        if (fields[i].no_control
            && ngx_http_securechat_json_has_control(s, slen))
        {
            rc = NGX_HTTP_SECURECHAT_JSON_BAD_CHARS;
            goto failed;
        }

        fields[i].value = s;
        fields[i].len = slen;
    }

    return NGX_HTTP_SECURECHAT_JSON_OK;

failed:

    if (bad_field != NULL) {
        *bad_field = fields[i].name;
    }

    return rc;
}


static int
ngx_http_securechat_json_has_control(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c < 0x20 || c == 0x7f) {
            return 1;
        }
    }

    return 0;
}


const char *
ngx_http_securechat_json_rc_code(ngx_http_securechat_json_rc_e rc)
{
    switch (rc) {

    case NGX_HTTP_SECURECHAT_JSON_OK:
        return "ok";

    case NGX_HTTP_SECURECHAT_JSON_EMPTY:
        return "empty_body";

    case NGX_HTTP_SECURECHAT_JSON_MALFORMED:
        return "malformed_json";

    case NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT:
        return "not_an_object";

    case NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD:
        return "unknown_field";

    case NGX_HTTP_SECURECHAT_JSON_MISSING_FIELD:
        return "missing_field";

    case NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE:
        return "wrong_type";

    case NGX_HTTP_SECURECHAT_JSON_TOO_LONG:
        return "too_long";

    case NGX_HTTP_SECURECHAT_JSON_TOO_SHORT:
        return "too_short";

    case NGX_HTTP_SECURECHAT_JSON_BAD_CHARS:
        return "bad_characters";
    }

    return "internal_error";
}


const char *
ngx_http_securechat_json_rc_text(ngx_http_securechat_json_rc_e rc)
{
    switch (rc) {

    case NGX_HTTP_SECURECHAT_JSON_OK:
        return "OK.";

    case NGX_HTTP_SECURECHAT_JSON_EMPTY:
        return "The request body is empty.";

    case NGX_HTTP_SECURECHAT_JSON_MALFORMED:
        return "The request body is not valid JSON.";

    case NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT:
        return "The request body must be a JSON object.";

    case NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD:
        return "The request body has a field that is not accepted here.";

    case NGX_HTTP_SECURECHAT_JSON_MISSING_FIELD:
        return "A required field is missing.";

    case NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE:
        return "A field has the wrong type; a string is expected.";

    case NGX_HTTP_SECURECHAT_JSON_TOO_LONG:
        return "A field is too long.";

    case NGX_HTTP_SECURECHAT_JSON_TOO_SHORT:
        return "A field is too short.";

    case NGX_HTTP_SECURECHAT_JSON_BAD_CHARS:
        return "A field contains control characters.";
    }

    return "Internal error.";
}
