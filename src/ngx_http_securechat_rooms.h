
/*
 * The rooms in the shared memory zone: each room with its members, roles,
 * bans and mutes, and for each user the rooms they belong to.  The rules
 * of who may do what are ngx_http_securechat_room.c's; this file keeps the
 * state and applies them under the zone's lock.  Results are copied into
 * the caller's pool.  docs/ROOMS-DESIGN.md says what comes next.
 */

#ifndef _NGX_HTTP_SECURECHAT_ROOMS_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_ROOMS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_securechat_room.h"


#define NGX_HTTP_SECURECHAT_ROOM_TITLE_MAX  128     /* bytes of UTF-8 */


/* the limits of the configuration, passed to the calls that grow */
typedef struct {
    ngx_uint_t                          rooms;      /* in the zone */
    ngx_uint_t                          members;    /* per room */
    ngx_uint_t                          per_user;   /* rooms per user */
    ngx_uint_t                          create_rate;  /* per user a minute */
} ngx_http_securechat_rooms_limits_t;


/* what a call answers beyond the rules of ngx_http_securechat_room.h */
typedef enum {
    NGX_HTTP_SECURECHAT_ROOMS_OK = 0,
    NGX_HTTP_SECURECHAT_ROOMS_REFUSED,      /* a rule: see *why */
    NGX_HTTP_SECURECHAT_ROOMS_NO_ROOM,      /* none, or private and not ours */
    NGX_HTTP_SECURECHAT_ROOMS_EXISTS,
    NGX_HTTP_SECURECHAT_ROOMS_ROOM_FULL,    /* members per room */
    NGX_HTTP_SECURECHAT_ROOMS_TOO_MANY,     /* rooms per user */
    NGX_HTTP_SECURECHAT_ROOMS_LIMIT,        /* rooms in the zone */
    NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL,    /* the zone's memory */
    NGX_HTTP_SECURECHAT_ROOMS_REFUSED_TARGET,  /* a rule, about the other */
    NGX_HTTP_SECURECHAT_ROOMS_TARGET_FULL,  /* the other user: rooms per user */
    NGX_HTTP_SECURECHAT_ROOMS_TOO_FAST,     /* creations per minute */
    NGX_HTTP_SECURECHAT_ROOMS_ERROR
} ngx_http_securechat_rooms_rc_e;


/*
 * What a user does in a room (an act of ngx_http_securechat_room.h other
 * than READ and POST).  Unban and unmute are BAN and MUTE undone: the
 * same rule allows both.
 */
typedef struct {
    ngx_http_securechat_room_act_e      act;
    ngx_str_t                           target;     /* a user, or empty */
    ngx_http_securechat_room_role_e     new_role;   /* SET_ROLE */
    ngx_str_t                           title;      /* RENAME */
    unsigned                            undo:1;     /* unban, unmute */
} ngx_http_securechat_rooms_act_t;


/* a room as the routes see it */
typedef struct {
    ngx_str_t                           name;
    ngx_str_t                           title;
    ngx_http_securechat_room_kind_e     kind;
    ngx_http_securechat_room_role_e     role;       /* the caller's */
    ngx_uint_t                          members;
    time_t                              created;
} ngx_http_securechat_room_info_t;


/* a member, or (for moderators and the owner) a banned user: role none */
typedef struct {
    ngx_str_t                           user;
    ngx_http_securechat_room_role_e     role;
    unsigned                            muted:1;
    unsigned                            banned:1;
    unsigned                            online:1;   /* a socket open */
} ngx_http_securechat_room_member_t;


/* for the store: the registry a new zone starts with, or NULL */
void *ngx_http_securechat_rooms_init_zone(ngx_slab_pool_t *shpool);

/*
 * A user's first time: creates "general" if it is not there and makes the
 * user a member of it, once; later calls do nothing, so a user who left
 * general stays out.  OK, ZONE_FULL or ERROR.
 */
ngx_http_securechat_rooms_rc_e ngx_http_securechat_rooms_welcome(
    ngx_shm_zone_t *shm_zone, ngx_str_t *user,
    ngx_http_securechat_rooms_limits_t *limits);

ngx_http_securechat_rooms_rc_e ngx_http_securechat_rooms_create(
    ngx_shm_zone_t *shm_zone, ngx_str_t *user, ngx_str_t *name,
    ngx_str_t *title, ngx_http_securechat_room_kind_e kind,
    ngx_http_securechat_rooms_limits_t *limits);

/*
 * user acts on a room: joins, leaves, or acts on another user or on the
 * room itself; the target, when there is one, is a user of the users file
 * (the caller checks).  *why says which rule refused (REFUSED, and
 * REFUSED_TARGET when the rule is about the target).  READ and POST only
 * ask: OK if the user may.
 */
ngx_http_securechat_rooms_rc_e ngx_http_securechat_rooms_act(
    ngx_shm_zone_t *shm_zone, ngx_str_t *user, ngx_str_t *name,
    ngx_http_securechat_rooms_act_t *act,
    ngx_http_securechat_rooms_limits_t *limits,
    ngx_http_securechat_room_rc_e *why);

/*
 * The direct room of user and peer (a user of the users file, not user):
 * made with both as members on the first call, found on the next ones
 * (*created says which).  info is filled from the caller's pool.  A direct
 * room is not counted against the rooms in the zone, but against each
 * one's rooms, and its making against the caller's creation rate.
 */
ngx_http_securechat_rooms_rc_e ngx_http_securechat_rooms_direct(
    ngx_shm_zone_t *shm_zone, ngx_str_t *user, ngx_str_t *peer,
    ngx_pool_t *pool, ngx_http_securechat_rooms_limits_t *limits,
    ngx_http_securechat_room_info_t *info, ngx_uint_t *created);

/* seconds until the user may create a room again, after TOO_FAST */
time_t ngx_http_securechat_rooms_retry_after(
    ngx_http_securechat_rooms_limits_t *limits);

/*
 * For the client table (ngx_http_securechat_store.c), under the zone's
 * lock, with the registry rooms_init_zone() made: a socket of user opened
 * (delta 1) or closed (-1), or neither (0); the number the user has open
 * now, in every worker.
 */
ngx_uint_t ngx_http_securechat_rooms_sockets_locked(void *rooms,
    ngx_str_t *user, ngx_int_t delta);

/*
 * 1 if the user shares a room of at most max members (and more than one)
 * with anyone: whether its presence is for anybody's ears.
 */
ngx_uint_t ngx_http_securechat_rooms_presence_shared(ngx_shm_zone_t *shm_zone,
    ngx_str_t *user, ngx_uint_t max);

/* the user's rooms, an array of ngx_http_securechat_room_info_t */
ngx_http_securechat_rooms_rc_e ngx_http_securechat_rooms_of_user(
    ngx_shm_zone_t *shm_zone, ngx_str_t *user, ngx_pool_t *pool,
    ngx_array_t **list);

/* the public rooms, in order of creation */
ngx_http_securechat_rooms_rc_e ngx_http_securechat_rooms_directory(
    ngx_shm_zone_t *shm_zone, ngx_str_t *user, ngx_pool_t *pool,
    ngx_array_t **list);

/* a room's members (ngx_http_securechat_room_member_t), for a member */
ngx_http_securechat_rooms_rc_e ngx_http_securechat_rooms_members(
    ngx_shm_zone_t *shm_zone, ngx_str_t *user, ngx_str_t *name,
    ngx_pool_t *pool, ngx_http_securechat_room_info_t *info,
    ngx_array_t **list, ngx_http_securechat_room_rc_e *why);


#endif /* _NGX_HTTP_SECURECHAT_ROOMS_H_INCLUDED_ */
