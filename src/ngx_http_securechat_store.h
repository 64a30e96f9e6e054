
/*
 * The shared memory zone: sessions, login throttling, the message
 * history and the rooms' root, shared by all worker processes and kept across reloads.
 */

#ifndef _NGX_HTTP_SECURECHAT_STORE_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_STORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_securechat_token.h"
#include "ngx_http_securechat_passwd.h"
#include "ngx_http_securechat_crypto.h"


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

ngx_shm_zone_t *ngx_http_securechat_store_add(ngx_conf_t *cf,
    ngx_str_t *name, size_t size);
/* slot_data: the bytes one history entry holds (a sealed message) */
char *ngx_http_securechat_store_configure(ngx_conf_t *cf,
    ngx_shm_zone_t *shm_zone, ngx_uint_t history, size_t message_max,
    size_t slot_data);

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
 * increasing from 1.  Publishing is reserve, seal (outside any lock: it
 * signs), commit, so that a backend elsewhere (a Redis counter and stream)
 * can offer the same three calls:
 *   reserve: the next id, owned by this process until commit or abandon,
 *     and in the same step the room's next id (ids per room grow in the
 *     order of the log's; NGX_ERROR: no room in the zone for the room's
 *     counter);
 *   commit: NGX_OK (also when newer ids have pushed it out of the ring
 *     meanwhile: it is published and already gone), NGX_DECLINED (the
 *     reservation was abandoned, see expire: the id is a gap, publish the
 *     message under a new id), NGX_ERROR (too long);
 *   abandon: the id becomes a gap (sealing failed).
 * last: every id up to it is committed or a gap; readers deliver up to
 * it, in order, so an id still reserved holds back the ones after it.
 * expire: abandons reservations whose process died, or that are older
 * than NGX_HTTP_SECURECHAT_RESERVE_TIMEOUT seconds (a stopped process);
 * returns how many.
 * read: lock-free; NGX_OK, NGX_DECLINED (dropped from the ring, or a
 * gap), NGX_AGAIN (not yet published).  buf holds history_slot_data()
 * bytes.  head: the same, for the first size bytes at most.
 * room_last: the last id the room was given (0: none yet).
 */

#define NGX_HTTP_SECURECHAT_RESERVE_TIMEOUT  5

ngx_int_t ngx_http_securechat_history_reserve(ngx_shm_zone_t *shm_zone,
    ngx_str_t *room, uint64_t *id, uint64_t *room_id);
ngx_int_t ngx_http_securechat_history_commit(ngx_shm_zone_t *shm_zone,
    uint64_t id, u_char *data, size_t len);
void ngx_http_securechat_history_abandon(ngx_shm_zone_t *shm_zone,
    uint64_t id);
ngx_uint_t ngx_http_securechat_history_expire(ngx_shm_zone_t *shm_zone);
ngx_int_t ngx_http_securechat_history_read(ngx_shm_zone_t *shm_zone,
    uint64_t id, u_char *buf, size_t *len);
ngx_int_t ngx_http_securechat_history_head(ngx_shm_zone_t *shm_zone,
    uint64_t id, u_char *buf, size_t size, size_t *len);
uint64_t ngx_http_securechat_history_room_last(ngx_shm_zone_t *shm_zone,
    ngx_str_t *room);
uint64_t ngx_http_securechat_history_last(ngx_shm_zone_t *shm_zone);
/* the highest id reserved: above last while messages are being sealed */
uint64_t ngx_http_securechat_history_reserved(ngx_shm_zone_t *shm_zone);
/* drawn at random when the zone is made, kept across reloads */
uint64_t ngx_http_securechat_history_epoch(ngx_shm_zone_t *shm_zone);
uint64_t ngx_http_securechat_history_oldest(ngx_shm_zone_t *shm_zone);
size_t ngx_http_securechat_history_slot_data(ngx_shm_zone_t *shm_zone);

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
