
/*
 * The message history in the shared memory zone: a log of ids that
 * delivery and resume read in order, and, per room, the entries
 * themselves, of their own length, under one byte budget for the zone.
 */

#ifndef _NGX_HTTP_SECURECHAT_HISTORY_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_HISTORY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* what a configuration asks of the history */
typedef struct {
    ngx_uint_t       ids;           /* securechat_history: the log's ring */
    size_t           bytes;         /* securechat_history_bytes; 0: unset */
    size_t           message_max;   /* securechat_message_max */
    size_t           entry_max;     /* the bytes one entry holds at most */
} ngx_http_securechat_history_conf_t;


/* one entry of a room, copied out of the zone */
typedef struct {
    uint64_t         id;            /* in the log */
    uint64_t         room_id;
    ngx_str_t        data;
} ngx_http_securechat_history_item_t;


/*
 * For the configuration and the zone (ngx_http_securechat_store.c).
 * entry_size: what the longest entry takes of the budget, the least it
 * may be.  default_bytes: the budget when none is set, the memory that a
 * ring of ids fixed slots of the longest entry took: messages of a usual
 * length now share it out.  need: the zone bytes the history takes.  init_zone: the history's shared part, or NULL.  reuse:
 * whether a reload may keep the history of an older configuration
 * (NGX_OK; the budget follows the new one), NGX_ERROR (logged).
 */
size_t ngx_http_securechat_history_entry_size(size_t entry_max);
size_t ngx_http_securechat_history_default_bytes(ngx_uint_t ids,
    size_t entry_max);
size_t ngx_http_securechat_history_need(
    ngx_http_securechat_history_conf_t *hcf);
void *ngx_http_securechat_history_init_zone(ngx_slab_pool_t *shpool,
    ngx_http_securechat_history_conf_t *hcf, ngx_log_t *log);
ngx_int_t ngx_http_securechat_history_reuse(void *history,
    ngx_http_securechat_history_conf_t *hcf, ngx_str_t *zone,
    ngx_log_t *log);

/*
 * Ids are those of one log for the zone, handed out in order; each room
 * counts its own ids too.  Publishing is reserve, seal (outside any lock:
 * it signs), commit, so that a backend elsewhere (a Redis counter and
 * stream) can offer the same three calls:
 *   reserve: the next id, owned by this process until commit or abandon,
 *     and in the same step the room's next id (ids per room grow in the
 *     order of the log's; NGX_ERROR: no room in the zone for the room's
 *     record);
 *   commit: NGX_OK (also when newer ids have pushed it out of the log
 *     meanwhile: it is published and already gone), NGX_DECLINED (the
 *     reservation was abandoned, see expire: the id is a gap, publish the
 *     message under a new id), NGX_ERROR (too long, or no memory for it
 *     even with the whole history dropped: the id is a gap);
 *   abandon: the id becomes a gap (sealing failed).
 * last: every id up to it is committed or a gap; readers deliver up to
 * it, in order, so an id still reserved holds back the ones after it.
 * expire: abandons reservations whose process died, or that are older
 * than NGX_HTTP_SECURECHAT_RESERVE_TIMEOUT seconds (a stopped process);
 * returns how many.
 * read: lock-free; NGX_OK, NGX_DECLINED (out of the log's ring, dropped
 * for the budget, or a gap), NGX_AGAIN (not yet published).  buf holds
 * history_slot_data() bytes.  head: the same, for the first size bytes at
 * most.
 * oldest: the oldest id the log's ring may still hold.
 * room_last: the last id the room was given (0: none yet).
 * room_page: the room's entries whose room ids are below before, the
 * newest limit of them, newest first, copied into the pool (items of
 * ngx_http_securechat_history_item_t); *more: older ones are held too.
 * The log's ring ends what delivery and resume reach; a room keeps its
 * entries past it, until the budget needs their bytes, for this call.
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
uint64_t ngx_http_securechat_history_last(ngx_shm_zone_t *shm_zone);
/* the highest id reserved: above last while messages are being sealed */
uint64_t ngx_http_securechat_history_reserved(ngx_shm_zone_t *shm_zone);
/* drawn at random when the zone is made, kept across reloads */
uint64_t ngx_http_securechat_history_epoch(ngx_shm_zone_t *shm_zone);
uint64_t ngx_http_securechat_history_oldest(ngx_shm_zone_t *shm_zone);
size_t ngx_http_securechat_history_slot_data(ngx_shm_zone_t *shm_zone);
uint64_t ngx_http_securechat_history_room_last(ngx_shm_zone_t *shm_zone,
    ngx_str_t *room);
ngx_int_t ngx_http_securechat_history_room_page(ngx_shm_zone_t *shm_zone,
    ngx_str_t *room, uint64_t before, ngx_uint_t limit, ngx_pool_t *pool,
    ngx_array_t *items, ngx_uint_t *more);


#endif /* _NGX_HTTP_SECURECHAT_HISTORY_H_INCLUDED_ */
