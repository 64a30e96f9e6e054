
/*
 * Strict JSON intake for request bodies.  Pure: no nginx types, so the unit
 * tests and the fuzzer call it directly.
 */

#ifndef _NGX_HTTP_SECURECHAT_JSON_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_JSON_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


typedef enum {
    NGX_HTTP_SECURECHAT_JSON_OK = 0,
    NGX_HTTP_SECURECHAT_JSON_EMPTY,        /* zero-length body */
    NGX_HTTP_SECURECHAT_JSON_MALFORMED,    /* syntax, UTF-8, NUL, depth... */
    NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT,   /* top level array or scalar */
    NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD,
    NGX_HTTP_SECURECHAT_JSON_MISSING_FIELD,
    NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE,
    NGX_HTTP_SECURECHAT_JSON_TOO_LONG,
    NGX_HTTP_SECURECHAT_JSON_TOO_SHORT,
    NGX_HTTP_SECURECHAT_JSON_BAD_CHARS     /* control chars where banned */
} ngx_http_securechat_json_rc_e;


/* one expected string member of the top-level object */
typedef struct {
    const char                 *name;
    size_t                      min_len;   /* bytes */
    size_t                      max_len;   /* bytes */
    unsigned                    required:1;
    unsigned                    no_control:1;  /* refuse C0 controls + DEL */

    /* out: points into the json_t, valid while the document lives */
    const char                 *value;
    size_t                      len;
} ngx_http_securechat_json_field_t;


/*
 * Parses buf[0..len) with json_loadb(JSON_REJECT_DUPLICATES), requires a
 * top-level object whose members are exactly among fields[0..n) (all of type
 * string), and fills value/len of each present field.  On success *doc holds
 * a new reference the caller must json_decref(); on failure *doc is NULL and,
 * if bad_field is not NULL, *bad_field names the offending member (or NULL).
 * *bad_field is always one of fields[].name: it stays NULL for
 * UNKNOWN_FIELD, whose name is client input and is not echoed back.  An
 * empty or whitespace-only body is EMPTY; a body that starts like a JSON
 * scalar or array is NOT_OBJECT (arrays must still be valid JSON).
 */
ngx_http_securechat_json_rc_e ngx_http_securechat_json_parse_fields(
    const unsigned char *buf, size_t len,
    ngx_http_securechat_json_field_t *fields, size_t n,
    json_t **doc, const char **bad_field);

/* short stable machine-readable code, e.g. "malformed_json" */
const char *ngx_http_securechat_json_rc_code(ngx_http_securechat_json_rc_e rc);

/* human-readable sentence for the error body */
const char *ngx_http_securechat_json_rc_text(ngx_http_securechat_json_rc_e rc);


#endif /* _NGX_HTTP_SECURECHAT_JSON_H_INCLUDED_ */
