
/*
 * Private to the WebSocket files: the per-socket state, the role a socket
 * plays on top of the transport (chat or the test-only echo), and what
 * the transport, the chat protocol and the fan-out call of one another.
 * Everything else uses ngx_http_securechat_ws.h.
 */

#ifndef _NGX_HTTP_SECURECHAT_WS_INT_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_WS_INT_H_INCLUDED_


#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_bus.h"
#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_frame.h"
#include "ngx_http_securechat_handshake.h"
#include "ngx_http_securechat_http.h"
#include "ngx_http_securechat_passwd.h"
#include "ngx_http_securechat_room.h"
#include "ngx_http_securechat_store.h"


typedef struct ngx_http_securechat_ws_s       ngx_http_securechat_ws_t;
typedef struct ngx_http_securechat_ws_role_s  ngx_http_securechat_ws_role_t;


/* a room with sockets in this worker: see ngx_http_securechat_ws_rooms.c */
typedef struct {
    ngx_str_node_t                       sn;       /* keyed by the name */
    ngx_queue_t                          sockets;  /* subscriptions */
    uint64_t                             bit;      /* in batch seq */
    ngx_uint_t                           seq;
    u_char                   name[NGX_HTTP_SECURECHAT_ROOM_NAME_MAX];
} ngx_http_securechat_ws_room_t;


/*
 * A socket gets a room: a link in the room's queue and in the socket's,
 * and the room's next id the socket is to get (0: whichever comes next),
 * which tells a gap in the room from the ids that come.  ends_at: the id
 * in the log of the event that takes the room from a socket that was
 * behind when the worker delivered it (0: none); its catch-up lets the
 * room go there.
 */
typedef struct {
    ngx_queue_t                          in_room;
    ngx_queue_t                          in_ws;
    ngx_http_securechat_ws_t            *ws;
    ngx_http_securechat_ws_room_t       *room;
    uint64_t                             next_id;
    uint64_t                             ends_at;
    ngx_msec_t                           typing_at;  /* the last relayed */
    unsigned                             typed:1;
    unsigned                             resumed:1;  /* next_id was asked */
    unsigned                             found:1;    /* while resuming */
} ngx_http_securechat_ws_sub_t;


/* a socket relays a typing frame per room at most this often (ms) */
#define NGX_HTTP_SECURECHAT_WS_TYPING_INTERVAL  3000


/* ?resume=ROOM:ID,...: a room's last id the client saw ("*": the others) */
typedef struct {
    ngx_str_t                            room;
    uint64_t                             id;
} ngx_http_securechat_ws_resume_t;


/*
 * What a role adds to the transport; a NULL hook is nothing to do.  The
 * transport knows nothing of sessions, the client table or the fan-out.
 */

struct ngx_http_securechat_ws_role_s {
    /* the upgrade is checked: a content handler's answer, NGX_DONE to go */
    ngx_int_t  (*start)(ngx_http_request_t *r, ngx_http_securechat_ws_t *ws,
                   ngx_http_securechat_ctx_t *ctx);

    /* the connection is ours (ws_takeover()) */
    void       (*attach)(ngx_http_securechat_ws_t *ws);

    /* a whole text or binary message from the client */
    void       (*message)(ngx_http_securechat_ws_t *ws, ngx_uint_t opcode,
                   const u_char *data, size_t len);

    /* silent for a ping interval: NGX_OK to ping, else the role closed */
    ngx_int_t  (*idle)(ngx_http_securechat_ws_t *ws);

    /* all queued bytes are out: may queue more; NGX_ERROR if it closed */
    ngx_int_t  (*drained)(ngx_http_securechat_ws_t *ws);

    /* our close frame is queued: nothing more is to be delivered */
    void       (*closing)(ngx_http_securechat_ws_t *ws);

    /* ws ends (before or after the takeover): give back what it holds */
    void       (*release)(ngx_http_securechat_ws_t *ws);
};


struct ngx_http_securechat_ws_s {
    ngx_connection_t                    *connection;
    ngx_http_request_t                  *request;  /* NULL once detached */
    ngx_pool_cleanup_t                  *cleanup;  /* in the request pool */
    ngx_http_securechat_main_conf_t     *smcf;
    ngx_http_securechat_ws_role_t       *role;
    ngx_queue_t                          queue;    /* the worker's clients */

    ngx_http_securechat_frame_parser_t   parser;
    u_char                              *msg;      /* while reading one */

    u_char                              *out;      /* while bytes wait */
    size_t                               out_pos;
    size_t                               out_len;
    size_t                               out_cap;

    u_char                              *early;    /* came with the head */
    size_t                               early_len;

    ngx_msec_t                           rate_time;
    ngx_uint_t                           rate_excess;  /* frames * 1000 */

    /* when the message being read began: see ws_message_time() */
    ngx_msec_t                           msg_start;

    /* the location's timeouts, still there after the request is gone */
    ngx_http_core_loc_conf_t            *clcf;
    time_t                               lingering_until;

    u_char                   accept[NGX_HTTP_SECURECHAT_WS_ACCEPT_LEN];

    /* ends the request after the current event: see ws_finish() */
    ngx_event_t                          finish;
    ngx_int_t                            finish_rc;

    /* a chat client's session ends: see ws_expire() */
    ngx_event_t                          expire;

    unsigned                             linked:1;
    unsigned                             closing:1;    /* close frame sent */
    unsigned                             ping_sent:1;
    unsigned                             finished:1;
    unsigned                             msg_started:1;
    unsigned                             attached:1;   /* in the fan-out */
    unsigned                             presence_first:1;

    /* a chat client */
    void                                *client;   /* the zone's node */
    struct ngx_http_securechat_hello_task_s  *hello;
    ngx_http_securechat_channel_t        channel;
    uint64_t                             next_id;  /* next message to send */
    ngx_queue_t                          rooms;    /* subscriptions */
    ngx_array_t                         *resume;   /* until attached */
    uint64_t                             mask;     /* in batch mask_seq */
    ngx_uint_t                           mask_seq;
    time_t                               expires;  /* of the session */
    ngx_str_t                            user;
    u_char                               user_data[NGX_HTTP_SECURECHAT_USER_MAX];
    u_char                               conn_id[NGX_HTTP_SECURECHAT_CONN_ID_LEN];
};


/* the roles: ngx_http_securechat_ws_chat.c, ngx_http_securechat_ws_echo.c */
extern ngx_http_securechat_ws_role_t  ngx_http_securechat_ws_chat_role;
extern ngx_http_securechat_ws_role_t  ngx_http_securechat_ws_echo_role;


/* the transport: ngx_http_securechat_ws.c */

/* the worker's output buffer, lent to a client while the fan-out builds */
extern u_char  *ngx_http_securechat_ws_scratch;
extern size_t   ngx_http_securechat_ws_scratch_size;

ngx_int_t ngx_http_securechat_ws_takeover(ngx_http_request_t *r,
    ngx_http_securechat_ws_t *ws);
void ngx_http_securechat_ws_finish(ngx_http_securechat_ws_t *ws,
    ngx_int_t rc);
u_char *ngx_http_securechat_ws_reserve(ngx_http_securechat_ws_t *ws,
    size_t n, size_t limit);
ngx_int_t ngx_http_securechat_ws_frame(ngx_http_securechat_ws_t *ws,
    ngx_uint_t opcode, const u_char *data, size_t len);
void ngx_http_securechat_ws_close(ngx_http_securechat_ws_t *ws,
    ngx_uint_t code, const char *reason);
void ngx_http_securechat_ws_flush(ngx_http_securechat_ws_t *ws);
void ngx_http_securechat_ws_drop_out(ngx_http_securechat_ws_t *ws);


/* the chat protocol: ngx_http_securechat_ws_chat.c */
ngx_int_t ngx_http_securechat_ws_chat_init_process(ngx_cycle_t *cycle,
    ngx_http_securechat_main_conf_t *smcf);
ngx_int_t ngx_http_securechat_ws_gap(ngx_http_securechat_ws_t *ws,
    ngx_str_t *room, uint64_t from, uint64_t to);


/* the fan-out to this worker's chat clients: ngx_http_securechat_ws_fanout.c */
ngx_int_t ngx_http_securechat_ws_fanout_init_process(ngx_cycle_t *cycle,
    ngx_http_securechat_main_conf_t *smcf);
ngx_int_t ngx_http_securechat_ws_fanout_join(ngx_http_securechat_ws_t *ws);
void ngx_http_securechat_ws_fanout_leave(ngx_http_securechat_ws_t *ws);
ngx_int_t ngx_http_securechat_ws_catch_up(ngx_http_securechat_ws_t *ws);


/* the sockets of each room: ngx_http_securechat_ws_rooms.c */
void ngx_http_securechat_ws_rooms_init(void);
ngx_http_securechat_ws_room_t *ngx_http_securechat_ws_rooms_find(
    ngx_str_t *name);
ngx_http_securechat_ws_sub_t *ngx_http_securechat_ws_rooms_subscribe(
    ngx_http_securechat_ws_t *ws, ngx_str_t *name);
ngx_http_securechat_ws_sub_t *ngx_http_securechat_ws_rooms_sub(
    ngx_http_securechat_ws_t *ws, ngx_str_t *name);
ngx_http_securechat_ws_sub_t *ngx_http_securechat_ws_rooms_sub_of(
    ngx_http_securechat_ws_t *ws, ngx_http_securechat_ws_room_t *room);
void ngx_http_securechat_ws_rooms_unsubscribe(ngx_http_securechat_ws_t *ws,
    ngx_str_t *name);
ngx_uint_t ngx_http_securechat_ws_rooms_subscribed(
    ngx_http_securechat_ws_t *ws, ngx_str_t *name);
void ngx_http_securechat_ws_rooms_release(ngx_http_securechat_ws_t *ws);


#endif /* _NGX_HTTP_SECURECHAT_WS_INT_H_INCLUDED_ */
