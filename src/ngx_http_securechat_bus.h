
/*
 * The message bus: how an accepted message becomes a sealed envelope in
 * the shared history, and how every worker learns of it and hands it to
 * its WebSocket clients.  Three operations, so that a bus spanning several
 * servers can replace this one: publish, deliver, disconnect a client.
 */

#ifndef _NGX_HTTP_SECURECHAT_BUS_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_BUS_H_INCLUDED_


#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_frame.h"


/* a published message as a worker delivers it */
typedef struct {
    uint64_t                         id;
    ngx_uint_t                       gone;     /* dropped from the history */
    ngx_http_securechat_envelope_t   env;      /* prefix and CEK */
    u_char                           wshdr[NGX_HTTP_SECURECHAT_FRAME_MAX_HEADER];
    size_t                           wshdr_len;
} ngx_http_securechat_bus_msg_t;


/* called once the message has an id (0: it could not be published) */
typedef void (*ngx_http_securechat_published_pt)(void *data, uint64_t id);


/* the history bytes one sealed message of message_max bytes takes */
size_t ngx_http_securechat_bus_slot_size(size_t message_max);

ngx_int_t ngx_http_securechat_bus_init_process(ngx_cycle_t *cycle);
void ngx_http_securechat_bus_exit_process(ngx_cycle_t *cycle);

/*
 * Queues text (checked by the caller) from user for sealing and
 * broadcast, in order.  NGX_OK: published() will be called (when not
 * NULL); NGX_BUSY: the queue is full, try later; NGX_ERROR.
 */
ngx_int_t ngx_http_securechat_bus_publish(ngx_str_t *user, ngx_str_t *text,
    ngx_http_securechat_published_pt published, void *data);

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
 * One message from the history, for a client catching up: NGX_OK,
 * NGX_DECLINED (gone), NGX_AGAIN.  msg is valid until the next call.
 */
ngx_int_t ngx_http_securechat_bus_fetch(uint64_t id,
    ngx_http_securechat_bus_msg_t **msg);


#endif /* _NGX_HTTP_SECURECHAT_BUS_H_INCLUDED_ */
