
/*
 * The HTTP routes: one content handler, dispatching on the location's role.
 */

#ifndef _NGX_HTTP_SECURECHAT_API_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_API_H_INCLUDED_


#include "ngx_http_securechat_module.h"


ngx_int_t ngx_http_securechat_handler(ngx_http_request_t *r);

/* per worker: see the comment on the malloc threshold */
ngx_int_t ngx_http_securechat_api_init_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_SECURECHAT_API_H_INCLUDED_ */
