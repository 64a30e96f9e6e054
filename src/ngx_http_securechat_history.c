
/*
 * The message history.  Two structures, both in the zone, under its slab
 * mutex:
 *
 * - the log: a ring of ids.  Ids are handed out in the order of
 *   reservation; a message is signed with its id between reserve and
 *   commit, outside the mutex, so that a signature (hundreds of
 *   microseconds) never holds up the logins, handshakes and publishes of
 *   other workers.  last_id, what readers see, moves only over ids that
 *   are committed or gaps: an id still being sealed holds back the ones
 *   committed after it, so delivery stays in id order with nothing
 *   skipped.  A reservation whose process died or stopped would hold them
 *   back for ever: expire() makes it a gap.  Delivery and resume read the
 *   log without the mutex;
 *
 * - the rooms' entries: each committed message or event is an allocation
 *   of its own length, queued in its room, oldest first.  All of them
 *   share one byte budget, a slab pool of its own inside the zone (made
 *   with it, so that sessions filling the zone never leave a message
 *   without room).  When a new one does not fit, an entry goes: the
 *   oldest of the room holding the most bytes, so a busy room trims
 *   itself and a thousand quiet rooms keep their few entries without
 *   each reserving a ring; but never one that the log's ring still
 *   holds while an older one is there to go instead, so that what
 *   delivery and resume still read is the last to go (see drop()).  An
 *   entry outlives its place in the log's ring: scrolling back
 *   (room_page) reaches it until the budget needs it.  The pool is
 *   guarded by the zone's mutex, as the rest is.
 */

#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_history.h"
#include "ngx_http_securechat_store.h"

#include <openssl/rand.h>


/* states of a place in the log */
#define NGX_HTTP_SECURECHAT_SLOT_RESERVED  1
#define NGX_HTTP_SECURECHAT_SLOT_COMMITTED 2
#define NGX_HTTP_SECURECHAT_SLOT_GAP       3


typedef struct ngx_http_securechat_room_log_s  ngx_http_securechat_room_log_t;


/* a committed message or event, in its room's queue */

typedef struct {
    ngx_queue_t                    queue;    /* in its room */
    ngx_queue_t                    all;      /* in the log's order */
    uint64_t                       id;       /* in the log */
    uint64_t                       room_id;
    ngx_http_securechat_room_log_t *room;
    size_t                         size;     /* what it takes of the budget */
    size_t                         len;
    u_char                         data[1];
} ngx_http_securechat_entry_t;


/*
 * A room's history: the last id it gave and its entries.  Kept when the
 * room is deleted, so that a room made again under that name goes on
 * counting and no id of one epoch ever names two messages.  by_size: in
 * the tree of rooms by bytes held, while it holds any (the key is the
 * bytes' complement: the smallest key is the largest room).
 */

struct ngx_http_securechat_room_log_s {
    ngx_str_node_t                 sn;
    ngx_rbtree_node_t              by_size;  /* key: ~bytes */
    ngx_queue_t                    entries;
    uint64_t                       last;
    size_t                         bytes;
    u_char                         name[NGX_HTTP_SECURECHAT_ROOM_NAME_MAX];
};


/*
 * A place in the log, assigned to an id by reserve, given its entry by
 * commit, both under the mutex; read without it: a reader checks the id
 * before and after copying (a sequence lock), and the id changes before
 * the place is reused for a newer id or its entry is freed, so neither is
 * ever read as the older one.  owner and reserved_at let a reservation
 * whose process died or stopped be abandoned.
 */

typedef struct {
    volatile uint64_t              id;       /* 0: unused, or dropped */
    volatile ngx_uint_t            state;
    ngx_pid_t                      owner;
    time_t                         reserved_at;
    ngx_http_securechat_room_log_t *room;
    uint64_t                       room_id;
    ngx_http_securechat_entry_t * volatile entry;
    volatile size_t                len;
} ngx_http_securechat_slot_t;


typedef struct {
    /* drawn when the zone is made: which history the ids count in */
    uint64_t                       epoch;

    ngx_uint_t                     ids;
    size_t                         message_max;
    size_t                         entry_max;
    size_t                         budget;
    size_t                         used;     /* as the pool rounds it */
    ngx_slab_pool_t               *pool;     /* the entries' */

    volatile uint64_t              last_id;  /* all up to it are final */
    volatile uint64_t              reserved; /* the highest reserved */
    ngx_http_securechat_slot_t    *slots;

    /* ngx_http_securechat_room_log_t by name, and by bytes held */
    ngx_rbtree_t                   rooms;
    ngx_rbtree_node_t              rooms_sentinel;
    ngx_rbtree_t                   sizes;
    ngx_rbtree_node_t              sizes_sentinel;

    /* every entry, oldest first */
    ngx_queue_t                    entries;

    /* the zone's end: no copy ever reads past it */
    u_char                        *end;

    /* no memory for an entry, said once until one fits again */
    ngx_uint_t                     starved;
} ngx_http_securechat_history_sh_t;


static size_t ngx_http_securechat_history_alloc_size(size_t n);
static size_t ngx_http_securechat_history_pool_size(size_t bytes);
static ngx_http_securechat_history_sh_t *ngx_http_securechat_history_sh(
    ngx_shm_zone_t *shm_zone, ngx_slab_pool_t **shpool);
static ngx_http_securechat_slot_t *ngx_http_securechat_slot(
    ngx_http_securechat_history_sh_t *hsh, uint64_t id);
static ngx_http_securechat_room_log_t *ngx_http_securechat_room_log_locked(
    ngx_http_securechat_history_sh_t *hsh, ngx_slab_pool_t *shpool,
    ngx_str_t *room, ngx_uint_t create);
static ngx_http_securechat_entry_t *ngx_http_securechat_entry_alloc_locked(
    ngx_http_securechat_history_sh_t *hsh, size_t len);
static ngx_uint_t ngx_http_securechat_history_drop_locked(
    ngx_http_securechat_history_sh_t *hsh);
static void ngx_http_securechat_room_log_resize(
    ngx_http_securechat_history_sh_t *hsh,
    ngx_http_securechat_room_log_t *rl, ssize_t delta);
static void ngx_http_securechat_room_log_link(
    ngx_http_securechat_history_sh_t *hsh, ngx_http_securechat_room_log_t *rl,
    ngx_http_securechat_entry_t *e);
static ngx_uint_t ngx_http_securechat_history_advance_locked(
    ngx_http_securechat_history_sh_t *hsh, ngx_uint_t expire);
static ngx_int_t ngx_http_securechat_history_copy(
    ngx_http_securechat_history_sh_t *hsh, uint64_t id, u_char *buf,
    size_t size, size_t *len);


/*
 * What the slab allocator takes for n bytes: a power of two up to half a
 * page, whole pages above; the budget counts that, not n, so that it is
 * the memory the entries hold.
 */

static size_t
ngx_http_securechat_history_alloc_size(size_t n)
{
    size_t  size;

    if (n > ngx_pagesize / 2) {
        return ngx_align(n, ngx_pagesize);
    }

    for (size = 8; size < n; size <<= 1) { /* void */ }

    return size;
}


/*
 * A slab pool whose pages hold bytes: its own header, its lists and
 * statistics per size class, a descriptor per page, and a page to align
 * the pages on (what ngx_slab_init() lays out).
 */

static size_t
ngx_http_securechat_history_pool_size(size_t bytes)
{
    size_t  pages;

    pages = (bytes + ngx_pagesize - 1) / ngx_pagesize;

    return sizeof(ngx_slab_pool_t)
           + ngx_pagesize_shift * (sizeof(ngx_slab_page_t)
                                   + sizeof(ngx_slab_stat_t))
           + pages * (ngx_pagesize + sizeof(ngx_slab_page_t))
           + ngx_pagesize;
}


size_t
ngx_http_securechat_history_entry_size(size_t entry_max)
{
    return ngx_http_securechat_history_alloc_size(
               offsetof(ngx_http_securechat_entry_t, data) + entry_max);
}


size_t
ngx_http_securechat_history_default_bytes(ngx_uint_t ids, size_t entry_max)
{
    return ids * ngx_align(offsetof(ngx_http_securechat_entry_t, data)
                           + entry_max, NGX_ALIGNMENT);
}


size_t
ngx_http_securechat_history_need(ngx_http_securechat_history_conf_t *hcf)
{
    return sizeof(ngx_http_securechat_history_sh_t)
           + hcf->ids * sizeof(ngx_http_securechat_slot_t)
           + ngx_http_securechat_history_pool_size(hcf->bytes);
}


void *
ngx_http_securechat_history_init_zone(ngx_slab_pool_t *shpool,
    ngx_http_securechat_history_conf_t *hcf, ngx_log_t *log)
{
    size_t                             size;
    ngx_http_securechat_history_sh_t  *hsh;

    hsh = ngx_slab_calloc(shpool, sizeof(ngx_http_securechat_history_sh_t));
    if (hsh == NULL) {
        return NULL;
    }

    /* a restart starts the ids again at 1: a new epoch tells clients */

    if (RAND_bytes((u_char *) &hsh->epoch, sizeof(hsh->epoch)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, log, 0, "RAND_bytes() failed");
        return NULL;
    }

    hsh->ids = hcf->ids;
    hsh->message_max = hcf->message_max;
    hsh->entry_max = hcf->entry_max;
    hsh->budget = hcf->bytes;
    hsh->end = shpool->end;

    /* the entries' pool, laid out as nginx lays out a zone's */

    size = ngx_http_securechat_history_pool_size(hcf->bytes);

    hsh->pool = ngx_slab_alloc(shpool, size);
    if (hsh->pool == NULL) {
        return NULL;
    }

    hsh->pool->end = (u_char *) hsh->pool + size;
    hsh->pool->min_shift = 3;
    hsh->pool->addr = hsh->pool;

    ngx_slab_init(hsh->pool);

    /* a full pool is what eviction is for, not news for the log */
    hsh->pool->log_nomem = 0;

    ngx_rbtree_init(&hsh->rooms, &hsh->rooms_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&hsh->sizes, &hsh->sizes_sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&hsh->entries);

    /* the log is fixed from the start; entries come and go */

    hsh->slots = ngx_slab_calloc(shpool,
                                 hsh->ids * sizeof(ngx_http_securechat_slot_t));
    if (hsh->slots == NULL) {
        return NULL;
    }

    return hsh;
}


ngx_int_t
ngx_http_securechat_history_reuse(void *history,
    ngx_http_securechat_history_conf_t *hcf, ngx_str_t *zone, ngx_log_t *log)
{
    ngx_http_securechat_history_sh_t  *hsh = history;

    if (hsh->entry_max != hcf->entry_max) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "securechat_zone \"%V\" was made by another "
                      "version of the module; restart nginx or use a "
                      "new zone name", zone);
        return NGX_ERROR;
    }

    if (hsh->ids != hcf->ids || hsh->message_max != hcf->message_max) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "securechat_zone \"%V\" holds a history of %ui "
                      "messages of up to %uz bytes, but the new "
                      "configuration asks for %ui of up to %uz "
                      "(securechat_history, securechat_message_max); "
                      "restart nginx or use a new zone name",
                      zone, hsh->ids, hsh->message_max, hcf->ids,
                      hcf->message_max);
        return NGX_ERROR;
    }

    /* the entries' pool was made for the first budget: it may only shrink */

    if (hcf->bytes > (size_t) (hsh->pool->end - hsh->pool->start)) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "securechat_zone \"%V\" holds a history of %uz "
                      "bytes, but the new configuration asks for %uz "
                      "(securechat_history_bytes); restart nginx or use "
                      "a new zone name",
                      zone, hsh->budget, hcf->bytes);
        return NGX_ERROR;
    }

    /* a smaller budget drops entries as new ones come */

    hsh->budget = hcf->bytes;

    return NGX_OK;
}


static ngx_http_securechat_history_sh_t *
ngx_http_securechat_history_sh(ngx_shm_zone_t *shm_zone,
    ngx_slab_pool_t **shpool)
{
    if (shpool != NULL) {
        *shpool = ngx_http_securechat_store_pool(shm_zone);
    }

    return ngx_http_securechat_store_history(shm_zone);
}


static ngx_http_securechat_slot_t *
ngx_http_securechat_slot(ngx_http_securechat_history_sh_t *hsh, uint64_t id)
{
    /* id N lives in place N mod ids: the newest overwrites the oldest */

    return &hsh->slots[id % hsh->ids];
}


uint64_t
ngx_http_securechat_history_epoch(ngx_shm_zone_t *shm_zone)
{
    return ngx_http_securechat_history_sh(shm_zone, NULL)->epoch;
}


ngx_int_t
ngx_http_securechat_history_reserve(ngx_shm_zone_t *shm_zone, ngx_str_t *room,
    uint64_t *id, uint64_t *room_id)
{
    uint64_t                           next;
    ngx_slab_pool_t                   *shpool;
    ngx_http_securechat_slot_t        *slot;
    ngx_http_securechat_room_log_t    *rl;
    ngx_http_securechat_history_sh_t  *hsh;

    hsh = ngx_http_securechat_history_sh(shm_zone, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    /* the room's record first: without room for it, nothing moves */

    rl = ngx_http_securechat_room_log_locked(hsh, shpool, room, 1);
    if (rl == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_ERROR;
    }

    next = hsh->reserved + 1;
    slot = ngx_http_securechat_slot(hsh, next);

    /*
     * The place's older id drops out of the log now (its entry stays in
     * its room): a reader that checks the id after copying sees the
     * change.  Should that older id still be reserved, its commit finds
     * the place taken and it is published as already gone; the mark
     * moves over it below.
     */

    slot->id = next;
    ngx_memory_barrier();
    slot->state = NGX_HTTP_SECURECHAT_SLOT_RESERVED;
    slot->entry = NULL;
    slot->len = 0;
    slot->owner = ngx_pid;
    slot->reserved_at = ngx_time();
    slot->room = rl;

    hsh->reserved = next;

    (void) ngx_http_securechat_history_advance_locked(hsh, 0);

    /* in the same step: a room's ids grow in the order of the log's */
    slot->room_id = ++rl->last;
    *room_id = slot->room_id;

    ngx_shmtx_unlock(&shpool->mutex);

    *id = next;

    return NGX_OK;
}


uint64_t
ngx_http_securechat_history_room_last(ngx_shm_zone_t *shm_zone,
    ngx_str_t *room)
{
    uint64_t                           last;
    ngx_slab_pool_t                   *shpool;
    ngx_http_securechat_room_log_t    *rl;
    ngx_http_securechat_history_sh_t  *hsh;

    hsh = ngx_http_securechat_history_sh(shm_zone, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    rl = ngx_http_securechat_room_log_locked(hsh, shpool, room, 0);
    last = (rl != NULL) ? rl->last : 0;

    ngx_shmtx_unlock(&shpool->mutex);

    return last;
}


static ngx_http_securechat_room_log_t *
ngx_http_securechat_room_log_locked(ngx_http_securechat_history_sh_t *hsh,
    ngx_slab_pool_t *shpool, ngx_str_t *room, ngx_uint_t create)
{
    uint32_t                         hash;
    ngx_http_securechat_room_log_t  *rl;

    if (room->len == 0 || room->len > NGX_HTTP_SECURECHAT_ROOM_NAME_MAX) {
        return NULL;
    }

    hash = ngx_crc32_short(room->data, room->len);

    rl = (ngx_http_securechat_room_log_t *)
             ngx_str_rbtree_lookup(&hsh->rooms, room, hash);

    if (rl != NULL || !create) {
        return rl;
    }

    rl = ngx_slab_calloc_locked(shpool,
                                sizeof(ngx_http_securechat_room_log_t));
    if (rl == NULL) {
        return NULL;
    }

    ngx_memcpy(rl->name, room->data, room->len);
    rl->sn.str.data = rl->name;
    rl->sn.str.len = room->len;
    rl->sn.node.key = hash;
    ngx_queue_init(&rl->entries);

    ngx_rbtree_insert(&hsh->rooms, &rl->sn.node);

    return rl;
}


ngx_int_t
ngx_http_securechat_history_commit(ngx_shm_zone_t *shm_zone, uint64_t id,
    u_char *data, size_t len)
{
    ngx_int_t                          rc;
    ngx_slab_pool_t                   *shpool;
    ngx_http_securechat_entry_t       *e;
    ngx_http_securechat_slot_t        *slot;
    ngx_http_securechat_history_sh_t  *hsh;

    hsh = ngx_http_securechat_history_sh(shm_zone, &shpool);

    if (len > hsh->entry_max) {
        ngx_http_securechat_history_abandon(shm_zone, id);
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&shpool->mutex);

    slot = ngx_http_securechat_slot(hsh, id);

    if (slot->id != id) {
        /* pushed out of the log by newer ids while it was sealed */
        rc = NGX_OK;

    } else if (slot->state != NGX_HTTP_SECURECHAT_SLOT_RESERVED) {
        /* abandoned by expire(): readers went past it as a gap */
        rc = NGX_DECLINED;

    } else {
        e = ngx_http_securechat_entry_alloc_locked(hsh, len);

        if (e == NULL) {
            slot->state = NGX_HTTP_SECURECHAT_SLOT_GAP;

            /* the budget holds the longest entry: never, but said once */

            if (!hsh->starved) {
                hsh->starved = 1;
                ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                              "securechat: the history has no room for "
                              "an entry of %uz bytes even with all of it "
                              "dropped (securechat_history_bytes)", len);
            }

            rc = NGX_ERROR;

        } else {
            hsh->starved = 0;

            e->id = id;
            e->room_id = slot->room_id;
            e->len = len;
            ngx_memcpy(e->data, data, len);

            e->room = slot->room;
            ngx_http_securechat_room_log_link(hsh, slot->room, e);
            ngx_http_securechat_room_log_resize(hsh, slot->room,
                                                (ssize_t) e->size);

            slot->entry = e;
            slot->len = len;
            ngx_memory_barrier();
            slot->state = NGX_HTTP_SECURECHAT_SLOT_COMMITTED;
            rc = NGX_OK;
        }
    }

    (void) ngx_http_securechat_history_advance_locked(hsh, 0);

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/*
 * Room for an entry of len bytes within the budget and the zone: the
 * largest room's oldest entries go first, until it fits.  NULL when even
 * the whole history would not make room.
 */

static ngx_http_securechat_entry_t *
ngx_http_securechat_entry_alloc_locked(ngx_http_securechat_history_sh_t *hsh,
    size_t len)
{
    size_t                        n, size;
    ngx_http_securechat_entry_t  *e;

    n = offsetof(ngx_http_securechat_entry_t, data) + len;
    size = ngx_http_securechat_history_alloc_size(n);

    while (hsh->used + size > hsh->budget) {
        if (!ngx_http_securechat_history_drop_locked(hsh)) {
            break;
        }
    }

    for ( ;; ) {
        e = ngx_slab_alloc_locked(hsh->pool, n);

        if (e != NULL) {
            e->size = size;
            return e;
        }

        /* the pool's pages are cut up for entries of other sizes */

        if (!ngx_http_securechat_history_drop_locked(hsh)) {
            return NULL;
        }
    }
}


/*
 * Drops one entry: 0 if none is held.  Which: the oldest of the room
 * holding the most bytes, if the log's ring no longer holds it (the
 * common case: by default the budget holds the whole ring); else, of the
 * next largest rooms, the first whose oldest the ring no longer holds;
 * else the oldest entry of all (it may be a quiet room's: what the ring
 * holds, slow workers may still be delivering; and when the ring holds
 * every entry, the budget is below the ring's bytes and the oldest is
 * the likeliest to have been delivered).
 */

#define NGX_HTTP_SECURECHAT_DROP_LOOK  8

static ngx_uint_t
ngx_http_securechat_history_drop_locked(ngx_http_securechat_history_sh_t *hsh)
{
    uint64_t                         ring;
    ngx_uint_t                       n;
    ngx_rbtree_node_t               *node;
    ngx_http_securechat_slot_t      *slot;
    ngx_http_securechat_entry_t     *e;
    ngx_http_securechat_room_log_t  *rl;

    if (ngx_queue_empty(&hsh->entries)) {
        return 0;
    }

    /* the oldest id the ring holds */
    ring = (hsh->reserved >= hsh->ids) ? hsh->reserved - hsh->ids + 1 : 1;

    e = NULL;
    node = ngx_rbtree_min(hsh->sizes.root, hsh->sizes.sentinel);

    for (n = 0; n < NGX_HTTP_SECURECHAT_DROP_LOOK && node != NULL; n++) {
        rl = (ngx_http_securechat_room_log_t *)
                 ((u_char *) node
                  - offsetof(ngx_http_securechat_room_log_t, by_size));

        e = ngx_queue_data(ngx_queue_head(&rl->entries),
                           ngx_http_securechat_entry_t, queue);

        if (e->id < ring) {
            break;
        }

        e = NULL;
        node = ngx_rbtree_next(&hsh->sizes, node);
    }

    if (e == NULL) {
        e = ngx_queue_data(ngx_queue_head(&hsh->entries),
                           ngx_http_securechat_entry_t, all);
    }

    rl = e->room;

    ngx_queue_remove(&e->queue);
    ngx_queue_remove(&e->all);
    ngx_http_securechat_room_log_resize(hsh, rl, - (ssize_t) e->size);

    /* a reader copying it sees the id change before the memory goes */

    slot = ngx_http_securechat_slot(hsh, e->id);

    if (slot->id == e->id && slot->entry == e) {
        slot->id = 0;
        ngx_memory_barrier();
        slot->entry = NULL;
    }

    ngx_slab_free_locked(hsh->pool, e);

    return 1;
}


/* a room's bytes change: its place in the tree by size follows */

static void
ngx_http_securechat_room_log_resize(ngx_http_securechat_history_sh_t *hsh,
    ngx_http_securechat_room_log_t *rl, ssize_t delta)
{
    if (rl->bytes) {
        ngx_rbtree_delete(&hsh->sizes, &rl->by_size);
    }

    rl->bytes += delta;
    hsh->used += delta;

    if (rl->bytes) {
        rl->by_size.key = ~ (ngx_rbtree_key_t) rl->bytes;
        ngx_rbtree_insert(&hsh->sizes, &rl->by_size);
    }
}


/*
 * In the order of the log, in its room's queue and in the queue of all:
 * commits of two workers may come out of it, so the entry goes after the
 * last one older than it (nearly always the queue's tail).
 */

static void
ngx_http_securechat_room_log_link(ngx_http_securechat_history_sh_t *hsh,
    ngx_http_securechat_room_log_t *rl, ngx_http_securechat_entry_t *e)
{
    ngx_queue_t                  *q;
    ngx_http_securechat_entry_t  *older;

    for (q = ngx_queue_last(&hsh->entries);
         q != ngx_queue_sentinel(&hsh->entries);
         q = ngx_queue_prev(q))
    {
        older = ngx_queue_data(q, ngx_http_securechat_entry_t, all);

        if (older->id < e->id) {
            break;
        }
    }

    ngx_queue_insert_after(q, &e->all);

    for (q = ngx_queue_last(&rl->entries);
         q != ngx_queue_sentinel(&rl->entries);
         q = ngx_queue_prev(q))
    {
        older = ngx_queue_data(q, ngx_http_securechat_entry_t, queue);

        if (older->id < e->id) {
            break;
        }
    }

    ngx_queue_insert_after(q, &e->queue);
}


void
ngx_http_securechat_history_abandon(ngx_shm_zone_t *shm_zone, uint64_t id)
{
    ngx_slab_pool_t                   *shpool;
    ngx_http_securechat_slot_t        *slot;
    ngx_http_securechat_history_sh_t  *hsh;

    hsh = ngx_http_securechat_history_sh(shm_zone, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    slot = ngx_http_securechat_slot(hsh, id);

    if (slot->id == id && slot->state == NGX_HTTP_SECURECHAT_SLOT_RESERVED) {
        slot->state = NGX_HTTP_SECURECHAT_SLOT_GAP;
    }

    (void) ngx_http_securechat_history_advance_locked(hsh, 0);

    ngx_shmtx_unlock(&shpool->mutex);
}


ngx_uint_t
ngx_http_securechat_history_expire(ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t                         gaps;
    ngx_slab_pool_t                   *shpool;
    ngx_http_securechat_history_sh_t  *hsh;

    hsh = ngx_http_securechat_history_sh(shm_zone, &shpool);

    if (hsh->last_id == hsh->reserved) {
        return 0;
    }

    ngx_shmtx_lock(&shpool->mutex);
    gaps = ngx_http_securechat_history_advance_locked(hsh, 1);
    ngx_shmtx_unlock(&shpool->mutex);

    return gaps;
}


/*
 * Moves last_id over every final id after it: committed, a gap, or one
 * whose place a newer id took.  With expire, a reservation in the way is
 * made a gap when its process is gone or it is older than the bound;
 * returns how many were.
 */

static ngx_uint_t
ngx_http_securechat_history_advance_locked(
    ngx_http_securechat_history_sh_t *hsh, ngx_uint_t expire)
{
    uint64_t                     next, last;
    ngx_uint_t                   gaps;
    ngx_http_securechat_slot_t  *slot;

    last = hsh->last_id;
    gaps = 0;

    while (last < hsh->reserved) {
        next = last + 1;
        slot = ngx_http_securechat_slot(hsh, next);

        if (slot->id == next
            && slot->state == NGX_HTTP_SECURECHAT_SLOT_RESERVED)
        {
            if (!expire) {
                break;
            }

            if (slot->reserved_at + NGX_HTTP_SECURECHAT_RESERVE_TIMEOUT
                    >= ngx_time()
                && (slot->owner == ngx_pid
                    || !ngx_http_securechat_pid_dead(slot->owner)))
            {
                break;
            }

            slot->state = NGX_HTTP_SECURECHAT_SLOT_GAP;
            gaps++;
        }

        last = next;
    }

    if (last != hsh->last_id) {
        /* readers copy an entry only after they saw last_id pass it */
        ngx_memory_barrier();
        hsh->last_id = last;
    }

    return gaps;
}


uint64_t
ngx_http_securechat_history_last(ngx_shm_zone_t *shm_zone)
{
    return ngx_http_securechat_history_sh(shm_zone, NULL)->last_id;
}


uint64_t
ngx_http_securechat_history_reserved(ngx_shm_zone_t *shm_zone)
{
    return ngx_http_securechat_history_sh(shm_zone, NULL)->reserved;
}


size_t
ngx_http_securechat_history_slot_data(ngx_shm_zone_t *shm_zone)
{
    return ngx_http_securechat_history_sh(shm_zone, NULL)->entry_max;
}


ngx_int_t
ngx_http_securechat_history_read(ngx_shm_zone_t *shm_zone, uint64_t id,
    u_char *buf, size_t *len)
{
    ngx_http_securechat_history_sh_t  *hsh;

    hsh = ngx_http_securechat_history_sh(shm_zone, NULL);

    return ngx_http_securechat_history_copy(hsh, id, buf, hsh->entry_max, len);
}


ngx_int_t
ngx_http_securechat_history_head(ngx_shm_zone_t *shm_zone, uint64_t id,
    u_char *buf, size_t size, size_t *len)
{
    ngx_http_securechat_history_sh_t  *hsh;

    hsh = ngx_http_securechat_history_sh(shm_zone, NULL);

    return ngx_http_securechat_history_copy(hsh, id, buf, size, len);
}


/*
 * The first size bytes of id's entry at most, lock-free.  The entry may
 * be freed while it is copied: the copy then reads memory of the zone
 * that means something else (never past the zone's end), and the id
 * checked after it tells that it must be thrown away.
 */

static ngx_int_t
ngx_http_securechat_history_copy(ngx_http_securechat_history_sh_t *hsh,
    uint64_t id, u_char *buf, size_t size, size_t *len)
{
    size_t                        n;
    uint64_t                      before, after;
    ngx_uint_t                    state;
    ngx_http_securechat_slot_t   *slot;
    ngx_http_securechat_entry_t  *e;

    if (id == 0 || id > hsh->last_id) {
        return NGX_AGAIN;
    }

    ngx_memory_barrier();

    slot = ngx_http_securechat_slot(hsh, id);

    before = slot->id;
    ngx_memory_barrier();
    state = slot->state;
    e = slot->entry;
    n = slot->len;

    if (before != id || state != NGX_HTTP_SECURECHAT_SLOT_COMMITTED
        || e == NULL || n > hsh->entry_max)
    {
        return NGX_DECLINED;
    }

    if (n > size) {
        n = size;
    }

    if (n > (size_t) (hsh->end - e->data)) {
        return NGX_DECLINED;
    }

    ngx_memcpy(buf, e->data, n);

    ngx_memory_barrier();
    after = slot->id;

    if (after != id || slot->entry != e) {
        return NGX_DECLINED;
    }

    *len = n;

    return NGX_OK;
}


uint64_t
ngx_http_securechat_history_oldest(ngx_shm_zone_t *shm_zone)
{
    uint64_t                           reserved;
    ngx_http_securechat_history_sh_t  *hsh;

    hsh = ngx_http_securechat_history_sh(shm_zone, NULL);

    /* a reserved id has taken the place of the id ids before it */
    reserved = hsh->reserved;

    return (reserved >= hsh->ids) ? reserved - hsh->ids + 1 : 1;
}


ngx_int_t
ngx_http_securechat_history_room_page(ngx_shm_zone_t *shm_zone,
    ngx_str_t *room, uint64_t before, ngx_uint_t limit, ngx_pool_t *pool,
    ngx_array_t *items, ngx_uint_t *more)
{
    ngx_int_t                            rc;
    ngx_queue_t                         *q;
    ngx_slab_pool_t                     *shpool;
    ngx_http_securechat_entry_t         *e;
    ngx_http_securechat_room_log_t      *rl;
    ngx_http_securechat_history_sh_t    *hsh;
    ngx_http_securechat_history_item_t  *item;

    hsh = ngx_http_securechat_history_sh(shm_zone, &shpool);

    *more = 0;
    rc = NGX_OK;

    ngx_shmtx_lock(&shpool->mutex);

    rl = ngx_http_securechat_room_log_locked(hsh, shpool, room, 0);

    if (rl == NULL) {
        goto done;
    }

    /* newest first: a page is nearly always near the queue's tail */

    for (q = ngx_queue_last(&rl->entries);
         q != ngx_queue_sentinel(&rl->entries);
         q = ngx_queue_prev(q))
    {
        e = ngx_queue_data(q, ngx_http_securechat_entry_t, queue);

        if (e->room_id >= before) {
            continue;
        }

        if (items->nelts == limit) {
            *more = 1;
            break;
        }

        item = ngx_array_push(items);
        if (item == NULL) {
            rc = NGX_ERROR;
            break;
        }

        item->data.data = ngx_pnalloc(pool, e->len);
        if (item->data.data == NULL) {
            rc = NGX_ERROR;
            break;
        }

        item->id = e->id;
        item->room_id = e->room_id;
        item->data.len = e->len;
        ngx_memcpy(item->data.data, e->data, e->len);
    }

done:

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}
