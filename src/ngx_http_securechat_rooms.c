
/*
 * The rooms in the zone (see the header).  Three kinds of nodes, all from
 * the zone's slab and all under its mutex: a room, keyed by name, with a
 * tree of its member records; a member record (also kept for a ban: role
 * none, banned), linked into its user's list as well; and a user, keyed
 * by name, with the list of their records.  User nodes are made only for
 * users of the users file (who logged in, or were invited or banned) and
 * never freed: a node remembers that its user was welcomed to "general"
 * once, and how fast they made rooms.
 */

#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_store.h"
#include "ngx_http_securechat_rooms.h"

#include <openssl/rand.h>


typedef struct ngx_http_securechat_room_node_s  ngx_http_securechat_room_node_t;


typedef struct {
    ngx_str_node_t                      sn;        /* str: the user name */
    ngx_queue_t                         records;   /* member records */
    ngx_uint_t                          nrooms;    /* as a member */
    ngx_uint_t                          sockets;   /* open, every worker */

    /* rooms made: a leaky bucket, in thousandths of a room */
    ngx_msec_t                          made_last;
    ngx_uint_t                          made_excess;

    unsigned                            welcomed:1;  /* general, once */
    u_char                              name[NGX_HTTP_SECURECHAT_USER_MAX];
} ngx_http_securechat_rooms_user_t;


typedef struct {
    ngx_str_node_t                      sn;        /* str: the user name */
    ngx_queue_t                         by_user;
    ngx_http_securechat_room_node_t    *room;
    ngx_http_securechat_rooms_user_t   *user;
    ngx_http_securechat_room_role_e     role;      /* none: banned only */
    unsigned                            banned:1;
    unsigned                            muted:1;
} ngx_http_securechat_rooms_record_t;


struct ngx_http_securechat_room_node_s {
    ngx_str_node_t                      sn;        /* str: the room name */
    ngx_queue_t                         queue;     /* in order of creation */
    ngx_rbtree_t                        records;
    ngx_rbtree_node_t                   sentinel;
    ngx_http_securechat_room_kind_e     kind;
    ngx_uint_t                          nmembers;
    time_t                              created;
    uint64_t                            epoch;     /* of its history */
    size_t                              title_len;
    u_char                              name[NGX_HTTP_SECURECHAT_ROOM_NAME_MAX];
    u_char                              title[NGX_HTTP_SECURECHAT_ROOM_TITLE_MAX];
};


typedef struct {
    ngx_rbtree_t                        rooms;
    ngx_rbtree_node_t                   rooms_sentinel;
    ngx_queue_t                         all;
    ngx_uint_t                          nrooms;    /* created: not general */

    ngx_rbtree_t                        users;
    ngx_rbtree_node_t                   users_sentinel;
} ngx_http_securechat_rooms_sh_t;


typedef struct {
    ngx_slab_pool_t                    *shpool;
    ngx_http_securechat_rooms_sh_t     *sh;
} ngx_http_securechat_rooms_ctx_t;


static void ngx_http_securechat_rooms_ctx(ngx_shm_zone_t *shm_zone,
    ngx_http_securechat_rooms_ctx_t *ctx);
static ngx_http_securechat_room_node_t *ngx_http_securechat_rooms_find_locked(
    ngx_http_securechat_rooms_ctx_t *ctx, ngx_str_t *name);
static ngx_http_securechat_rooms_record_t *
    ngx_http_securechat_rooms_record_locked(
    ngx_http_securechat_room_node_t *room, ngx_str_t *user);
static ngx_http_securechat_rooms_user_t *ngx_http_securechat_rooms_user_locked(
    ngx_http_securechat_rooms_ctx_t *ctx, ngx_str_t *user,
    ngx_uint_t create);
static ngx_http_securechat_room_node_t *ngx_http_securechat_rooms_add_locked(
    ngx_http_securechat_rooms_ctx_t *ctx, ngx_str_t *name, ngx_str_t *title,
    ngx_http_securechat_room_kind_e kind);
static ngx_http_securechat_rooms_rc_e ngx_http_securechat_rooms_enter_locked(
    ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_http_securechat_room_node_t *room,
    ngx_http_securechat_rooms_user_t *un,
    ngx_http_securechat_rooms_record_t *rec,
    ngx_http_securechat_room_role_e role,
    ngx_http_securechat_rooms_limits_t *limits);
static void ngx_http_securechat_rooms_drop_locked(
    ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_http_securechat_rooms_record_t *rec);
static ngx_int_t ngx_http_securechat_rooms_member_cmp(
    const void *one, const void *two);
static ngx_uint_t ngx_http_securechat_rooms_general(
    ngx_http_securechat_room_node_t *room);
static void ngx_http_securechat_rooms_delete_locked(
    ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_http_securechat_room_node_t *room);
static ngx_int_t ngx_http_securechat_rooms_made_locked(
    ngx_http_securechat_rooms_user_t *un,
    ngx_http_securechat_rooms_limits_t *limits);
static ngx_http_securechat_rooms_rc_e ngx_http_securechat_rooms_apply_locked(
    ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_http_securechat_room_node_t *room, ngx_str_t *user,
    ngx_http_securechat_rooms_record_t *rec,
    ngx_http_securechat_rooms_record_t *trec,
    ngx_http_securechat_rooms_act_t *act,
    ngx_http_securechat_rooms_limits_t *limits);
static ngx_http_securechat_room_node_t *
    ngx_http_securechat_rooms_visible_locked(
    ngx_http_securechat_rooms_ctx_t *ctx, ngx_str_t *name, ngx_str_t *user,
    ngx_http_securechat_rooms_record_t **recp,
    ngx_http_securechat_room_ask_t *ask);
static ngx_int_t ngx_http_securechat_rooms_info(ngx_pool_t *pool,
    ngx_http_securechat_room_node_t *room,
    ngx_http_securechat_room_role_e role,
    ngx_http_securechat_room_info_t *info);


void *
ngx_http_securechat_rooms_init_zone(ngx_slab_pool_t *shpool)
{
    ngx_http_securechat_rooms_sh_t  *sh;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_securechat_rooms_sh_t));
    if (sh == NULL) {
        return NULL;
    }

    ngx_rbtree_init(&sh->rooms, &sh->rooms_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->all);
    ngx_rbtree_init(&sh->users, &sh->users_sentinel,
                    ngx_str_rbtree_insert_value);

    return sh;
}


static void
ngx_http_securechat_rooms_ctx(ngx_shm_zone_t *shm_zone,
    ngx_http_securechat_rooms_ctx_t *ctx)
{
    ctx->shpool = ngx_http_securechat_store_pool(shm_zone);
    ctx->sh = ngx_http_securechat_store_rooms(shm_zone);
}


/*
 * A socket of user opened (delta 1) or closed (-1), or neither (0), under
 * the zone's lock, which the client table holds: how many the user has
 * open now.
 */

ngx_uint_t
ngx_http_securechat_rooms_sockets_locked(void *rooms, ngx_str_t *user,
    ngx_int_t delta)
{
    ngx_http_securechat_rooms_ctx_t    ctx;
    ngx_http_securechat_rooms_user_t  *un;

    /* only looked up: the pool is not needed */
    ctx.shpool = NULL;
    ctx.sh = rooms;

    /* a user with sockets has logged in, so has a record: else no count */

    un = ngx_http_securechat_rooms_user_locked(&ctx, user, 0);
    if (un == NULL) {
        return delta > 0 ? 1 : 0;
    }

    if (delta > 0) {
        un->sockets++;

    } else if (delta < 0 && un->sockets > 0) {
        un->sockets--;
    }

    return un->sockets;
}


ngx_uint_t
ngx_http_securechat_rooms_presence_shared(ngx_shm_zone_t *shm_zone,
    ngx_str_t *user, ngx_uint_t max)
{
    ngx_uint_t                           shared;
    ngx_queue_t                         *q;
    ngx_http_securechat_rooms_ctx_t      ctx;
    ngx_http_securechat_rooms_user_t    *un;
    ngx_http_securechat_rooms_record_t  *rec;

    ngx_http_securechat_rooms_ctx(shm_zone, &ctx);

    shared = 0;

    ngx_shmtx_lock(&ctx.shpool->mutex);

    un = ngx_http_securechat_rooms_user_locked(&ctx, user, 0);

    for (q = un ? ngx_queue_head(&un->records) : NULL;
         q != NULL && q != ngx_queue_sentinel(&un->records);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_http_securechat_rooms_record_t, by_user);

        if (rec->role != NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE
            && rec->room->nmembers > 1 && rec->room->nmembers <= max)
        {
            shared = 1;
            break;
        }
    }

    ngx_shmtx_unlock(&ctx.shpool->mutex);

    return shared;
}


ngx_http_securechat_rooms_rc_e
ngx_http_securechat_rooms_welcome(ngx_shm_zone_t *shm_zone, ngx_str_t *user,
    ngx_http_securechat_rooms_limits_t *limits)
{
    ngx_str_t                           name, title;
    ngx_http_securechat_rooms_rc_e      rc;
    ngx_http_securechat_rooms_ctx_t     ctx;
    ngx_http_securechat_rooms_user_t   *un;
    ngx_http_securechat_room_node_t    *room;

    ngx_http_securechat_rooms_ctx(shm_zone, &ctx);

    ngx_str_set(&name, NGX_HTTP_SECURECHAT_ROOM_GENERAL);
    ngx_str_set(&title, "General");

    ngx_shmtx_lock(&ctx.shpool->mutex);

    un = ngx_http_securechat_rooms_user_locked(&ctx, user, 1);
    if (un == NULL) {
        ngx_shmtx_unlock(&ctx.shpool->mutex);
        return NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL;
    }

    if (un->welcomed) {
        ngx_shmtx_unlock(&ctx.shpool->mutex);
        return NGX_HTTP_SECURECHAT_ROOMS_OK;
    }

    /* general is not counted against the rooms limit: it always exists */

    room = ngx_http_securechat_rooms_find_locked(&ctx, &name);

    if (room == NULL) {
        room = ngx_http_securechat_rooms_add_locked(&ctx, &name, &title,
                                             NGX_HTTP_SECURECHAT_ROOM_PUBLIC);
        if (room == NULL) {
            ngx_shmtx_unlock(&ctx.shpool->mutex);
            return NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL;
        }
    }

    /* invited to it, or banned from it, before the first login: as is */

    rc = NGX_HTTP_SECURECHAT_ROOMS_OK;

    if (ngx_http_securechat_rooms_record_locked(room, user) == NULL) {
        rc = ngx_http_securechat_rooms_enter_locked(&ctx, room, un, NULL,
                                        NGX_HTTP_SECURECHAT_ROOM_ROLE_MEMBER,
                                        limits);
    }

    /*
     * A full zone leaves the user to be welcomed by the next call; a full
     * general room (or a user in too many rooms) leaves them out of it,
     * as a join would.
     */

    if (rc != NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL) {
        un->welcomed = 1;
        rc = NGX_HTTP_SECURECHAT_ROOMS_OK;
    }

    ngx_shmtx_unlock(&ctx.shpool->mutex);

    return rc;
}


ngx_http_securechat_rooms_rc_e
ngx_http_securechat_rooms_create(ngx_shm_zone_t *shm_zone, ngx_str_t *user,
    ngx_str_t *name, ngx_str_t *title, ngx_http_securechat_room_kind_e kind,
    ngx_http_securechat_rooms_limits_t *limits)
{
    ngx_http_securechat_rooms_rc_e      rc;
    ngx_http_securechat_rooms_ctx_t     ctx;
    ngx_http_securechat_rooms_user_t   *un;
    ngx_http_securechat_room_node_t    *room;

    if (name->len > NGX_HTTP_SECURECHAT_ROOM_NAME_MAX
        || title->len > NGX_HTTP_SECURECHAT_ROOM_TITLE_MAX
        || user->len > NGX_HTTP_SECURECHAT_USER_MAX)
    {
        return NGX_HTTP_SECURECHAT_ROOMS_ERROR;
    }

    ngx_http_securechat_rooms_ctx(shm_zone, &ctx);

    ngx_shmtx_lock(&ctx.shpool->mutex);

    if (ngx_http_securechat_rooms_find_locked(&ctx, name) != NULL) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_EXISTS;
        goto done;
    }

    un = ngx_http_securechat_rooms_user_locked(&ctx, user, 1);
    if (un == NULL) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL;
        goto done;
    }

    if (un->nrooms >= limits->per_user) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_TOO_MANY;
        goto done;
    }

    if (ctx.sh->nrooms >= limits->rooms) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_LIMIT;
        goto done;
    }

    if (ngx_http_securechat_rooms_made_locked(un, limits) != NGX_OK) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_TOO_FAST;
        goto done;
    }

    room = ngx_http_securechat_rooms_add_locked(&ctx, name, title, kind);
    if (room == NULL) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL;
        goto done;
    }

    rc = ngx_http_securechat_rooms_enter_locked(&ctx, room, un, NULL,
                                         NGX_HTTP_SECURECHAT_ROOM_ROLE_OWNER,
                                         limits);

    if (rc == NGX_HTTP_SECURECHAT_ROOMS_OK) {
        ctx.sh->nrooms++;

    } else {
        /* an ownerless room must not stay: take it back */
        ngx_queue_remove(&room->queue);
        ngx_rbtree_delete(&ctx.sh->rooms, &room->sn.node);
        ngx_slab_free_locked(ctx.shpool, room);
    }

done:

    ngx_shmtx_unlock(&ctx.shpool->mutex);

    return rc;
}


ngx_http_securechat_rooms_rc_e
ngx_http_securechat_rooms_act(ngx_shm_zone_t *shm_zone, ngx_str_t *user,
    ngx_str_t *name, ngx_http_securechat_rooms_act_t *act,
    ngx_http_securechat_rooms_limits_t *limits,
    ngx_http_securechat_room_rc_e *why)
{
    ngx_http_securechat_rooms_rc_e       rc;
    ngx_http_securechat_room_ask_t       ask;
    ngx_http_securechat_rooms_ctx_t      ctx;
    ngx_http_securechat_room_node_t     *room;
    ngx_http_securechat_rooms_record_t  *rec, *trec;

    if (act->title.len > NGX_HTTP_SECURECHAT_ROOM_TITLE_MAX) {
        return NGX_HTTP_SECURECHAT_ROOMS_ERROR;
    }

    ngx_http_securechat_rooms_ctx(shm_zone, &ctx);

    ngx_shmtx_lock(&ctx.shpool->mutex);

    room = ngx_http_securechat_rooms_visible_locked(&ctx, name, user, &rec,
                                                    &ask);
    if (room == NULL) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_NO_ROOM;
        goto done;
    }

    trec = NULL;

    if (act->target.len) {
        trec = ngx_http_securechat_rooms_record_locked(room, &act->target);

        ask.self = act->target.len == user->len
                   && ngx_strncmp(act->target.data, user->data, user->len)
                      == 0;

        if (trec != NULL) {
            ask.target = trec->role;
            ask.target_banned = trec->banned;
        }
    }

    ask.new_role = act->new_role;

    *why = ngx_http_securechat_room_may(act->act, &ask);

    if (act->target.len
        && ask.actor != NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE
        && (*why == NGX_HTTP_SECURECHAT_ROOM_NOT_MEMBER
            || *why == NGX_HTTP_SECURECHAT_ROOM_BANNED
            || *why == NGX_HTTP_SECURECHAT_ROOM_ALREADY_MEMBER))
    {
        /* the caller is a member (so not banned): it is about the other */
        rc = NGX_HTTP_SECURECHAT_ROOMS_REFUSED_TARGET;
        goto done;
    }

    if (*why != NGX_HTTP_SECURECHAT_ROOM_OK) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_REFUSED;
        goto done;
    }

    /* reading and posting change nothing: the call only asks */

    if (act->act == NGX_HTTP_SECURECHAT_ACT_READ
        || act->act == NGX_HTTP_SECURECHAT_ACT_POST)
    {
        rc = NGX_HTTP_SECURECHAT_ROOMS_OK;
        goto done;
    }

    rc = ngx_http_securechat_rooms_apply_locked(&ctx, room, user, rec, trec,
                                                act, limits);

done:

    ngx_shmtx_unlock(&ctx.shpool->mutex);

    return rc;
}


/* what an allowed act does; rec is the actor's, trec the target's */

static ngx_http_securechat_rooms_rc_e
ngx_http_securechat_rooms_apply_locked(ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_http_securechat_room_node_t *room, ngx_str_t *user,
    ngx_http_securechat_rooms_record_t *rec,
    ngx_http_securechat_rooms_record_t *trec,
    ngx_http_securechat_rooms_act_t *act,
    ngx_http_securechat_rooms_limits_t *limits)
{
    ngx_http_securechat_rooms_rc_e     rc;
    ngx_http_securechat_rooms_user_t  *un;

    switch (act->act) {

    case NGX_HTTP_SECURECHAT_ACT_JOIN:
        un = ngx_http_securechat_rooms_user_locked(ctx, user, 1);
        if (un == NULL) {
            return NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL;
        }

        return ngx_http_securechat_rooms_enter_locked(ctx, room, un, rec,
                                         NGX_HTTP_SECURECHAT_ROOM_ROLE_MEMBER,
                                         limits);

    case NGX_HTTP_SECURECHAT_ACT_LEAVE:
        ngx_http_securechat_rooms_drop_locked(ctx, rec);
        return NGX_HTTP_SECURECHAT_ROOMS_OK;

    case NGX_HTTP_SECURECHAT_ACT_INVITE:
        un = ngx_http_securechat_rooms_user_locked(ctx, &act->target, 1);
        if (un == NULL) {
            return NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL;
        }

        rc = ngx_http_securechat_rooms_enter_locked(ctx, room, un, trec,
                                         NGX_HTTP_SECURECHAT_ROOM_ROLE_MEMBER,
                                         limits);

        return rc == NGX_HTTP_SECURECHAT_ROOMS_TOO_MANY
               ? NGX_HTTP_SECURECHAT_ROOMS_TARGET_FULL : rc;

    case NGX_HTTP_SECURECHAT_ACT_REMOVE:
        ngx_http_securechat_rooms_drop_locked(ctx, trec);
        return NGX_HTTP_SECURECHAT_ROOMS_OK;

    case NGX_HTTP_SECURECHAT_ACT_BAN:
        if (act->undo) {
            if (trec != NULL && trec->banned) {
                trec->banned = 0;

                if (trec->role == NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE) {
                    ngx_http_securechat_rooms_drop_locked(ctx, trec);
                }
            }

            return NGX_HTTP_SECURECHAT_ROOMS_OK;
        }

        if (trec == NULL) {
            /* a ban ahead of a join: a record that holds only the ban */

            un = ngx_http_securechat_rooms_user_locked(ctx, &act->target, 1);
            if (un == NULL) {
                return NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL;
            }

            trec = ngx_slab_calloc_locked(ctx->shpool,
                                   sizeof(ngx_http_securechat_rooms_record_t));
            if (trec == NULL) {
                return NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL;
            }

            trec->sn.str = un->sn.str;
            trec->sn.node.key = un->sn.node.key;
            trec->room = room;
            trec->user = un;
            trec->role = NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE;

            ngx_rbtree_insert(&room->records, &trec->sn.node);
            ngx_queue_insert_tail(&un->records, &trec->by_user);
        }

        /* banned is set first, so that the record stays */

        trec->banned = 1;
        trec->muted = 0;
        ngx_http_securechat_rooms_drop_locked(ctx, trec);
        return NGX_HTTP_SECURECHAT_ROOMS_OK;

    case NGX_HTTP_SECURECHAT_ACT_MUTE:
        trec->muted = !act->undo;
        return NGX_HTTP_SECURECHAT_ROOMS_OK;

    case NGX_HTTP_SECURECHAT_ACT_SET_ROLE:
        trec->role = act->new_role;
        return NGX_HTTP_SECURECHAT_ROOMS_OK;

    case NGX_HTTP_SECURECHAT_ACT_TRANSFER:
        /* one owner at every moment: the old one stays, as a moderator */
        trec->role = NGX_HTTP_SECURECHAT_ROOM_ROLE_OWNER;
        trec->muted = 0;
        rec->role = NGX_HTTP_SECURECHAT_ROOM_ROLE_MODERATOR;
        return NGX_HTTP_SECURECHAT_ROOMS_OK;

    case NGX_HTTP_SECURECHAT_ACT_RENAME:
        ngx_memcpy(room->title, act->title.data, act->title.len);
        room->title_len = act->title.len;
        return NGX_HTTP_SECURECHAT_ROOMS_OK;

    case NGX_HTTP_SECURECHAT_ACT_DELETE:
        ngx_http_securechat_rooms_delete_locked(ctx, room);
        return NGX_HTTP_SECURECHAT_ROOMS_OK;

    default:
        return NGX_HTTP_SECURECHAT_ROOMS_ERROR;
    }
}


ngx_http_securechat_rooms_rc_e
ngx_http_securechat_rooms_direct(ngx_shm_zone_t *shm_zone, ngx_str_t *user,
    ngx_str_t *peer, ngx_pool_t *pool,
    ngx_http_securechat_rooms_limits_t *limits,
    ngx_http_securechat_room_info_t *info, ngx_uint_t *created)
{
    u_char                              *p;
    ngx_str_t                            name, title, *lower, *higher;
    ngx_http_securechat_rooms_rc_e       rc;
    ngx_http_securechat_rooms_ctx_t      ctx;
    ngx_http_securechat_rooms_user_t    *un, *pn;
    ngx_http_securechat_room_node_t     *room;
    ngx_http_securechat_rooms_record_t  *rec;
    u_char                               buf[NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN];
    u_char                               tbuf[2 * NGX_HTTP_SECURECHAT_USER_MAX
                                              + 2];

    *created = 0;

    if (ngx_http_securechat_room_direct_name(user->data, user->len,
                                             peer->data, peer->len, buf)
        != 0)
    {
        return NGX_HTTP_SECURECHAT_ROOMS_ERROR;
    }

    name.data = buf;
    name.len = sizeof(buf);

    /* the title names both, in the order the name hashes them */

    if (ngx_memn2cmp(user->data, peer->data, user->len, peer->len) < 0) {
        lower = user;
        higher = peer;

    } else {
        lower = peer;
        higher = user;
    }

    p = ngx_cpymem(tbuf, lower->data, lower->len);
    *p++ = ','; *p++ = ' ';
    p = ngx_cpymem(p, higher->data, higher->len);

    title.data = tbuf;
    title.len = p - tbuf;

    ngx_http_securechat_rooms_ctx(shm_zone, &ctx);

    ngx_shmtx_lock(&ctx.shpool->mutex);

    room = ngx_http_securechat_rooms_find_locked(&ctx, &name);

    if (room != NULL) {
        rec = ngx_http_securechat_rooms_record_locked(room, user);

        /* the name is the pair's: never another room's, never a third's */

        rc = (rec != NULL && rec->role != NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE)
             ? NGX_HTTP_SECURECHAT_ROOMS_OK : NGX_HTTP_SECURECHAT_ROOMS_ERROR;

        if (rc == NGX_HTTP_SECURECHAT_ROOMS_OK
            && ngx_http_securechat_rooms_info(pool, room, rec->role, info)
               != NGX_OK)
        {
            rc = NGX_HTTP_SECURECHAT_ROOMS_ERROR;
        }

        goto done;
    }

    un = ngx_http_securechat_rooms_user_locked(&ctx, user, 1);
    pn = ngx_http_securechat_rooms_user_locked(&ctx, peer, 1);

    if (un == NULL || pn == NULL) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL;
        goto done;
    }

    if (un->nrooms >= limits->per_user) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_TOO_MANY;
        goto done;
    }

    if (pn->nrooms >= limits->per_user) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_TARGET_FULL;
        goto done;
    }

    if (ngx_http_securechat_rooms_made_locked(un, limits) != NGX_OK) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_TOO_FAST;
        goto done;
    }

    room = ngx_http_securechat_rooms_add_locked(&ctx, &name, &title,
                                             NGX_HTTP_SECURECHAT_ROOM_DIRECT);
    if (room == NULL) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL;
        goto done;
    }

    rc = ngx_http_securechat_rooms_enter_locked(&ctx, room, un, NULL,
                                        NGX_HTTP_SECURECHAT_ROOM_ROLE_MEMBER,
                                        limits);
    if (rc == NGX_HTTP_SECURECHAT_ROOMS_OK) {
        rc = ngx_http_securechat_rooms_enter_locked(&ctx, room, pn, NULL,
                                        NGX_HTTP_SECURECHAT_ROOM_ROLE_MEMBER,
                                        limits);
    }

    if (rc != NGX_HTTP_SECURECHAT_ROOMS_OK) {
        /* half a direct room must not stay */
        ngx_http_securechat_rooms_delete_locked(&ctx, room);
        goto done;
    }

    *created = 1;

    if (ngx_http_securechat_rooms_info(pool, room,
                                       NGX_HTTP_SECURECHAT_ROOM_ROLE_MEMBER,
                                       info)
        != NGX_OK)
    {
        rc = NGX_HTTP_SECURECHAT_ROOMS_ERROR;
    }

done:

    ngx_shmtx_unlock(&ctx.shpool->mutex);

    return rc;
}


time_t
ngx_http_securechat_rooms_retry_after(
    ngx_http_securechat_rooms_limits_t *limits)
{
    /* one room's worth of the bucket drains in a minute / rate */
    return (60 + limits->create_rate - 1) / limits->create_rate;
}


ngx_http_securechat_rooms_rc_e
ngx_http_securechat_rooms_of_user(ngx_shm_zone_t *shm_zone, ngx_str_t *user,
    ngx_pool_t *pool, ngx_array_t **list)
{
    ngx_queue_t                         *q;
    ngx_http_securechat_rooms_rc_e       rc;
    ngx_http_securechat_rooms_ctx_t      ctx;
    ngx_http_securechat_room_info_t     *info;
    ngx_http_securechat_rooms_user_t    *un;
    ngx_http_securechat_rooms_record_t  *rec;

    *list = ngx_array_create(pool, 8, sizeof(ngx_http_securechat_room_info_t));
    if (*list == NULL) {
        return NGX_HTTP_SECURECHAT_ROOMS_ERROR;
    }

    ngx_http_securechat_rooms_ctx(shm_zone, &ctx);

    rc = NGX_HTTP_SECURECHAT_ROOMS_OK;

    ngx_shmtx_lock(&ctx.shpool->mutex);

    un = ngx_http_securechat_rooms_user_locked(&ctx, user, 0);

    for (q = un ? ngx_queue_head(&un->records) : NULL;
         q != NULL && q != ngx_queue_sentinel(&un->records);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_http_securechat_rooms_record_t, by_user);

        if (rec->role == NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE) {
            continue;   /* a ban */
        }

        info = ngx_array_push(*list);

        if (info == NULL
            || ngx_http_securechat_rooms_info(pool, rec->room, rec->role, info)
               != NGX_OK)
        {
            rc = NGX_HTTP_SECURECHAT_ROOMS_ERROR;
            break;
        }
    }

    ngx_shmtx_unlock(&ctx.shpool->mutex);

    return rc;
}


ngx_http_securechat_rooms_rc_e
ngx_http_securechat_rooms_directory(ngx_shm_zone_t *shm_zone, ngx_str_t *user,
    ngx_pool_t *pool, ngx_array_t **list)
{
    ngx_queue_t                         *q;
    ngx_http_securechat_rooms_rc_e       rc;
    ngx_http_securechat_rooms_ctx_t      ctx;
    ngx_http_securechat_room_info_t     *info;
    ngx_http_securechat_room_node_t     *room;
    ngx_http_securechat_rooms_record_t  *rec;

    *list = ngx_array_create(pool, 8, sizeof(ngx_http_securechat_room_info_t));
    if (*list == NULL) {
        return NGX_HTTP_SECURECHAT_ROOMS_ERROR;
    }

    ngx_http_securechat_rooms_ctx(shm_zone, &ctx);

    rc = NGX_HTTP_SECURECHAT_ROOMS_OK;

    ngx_shmtx_lock(&ctx.shpool->mutex);

    for (q = ngx_queue_head(&ctx.sh->all);
         q != ngx_queue_sentinel(&ctx.sh->all);
         q = ngx_queue_next(q))
    {
        room = ngx_queue_data(q, ngx_http_securechat_room_node_t, queue);

        if (room->kind != NGX_HTTP_SECURECHAT_ROOM_PUBLIC) {
            continue;
        }

        rec = ngx_http_securechat_rooms_record_locked(room, user);

        info = ngx_array_push(*list);

        if (info == NULL
            || ngx_http_securechat_rooms_info(pool, room,
                   rec ? rec->role : NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE, info)
               != NGX_OK)
        {
            rc = NGX_HTTP_SECURECHAT_ROOMS_ERROR;
            break;
        }
    }

    ngx_shmtx_unlock(&ctx.shpool->mutex);

    return rc;
}


ngx_http_securechat_rooms_rc_e
ngx_http_securechat_rooms_members(ngx_shm_zone_t *shm_zone, ngx_str_t *user,
    ngx_str_t *name, ngx_pool_t *pool, ngx_http_securechat_room_info_t *info,
    ngx_array_t **list, ngx_http_securechat_room_rc_e *why)
{
    ngx_rbtree_node_t                   *node, *root, *sentinel;
    ngx_http_securechat_rooms_rc_e       rc;
    ngx_http_securechat_room_ask_t       ask;
    ngx_http_securechat_rooms_ctx_t      ctx;
    ngx_http_securechat_room_node_t     *room;
    ngx_http_securechat_room_member_t   *m;
    ngx_http_securechat_rooms_record_t  *rec, *r;

    ngx_http_securechat_rooms_ctx(shm_zone, &ctx);

    ngx_shmtx_lock(&ctx.shpool->mutex);

    room = ngx_http_securechat_rooms_visible_locked(&ctx, name, user, &rec,
                                                    &ask);
    if (room == NULL) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_NO_ROOM;
        goto done;
    }

    *why = ngx_http_securechat_room_may(NGX_HTTP_SECURECHAT_ACT_READ, &ask);

    if (*why != NGX_HTTP_SECURECHAT_ROOM_OK) {
        rc = NGX_HTTP_SECURECHAT_ROOMS_REFUSED;
        goto done;
    }

    rc = NGX_HTTP_SECURECHAT_ROOMS_ERROR;

    if (ngx_http_securechat_rooms_info(pool, room, ask.actor, info) != NGX_OK)
    {
        goto done;
    }

    *list = ngx_array_create(pool, room->nmembers ? room->nmembers : 1,
                             sizeof(ngx_http_securechat_room_member_t));
    if (*list == NULL) {
        goto done;
    }

    root = room->records.root;
    sentinel = room->records.sentinel;

    if (root != sentinel) {
        for (node = ngx_rbtree_min(root, sentinel);
             node;
             node = ngx_rbtree_next(&room->records, node))
        {
            r = (ngx_http_securechat_rooms_record_t *) node;

            /* bans are for those who may lift them */

            if (r->role == NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE
                && ask.actor < NGX_HTTP_SECURECHAT_ROOM_ROLE_MODERATOR)
            {
                continue;
            }

            m = ngx_array_push(*list);
            if (m == NULL) {
                goto done;
            }

            m->user.len = r->sn.str.len;
            m->user.data = ngx_pstrdup(pool, &r->sn.str);
            if (m->user.data == NULL) {
                goto done;
            }

            m->role = r->role;
            m->muted = r->muted;
            m->banned = r->banned;
            m->online = r->user->sockets > 0;
        }
    }

    rc = NGX_HTTP_SECURECHAT_ROOMS_OK;

done:

    ngx_shmtx_unlock(&ctx.shpool->mutex);

    /* the tree's order is its hashes': people read names in order */

    if (rc == NGX_HTTP_SECURECHAT_ROOMS_OK) {
        ngx_sort((*list)->elts, (*list)->nelts,
                 sizeof(ngx_http_securechat_room_member_t),
                 ngx_http_securechat_rooms_member_cmp);
    }

    return rc;
}


static ngx_int_t
ngx_http_securechat_rooms_member_cmp(const void *one, const void *two)
{
    const ngx_http_securechat_room_member_t  *a = one, *b = two;

    return ngx_memn2cmp(a->user.data, b->user.data, a->user.len,
                        b->user.len);
}


static ngx_http_securechat_room_node_t *
ngx_http_securechat_rooms_find_locked(ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_str_t *name)
{
    return (ngx_http_securechat_room_node_t *)
               ngx_str_rbtree_lookup(&ctx->sh->rooms, name,
                                     ngx_crc32_short(name->data, name->len));
}


static ngx_http_securechat_rooms_record_t *
ngx_http_securechat_rooms_record_locked(ngx_http_securechat_room_node_t *room,
    ngx_str_t *user)
{
    return (ngx_http_securechat_rooms_record_t *)
               ngx_str_rbtree_lookup(&room->records, user,
                                     ngx_crc32_short(user->data, user->len));
}


static ngx_http_securechat_rooms_user_t *
ngx_http_securechat_rooms_user_locked(ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_str_t *user, ngx_uint_t create)
{
    uint32_t                           hash;
    ngx_http_securechat_rooms_user_t  *un;

    if (user->len == 0 || user->len > NGX_HTTP_SECURECHAT_USER_MAX) {
        return NULL;
    }

    hash = ngx_crc32_short(user->data, user->len);

    un = (ngx_http_securechat_rooms_user_t *)
             ngx_str_rbtree_lookup(&ctx->sh->users, user, hash);

    if (un != NULL || !create) {
        return un;
    }

    un = ngx_slab_calloc_locked(ctx->shpool,
                                sizeof(ngx_http_securechat_rooms_user_t));
    if (un == NULL) {
        return NULL;
    }

    ngx_memcpy(un->name, user->data, user->len);
    un->sn.str.len = user->len;
    un->sn.str.data = un->name;
    un->sn.node.key = hash;
    ngx_queue_init(&un->records);

    ngx_rbtree_insert(&ctx->sh->users, &un->sn.node);

    return un;
}


static ngx_http_securechat_room_node_t *
ngx_http_securechat_rooms_add_locked(ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_str_t *name, ngx_str_t *title, ngx_http_securechat_room_kind_e kind)
{
    ngx_http_securechat_room_node_t  *room;

    room = ngx_slab_calloc_locked(ctx->shpool,
                                  sizeof(ngx_http_securechat_room_node_t));
    if (room == NULL) {
        return NULL;
    }

    /* a history epoch of its own: see docs/ROOMS-DESIGN.md */

    if (RAND_bytes((u_char *) &room->epoch, sizeof(room->epoch)) != 1) {
        ngx_slab_free_locked(ctx->shpool, room);
        return NULL;
    }

    ngx_memcpy(room->name, name->data, name->len);
    room->sn.str.len = name->len;
    room->sn.str.data = room->name;
    room->sn.node.key = ngx_crc32_short(name->data, name->len);

    ngx_memcpy(room->title, title->data, title->len);
    room->title_len = title->len;
    room->kind = kind;
    room->created = ngx_time();

    ngx_rbtree_init(&room->records, &room->sentinel,
                    ngx_str_rbtree_insert_value);

    ngx_rbtree_insert(&ctx->sh->rooms, &room->sn.node);
    ngx_queue_insert_tail(&ctx->sh->all, &room->queue);

    return room;
}


/* makes un a member of room with role, reusing rec (a ban lifted) */

static ngx_http_securechat_rooms_rc_e
ngx_http_securechat_rooms_enter_locked(ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_http_securechat_room_node_t *room,
    ngx_http_securechat_rooms_user_t *un,
    ngx_http_securechat_rooms_record_t *rec,
    ngx_http_securechat_room_role_e role,
    ngx_http_securechat_rooms_limits_t *limits)
{
    if (room->nmembers >= limits->members) {
        return NGX_HTTP_SECURECHAT_ROOMS_ROOM_FULL;
    }

    if (un->nrooms >= limits->per_user) {
        return NGX_HTTP_SECURECHAT_ROOMS_TOO_MANY;
    }

    if (rec == NULL) {
        rec = ngx_slab_calloc_locked(ctx->shpool,
                                   sizeof(ngx_http_securechat_rooms_record_t));
        if (rec == NULL) {
            return NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL;
        }

        /* the key is the user node's copy of the name: both live as long */

        rec->sn.str = un->sn.str;
        rec->sn.node.key = un->sn.node.key;
        rec->room = room;
        rec->user = un;

        ngx_rbtree_insert(&room->records, &rec->sn.node);
        ngx_queue_insert_tail(&un->records, &rec->by_user);
    }

    rec->role = role;
    rec->banned = 0;
    rec->muted = 0;

    room->nmembers++;
    un->nrooms++;

    return NGX_HTTP_SECURECHAT_ROOMS_OK;
}


/* the user is no longer a member; the record goes unless it holds a ban */

static void
ngx_http_securechat_rooms_drop_locked(ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_http_securechat_rooms_record_t *rec)
{
    if (rec->role != NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE) {
        rec->room->nmembers--;
        rec->user->nrooms--;
        rec->role = NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE;
    }

    if (rec->banned) {
        return;
    }

    ngx_rbtree_delete(&rec->room->records, &rec->sn.node);
    ngx_queue_remove(&rec->by_user);
    ngx_slab_free_locked(ctx->shpool, rec);
}


/*
 * The room of that name as user may know of it, with user's record and
 * what the rules ask of them: NULL when there is none, or when it is not
 * public and user is not in it (its existence is the members' to know).
 */

static ngx_http_securechat_room_node_t *
ngx_http_securechat_rooms_visible_locked(ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_str_t *name, ngx_str_t *user,
    ngx_http_securechat_rooms_record_t **recp,
    ngx_http_securechat_room_ask_t *ask)
{
    ngx_http_securechat_room_node_t     *room;
    ngx_http_securechat_rooms_record_t  *rec;

    ngx_memzero(ask, sizeof(ngx_http_securechat_room_ask_t));

    room = ngx_http_securechat_rooms_find_locked(ctx, name);
    rec = room ? ngx_http_securechat_rooms_record_locked(room, user) : NULL;

    *recp = rec;

    if (room == NULL) {
        return NULL;
    }

    ask->kind = room->kind;
    ask->general = ngx_http_securechat_rooms_general(room);

    if (rec != NULL) {
        ask->actor = rec->role;
        ask->actor_banned = rec->banned;
        ask->actor_muted = rec->muted;
    }

    if (room->kind != NGX_HTTP_SECURECHAT_ROOM_PUBLIC
        && ask->actor == NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE)
    {
        return NULL;
    }

    return room;
}


static ngx_int_t
ngx_http_securechat_rooms_info(ngx_pool_t *pool,
    ngx_http_securechat_room_node_t *room,
    ngx_http_securechat_room_role_e role,
    ngx_http_securechat_room_info_t *info)
{
    info->name.len = room->sn.str.len;
    info->name.data = ngx_pnalloc(pool, room->sn.str.len + room->title_len);
    if (info->name.data == NULL) {
        return NGX_ERROR;
    }

    info->title.data = ngx_cpymem(info->name.data, room->name,
                                  room->sn.str.len);
    ngx_memcpy(info->title.data, room->title, room->title_len);
    info->title.len = room->title_len;

    info->kind = room->kind;
    info->role = role;
    info->members = room->nmembers;
    info->created = room->created;

    return NGX_OK;
}


/* the room goes, and every record in it (bans too) */

static void
ngx_http_securechat_rooms_delete_locked(ngx_http_securechat_rooms_ctx_t *ctx,
    ngx_http_securechat_room_node_t *room)
{
    ngx_rbtree_node_t                   *node;
    ngx_http_securechat_rooms_record_t  *rec;

    while (room->records.root != room->records.sentinel) {
        node = ngx_rbtree_min(room->records.root, room->records.sentinel);
        rec = (ngx_http_securechat_rooms_record_t *) node;

        rec->banned = 0;
        ngx_http_securechat_rooms_drop_locked(ctx, rec);
    }

    /* what create() counted: neither general nor a direct room */

    if (room->kind != NGX_HTTP_SECURECHAT_ROOM_DIRECT
        && !ngx_http_securechat_rooms_general(room))
    {
        ctx->sh->nrooms--;
    }

    ngx_queue_remove(&room->queue);
    ngx_rbtree_delete(&ctx->sh->rooms, &room->sn.node);
    ngx_slab_free_locked(ctx->shpool, room);
}


/*
 * The creation rate: a leaky bucket of limits->create_rate rooms a
 * minute, as deep as one minute's worth.  NGX_OK counts one room made,
 * NGX_BUSY refuses it.  ngx_current_msec is the same monotonic clock in
 * every worker.
 */

static ngx_int_t
ngx_http_securechat_rooms_made_locked(ngx_http_securechat_rooms_user_t *un,
    ngx_http_securechat_rooms_limits_t *limits)
{
    ngx_msec_int_t  ms;
    ngx_uint_t      drained, excess;

    ms = (ngx_msec_int_t) (ngx_current_msec - un->made_last);

    if (ms < 0) {
        ms = 0;
    }

    drained = (ngx_uint_t) ms * limits->create_rate / 60;
    excess = un->made_excess > drained ? un->made_excess - drained : 0;

    if (excess + 1000 > limits->create_rate * 1000) {
        return NGX_BUSY;
    }

    un->made_excess = excess + 1000;
    un->made_last = ngx_current_msec;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_securechat_rooms_general(ngx_http_securechat_room_node_t *room)
{
    return room->sn.str.len == sizeof(NGX_HTTP_SECURECHAT_ROOM_GENERAL) - 1
           && ngx_strncmp(room->name, NGX_HTTP_SECURECHAT_ROOM_GENERAL,
                          room->sn.str.len) == 0;
}
