
/*
 * Request plumbing shared by the routes.  Every answer is JSON; errors are
 * {"error": "<code>", "message": "<sentence>"}.
 */

#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_http.h"


static ngx_uint_t ngx_http_securechat_cross_site(ngx_http_request_t *r);
static ngx_uint_t ngx_http_securechat_same_origin(ngx_http_request_t *r,
    ngx_str_t *origin);
static ngx_int_t ngx_http_securechat_try_session(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, const u_char *token, ngx_uint_t csrf,
    ngx_table_elt_t *csrf_header);
static void ngx_http_securechat_json_cleanup(void *data);


ngx_http_securechat_ctx_t *
ngx_http_securechat_get_ctx(ngx_http_request_t *r)
{
    ngx_http_securechat_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_securechat_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_securechat_module);
    }

    return ctx;
}


/* consumes the reference to body */

ngx_int_t
ngx_http_securechat_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body)
{
    size_t        len;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* whatever body the client sent is not needed any more */

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = json_dumpb(body, NULL, 0, JSON_COMPACT);

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL || len == 0) {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last += json_dumpb(body, (char *) b->pos, len, JSON_COMPACT);
    *b->last++ = LF;

    json_decref(body);

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_securechat_add_header(r, "Cache-Control",
                                       (u_char *) "no-store", 8)
           != NGX_OK
        || ngx_http_securechat_add_header(r, "X-Content-Type-Options",
                                          (u_char *) "nosniff", 7)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_securechat_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    return ngx_http_securechat_send_json(r, status,
               json_pack("{s:s, s:s}", "error", code, "message", message));
}


ngx_int_t
ngx_http_securechat_method_not_allowed(ngx_http_request_t *r,
    const char *allow)
{
    if (ngx_http_securechat_add_header(r, "Allow", (u_char *) allow,
                                       ngx_strlen(allow))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_securechat_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "method_not_allowed",
                                          "this method is not allowed here");
}


ngx_int_t
ngx_http_securechat_add_header(ngx_http_request_t *r, const char *key,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * Walks the request headers called name, nginx indexing only some of them:
 * start with *part = NULL; returns each match in turn, then NULL.
 */

ngx_table_elt_t *
ngx_http_securechat_next_header(ngx_http_request_t *r, const char *name,
    size_t len, ngx_list_part_t **part, ngx_uint_t *i)
{
    ngx_table_elt_t  *h;

    if (*part == NULL) {
        *part = &r->headers_in.headers.part;
        *i = 0;
    }

    for ( ;; ) {

        if (*i >= (*part)->nelts) {
            if ((*part)->next == NULL) {
                return NULL;
            }

            *part = (*part)->next;
            *i = 0;
            continue;
        }

        h = (*part)->elts;
        h = &h[(*i)++];

        if (h->key.len == len
            && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0)
        {
            return h;
        }
    }
}


/* counts the headers called name, to refuse duplicates where ambiguous */

ngx_uint_t
ngx_http_securechat_find_header(ngx_http_request_t *r, const char *name,
    size_t len, ngx_table_elt_t **first)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = NULL;
    *first = ngx_http_securechat_next_header(r, name, len, &part, &i);

    if (*first == NULL) {
        return 0;
    }

    for (n = 1; (h = ngx_http_securechat_next_header(r, name, len, &part, &i));
         n++)
    {
        /* void */
    }

    return n;
}


/*
 * A browser sends Origin on every cross-origin request and on same-origin
 * POSTs and upgrades.  A present Origin passes when it is the request's
 * own origin (see same_origin()) or listed by securechat_allowed_origin,
 * compared exactly (scheme, host, port).  Without Origin, a request passes
 * unless required or marked "Sec-Fetch-Site: cross-site" (browsers leave
 * Origin out of some cross-site requests, never Sec-Fetch-Site).
 */

ngx_int_t
ngx_http_securechat_check_origin(ngx_http_request_t *r, ngx_uint_t required)
{
    ngx_str_t                        *allowed;
    ngx_uint_t                        i, n;
    ngx_table_elt_t                  *h;
    ngx_http_securechat_main_conf_t  *smcf;

    n = ngx_http_securechat_find_header(r, "Origin", sizeof("Origin") - 1,
                                        &h);
    if (n == 0) {
        if (required || ngx_http_securechat_cross_site(r)) {
            return NGX_HTTP_FORBIDDEN;
        }

        return NGX_OK;
    }

    if (n > 1) {
        return NGX_HTTP_FORBIDDEN;
    }

    if (ngx_http_securechat_same_origin(r, &h->value)) {
        return NGX_OK;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    if (smcf->allowed_origins == NULL) {
        return NGX_HTTP_FORBIDDEN;
    }

    allowed = smcf->allowed_origins->elts;

    for (i = 0; i < smcf->allowed_origins->nelts; i++) {
        if (allowed[i].len == h->value.len
            && ngx_strncmp(allowed[i].data, h->value.data, h->value.len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_HTTP_FORBIDDEN;
}


static ngx_uint_t
ngx_http_securechat_cross_site(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    return ngx_http_securechat_find_header(r, "Sec-Fetch-Site",
                                           sizeof("Sec-Fetch-Site") - 1, &h)
           > 0
           && h->value.len == sizeof("cross-site") - 1
           && ngx_strncasecmp(h->value.data, (u_char *) "cross-site",
                              h->value.len) == 0;
}


/*
 * The request's own origin is the scheme it came by and its Host header.
 * The Host header is the client's to choose, but so is Origin for any
 * client that is not a browser: the check exists for browsers, whose
 * pages cannot set either, and which send the Host of the URL they
 * connect to.  A page of another site therefore always brings an Origin
 * that differs from the Host it sends.  A page served under a host name
 * that resolves to this server (DNS rebinding) does pass, but the
 * browser sends it none of this server's cookies, so it can do nothing a
 * script of its own could not.
 */

static ngx_uint_t
ngx_http_securechat_same_origin(ngx_http_request_t *r, ngx_str_t *origin)
{
    size_t      skip;
    ngx_str_t  *host;

    if (r->headers_in.host == NULL) {
        return 0;
    }

    host = &r->headers_in.host->value;

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        skip = sizeof("https://") - 1;

        if (origin->len <= skip
            || ngx_strncmp(origin->data, "https://", skip) != 0)
        {
            return 0;
        }

    } else
#endif
    {
        skip = sizeof("http://") - 1;

        if (origin->len <= skip
            || ngx_strncmp(origin->data, "http://", skip) != 0)
        {
            return 0;
        }
    }

    return origin->len - skip == host->len
           && ngx_strncasecmp(origin->data + skip, host->data, host->len) == 0;
}


/*
 * Why check_origin() refused, for the error body: the Origin itself (the
 * client's bytes, capped, anything but printable ASCII shown as '?', then
 * escaped by jansson) and the directive that would let it in.
 */

const char *
ngx_http_securechat_origin_refusal(ngx_http_request_t *r)
{
    u_char           *msg, *p, *o;
    size_t            len, i;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    n = ngx_http_securechat_find_header(r, "Origin", sizeof("Origin") - 1,
                                        &h);
    if (n == 0) {
        if (ngx_http_securechat_cross_site(r)) {
            return "cross-site requests (Sec-Fetch-Site: cross-site) are "
                   "not accepted";
        }

        return "an Origin header is required here";
    }

    if (n > 1) {
        return "more than one Origin header";
    }

    if (h->value.len == sizeof("null") - 1
        && ngx_strncmp(h->value.data, "null", h->value.len) == 0)
    {
        return "Origin null (a sandboxed frame, a file: page or a redirect) "
               "is never accepted";
    }

    len = ngx_min(h->value.len, NGX_HTTP_SECURECHAT_ORIGIN_SHOWN);

    msg = ngx_pnalloc(r->pool,
                      len + sizeof("Origin ... is not accepted; add it to "
                                   "securechat_allowed_origin"));
    if (msg == NULL) {
        return "this Origin is not accepted";
    }

    p = ngx_cpymem(msg, "Origin ", sizeof("Origin ") - 1);
    o = h->value.data;

    for (i = 0; i < len; i++) {
        *p++ = (o[i] > ' ' && o[i] < 0x7f) ? o[i] : '?';
    }

    if (len < h->value.len) {
        p = ngx_cpymem(p, "...", 3);
    }

    ngx_sprintf(p, " is not accepted; add it to securechat_allowed_origin%Z");

    return (const char *) msg;
}


ngx_int_t
ngx_http_securechat_send_origin_error(ngx_http_request_t *r)
{
    return ngx_http_securechat_send_error(r, NGX_HTTP_FORBIDDEN,
               "forbidden_origin", ngx_http_securechat_origin_refusal(r));
}


/*
 * Every session cookie the request carries is a candidate, in order, up to
 * NGX_HTTP_SECURECHAT_COOKIE_TRIES of them: one planted beside the real
 * one (from a sibling subdomain, or over plain http, neither of which can
 * set a __Host- cookie) must not lock the user out.  The first live
 * session wins, or with csrf the first live session whose CSRF token the
 * request carries, so the token always belongs to the session used.
 */

ngx_int_t
ngx_http_securechat_authenticate(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, ngx_uint_t csrf)
{
    size_t            len, rest;
    ngx_int_t         rc, answer;
    ngx_uint_t        i, tries;
    const char       *name;
    const u_char     *val, *p;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *token;

    token = NULL;

    if (csrf
        && ngx_http_securechat_find_header(r, NGX_HTTP_SECURECHAT_CSRF_HEADER,
                                    sizeof(NGX_HTTP_SECURECHAT_CSRF_HEADER) - 1,
                                    &token)
           != 1)
    {
        token = NULL;
    }

    name = ngx_http_securechat_cookie_name(r);
    answer = NGX_HTTP_UNAUTHORIZED;
    tries = 0;
    part = NULL;

    while ((h = ngx_http_securechat_next_header(r, "Cookie",
                                                sizeof("Cookie") - 1,
                                                &part, &i)))
    {
        p = h->value.data;
        rest = h->value.len;

        while (rest
               && ngx_http_securechat_cookie_find(p, rest, name, &val, &len))
        {
            rest -= (val + len) - p;
            p = val + len;

            /* a value of the wrong shape is nobody's session: skipped */

            if (!ngx_http_securechat_token_syntax_ok(val, len)) {
                continue;
            }

            if (tries++ == NGX_HTTP_SECURECHAT_COOKIE_TRIES) {
                return answer;
            }

            rc = ngx_http_securechat_try_session(r, ctx, val, csrf, token);

            if (rc == NGX_OK || rc == NGX_ERROR) {
                return rc;
            }

            if (rc == NGX_HTTP_FORBIDDEN) {
                answer = NGX_HTTP_FORBIDDEN;
            }
        }
    }

    return answer;
}


/*
 * NGX_OK: token is a live session (and, with csrf, the header holds its
 * CSRF token), ctx filled; NGX_DECLINED: no such session;
 * NGX_HTTP_FORBIDDEN: a live session without its CSRF token; NGX_ERROR.
 */

static ngx_int_t
ngx_http_securechat_try_session(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, const u_char *token, ngx_uint_t csrf,
    ngx_table_elt_t *csrf_header)
{
    ngx_int_t                         rc;
    u_char                            expect[NGX_HTTP_SECURECHAT_CSRF_LEN];
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    ngx_memcpy(ctx->token, token, NGX_HTTP_SECURECHAT_TOKEN_LEN);

    if (ngx_http_securechat_token_hash(smcf->session_secret.data,
                                       smcf->session_secret.len,
                                       ctx->token,
                                       NGX_HTTP_SECURECHAT_TOKEN_LEN,
                                       ctx->hash)
        != 0)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_securechat_session_lookup(smcf->shm_zone, ctx->hash,
                                            r->pool, &ctx->session);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!csrf) {
        return NGX_OK;
    }

    if (csrf_header == NULL) {
        return NGX_HTTP_FORBIDDEN;
    }

    if (ngx_http_securechat_csrf_derive(smcf->session_secret.data,
                                        smcf->session_secret.len,
                                        ctx->token,
                                        NGX_HTTP_SECURECHAT_TOKEN_LEN,
                                        expect)
        != 0)
    {
        return NGX_ERROR;
    }

    if (!ngx_http_securechat_token_equal(csrf_header->value.data,
                                         csrf_header->value.len, expect,
                                         NGX_HTTP_SECURECHAT_CSRF_LEN))
    {
        return NGX_HTTP_FORBIDDEN;
    }

    return NGX_OK;
}


/*
 * Over TLS the cookie is "__Host-sc_session": browsers accept a cookie of
 * that name only from a secure origin, with Path=/ and no Domain, so
 * neither a sibling subdomain nor a plain-http answer can plant one.
 * Only that name is read over TLS.  Plain http has no such protection and
 * keeps the plain name (browsers refuse __Host- cookies without Secure).
 */

const char *
ngx_http_securechat_cookie_name(ngx_http_request_t *r)
{
#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        return NGX_HTTP_SECURECHAT_TLS_COOKIE;
    }
#endif

    return NGX_HTTP_SECURECHAT_COOKIE;
}


ngx_int_t
ngx_http_securechat_send_auth_error(ngx_http_request_t *r, ngx_int_t rc)
{
    switch (rc) {

    case NGX_HTTP_UNAUTHORIZED:
        return ngx_http_securechat_send_error(r, rc, "unauthorized",
                   "no valid session: log in first");

    case NGX_HTTP_FORBIDDEN:
        return ngx_http_securechat_send_error(r, rc, "csrf",
                   "missing or wrong X-CSRF-Token for this session");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


ngx_int_t
ngx_http_securechat_read_json_body(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt post_handler)
{
    u_char                           *p, *last;
    ngx_int_t                         rc;
    ngx_table_elt_t                  *ct;
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    /*
     * application/json, optionally with parameters: anything else could
     * come from a plain HTML form on another site.
     */

    ct = r->headers_in.content_type;

    if (ct == NULL
        || ct->value.len < sizeof("application/json") - 1
        || ngx_strncasecmp(ct->value.data, (u_char *) "application/json",
                           sizeof("application/json") - 1)
           != 0)
    {
        goto unsupported;
    }

    p = ct->value.data + sizeof("application/json") - 1;
    last = ct->value.data + ct->value.len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p != last && *p != ';') {
        goto unsupported;
    }

    if (r->headers_in.content_length_n > (off_t) smcf->max_body) {
        return ngx_http_securechat_send_error(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "body_too_large",
                   "the request body is larger than this server accepts");
    }

    rc = ngx_http_read_client_request_body(r, post_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;

unsupported:

    return ngx_http_securechat_send_error(r,
               NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
               "the body must be application/json");
}


/*
 * The body in one piece, whether nginx kept it in memory, in several
 * buffers, or spooled it to a temporary file.  Returns NGX_OK,
 * NGX_HTTP_REQUEST_ENTITY_TOO_LARGE (chunked bodies have no declared
 * length to check up front) or NGX_HTTP_INTERNAL_SERVER_ERROR.
 */

ngx_int_t
ngx_http_securechat_body_bytes(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char                           *p;
    off_t                             total, size;
    ssize_t                           n;
    ngx_buf_t                        *b;
    ngx_chain_t                      *cl;
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    body->len = 0;
    body->data = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    total = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        total += ngx_buf_size(cl->buf);
    }

    if (total > (off_t) smcf->max_body) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    b = r->request_body->bufs->buf;

    if (r->request_body->bufs->next == NULL && !b->in_file) {
        body->data = b->pos;
        body->len = b->last - b->pos;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) total);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            size = b->file_last - b->file_pos;
            n = ngx_read_file(b->file, p, (size_t) size, b->file_pos);

            if (n != (ssize_t) size) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            p += size;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    body->len = p - body->data;

    return NGX_OK;
}


static void
ngx_http_securechat_json_cleanup(void *data)
{
    json_decref((json_t *) data);
}


ngx_int_t
ngx_http_securechat_keep_json(ngx_http_request_t *r, json_t *doc)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        json_decref(doc);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_securechat_json_cleanup;
    cln->data = doc;

    return NGX_OK;
}


ngx_int_t
ngx_http_securechat_set_session_cookie(ngx_http_request_t *r, u_char *token,
    time_t max_age)
{
    u_char      *p, *cookie;
    size_t       len;
    const char  *name;

    name = ngx_http_securechat_cookie_name(r);

    len = ngx_strlen(name) + sizeof("=; Path=/; Max-Age=")
          + NGX_HTTP_SECURECHAT_TOKEN_LEN + NGX_TIME_T_LEN
          + sizeof("; HttpOnly; SameSite=Strict; Secure");

    cookie = ngx_pnalloc(r->pool, len);
    if (cookie == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(cookie, "%s=%*s; Path=/; Max-Age=%T; HttpOnly; "
                    "SameSite=Strict", name,
                    token ? NGX_HTTP_SECURECHAT_TOKEN_LEN : 0,
                    token ? token : (u_char *) "", max_age);

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }
#endif

    return ngx_http_securechat_add_header(r, "Set-Cookie", cookie,
                                          p - cookie);
}


/*
 * A request waits for work done elsewhere (a thread): it is blocked so
 * that nginx keeps it even if the client goes away, and finish runs when
 * ngx_http_securechat_resume() is called.
 */

void
ngx_http_securechat_suspend(ngx_http_request_t *r,
    ngx_http_event_handler_pt finish)
{
    r->main->blocked++;
    r->aio = 1;
    r->write_event_handler = finish;
}


void
ngx_http_securechat_resume(ngx_http_request_t *r)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    /*
     * our finish handler, or nginx's finalizer if the request was
     * terminated meanwhile
     */

    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}
