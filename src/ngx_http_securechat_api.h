
/*
 * The HTTP routes: one content handler, dispatching on the location's role.
 */

#ifndef _NGX_HTTP_SECURECHAT_API_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_API_H_INCLUDED_


#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_http.h"
#include "ngx_http_securechat_json.h"


ngx_int_t ngx_http_securechat_handler(ngx_http_request_t *r);

/*
 * For every POST route: method, Origin, then (when authenticate is set)
 * session and CSRF token, before reading the JSON body into body_handler.
 */
ngx_int_t ngx_http_securechat_post_route(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt body_handler, ngx_uint_t authenticate);

/*
 * In a body handler: NGX_OK when the body is a valid document for fields;
 * otherwise an error answer was sent and *answer is what to finalize with.
 */
ngx_int_t ngx_http_securechat_parse_body(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, ngx_http_securechat_json_field_t *fields,
    size_t n, ngx_int_t *answer);

/* per worker: see the comment on the malloc threshold */
ngx_int_t ngx_http_securechat_api_init_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_SECURECHAT_API_H_INCLUDED_ */
