
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


#include "ngx_http_securechat_rooms.h"


ngx_int_t ngx_http_securechat_rooms_handler(ngx_http_request_t *r);

/* the answer to a call of ngx_http_securechat_rooms.h that refused */
ngx_int_t ngx_http_securechat_rooms_refusal(ngx_http_request_t *r,
    ngx_http_securechat_rooms_rc_e rc, ngx_http_securechat_room_rc_e why);


#endif /* _NGX_HTTP_SECURECHAT_ROOMS_API_H_INCLUDED_ */
