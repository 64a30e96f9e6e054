
/*
 * The bus's calls, sent to the backend the configuration chose: for now
 * always the one inside nginx (ngx_http_securechat_bus_local.c); the Redis
 * backend is chosen by its directive when it comes.
 */

#include "ngx_http_securechat_module.h"

#include "ngx_http_securechat_bus.h"


static ngx_http_securechat_bus_ops_t  *ngx_http_securechat_bus_ops
    = &ngx_http_securechat_bus_local;


static void
ngx_http_securechat_bus_no_deliver(ngx_http_securechat_bus_msg_t *msgs,
    ngx_uint_t n)
{
}


static void
ngx_http_securechat_bus_no_kick_check(void)
{
}


static void
ngx_http_securechat_bus_no_notice(ngx_http_securechat_bus_notice_t *notice)
{
}


/* until the fan-out is there (and in a process without one): nothing */
static const ngx_http_securechat_bus_sink_t  ngx_http_securechat_bus_no_sink
    = { ngx_http_securechat_bus_no_deliver,
        ngx_http_securechat_bus_no_kick_check,
        ngx_http_securechat_bus_no_notice };

const ngx_http_securechat_bus_sink_t  *ngx_http_securechat_bus_sink
    = &ngx_http_securechat_bus_no_sink;


void
ngx_http_securechat_bus_set_sink(const ngx_http_securechat_bus_sink_t *sink)
{
    ngx_http_securechat_bus_sink = sink ? sink
                                        : &ngx_http_securechat_bus_no_sink;
}


ngx_int_t
ngx_http_securechat_bus_init_process(ngx_cycle_t *cycle)
{
    return ngx_http_securechat_bus_ops->init_process(cycle);
}


void
ngx_http_securechat_bus_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_securechat_bus_ops->exit_process(cycle);
}


ngx_int_t
ngx_http_securechat_bus_publish(ngx_str_t *room, ngx_str_t *user,
    ngx_str_t *text, ngx_http_securechat_published_pt published, void *data)
{
    return ngx_http_securechat_bus_ops->publish(room, user, text, published,
                                                data);
}


ngx_int_t
ngx_http_securechat_bus_event(ngx_http_securechat_bus_event_t *ev)
{
    return ngx_http_securechat_bus_ops->event(ev);
}


ngx_int_t
ngx_http_securechat_bus_disconnect(ngx_str_t *id, ngx_str_t *user,
    ngx_uint_t code)
{
    return ngx_http_securechat_bus_ops->disconnect(id, user, code);
}


void
ngx_http_securechat_bus_disconnect_session(const u_char *session,
    ngx_uint_t code)
{
    ngx_http_securechat_bus_ops->disconnect_session(session, code);
}


uint64_t
ngx_http_securechat_bus_cursor(void)
{
    return ngx_http_securechat_bus_ops->cursor();
}


ngx_int_t
ngx_http_securechat_bus_fetch(uint64_t id, ngx_http_securechat_bus_msg_t **msg)
{
    return ngx_http_securechat_bus_ops->fetch(id, msg);
}


ngx_int_t
ngx_http_securechat_bus_peek(uint64_t id, ngx_http_securechat_bus_msg_t *msg)
{
    return ngx_http_securechat_bus_ops->peek(id, msg);
}


ngx_int_t
ngx_http_securechat_bus_page(ngx_http_securechat_bus_page_t *page)
{
    return ngx_http_securechat_bus_ops->page(page);
}


ngx_int_t
ngx_http_securechat_bus_presence(ngx_str_t *user, ngx_uint_t online)
{
    return ngx_http_securechat_bus_ops->presence(user, online);
}


ngx_int_t
ngx_http_securechat_bus_typing(ngx_str_t *room, ngx_str_t *user)
{
    return ngx_http_securechat_bus_ops->typing(room, user);
}
