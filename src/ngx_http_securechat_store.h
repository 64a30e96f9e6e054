
/*
 * The shared memory zone: sessions, login throttling and the message
 * history, shared by all worker processes and kept across reloads.
 */

#ifndef _NGX_HTTP_SECURECHAT_STORE_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_STORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_securechat_token.h"
#include "ngx_http_securechat_passwd.h"
#include "ngx_http_securechat_crypto.h"


/* a session as the routes see it: copied out of the zone into a pool */
typedef struct {
    ngx_str_t        user;
    time_t           expires;

    /* the client's RSA public key bound at login, or empty */
    ngx_str_t        client_key;    /* SPKI DER */
    ngx_str_t        client_key_id; /* base64url SHA-256 of the DER */
} ngx_http_securechat_session_t;


ngx_shm_zone_t *ngx_http_securechat_store_add(ngx_conf_t *cf,
    ngx_str_t *name, size_t size);
char *ngx_http_securechat_store_configure(ngx_conf_t *cf,
    ngx_shm_zone_t *shm_zone, ngx_uint_t history, size_t message_max);

/*
 * Sessions, keyed by the HMAC of their token (never the token itself).
 * create: NGX_OK, NGX_BUSY when the zone is full, NGX_ERROR.
 * lookup: NGX_OK, NGX_DECLINED for unknown or expired.
 */
ngx_int_t ngx_http_securechat_session_create(ngx_shm_zone_t *shm_zone,
    const u_char *hash, ngx_http_securechat_session_t *s);
ngx_int_t ngx_http_securechat_session_lookup(ngx_shm_zone_t *shm_zone,
    const u_char *hash, ngx_pool_t *pool, ngx_http_securechat_session_t *s);
void ngx_http_securechat_session_delete(ngx_shm_zone_t *shm_zone,
    const u_char *hash);

/*
 * Login throttling per (account, client address): returns the seconds the
 * key stays locked, 0 when a login may be tried.
 */
time_t ngx_http_securechat_throttle_check(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key);
void ngx_http_securechat_throttle_fail(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_uint_t free_failures, time_t max_lockout);
void ngx_http_securechat_throttle_reset(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key);

/*
 * The message history: a ring of fixed slots, oldest dropped first, ids
 * increasing from 1.  append: NGX_OK with *id set, NGX_ERROR.
 */
ngx_int_t ngx_http_securechat_history_append(ngx_shm_zone_t *shm_zone,
    ngx_str_t *user, ngx_str_t *text, uint64_t *id);


#endif /* _NGX_HTTP_SECURECHAT_STORE_H_INCLUDED_ */
