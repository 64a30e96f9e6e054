
/*
 * The shared memory zone: sessions, login throttling, the message
 * history's root (ngx_http_securechat_history.h) and the rooms' root,
 * shared by all worker processes and kept across reloads.
 */

#ifndef _NGX_HTTP_SECURECHAT_STORE_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_STORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_securechat_token.h"
#include "ngx_http_securechat_passwd.h"
#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_history.h"


#define NGX_HTTP_SECURECHAT_CONN_ID_LEN     16   /* base64url of 12 bytes */

/* worker pids workers_to_ring() hands back per call */
#define NGX_HTTP_SECURECHAT_RING_BATCH      64


/* a session as the routes see it: copied out of the zone into a pool */
typedef struct {
    ngx_str_t        user;
    time_t           expires;

    /* the client's RSA public key bound at login, or empty */
    ngx_str_t        client_key;    /* SPKI DER */
    ngx_str_t        client_key_id; /* base64url SHA-256 of the DER */
} ngx_http_securechat_session_t;


/* a connected WebSocket client, as the table holds it */
typedef struct {
    u_char           id[NGX_HTTP_SECURECHAT_CONN_ID_LEN];
    uint64_t         since;         /* ms since the epoch */
    size_t           user_len;
    u_char           user[NGX_HTTP_SECURECHAT_USER_MAX];
    u_char           session[NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN];
    u_char           key_id[NGX_HTTP_SECURECHAT_KEY_ID_LEN];
} ngx_http_securechat_client_t;


/*
 * For the rooms (ngx_http_securechat_rooms.c): the zone's slab pool, whose
 * mutex guards them too, and the registry made by rooms_init_zone().
 */
ngx_slab_pool_t *ngx_http_securechat_store_pool(ngx_shm_zone_t *shm_zone);
void *ngx_http_securechat_store_rooms(ngx_shm_zone_t *shm_zone);
/* the same for the history, made by history_init_zone() */
void *ngx_http_securechat_store_history(ngx_shm_zone_t *shm_zone);

/* whether no process has the pid any more */
ngx_uint_t ngx_http_securechat_pid_dead(ngx_pid_t pid);

ngx_shm_zone_t *ngx_http_securechat_store_add(ngx_conf_t *cf,
    ngx_str_t *name, size_t size);
/* hcf: the history's, its budget filled in (history_defaults()) */
char *ngx_http_securechat_store_configure(ngx_conf_t *cf,
    ngx_shm_zone_t *shm_zone, ngx_http_securechat_history_conf_t *hcf);

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
 * Presence and typing notices: a ring of their own beside the history, of
 * 8 to EPHEMERAL_SLOTS entries (by the zone's size) of up to
 * EPHEMERAL_DATA bytes, that no client
 * resumes from.  append: NGX_OK, NGX_ERROR (too long).  read: lock-free;
 * NGX_OK, NGX_DECLINED (overwritten), NGX_AGAIN (not yet).  buf holds
 * EPHEMERAL_DATA bytes.
 */
#define NGX_HTTP_SECURECHAT_EPHEMERAL_SLOTS  32
#define NGX_HTTP_SECURECHAT_EPHEMERAL_DATA   1024

ngx_int_t ngx_http_securechat_ephemeral_append(ngx_shm_zone_t *shm_zone,
    u_char *data, size_t len);
ngx_int_t ngx_http_securechat_ephemeral_read(ngx_shm_zone_t *shm_zone,
    uint64_t id, u_char *buf, size_t *len);
uint64_t ngx_http_securechat_ephemeral_last(ngx_shm_zone_t *shm_zone);

/*
 * Connected clients.  add: the node, or NULL with *rc NGX_DECLINED (the
 * user has per_user clients already) or NGX_BUSY (zone full); *first: it
 * is the user's only one now.  remove: 1 if it was the user's last.  Every call
 * that decides something from the table (add's count, kick, list) first
 * drops the clients of worker processes that died (killed while
 * draining after a reload, say), so they neither count nor are listed.
 */
void *ngx_http_securechat_client_add(ngx_shm_zone_t *shm_zone,
    ngx_http_securechat_client_t *client, ngx_uint_t per_user,
    ngx_uint_t *first, ngx_int_t *rc);
ngx_uint_t ngx_http_securechat_client_remove(ngx_shm_zone_t *shm_zone,
    void *node);
/*
 * Users whose last socket was a dead worker's (killed, crashed): their
 * rooms were never told they went offline.  Copies up to n of them who
 * still have no socket into users (their names into buf, n times
 * NGX_HTTP_SECURECHAT_USER_MAX bytes) and forgets them: each is handed to
 * one caller once.  Returns how many.
 */
ngx_uint_t ngx_http_securechat_client_orphans(ngx_shm_zone_t *shm_zone,
    ngx_str_t *users, u_char *buf, ngx_uint_t n);
/* the close code someone asked for this client, or 0 */
ngx_uint_t ngx_http_securechat_client_kicked(void *node);
ngx_int_t ngx_http_securechat_client_list(ngx_shm_zone_t *shm_zone,
    ngx_pool_t *pool, ngx_array_t **list);
ngx_int_t ngx_http_securechat_client_kick(ngx_shm_zone_t *shm_zone,
    ngx_str_t *id, ngx_str_t *user, ngx_uint_t code, ngx_pid_t *pid);
ngx_uint_t ngx_http_securechat_client_kick_session(ngx_shm_zone_t *shm_zone,
    const u_char *session, ngx_uint_t code);

/*
 * Worker processes and their doorbells: see ngx_http_securechat_bus.c.
 * The table grows from the slab as workers come (several generations of
 * them coexist across reloads); an exited worker's entry is reused.
 * register: the entry, or NULL when the zone has no room for one (try
 * again later); it also sweeps the entries and clients of workers that
 * died.  first: the process's first try (clients still listed under its
 * pid are a dead process's whose pid was reused); later tries adopt this
 * process's own clients.  expect: how many workers the configuration
 * runs, to size what the table grows by.
 */
void *ngx_http_securechat_worker_register(ngx_shm_zone_t *shm_zone,
    ngx_uint_t expect, ngx_uint_t first, ngx_log_t *log);
void ngx_http_securechat_worker_unregister(ngx_shm_zone_t *shm_zone,
    void *worker);
void ngx_http_securechat_worker_arm(void *worker);
ngx_uint_t ngx_http_securechat_worker_kicks(void *worker);
/*
 * The pids of workers to ring, at most NGX_HTTP_SECURECHAT_RING_BATCH,
 * from *pos on (start at 0; call again while it returns a full batch).
 */
ngx_uint_t ngx_http_securechat_workers_to_ring(ngx_shm_zone_t *shm_zone,
    void *self, ngx_pid_t *pids, ngx_uint_t *pos, ngx_uint_t all);


#endif /* _NGX_HTTP_SECURECHAT_STORE_H_INCLUDED_ */
