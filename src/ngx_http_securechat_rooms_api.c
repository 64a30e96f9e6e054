
/*
 * The rooms routes.  The location names the collection (e.g.
 * `location /api/rooms { securechat rooms; }`); what follows it is
 * routed here:
 *
 *   GET  /api/rooms                 the caller's rooms
 *   POST /api/rooms                 create {name, title?, kind?}
 *   GET  /api/rooms/directory       the public rooms
 *   POST /api/rooms/direct          {user}: the direct room with user
 *   POST /api/rooms/NAME/join       {}
 *   POST /api/rooms/NAME/leave      {}
 *   GET  /api/rooms/NAME/members    a room's members (and bans)
 *   POST /api/rooms/NAME/ACT        {user}: invite, remove, ban, unban,
 *                                   mute, unmute, transfer
 *   POST /api/rooms/NAME/role       {user, role}
 *   POST /api/rooms/NAME/title      {title}
 *   DELETE /api/rooms/NAME
 *
 * POST routes check method, Origin, session and CSRF token before the
 * body, as every POST route does (ngx_http_securechat_post_route()); GET
 * routes need a session.  Every answer is JSON, every refusal names the
 * rule (see README, "Rooms").
 */

#include "ngx_http_securechat_module.h"

#include <openssl/crypto.h>

#include "ngx_http_securechat_api.h"
#include "ngx_http_securechat_bus.h"
#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_http.h"
#include "ngx_http_securechat_json.h"
#include "ngx_http_securechat_room.h"
#include "ngx_http_securechat_rooms.h"
#include "ngx_http_securechat_rooms_api.h"
#include "ngx_http_securechat_secrets.h"
#include "ngx_http_securechat_store.h"


/* the longest kind word a create body may carry ("private") */
#define NGX_HTTP_SECURECHAT_ROOM_KIND_MAX  16


typedef ngx_int_t (*ngx_http_securechat_rooms_get_pt)(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx);


/* a route on a named room: /api/rooms/NAME/ACTION */
typedef struct {
    ngx_str_t                          action;
    ngx_http_securechat_rooms_get_pt   get;       /* GET and HEAD */
    ngx_http_client_body_handler_pt    post;      /* POST, a JSON body */
    ngx_http_securechat_room_act_e     act;       /* for act_body() */
    unsigned                           undo:1;
    const char                        *done;      /* for the log */
} ngx_http_securechat_rooms_route_t;


static ngx_int_t ngx_http_securechat_rooms_split(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *action);
static ngx_int_t ngx_http_securechat_rooms_get(ngx_http_request_t *r,
    ngx_http_securechat_rooms_get_pt get);
static ngx_int_t ngx_http_securechat_rooms_begin(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, ngx_http_securechat_json_field_t *fields,
    size_t n);
static ngx_int_t ngx_http_securechat_rooms_send_later(ngx_http_request_t *r,
    ngx_uint_t status, time_t seconds, const char *code, const char *message);
static json_t *ngx_http_securechat_rooms_json(
    ngx_http_securechat_room_info_t *info);
static ngx_int_t ngx_http_securechat_rooms_send_list(ngx_http_request_t *r,
    ngx_array_t *list);

static ngx_int_t ngx_http_securechat_rooms_mine(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx);
static ngx_int_t ngx_http_securechat_rooms_public(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx);
static ngx_int_t ngx_http_securechat_rooms_members_list(
    ngx_http_request_t *r, ngx_http_securechat_ctx_t *ctx);
static ngx_int_t ngx_http_securechat_rooms_messages(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx);
static ngx_int_t ngx_http_securechat_rooms_arg(ngx_http_request_t *r,
    const char *name, uint64_t low, uint64_t high, uint64_t *value);
static void ngx_http_securechat_rooms_create_body(ngx_http_request_t *r);
static void ngx_http_securechat_rooms_act_body(ngx_http_request_t *r);
static void ngx_http_securechat_rooms_direct_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_securechat_rooms_delete(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx);
static ngx_int_t ngx_http_securechat_rooms_target(ngx_http_request_t *r,
    ngx_http_securechat_json_field_t *field, ngx_str_t *user);
static void ngx_http_securechat_rooms_acted(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, ngx_http_securechat_rooms_act_t *act,
    const ngx_http_securechat_rooms_route_t *route);
static void ngx_http_securechat_rooms_tell(ngx_http_request_t *r,
    ngx_http_securechat_room_event_e event, ngx_str_t *room, ngx_str_t *user,
    ngx_str_t *by, ngx_http_securechat_rooms_act_t *act);


#define ngx_http_securechat_rooms_act_route(word, act, undo, done)           \
    { ngx_string(word), NULL, ngx_http_securechat_rooms_act_body,            \
      NGX_HTTP_SECURECHAT_ACT_ ## act, undo, done }

static ngx_http_securechat_rooms_route_t  ngx_http_securechat_rooms_routes[] = {
    ngx_http_securechat_rooms_act_route("join", JOIN, 0, "joined"),
    ngx_http_securechat_rooms_act_route("leave", LEAVE, 0, "left"),
    { ngx_string("members"), ngx_http_securechat_rooms_members_list, NULL,
      NGX_HTTP_SECURECHAT_ACT_READ, 0, NULL },
    { ngx_string("messages"), ngx_http_securechat_rooms_messages, NULL,
      NGX_HTTP_SECURECHAT_ACT_READ, 0, NULL },
    ngx_http_securechat_rooms_act_route("invite", INVITE, 0, "invited"),
    ngx_http_securechat_rooms_act_route("remove", REMOVE, 0, "removed"),
    ngx_http_securechat_rooms_act_route("ban", BAN, 0, "banned"),
    ngx_http_securechat_rooms_act_route("unban", BAN, 1, "unbanned"),
    ngx_http_securechat_rooms_act_route("mute", MUTE, 0, "muted"),
    ngx_http_securechat_rooms_act_route("unmute", MUTE, 1, "unmuted"),
    ngx_http_securechat_rooms_act_route("role", SET_ROLE, 0, "set the role of"),
    ngx_http_securechat_rooms_act_route("title", RENAME, 0, "retitled"),
    ngx_http_securechat_rooms_act_route("transfer", TRANSFER, 0,
                                        "gave the ownership to"),
    { ngx_null_string, NULL, NULL, 0, 0, NULL }
};


/* DELETE /api/rooms/NAME, for the log */
static ngx_http_securechat_rooms_route_t  ngx_http_securechat_rooms_deleting
    = { ngx_string("delete"), NULL, NULL, NGX_HTTP_SECURECHAT_ACT_DELETE, 0,
        "deleted" };


ngx_int_t
ngx_http_securechat_rooms_handler(ngx_http_request_t *r)
{
    ngx_str_t                           name, action;
    ngx_http_securechat_ctx_t          *ctx;
    ngx_http_securechat_rooms_route_t  *route;

    if (ngx_http_securechat_rooms_split(r, &name, &action) != NGX_OK) {
        return ngx_http_securechat_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "not_found", "no such route");
    }

    /* the collection */

    if (name.len == 0) {
        if (r->method == NGX_HTTP_POST) {
            return ngx_http_securechat_post_route(r,
                       ngx_http_securechat_rooms_create_body, 1);
        }

        if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
            return ngx_http_securechat_rooms_get(r,
                                                ngx_http_securechat_rooms_mine);
        }

        return ngx_http_securechat_method_not_allowed(r, "GET, HEAD, POST");
    }

    /* a room's own path names no room route: names and words never mix */

    if (action.len == 0) {
        if (r->method == NGX_HTTP_DELETE) {
            goto named;
        }

        if (name.len == sizeof("directory") - 1
            && ngx_strncmp(name.data, "directory", name.len) == 0)
        {
            if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
                return ngx_http_securechat_method_not_allowed(r, "GET, HEAD");
            }

            return ngx_http_securechat_rooms_get(r,
                                              ngx_http_securechat_rooms_public);
        }

        if (name.len == sizeof("direct") - 1
            && ngx_strncmp(name.data, "direct", name.len) == 0)
        {
            return ngx_http_securechat_post_route(r,
                       ngx_http_securechat_rooms_direct_body, 1);
        }

        if (!ngx_http_securechat_room_name_ok(name.data, name.len)) {
            return ngx_http_securechat_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "not_found", "no such route");
        }

        return ngx_http_securechat_method_not_allowed(r, "DELETE");
    }

    for (route = ngx_http_securechat_rooms_routes; route->action.len; route++)
    {
        if (route->action.len == action.len
            && ngx_strncmp(route->action.data, action.data, action.len) == 0)
        {
            break;
        }
    }

    if (route->action.len == 0) {
        return ngx_http_securechat_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "not_found", "no such route");
    }

named:

    if (!ngx_http_securechat_room_name_ok(name.data, name.len)) {
        return ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "bad_room_name",
                   "a room name is 1 to 64 of a-z 0-9 . _ -");
    }

    ctx = ngx_http_securechat_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->room = name;

    if (action.len == 0) {
        return ngx_http_securechat_rooms_delete(r, ctx);
    }

    ctx->room_route = route;

    if (route->post != NULL) {
        return ngx_http_securechat_post_route(r, route->post, 1);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_securechat_method_not_allowed(r, "GET, HEAD");
    }

    return ngx_http_securechat_rooms_get(r, route->get);
}


/* the path after the location's name: nginx's decoded, normalized URI */

static ngx_int_t
ngx_http_securechat_rooms_split(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *action)
{
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_securechat_room_path_t   path;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* a regex location's name is no prefix of its URIs: nothing matches */

    if (ngx_http_securechat_room_path_split(clcf->name.data, clcf->name.len,
                                            r->uri.data, r->uri.len, &path)
        != 0)
    {
        return NGX_DECLINED;
    }

    name->data = (u_char *) path.name;
    name->len = path.name_len;
    action->data = (u_char *) path.action;
    action->len = path.action_len;

    return NGX_OK;
}


/* a GET route: a session (no CSRF token: nothing changes), then get() */

static ngx_int_t
ngx_http_securechat_rooms_get(ngx_http_request_t *r,
    ngx_http_securechat_rooms_get_pt get)
{
    ngx_int_t                         rc;
    ngx_http_securechat_ctx_t        *ctx;
    ngx_http_securechat_main_conf_t  *smcf;

    ctx = ngx_http_securechat_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_securechat_authenticate(r, ctx, 0);
    if (rc != NGX_OK) {
        return ngx_http_securechat_send_auth_error(r, rc);
    }

    /* a login that found the zone full joins "general" now */

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    (void) ngx_http_securechat_rooms_welcome(smcf->shm_zone,
                                             &ctx->session.user,
                                             &smcf->room_limits);

    return get(r, ctx);
}


/*
 * In a POST route's body handler: the body, then the welcome a login may
 * have missed.  NGX_OK, or the request was finalized.
 */

static ngx_int_t
ngx_http_securechat_rooms_begin(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, ngx_http_securechat_json_field_t *fields,
    size_t n)
{
    ngx_int_t                         answer;
    ngx_http_securechat_main_conf_t  *smcf;

    if (ngx_http_securechat_parse_body(r, ctx, fields, n, &answer) != NGX_OK)
    {
        ngx_http_finalize_request(r, answer);
        return NGX_ERROR;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    (void) ngx_http_securechat_rooms_welcome(smcf->shm_zone,
                                             &ctx->session.user,
                                             &smcf->room_limits);

    return NGX_OK;
}


ngx_int_t
ngx_http_securechat_rooms_refusal(ngx_http_request_t *r,
    ngx_http_securechat_rooms_rc_e rc, ngx_http_securechat_room_rc_e why)
{
    ngx_uint_t                        status;
    const char                       *message;
    ngx_http_securechat_main_conf_t  *smcf;

    switch (rc) {

    case NGX_HTTP_SECURECHAT_ROOMS_REFUSED:
        break;

    case NGX_HTTP_SECURECHAT_ROOMS_NO_ROOM:
        /* also a private room the caller is not in: see room.c */
        return ngx_http_securechat_send_error(r, NGX_HTTP_NOT_FOUND,
                   "no_such_room", "there is no room of that name");

    case NGX_HTTP_SECURECHAT_ROOMS_EXISTS:
        return ngx_http_securechat_send_error(r, NGX_HTTP_CONFLICT,
                   "room_exists", "a room of that name exists");

    case NGX_HTTP_SECURECHAT_ROOMS_ROOM_FULL:
        return ngx_http_securechat_send_error(r, NGX_HTTP_FORBIDDEN,
                   "room_full",
                   "the room has as many members as this server allows");

    case NGX_HTTP_SECURECHAT_ROOMS_TOO_MANY:
        return ngx_http_securechat_send_error(r, NGX_HTTP_FORBIDDEN,
                   "too_many_rooms",
                   "you are in as many rooms as this server allows");

    case NGX_HTTP_SECURECHAT_ROOMS_LIMIT:
        return ngx_http_securechat_send_error(r, NGX_HTTP_FORBIDDEN,
                   "rooms_limit",
                   "this server holds as many rooms as it allows");

    case NGX_HTTP_SECURECHAT_ROOMS_TARGET_FULL:
        return ngx_http_securechat_send_error(r, NGX_HTTP_FORBIDDEN,
                   "too_many_rooms",
                   "that user is in as many rooms as this server allows");

    case NGX_HTTP_SECURECHAT_ROOMS_TOO_FAST:
        smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

        return ngx_http_securechat_rooms_send_later(r,
                   NGX_HTTP_TOO_MANY_REQUESTS,
                   ngx_http_securechat_rooms_retry_after(&smcf->room_limits),
                   "too_fast",
                   "you are making rooms too fast: try again in a moment");

    case NGX_HTTP_SECURECHAT_ROOMS_REFUSED_TARGET:
        switch (why) {

        case NGX_HTTP_SECURECHAT_ROOM_BANNED:
            return ngx_http_securechat_send_error(r, NGX_HTTP_CONFLICT,
                       "banned",
                       "that user is banned from this room: unban first");

        case NGX_HTTP_SECURECHAT_ROOM_ALREADY_MEMBER:
            return ngx_http_securechat_send_error(r, NGX_HTTP_CONFLICT,
                       "already_member",
                       "that user is already a member of this room");

        default:
            return ngx_http_securechat_send_error(r, NGX_HTTP_NOT_FOUND,
                       "not_member", "that user is not a member of this room");
        }

    case NGX_HTTP_SECURECHAT_ROOMS_ZONE_FULL:
        return ngx_http_securechat_rooms_send_later(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, 60, "zone_full",
                   "the server's memory for rooms is full; try again later");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (why) {

    case NGX_HTTP_SECURECHAT_ROOM_NOT_MEMBER:
        message = "you are not a member of this room";
        status = NGX_HTTP_FORBIDDEN;
        break;

    case NGX_HTTP_SECURECHAT_ROOM_BANNED:
        message = "you are banned from this room";
        status = NGX_HTTP_FORBIDDEN;
        break;

    case NGX_HTTP_SECURECHAT_ROOM_MUTED:
        message = "you are muted in this room";
        status = NGX_HTTP_FORBIDDEN;
        break;

    case NGX_HTTP_SECURECHAT_ROOM_ALREADY_MEMBER:
        message = "you are already a member of this room";
        status = NGX_HTTP_CONFLICT;
        break;

    default:
        message = "your role in this room does not allow this";
        status = NGX_HTTP_FORBIDDEN;
    }

    return ngx_http_securechat_send_error(r, status,
                                    ngx_http_securechat_room_rc_code(why),
                                    message);
}


/* an error to try again later: Retry-After, then the JSON */

static ngx_int_t
ngx_http_securechat_rooms_send_later(ngx_http_request_t *r,
    ngx_uint_t status, time_t seconds, const char *code, const char *message)
{
    u_char  *p, *v;

    v = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (v == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(v, "%T", seconds);

    if (ngx_http_securechat_add_header(r, "Retry-After", v, p - v) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_securechat_send_error(r, status, code, message);
}


static json_t *
ngx_http_securechat_rooms_json(ngx_http_securechat_room_info_t *info)
{
    const char  *role;

    role = info->role == NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE
           ? NULL : ngx_http_securechat_room_role_name(info->role);

    /* titles were checked as UTF-8 on their way in; s% checks again */

    return json_pack("{s:s%, s:s%, s:s, s:s?, s:I, s:I}",
                     "name", info->name.data, info->name.len,
                     "title", info->title.data, info->title.len,
                     "kind", ngx_http_securechat_room_kind_name(info->kind),
                     "role", role,
                     "members", (json_int_t) info->members,
                     "created", (json_int_t) info->created);
}


/*
 * Each with its last id: with the last one a client saw of it, what it
 * has not read yet (the page's unread counts), and where to resume.
 */

static ngx_int_t
ngx_http_securechat_rooms_send_list(ngx_http_request_t *r, ngx_array_t *list)
{
    json_t                           *rooms, *item;
    uint64_t                          last;
    ngx_uint_t                        i;
    ngx_http_securechat_room_info_t  *info;
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    rooms = json_array();
    if (rooms == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    info = list->elts;

    for (i = 0; i < list->nelts; i++) {
        item = ngx_http_securechat_rooms_json(&info[i]);
        last = ngx_http_securechat_history_room_last(smcf->shm_zone,
                                                     &info[i].name);

        /* append_new() takes item, also when it fails */

        if (item == NULL || json_array_append_new(rooms, item) != 0
            || json_object_set_new(item, "last_id",
                                   json_integer((json_int_t) last))
               != 0)
        {
            json_decref(rooms);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_securechat_send_json(r, NGX_HTTP_OK,
                                         json_pack("{s:o}", "rooms", rooms));
}


static ngx_int_t
ngx_http_securechat_rooms_mine(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx)
{
    ngx_array_t                      *list;
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    if (ngx_http_securechat_rooms_of_user(smcf->shm_zone, &ctx->session.user,
                                          r->pool, &list)
        != NGX_HTTP_SECURECHAT_ROOMS_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_securechat_rooms_send_list(r, list);
}


static ngx_int_t
ngx_http_securechat_rooms_public(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx)
{
    ngx_array_t                      *list;
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    if (ngx_http_securechat_rooms_directory(smcf->shm_zone,
                                            &ctx->session.user, r->pool,
                                            &list)
        != NGX_HTTP_SECURECHAT_ROOMS_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_securechat_rooms_send_list(r, list);
}


static ngx_int_t
ngx_http_securechat_rooms_members_list(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx)
{
    json_t                             *members, *banned, *item, *room;
    ngx_uint_t                          i;
    ngx_array_t                        *list;
    ngx_http_securechat_rooms_rc_e      rc;
    ngx_http_securechat_room_rc_e       why;
    ngx_http_securechat_room_info_t     info;
    ngx_http_securechat_room_member_t  *m;
    ngx_http_securechat_main_conf_t    *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    why = NGX_HTTP_SECURECHAT_ROOM_OK;

    rc = ngx_http_securechat_rooms_members(smcf->shm_zone, &ctx->session.user,
                                           &ctx->room, r->pool, &info, &list,
                                           &why);
    if (rc != NGX_HTTP_SECURECHAT_ROOMS_OK) {
        return ngx_http_securechat_rooms_refusal(r, rc, why);
    }

    /* the bans are listed to those who may lift them, and only to them */

    members = json_array();
    banned = info.role >= NGX_HTTP_SECURECHAT_ROOM_ROLE_MODERATOR
             ? json_array() : NULL;
    room = ngx_http_securechat_rooms_json(&info);

    if (members == NULL || room == NULL
        || (banned == NULL
            && info.role >= NGX_HTTP_SECURECHAT_ROOM_ROLE_MODERATOR))
    {
        goto failed;
    }

    m = list->elts;

    for (i = 0; i < list->nelts; i++) {

        if (m[i].role == NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE) {
            item = json_stringn((char *) m[i].user.data, m[i].user.len);

            if (banned == NULL || item == NULL
                || json_array_append_new(banned, item) != 0)
            {
                goto failed;
            }

            continue;
        }

        item = json_pack("{s:s%, s:s, s:b, s:b}",
                         "user", m[i].user.data, m[i].user.len,
                         "role", ngx_http_securechat_room_role_name(m[i].role),
                         "muted", (int) m[i].muted,
                         "online", (int) m[i].online);

        if (item == NULL || json_array_append_new(members, item) != 0) {
            goto failed;
        }
    }

    return ngx_http_securechat_send_json(r, NGX_HTTP_OK,
                                         json_pack("{s:o, s:o, s:o*}",
                                                   "room", room,
                                                   "members", members,
                                                   "banned", banned));

failed:

    json_decref(members);
    json_decref(banned);
    json_decref(room);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * GET /api/rooms/NAME/messages?before=ID&limit=N: scrolling back.  The
 * room's entries (messages and events) before ID (the newest when there
 * is none), the newest N of them (50 by default, at most 100), oldest
 * first, from what the room's history holds (bus_page(): further back
 * than resuming reaches): each message the signed envelope of the
 * WebSocket, its CEK wrapped for the session's client key with RSA-OAEP
 * ("ek"), as there is no connection to wrap it for.  "more": older
 * entries are held; "dropped": ids before the first one existed and the
 * history no longer holds them.  One RSA public operation a message, on
 * the event loop: the limit bounds them.
 */

#define NGX_HTTP_SECURECHAT_ROOMS_PAGE      50
#define NGX_HTTP_SECURECHAT_ROOMS_PAGE_MAX  100

static ngx_int_t
ngx_http_securechat_rooms_messages(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx)
{
    u_char                           *frame;
    size_t                            len, size;
    json_t                           *items, *item;
    uint64_t                          before, limit;
    ngx_uint_t                        i;
    ngx_http_securechat_bus_msg_t    *msg;
    ngx_http_securechat_bus_page_t    page;
    ngx_http_securechat_room_rc_e     why;
    ngx_http_securechat_rooms_rc_e    rc;
    ngx_http_securechat_rooms_act_t   act;
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    ngx_memzero(&act, sizeof(ngx_http_securechat_rooms_act_t));
    act.act = NGX_HTTP_SECURECHAT_ACT_READ;
    why = NGX_HTTP_SECURECHAT_ROOM_OK;

    rc = ngx_http_securechat_rooms_act(smcf->shm_zone, &ctx->session.user,
                                       &ctx->room, &act, &smcf->room_limits,
                                       &why);
    if (rc != NGX_HTTP_SECURECHAT_ROOMS_OK) {
        return ngx_http_securechat_rooms_refusal(r, rc, why);
    }

    before = (uint64_t) -1;
    limit = NGX_HTTP_SECURECHAT_ROOMS_PAGE;

    if (ngx_http_securechat_rooms_arg(r, "before", 1,
                                      NGX_HTTP_SECURECHAT_JSON_INT_MAX, &before)
        != NGX_OK)
    {
        return ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "bad_before", "before must be a message id (1 or more)");
    }

    if (ngx_http_securechat_rooms_arg(r, "limit", 1,
                                      NGX_HTTP_SECURECHAT_ROOMS_PAGE_MAX,
                                      &limit)
        != NGX_OK)
    {
        return ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "bad_limit", "limit must be 1 to 100");
    }

    if (ctx->session.client_key.len == 0) {
        return ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "no_client_key",
                   "log in with a public_key to read the history");
    }

    page.room = ctx->room;
    page.before = before;
    page.limit = (ngx_uint_t) limit;
    page.pool = r->pool;

    if (ngx_http_securechat_bus_page(&page) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    size = ngx_http_securechat_history_slot_data(smcf->shm_zone)
           + NGX_HTTP_SECURECHAT_WRAPPED_SK_MAX * 2;

    frame = ngx_pnalloc(r->pool, size);
    items = json_array();
    msg = page.msgs.elts;
    i = 0;

    if (frame == NULL || items == NULL) {
        goto failed;
    }

    for ( /* void */ ; i < page.msgs.nelts; i++) {

        if (msg[i].kind == NGX_HTTP_SECURECHAT_BUS_EVENT) {
            item = json_loadb((char *) msg[i].json.data, msg[i].json.len, 0,
                              NULL);

        } else {
            item = NULL;

            if (ngx_http_securechat_envelope_frame_oaep(&msg[i].env,
                    ctx->session.client_key.data,
                    ctx->session.client_key.len, frame, size, &len)
                == NGX_HTTP_SECURECHAT_ENV_OK)
            {
                item = json_loadb((char *) frame, len, 0, NULL);
            }

            OPENSSL_cleanse(msg[i].env.cek, NGX_HTTP_SECURECHAT_CEK_LEN);
        }

        if (item == NULL || json_array_append_new(items, item) != 0) {
            goto failed;
        }
    }

    return ngx_http_securechat_send_json(r, NGX_HTTP_OK,
               json_pack("{s:s%, s:o, s:b, s:b}",
                         "room", ctx->room.data, ctx->room.len,
                         "items", items,
                         "more", page.more ? 1 : 0,
                         "dropped", !page.more && page.lowest > 1));

failed:

    /* the copies of the CEKs not yet wrapped go with the pool */

    for ( /* void */ ; i < page.msgs.nelts; i++) {
        OPENSSL_cleanse(msg[i].env.cek, NGX_HTTP_SECURECHAT_CEK_LEN);
    }

    json_decref(items);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* ?name=N, a decimal within [low, high]; none leaves *value: NGX_OK */

static ngx_int_t
ngx_http_securechat_rooms_arg(ngx_http_request_t *r, const char *name,
    uint64_t low, uint64_t high, uint64_t *value)
{
    off_t      n;
    ngx_str_t  arg;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        return NGX_OK;
    }

    n = ngx_atoof(arg.data, arg.len);

    if (n == NGX_ERROR || arg.len > 16 || (uint64_t) n < low
        || (uint64_t) n > high)
    {
        return NGX_ERROR;
    }

    *value = (uint64_t) n;

    return NGX_OK;
}


static void
ngx_http_securechat_rooms_create_body(ngx_http_request_t *r)
{
    ngx_str_t                          name, title, word;
    ngx_http_securechat_ctx_t         *ctx;
    ngx_http_securechat_rooms_rc_e     rc;
    ngx_http_securechat_room_kind_e    kind;
    ngx_http_securechat_room_info_t    info;
    ngx_http_securechat_main_conf_t   *smcf;
    ngx_http_securechat_json_field_t   fields[] = {
        { "name", 1, NGX_HTTP_SECURECHAT_ROOM_NAME_MAX, 1, 1, NULL, 0 },
        { "title", 0, NGX_HTTP_SECURECHAT_ROOM_TITLE_MAX, 0, 1, NULL, 0 },
        { "kind", 1, NGX_HTTP_SECURECHAT_ROOM_KIND_MAX, 0, 1, NULL, 0 }
    };

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);

    if (ngx_http_securechat_rooms_begin(r, ctx, fields, 3) != NGX_OK) {
        return;
    }

    name.data = (u_char *) fields[0].value;
    name.len = fields[0].len;

    if (!ngx_http_securechat_room_name_creatable(name.data, name.len)) {
        ngx_http_finalize_request(r,
            ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                "bad_room_name",
                "a room name is 1 to 64 of a-z 0-9 . _ - and does not "
                "begin with dm- (direct rooms)"));
        return;
    }

    /* $securechat_room: a copy, the log comes after the body is gone */

    ctx->room.data = ngx_pstrdup(r->pool, &name);
    ctx->room.len = (ctx->room.data != NULL) ? name.len : 0;

    kind = NGX_HTTP_SECURECHAT_ROOM_PUBLIC;

    if (fields[2].value != NULL) {
        word.data = (u_char *) fields[2].value;
        word.len = fields[2].len;

        /* a direct room is opened with its other user, never created */

        if (ngx_http_securechat_room_kind_parse(word.data, word.len, &kind)
            != 0
            || kind == NGX_HTTP_SECURECHAT_ROOM_DIRECT)
        {
            ngx_http_finalize_request(r,
                ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                    "bad_kind", "kind is \"public\" or \"private\""));
            return;
        }
    }

    /* no title, or an empty one: the name stands for it */

    if (fields[1].value != NULL && fields[1].len > 0) {
        title.data = (u_char *) fields[1].value;
        title.len = fields[1].len;

    } else {
        title = name;
    }

    rc = ngx_http_securechat_rooms_create(smcf->shm_zone, &ctx->session.user,
                                          &name, &title, kind,
                                          &smcf->room_limits);
    if (rc != NGX_HTTP_SECURECHAT_ROOMS_OK) {
        ngx_http_finalize_request(r,
            ngx_http_securechat_rooms_refusal(r, rc,
                                              NGX_HTTP_SECURECHAT_ROOM_OK));
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "securechat: \"%V\" created room \"%V\"",
                  &ctx->session.user, &name);

    ngx_http_securechat_rooms_tell(r, NGX_HTTP_SECURECHAT_EVENT_JOIN, &name,
                                   &ctx->session.user, &ctx->session.user,
                                   NULL);

    info.name = name;
    info.title = title;
    info.kind = kind;
    info.role = NGX_HTTP_SECURECHAT_ROOM_ROLE_OWNER;
    info.members = 1;
    info.created = ngx_time();

    ngx_http_finalize_request(r,
        ngx_http_securechat_send_json(r, NGX_HTTP_CREATED,
            json_pack("{s:o}", "room",
                      ngx_http_securechat_rooms_json(&info))));
}


/* the other user of an act or a direct room: a user of the users file */

static ngx_int_t
ngx_http_securechat_rooms_target(ngx_http_request_t *r,
    ngx_http_securechat_json_field_t *field, ngx_str_t *user)
{
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    user->data = (u_char *) field->value;
    user->len = field->len;

    if (ngx_http_securechat_find_user(smcf, user) == NULL) {
        ngx_http_finalize_request(r,
            ngx_http_securechat_send_error(r, NGX_HTTP_NOT_FOUND,
                "no_such_user", "there is no user of that name"));
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* every POST route that acts: join, leave, on another user, on the room */

static void
ngx_http_securechat_rooms_act_body(ngx_http_request_t *r)
{
    size_t                                    n;
    ngx_str_t                                 word;
    ngx_http_securechat_ctx_t                *ctx;
    ngx_http_securechat_rooms_rc_e            rc;
    ngx_http_securechat_room_rc_e             why;
    ngx_http_securechat_rooms_act_t           act;
    ngx_http_securechat_main_conf_t          *smcf;
    const ngx_http_securechat_rooms_route_t  *route;
    ngx_http_securechat_json_field_t          fields[] = {
        { "user", 1, NGX_HTTP_SECURECHAT_USER_MAX, 1, 1, NULL, 0 },
        { "role", 1, NGX_HTTP_SECURECHAT_ROOM_KIND_MAX, 1, 1, NULL, 0 }
    };
    ngx_http_securechat_json_field_t          title[] = {
        { "title", 1, NGX_HTTP_SECURECHAT_ROOM_TITLE_MAX, 1, 1, NULL, 0 }
    };

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);
    route = ctx->room_route;

    ngx_memzero(&act, sizeof(ngx_http_securechat_rooms_act_t));
    act.act = route->act;
    act.undo = route->undo;

    if (act.act == NGX_HTTP_SECURECHAT_ACT_JOIN
        || act.act == NGX_HTTP_SECURECHAT_ACT_LEAVE)
    {
        if (ngx_http_securechat_rooms_begin(r, ctx, NULL, 0) != NGX_OK) {
            return;
        }

    } else if (act.act == NGX_HTTP_SECURECHAT_ACT_RENAME) {
        if (ngx_http_securechat_rooms_begin(r, ctx, title, 1) != NGX_OK) {
            return;
        }

        act.title.data = (u_char *) title[0].value;
        act.title.len = title[0].len;

    } else {
        n = act.act == NGX_HTTP_SECURECHAT_ACT_SET_ROLE ? 2 : 1;

        if (ngx_http_securechat_rooms_begin(r, ctx, fields, n) != NGX_OK
            || ngx_http_securechat_rooms_target(r, &fields[0], &act.target)
               != NGX_OK)
        {
            return;
        }

        if (n == 2) {
            word.data = (u_char *) fields[1].value;
            word.len = fields[1].len;

            if (ngx_http_securechat_room_role_parse(word.data, word.len,
                                                    &act.new_role)
                != 0)
            {
                ngx_http_finalize_request(r,
                    ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                        "bad_role", "role is \"moderator\" or \"member\""));
                return;
            }
        }
    }

    why = NGX_HTTP_SECURECHAT_ROOM_OK;

    rc = ngx_http_securechat_rooms_act(smcf->shm_zone, &ctx->session.user,
                                       &ctx->room, &act, &smcf->room_limits,
                                       &why);
    if (rc != NGX_HTTP_SECURECHAT_ROOMS_OK) {
        ngx_http_finalize_request(r,
                             ngx_http_securechat_rooms_refusal(r, rc, why));
        return;
    }

    ngx_http_securechat_rooms_acted(r, ctx, &act, route);
}


/* DELETE /api/rooms/NAME: Origin, session and CSRF token, no body */

static ngx_int_t
ngx_http_securechat_rooms_delete(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx)
{
    ngx_int_t                         rc;
    ngx_http_securechat_room_rc_e     why;
    ngx_http_securechat_rooms_act_t   act;
    ngx_http_securechat_main_conf_t  *smcf;

    if (ngx_http_securechat_check_origin(r, 0) != NGX_OK) {
        return ngx_http_securechat_send_origin_error(r);
    }

    rc = ngx_http_securechat_authenticate(r, ctx, 1);
    if (rc != NGX_OK) {
        return ngx_http_securechat_send_auth_error(r, rc);
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    ngx_memzero(&act, sizeof(ngx_http_securechat_rooms_act_t));
    act.act = NGX_HTTP_SECURECHAT_ACT_DELETE;

    why = NGX_HTTP_SECURECHAT_ROOM_OK;

    rc = ngx_http_securechat_rooms_act(smcf->shm_zone, &ctx->session.user,
                                       &ctx->room, &act, &smcf->room_limits,
                                       &why);
    if (rc != NGX_HTTP_SECURECHAT_ROOMS_OK) {
        return ngx_http_securechat_rooms_refusal(r, rc, why);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "securechat: \"%V\" %s room \"%V\"", &ctx->session.user,
                  ngx_http_securechat_rooms_deleting.done, &ctx->room);

    ngx_http_securechat_rooms_tell(r, NGX_HTTP_SECURECHAT_EVENT_DELETED,
                                   &ctx->room, &ctx->session.user,
                                   &ctx->session.user, NULL);

    return ngx_http_securechat_send_json(r, NGX_HTTP_OK,
                                         json_pack("{s:b}", "ok", 1));
}


static void
ngx_http_securechat_rooms_acted(ngx_http_request_t *r,
    ngx_http_securechat_ctx_t *ctx, ngx_http_securechat_rooms_act_t *act,
    const ngx_http_securechat_rooms_route_t *route)
{
    int  event;

    event = ngx_http_securechat_room_act_event(act->act, act->undo);

    if (event >= 0) {
        ngx_http_securechat_rooms_tell(r, event, &ctx->room,
                                       act->target.len ? &act->target
                                                       : &ctx->session.user,
                                       &ctx->session.user, act);
    }

    if (act->target.len) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "securechat: \"%V\" %s \"%V\" in room \"%V\"",
                      &ctx->session.user, route->done, &act->target,
                      &ctx->room);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "securechat: \"%V\" %s room \"%V\"",
                      &ctx->session.user, route->done, &ctx->room);
    }

    ngx_http_finalize_request(r,
        ngx_http_securechat_send_json(r, NGX_HTTP_OK,
                                      json_pack("{s:b}", "ok", 1)));
}


/* POST /api/rooms/direct {user}: the direct room of the caller and user */

static void
ngx_http_securechat_rooms_direct_body(ngx_http_request_t *r)
{
    ngx_str_t                          peer;
    ngx_uint_t                         created;
    ngx_http_securechat_ctx_t         *ctx;
    ngx_http_securechat_rooms_rc_e     rc;
    ngx_http_securechat_room_info_t    info;
    ngx_http_securechat_main_conf_t   *smcf;
    ngx_http_securechat_json_field_t   fields[] = {
        { "user", 1, NGX_HTTP_SECURECHAT_USER_MAX, 1, 1, NULL, 0 }
    };

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);

    if (ngx_http_securechat_rooms_begin(r, ctx, fields, 1) != NGX_OK
        || ngx_http_securechat_rooms_target(r, &fields[0], &peer) != NGX_OK)
    {
        return;
    }

    if (peer.len == ctx->session.user.len
        && ngx_strncmp(peer.data, ctx->session.user.data, peer.len) == 0)
    {
        ngx_http_finalize_request(r,
            ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                "bad_user", "a direct room is with another user"));
        return;
    }

    rc = ngx_http_securechat_rooms_direct(smcf->shm_zone, &ctx->session.user,
                                          &peer, r->pool, &smcf->room_limits,
                                          &info, &created);
    if (rc != NGX_HTTP_SECURECHAT_ROOMS_OK) {
        ngx_http_finalize_request(r,
            ngx_http_securechat_rooms_refusal(r, rc,
                                              NGX_HTTP_SECURECHAT_ROOM_OK));
        return;
    }

    if (created) {
        ngx_http_securechat_rooms_tell(r, NGX_HTTP_SECURECHAT_EVENT_JOIN,
                                       &info.name, &ctx->session.user,
                                       &ctx->session.user, NULL);
        ngx_http_securechat_rooms_tell(r, NGX_HTTP_SECURECHAT_EVENT_JOIN,
                                       &info.name, &peer, &ctx->session.user,
                                       NULL);
    }

    ngx_http_finalize_request(r,
        ngx_http_securechat_send_json(r,
            created ? NGX_HTTP_CREATED : NGX_HTTP_OK,
            json_pack("{s:o}", "room",
                      ngx_http_securechat_rooms_json(&info))));
}


/*
 * What changed, to the room's sockets and the user's, in every worker,
 * in order with the messages.  The change is made already: an event that
 * cannot be queued is logged, and the sockets keep what they had until
 * they reconnect.
 */

static void
ngx_http_securechat_rooms_tell(ngx_http_request_t *r,
    ngx_http_securechat_room_event_e event, ngx_str_t *room, ngx_str_t *user,
    ngx_str_t *by, ngx_http_securechat_rooms_act_t *act)
{
    ngx_http_securechat_bus_event_t  ev;

    ngx_memzero(&ev, sizeof(ngx_http_securechat_bus_event_t));

    ev.event = event;
    ev.room = *room;
    ev.user = *user;
    ev.by = *by;

    if (event == NGX_HTTP_SECURECHAT_EVENT_ROLE) {
        ev.role = ngx_http_securechat_room_role_name(act->new_role);

    } else if (event == NGX_HTTP_SECURECHAT_EVENT_TITLE) {
        ev.title = act->title;
    }

    if (ngx_http_securechat_bus_event(&ev) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "securechat: the \"%s\" event of room \"%V\" could "
                      "not be published",
                      ngx_http_securechat_room_event_name(event), room);
    }
}
