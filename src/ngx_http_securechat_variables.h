
/*
 * Variables for log_format: $securechat_user, the session's user (or the
 * user a login succeeded for), and $securechat_room, the room a request
 * named (a rooms route's path, a chat post's "room").  Empty, logged as
 * "-", when there is none.
 */

#ifndef _NGX_HTTP_SECURECHAT_VARIABLES_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_VARIABLES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_securechat_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_SECURECHAT_VARIABLES_H_INCLUDED_ */
