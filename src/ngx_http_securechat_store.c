
/*
 * The shared memory zone.  One slab mutex guards everything: each operation
 * is a handful of tree steps or one memcpy, far shorter than the critical
 * sections nginx's own limit_req holds.
 */

#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_store.h"

#include <openssl/rand.h>


#define NGX_HTTP_SECURECHAT_STORE_MAGIC    0x53434831   /* "SCH1" */

/* a throttle record is forgotten this long after its last failure */
#define NGX_HTTP_SECURECHAT_THROTTLE_TTL   3600

/* sessions the zone must hold besides the history */
#define NGX_HTTP_SECURECHAT_MIN_SESSIONS   64


typedef struct {
    ngx_str_node_t                 sn;       /* str: the token hash */
    ngx_queue_t                    queue;    /* oldest first */
    time_t                         expires;
    size_t                         user_len;
    size_t                         key_len;
    u_char                         hash[NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN];
    u_char                         user[NGX_HTTP_SECURECHAT_USER_MAX];
    u_char                         key_id[NGX_HTTP_SECURECHAT_KEY_ID_LEN];
    u_char                         key[NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX];
} ngx_http_securechat_session_node_t;


typedef struct {
    ngx_str_node_t                 sn;       /* str: account + address */
    ngx_queue_t                    queue;    /* least recently failed first */
    ngx_uint_t                     failures;
    time_t                         locked_until;
    time_t                         last_failure;
    u_char                         key[1];
} ngx_http_securechat_throttle_node_t;


/*
 * A history slot.  Written under the slab mutex, read without it: the
 * writer zeroes id, fills the slot, then sets id; a reader checks id
 * before and after copying (a sequence lock), so a slot being reused for
 * a newer message is never read as the older one.
 */

typedef struct {
    volatile uint64_t              id;       /* 0: unused or being written */
    size_t                         len;
    u_char                         data[1];
} ngx_http_securechat_slot_t;


/* a connected WebSocket client; never holds a process pointer */

typedef struct {
    ngx_queue_t                    queue;
    ngx_pid_t                      pid;      /* the worker that owns it */
    volatile ngx_uint_t            kick;     /* close code asked, or 0 */
    ngx_http_securechat_client_t   c;
} ngx_http_securechat_client_node_t;


/*
 * A worker process.  armed: it waits for a doorbell and wants one rung
 * when a message is published; kicks: bumped when one of its clients is
 * asked to close.
 */

typedef struct {
    ngx_atomic_t                   pid;
    ngx_atomic_t                   armed;
    ngx_atomic_t                   kicks;
} ngx_http_securechat_worker_t;


typedef struct {
    ngx_uint_t                     magic;

    /* drawn when the zone is made: which history the ids count in */
    uint64_t                       epoch;

    ngx_rbtree_t                   sessions;
    ngx_rbtree_node_t              sessions_sentinel;
    ngx_queue_t                    sessions_queue;

    ngx_rbtree_t                   throttle;
    ngx_rbtree_node_t              throttle_sentinel;
    ngx_queue_t                    throttle_queue;

    ngx_uint_t                     history;
    size_t                         message_max;
    size_t                         slot_data;
    size_t                         slot_size;
    volatile uint64_t              last_id;
    u_char                        *slots;

    ngx_queue_t                    clients;
    ngx_uint_t                     nclients;

    ngx_http_securechat_worker_t   workers[NGX_HTTP_SECURECHAT_WORKERS_MAX];
} ngx_http_securechat_shctx_t;


typedef struct {
    ngx_http_securechat_shctx_t   *sh;
    ngx_slab_pool_t               *shpool;

    /* what this configuration asks of the zone */
    ngx_uint_t                     history;
    size_t                         message_max;
    size_t                         slot_data;
} ngx_http_securechat_store_t;


static ngx_int_t ngx_http_securechat_store_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static size_t ngx_http_securechat_slot_size(size_t slot_data);
static ngx_uint_t ngx_http_securechat_pid_dead(ngx_pid_t pid);
static void ngx_http_securechat_client_kick_locked(
    ngx_http_securechat_shctx_t *sh, ngx_http_securechat_client_node_t *cn,
    ngx_uint_t code);
static void ngx_http_securechat_node_free_locked(
    ngx_http_securechat_store_t *store, ngx_rbtree_t *tree,
    ngx_str_node_t *node, ngx_queue_t *queue);
static void *ngx_http_securechat_session_alloc_locked(
    ngx_http_securechat_store_t *store);
static ngx_http_securechat_throttle_node_t *
    ngx_http_securechat_throttle_lookup_locked(
    ngx_http_securechat_store_t *store, ngx_str_t *key);


ngx_shm_zone_t *
ngx_http_securechat_store_add(ngx_conf_t *cf, ngx_str_t *name, size_t size)
{
    ngx_uint_t                    i;
    ngx_list_part_t              *part;
    ngx_shm_zone_t               *shm_zone, *old;
    ngx_http_securechat_store_t  *store;

    /*
     * nginx silently gives a resized zone a fresh, empty segment on reload,
     * which would log every user out; say so instead.
     */

    if (!ngx_is_init_cycle(cf->cycle->old_cycle)) {
        part = &cf->cycle->old_cycle->shared_memory.part;
        old = part->elts;

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }
                part = part->next;
                old = part->elts;
                i = 0;
            }

            if (old[i].tag != &ngx_http_securechat_module
                || old[i].shm.name.len != name->len
                || ngx_strncmp(old[i].shm.name.data, name->data, name->len)
                   != 0)
            {
                continue;
            }

            if (old[i].shm.size != size) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "securechat_zone \"%V\" cannot change its "
                                   "size from %uz to %uz on reload; restart "
                                   "nginx to resize it (sessions and history "
                                   "will be lost)",
                                   name, old[i].shm.size, size);
                return NULL;
            }
        }
    }

    store = ngx_pcalloc(cf->pool, sizeof(ngx_http_securechat_store_t));
    if (store == NULL) {
        return NULL;
    }

    shm_zone = ngx_shared_memory_add(cf, name, size,
                                     &ngx_http_securechat_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "securechat_zone \"%V\" is already declared",
                           name);
        return NULL;
    }

    shm_zone->init = ngx_http_securechat_store_init_zone;
    shm_zone->data = store;

    return shm_zone;
}


char *
ngx_http_securechat_store_configure(ngx_conf_t *cf, ngx_shm_zone_t *shm_zone,
    ngx_uint_t history, size_t message_max, size_t slot_data)
{
    size_t                        need;
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;
    store->history = history;
    store->message_max = message_max;
    store->slot_data = slot_data;

    /*
     * The slab allocator needs a page header per page and rounds blocks up
     * to powers of two; an eighth on top plus a few pages covers both.
     */

    need = history * ngx_http_securechat_slot_size(slot_data)
           + NGX_HTTP_SECURECHAT_MIN_SESSIONS
             * sizeof(ngx_http_securechat_session_node_t) * 2
           + sizeof(ngx_http_securechat_shctx_t);
    need += need / 8 + 8 * ngx_pagesize;

    if (shm_zone->shm.size < need) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "securechat_zone \"%V\" of %uz bytes is too small "
                           "for a history of %ui messages of up to %uz bytes "
                           "(securechat_history, securechat_message_max) "
                           "and %d sessions: it needs at least %uz bytes",
                           &shm_zone->shm.name, shm_zone->shm.size, history,
                           message_max, NGX_HTTP_SECURECHAT_MIN_SESSIONS,
                           need);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static size_t
ngx_http_securechat_slot_size(size_t slot_data)
{
    return ngx_align(offsetof(ngx_http_securechat_slot_t, data) + slot_data,
                     NGX_ALIGNMENT);
}


uint64_t
ngx_http_securechat_history_epoch(ngx_shm_zone_t *shm_zone)
{
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;

    return store->sh->epoch;
}


static ngx_int_t
ngx_http_securechat_store_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_securechat_store_t  *ostore = data;

    size_t                        len;
    ngx_http_securechat_store_t  *store;
    ngx_http_securechat_shctx_t  *sh;

    store = shm_zone->data;

    if (ostore) {
        sh = ostore->sh;

        if (sh->history != store->history
            || sh->message_max != store->message_max)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "securechat_zone \"%V\" holds a history of %ui "
                          "messages of up to %uz bytes, but the new "
                          "configuration asks for %ui of up to %uz "
                          "(securechat_history, securechat_message_max); "
                          "restart nginx or use a new zone name",
                          &shm_zone->shm.name, sh->history, sh->message_max,
                          store->history, store->message_max);
            return NGX_ERROR;
        }

        if (sh->slot_data != store->slot_data) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "securechat_zone \"%V\" was made by another "
                          "version of the module; restart nginx or use a "
                          "new zone name", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        store->sh = ostore->sh;
        store->shpool = ostore->shpool;

        return NGX_OK;
    }

    store->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        store->sh = store->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(store->shpool, sizeof(ngx_http_securechat_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    store->sh = sh;
    store->shpool->data = sh;

    sh->magic = NGX_HTTP_SECURECHAT_STORE_MAGIC;

    /* a restart starts the ids again at 1: a new epoch tells clients */

    if (RAND_bytes((u_char *) &sh->epoch, sizeof(sh->epoch)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "securechat_zone \"%V\": RAND_bytes() failed",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->sessions, &sh->sessions_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->sessions_queue);

    ngx_rbtree_init(&sh->throttle, &sh->throttle_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->throttle_queue);

    sh->history = store->history;
    sh->message_max = store->message_max;
    sh->slot_data = store->slot_data;
    sh->slot_size = ngx_http_securechat_slot_size(store->slot_data);
    sh->last_id = 0;

    ngx_queue_init(&sh->clients);

    /* the history is allocated once: its memory is fixed from the start */

    sh->slots = ngx_slab_calloc(store->shpool, sh->history * sh->slot_size);
    if (sh->slots == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "securechat_zone \"%V\" cannot hold its history",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    len = sizeof(" in securechat_zone \"\"") + shm_zone->shm.name.len;

    store->shpool->log_ctx = ngx_slab_alloc(store->shpool, len);
    if (store->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(store->shpool->log_ctx, " in securechat_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is an expected, client-triggerable state: no log flood */
    store->shpool->log_nomem = 0;

    return NGX_OK;
}


/* sessions and throttle records: a tree node, a queue link, one block */

static void
ngx_http_securechat_node_free_locked(ngx_http_securechat_store_t *store,
    ngx_rbtree_t *tree, ngx_str_node_t *node, ngx_queue_t *queue)
{
    ngx_queue_remove(queue);
    ngx_rbtree_delete(tree, &node->node);
    ngx_slab_free_locked(store->shpool, node);
}


ngx_int_t
ngx_http_securechat_session_create(ngx_shm_zone_t *shm_zone,
    const u_char *hash, ngx_http_securechat_session_t *s)
{
    ngx_http_securechat_store_t         *store;
    ngx_http_securechat_session_node_t  *sn;

    store = shm_zone->data;

    if (s->user.len > NGX_HTTP_SECURECHAT_USER_MAX
        || s->client_key.len > NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX
        || (s->client_key.len
            && s->client_key_id.len != NGX_HTTP_SECURECHAT_KEY_ID_LEN))
    {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    sn = ngx_http_securechat_session_alloc_locked(store);
    if (sn == NULL) {
        ngx_shmtx_unlock(&store->shpool->mutex);
        return NGX_BUSY;
    }

    ngx_memcpy(sn->hash, hash, NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN);
    sn->sn.str.len = NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN;
    sn->sn.str.data = sn->hash;
    sn->sn.node.key = ngx_crc32_short(sn->hash,
                                      NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN);
    sn->expires = s->expires;
    sn->user_len = s->user.len;
    ngx_memcpy(sn->user, s->user.data, s->user.len);

    sn->key_len = s->client_key.len;
    if (sn->key_len) {
        ngx_memcpy(sn->key, s->client_key.data, sn->key_len);
        ngx_memcpy(sn->key_id, s->client_key_id.data,
                   NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    }

    ngx_rbtree_insert(&store->sh->sessions, &sn->sn.node);
    ngx_queue_insert_tail(&store->sh->sessions_queue, &sn->queue);

    ngx_shmtx_unlock(&store->shpool->mutex);

    return NGX_OK;
}


/*
 * Sessions all share one lifetime, so the queue is in expiry order: free
 * expired ones from its head before declaring the zone full.  Live
 * sessions are never evicted to make room.
 */

static void *
ngx_http_securechat_session_alloc_locked(ngx_http_securechat_store_t *store)
{
    void                                *p;
    time_t                               now;
    ngx_uint_t                           n;
    ngx_queue_t                         *q;
    ngx_http_securechat_session_node_t  *sn;

    p = ngx_slab_alloc_locked(store->shpool,
                              sizeof(ngx_http_securechat_session_node_t));
    if (p != NULL) {
        return p;
    }

    now = ngx_time();

    for (n = 0; n < 64; n++) {

        if (ngx_queue_empty(&store->sh->sessions_queue)) {
            break;
        }

        q = ngx_queue_head(&store->sh->sessions_queue);
        sn = ngx_queue_data(q, ngx_http_securechat_session_node_t, queue);

        if (sn->expires > now) {
            break;
        }

        ngx_http_securechat_node_free_locked(store, &store->sh->sessions,
                                             &sn->sn, &sn->queue);
    }

    return ngx_slab_alloc_locked(store->shpool,
                                 sizeof(ngx_http_securechat_session_node_t));
}


ngx_int_t
ngx_http_securechat_session_lookup(ngx_shm_zone_t *shm_zone,
    const u_char *hash, ngx_pool_t *pool, ngx_http_securechat_session_t *s)
{
    ngx_str_t                            key;
    ngx_str_node_t                      *node;
    ngx_http_securechat_store_t         *store;
    ngx_http_securechat_session_node_t  *sn;

    store = shm_zone->data;

    key.len = NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN;
    key.data = (u_char *) hash;

    ngx_shmtx_lock(&store->shpool->mutex);

    node = ngx_str_rbtree_lookup(&store->sh->sessions, &key,
                                 ngx_crc32_short(key.data, key.len));
    if (node == NULL) {
        ngx_shmtx_unlock(&store->shpool->mutex);
        return NGX_DECLINED;
    }

    sn = (ngx_http_securechat_session_node_t *) node;

    if (sn->expires <= ngx_time()) {
        ngx_http_securechat_node_free_locked(store, &store->sh->sessions,
                                             &sn->sn, &sn->queue);
        ngx_shmtx_unlock(&store->shpool->mutex);
        return NGX_DECLINED;
    }

    s->expires = sn->expires;
    s->user.len = sn->user_len;
    s->client_key.len = sn->key_len;
    s->client_key_id.len = sn->key_len ? NGX_HTTP_SECURECHAT_KEY_ID_LEN : 0;

    /* one allocation for all three */

    s->user.data = ngx_pnalloc(pool, s->user.len + s->client_key.len
                                     + s->client_key_id.len);
    if (s->user.data == NULL) {
        ngx_shmtx_unlock(&store->shpool->mutex);
        return NGX_ERROR;
    }

    s->client_key.data = ngx_cpymem(s->user.data, sn->user, sn->user_len);
    s->client_key_id.data = ngx_cpymem(s->client_key.data, sn->key,
                                       sn->key_len);
    ngx_memcpy(s->client_key_id.data, sn->key_id, s->client_key_id.len);

    ngx_shmtx_unlock(&store->shpool->mutex);

    return NGX_OK;
}


void
ngx_http_securechat_session_delete(ngx_shm_zone_t *shm_zone,
    const u_char *hash)
{
    ngx_str_t                            key;
    ngx_str_node_t                      *node;
    ngx_http_securechat_store_t         *store;
    ngx_http_securechat_session_node_t  *sn;

    store = shm_zone->data;

    key.len = NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN;
    key.data = (u_char *) hash;

    ngx_shmtx_lock(&store->shpool->mutex);

    node = ngx_str_rbtree_lookup(&store->sh->sessions, &key,
                                 ngx_crc32_short(key.data, key.len));
    if (node != NULL) {
        sn = (ngx_http_securechat_session_node_t *) node;
        ngx_http_securechat_node_free_locked(store, &store->sh->sessions,
                                             &sn->sn, &sn->queue);
    }

    ngx_shmtx_unlock(&store->shpool->mutex);
}


static ngx_http_securechat_throttle_node_t *
ngx_http_securechat_throttle_lookup_locked(ngx_http_securechat_store_t *store,
    ngx_str_t *key)
{
    ngx_str_node_t                       *node;
    ngx_http_securechat_throttle_node_t  *tn;

    node = ngx_str_rbtree_lookup(&store->sh->throttle, key,
                                 ngx_crc32_short(key->data, key->len));
    if (node == NULL) {
        return NULL;
    }

    tn = (ngx_http_securechat_throttle_node_t *) node;

    if (tn->last_failure + NGX_HTTP_SECURECHAT_THROTTLE_TTL < ngx_time()) {
        ngx_http_securechat_node_free_locked(store, &store->sh->throttle,
                                             &tn->sn, &tn->queue);
        return NULL;
    }

    return tn;
}


time_t
ngx_http_securechat_throttle_check(ngx_shm_zone_t *shm_zone, ngx_str_t *key)
{
    time_t                                now, left;
    ngx_http_securechat_store_t          *store;
    ngx_http_securechat_throttle_node_t  *tn;

    store = shm_zone->data;
    now = ngx_time();
    left = 0;

    ngx_shmtx_lock(&store->shpool->mutex);

    tn = ngx_http_securechat_throttle_lookup_locked(store, key);

    if (tn != NULL && tn->locked_until > now) {
        left = tn->locked_until - now;
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    return left;
}


/*
 * The first free_failures failures cost nothing; each one after that locks
 * the (account, address) pair for twice as long as the last (2s, 4s, ...),
 * up to max_lockout.  Keying by address too means a stranger cannot lock the
 * owner out of an account; capping the lock means nobody is locked out for
 * good.
 */

void
ngx_http_securechat_throttle_fail(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t free_failures, time_t max_lockout)
{
    time_t                                now, lock;
    ngx_uint_t                            over;
    ngx_queue_t                          *q;
    ngx_http_securechat_store_t          *store;
    ngx_http_securechat_throttle_node_t  *tn;

    store = shm_zone->data;
    now = ngx_time();

    ngx_shmtx_lock(&store->shpool->mutex);

    tn = ngx_http_securechat_throttle_lookup_locked(store, key);

    if (tn == NULL) {
        tn = ngx_slab_alloc_locked(store->shpool,
                 offsetof(ngx_http_securechat_throttle_node_t, key)
                 + key->len);

        if (tn == NULL && !ngx_queue_empty(&store->sh->throttle_queue)) {

            /* make room by forgetting the stalest record */

            q = ngx_queue_head(&store->sh->throttle_queue);
            tn = ngx_queue_data(q, ngx_http_securechat_throttle_node_t,
                                queue);
            ngx_http_securechat_node_free_locked(store, &store->sh->throttle,
                                                 &tn->sn, &tn->queue);

            tn = ngx_slab_alloc_locked(store->shpool,
                     offsetof(ngx_http_securechat_throttle_node_t, key)
                     + key->len);
        }

        if (tn == NULL) {
            ngx_shmtx_unlock(&store->shpool->mutex);
            return;
        }

        ngx_memcpy(tn->key, key->data, key->len);
        tn->sn.str.len = key->len;
        tn->sn.str.data = tn->key;
        tn->sn.node.key = ngx_crc32_short(key->data, key->len);
        tn->failures = 0;
        tn->locked_until = 0;

        ngx_rbtree_insert(&store->sh->throttle, &tn->sn.node);

    } else {
        ngx_queue_remove(&tn->queue);
    }

    ngx_queue_insert_tail(&store->sh->throttle_queue, &tn->queue);

    tn->failures++;
    tn->last_failure = now;

    if (tn->failures > free_failures) {
        over = tn->failures - free_failures;
        lock = (over >= 20) ? max_lockout : ((time_t) 1 << over);
        tn->locked_until = now + ngx_min(lock, max_lockout);
    }

    ngx_shmtx_unlock(&store->shpool->mutex);
}


void
ngx_http_securechat_throttle_reset(ngx_shm_zone_t *shm_zone, ngx_str_t *key)
{
    ngx_http_securechat_store_t          *store;
    ngx_http_securechat_throttle_node_t  *tn;

    store = shm_zone->data;

    ngx_shmtx_lock(&store->shpool->mutex);

    tn = ngx_http_securechat_throttle_lookup_locked(store, key);

    if (tn != NULL) {
        ngx_http_securechat_node_free_locked(store, &store->sh->throttle,
                                             &tn->sn, &tn->queue);
    }

    ngx_shmtx_unlock(&store->shpool->mutex);
}


/*
 * The history.  build() runs under the slab mutex with the id the message
 * gets, so ids are handed out in the order messages are committed and no
 * reader ever waits for an id that is still being written.  It may take a
 * signature's time: only publishers and session lookups wait meanwhile,
 * never deliveries, which read slots without the mutex.
 */

ngx_int_t
ngx_http_securechat_history_append(ngx_shm_zone_t *shm_zone,
    ngx_http_securechat_history_build_pt build, void *data, uint64_t *id)
{
    size_t                        len;
    uint64_t                      next;
    ngx_int_t                     rc;
    ngx_http_securechat_shctx_t  *sh;
    ngx_http_securechat_slot_t   *slot;
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;
    sh = store->sh;

    ngx_shmtx_lock(&store->shpool->mutex);

    /* id N lives in slot N mod history: the newest overwrites the oldest */

    next = sh->last_id + 1;

    slot = (ngx_http_securechat_slot_t *)
               (sh->slots + (next % sh->history) * sh->slot_size);

    slot->id = 0;
    ngx_memory_barrier();

    len = 0;
    rc = build(next, slot->data, sh->slot_data, &len, data);

    if (rc == NGX_OK && len <= sh->slot_data) {
        slot->len = len;
        ngx_memory_barrier();
        slot->id = next;
        ngx_memory_barrier();
        sh->last_id = next;
        *id = next;

    } else {
        /* the slot's old message is lost either way: it was overwritten */
        rc = NGX_ERROR;
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


uint64_t
ngx_http_securechat_history_last(ngx_shm_zone_t *shm_zone)
{
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;

    return store->sh->last_id;
}


size_t
ngx_http_securechat_history_slot_data(ngx_shm_zone_t *shm_zone)
{
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;

    return store->sh->slot_data;
}


ngx_int_t
ngx_http_securechat_history_read(ngx_shm_zone_t *shm_zone, uint64_t id,
    u_char *buf, size_t *len)
{
    size_t                        n;
    uint64_t                      before, after;
    ngx_http_securechat_shctx_t  *sh;
    ngx_http_securechat_slot_t   *slot;
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;
    sh = store->sh;

    if (id == 0 || id > sh->last_id) {
        return NGX_AGAIN;
    }

    slot = (ngx_http_securechat_slot_t *)
               (sh->slots + (id % sh->history) * sh->slot_size);

    before = slot->id;
    ngx_memory_barrier();

    if (before != id) {
        return NGX_DECLINED;
    }

    n = slot->len;
    if (n > sh->slot_data) {
        return NGX_DECLINED;
    }

    ngx_memcpy(buf, slot->data, n);

    ngx_memory_barrier();
    after = slot->id;

    if (after != id) {
        return NGX_DECLINED;
    }

    *len = n;

    return NGX_OK;
}


uint64_t
ngx_http_securechat_history_oldest(ngx_shm_zone_t *shm_zone)
{
    uint64_t                      last;
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;
    last = store->sh->last_id;

    return (last >= store->sh->history) ? last - store->sh->history + 1 : 1;
}


/* the connected-client table */

static ngx_uint_t
ngx_http_securechat_pid_dead(ngx_pid_t pid)
{
    return kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH;
}


void *
ngx_http_securechat_client_add(ngx_shm_zone_t *shm_zone,
    ngx_http_securechat_client_t *client, ngx_uint_t per_user,
    ngx_int_t *rc)
{
    ngx_uint_t                          n;
    ngx_queue_t                        *q;
    ngx_http_securechat_shctx_t        *sh;
    ngx_http_securechat_store_t        *store;
    ngx_http_securechat_client_node_t  *cn;

    store = shm_zone->data;
    sh = store->sh;

    ngx_shmtx_lock(&store->shpool->mutex);

    n = 0;

    for (q = ngx_queue_head(&sh->clients);
         q != ngx_queue_sentinel(&sh->clients);
         q = ngx_queue_next(q))
    {
        cn = ngx_queue_data(q, ngx_http_securechat_client_node_t, queue);

        if (cn->c.user_len == client->user_len
            && ngx_memcmp(cn->c.user, client->user, client->user_len) == 0)
        {
            n++;
        }
    }

    if (n >= per_user) {
        ngx_shmtx_unlock(&store->shpool->mutex);
        *rc = NGX_DECLINED;
        return NULL;
    }

    cn = ngx_slab_alloc_locked(store->shpool,
                               sizeof(ngx_http_securechat_client_node_t));
    if (cn == NULL) {
        ngx_shmtx_unlock(&store->shpool->mutex);
        *rc = NGX_BUSY;
        return NULL;
    }

    cn->pid = ngx_pid;
    cn->kick = 0;
    cn->c = *client;

    ngx_queue_insert_tail(&sh->clients, &cn->queue);
    sh->nclients++;

    ngx_shmtx_unlock(&store->shpool->mutex);

    *rc = NGX_OK;
    return cn;
}


static void
ngx_http_securechat_client_free_locked(ngx_http_securechat_store_t *store,
    ngx_http_securechat_client_node_t *cn)
{
    ngx_queue_remove(&cn->queue);
    store->sh->nclients--;
    ngx_slab_free_locked(store->shpool, cn);
}


void
ngx_http_securechat_client_remove(ngx_shm_zone_t *shm_zone, void *node)
{
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;

    ngx_shmtx_lock(&store->shpool->mutex);
    ngx_http_securechat_client_free_locked(store, node);
    ngx_shmtx_unlock(&store->shpool->mutex);
}


ngx_uint_t
ngx_http_securechat_client_kicked(void *node)
{
    ngx_http_securechat_client_node_t  *cn = node;

    return cn->kick;
}


ngx_int_t
ngx_http_securechat_client_list(ngx_shm_zone_t *shm_zone, ngx_pool_t *pool,
    ngx_array_t **list)
{
    ngx_int_t                           rc;
    ngx_queue_t                        *q;
    ngx_http_securechat_shctx_t        *sh;
    ngx_http_securechat_store_t        *store;
    ngx_http_securechat_client_t       *c;
    ngx_http_securechat_client_node_t  *cn;

    store = shm_zone->data;
    sh = store->sh;
    rc = NGX_OK;

    ngx_shmtx_lock(&store->shpool->mutex);

    *list = ngx_array_create(pool, sh->nclients ? sh->nclients : 1,
                             sizeof(ngx_http_securechat_client_t));
    if (*list == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    for (q = ngx_queue_head(&sh->clients);
         q != ngx_queue_sentinel(&sh->clients);
         q = ngx_queue_next(q))
    {
        cn = ngx_queue_data(q, ngx_http_securechat_client_node_t, queue);

        c = ngx_array_push(*list);
        if (c == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        *c = cn->c;
    }

done:

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


/* marks a client to be closed and tells its worker to look */

static void
ngx_http_securechat_client_kick_locked(ngx_http_securechat_shctx_t *sh,
    ngx_http_securechat_client_node_t *cn, ngx_uint_t code)
{
    ngx_uint_t  i;

    cn->kick = code;

    for (i = 0; i < NGX_HTTP_SECURECHAT_WORKERS_MAX; i++) {
        if ((ngx_pid_t) sh->workers[i].pid == cn->pid) {
            ngx_atomic_fetch_add(&sh->workers[i].kicks, 1);
        }
    }
}


/*
 * Asks the owner of a client to close it with code: NGX_OK with *pid the
 * worker to ring, NGX_DECLINED for an unknown id, NGX_ABORT when user is
 * not the client's owner.
 */

ngx_int_t
ngx_http_securechat_client_kick(ngx_shm_zone_t *shm_zone, ngx_str_t *id,
    ngx_str_t *user, ngx_uint_t code, ngx_pid_t *pid)
{
    ngx_int_t                           rc;
    ngx_queue_t                        *q;
    ngx_http_securechat_shctx_t        *sh;
    ngx_http_securechat_store_t        *store;
    ngx_http_securechat_client_node_t  *cn;

    store = shm_zone->data;
    sh = store->sh;
    rc = NGX_DECLINED;

    if (id->len != NGX_HTTP_SECURECHAT_CONN_ID_LEN) {
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    for (q = ngx_queue_head(&sh->clients);
         q != ngx_queue_sentinel(&sh->clients);
         q = ngx_queue_next(q))
    {
        cn = ngx_queue_data(q, ngx_http_securechat_client_node_t, queue);

        if (ngx_memcmp(cn->c.id, id->data, id->len) != 0) {
            continue;
        }

        if (cn->c.user_len != user->len
            || ngx_memcmp(cn->c.user, user->data, user->len) != 0)
        {
            rc = NGX_ABORT;
            break;
        }

        ngx_http_securechat_client_kick_locked(sh, cn, code);
        *pid = cn->pid;

        rc = NGX_OK;
        break;
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    return rc;
}


/* the same for every client of a session; returns how many */

ngx_uint_t
ngx_http_securechat_client_kick_session(ngx_shm_zone_t *shm_zone,
    const u_char *session, ngx_uint_t code)
{
    ngx_uint_t                          n;
    ngx_queue_t                        *q;
    ngx_http_securechat_shctx_t        *sh;
    ngx_http_securechat_store_t        *store;
    ngx_http_securechat_client_node_t  *cn;

    store = shm_zone->data;
    sh = store->sh;
    n = 0;

    ngx_shmtx_lock(&store->shpool->mutex);

    for (q = ngx_queue_head(&sh->clients);
         q != ngx_queue_sentinel(&sh->clients);
         q = ngx_queue_next(q))
    {
        cn = ngx_queue_data(q, ngx_http_securechat_client_node_t, queue);

        if (ngx_memcmp(cn->c.session, session,
                       NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN)
            != 0)
        {
            continue;
        }

        ngx_http_securechat_client_kick_locked(sh, cn, code);
        n++;
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    return n;
}


/*
 * Workers.  A worker killed with SIGKILL never runs its exit handler: the
 * next worker to start sweeps its entry and its clients (no ghosts).
 */

void *
ngx_http_securechat_worker_register(ngx_shm_zone_t *shm_zone, ngx_log_t *log)
{
    ngx_uint_t                          i, swept;
    ngx_pid_t                           pid;
    ngx_queue_t                        *q, *next;
    ngx_http_securechat_shctx_t        *sh;
    ngx_http_securechat_store_t        *store;
    ngx_http_securechat_worker_t       *w;
    ngx_http_securechat_client_node_t  *cn;

    store = shm_zone->data;
    sh = store->sh;
    w = NULL;
    swept = 0;

    ngx_shmtx_lock(&store->shpool->mutex);

    for (i = 0; i < NGX_HTTP_SECURECHAT_WORKERS_MAX; i++) {
        pid = (ngx_pid_t) sh->workers[i].pid;

        if (pid != 0 && pid != ngx_pid
            && ngx_http_securechat_pid_dead(pid))
        {
            sh->workers[i].pid = 0;
        }

        if (sh->workers[i].pid == 0 && w == NULL) {
            w = &sh->workers[i];
        }
    }

    for (q = ngx_queue_head(&sh->clients);
         q != ngx_queue_sentinel(&sh->clients);
         q = next)
    {
        next = ngx_queue_next(q);
        cn = ngx_queue_data(q, ngx_http_securechat_client_node_t, queue);

        if (cn->pid == ngx_pid || ngx_http_securechat_pid_dead(cn->pid)) {
            ngx_http_securechat_client_free_locked(store, cn);
            swept++;
        }
    }

    if (w != NULL) {
        w->pid = ngx_pid;
        w->armed = 1;
        w->kicks = 0;
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    if (swept) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "securechat: removed %ui clients of exited workers",
                      swept);
    }

    if (w == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "securechat: more than %d worker processes share the "
                      "zone; this one gets no broadcasts",
                      NGX_HTTP_SECURECHAT_WORKERS_MAX);
    }

    return w;
}


void
ngx_http_securechat_worker_unregister(ngx_shm_zone_t *shm_zone, void *worker)
{
    ngx_http_securechat_worker_t  *w = worker;
    ngx_http_securechat_store_t   *store;

    store = shm_zone->data;

    ngx_shmtx_lock(&store->shpool->mutex);
    w->armed = 0;
    w->pid = 0;
    ngx_shmtx_unlock(&store->shpool->mutex);
}


/* the worker is about to read the history: wake it for anything newer */

void
ngx_http_securechat_worker_arm(void *worker)
{
    ngx_http_securechat_worker_t  *w = worker;

    /* a locked instruction: a full barrier before the history is read */
    (void) ngx_atomic_cmp_set(&w->armed, 0, 1);
}


ngx_uint_t
ngx_http_securechat_worker_kicks(void *worker)
{
    ngx_http_securechat_worker_t  *w = worker;

    return w->kicks;
}


/*
 * After publishing: the workers other than self waiting for a doorbell,
 * disarmed here so that each is rung once however many messages follow;
 * or, with all, every other worker (to close clients).
 */

ngx_uint_t
ngx_http_securechat_workers_to_ring(ngx_shm_zone_t *shm_zone, void *self,
    ngx_pid_t *pids, ngx_uint_t max, ngx_uint_t all)
{
    ngx_uint_t                     i, n;
    ngx_http_securechat_shctx_t   *sh;
    ngx_http_securechat_store_t   *store;
    ngx_http_securechat_worker_t  *w;

    store = shm_zone->data;
    sh = store->sh;
    n = 0;

    for (i = 0; i < NGX_HTTP_SECURECHAT_WORKERS_MAX && n < max; i++) {
        w = &sh->workers[i];

        if (w == self || w->pid == 0) {
            continue;
        }

        if (all || ngx_atomic_cmp_set(&w->armed, 1, 0)) {
            pids[n++] = (ngx_pid_t) w->pid;
        }
    }

    return n;
}
