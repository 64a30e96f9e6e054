
/*
 * The test-only echo role: no session, no fan-out; each message is sent
 * back as it came, text or binary.  The conformance tests (t/020, t/025)
 * check the transport through it.
 */

#include "ngx_http_securechat_module.h"

#include "ngx_http_securechat_frame.h"
#include "ngx_http_securechat_handshake.h"
#include "ngx_http_securechat_ws_int.h"


static ngx_int_t ngx_http_securechat_ws_echo_start(ngx_http_request_t *r,
    ngx_http_securechat_ws_t *ws, ngx_http_securechat_ctx_t *ctx);
static void ngx_http_securechat_ws_echo_message(ngx_http_securechat_ws_t *ws,
    ngx_uint_t opcode, const u_char *data, size_t len);


ngx_http_securechat_ws_role_t  ngx_http_securechat_ws_echo_role = {
    ngx_http_securechat_ws_echo_start,
    NULL,                                  /* attach */
    ngx_http_securechat_ws_echo_message,
    NULL,                                  /* idle */
    NULL,                                  /* drained */
    NULL,                                  /* closing */
    NULL                                   /* release */
};


/* the 101 at once: there is nothing to prepare */

static ngx_int_t
ngx_http_securechat_ws_echo_start(ngx_http_request_t *r,
    ngx_http_securechat_ws_t *ws, ngx_http_securechat_ctx_t *ctx)
{
    ngx_int_t  rc;

    ngx_http_securechat_frame_parser_allow_binary(&ws->parser);

    rc = ngx_http_securechat_handshake_accept(r, ws->accept);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    r->main->count++;

    (void) ngx_http_securechat_ws_takeover(r, ws);

    return NGX_DONE;
}


static void
ngx_http_securechat_ws_echo_message(ngx_http_securechat_ws_t *ws,
    ngx_uint_t opcode, const u_char *data, size_t len)
{
    (void) ngx_http_securechat_ws_frame(ws, opcode, data, len);
}
