
/*
 * Request plumbing shared by the routes: JSON responses and errors, body
 * intake, the session cookie, and the CSRF and Origin checks.
 */

#ifndef _NGX_HTTP_SECURECHAT_HTTP_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_HTTP_H_INCLUDED_


#include <jansson.h>

#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_store.h"
#include "ngx_http_securechat_token.h"


typedef struct {
    ngx_str_t                        body;      /* whole request body */
    json_t                          *doc;       /* freed by a pool cleanup */

    /* the caller's session, once authenticated */
    u_char                           token[NGX_HTTP_SECURECHAT_TOKEN_LEN];
    u_char                           hash[NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN];
    ngx_http_securechat_session_t    session;

    /* login */
    ngx_str_t                        user;
    ngx_str_t                        throttle_key;
    struct ngx_http_securechat_login_task_s  *login;

    /* the rooms routes: the room the path names, and the route */
    ngx_str_t                        room;
    const void                      *room_route;

    /* chat: the id the message got, 0 if it could not be published */
    uint64_t                         chat_id;

    /* the WebSocket, once the connection is ours */
    void                            *ws;
} ngx_http_securechat_ctx_t;


ngx_http_securechat_ctx_t *ngx_http_securechat_get_ctx(ngx_http_request_t *r);

ngx_int_t ngx_http_securechat_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *body);
ngx_int_t ngx_http_securechat_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
/* each request header called name in turn; start with *part = NULL */
ngx_table_elt_t *ngx_http_securechat_next_header(ngx_http_request_t *r,
    const char *name, size_t len, ngx_list_part_t **part, ngx_uint_t *i);

/* counts the request headers called name; *first is the first of them */
ngx_uint_t ngx_http_securechat_find_header(ngx_http_request_t *r,
    const char *name, size_t len, ngx_table_elt_t **first);
ngx_int_t ngx_http_securechat_add_header(ngx_http_request_t *r,
    const char *key, u_char *value, size_t len);
ngx_int_t ngx_http_securechat_method_not_allowed(ngx_http_request_t *r,
    const char *allow);

/*
 * The request's own origin, the allowlist and Sec-Fetch-Site: NGX_OK or
 * NGX_HTTP_FORBIDDEN.  A request without Origin passes unless required
 * (non-browser clients).  After a refusal, origin_refusal() says why (a
 * sentence from the request pool) and send_origin_error() answers 403
 * forbidden_origin with it.
 */
ngx_int_t ngx_http_securechat_check_origin(ngx_http_request_t *r,
    ngx_uint_t required);
const char *ngx_http_securechat_origin_refusal(ngx_http_request_t *r);
ngx_int_t ngx_http_securechat_send_origin_error(ngx_http_request_t *r);

/*
 * The session cookie (each of them, see the .c), then (when csrf is set)
 * the X-CSRF-Token header:
 * NGX_OK with ctx->session filled, NGX_HTTP_UNAUTHORIZED,
 * NGX_HTTP_FORBIDDEN, or NGX_ERROR.  Error responses are left to the
 * caller, via ngx_http_securechat_send_auth_error().
 */
ngx_int_t ngx_http_securechat_authenticate(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, ngx_uint_t csrf);
ngx_int_t ngx_http_securechat_send_auth_error(ngx_http_request_t *r,
    ngx_int_t rc);

/*
 * Starts reading a JSON body after checking its type and declared size;
 * returns what a content handler returns.  The post handler then calls
 * ngx_http_securechat_body_bytes() to get it in one piece.
 */
ngx_int_t ngx_http_securechat_read_json_body(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt post_handler);
ngx_int_t ngx_http_securechat_body_bytes(ngx_http_request_t *r,
    ngx_str_t *body);

/* registers json_decref(doc) on the request pool */
ngx_int_t ngx_http_securechat_keep_json(ngx_http_request_t *r, json_t *doc);

/*
 * A request that waits for a thread: suspend() blocks it (nginx keeps it
 * even if the client goes away) and makes finish its write handler;
 * resume(), from the thread task's completion event, runs finish, or
 * nginx's finalizer if the request was terminated meanwhile.
 */
void ngx_http_securechat_suspend(ngx_http_request_t *r,
    ngx_http_event_handler_pt finish);
void ngx_http_securechat_resume(ngx_http_request_t *r);

/* sc_session, or __Host-sc_session over TLS */
const char *ngx_http_securechat_cookie_name(ngx_http_request_t *r);
ngx_int_t ngx_http_securechat_set_session_cookie(ngx_http_request_t *r,
    u_char *token, time_t max_age);


#endif /* _NGX_HTTP_SECURECHAT_HTTP_H_INCLUDED_ */
