
/*
 * The HTTP routes.  Each POST route checks, in this order: method, Origin,
 * session and CSRF token (before reading any body), content type and
 * declared size, then the JSON body itself.
 */

#include "ngx_http_securechat_module.h"

#include <openssl/crypto.h>
#if (NGX_LINUX)
#include <malloc.h>
#endif
#include <sys/resource.h>
#include <sys/syscall.h>

#include "ngx_http_securechat_api.h"
#include "ngx_http_securechat_bus.h"
#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_http.h"
#include "ngx_http_securechat_json.h"
#include "ngx_http_securechat_passwd.h"
#include "ngx_http_securechat_rooms.h"
#include "ngx_http_securechat_rooms_api.h"
#include "ngx_http_securechat_secrets.h"
#include "ngx_http_securechat_store.h"
#include "ngx_http_securechat_task.h"
#include "ngx_http_securechat_token.h"
#include "ngx_http_securechat_utf8.h"
#include "ngx_http_securechat_ws.h"


/* a 4096-bit RSA key is about 800 bytes of PEM */
#define NGX_HTTP_SECURECHAT_CLIENT_KEY_PEM_MAX  4096


typedef struct ngx_http_securechat_login_task_s {
    ngx_http_securechat_passwd_hash_t   hash;
    u_char                             *password;
    size_t                              len;
    ngx_http_request_t                 *request;
    ngx_uint_t                          nice;      /* see login_nice() */
    ngx_http_securechat_task_pool_t    *tasks;
    int                                 verified;  /* 1, 0, -1 error */
} ngx_http_securechat_login_task_t;


static ngx_int_t ngx_http_securechat_welcome(ngx_http_request_t *r);

static void ngx_http_securechat_login_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_securechat_login_start(ngx_http_request_t *r);
static void ngx_http_securechat_login_thread(void *data, ngx_log_t *log);
static void ngx_http_securechat_login_nice(ngx_uint_t nice, ngx_log_t *log);
static void ngx_http_securechat_login_event(ngx_event_t *ev);
static void ngx_http_securechat_login_finish(ngx_http_request_t *r);
static ngx_int_t ngx_http_securechat_login_answer(ngx_http_request_t *r);
static ngx_int_t ngx_http_securechat_retry_after(ngx_http_request_t *r,
    time_t seconds);

static void ngx_http_securechat_logout_body(ngx_http_request_t *r);
static void ngx_http_securechat_chat_body(ngx_http_request_t *r);
static void ngx_http_securechat_chat_published(void *data, uint64_t id);
static void ngx_http_securechat_chat_finish(ngx_http_request_t *r);
static ngx_int_t ngx_http_securechat_clients(ngx_http_request_t *r);
static void ngx_http_securechat_disconnect_body(ngx_http_request_t *r);


ngx_int_t
ngx_http_securechat_handler(ngx_http_request_t *r)
{
    ngx_http_securechat_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_securechat_module);

    switch (slcf->role) {

    case NGX_HTTP_SECURECHAT_ROLE_WELCOME:
        return ngx_http_securechat_welcome(r);

    case NGX_HTTP_SECURECHAT_ROLE_LOGIN:
        return ngx_http_securechat_post_route(r,
                                              ngx_http_securechat_login_body,
                                              0);

    case NGX_HTTP_SECURECHAT_ROLE_LOGOUT:
        return ngx_http_securechat_post_route(r,
                                              ngx_http_securechat_logout_body,
                                              1);

    case NGX_HTTP_SECURECHAT_ROLE_CHAT:
        return ngx_http_securechat_post_route(r,
                                              ngx_http_securechat_chat_body,
                                              1);

    case NGX_HTTP_SECURECHAT_ROLE_DISCONNECT:
        return ngx_http_securechat_post_route(r,
                                          ngx_http_securechat_disconnect_body,
                                          1);

    case NGX_HTTP_SECURECHAT_ROLE_CONNECT:
        return ngx_http_securechat_ws_handler(r, 0);

    case NGX_HTTP_SECURECHAT_ROLE_ECHO:
        return ngx_http_securechat_ws_handler(r, 1);

    case NGX_HTTP_SECURECHAT_ROLE_CLIENTS:
        return ngx_http_securechat_clients(r);

    case NGX_HTTP_SECURECHAT_ROLE_ROOMS:
        return ngx_http_securechat_rooms_handler(r);

    case NGX_HTTP_SECURECHAT_ROLE_NOT_FOUND:
        /* the rest of /api/: the same JSON and headers as every route */
        return ngx_http_securechat_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "not_found", "no such route");

    default:
        return NGX_DECLINED;
    }
}


static ngx_int_t
ngx_http_securechat_welcome(ngx_http_request_t *r)
{
    ngx_http_securechat_main_conf_t  *smcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_securechat_method_not_allowed(r, "GET, HEAD");
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    return ngx_http_securechat_send_json(r, NGX_HTTP_OK,
               json_pack("{s:s, s:s, s:s, s:I, s:{s:s%, s:s%, s:s%}}",
                         "message", "Welcome to securechat",
                         "name", NGX_HTTP_SECURECHAT_NAME,
                         "version", NGX_HTTP_SECURECHAT_VERSION,
                         "message_max", (json_int_t) smcf->message_max,
                         "signing_key",
                         "alg", smcf->key_alg.data, smcf->key_alg.len,
                         "key_id", smcf->key_id.data, smcf->key_id.len,
                         "pem", smcf->public_key_pem.data,
                         smcf->public_key_pem.len));
}


ngx_int_t
ngx_http_securechat_post_route(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt body_handler, ngx_uint_t authenticate)
{
    ngx_int_t                   rc;
    ngx_http_securechat_ctx_t  *ctx;

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_securechat_method_not_allowed(r, "POST");
    }

    if (ngx_http_securechat_check_origin(r, 0) != NGX_OK) {
        return ngx_http_securechat_send_origin_error(r);
    }

    ctx = ngx_http_securechat_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (authenticate) {
        rc = ngx_http_securechat_authenticate(r, ctx, 1);

        if (rc != NGX_OK) {
            return ngx_http_securechat_send_auth_error(r, rc);
        }
    }

    return ngx_http_securechat_read_json_body(r, body_handler);
}


ngx_int_t
ngx_http_securechat_parse_body(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, ngx_http_securechat_json_field_t *fields,
    size_t n, ngx_int_t *answer)
{
    u_char                         *p;
    size_t                          len;
    ngx_int_t                       rc;
    const char                     *bad, *text;
    ngx_http_securechat_json_rc_e   jrc;

    rc = ngx_http_securechat_body_bytes(r, &ctx->body);

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        *answer = ngx_http_securechat_send_error(r, rc, "body_too_large",
                      "the request body is larger than this server "
                      "accepts");
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        *answer = rc;
        return NGX_ERROR;
    }

    jrc = ngx_http_securechat_json_parse_fields(ctx->body.data, ctx->body.len,
                                                fields, n, &ctx->doc, &bad);

    if (jrc != NGX_HTTP_SECURECHAT_JSON_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "securechat: bad body: %s",
                       ngx_http_securechat_json_rc_code(jrc));

        p = NULL;

        /* field names come from our own table, never from the client */

        if (bad != NULL) {
            text = ngx_http_securechat_json_rc_text(jrc);
            len = ngx_strlen(text);

            if (len && text[len - 1] == '.') {
                len--;
            }

            p = ngx_pnalloc(r->pool, len + ngx_strlen(bad) + sizeof(": \"\""));
            if (p != NULL) {
                ngx_sprintf(p, "%*s: \"%s\"%Z", len, text, bad);
            }
        }

        *answer = ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                      ngx_http_securechat_json_rc_code(jrc),
                      p ? (char *) p : ngx_http_securechat_json_rc_text(jrc));
        return NGX_ERROR;
    }

    if (ngx_http_securechat_keep_json(r, ctx->doc) != NGX_OK) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_securechat_retry_after(ngx_http_request_t *r, time_t seconds)
{
    u_char  *p, *v;

    v = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (v == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(v, "%T", seconds);

    return ngx_http_securechat_add_header(r, "Retry-After", v, p - v);
}


static void
ngx_http_securechat_login_body(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_securechat_login_start(r);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


static ngx_int_t
ngx_http_securechat_login_start(ngx_http_request_t *r)
{
    u_char                            *p;
    time_t                             locked;
    ngx_int_t                          answer;
    ngx_thread_task_t                 *task;
    ngx_http_securechat_ctx_t         *ctx;
    ngx_http_securechat_user_t        *user;
    ngx_http_securechat_login_task_t  *t;
    ngx_http_securechat_main_conf_t   *smcf;
    const char                        *why;
    ngx_http_securechat_json_field_t   fields[] = {
        { "username", 1, NGX_HTTP_SECURECHAT_USER_MAX, 1, 1, NULL, 0 },
        { "password", 1, NGX_HTTP_SECURECHAT_PASSWORD_MAX, 1, 0, NULL, 0 },
        { "public_key", 1, NGX_HTTP_SECURECHAT_CLIENT_KEY_PEM_MAX, 0, 0,
          NULL, 0 }
    };

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);
    ctx = ngx_http_securechat_get_ctx(r);

    if (ngx_http_securechat_parse_body(r, ctx, fields, 3, &answer)
        != NGX_OK)
    {
        return answer;
    }

    /*
     * The client's key is checked before the costly hash; it is never
     * logged, and the error names only what is wrong with it.
     */

    if (fields[2].value != NULL) {
        ctx->session.client_key.data =
                     ngx_pnalloc(r->pool, NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX
                                          + NGX_HTTP_SECURECHAT_KEY_ID_LEN);
        if (ctx->session.client_key.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->session.client_key_id.data = ctx->session.client_key.data
                                       + NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX;

        if (ngx_http_securechat_client_key_import(
                (u_char *) fields[2].value, fields[2].len,
                ctx->session.client_key.data, &ctx->session.client_key.len,
                ctx->session.client_key_id.data, &why)
            != 0)
        {
            return ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                  "invalid_public_key", why);
        }

        ctx->session.client_key_id.len = NGX_HTTP_SECURECHAT_KEY_ID_LEN;
    }

    ctx->user.data = (u_char *) fields[0].value;
    ctx->user.len = fields[0].len;

    if (!ngx_http_securechat_username_ok(ctx->user.data, ctx->user.len)) {
        return ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid_username",
                   "user names are 1 to 64 letters, digits, '.', '_', '-'");
    }

    /* throttled per (account, address): see the store */

    ctx->throttle_key.len = ctx->user.len + 1 + r->connection->addr_text.len;
    ctx->throttle_key.data = ngx_pnalloc(r->pool, ctx->throttle_key.len);
    if (ctx->throttle_key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(ctx->throttle_key.data, ctx->user.data, ctx->user.len);
    *p++ = '\0';
    ngx_memcpy(p, r->connection->addr_text.data,
               r->connection->addr_text.len);

    locked = ngx_http_securechat_throttle_check(smcf->shm_zone,
                                                &ctx->throttle_key);
    if (locked) {
        if (ngx_http_securechat_retry_after(r, locked) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_securechat_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                   "throttled",
                   "too many failed logins: wait before trying again");
    }

    /* scrypt takes tens of milliseconds: never on the event loop */

    task = ngx_thread_task_alloc(r->pool,
                                 sizeof(ngx_http_securechat_login_task_t));
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t = task->ctx;
    t->request = r;
    t->nice = smcf->password_nice;

    user = ngx_http_securechat_find_user(smcf, &ctx->user);
    t->hash = user ? user->hash : smcf->dummy_hash;

    t->len = fields[1].len;
    t->password = ngx_pnalloc(r->pool, t->len);
    if (t->password == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(t->password, fields[1].value, t->len);

    t->verified = -1;
    ctx->login = t;

    task->handler = ngx_http_securechat_login_thread;
    task->event.data = t;
    task->event.handler = ngx_http_securechat_login_event;

    t->tasks = smcf->login_tasks;

    /*
     * A full pool answers 503 at once: the module counts its own tasks,
     * so nginx's queue never overflows (it would log each refusal), and
     * the summary of the refused is logged once an interval.
     */

    if (ngx_http_securechat_task_post(t->tasks, task, "logins") != NGX_OK) {
        OPENSSL_cleanse(t->password, t->len);

        if (ngx_http_securechat_retry_after(r, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_securechat_send_error(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "busy",
                   "too many logins at once: try again in a moment");
    }

    ngx_http_securechat_suspend(r, ngx_http_securechat_login_finish);

    return NGX_DONE;
}


/*
 * scrypt's working memory (1 MiB at ln=10, 16 MiB at ln=14) is one large
 * block per hash.  glibc raises its mmap threshold whenever such a block
 * is freed, after which blocks that size come from the hashing thread's
 * own arena and stay resident: megabytes per hashing thread, for the
 * worker's life.  Pinning the threshold at glibc's own default (128 KiB)
 * keeps them mmapped and returned at free, for the cost of the page
 * faults of each hash.  (At ln=15 the block is past the highest
 * threshold glibc would pick and was mmapped anyway.)
 */

ngx_int_t
ngx_http_securechat_api_init_process(ngx_cycle_t *cycle)
{
#if (NGX_LINUX && defined M_MMAP_THRESHOLD)
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_securechat_module);

    if (smcf != NULL && smcf->handlers
        && mallopt(M_MMAP_THRESHOLD, 128 * 1024) != 1)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "securechat: mallopt(M_MMAP_THRESHOLD) failed");
    }
#endif

    return NGX_OK;
}


/* runs in a thread of the pool: touches nothing but its task */

static void
ngx_http_securechat_login_thread(void *data, ngx_log_t *log)
{
    ngx_http_securechat_login_task_t  *t = data;

    if (t->nice) {
        ngx_http_securechat_login_nice(t->nice, log);
    }

    t->verified = ngx_http_securechat_passwd_verify(t->password, t->len,
                                                    &t->hash);

    OPENSSL_cleanse(t->password, t->len);
}


/*
 * A thread that hashes passwords lowers its own priority, once: scrypt is
 * tens of milliseconds of CPU a login, and a storm of them would take the
 * cores from the event loops that deliver messages.  Linux keeps the nice
 * value per thread, and an unprivileged thread cannot raise it again;
 * that is why the module asks for it only when signing has a pool of its
 * own (securechat_password_nice).
 */

static void
ngx_http_securechat_login_nice(ngx_uint_t nice, ngx_log_t *log)
{
    int                          prio;
    pid_t                        tid;
    static __thread ngx_uint_t   reniced;

    if (reniced) {
        return;
    }

    reniced = 1;

    tid = (pid_t) syscall(SYS_gettid);

    errno = 0;
    prio = getpriority(PRIO_PROCESS, tid);

    if (prio == -1 && errno != 0) {
        ngx_log_error(NGX_LOG_ALERT, log, errno, "getpriority() failed");
        return;
    }

    if (setpriority(PRIO_PROCESS, tid, ngx_min(prio + (int) nice, 19)) == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, log, errno, "setpriority() failed");
    }
}


static void
ngx_http_securechat_login_event(ngx_event_t *ev)
{
    ngx_http_securechat_login_task_t  *t;

    t = ev->data;

    ngx_http_securechat_task_done(t->tasks);
    ngx_http_securechat_resume(t->request);
}


static void
ngx_http_securechat_login_finish(ngx_http_request_t *r)
{
    if (r->aio) {
        /* a stray write event while the hash is still being computed */
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_http_securechat_login_answer(r));
}


static ngx_int_t
ngx_http_securechat_login_answer(ngx_http_request_t *r)
{
    json_t                            *body;
    time_t                             expires;
    ngx_int_t                          rc;
    ngx_http_securechat_ctx_t         *ctx;
    ngx_http_securechat_main_conf_t   *smcf;
    u_char                             csrf[NGX_HTTP_SECURECHAT_CSRF_LEN];

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);

    if (ctx->login->verified < 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "securechat: password hashing failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->login->verified == 0
        || ngx_http_securechat_find_user(smcf, &ctx->user) == NULL)
    {
        ngx_http_securechat_throttle_fail(smcf->shm_zone, &ctx->throttle_key,
                                          smcf->login_free_failures,
                                          smcf->login_max_lockout);

        /* the name passed username_ok(): safe to log as it is */

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "securechat: failed login for \"%V\"", &ctx->user);

        return ngx_http_securechat_send_error(r, NGX_HTTP_UNAUTHORIZED,
                   "invalid_credentials", "wrong user name or password");
    }

    ngx_http_securechat_throttle_reset(smcf->shm_zone, &ctx->throttle_key);

    /* always a new session: a cookie the client brought is never reused */

    if (ngx_http_securechat_token_generate(ctx->token) != 0
        || ngx_http_securechat_token_hash(smcf->session_secret.data,
                                          smcf->session_secret.len,
                                          ctx->token,
                                          NGX_HTTP_SECURECHAT_TOKEN_LEN,
                                          ctx->hash)
           != 0
        || ngx_http_securechat_csrf_derive(smcf->session_secret.data,
                                           smcf->session_secret.len,
                                           ctx->token,
                                           NGX_HTTP_SECURECHAT_TOKEN_LEN,
                                           csrf)
           != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "securechat: the random generator or HMAC failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    expires = ngx_time() + smcf->session_lifetime;

    ctx->session.user = ctx->user;
    ctx->session.expires = expires;

    rc = ngx_http_securechat_session_create(smcf->shm_zone, ctx->hash,
                                            &ctx->session);
    if (rc == NGX_BUSY) {
        if (ngx_http_securechat_retry_after(r, 60) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_securechat_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "zone_full",
                   "the server holds as many sessions as it can; "
                   "try again later");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_securechat_set_session_cookie(r, ctx->token,
                                               smcf->session_lifetime)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * A first login joins "general".  A full zone does not refuse the
     * login: the rooms routes try again, and a session is what matters.
     */

    (void) ngx_http_securechat_rooms_welcome(smcf->shm_zone, &ctx->user,
                                             &smcf->room_limits);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "securechat: \"%V\" logged in", &ctx->user);

    body = json_pack("{s:s%, s:s%, s:I}",
                     "user", ctx->user.data, ctx->user.len,
                     "csrf_token", csrf, (size_t) NGX_HTTP_SECURECHAT_CSRF_LEN,
                     "expires", (json_int_t) expires);

    if (body != NULL && ctx->session.client_key_id.len
        && json_object_set_new(body, "client_key_id",
                               json_stringn((char *)
                                            ctx->session.client_key_id.data,
                                            ctx->session.client_key_id.len))
           != 0)
    {
        json_decref(body);
        body = NULL;
    }

    return ngx_http_securechat_send_json(r, NGX_HTTP_OK, body);
}


static void
ngx_http_securechat_logout_body(ngx_http_request_t *r)
{
    ngx_int_t                         answer;
    ngx_http_securechat_ctx_t        *ctx;
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);

    if (ngx_http_securechat_parse_body(r, ctx, NULL, 0, &answer) != NGX_OK) {
        ngx_http_finalize_request(r, answer);
        return;
    }

    ngx_http_securechat_session_delete(smcf->shm_zone, ctx->hash);

    /* the session's WebSockets end with it, in whichever worker */
    ngx_http_securechat_bus_disconnect_session(ctx->hash,
                                             NGX_HTTP_SECURECHAT_WS_NORMAL);

    if (ngx_http_securechat_set_session_cookie(r, NULL, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_securechat_send_json(r, NGX_HTTP_OK,
                                      json_pack("{s:b}", "ok", 1)));
}


static void
ngx_http_securechat_chat_body(ngx_http_request_t *r)
{
    ngx_int_t                          rc, answer;
    ngx_str_t                          text, room;
    ngx_http_securechat_ctx_t         *ctx;
    ngx_http_securechat_room_rc_e      why;
    ngx_http_securechat_rooms_rc_e     rrc;
    ngx_http_securechat_rooms_act_t    act;
    ngx_http_securechat_main_conf_t   *smcf;
    ngx_http_securechat_json_field_t   fields[] = {
        { "message", 1, 0, 1, 0, NULL, 0 },
        { "room", 1, NGX_HTTP_SECURECHAT_ROOM_NAME_MAX, 0, 1, NULL, 0 }
    };

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);

    fields[0].max_len = smcf->message_max;

    if (ngx_http_securechat_parse_body(r, ctx, fields, 2, &answer) != NGX_OK) {
        ngx_http_finalize_request(r, answer);
        return;
    }

    /* no room: general, as before rooms */

    if (fields[1].value != NULL) {
        room.data = (u_char *) fields[1].value;
        room.len = fields[1].len;

        if (!ngx_http_securechat_room_name_ok(room.data, room.len)) {
            ngx_http_finalize_request(r,
                ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                    "bad_room_name",
                    "a room name is 1 to 64 of a-z 0-9 . _ -"));
            return;
        }

    } else {
        ngx_str_set(&room, NGX_HTTP_SECURECHAT_ROOM_GENERAL);
    }

    /* $securechat_room: a copy, the log may come after the body is gone */

    ctx->room.data = ngx_pstrdup(r->pool, &room);
    ctx->room.len = (ctx->room.data != NULL) ? room.len : 0;

    text.data = (u_char *) fields[0].value;
    text.len = fields[0].len;

    switch (ngx_http_securechat_text_check(text.data, text.len)) {

    case NGX_HTTP_SECURECHAT_TEXT_OK:
        break;

    case NGX_HTTP_SECURECHAT_TEXT_BLANK:
        ngx_http_finalize_request(r,
            ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                "empty_message", "the message is empty"));
        return;

    default:
        /* jansson has checked the UTF-8: control characters are left */
        ngx_http_finalize_request(r,
            ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                "bad_characters",
                "messages may not contain control characters"));
        return;
    }

    ngx_memzero(&act, sizeof(ngx_http_securechat_rooms_act_t));
    act.act = NGX_HTTP_SECURECHAT_ACT_POST;
    why = NGX_HTTP_SECURECHAT_ROOM_OK;

    rrc = ngx_http_securechat_rooms_act(smcf->shm_zone, &ctx->session.user,
                                        &room, &act, &smcf->room_limits,
                                        &why);
    if (rrc != NGX_HTTP_SECURECHAT_ROOMS_OK) {
        ngx_http_finalize_request(r,
                            ngx_http_securechat_rooms_refusal(r, rrc, why));
        return;
    }

    /* sealing signs: it happens in the thread pool, the answer after it */

    rc = ngx_http_securechat_bus_publish(&room, &ctx->session.user, &text,
                                         ngx_http_securechat_chat_published,
                                         r);
    if (rc == NGX_BUSY) {
        if (ngx_http_securechat_retry_after(r, 1) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_finalize_request(r,
            ngx_http_securechat_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                "busy", "too many messages at once: try again in a moment"));
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_securechat_suspend(r, ngx_http_securechat_chat_finish);
}


static void
ngx_http_securechat_chat_published(void *data, uint64_t id)
{
    ngx_http_request_t  *r = data;

    ngx_http_securechat_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);
    ctx->chat_id = id;

    ngx_http_securechat_resume(r);
}


static void
ngx_http_securechat_chat_finish(ngx_http_request_t *r)
{
    ngx_http_securechat_ctx_t  *ctx;

    if (r->aio) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);

    if (ctx->chat_id == 0) {
        ngx_http_finalize_request(r,
            ngx_http_securechat_send_error(r,
                NGX_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
                "the message could not be sealed"));
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_securechat_send_json(r, NGX_HTTP_ACCEPTED,
                                      json_pack("{s:I}", "id",
                                                (json_int_t) ctx->chat_id)));
}


/* who is connected: every client, the caller's own marked */

static ngx_int_t
ngx_http_securechat_clients(ngx_http_request_t *r)
{
    json_t                           *list, *item;
    ngx_int_t                         rc;
    ngx_uint_t                        i, own;
    ngx_array_t                      *clients;
    ngx_http_securechat_ctx_t        *ctx;
    ngx_http_securechat_client_t     *c;
    ngx_http_securechat_main_conf_t  *smcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_securechat_method_not_allowed(r, "GET, HEAD");
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    ctx = ngx_http_securechat_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_securechat_authenticate(r, ctx, 0);
    if (rc != NGX_OK) {
        return ngx_http_securechat_send_auth_error(r, rc);
    }

    if (ngx_http_securechat_client_list(smcf->shm_zone, r->pool, &clients)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list = json_array();
    if (list == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    c = clients->elts;

    for (i = 0; i < clients->nelts; i++) {
        own = (c[i].user_len == ctx->session.user.len
               && ngx_memcmp(c[i].user, ctx->session.user.data,
                             c[i].user_len) == 0);

        item = json_pack("{s:s%, s:s%, s:I, s:b}",
                         "id", c[i].id, (size_t) NGX_HTTP_SECURECHAT_CONN_ID_LEN,
                         "user", c[i].user, c[i].user_len,
                         "since", (json_int_t) c[i].since,
                         "own", (int) own);

        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_securechat_send_json(r, NGX_HTTP_OK,
                                         json_pack("{s:o}", "clients", list));
}


static void
ngx_http_securechat_disconnect_body(ngx_http_request_t *r)
{
    ngx_int_t                          answer;
    ngx_str_t                          id;
    ngx_http_securechat_ctx_t         *ctx;
    ngx_http_securechat_json_field_t   fields[] = {
        { "client_id", 1, 64, 1, 1, NULL, 0 }
    };

    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);

    if (ngx_http_securechat_parse_body(r, ctx, fields, 1, &answer) != NGX_OK) {
        ngx_http_finalize_request(r, answer);
        return;
    }

    id.data = (u_char *) fields[0].value;
    id.len = fields[0].len;

    switch (ngx_http_securechat_bus_disconnect(&id, &ctx->session.user,
                                               NGX_HTTP_SECURECHAT_WS_NORMAL))
    {
    case NGX_OK:
        ngx_http_finalize_request(r,
            ngx_http_securechat_send_json(r, NGX_HTTP_OK,
                                          json_pack("{s:b}", "ok", 1)));
        return;

    case NGX_ABORT:
        ngx_http_finalize_request(r,
            ngx_http_securechat_send_error(r, NGX_HTTP_FORBIDDEN,
                                           "not_owner",
                                           "that client belongs to another "
                                           "user"));
        return;

    default:
        ngx_http_finalize_request(r,
            ngx_http_securechat_send_error(r, NGX_HTTP_NOT_FOUND,
                                           "unknown_client",
                                           "no connected client has this "
                                           "id"));
    }
}
