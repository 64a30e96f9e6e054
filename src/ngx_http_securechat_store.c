
/*
 * The shared memory zone.  One slab mutex guards everything, and every
 * critical section is a handful of tree steps, a walk of the client table
 * or one memcpy, far shorter than the sections nginx's own limit_req
 * holds; nothing slow ever runs under it (messages are signed between
 * history_reserve() and history_commit(), outside it).  Separate locks for
 * the history and for the rest would only pay once a section grows.  The
 * history has a file of its own: ngx_http_securechat_history.c.
 */

#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_store.h"
#include "ngx_http_securechat_rooms.h"
#include "ngx_http_securechat_history.h"



#define NGX_HTTP_SECURECHAT_STORE_MAGIC    0x53434836   /* "SCH6" */

/* a throttle record is forgotten this long after its last failure */
#define NGX_HTTP_SECURECHAT_THROTTLE_TTL   3600

/*
 * Throttle records are what a client gets from the zone before it has
 * logged in: they live in an area of their own, 1/32 of the zone made at
 * its creation, so that no number of made-up names can take memory from
 * sessions, clients or the worker table.
 */
#define NGX_HTTP_SECURECHAT_THROTTLE_SHARE 32
#define NGX_HTTP_SECURECHAT_THROTTLE_MIN   16

/* the longest throttle key: a user name, a NUL, a client address */
#define NGX_HTTP_SECURECHAT_THROTTLE_KEY_MAX                                  \
    (NGX_HTTP_SECURECHAT_USER_MAX + 1 + NGX_SOCKADDR_STRLEN)

/* sessions the zone must hold besides the history */
#define NGX_HTTP_SECURECHAT_MIN_SESSIONS   64

/* users a dead worker left offline, until a worker tells their rooms */
#define NGX_HTTP_SECURECHAT_ORPHANS        32

/* worker entries a new zone starts with, at the least */
#define NGX_HTTP_SECURECHAT_WORKERS_MIN    8

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


/*
 * A throttle record, in the throttle area.  queue: the free list, or one
 * of two queues in order of last failure: "fresh" records (no more than
 * the free failures, so forgetting one gives nobody a free try) are
 * evicted before "escalated" ones, so that made-up names cannot push out
 * the record of an account someone is guessing at.
 */

typedef struct {
    ngx_str_node_t                 sn;       /* str: account + address */
    ngx_queue_t                    queue;
    ngx_uint_t                     failures;
    ngx_uint_t                     escalated;
    time_t                         locked_until;
    time_t                         last_failure;
    u_char                         key[NGX_HTTP_SECURECHAT_THROTTLE_KEY_MAX];
} ngx_http_securechat_throttle_node_t;


/*
 * A worker process.  armed: it waits for a doorbell and wants one rung
 * when a message is published; kicks: bumped when one of its clients is
 * asked to close; clients: how many it has in the table.
 */

typedef struct {
    ngx_atomic_t                   pid;
    ngx_atomic_t                   armed;
    ngx_atomic_t                   kicks;
    ngx_uint_t                     clients;
} ngx_http_securechat_worker_t;


/*
 * The worker table: chunks of entries, a new one linked at the end when
 * all are taken.  Never freed nor moved, so that a worker keeps a pointer
 * to its entry and ringing walks it without the mutex.
 */

typedef struct ngx_http_securechat_workers_s  ngx_http_securechat_workers_t;

struct ngx_http_securechat_workers_s {
    ngx_http_securechat_workers_t *next;
    ngx_uint_t                     nelts;
    ngx_http_securechat_worker_t   w[1];
};


/* a presence or typing notice: see ephemeral_append() */

typedef struct {
    volatile uint64_t              id;       /* 0: being written */
    size_t                         len;
    u_char                   data[NGX_HTTP_SECURECHAT_EPHEMERAL_DATA];
} ngx_http_securechat_ephemeral_t;


/* a user whose last socket was a dead worker's: see client_orphans() */

typedef struct {
    size_t                         len;
    u_char                         name[NGX_HTTP_SECURECHAT_USER_MAX];
} ngx_http_securechat_orphan_t;


/* a connected WebSocket client; never holds a process pointer */

typedef struct {
    ngx_queue_t                    queue;
    ngx_pid_t                      pid;      /* the worker that owns it */
    ngx_http_securechat_worker_t  *worker;   /* its entry, or NULL */
    volatile ngx_uint_t            kick;     /* close code asked, or 0 */
    ngx_http_securechat_client_t   c;
} ngx_http_securechat_client_node_t;


typedef struct {
    ngx_uint_t                     magic;

    ngx_rbtree_t                   sessions;
    ngx_rbtree_node_t              sessions_sentinel;
    ngx_queue_t                    sessions_queue;

    ngx_rbtree_t                   throttle;
    ngx_rbtree_node_t              throttle_sentinel;
    ngx_queue_t                    throttle_fresh;
    ngx_queue_t                    throttle_escalated;
    ngx_queue_t                    throttle_free;
    ngx_uint_t                     throttle_max;

    void                          *history;  /* ngx_http_securechat_history.c */

    /* notices no one resumes from: a ring of their own */
    ngx_http_securechat_ephemeral_t *ephemeral;
    ngx_uint_t                     ephemeral_slots;
    volatile uint64_t              ephemeral_last;

    ngx_queue_t                    clients;
    ngx_uint_t                     nclients;

    ngx_http_securechat_orphan_t   orphans[NGX_HTTP_SECURECHAT_ORPHANS];
    volatile ngx_uint_t            norphans;

    ngx_http_securechat_workers_t *workers;
    ngx_uint_t                     nworkers; /* entries in all chunks */

    void                          *rooms;    /* ngx_http_securechat_rooms.c */
} ngx_http_securechat_shctx_t;


typedef struct {
    ngx_http_securechat_shctx_t   *sh;
    ngx_slab_pool_t               *shpool;
    ngx_cycle_t                   *cycle;

    /* what this configuration asks of the zone */
    ngx_http_securechat_history_conf_t  history;
} ngx_http_securechat_store_t;


static ngx_int_t ngx_http_securechat_store_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_uint_t ngx_http_securechat_throttle_count(size_t zone_size);
static ngx_uint_t ngx_http_securechat_ephemeral_count(size_t zone_size);
static ngx_uint_t ngx_http_securechat_expected_workers(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_securechat_workers_grow_locked(
    ngx_http_securechat_store_t *store, ngx_uint_t n);
static void ngx_http_securechat_clients_sweep_locked(
    ngx_http_securechat_store_t *store);
static ngx_uint_t ngx_http_securechat_client_free_locked(
    ngx_http_securechat_store_t *store,
    ngx_http_securechat_client_node_t *cn);
static void ngx_http_securechat_client_sweep_one_locked(
    ngx_http_securechat_store_t *store,
    ngx_http_securechat_client_node_t *cn);
static void ngx_http_securechat_client_kick_locked(
    ngx_http_securechat_client_node_t *cn, ngx_uint_t code);
static void ngx_http_securechat_throttle_free_locked(
    ngx_http_securechat_store_t *store,
    ngx_http_securechat_throttle_node_t *tn);
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

    store->cycle = cf->cycle;

    shm_zone->init = ngx_http_securechat_store_init_zone;
    shm_zone->data = store;

    return shm_zone;
}


char *
ngx_http_securechat_store_configure(ngx_conf_t *cf, ngx_shm_zone_t *shm_zone,
    ngx_http_securechat_history_conf_t *hcf)
{
    size_t                        need;
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;
    store->history = *hcf;

    /*
     * The slab allocator needs a page header per page and rounds blocks up
     * to powers of two; an eighth on top plus a few pages covers both (the
     * history counts its own).
     */

    need = NGX_HTTP_SECURECHAT_MIN_SESSIONS
             * sizeof(ngx_http_securechat_session_node_t) * 2
           + ngx_http_securechat_throttle_count(shm_zone->shm.size)
             * sizeof(ngx_http_securechat_throttle_node_t)
           + ngx_http_securechat_ephemeral_count(shm_zone->shm.size)
             * sizeof(ngx_http_securechat_ephemeral_t)
           + sizeof(ngx_http_securechat_shctx_t);
    need += need / 8 + 8 * ngx_pagesize
            + ngx_http_securechat_history_need(hcf);

    if (shm_zone->shm.size < need) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "securechat_zone \"%V\" of %uz bytes is too small "
                           "for a history of %ui messages of up to %uz bytes "
                           "in %uz bytes (securechat_history, "
                           "securechat_message_max, securechat_history_bytes) "
                           "and %d sessions: it needs at least %uz bytes",
                           &shm_zone->shm.name, shm_zone->shm.size,
                           hcf->ids, hcf->message_max, hcf->bytes,
                           NGX_HTTP_SECURECHAT_MIN_SESSIONS, need);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_uint_t
ngx_http_securechat_ephemeral_count(size_t zone_size)
{
    ngx_uint_t  n;

    /* a 256th of the zone, 8 to 32 slots: a burst, not a history */

    n = zone_size / 256 / sizeof(ngx_http_securechat_ephemeral_t);

    return ngx_min(ngx_max(n, 8), NGX_HTTP_SECURECHAT_EPHEMERAL_SLOTS);
}


static ngx_uint_t
ngx_http_securechat_throttle_count(size_t zone_size)
{
    ngx_uint_t  n;

    n = zone_size / NGX_HTTP_SECURECHAT_THROTTLE_SHARE
        / sizeof(ngx_http_securechat_throttle_node_t);

    return ngx_max(n, NGX_HTTP_SECURECHAT_THROTTLE_MIN);
}


/* worker_processes of the configuration being loaded */

static ngx_uint_t
ngx_http_securechat_expected_workers(ngx_cycle_t *cycle)
{
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ccf == NULL || ccf->worker_processes <= 0) {
        return 1;
    }

    return ccf->worker_processes;
}


ngx_slab_pool_t *
ngx_http_securechat_store_pool(ngx_shm_zone_t *shm_zone)
{
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;

    return store->shpool;
}


void *
ngx_http_securechat_store_rooms(ngx_shm_zone_t *shm_zone)
{
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;

    return store->sh->rooms;
}


void *
ngx_http_securechat_store_history(ngx_shm_zone_t *shm_zone)
{
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;

    return store->sh->history;
}


static ngx_int_t
ngx_http_securechat_store_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_securechat_store_t  *ostore = data;

    size_t                                len;
    ngx_uint_t                            i, n, live;
    ngx_http_securechat_store_t          *store;
    ngx_http_securechat_shctx_t          *sh;
    ngx_http_securechat_workers_t        *ws;
    ngx_http_securechat_throttle_node_t  *tn;

    store = shm_zone->data;

    if (ostore) {
        sh = ostore->sh;

        if (sh->magic != NGX_HTTP_SECURECHAT_STORE_MAGIC) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "securechat_zone \"%V\" was made by another "
                          "version of the module; restart nginx or use a "
                          "new zone name", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        if (ngx_http_securechat_history_reuse(sh->history, &store->history,
                                              &shm_zone->shm.name,
                                              shm_zone->shm.log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        store->sh = ostore->sh;
        store->shpool = ostore->shpool;

        /*
         * The workers of this configuration start while those of the last
         * one (and of earlier ones, still draining) run: make room for all
         * of them now.  Should the zone have no room, the new workers
         * find room as old ones leave (they retry).
         */

        n = ngx_http_securechat_expected_workers(store->cycle);

        ngx_shmtx_lock(&store->shpool->mutex);

        live = 0;

        for (ws = sh->workers; ws; ws = ws->next) {
            for (i = 0; i < ws->nelts; i++) {
                if (ws->w[i].pid != 0) {
                    live++;
                }
            }
        }

        if (live + n > sh->nworkers) {
            (void) ngx_http_securechat_workers_grow_locked(store,
                                                live + n - sh->nworkers);
        }

        ngx_shmtx_unlock(&store->shpool->mutex);

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

    ngx_rbtree_init(&sh->sessions, &sh->sessions_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->sessions_queue);

    ngx_rbtree_init(&sh->throttle, &sh->throttle_sentinel,
                    ngx_str_rbtree_insert_value);

    ngx_queue_init(&sh->throttle_fresh);
    ngx_queue_init(&sh->throttle_escalated);
    ngx_queue_init(&sh->throttle_free);

    ngx_queue_init(&sh->clients);

    sh->rooms = ngx_http_securechat_rooms_init_zone(store->shpool);
    if (sh->rooms == NULL) {
        return NGX_ERROR;
    }

    /* the history's log and the throttle area are fixed from the start */

    sh->history = ngx_http_securechat_history_init_zone(store->shpool,
                                                        &store->history,
                                                        shm_zone->shm.log);
    if (sh->history == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "securechat_zone \"%V\" cannot hold its history",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    sh->ephemeral_slots = ngx_http_securechat_ephemeral_count(
                              shm_zone->shm.size);
    sh->ephemeral = ngx_slab_calloc(store->shpool,
                                    sh->ephemeral_slots
                                    * sizeof(ngx_http_securechat_ephemeral_t));
    if (sh->ephemeral == NULL) {
        return NGX_ERROR;
    }

    sh->throttle_max = ngx_http_securechat_throttle_count(shm_zone->shm.size);

    tn = ngx_slab_calloc(store->shpool,
                         sh->throttle_max
                         * sizeof(ngx_http_securechat_throttle_node_t));
    if (tn == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "securechat_zone \"%V\" cannot hold its login "
                      "throttling records", &shm_zone->shm.name);
        return NGX_ERROR;
    }

    for (i = 0; i < sh->throttle_max; i++) {
        ngx_queue_insert_tail(&sh->throttle_free, &tn[i].queue);
    }

    /* room for this configuration's workers and the next one's */

    n = ngx_http_securechat_expected_workers(store->cycle);

    if (ngx_http_securechat_workers_grow_locked(store,
            ngx_max(2 * n, NGX_HTTP_SECURECHAT_WORKERS_MIN))
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "securechat_zone \"%V\" cannot hold its worker table",
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


/* links a chunk of n free worker entries at the end of the table */

static ngx_int_t
ngx_http_securechat_workers_grow_locked(ngx_http_securechat_store_t *store,
    ngx_uint_t n)
{
    ngx_http_securechat_shctx_t     *sh;
    ngx_http_securechat_workers_t   *ws, **last;

    sh = store->sh;

    ws = ngx_slab_calloc_locked(store->shpool,
                                offsetof(ngx_http_securechat_workers_t, w)
                                + n * sizeof(ngx_http_securechat_worker_t));
    if (ws == NULL) {
        return NGX_ERROR;
    }

    ws->nelts = n;

    for (last = &sh->workers; *last; last = &(*last)->next) { /* void */ }

    /* the entries are zero before a lock-free reader can reach them */
    ngx_memory_barrier();

    *last = ws;
    sh->nworkers += n;

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
        ngx_http_securechat_throttle_free_locked(store, tn);
        return NULL;
    }

    return tn;
}


/* back to the free list of the throttle area */

static void
ngx_http_securechat_throttle_free_locked(ngx_http_securechat_store_t *store,
    ngx_http_securechat_throttle_node_t *tn)
{
    ngx_queue_remove(&tn->queue);
    ngx_rbtree_delete(&store->sh->throttle, &tn->sn.node);
    ngx_queue_insert_head(&store->sh->throttle_free, &tn->queue);
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

    if (key->len > NGX_HTTP_SECURECHAT_THROTTLE_KEY_MAX) {
        return 0;
    }

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
 * good.  When the throttle area is full, the least recently failed fresh
 * record makes room, or, when every record has escalated, the least
 * recently failed of those: never a session or a client.
 */

void
ngx_http_securechat_throttle_fail(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t free_failures, time_t max_lockout)
{
    time_t                                now, lock;
    ngx_uint_t                            over;
    ngx_queue_t                          *q;
    ngx_http_securechat_shctx_t          *sh;
    ngx_http_securechat_store_t          *store;
    ngx_http_securechat_throttle_node_t  *tn;

    store = shm_zone->data;
    sh = store->sh;
    now = ngx_time();

    if (key->len > NGX_HTTP_SECURECHAT_THROTTLE_KEY_MAX) {
        /* cannot happen: a user name and an address */
        return;
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    tn = ngx_http_securechat_throttle_lookup_locked(store, key);

    if (tn == NULL) {

        if (!ngx_queue_empty(&sh->throttle_free)) {
            q = ngx_queue_head(&sh->throttle_free);

        } else if (!ngx_queue_empty(&sh->throttle_fresh)) {
            q = ngx_queue_head(&sh->throttle_fresh);

        } else {
            q = ngx_queue_head(&sh->throttle_escalated);
        }

        tn = ngx_queue_data(q, ngx_http_securechat_throttle_node_t, queue);

        if (q != ngx_queue_head(&sh->throttle_free)) {
            ngx_http_securechat_throttle_free_locked(store, tn);
        }

        ngx_queue_remove(&tn->queue);

        ngx_memcpy(tn->key, key->data, key->len);
        tn->sn.str.len = key->len;
        tn->sn.str.data = tn->key;
        tn->sn.node.key = ngx_crc32_short(key->data, key->len);
        tn->failures = 0;
        tn->escalated = 0;
        tn->locked_until = 0;

        ngx_rbtree_insert(&sh->throttle, &tn->sn.node);

    } else {
        ngx_queue_remove(&tn->queue);
    }

    tn->failures++;
    tn->last_failure = now;

    if (tn->failures > free_failures) {
        over = tn->failures - free_failures;
        lock = (over >= 20) ? max_lockout : ((time_t) 1 << over);
        tn->locked_until = now + ngx_min(lock, max_lockout);
        tn->escalated = 1;
    }

    ngx_queue_insert_tail(tn->escalated ? &sh->throttle_escalated
                                        : &sh->throttle_fresh,
                          &tn->queue);

    ngx_shmtx_unlock(&store->shpool->mutex);
}


void
ngx_http_securechat_throttle_reset(ngx_shm_zone_t *shm_zone, ngx_str_t *key)
{
    ngx_http_securechat_store_t          *store;
    ngx_http_securechat_throttle_node_t  *tn;

    store = shm_zone->data;

    if (key->len > NGX_HTTP_SECURECHAT_THROTTLE_KEY_MAX) {
        return;
    }

    ngx_shmtx_lock(&store->shpool->mutex);

    tn = ngx_http_securechat_throttle_lookup_locked(store, key);

    if (tn != NULL) {
        ngx_http_securechat_throttle_free_locked(store, tn);
    }

    ngx_shmtx_unlock(&store->shpool->mutex);
}


/*
 * Presence and typing: a small ring of fixed slots beside the history,
 * so that they never push a message out of it, and ids of their own that
 * no client sees or resumes from.  Written whole under the lock (nothing
 * to seal between reserving and committing); read without it, the id
 * checked before and after the copy, as the history is.
 */

ngx_int_t
ngx_http_securechat_ephemeral_append(ngx_shm_zone_t *shm_zone, u_char *data,
    size_t len)
{
    uint64_t                          id;
    ngx_http_securechat_shctx_t      *sh;
    ngx_http_securechat_store_t      *store;
    ngx_http_securechat_ephemeral_t  *e;

    if (len > NGX_HTTP_SECURECHAT_EPHEMERAL_DATA) {
        return NGX_ERROR;
    }

    store = shm_zone->data;
    sh = store->sh;

    ngx_shmtx_lock(&store->shpool->mutex);

    id = sh->ephemeral_last + 1;
    e = &sh->ephemeral[id % sh->ephemeral_slots];

    e->id = 0;
    ngx_memory_barrier();
    ngx_memcpy(e->data, data, len);
    e->len = len;
    ngx_memory_barrier();
    e->id = id;
    ngx_memory_barrier();
    sh->ephemeral_last = id;

    ngx_shmtx_unlock(&store->shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_http_securechat_ephemeral_read(ngx_shm_zone_t *shm_zone, uint64_t id,
    u_char *buf, size_t *len)
{
    size_t                            n;
    ngx_http_securechat_shctx_t      *sh;
    ngx_http_securechat_store_t      *store;
    ngx_http_securechat_ephemeral_t  *e;

    store = shm_zone->data;
    sh = store->sh;

    if (id == 0 || id > sh->ephemeral_last) {
        return NGX_AGAIN;
    }

    ngx_memory_barrier();

    e = &sh->ephemeral[id % sh->ephemeral_slots];

    if (e->id != id) {
        return NGX_DECLINED;
    }

    ngx_memory_barrier();

    n = e->len;
    if (n > NGX_HTTP_SECURECHAT_EPHEMERAL_DATA) {
        return NGX_DECLINED;
    }

    ngx_memcpy(buf, e->data, n);

    ngx_memory_barrier();

    if (e->id != id) {
        return NGX_DECLINED;
    }

    *len = n;

    return NGX_OK;
}


uint64_t
ngx_http_securechat_ephemeral_last(ngx_shm_zone_t *shm_zone)
{
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;

    return store->sh->ephemeral_last;
}


/* the connected-client table */

ngx_uint_t
ngx_http_securechat_pid_dead(ngx_pid_t pid)
{
    return kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH;
}


/*
 * Frees the entries of workers that died without unregistering (SIGKILL,
 * a crash) and the clients they held, before the table decides anything.
 * One kill(pid, 0) per worker that has clients, not one per client; only
 * the clients of a worker that never got an entry are checked one by one.
 * (A client whose entry is free or another pid's lost its worker.)
 */

static void
ngx_http_securechat_clients_sweep_locked(ngx_http_securechat_store_t *store)
{
    ngx_uint_t                          i;
    ngx_queue_t                        *q, *next;
    ngx_http_securechat_shctx_t        *sh;
    ngx_http_securechat_worker_t       *w;
    ngx_http_securechat_workers_t      *ws;
    ngx_http_securechat_client_node_t  *cn;

    sh = store->sh;

    for (ws = sh->workers; ws; ws = ws->next) {
        for (i = 0; i < ws->nelts; i++) {
            w = &ws->w[i];

            if (w->pid == 0 || w->clients == 0) {
                continue;
            }

            if ((ngx_pid_t) w->pid != ngx_pid
                && ngx_http_securechat_pid_dead((ngx_pid_t) w->pid))
            {
                w->armed = 0;
                w->pid = 0;
            }
        }
    }

    for (q = ngx_queue_head(&sh->clients);
         q != ngx_queue_sentinel(&sh->clients);
         q = next)
    {
        next = ngx_queue_next(q);
        cn = ngx_queue_data(q, ngx_http_securechat_client_node_t, queue);

        if (cn->worker != NULL) {
            if ((ngx_pid_t) cn->worker->pid == cn->pid) {
                continue;
            }

        } else if (cn->pid == ngx_pid
                   || !ngx_http_securechat_pid_dead(cn->pid))
        {
            continue;
        }

        ngx_http_securechat_client_sweep_one_locked(store, cn);
    }
}


/*
 * A dead worker's client: freed, and its user kept as an orphan if that
 * was the user's last socket, for a live worker to send the offline the
 * dead one never sent.  A full list forgets the newest: a burst of
 * crashes then costs some offline notices, nothing else.
 */

static void
ngx_http_securechat_client_sweep_one_locked(
    ngx_http_securechat_store_t *store, ngx_http_securechat_client_node_t *cn)
{
    size_t                         len;
    u_char                         name[NGX_HTTP_SECURECHAT_USER_MAX];
    ngx_http_securechat_shctx_t   *sh;
    ngx_http_securechat_orphan_t  *o;

    sh = store->sh;
    len = cn->c.user_len;
    ngx_memcpy(name, cn->c.user, len);

    if (!ngx_http_securechat_client_free_locked(store, cn)
        || sh->norphans == NGX_HTTP_SECURECHAT_ORPHANS)
    {
        return;
    }

    o = &sh->orphans[sh->norphans];
    o->len = len;
    ngx_memcpy(o->name, name, len);
    sh->norphans++;
}


ngx_uint_t
ngx_http_securechat_client_orphans(ngx_shm_zone_t *shm_zone, ngx_str_t *users,
    u_char *buf, ngx_uint_t n)
{
    ngx_str_t                     user;
    ngx_uint_t                    i, got;
    ngx_http_securechat_shctx_t  *sh;
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;
    sh = store->sh;

    if (sh->norphans == 0) {
        return 0;   /* the common case, without the mutex */
    }

    got = 0;

    ngx_shmtx_lock(&store->shpool->mutex);

    for (i = 0; i < sh->norphans && got < n; i++) {
        user.data = sh->orphans[i].name;
        user.len = sh->orphans[i].len;

        /* back meanwhile, in another worker: not offline after all */

        if (ngx_http_securechat_rooms_sockets_locked(sh->rooms, &user, 0)
            != 0)
        {
            continue;
        }

        users[got].data = buf + got * NGX_HTTP_SECURECHAT_USER_MAX;
        users[got].len = user.len;
        ngx_memcpy(users[got].data, user.data, user.len);
        got++;
    }

    /* the ones not handed out now stay for the next call */

    ngx_memmove(sh->orphans, &sh->orphans[i],
                (sh->norphans - i) * sizeof(ngx_http_securechat_orphan_t));
    sh->norphans -= i;

    ngx_shmtx_unlock(&store->shpool->mutex);

    return got;
}


void *
ngx_http_securechat_client_add(ngx_shm_zone_t *shm_zone,
    ngx_http_securechat_client_t *client, ngx_uint_t per_user,
    ngx_uint_t *first, ngx_int_t *rc)
{
    ngx_str_t                           user;
    ngx_uint_t                          i, n;
    ngx_queue_t                        *q;
    ngx_http_securechat_shctx_t        *sh;
    ngx_http_securechat_store_t        *store;
    ngx_http_securechat_worker_t       *w;
    ngx_http_securechat_workers_t      *ws;
    ngx_http_securechat_client_node_t  *cn;

    store = shm_zone->data;
    sh = store->sh;

    ngx_shmtx_lock(&store->shpool->mutex);

    ngx_http_securechat_clients_sweep_locked(store);

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

    /* this worker's entry, if it has one yet */

    cn->worker = NULL;

    for (ws = sh->workers; ws && cn->worker == NULL; ws = ws->next) {
        for (i = 0; i < ws->nelts; i++) {
            w = &ws->w[i];

            if ((ngx_pid_t) w->pid == ngx_pid) {
                w->clients++;
                cn->worker = w;
                break;
            }
        }
    }

    cn->pid = ngx_pid;
    cn->kick = 0;
    cn->c = *client;

    ngx_queue_insert_tail(&sh->clients, &cn->queue);
    sh->nclients++;

    user.data = cn->c.user;
    user.len = cn->c.user_len;
    *first = ngx_http_securechat_rooms_sockets_locked(sh->rooms, &user, 1)
             == 1;

    ngx_shmtx_unlock(&store->shpool->mutex);

    *rc = NGX_OK;
    return cn;
}


/* 1 if it was the user's last socket */

static ngx_uint_t
ngx_http_securechat_client_free_locked(ngx_http_securechat_store_t *store,
    ngx_http_securechat_client_node_t *cn)
{
    ngx_str_t   user;
    ngx_uint_t  left;

    if (cn->worker != NULL && (ngx_pid_t) cn->worker->pid == cn->pid
        && cn->worker->clients)
    {
        cn->worker->clients--;
    }

    user.data = cn->c.user;
    user.len = cn->c.user_len;
    left = ngx_http_securechat_rooms_sockets_locked(store->sh->rooms, &user,
                                                    -1);

    ngx_queue_remove(&cn->queue);
    store->sh->nclients--;
    ngx_slab_free_locked(store->shpool, cn);

    return left == 0;
}


ngx_uint_t
ngx_http_securechat_client_remove(ngx_shm_zone_t *shm_zone, void *node)
{
    ngx_uint_t                    last;
    ngx_http_securechat_store_t  *store;

    store = shm_zone->data;

    ngx_shmtx_lock(&store->shpool->mutex);
    last = ngx_http_securechat_client_free_locked(store, node);
    ngx_shmtx_unlock(&store->shpool->mutex);

    return last;
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

    ngx_http_securechat_clients_sweep_locked(store);

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
ngx_http_securechat_client_kick_locked(ngx_http_securechat_client_node_t *cn,
    ngx_uint_t code)
{
    cn->kick = code;

    if (cn->worker != NULL && (ngx_pid_t) cn->worker->pid == cn->pid) {
        ngx_atomic_fetch_add(&cn->worker->kicks, 1);
    }
}


/*
 * Asks the owner of a client to close it with code: NGX_OK with *pid the
 * worker to ring, NGX_DECLINED for an unknown id (or one whose worker
 * died: swept first), NGX_ABORT when user is not the client's owner.
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

    ngx_http_securechat_clients_sweep_locked(store);

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

        ngx_http_securechat_client_kick_locked(cn, code);
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

    ngx_http_securechat_clients_sweep_locked(store);

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

        ngx_http_securechat_client_kick_locked(cn, code);
        n++;
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    return n;
}


/*
 * Workers.  A worker killed with SIGKILL never runs its exit handler: the
 * next worker to start, or the next decision of the client table, sweeps
 * its entry and its clients (no ghosts).
 */

void *
ngx_http_securechat_worker_register(ngx_shm_zone_t *shm_zone,
    ngx_uint_t expect, ngx_uint_t first, ngx_log_t *log)
{
    ngx_uint_t                          i, swept;
    ngx_pid_t                           pid;
    ngx_queue_t                        *q, *next;
    ngx_http_securechat_shctx_t        *sh;
    ngx_http_securechat_store_t        *store;
    ngx_http_securechat_worker_t       *w, *e;
    ngx_http_securechat_workers_t      *ws;
    ngx_http_securechat_client_node_t  *cn;

    store = shm_zone->data;
    sh = store->sh;
    w = NULL;
    swept = 0;

    ngx_shmtx_lock(&store->shpool->mutex);

    for (ws = sh->workers; ws; ws = ws->next) {
        for (i = 0; i < ws->nelts; i++) {
            e = &ws->w[i];
            pid = (ngx_pid_t) e->pid;

            if (pid != 0 && (pid == ngx_pid
                             || ngx_http_securechat_pid_dead(pid)))
            {
                /* a dead process's, or its pid's before us */
                e->armed = 0;
                e->pid = 0;
            }

            if (e->pid == 0 && w == NULL) {
                w = e;
            }
        }
    }

    if (w == NULL
        && ngx_http_securechat_workers_grow_locked(store,
               ngx_max(expect, NGX_HTTP_SECURECHAT_WORKERS_MIN))
           == NGX_OK)
    {
        for (ws = sh->workers; ws->next; ws = ws->next) { /* void */ }
        w = &ws->w[0];
    }

    if (w != NULL) {
        w->clients = 0;
        w->kicks = 0;
        w->armed = 1;
        ngx_memory_barrier();
        w->pid = ngx_pid;
    }

    for (q = ngx_queue_head(&sh->clients);
         q != ngx_queue_sentinel(&sh->clients);
         q = next)
    {
        next = ngx_queue_next(q);
        cn = ngx_queue_data(q, ngx_http_securechat_client_node_t, queue);

        if (cn->pid == ngx_pid && !first) {
            /* ours, added before we had an entry */
            if (w != NULL) {
                cn->worker = w;
                w->clients++;
            }

            continue;
        }

        if (cn->pid == ngx_pid
            || (cn->worker != NULL && (ngx_pid_t) cn->worker->pid != cn->pid)
            || (cn->worker == NULL && ngx_http_securechat_pid_dead(cn->pid)))
        {
            cn->worker = NULL;
            ngx_http_securechat_client_sweep_one_locked(store, cn);
            swept++;
        }
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    if (swept) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "securechat: removed %ui clients of exited workers",
                      swept);
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
 * or, with all, every other worker (to close clients).  Lock-free: chunks
 * are never freed, and an entry taken meanwhile is rung next time.
 */

ngx_uint_t
ngx_http_securechat_workers_to_ring(ngx_shm_zone_t *shm_zone, void *self,
    ngx_pid_t *pids, ngx_uint_t *pos, ngx_uint_t all)
{
    ngx_uint_t                      i, k, n;
    ngx_pid_t                       pid;
    ngx_http_securechat_shctx_t    *sh;
    ngx_http_securechat_store_t    *store;
    ngx_http_securechat_worker_t   *w;
    ngx_http_securechat_workers_t  *ws;

    store = shm_zone->data;
    sh = store->sh;
    n = 0;
    k = 0;

    for (ws = sh->workers; ws; ws = ws->next) {

        if (k + ws->nelts <= *pos) {
            k += ws->nelts;
            continue;
        }

        for (i = (*pos > k) ? *pos - k : 0; i < ws->nelts; i++) {

            if (n == NGX_HTTP_SECURECHAT_RING_BATCH) {
                *pos = k + i;
                return n;
            }

            w = &ws->w[i];
            pid = (ngx_pid_t) w->pid;

            if (w == self || pid == 0) {
                continue;
            }

            if (all || ngx_atomic_cmp_set(&w->armed, 1, 0)) {
                pids[n++] = pid;
            }
        }

        k += ws->nelts;
    }

    *pos = k;

    return n;
}
