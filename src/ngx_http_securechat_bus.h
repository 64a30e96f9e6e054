
/*
 * The message bus: how an accepted message or a room's event gets into
 * the history, and how every worker learns of it and hands it to its
 * WebSocket clients.  A table of operations (publish, event, disconnect,
 * fetch, ...), so that a bus spanning several servers can stand where the
 * one inside nginx stands.
 */

#ifndef _NGX_HTTP_SECURECHAT_BUS_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_BUS_H_INCLUDED_


#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_frame.h"
#include "ngx_http_securechat_room.h"


/*
 * Entries per sealing task and per delivery: the fan-out gives each room
 * of a delivery one bit of a 64-bit mask.
 */
#define NGX_HTTP_SECURECHAT_BUS_BATCH      64


/* what a history entry holds: a sealed message, or a room's event */
typedef enum {
    NGX_HTTP_SECURECHAT_BUS_MESSAGE = 1,
    NGX_HTTP_SECURECHAT_BUS_EVENT,

    /* notices, in a ring of their own (store.h, "ephemeral") */
    NGX_HTTP_SECURECHAT_BUS_PRESENCE,
    NGX_HTTP_SECURECHAT_BUS_TYPING
} ngx_http_securechat_bus_kind_e;


/* a presence or typing notice as a worker delivers it */
typedef struct {
    ngx_http_securechat_bus_kind_e   kind;
    ngx_str_t                        user;     /* whose */
    ngx_str_t                        room;     /* typing: where */
    ngx_str_t                        json;     /* the frame */
} ngx_http_securechat_bus_notice_t;


/* an entry of the history as a worker delivers it */
typedef struct {
    uint64_t                         id;       /* in the whole history */
    ngx_uint_t                       gone;     /* dropped from the history */
    ngx_http_securechat_bus_kind_e   kind;
    ngx_str_t                        room;
    uint64_t                         room_id;  /* what clients see */

    /* a message: the prefix and CEK */
    ngx_http_securechat_envelope_t   env;

    /* an event: whom it is about, and its frame (JSON) */
    ngx_http_securechat_room_event_e event;
    ngx_str_t                        target;
    ngx_str_t                        json;

    /* the WebSocket frame header of either */
    u_char                           wshdr[NGX_HTTP_SECURECHAT_FRAME_MAX_HEADER];
    size_t                           wshdr_len;
} ngx_http_securechat_bus_msg_t;


/* a room's event as the rooms routes publish it */
typedef struct {
    ngx_http_securechat_room_event_e  event;
    ngx_str_t                         room;
    ngx_str_t                         user;     /* whom it is about */
    ngx_str_t                         by;       /* who did it */
    const char                       *role;     /* ROLE: the new one */
    ngx_str_t                         title;    /* TITLE: the new one */
} ngx_http_securechat_bus_event_t;


/*
 * A page of a room's history, for scrolling back (see bus_page()): the
 * caller sets room, before, limit and pool; the backend the rest.
 */
typedef struct {
    ngx_str_t                        room;
    uint64_t                         before;   /* room ids below it */
    ngx_uint_t                       limit;
    ngx_pool_t                      *pool;

    ngx_array_t                      msgs;     /* bus_msg_t, oldest first */
    ngx_uint_t                       more;     /* older ones are held */
    uint64_t                         lowest;   /* the first's room id */
} ngx_http_securechat_bus_page_t;


/* called once the message has an id (0: it could not be published) */
typedef void (*ngx_http_securechat_published_pt)(void *data, uint64_t id);


/*
 * A backend of the bus, as a table: the one inside nginx (the zone's
 * history and doorbells, ngx_http_securechat_bus_local.c) is the first;
 * one spanning several servers (Redis) is to come beside it.  What each
 * operation does is said at the calls below, which the rest of the module
 * uses; they go to the backend the configuration chose.
 */
typedef struct {
    const char  *name;

    ngx_int_t  (*init_process)(ngx_cycle_t *cycle);
    void       (*exit_process)(ngx_cycle_t *cycle);
    ngx_int_t  (*publish)(ngx_str_t *room, ngx_str_t *user, ngx_str_t *text,
                   ngx_http_securechat_published_pt published, void *data);
    ngx_int_t  (*event)(ngx_http_securechat_bus_event_t *ev);
    ngx_int_t  (*disconnect)(ngx_str_t *id, ngx_str_t *user,
                   ngx_uint_t code);
    void       (*disconnect_session)(const u_char *session, ngx_uint_t code);
    uint64_t   (*cursor)(void);
    ngx_int_t  (*fetch)(uint64_t id, ngx_http_securechat_bus_msg_t **msg);
    ngx_int_t  (*peek)(uint64_t id, ngx_http_securechat_bus_msg_t *msg);
    ngx_int_t  (*page)(ngx_http_securechat_bus_page_t *page);
    ngx_int_t  (*presence)(ngx_str_t *user, ngx_uint_t online);
    ngx_int_t  (*typing)(ngx_str_t *room, ngx_str_t *user);
} ngx_http_securechat_bus_ops_t;


/*
 * What a backend hands its entries and requests to: the worker's
 * WebSocket fan-out (ngx_http_securechat_ws_fanout.c) sets it, so that no
 * backend calls the WebSocket code by name.
 *   deliver: new entries of the history, in id order, at most
 *     NGX_HTTP_SECURECHAT_BUS_BATCH at once;
 *   kick_check: someone asked for sockets to be closed: see the zone;
 *   notice: a presence or typing notice, not kept for anyone later.
 */
typedef struct {
    void  (*deliver)(ngx_http_securechat_bus_msg_t *msgs, ngx_uint_t n);
    void  (*kick_check)(void);
    void  (*notice)(ngx_http_securechat_bus_notice_t *notice);
} ngx_http_securechat_bus_sink_t;


extern ngx_http_securechat_bus_ops_t          ngx_http_securechat_bus_local;
extern const ngx_http_securechat_bus_sink_t  *ngx_http_securechat_bus_sink;

void ngx_http_securechat_bus_set_sink(
    const ngx_http_securechat_bus_sink_t *sink);


/* the history bytes one entry takes, for messages of message_max bytes */
size_t ngx_http_securechat_bus_slot_size(size_t message_max);

ngx_int_t ngx_http_securechat_bus_init_process(ngx_cycle_t *cycle);
void ngx_http_securechat_bus_exit_process(ngx_cycle_t *cycle);

/*
 * Queues text (checked by the caller) from user to room (one the user may
 * post in: the caller checks) for sealing and broadcast, in order.
 * NGX_OK: published() will be called (when not NULL) with the message's
 * id in its room; NGX_BUSY: the queue is full, try later; NGX_ERROR.
 */
ngx_int_t ngx_http_securechat_bus_publish(ngx_str_t *room, ngx_str_t *user,
    ngx_str_t *text, ngx_http_securechat_published_pt published, void *data);

/*
 * Queues a room's event, in order with this worker's messages: the
 * room's members and the user it is about get it, and it changes what
 * they are delivered (see ngx_http_securechat_room_event_effect()).
 * NGX_OK, NGX_ERROR.
 */
ngx_int_t ngx_http_securechat_bus_event(ngx_http_securechat_bus_event_t *ev);

/*
 * A user's first socket opened (online 1) or last closed (0): a signed
 * presence notice to those who share a room with it (sealed in the
 * thread, as events are).  Typing: an unsigned notice to the room's
 * sockets, at once.  Neither is kept for a client that resumes.
 * NGX_OK, NGX_BUSY (presence: the queue is full), NGX_ERROR.
 */
ngx_int_t ngx_http_securechat_bus_presence(ngx_str_t *user,
    ngx_uint_t online);
ngx_int_t ngx_http_securechat_bus_typing(ngx_str_t *room, ngx_str_t *user);

/*
 * Closes client id of user with code, in whichever worker it lives:
 * NGX_OK, NGX_DECLINED (no such client), NGX_ABORT (not user's).
 */
ngx_int_t ngx_http_securechat_bus_disconnect(ngx_str_t *id, ngx_str_t *user,
    ngx_uint_t code);

/* closes every client of a session (logout) */
void ngx_http_securechat_bus_disconnect_session(const u_char *session,
    ngx_uint_t code);

/* the last id this worker has delivered */
uint64_t ngx_http_securechat_bus_cursor(void);

/*
 * One entry of the history, for a client catching up: NGX_OK,
 * NGX_DECLINED (gone), NGX_AGAIN.  msg is valid until the next call.
 */
ngx_int_t ngx_http_securechat_bus_fetch(uint64_t id,
    ngx_http_securechat_bus_msg_t **msg);

/*
 * Of an entry only its kind, room and room_id, for a client resuming to
 * find where to begin: as fetch(), into the caller's msg (the room is
 * valid until the next call).
 */
ngx_int_t ngx_http_securechat_bus_peek(uint64_t id,
    ngx_http_securechat_bus_msg_t *msg);

/*
 * The newest limit entries of a room below room id before, for scrolling
 * back past what delivery reaches: msgs oldest first, each valid for the
 * pool's life; more: older entries are held too; lowest: the room id of
 * the first one given, or, with none, the room's next id (or before, if
 * lower).  Ids below lowest that are not held are gone for good.  NGX_OK,
 * NGX_ERROR.  (A backend that must read a database will complete later;
 * this one answers at once.)
 */
ngx_int_t ngx_http_securechat_bus_page(ngx_http_securechat_bus_page_t *page);


#endif /* _NGX_HTTP_SECURECHAT_BUS_H_INCLUDED_ */
