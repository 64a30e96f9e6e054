
/*
 * The rooms routes: one location (`securechat rooms;`), the rest of the
 * path routed here.  The state and its locking are
 * ngx_http_securechat_rooms.c's; this file reads requests and answers.
 */

#ifndef _NGX_HTTP_SECURECHAT_ROOMS_API_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_ROOMS_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_securechat_rooms_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_SECURECHAT_ROOMS_API_H_INCLUDED_ */
