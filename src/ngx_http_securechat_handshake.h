
/*
 * The WebSocket opening handshake (RFC 6455 section 4.2): every check that
 * can refuse a client happens here, before the 101.
 */

#ifndef _NGX_HTTP_SECURECHAT_HANDSHAKE_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_HANDSHAKE_H_INCLUDED_


#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_http.h"


#define NGX_HTTP_SECURECHAT_WS_ACCEPT_LEN  28   /* base64 of SHA-1 */


/*
 * 1 if the comma-separated header value lists token (case-insensitive,
 * optional white space), as Connection and Upgrade are written.  Pure.
 */
ngx_uint_t ngx_http_securechat_token_listed(u_char *value, size_t len,
    const char *token);

/* Sec-WebSocket-Accept for a client key; 0 or -1.  Pure. */
int ngx_http_securechat_ws_accept(const u_char *key, size_t len,
    u_char *accept);

/*
 * Checks the upgrade request and, for a chat connection (need_session),
 * the session and its client key.  NGX_OK, or an error answer was sent and
 * *answer is what to finalize with.  On NGX_OK, accept holds the
 * Sec-WebSocket-Accept value.
 */
ngx_int_t ngx_http_securechat_handshake_check(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, ngx_uint_t need_session, u_char *accept,
    ngx_int_t *answer);

/* sends the 101 with Upgrade and Sec-WebSocket-Accept */
ngx_int_t ngx_http_securechat_handshake_accept(ngx_http_request_t *r,
    u_char *accept);


#endif /* _NGX_HTTP_SECURECHAT_HANDSHAKE_H_INCLUDED_ */
