
/*
 * Which of this worker's chat sockets get which room: for each room with
 * a local member, the sockets of its local members.  A socket's rooms are
 * its user's, read from the zone when it attaches, and then kept up to
 * date by the rooms' events as the worker delivers them (joins add, a
 * leave, a removal or a ban take away, a deletion ends the room), so that
 * every worker changes what it delivers at the same point of the history;
 * a socket that is behind then keeps a room it is losing until its
 * catch-up reaches the event (ends_at).
 *
 * Each subscription is one small link in two queues, the room's and the
 * socket's: the fan-out walks a room's sockets, a closing socket its
 * rooms.  A room without local sockets is freed.
 */

#include "ngx_http_securechat_module.h"

#include "ngx_http_securechat_ws_int.h"


/* per worker */
static ngx_rbtree_t       ngx_http_securechat_ws_rooms;
static ngx_rbtree_node_t  ngx_http_securechat_ws_rooms_sentinel;


void
ngx_http_securechat_ws_rooms_init(void)
{
    ngx_rbtree_init(&ngx_http_securechat_ws_rooms,
                    &ngx_http_securechat_ws_rooms_sentinel,
                    ngx_str_rbtree_insert_value);
}


ngx_http_securechat_ws_room_t *
ngx_http_securechat_ws_rooms_find(ngx_str_t *name)
{
    ngx_str_node_t  *sn;

    sn = ngx_str_rbtree_lookup(&ngx_http_securechat_ws_rooms, name,
                               ngx_crc32_short(name->data, name->len));

    return (ngx_http_securechat_ws_room_t *) sn;
}


/* the socket's subscription to the room, new or as it was; NULL: no memory */

ngx_http_securechat_ws_sub_t *
ngx_http_securechat_ws_rooms_subscribe(ngx_http_securechat_ws_t *ws,
    ngx_str_t *name)
{
    ngx_http_securechat_ws_sub_t   *sub;
    ngx_http_securechat_ws_room_t  *room;

    if (name->len == 0 || name->len > NGX_HTTP_SECURECHAT_ROOM_NAME_MAX) {
        return NULL;
    }

    sub = ngx_http_securechat_ws_rooms_sub(ws, name);
    if (sub != NULL) {
        /* back in the room before a catch-up let it go: it stays */
        sub->ends_at = 0;
        return sub;
    }

    room = ngx_http_securechat_ws_rooms_find(name);

    if (room == NULL) {
        room = ngx_alloc(sizeof(ngx_http_securechat_ws_room_t),
                         ws->connection->log);
        if (room == NULL) {
            return NULL;
        }

        ngx_memcpy(room->name, name->data, name->len);
        room->sn.str.data = room->name;
        room->sn.str.len = name->len;
        room->sn.node.key = ngx_crc32_short(name->data, name->len);
        room->bit = 0;
        room->seq = 0;
        ngx_queue_init(&room->sockets);

        ngx_rbtree_insert(&ngx_http_securechat_ws_rooms, &room->sn.node);
    }

    sub = ngx_alloc(sizeof(ngx_http_securechat_ws_sub_t), ws->connection->log);
    if (sub == NULL) {
        if (ngx_queue_empty(&room->sockets)) {
            ngx_rbtree_delete(&ngx_http_securechat_ws_rooms, &room->sn.node);
            ngx_free(room);
        }

        return NULL;
    }

    sub->ws = ws;
    sub->room = room;
    sub->next_id = 0;
    sub->ends_at = 0;
    sub->typing_at = 0;
    sub->typed = 0;
    sub->resumed = 0;
    sub->found = 0;
    ngx_queue_insert_tail(&room->sockets, &sub->in_room);
    ngx_queue_insert_tail(&ws->rooms, &sub->in_ws);

    return sub;
}


static void
ngx_http_securechat_ws_rooms_drop(ngx_http_securechat_ws_sub_t *sub)
{
    ngx_http_securechat_ws_room_t  *room;

    room = sub->room;

    ngx_queue_remove(&sub->in_room);
    ngx_queue_remove(&sub->in_ws);
    ngx_free(sub);

    if (ngx_queue_empty(&room->sockets)) {
        ngx_rbtree_delete(&ngx_http_securechat_ws_rooms, &room->sn.node);
        ngx_free(room);
    }
}


/* the subscription of ws to the room named, or NULL */

ngx_http_securechat_ws_sub_t *
ngx_http_securechat_ws_rooms_sub(ngx_http_securechat_ws_t *ws,
    ngx_str_t *name)
{
    ngx_http_securechat_ws_room_t  *room;

    room = ngx_http_securechat_ws_rooms_find(name);

    return (room != NULL) ? ngx_http_securechat_ws_rooms_sub_of(ws, room)
                          : NULL;
}


/* the same for a room found already: a user's rooms are a few, a walk */

ngx_http_securechat_ws_sub_t *
ngx_http_securechat_ws_rooms_sub_of(ngx_http_securechat_ws_t *ws,
    ngx_http_securechat_ws_room_t *room)
{
    ngx_queue_t                   *q;
    ngx_http_securechat_ws_sub_t  *sub;

    if (ws->rooms.next == NULL) {
        return NULL;    /* never attached */
    }

    for (q = ngx_queue_head(&ws->rooms);
         q != ngx_queue_sentinel(&ws->rooms);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_http_securechat_ws_sub_t, in_ws);

        if (sub->room == room) {
            return sub;
        }
    }

    return NULL;
}


ngx_uint_t
ngx_http_securechat_ws_rooms_subscribed(ngx_http_securechat_ws_t *ws,
    ngx_str_t *name)
{
    return ngx_http_securechat_ws_rooms_sub(ws, name) != NULL;
}


void
ngx_http_securechat_ws_rooms_unsubscribe(ngx_http_securechat_ws_t *ws,
    ngx_str_t *name)
{
    ngx_http_securechat_ws_sub_t  *sub;

    sub = ngx_http_securechat_ws_rooms_sub(ws, name);

    if (sub != NULL) {
        ngx_http_securechat_ws_rooms_drop(sub);
    }
}


/* the socket closes: it leaves all its rooms */

void
ngx_http_securechat_ws_rooms_release(ngx_http_securechat_ws_t *ws)
{
    if (ws->rooms.next == NULL) {
        return;
    }

    while (!ngx_queue_empty(&ws->rooms)) {
        ngx_http_securechat_ws_rooms_drop(
            ngx_queue_data(ngx_queue_head(&ws->rooms),
                           ngx_http_securechat_ws_sub_t, in_ws));
    }
}
