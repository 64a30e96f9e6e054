
/*
 * Configuration shared by every part of the module.
 */

#ifndef _NGX_HTTP_SECURECHAT_MODULE_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_securechat_passwd.h"
#include "ngx_http_securechat_rooms.h"
#include "ngx_http_securechat_task.h"


#define NGX_HTTP_SECURECHAT_NAME     "securechat"
#define NGX_HTTP_SECURECHAT_VERSION  "0.1.0"

#define NGX_HTTP_SECURECHAT_COOKIE   "sc_session"
#define NGX_HTTP_SECURECHAT_TLS_COOKIE  "__Host-sc_session"

/* session cookies tried in one request; see authenticate() */
#define NGX_HTTP_SECURECHAT_COOKIE_TRIES  8

/* bytes of a refused Origin repeated in the error message */
#define NGX_HTTP_SECURECHAT_ORIGIN_SHOWN  128
#define NGX_HTTP_SECURECHAT_CSRF_HEADER  "X-CSRF-Token"


typedef enum {
    NGX_HTTP_SECURECHAT_ROLE_UNSET = 0,
    NGX_HTTP_SECURECHAT_ROLE_WELCOME,
    NGX_HTTP_SECURECHAT_ROLE_LOGIN,
    NGX_HTTP_SECURECHAT_ROLE_LOGOUT,
    NGX_HTTP_SECURECHAT_ROLE_CHAT,
    NGX_HTTP_SECURECHAT_ROLE_DISCONNECT,
    NGX_HTTP_SECURECHAT_ROLE_CONNECT,
    NGX_HTTP_SECURECHAT_ROLE_CLIENTS,
    NGX_HTTP_SECURECHAT_ROLE_NOT_FOUND,
    NGX_HTTP_SECURECHAT_ROLE_ROOMS,
    NGX_HTTP_SECURECHAT_ROLE_ECHO          /* test only: a WebSocket echo */
} ngx_http_securechat_role_e;


typedef struct {
    ngx_str_t                           name;
    ngx_http_securechat_passwd_hash_t   hash;
} ngx_http_securechat_user_t;


/* where a directive was set, for messages about two directives */
typedef struct {
    ngx_str_t                           file;
    ngx_uint_t                          line;    /* 0: not set */
} ngx_http_securechat_conf_where_t;


typedef struct {
    /* securechat_zone */
    ngx_shm_zone_t                     *shm_zone;

    /* securechat_signing_key, loaded at configuration time */
    ngx_str_t                           signing_key_file;
    EVP_PKEY                           *signing_key;
    ngx_str_t                           public_key_pem;
    ngx_str_t                           key_id;      /* base64url SHA-256 */
    ngx_str_t                           key_alg;

    /* securechat_users */
    ngx_str_t                           users_file;
    ngx_array_t                        *users;       /* of user_t */

    /*
     * Unknown users are hashed against this, so that they cost the same
     * time as a wrong password for a known user.
     */
    ngx_http_securechat_passwd_hash_t   dummy_hash;

    /* securechat_session_secret */
    ngx_str_t                           session_secret_file;
    ngx_str_t                           session_secret;

    ngx_array_t                        *allowed_origins;  /* of ngx_str_t */

    time_t                              session_lifetime;
    size_t                              max_body;
    size_t                              message_max;
    ngx_uint_t                          history;
    size_t                              history_bytes;

    ngx_uint_t                          login_free_failures;
    time_t                              login_max_lockout;

    /* the WebSocket */
    size_t                              ws_message_max;
    size_t                              send_buffer;
    ngx_msec_t                          ping_interval;
    ngx_uint_t                          ws_frame_rate;
    ngx_msec_t                          ws_message_timeout;
    ngx_uint_t                          user_connections;

    /*
     * securechat_rooms_max, _room_members_max, _user_rooms_max,
     * _room_create_rate
     */
    ngx_http_securechat_rooms_limits_t  room_limits;

    /* rooms of more members get no presence notices */
    ngx_uint_t                          presence_members_max;

    ngx_http_securechat_task_pool_t    *login_tasks;   /* password hashing */
    ngx_thread_pool_t                  *thread_pool;   /* its pool */

    /* securechat_seal_thread_pool: signing; login_tasks unless set */
    ngx_http_securechat_task_pool_t    *seal_tasks;
    ngx_thread_pool_t                  *seal_pool;

    /* added to the nice value of password-hashing threads; 0 if shared */
    ngx_uint_t                          password_nice;

    ngx_uint_t                          handlers;    /* locations using us */

    /* for the messages that name two directives */
    ngx_http_securechat_conf_where_t    handler_at;  /* the first one */
    ngx_http_securechat_conf_where_t    max_body_at;
    ngx_http_securechat_conf_where_t    message_max_at;
    ngx_http_securechat_conf_where_t    history_bytes_at;
    ngx_http_securechat_conf_where_t    ws_message_max_at;
    ngx_http_securechat_conf_where_t    send_buffer_at;
} ngx_http_securechat_main_conf_t;


typedef struct {
    ngx_uint_t                          role;   /* role_e */
} ngx_http_securechat_loc_conf_t;


extern ngx_module_t  ngx_http_securechat_module;


#endif /* _NGX_HTTP_SECURECHAT_MODULE_H_INCLUDED_ */
