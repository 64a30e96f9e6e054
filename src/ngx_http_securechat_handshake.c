
/*
 * The WebSocket opening handshake.  Refusals are plain JSON answers like
 * every other route's; only a request that passes every check gets a 101.
 */

#include "ngx_http_securechat_module.h"

#include <openssl/evp.h>

#include "ngx_http_securechat_handshake.h"


#define NGX_HTTP_SECURECHAT_UPGRADE_REQUIRED  426
#define NGX_HTTP_SECURECHAT_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


static ngx_uint_t ngx_http_securechat_header_has_token(ngx_http_request_t *r,
    const char *name, const char *token);
static ngx_int_t ngx_http_securechat_handshake_refuse(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message,
    ngx_int_t *answer);


ngx_uint_t
ngx_http_securechat_token_listed(u_char *value, size_t len, const char *token)
{
    u_char  *p, *last, *start, *end;
    size_t   tlen;

    tlen = ngx_strlen(token);
    p = value;
    last = value + len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        end = p;

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if ((size_t) (end - start) == tlen
            && ngx_strncasecmp(start, (u_char *) token, tlen) == 0)
        {
            return 1;
        }
    }

    return 0;
}


int
ngx_http_securechat_ws_accept(const u_char *key, size_t len, u_char *accept)
{
    u_char        buf[64 + sizeof(NGX_HTTP_SECURECHAT_WS_GUID)];
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  md_len;
    ngx_str_t     src, dst;

    if (len > 64) {
        return -1;
    }

    ngx_memcpy(buf, key, len);
    ngx_memcpy(buf + len, NGX_HTTP_SECURECHAT_WS_GUID,
               sizeof(NGX_HTTP_SECURECHAT_WS_GUID) - 1);

    /* SHA-1 is what RFC 6455 names here; it carries no security weight */

    if (EVP_Digest(buf, len + sizeof(NGX_HTTP_SECURECHAT_WS_GUID) - 1, md,
                   &md_len, EVP_sha1(), NULL)
        != 1)
    {
        return -1;
    }

    src.data = md;
    src.len = md_len;
    dst.data = accept;

    ngx_encode_base64(&dst, &src);

    return dst.len == NGX_HTTP_SECURECHAT_WS_ACCEPT_LEN ? 0 : -1;
}


/* any of the headers called name lists token */

static ngx_uint_t
ngx_http_securechat_header_has_token(ngx_http_request_t *r, const char *name,
    const char *token)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = NULL;

    while ((h = ngx_http_securechat_next_header(r, name, ngx_strlen(name),
                                                &part, &i)))
    {
        if (ngx_http_securechat_token_listed(h->value.data, h->value.len,
                                             token))
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_securechat_handshake_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, ngx_int_t *answer)
{
    *answer = ngx_http_securechat_send_error(r, status, code, message);
    return NGX_ERROR;
}


ngx_int_t
ngx_http_securechat_handshake_check(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, ngx_uint_t need_session, u_char *accept,
    ngx_int_t *answer)
{
    u_char            decoded[32];
    ngx_int_t         rc;
    ngx_str_t         src, dst;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    if (r->method != NGX_HTTP_GET || r->http_version != NGX_HTTP_VERSION_11
        || r != r->main)
    {
        return ngx_http_securechat_handshake_refuse(r, NGX_HTTP_BAD_REQUEST,
                   "not_websocket",
                   "a WebSocket upgrade is a GET over HTTP/1.1",
                   answer);
    }

    /* Upgrade: websocket and Connection: upgrade, among other tokens */

    if (!ngx_http_securechat_header_has_token(r, "Upgrade", "websocket")
        || !ngx_http_securechat_header_has_token(r, "Connection", "upgrade"))
    {
        return ngx_http_securechat_handshake_refuse(r, NGX_HTTP_BAD_REQUEST,
                   "not_websocket",
                   "missing \"Upgrade: websocket\" or \"Connection: upgrade\"",
                   answer);
    }

    n = ngx_http_securechat_find_header(r, "Sec-WebSocket-Key",
                                        sizeof("Sec-WebSocket-Key") - 1, &h);

    if (n != 1 || h->value.len != 24) {
        return ngx_http_securechat_handshake_refuse(r, NGX_HTTP_BAD_REQUEST,
                   "bad_websocket_key",
                   "Sec-WebSocket-Key must appear once: 16 bytes in base64",
                   answer);
    }

    src = h->value;
    dst.data = decoded;

    if (ngx_decode_base64(&dst, &src) != NGX_OK || dst.len != 16
        || ngx_http_securechat_ws_accept(h->value.data, h->value.len, accept)
           != 0)
    {
        return ngx_http_securechat_handshake_refuse(r, NGX_HTTP_BAD_REQUEST,
                   "bad_websocket_key",
                   "Sec-WebSocket-Key must appear once: 16 bytes in base64",
                   answer);
    }

    n = ngx_http_securechat_find_header(r, "Sec-WebSocket-Version",
                                        sizeof("Sec-WebSocket-Version") - 1,
                                        &h);

    if (n != 1 || h->value.len != 2 || h->value.data[0] != '1'
        || h->value.data[1] != '3')
    {
        if (ngx_http_securechat_add_header(r, "Sec-WebSocket-Version",
                                           (u_char *) "13", 2)
            != NGX_OK)
        {
            *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ERROR;
        }

        /* nginx knows no reason phrase for 426 */
        ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");

        return ngx_http_securechat_handshake_refuse(r,
                   NGX_HTTP_SECURECHAT_UPGRADE_REQUIRED, "unsupported_version",
                   "only WebSocket version 13 is spoken here",
                   answer);
    }

    /*
     * The cross-site WebSocket hijacking defence.  Browsers always send
     * Origin on an upgrade; a chat connection without one is refused too,
     * so that a missing header is never the way around the allowlist.
     */

    if (ngx_http_securechat_check_origin(r, need_session) != NGX_OK) {
        return ngx_http_securechat_handshake_refuse(r, NGX_HTTP_FORBIDDEN,
                   "forbidden_origin", ngx_http_securechat_origin_refusal(r),
                   answer);
    }

    if (!need_session) {
        return NGX_OK;
    }

    rc = ngx_http_securechat_authenticate(r, ctx, 0);

    if (rc != NGX_OK) {
        *answer = ngx_http_securechat_send_auth_error(r, rc);
        return NGX_ERROR;
    }

    if (ctx->session.client_key.len == 0) {
        return ngx_http_securechat_handshake_refuse(r, NGX_HTTP_BAD_REQUEST,
                   "no_client_key",
                   "log in with a \"public_key\" to use the WebSocket",
                   answer);
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_securechat_handshake_accept(ngx_http_request_t *r, u_char *accept)
{
    if (ngx_http_securechat_add_header(r, "Upgrade", (u_char *) "websocket",
                                       sizeof("websocket") - 1)
           != NGX_OK
        || ngx_http_securechat_add_header(r, "Sec-WebSocket-Accept", accept,
                                        NGX_HTTP_SECURECHAT_WS_ACCEPT_LEN)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* nginx's header filter writes "Connection: upgrade" for a 101 */

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");
    r->headers_out.content_length_n = -1;
    r->keepalive = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}
