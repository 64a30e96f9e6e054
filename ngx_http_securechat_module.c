
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
#include "ngx_http_securechat_variables.h"
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
static char *ngx_http_securechat_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_securechat_thread_pool(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_securechat_bounds(ngx_conf_t *cf, void *post,
    void *data);
static void ngx_http_securechat_where(ngx_conf_t *cf,
    ngx_http_securechat_conf_where_t *where);
static char *ngx_http_securechat_missing(ngx_conf_t *cf,
    ngx_http_securechat_main_conf_t *smcf, const char *directive);
static char *ngx_http_securechat_two(ngx_conf_t *cf, const char *rule,
    const char *a, size_t a_value, ngx_http_securechat_conf_where_t *a_at,
    const char *b, size_t b_value, ngx_http_securechat_conf_where_t *b_at,
    size_t need);
static ngx_http_securechat_task_pool_t *ngx_http_securechat_task_pool(
    ngx_conf_t *cf, ngx_http_securechat_main_conf_t *smcf, ngx_str_t *name,
    ngx_uint_t limit);
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
    { ngx_string("not_found"), NGX_HTTP_SECURECHAT_ROLE_NOT_FOUND },
    { ngx_string("rooms"), NGX_HTTP_SECURECHAT_ROLE_ROOMS },
    { ngx_string("echo"), NGX_HTTP_SECURECHAT_ROLE_ECHO },
    { ngx_null_string, 0 }
};


/*
 * A value the directive alone decides is checked as it is read, so that
 * nginx names the directive's own line; what depends on two directives is
 * checked in init_main_conf(), which names both and where each was set.
 */

typedef enum {
    NGX_HTTP_SECURECHAT_CONF_NUM = 0,
    NGX_HTTP_SECURECHAT_CONF_SIZE,
    NGX_HTTP_SECURECHAT_CONF_SEC,
    NGX_HTTP_SECURECHAT_CONF_MSEC
} ngx_http_securechat_conf_type_e;


typedef struct {
    ngx_conf_post_handler_pt            post_handler;
    ngx_uint_t                          type;     /* conf_type_e */
    uint64_t                            low;
    uint64_t                            high;     /* 0: no upper bound */
    const char                         *range;    /* for the message */
    size_t                              value;    /* offsetof the value */
    size_t                              where;    /* offsetof a where_t */
} ngx_http_securechat_conf_bounds_t;


#define ngx_http_securechat_bounds_of(type, low, high, range, field)        \
    { ngx_http_securechat_bounds, NGX_HTTP_SECURECHAT_CONF_##type, low, high, \
      range, offsetof(ngx_http_securechat_main_conf_t, field), 0 }

#define ngx_http_securechat_bounds_at(type, low, high, range, field)        \
    { ngx_http_securechat_bounds, NGX_HTTP_SECURECHAT_CONF_##type, low, high, \
      range, offsetof(ngx_http_securechat_main_conf_t, field),              \
      offsetof(ngx_http_securechat_main_conf_t, field##_at) }


static ngx_http_securechat_conf_bounds_t  ngx_http_securechat_lifetime_bounds
    = ngx_http_securechat_bounds_of(SEC, 1, 0, "at least 1s",
                                    session_lifetime);

static ngx_http_securechat_conf_bounds_t  ngx_http_securechat_max_body_bounds
    = ngx_http_securechat_bounds_at(SIZE, 1, 0, "at least 1", max_body);

static ngx_http_securechat_conf_bounds_t
    ngx_http_securechat_message_max_bounds
    = ngx_http_securechat_bounds_at(SIZE, 1, 65536, "1 to 64k", message_max);

static ngx_http_securechat_conf_bounds_t  ngx_http_securechat_history_bounds
    = ngx_http_securechat_bounds_of(NUM, 1, 0, "at least 1", history);

static ngx_http_securechat_conf_bounds_t
    ngx_http_securechat_history_bytes_bounds
    = ngx_http_securechat_bounds_at(SIZE, 1, 0, "at least 1", history_bytes);

static ngx_http_securechat_conf_bounds_t  ngx_http_securechat_nice_bounds
    = ngx_http_securechat_bounds_of(NUM, 0, 19, "0 to 19", password_nice);

static ngx_http_securechat_conf_bounds_t
    ngx_http_securechat_ws_message_max_bounds
    = ngx_http_securechat_bounds_at(SIZE, 1, 16 * 1024 * 1024, "1 to 16m",
                                    ws_message_max);

static ngx_http_securechat_conf_bounds_t
    ngx_http_securechat_send_buffer_bounds
    = ngx_http_securechat_bounds_at(SIZE, 1, 0, "at least 1", send_buffer);

static ngx_http_securechat_conf_bounds_t  ngx_http_securechat_ping_bounds
    = ngx_http_securechat_bounds_of(MSEC, 1000, 0, "at least 1s",
                                    ping_interval);

static ngx_http_securechat_conf_bounds_t
    ngx_http_securechat_message_timeout_bounds
    = ngx_http_securechat_bounds_of(MSEC, 1, 0, "more than 0",
                                    ws_message_timeout);

static ngx_http_securechat_conf_bounds_t  ngx_http_securechat_rate_bounds
    = ngx_http_securechat_bounds_of(NUM, 1, 0, "at least 1", ws_frame_rate);

static ngx_http_securechat_conf_bounds_t
    ngx_http_securechat_connections_bounds
    = ngx_http_securechat_bounds_of(NUM, 1, 0, "at least 1",
                                    user_connections);

static ngx_http_securechat_conf_bounds_t
    ngx_http_securechat_rooms_bounds
    = ngx_http_securechat_bounds_of(NUM, 1, 0, "at least 1",
                                    room_limits.rooms);

static ngx_http_securechat_conf_bounds_t
    ngx_http_securechat_room_members_bounds
    = ngx_http_securechat_bounds_of(NUM, 2, 0, "at least 2",
                                    room_limits.members);

static ngx_http_securechat_conf_bounds_t
    ngx_http_securechat_user_rooms_bounds
    = ngx_http_securechat_bounds_of(NUM, 1, 0, "at least 1",
                                    room_limits.per_user);

static ngx_http_securechat_conf_bounds_t
    ngx_http_securechat_presence_members_bounds
    = ngx_http_securechat_bounds_of(NUM, 0, 0, "0 or more",
                                    presence_members_max);

static ngx_http_securechat_conf_bounds_t
    ngx_http_securechat_room_create_rate_bounds
    = ngx_http_securechat_bounds_of(NUM, 1, 0, "at least 1",
                                    room_limits.create_rate);


static ngx_command_t  ngx_http_securechat_commands[] = {

    { ngx_string("securechat_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_securechat_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("securechat_signing_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_securechat_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, signing_key_file),
      NULL },

    { ngx_string("securechat_users"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_securechat_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, users_file),
      NULL },

    { ngx_string("securechat_session_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_securechat_file,
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
      &ngx_http_securechat_lifetime_bounds },

    { ngx_string("securechat_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, max_body),
      &ngx_http_securechat_max_body_bounds },

    { ngx_string("securechat_message_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, message_max),
      &ngx_http_securechat_message_max_bounds },

    { ngx_string("securechat_history"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, history),
      &ngx_http_securechat_history_bounds },

    { ngx_string("securechat_history_bytes"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, history_bytes),
      &ngx_http_securechat_history_bytes_bounds },

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
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_securechat_thread_pool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, login_tasks),
      NULL },

    { ngx_string("securechat_seal_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_securechat_thread_pool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, seal_tasks),
      NULL },

    { ngx_string("securechat_password_nice"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, password_nice),
      &ngx_http_securechat_nice_bounds },

    { ngx_string("securechat_ws_message_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, ws_message_max),
      &ngx_http_securechat_ws_message_max_bounds },

    { ngx_string("securechat_send_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, send_buffer),
      &ngx_http_securechat_send_buffer_bounds },

    { ngx_string("securechat_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, ping_interval),
      &ngx_http_securechat_ping_bounds },

    { ngx_string("securechat_ws_frame_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, ws_frame_rate),
      &ngx_http_securechat_rate_bounds },

    { ngx_string("securechat_ws_message_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, ws_message_timeout),
      &ngx_http_securechat_message_timeout_bounds },

    { ngx_string("securechat_user_connections"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, user_connections),
      &ngx_http_securechat_connections_bounds },

    { ngx_string("securechat_rooms_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, room_limits.rooms),
      &ngx_http_securechat_rooms_bounds },

    { ngx_string("securechat_room_members_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, room_limits.members),
      &ngx_http_securechat_room_members_bounds },

    { ngx_string("securechat_user_rooms_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, room_limits.per_user),
      &ngx_http_securechat_user_rooms_bounds },

    { ngx_string("securechat_presence_members_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, presence_members_max),
      &ngx_http_securechat_presence_members_bounds },

    { ngx_string("securechat_room_create_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_securechat_main_conf_t, room_limits.create_rate),
      &ngx_http_securechat_room_create_rate_bounds },

    { ngx_string("securechat"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_securechat,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_securechat_loc_conf_t, role),
      &ngx_http_securechat_roles },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_securechat_module_ctx = {
    ngx_http_securechat_add_variables,     /* preconfiguration */
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
     *     smcf->login_tasks = NULL;
     *     smcf->seal_tasks = NULL;
     *     smcf->handlers = 0;
     *     smcf->*_at = { { 0, NULL }, 0 };
     */

    smcf->session_lifetime = NGX_CONF_UNSET;
    smcf->max_body = NGX_CONF_UNSET_SIZE;
    smcf->message_max = NGX_CONF_UNSET_SIZE;
    smcf->history = NGX_CONF_UNSET_UINT;
    smcf->history_bytes = NGX_CONF_UNSET_SIZE;
    smcf->login_free_failures = NGX_CONF_UNSET_UINT;
    smcf->login_max_lockout = NGX_CONF_UNSET;
    smcf->ws_message_max = NGX_CONF_UNSET_SIZE;
    smcf->send_buffer = NGX_CONF_UNSET_SIZE;
    smcf->ping_interval = NGX_CONF_UNSET_MSEC;
    smcf->ws_frame_rate = NGX_CONF_UNSET_UINT;
    smcf->ws_message_timeout = NGX_CONF_UNSET_MSEC;
    smcf->user_connections = NGX_CONF_UNSET_UINT;
    smcf->room_limits.rooms = NGX_CONF_UNSET_UINT;
    smcf->room_limits.members = NGX_CONF_UNSET_UINT;
    smcf->room_limits.per_user = NGX_CONF_UNSET_UINT;
    smcf->presence_members_max = NGX_CONF_UNSET_UINT;
    smcf->room_limits.create_rate = NGX_CONF_UNSET_UINT;
    smcf->password_nice = NGX_CONF_UNSET_UINT;

    return smcf;
}


static char *
ngx_http_securechat_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_securechat_main_conf_t  *smcf = conf;

    size_t                              one;
    ngx_str_t                           name;
    ngx_http_securechat_history_conf_t  hcf;

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
    ngx_conf_init_uint_value(smcf->room_limits.rooms, 1000);
    ngx_conf_init_uint_value(smcf->room_limits.members, 1000);
    ngx_conf_init_uint_value(smcf->room_limits.per_user, 100);
    ngx_conf_init_uint_value(smcf->presence_members_max, 100);
    ngx_conf_init_uint_value(smcf->room_limits.create_rate, 10);
    ngx_conf_init_uint_value(smcf->password_nice, 10);

    if (smcf->handlers == 0) {
        return NGX_CONF_OK;
    }

    if (smcf->shm_zone == NULL) {
        return ngx_http_securechat_missing(cf, smcf, "securechat_zone");
    }

    if (smcf->signing_key_file.len == 0) {
        return ngx_http_securechat_missing(cf, smcf,
                                           "securechat_signing_key");
    }

    if (smcf->users_file.len == 0) {
        return ngx_http_securechat_missing(cf, smcf, "securechat_users");
    }

    if (smcf->session_secret_file.len == 0) {
        return ngx_http_securechat_missing(cf, smcf,
                                           "securechat_session_secret");
    }

    if (smcf->max_body < smcf->message_max) {
        return ngx_http_securechat_two(cf, "must not be below",
                   "securechat_max_body", smcf->max_body, &smcf->max_body_at,
                   "securechat_message_max", smcf->message_max,
                   &smcf->message_max_at, 0);
    }

    /* a chat frame carrying the longest message must fit in one message */

    if (smcf->ws_message_max
        < ngx_http_securechat_client_frame_size(smcf->message_max))
    {
        return ngx_http_securechat_two(cf, "cannot hold a chat frame of",
                   "securechat_ws_message_max", smcf->ws_message_max,
                   &smcf->ws_message_max_at,
                   "securechat_message_max", smcf->message_max,
                   &smcf->message_max_at,
                   ngx_http_securechat_client_frame_size(smcf->message_max));
    }

    if (smcf->send_buffer < 2 * smcf->ws_message_max) {
        return ngx_http_securechat_two(cf, "must be at least twice",
                   "securechat_send_buffer", smcf->send_buffer,
                   &smcf->send_buffer_at,
                   "securechat_ws_message_max", smcf->ws_message_max,
                   &smcf->ws_message_max_at, 2 * smcf->ws_message_max);
    }

    if (smcf->login_tasks == NULL) {
        ngx_str_set(&name, "default");

        smcf->login_tasks = ngx_http_securechat_task_pool(cf, smcf, &name,
                                              NGX_HTTP_SECURECHAT_TASK_QUEUE);
        if (smcf->login_tasks == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    /*
     * Signing (messages, hellos) may have a pool of its own, so that a
     * storm of logins, each tens of milliseconds of scrypt, never queues
     * ahead of a message.
     */

    if (smcf->seal_tasks == NULL) {
        smcf->seal_tasks = smcf->login_tasks;
    }

    smcf->thread_pool = smcf->login_tasks->pool;
    smcf->seal_pool = smcf->seal_tasks->pool;

    /* a hashing thread that also signs must not be slowed: see api.c */

    if (smcf->seal_pool == smcf->thread_pool) {
        smcf->password_nice = 0;
    }

    /*
     * The history's budget: by default the memory a ring of fixed slots
     * for the longest messages took, which short ones now share out.
     */

    hcf.ids = smcf->history;
    hcf.message_max = smcf->message_max;
    hcf.entry_max = ngx_http_securechat_bus_slot_size(smcf->message_max);
    one = ngx_http_securechat_history_entry_size(hcf.entry_max);

    if (smcf->history_bytes == NGX_CONF_UNSET_SIZE) {
        smcf->history_bytes = ngx_http_securechat_history_default_bytes(
                                  smcf->history, hcf.entry_max);

    } else if (smcf->history_bytes < one) {
        return ngx_http_securechat_two(cf, "cannot hold one message of",
                   "securechat_history_bytes", smcf->history_bytes,
                   &smcf->history_bytes_at,
                   "securechat_message_max", smcf->message_max,
                   &smcf->message_max_at, one);
    }

    hcf.bytes = smcf->history_bytes;

    return ngx_http_securechat_store_configure(cf, smcf->shm_zone, &hcf);
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

    if (smcf->handlers++ == 0) {
        ngx_http_securechat_where(cf, &smcf->handler_at);
    }

    return NGX_CONF_OK;
}


/*
 * The signing key, the users and the session secret are read as their
 * directive is, so that whatever is wrong with a file is reported at the
 * line that names it.  Paths are relative to the configuration's
 * directory, like ssl_certificate_key.
 */

static char *
ngx_http_securechat_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_securechat_main_conf_t  *smcf = conf;

    char       *rv;
    ngx_str_t  *name;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    name = (ngx_str_t *) ((u_char *) conf + cmd->offset);

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (name == &smcf->signing_key_file) {
        return ngx_http_securechat_load_signing_key(cf, smcf);
    }

    if (name == &smcf->users_file) {
        return ngx_http_securechat_load_users(cf, smcf);
    }

    return ngx_http_securechat_load_session_secret(cf, smcf);
}


/*
 * securechat_thread_pool NAME [queue=N] (and the seal pool's): the pool is
 * looked up here, so that an unknown one is reported at this line.  queue=
 * bounds the tasks of ours queued or running in it, per worker: past it a
 * task is refused by the module (503, one summary line an interval)
 * before nginx's own max_queue would refuse it with an [error] each.
 * nginx keeps max_queue to itself, hence a number of our own, to keep at
 * or below the pool's max_queue.
 */

static char *
ngx_http_securechat_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_securechat_main_conf_t  *smcf = conf;

    ngx_int_t                          n;
    ngx_str_t                         *value, s;
    ngx_http_securechat_task_pool_t  **tpp;

    tpp = (ngx_http_securechat_task_pool_t **) ((u_char *) conf
                                                + cmd->offset);
    if (*tpp != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    n = NGX_HTTP_SECURECHAT_TASK_QUEUE;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "queue=", 6) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": invalid parameter \"%V\", expected "
                               "\"queue=N\"", &value[0], &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 6;
        s.len = value[2].len - 6;

        n = ngx_atoi(s.data, s.len);

        if (n == NGX_ERROR || n == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": queue= must be a number of at least "
                               "1, not \"%V\"", &value[0], &s);
            return NGX_CONF_ERROR;
        }
    }

    *tpp = ngx_http_securechat_task_pool(cf, smcf, &value[1], n);
    if (*tpp == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* both directives naming one pool share its count, under the lower limit */

static ngx_http_securechat_task_pool_t *
ngx_http_securechat_task_pool(ngx_conf_t *cf,
    ngx_http_securechat_main_conf_t *smcf, ngx_str_t *name, ngx_uint_t limit)
{
    ngx_uint_t                        i;
    ngx_http_securechat_task_pool_t  *tp, *other[2];

    other[0] = smcf->login_tasks;
    other[1] = smcf->seal_tasks;

    for (i = 0; i < 2; i++) {
        tp = other[i];

        if (tp != NULL && tp->name.len == name->len
            && ngx_strncmp(tp->name.data, name->data, name->len) == 0)
        {
            tp->limit = ngx_min(tp->limit, limit);
            return tp;
        }
    }

    tp = ngx_pcalloc(cf->pool, sizeof(ngx_http_securechat_task_pool_t));
    if (tp == NULL) {
        return NULL;
    }

    tp->name = *name;
    tp->limit = limit;

    tp->pool = ngx_thread_pool_add(cf, name);
    if (tp->pool == NULL) {
        return NULL;
    }

    return tp;
}


static char *
ngx_http_securechat_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_securechat_conf_bounds_t  *b = post;

    uint64_t    v;
    ngx_str_t  *value;

    switch (b->type) {

    case NGX_HTTP_SECURECHAT_CONF_NUM:
        v = *(ngx_uint_t *) data;
        break;

    case NGX_HTTP_SECURECHAT_CONF_SIZE:
        v = *(size_t *) data;
        break;

    case NGX_HTTP_SECURECHAT_CONF_SEC:
        v = (uint64_t) *(time_t *) data;
        break;

    default: /* NGX_HTTP_SECURECHAT_CONF_MSEC */
        v = *(ngx_msec_t *) data;
    }

    if (v < b->low || (b->high && v > b->high)) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be %s, not \"%V\"",
                           &value[0], b->range, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (b->where) {
        ngx_http_securechat_where(cf, (ngx_http_securechat_conf_where_t *)
                                      ((u_char *) data - b->value + b->where));
    }

    return NGX_CONF_OK;
}


static void
ngx_http_securechat_where(ngx_conf_t *cf,
    ngx_http_securechat_conf_where_t *where)
{
    where->file = cf->conf_file->file.name;
    where->line = cf->conf_file->line;
}


/*
 * Checks made once the whole http{} is read: nginx would name its closing
 * brace, so the message says where the directives involved are.
 */

static char *
ngx_http_securechat_missing(ngx_conf_t *cf,
    ngx_http_securechat_main_conf_t *smcf, const char *directive)
{
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "\"%s\" is missing: the \"securechat\" directive in "
                  "%V:%ui needs it at the http level",
                  directive, &smcf->handler_at.file, smcf->handler_at.line);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_securechat_two(ngx_conf_t *cf, const char *rule,
    const char *a, size_t a_value, ngx_http_securechat_conf_where_t *a_at,
    const char *b, size_t b_value, ngx_http_securechat_conf_where_t *b_at,
    size_t need)
{
    u_char  at[2][NGX_MAX_PATH + sizeof(" in :") + NGX_INT_T_LEN];
    u_char  *p[2];

    p[0] = a_at->line
           ? ngx_snprintf(at[0], sizeof(at[0]), "in %V:%ui", &a_at->file,
                          a_at->line)
           : ngx_cpymem(at[0], "the default", sizeof("the default") - 1);

    p[1] = b_at->line
           ? ngx_snprintf(at[1], sizeof(at[1]), "in %V:%ui", &b_at->file,
                          b_at->line)
           : ngx_cpymem(at[1], "the default", sizeof("the default") - 1);

    if (need) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%s\" %uz (%*s) %s \"%s\" %uz (%*s): it must be "
                      "at least %uz",
                      a, a_value, p[0] - at[0], at[0], rule,
                      b, b_value, p[1] - at[1], at[1], need);

    } else {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%s\" %uz (%*s) %s \"%s\" %uz (%*s)",
                      a, a_value, p[0] - at[0], at[0], rule,
                      b, b_value, p[1] - at[1], at[1]);
    }

    return NGX_CONF_ERROR;
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
