
/*
 * Rooms: the rules that need no state.  Which names are valid, the name of
 * the direct room of two users, and who may do what in a room, by kind and
 * role.  Pure: plain C and OpenSSL only, so unit tests and fuzzers call it
 * directly; the zone (membership, bans, mutes) and the HTTP routes ask it.
 */

#ifndef _NGX_HTTP_SECURECHAT_ROOM_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_ROOM_H_INCLUDED_


#include <stddef.h>


#define NGX_HTTP_SECURECHAT_ROOM_NAME_MAX   64
#define NGX_HTTP_SECURECHAT_ROOM_GENERAL    "general"

/*
 * Direct rooms are named "dm-" and 40 hex digits of a hash of the two user
 * names; the prefix is reserved, so no created room can take a pair's name.
 */
#define NGX_HTTP_SECURECHAT_ROOM_DIRECT_PREFIX  "dm-"
#define NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN     43


typedef enum {
    NGX_HTTP_SECURECHAT_ROOM_PUBLIC = 0,
    NGX_HTTP_SECURECHAT_ROOM_PRIVATE,
    NGX_HTTP_SECURECHAT_ROOM_DIRECT
} ngx_http_securechat_room_kind_e;


/* ordered: a higher role may do all a lower one may */
typedef enum {
    NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE = 0,     /* not a member */
    NGX_HTTP_SECURECHAT_ROOM_ROLE_MEMBER,
    NGX_HTTP_SECURECHAT_ROOM_ROLE_MODERATOR,
    NGX_HTTP_SECURECHAT_ROOM_ROLE_OWNER
} ngx_http_securechat_room_role_e;


typedef enum {
    NGX_HTTP_SECURECHAT_ACT_READ = 0,       /* history, members */
    NGX_HTTP_SECURECHAT_ACT_POST,
    NGX_HTTP_SECURECHAT_ACT_JOIN,           /* by oneself, uninvited */
    NGX_HTTP_SECURECHAT_ACT_LEAVE,
    NGX_HTTP_SECURECHAT_ACT_INVITE,
    NGX_HTTP_SECURECHAT_ACT_REMOVE,         /* a kick: may join again */
    NGX_HTTP_SECURECHAT_ACT_BAN,            /* and unban */
    NGX_HTTP_SECURECHAT_ACT_MUTE,           /* and unmute */
    NGX_HTTP_SECURECHAT_ACT_SET_ROLE,       /* promote or demote */
    NGX_HTTP_SECURECHAT_ACT_RENAME,         /* the title; names never change */
    NGX_HTTP_SECURECHAT_ACT_TRANSFER,       /* ownership */
    NGX_HTTP_SECURECHAT_ACT_DELETE,
    NGX_HTTP_SECURECHAT_ACT_COUNT
} ngx_http_securechat_room_act_e;


/*
 * What happened in a room, as every member's sockets (and the target's)
 * are told: an event frame in the history, in order with the messages.
 */
typedef enum {
    NGX_HTTP_SECURECHAT_EVENT_JOIN = 0,     /* joined, invited, created */
    NGX_HTTP_SECURECHAT_EVENT_LEAVE,
    NGX_HTTP_SECURECHAT_EVENT_REMOVED,
    NGX_HTTP_SECURECHAT_EVENT_BANNED,
    NGX_HTTP_SECURECHAT_EVENT_UNBANNED,
    NGX_HTTP_SECURECHAT_EVENT_MUTED,
    NGX_HTTP_SECURECHAT_EVENT_UNMUTED,
    NGX_HTTP_SECURECHAT_EVENT_ROLE,
    NGX_HTTP_SECURECHAT_EVENT_TITLE,
    NGX_HTTP_SECURECHAT_EVENT_TRANSFER,
    NGX_HTTP_SECURECHAT_EVENT_DELETED,
    NGX_HTTP_SECURECHAT_EVENT_COUNT
} ngx_http_securechat_room_event_e;


/* what an event does to the target user's sockets' delivery */
typedef enum {
    NGX_HTTP_SECURECHAT_EVENT_KEEPS = 0,    /* nothing */
    NGX_HTTP_SECURECHAT_EVENT_ENTERS,       /* they get the room from now */
    NGX_HTTP_SECURECHAT_EVENT_EXITS,        /* they get nothing more of it */
    NGX_HTTP_SECURECHAT_EVENT_ENDS          /* nobody gets anything more */
} ngx_http_securechat_room_effect_e;


/* why an act is refused; each has the code the API answers with */
typedef enum {
    NGX_HTTP_SECURECHAT_ROOM_OK = 0,
    NGX_HTTP_SECURECHAT_ROOM_NOT_MEMBER,
    NGX_HTTP_SECURECHAT_ROOM_BANNED,
    NGX_HTTP_SECURECHAT_ROOM_MUTED,
    NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED,
    NGX_HTTP_SECURECHAT_ROOM_ALREADY_MEMBER,
    NGX_HTTP_SECURECHAT_ROOM_ERR_COUNT
} ngx_http_securechat_room_rc_e;


/*
 * What is known of the actor, and of the target for acts on another
 * member (REMOVE, BAN, MUTE, SET_ROLE, TRANSFER, INVITE).
 */
typedef struct {
    ngx_http_securechat_room_kind_e   kind;
    ngx_http_securechat_room_role_e   actor;
    unsigned                          actor_banned:1;
    unsigned                          actor_muted:1;
    unsigned                          general:1;   /* the room "general" */
    unsigned                          self:1;      /* target is the actor */
    unsigned                          target_banned:1;
    ngx_http_securechat_room_role_e   target;
    ngx_http_securechat_room_role_e   new_role;    /* SET_ROLE only */
} ngx_http_securechat_room_ask_t;


/* a rooms route's path, after the location's own name: see path_split() */
typedef struct {
    const unsigned char              *name;      /* NULL: the collection */
    size_t                            name_len;
    const unsigned char              *action;    /* NULL: the room itself */
    size_t                            action_len;
} ngx_http_securechat_room_path_t;


/*
 * Splits uri (nginx's decoded, normalized one) after base, the location's
 * name (a trailing "/" of it ignored): "" or "/" is the collection,
 * "/NAME" a room, "/NAME/ACTION" a route on it.  0, or -1 when uri does
 * not begin with base or has an empty or a third segment.  Names are not
 * checked here: see name_ok().
 */
int ngx_http_securechat_room_path_split(const unsigned char *base,
    size_t base_len, const unsigned char *uri, size_t uri_len,
    ngx_http_securechat_room_path_t *path);

/* 1 if name is 1..64 of [a-z0-9._-], and not "." or ".." */
int ngx_http_securechat_room_name_ok(const unsigned char *name, size_t len);

/* 1 if a user may create a room of that name: valid and not reserved */
int ngx_http_securechat_room_name_creatable(const unsigned char *name,
    size_t len);

/* 1 if name is the shape of a direct room's name */
int ngx_http_securechat_room_name_direct(const unsigned char *name,
    size_t len);

/*
 * The direct room of users a and b (in either order) into
 * out[NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN]: "dm-" and the first 40 hex
 * digits of SHA-256("securechat direct v1" 0 lower 0 higher), where lower
 * and higher are the two names in byte order.  Returns 0, or -1 if a and
 * b are the same user or SHA-256 failed.
 */
int ngx_http_securechat_room_direct_name(const unsigned char *a,
    size_t a_len, const unsigned char *b, size_t b_len, unsigned char *out);

/* "public", "private", "direct" to a kind: 0, or -1 if none */
int ngx_http_securechat_room_kind_parse(const unsigned char *s, size_t len,
    ngx_http_securechat_room_kind_e *kind);
const char *ngx_http_securechat_room_kind_name(
    ngx_http_securechat_room_kind_e kind);

/* "owner", "moderator", "member" to a role: 0, or -1 if none */
int ngx_http_securechat_room_role_parse(const unsigned char *s, size_t len,
    ngx_http_securechat_room_role_e *role);
const char *ngx_http_securechat_room_role_name(
    ngx_http_securechat_room_role_e role);

/*
 * The next pair of a resume list "ROOM:ID,ROOM:ID,..." (already
 * percent-decoded), from *pos (0 to begin), moving *pos past it: ROOM a
 * room name or "*", ID decimal 0..2^53-1 of at most 16 digits.  1: a pair;
 * 0: the end; -1: malformed (an empty list, an empty pair or a trailing
 * comma included).
 */
#define NGX_HTTP_SECURECHAT_ROOM_ID_MAX  9007199254740991ULL   /* 2^53-1 */

int ngx_http_securechat_room_resume_next(const unsigned char *s, size_t len,
    size_t *pos, const unsigned char **room, size_t *room_len,
    unsigned long long *id);

/* may the actor do act?  OK, or the first rule that refuses */
ngx_http_securechat_room_rc_e ngx_http_securechat_room_may(
    ngx_http_securechat_room_act_e act,
    const ngx_http_securechat_room_ask_t *ask);

/*
 * The event an allowed act (undo: unban, unmute) makes, its name in the
 * frame ("join", "removed", ...) and its effect; -1 / "?" for none.
 */
int ngx_http_securechat_room_act_event(ngx_http_securechat_room_act_e act,
    int undo);
const char *ngx_http_securechat_room_event_name(
    ngx_http_securechat_room_event_e event);
ngx_http_securechat_room_effect_e ngx_http_securechat_room_event_effect(
    ngx_http_securechat_room_event_e event);

/* the API's error code of a refusal: "not_member", "banned", ... */
const char *ngx_http_securechat_room_rc_code(ngx_http_securechat_room_rc_e rc);


#endif /* _NGX_HTTP_SECURECHAT_ROOM_H_INCLUDED_ */
