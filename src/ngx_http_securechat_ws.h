
/*
 * The WebSocket side: after the 101 the module owns nginx's connection,
 * reads client frames through the pure codec, and writes the frames the
 * bus delivers.
 */

#ifndef _NGX_HTTP_SECURECHAT_WS_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_WS_H_INCLUDED_


#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_bus.h"


/*
 * The content handler of /api/connect (echo 0) and of the test-only echo
 * role (echo 1: no session, messages sent back as they came).
 */
ngx_int_t ngx_http_securechat_ws_handler(ngx_http_request_t *r,
    ngx_uint_t echo);

ngx_int_t ngx_http_securechat_ws_init_process(ngx_cycle_t *cycle);

#endif /* _NGX_HTTP_SECURECHAT_WS_H_INCLUDED_ */
