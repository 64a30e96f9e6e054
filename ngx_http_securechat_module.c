
/*
 * ngx_http_securechat_module: a chat server inside nginx.
 *
 * This file holds the directives, the configuration and the module's
 * lifecycle; everything else lives in src/, one concern per file.
 */

#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_api.h"
#include "ngx_http_securechat_bus.h"
#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_frame.h"
#include "ngx_http_securechat_secrets.h"
#include "ngx_http_securechat_store.h"
#include "ngx_http_securechat_ws.h"


static void *ngx_http_securechat_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_securechat_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_securechat_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_securechat_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

static char *ngx_http_securechat_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_securechat_allowed_origin(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_securechat(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_securechat_init_process(ngx_cycle_t *cycle);
static void ngx_http_securechat_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_securechat_roles[] = {
    { ngx_string("welcome"), NGX_HTTP_SECURECHAT_ROLE_WELCOME },
    { ngx_string("login"), NGX_HTTP_SECURECHAT_ROLE_LOGIN },
    { ngx_string("logout"), NGX_HTTP_SECURECHAT_ROLE_LOGOUT },
    { ngx_string("chat"), NGX_HTTP_SECURECHAT_ROLE_CHAT },
    { ngx_string("disconnect"), NGX_HTTP_SECURECHAT_ROLE_DISCONNECT },
    { ngx_string("connect"), NGX_HTTP_SECURECHAT_ROLE_CONNECT },
    { ngx_string("clients"), NGX_HTTP_SECURECHAT_ROLE_CLIENTS },
    { ngx_string("echo"), NGX_HTTP_SECURECHAT_ROLE_ECHO },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_securechat_commands[] = {

    { ngx_string("securechat_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_securechat_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("securechat_signing_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, signing_key_file),
      NULL },

    { ngx_string("securechat_users"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, users_file),
      NULL },

    { ngx_string("securechat_session_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, session_secret_file),
      NULL },

    { ngx_string("securechat_allowed_origin"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_securechat_allowed_origin,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("securechat_session_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, session_lifetime),
      NULL },

    { ngx_string("securechat_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, max_body),
      NULL },

    { ngx_string("securechat_message_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, message_max),
      NULL },

    { ngx_string("securechat_history"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, history),
      NULL },

    { ngx_string("securechat_login_free_failures"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, login_free_failures),
      NULL },

    { ngx_string("securechat_login_max_lockout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, login_max_lockout),
      NULL },

    { ngx_string("securechat_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, thread_pool_name),
      NULL },

    { ngx_string("securechat_seal_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, seal_pool_name),
      NULL },

    { ngx_string("securechat_password_nice"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, password_nice),
      NULL },

    { ngx_string("securechat_ws_message_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, ws_message_max),
      NULL },

    { ngx_string("securechat_send_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, send_buffer),
      NULL },

    { ngx_string("securechat_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, ping_interval),
      NULL },

    { ngx_string("securechat_ws_frame_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, ws_frame_rate),
      NULL },

    { ngx_string("securechat_ws_message_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, ws_message_timeout),
      NULL },

    { ngx_string("securechat_user_connections"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, user_connections),
      NULL },

    { ngx_string("securechat"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_securechat,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_securechat_loc_conf_t, role),
      &ngx_http_securechat_roles },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_securechat_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_securechat_create_main_conf,  /* create main configuration */
    ngx_http_securechat_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_securechat_create_loc_conf,   /* create location configuration */
    ngx_http_securechat_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_securechat_module = {
    NGX_MODULE_V1,
    &ngx_http_securechat_module_ctx,       /* module context */
    ngx_http_securechat_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_securechat_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_securechat_exit_process,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_securechat_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_securechat_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     smcf->shm_zone = NULL;
     *     smcf->signing_key_file = { 0, NULL };
     *     smcf->users_file = { 0, NULL };
     *     smcf->session_secret_file = { 0, NULL };
     *     smcf->allowed_origins = NULL;
     *     smcf->thread_pool_name = { 0, NULL };
     *     smcf->seal_pool_name = { 0, NULL };
     *     smcf->handlers = 0;
     */

    smcf->session_lifetime = NGX_CONF_UNSET;
    smcf->max_body = NGX_CONF_UNSET_SIZE;
    smcf->message_max = NGX_CONF_UNSET_SIZE;
    smcf->history = NGX_CONF_UNSET_UINT;
    smcf->login_free_failures = NGX_CONF_UNSET_UINT;
    smcf->login_max_lockout = NGX_CONF_UNSET;
    smcf->ws_message_max = NGX_CONF_UNSET_SIZE;
    smcf->send_buffer = NGX_CONF_UNSET_SIZE;
    smcf->ping_interval = NGX_CONF_UNSET_MSEC;
    smcf->ws_frame_rate = NGX_CONF_UNSET_UINT;
    smcf->ws_message_timeout = NGX_CONF_UNSET_MSEC;
    smcf->user_connections = NGX_CONF_UNSET_UINT;
    smcf->password_nice = NGX_CONF_UNSET_UINT;

    return smcf;
}


static char *
ngx_http_securechat_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_securechat_main_conf_t  *smcf = conf;

    ngx_conf_init_value(smcf->session_lifetime, 12 * 60 * 60);
    ngx_conf_init_size_value(smcf->max_body, 16 * 1024);
    ngx_conf_init_size_value(smcf->message_max, 4096);
    ngx_conf_init_uint_value(smcf->history, 1024);
    ngx_conf_init_uint_value(smcf->login_free_failures, 5);
    ngx_conf_init_value(smcf->login_max_lockout, 5 * 60);
    ngx_conf_init_size_value(smcf->ws_message_max,
                             NGX_HTTP_SECURECHAT_FRAME_MAX_MESSAGE);
    ngx_conf_init_size_value(smcf->send_buffer, 256 * 1024);
    ngx_conf_init_msec_value(smcf->ping_interval, 30000);
    ngx_conf_init_uint_value(smcf->ws_frame_rate, 100);
    ngx_conf_init_msec_value(smcf->ws_message_timeout, 10000);
    ngx_conf_init_uint_value(smcf->user_connections, 8);
    ngx_conf_init_uint_value(smcf->password_nice, 10);

    if (smcf->handlers == 0) {
        return NGX_CONF_OK;
    }

    if (smcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the \"securechat\" directive needs "
                           "\"securechat_zone\" at the http level");
        return NGX_CONF_ERROR;
    }

    if (smcf->signing_key_file.len == 0
        || smcf->users_file.len == 0
        || smcf->session_secret_file.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the \"securechat\" directive needs "
                           "\"securechat_signing_key\", \"securechat_users\" "
                           "and \"securechat_session_secret\"");
        return NGX_CONF_ERROR;
    }

    if (smcf->session_lifetime < 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"securechat_session_lifetime\" must be at "
                           "least 1s");
        return NGX_CONF_ERROR;
    }

    if (smcf->message_max == 0 || smcf->message_max > 65536
        || smcf->max_body < smcf->message_max
        || smcf->history == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"securechat_message_max\" must be 1..64k and "
                           "not above \"securechat_max_body\", and "
                           "\"securechat_history\" at least 1");
        return NGX_CONF_ERROR;
    }

    /* a chat frame carrying the longest message must fit in one message */

    if (smcf->ws_message_max
            < ngx_http_securechat_client_frame_size(smcf->message_max)
        || smcf->ws_message_max > 16 * 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"securechat_ws_message_max\" must hold a chat "
                           "frame of \"securechat_message_max\" bytes: at "
                           "least %uz, at most 16m",
                           ngx_http_securechat_client_frame_size(
                               smcf->message_max));
        return NGX_CONF_ERROR;
    }

    if (smcf->send_buffer < 2 * smcf->ws_message_max
        || smcf->ws_frame_rate == 0 || smcf->user_connections == 0
        || smcf->ping_interval < 1000 || smcf->password_nice > 19)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"securechat_send_buffer\" must be at least "
                           "twice \"securechat_ws_message_max\" (%uz), "
                           "\"securechat_ws_frame_rate\" and "
                           "\"securechat_user_connections\" at least 1, "
                           "\"securechat_ping_interval\" at least 1s, "
                           "\"securechat_password_nice\" 0 to 19",
                           2 * smcf->ws_message_max);
        return NGX_CONF_ERROR;
    }

    if (smcf->ws_message_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"securechat_ws_message_timeout\" must be more "
                           "than 0");
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &smcf->signing_key_file, 1) != NGX_OK
        || ngx_conf_full_name(cf->cycle, &smcf->users_file, 1) != NGX_OK
        || ngx_conf_full_name(cf->cycle, &smcf->session_secret_file, 1)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_securechat_load_signing_key(cf, smcf) != NGX_CONF_OK
        || ngx_http_securechat_load_session_secret(cf, smcf) != NGX_CONF_OK
        || ngx_http_securechat_load_users(cf, smcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (smcf->thread_pool_name.len == 0) {
        ngx_str_set(&smcf->thread_pool_name, "default");
    }

    smcf->thread_pool = ngx_thread_pool_add(cf, &smcf->thread_pool_name);
    if (smcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * Signing (messages, hellos) may have a pool of its own, so that a
     * storm of logins, each tens of milliseconds of scrypt, never queues
     * ahead of a message.
     */

    if (smcf->seal_pool_name.len == 0) {
        smcf->seal_pool = smcf->thread_pool;

    } else {
        smcf->seal_pool = ngx_thread_pool_add(cf, &smcf->seal_pool_name);
        if (smcf->seal_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    /* a hashing thread that also signs must not be slowed: see api.c */

    if (smcf->seal_pool == smcf->thread_pool) {
        smcf->password_nice = 0;
    }

    return ngx_http_securechat_store_configure(cf, smcf->shm_zone,
                                               smcf->history,
                                               smcf->message_max,
                     ngx_http_securechat_bus_slot_size(smcf->message_max));
}


static void *
ngx_http_securechat_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_securechat_loc_conf_t  *slcf;

    slcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_securechat_loc_conf_t));
    if (slcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     slcf->role = NGX_HTTP_SECURECHAT_ROLE_UNSET;
     */

    return slcf;
}


static char *
ngx_http_securechat_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    /* a role belongs to its own location: nothing is inherited */

    return NGX_CONF_OK;
}


static char *
ngx_http_securechat_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_securechat_main_conf_t  *smcf = conf;

    u_char     *p;
    ssize_t     size;
    ngx_str_t  *value, name, s;

    if (smcf->shm_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "\"zone=name:size\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;

    p = (u_char *) ngx_strchr(name.data, ':');

    if (p == NULL || p == name.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected "
                           "\"zone=name:size\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.len = p - name.data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "securechat_zone \"%V\" is too small: at least "
                           "%uz bytes", &name, 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    smcf->shm_zone = ngx_http_securechat_store_add(cf, &name, size);
    if (smcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Origins are compared byte for byte with what browsers send: scheme, host
 * and port, no path.  "null" (sandboxed frames, file: pages) is never
 * allowed.
 */

static char *
ngx_http_securechat_allowed_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_securechat_main_conf_t  *smcf = conf;

    u_char      *p, *last;
    ngx_str_t   *value, *origin;
    ngx_uint_t   i;

    value = cf->args->elts;

    if (smcf->allowed_origins == NULL) {
        smcf->allowed_origins = ngx_array_create(cf->pool, 4,
                                                 sizeof(ngx_str_t));
        if (smcf->allowed_origins == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "http://", 7) == 0) {
            p = value[i].data + 7;

        } else if (ngx_strncmp(value[i].data, "https://", 8) == 0) {
            p = value[i].data + 8;

        } else {
            goto invalid;
        }

        last = value[i].data + value[i].len;

        if (p == last) {
            goto invalid;
        }

        for ( /* void */ ; p < last; p++) {
            if (*p == '/' || *p == '?' || *p == '#' || *p == '@'
                || (*p >= 'A' && *p <= 'Z') || *p <= ' ')
            {
                goto invalid;
            }
        }

        origin = ngx_array_push(smcf->allowed_origins);
        if (origin == NULL) {
            return NGX_CONF_ERROR;
        }

        *origin = value[i];
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "securechat_allowed_origin \"%V\" is not an origin "
                       "like \"https://chat.example.com\" or "
                       "\"http://localhost:8000\" (lower case, no path)",
                       &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_securechat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                             *rv;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_securechat_loc_conf_t   *slcf = conf;
    ngx_http_securechat_main_conf_t  *smcf;

    if (slcf->role != NGX_HTTP_SECURECHAT_ROLE_UNSET) {
        return "is duplicate";
    }

    slcf->role = NGX_CONF_UNSET_UINT;

    rv = ngx_conf_set_enum_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_securechat_handler;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_securechat_module);
    smcf->handlers++;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_securechat_init_process(ngx_cycle_t *cycle)
{
    if (ngx_http_securechat_api_init_process(cycle) != NGX_OK
        || ngx_http_securechat_ws_init_process(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_securechat_bus_init_process(cycle);
}


static void
ngx_http_securechat_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_securechat_bus_exit_process(cycle);
}
