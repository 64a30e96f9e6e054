
/*
 * The transport: a WebSocket (RFC 6455) on nginx's own connection, under
 * a role that answers the handshake and is given each message (the chat
 * protocol or the test-only echo: ngx_http_securechat_ws_int.h).  This
 * file reads and writes the frames, pings, times out and closes.
 *
 * The handshake is an ordinary request answered with 101 through the
 * header filter; from then on the connection's read and write handlers
 * are ours (so that a graceful shutdown, which calls idle connections'
 * read handlers with c->close set, reaches us and we can say 1012), and
 * I/O goes through c->recv and c->send (plain or TLS alike).
 *
 * Once the 101 is out the request is freed (ws_detach()): its pool, the
 * header buffers and TLS's write buffer would otherwise stay allocated for
 * the life of the socket, which is most of an idle client's memory.  From
 * then on c->data is this structure, and the connection ends in
 * ws_close_connection(), after a lingering close of our own when a close
 * handshake was made.  The access log line is written at the detach.
 *
 * Memory per idle connection is this structure, the connection's own
 * small pool, and the socket: the message buffer exists only while a
 * message is being read, the output buffer only while bytes wait for the
 * socket.
 */

#include "ngx_http_securechat_module.h"

#include <openssl/crypto.h>

#include "ngx_http_securechat_frame.h"
#include "ngx_http_securechat_handshake.h"
#include "ngx_http_securechat_http.h"
#include "ngx_http_securechat_ws.h"
#include "ngx_http_securechat_ws_int.h"


#define NGX_HTTP_SECURECHAT_WS_RECV_SIZE   16384

/* control frames may exceed the send limit by this much */
#define NGX_HTTP_SECURECHAT_WS_SLACK       512


static void ngx_http_securechat_ws_detach(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_cleanup(void *data);
static void ngx_http_securechat_ws_release(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_finalize(ngx_event_t *ev);
static void ngx_http_securechat_ws_linger(ngx_connection_t *c);
static void ngx_http_securechat_ws_linger_read(ngx_event_t *rev);
static void ngx_http_securechat_ws_close_connection(ngx_connection_t *c);
static void ngx_http_securechat_ws_request_event(ngx_event_t *ev);
static void ngx_http_securechat_ws_event(ngx_event_t *ev);
static void ngx_http_securechat_ws_on_read(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_on_write(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_idle(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_read(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_input(ngx_http_securechat_ws_t *ws,
    u_char *data, size_t len);
static ngx_int_t ngx_http_securechat_ws_rate(ngx_http_securechat_ws_t *ws,
    ngx_uint_t frames);
static ngx_int_t ngx_http_securechat_ws_message_time(
    ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_read_timer(ngx_http_securechat_ws_t *ws);


/* per worker */
static u_char                          *ngx_http_securechat_ws_recv_buf;
u_char                                 *ngx_http_securechat_ws_scratch;
size_t                                  ngx_http_securechat_ws_scratch_size;


ngx_int_t
ngx_http_securechat_ws_init_process(ngx_cycle_t *cycle)
{
    ngx_http_securechat_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_securechat_module);

    /* the bus calls the fan-out even where no location speaks WebSocket */

    if (ngx_http_securechat_ws_fanout_init_process(cycle, smcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (smcf == NULL || smcf->handlers == 0) {
        return NGX_OK;
    }

    ngx_http_securechat_ws_recv_buf = ngx_palloc(cycle->pool,
                                         NGX_HTTP_SECURECHAT_WS_RECV_SIZE);

    ngx_http_securechat_ws_scratch_size = smcf->send_buffer
                                          + NGX_HTTP_SECURECHAT_WS_SLACK;
    ngx_http_securechat_ws_scratch = ngx_palloc(cycle->pool,
                                        ngx_http_securechat_ws_scratch_size);

    if (ngx_http_securechat_ws_recv_buf == NULL
        || ngx_http_securechat_ws_scratch == NULL)
    {
        return NGX_ERROR;
    }

    return ngx_http_securechat_ws_chat_init_process(cycle, smcf);
}


ngx_int_t
ngx_http_securechat_ws_handler(ngx_http_request_t *r, ngx_uint_t echo)
{
    ngx_int_t                         answer;
    ngx_pool_cleanup_t               *cln;
    ngx_http_securechat_ws_t         *ws;
    ngx_http_securechat_ctx_t        *ctx;
    ngx_http_securechat_main_conf_t  *smcf;
    u_char                            accept[NGX_HTTP_SECURECHAT_WS_ACCEPT_LEN];

    smcf = ngx_http_get_module_main_conf(r, ngx_http_securechat_module);

    ctx = ngx_http_securechat_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_securechat_handshake_check(r, ctx, !echo, accept, &answer)
        != NGX_OK)
    {
        return answer;
    }

    /* bytes after the request head are frames: a body cannot be told apart */

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "not_websocket", "an upgrade request has no body");
    }

    /* from the heap: it outlives the request, see ws_detach() */

    ws = ngx_calloc(sizeof(ngx_http_securechat_ws_t), r->connection->log);
    if (ws == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_free(ws);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_securechat_ws_cleanup;
    cln->data = ws;

    ws->connection = r->connection;
    ws->request = r;
    ws->cleanup = cln;
    ws->smcf = smcf;
    ws->role = echo ? &ngx_http_securechat_ws_echo_role
                    : &ngx_http_securechat_ws_chat_role;
    ws->rate_time = ngx_current_msec;
    ctx->ws = ws;

    ngx_memcpy(ws->accept, accept, NGX_HTTP_SECURECHAT_WS_ACCEPT_LEN);

    ngx_http_securechat_frame_parser_init(&ws->parser, NULL,
                                          smcf->ws_message_max);

    /* a chat client's 101 follows once the hello is built, in a thread */
    return ws->role->start(r, ws, ctx);
}


/*
 * The connection is ours from here on: our event handlers, our timers,
 * and the one request reference the caller took, released by ws_finish().
 */

ngx_int_t
ngx_http_securechat_ws_takeover(ngx_http_request_t *r,
    ngx_http_securechat_ws_t *ws)
{
    size_t                     n;
    ngx_buf_t                 *b;
    ngx_connection_t          *c;
    ngx_http_core_loc_conf_t  *clcf;

    c = r->connection;

    /* should the request end before the detach, nginx lingers for us */
    r->lingering_close = 1;

    c->read->handler = ngx_http_securechat_ws_request_event;
    c->write->handler = ngx_http_securechat_ws_request_event;
    c->idle = 1;
    c->log->action = "speaking WebSocket";

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ws->clcf = clcf;

    if (clcf->tcp_nodelay && ngx_tcp_nodelay(c) != NGX_OK) {
        ngx_http_securechat_ws_finish(ws, NGX_HTTP_CLOSE);
        return NGX_ERROR;
    }

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        /*
         * A write the socket refused is retried from wherever its bytes
         * are by then (moved out of the scratch buffer, or to the front
         * of the client's own): OpenSSL must not insist on the address.
         */
        SSL_set_mode(c->ssl->connection, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
#endif

    /* frames that came with the head: the header buffer goes at detach */

    b = r->header_in;
    n = b->last - b->pos;

    if (n) {
        ws->early = ngx_alloc(n, c->log);
        if (ws->early == NULL) {
            ngx_http_securechat_ws_finish(ws, NGX_HTTP_CLOSE);
            return NGX_ERROR;
        }

        ngx_memcpy(ws->early, b->pos, n);
        ws->early_len = n;
        b->pos = b->last;
    }

    if (ws->role->attach != NULL) {
        ws->role->attach(ws);
    }

    ngx_add_timer(c->read, ws->smcf->ping_interval);

    /* do the I/O from the event handlers: the hello, and any early frames */

    ngx_post_event(c->write, &ngx_posted_events);

    if (ws->early != NULL || c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }

    return NGX_OK;
}


/*
 * The 101 is out: the request is freed and the connection is ours alone.
 * What nginx keeps for a request (its pool, the header buffers, TLS's
 * write buffer) would otherwise be held for as long as the client stays,
 * which is most of an idle WebSocket's memory.  Called from our own event
 * handlers only, never under nginx's request code, which would read the
 * request from c->data after us.
 */

static void
ngx_http_securechat_ws_detach(ngx_http_securechat_ws_t *ws)
{
    ngx_chain_t            *cl;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_connection_t  *hc;

    r = ws->request;
    c = ws->connection;
    hc = r->http_connection;

    /* the request's pool no longer owns ws */
    ws->cleanup->handler = NULL;
    ws->cleanup = NULL;
    ws->request = NULL;

    /* writes the access log line (status 101) and frees the pool */
    ngx_http_free_request(r, 0);

    c->data = ws;
    c->destroyed = 0;
    c->log->action = "speaking WebSocket";

    c->read->handler = ngx_http_securechat_ws_event;
    c->write->handler = ngx_http_securechat_ws_event;

    /* no HTTP request follows on this connection: as for a keepalive one */

    if (c->buffer != NULL && ngx_pfree(c->pool, c->buffer->start) == NGX_OK) {
        c->buffer->start = c->buffer->pos = c->buffer->last = NULL;
        c->buffer->end = NULL;
    }

    for (cl = hc->busy; cl; cl = cl->next) {
        (void) ngx_pfree(c->pool, cl->buf->start);
    }

    for (cl = hc->free; cl; cl = cl->next) {
        (void) ngx_pfree(c->pool, cl->buf->start);
    }

    hc->busy = NULL;
    hc->free = NULL;
    hc->nbusy = 0;

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        /* only send_chain uses it: our frames go through c->send */
        ngx_ssl_free_buffer(c);
    }
#endif
}


/* ws ends: with the request's pool before the detach, or the connection */

static void
ngx_http_securechat_ws_cleanup(void *data)
{
    ngx_http_securechat_ws_t  *ws = data;

    if (ws->finish.timer_set) {
        ngx_del_timer(&ws->finish);
    }

    ngx_http_securechat_ws_release(ws);
    ngx_free(ws);
}


/* frees what it holds; the role gives back its own (fan-out, zone table) */

static void
ngx_http_securechat_ws_release(ngx_http_securechat_ws_t *ws)
{
    if (ws->role->release != NULL) {
        ws->role->release(ws);
    }

    if (ws->msg != NULL) {
        ngx_free(ws->msg);
        ws->msg = NULL;
    }

    if (ws->early != NULL) {
        ngx_free(ws->early);
        ws->early = NULL;
    }

    ngx_http_securechat_ws_drop_out(ws);
}


/*
 * The one place the connection starts to end: NGX_DONE after a close
 * handshake (a lingering close lets our last frame reach the client),
 * NGX_HTTP_CLOSE when the connection is dead.  The rest happens in an
 * event after the current one: the callers up the stack (a read loop, a
 * delivery pass) may still look at ws->finished, so ws must outlive them.
 */

void
ngx_http_securechat_ws_finish(ngx_http_securechat_ws_t *ws, ngx_int_t rc)
{
    ngx_connection_t  *c;

    if (ws->finished) {
        return;
    }

    ws->finished = 1;

    c = ws->connection;

    ngx_http_securechat_ws_release(ws);

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->idle = 0;

    ws->finish_rc = rc;
    ws->finish.handler = ngx_http_securechat_ws_finalize;
    ws->finish.data = ws;
    ws->finish.log = c->log;

    /*
     * A timer, not a posted event: an exiting worker leaves once no timer
     * is pending, and posted events would run only after that check.
     */

    ngx_add_timer(&ws->finish, 0);
}


static void
ngx_http_securechat_ws_finalize(ngx_event_t *ev)
{
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_securechat_ws_t  *ws;

    ws = ev->data;
    c = ws->connection;
    r = ws->request;

    if (r != NULL) {
        /* not detached yet: the request ends as any other does */
        ngx_http_set_log_request(c->log, r);

        ngx_http_finalize_request(r, ws->finish_rc);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (ws->finish_rc == NGX_DONE) {
        ngx_http_securechat_ws_linger(c);
        return;
    }

    ngx_http_securechat_ws_close_connection(c);
}


/*
 * After a close handshake: our side is shut for writing, and what the
 * client still sends is read and dropped, for lingering_timeout at a time
 * and lingering_time in all, so that closing does not reset the
 * connection before the client has read our close frame.
 */

static void
ngx_http_securechat_ws_linger(ngx_connection_t *c)
{
    ngx_event_t               *rev, *wev;
    ngx_http_securechat_ws_t  *ws;

    ws = c->data;
    rev = c->read;
    wev = c->write;

    if (ws->lingering_until == 0) {
        ws->lingering_until = ngx_time()
                              + (time_t) (ws->clcf->lingering_time / 1000);
    }

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        ngx_int_t  rc;

        c->ssl->shutdown_without_free = 1;

        rc = ngx_ssl_shutdown(c);

        if (rc == NGX_ERROR) {
            ngx_http_securechat_ws_close_connection(c);
            return;
        }

        if (rc == NGX_AGAIN) {
            c->ssl->handler = ngx_http_securechat_ws_linger;
            return;
        }
    }
#endif

    rev->handler = ngx_http_securechat_ws_linger_read;
    wev->handler = ngx_http_empty_handler;

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_securechat_ws_close_connection(c);
        return;
    }

    if (wev->active && (ngx_event_flags & NGX_USE_LEVEL_EVENT)) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            ngx_http_securechat_ws_close_connection(c);
            return;
        }
    }

    if (ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN) == -1) {
        ngx_connection_error(c, ngx_socket_errno,
                             ngx_shutdown_socket_n " failed");
        ngx_http_securechat_ws_close_connection(c);
        return;
    }

    ngx_add_timer(rev, ws->clcf->lingering_timeout);

    if (rev->ready) {
        ngx_http_securechat_ws_linger_read(rev);
    }
}


static void
ngx_http_securechat_ws_linger_read(ngx_event_t *rev)
{
    ssize_t                    n;
    ngx_msec_t                 timer;
    ngx_connection_t          *c;
    ngx_http_securechat_ws_t  *ws;

    c = rev->data;
    ws = c->data;

    if (rev->timedout || c->close) {
        ngx_http_securechat_ws_close_connection(c);
        return;
    }

    timer = (ngx_msec_t) (ws->lingering_until - ngx_time());

    if ((ngx_msec_int_t) timer <= 0) {
        ngx_http_securechat_ws_close_connection(c);
        return;
    }

    do {
        n = c->recv(c, ngx_http_securechat_ws_recv_buf,
                    NGX_HTTP_SECURECHAT_WS_RECV_SIZE);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_securechat_ws_close_connection(c);
            return;
        }

    } while (rev->ready);

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_securechat_ws_close_connection(c);
        return;
    }

    ngx_add_timer(rev, ngx_min(timer * 1000, ws->clcf->lingering_timeout));
}


/* the end of a detached connection */

static void
ngx_http_securechat_ws_close_connection(ngx_connection_t *c)
{
    ngx_http_securechat_ws_t  *ws;

    ws = c->data;

    /* what the request pool's cleanup would have done, had it stayed */
    ngx_http_securechat_ws_cleanup(ws);

    c->data = NULL;

    ngx_http_close_connection(c);
}


/* until ws_detach(), c->data is the request: nginx's own code reads it */

static void
ngx_http_securechat_ws_request_event(ngx_event_t *ev)
{
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_securechat_ctx_t  *ctx;

    c = ev->data;
    r = c->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);

    ngx_http_set_log_request(c->log, r);

    if (ev->write) {
        ngx_http_securechat_ws_on_write(ctx->ws);

    } else {
        ngx_http_securechat_ws_on_read(ctx->ws);
    }
}


/* after it, c->data is the WebSocket */

static void
ngx_http_securechat_ws_event(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    if (ev->write) {
        ngx_http_securechat_ws_on_write(c->data);

    } else {
        ngx_http_securechat_ws_on_read(c->data);
    }
}


static void
ngx_http_securechat_ws_on_read(ngx_http_securechat_ws_t *ws)
{
    ngx_connection_t  *c;

    c = ws->connection;

    if (ws->finished) {
        /* the connection ends in the finish event */
        return;
    }

    if (c->close) {
        /* nginx is reloading or shutting down */
        c->close = 0;
        ngx_http_securechat_ws_close(ws, NGX_HTTP_SECURECHAT_WS_RESTART,
                                     "server restarting");
        return;
    }

    if (c->read->timedout) {
        c->read->timedout = 0;
        ngx_http_securechat_ws_idle(ws);
        return;
    }

    ngx_http_securechat_ws_read(ws);
}


static void
ngx_http_securechat_ws_on_write(ngx_http_securechat_ws_t *ws)
{
    ngx_connection_t  *c;

    c = ws->connection;

    if (ws->finished) {
        return;
    }

    if (c->write->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "securechat: client timed out reading");
        c->timedout = 1;
        ngx_http_securechat_ws_finish(ws, NGX_HTTP_CLOSE);
        return;
    }

    ngx_http_securechat_ws_flush(ws);
}


/* nothing heard for a ping interval */

static void
ngx_http_securechat_ws_idle(ngx_http_securechat_ws_t *ws)
{
    ngx_connection_t  *c;

    c = ws->connection;

    /* before the ping's check: the timer may be the message's bound */

    if (!ws->closing && ngx_http_securechat_ws_message_time(ws) != NGX_OK) {
        return;
    }

    if (ws->closing || ws->ping_sent) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      ws->closing ? "securechat: client did not close"
                                  : "securechat: client did not answer a ping");
        ngx_http_securechat_ws_finish(ws, NGX_HTTP_CLOSE);
        return;
    }

    if (ws->role->idle != NULL && ws->role->idle(ws) != NGX_OK) {
        return;
    }

    if (ngx_http_securechat_ws_frame(ws, NGX_HTTP_SECURECHAT_WS_PING,
                                     NULL, 0)
        != NGX_OK)
    {
        return;
    }

    ws->ping_sent = 1;
    ngx_http_securechat_ws_read_timer(ws);

    ngx_http_securechat_ws_flush(ws);
}


static void
ngx_http_securechat_ws_read(ngx_http_securechat_ws_t *ws)
{
    u_char            *p;
    ssize_t            n;
    ngx_connection_t  *c;

    c = ws->connection;

    /* frames that came with the handshake */

    if (ws->early != NULL) {
        p = ws->early;
        ws->early = NULL;

        ngx_http_securechat_ws_input(ws, p, ws->early_len);
        ngx_free(p);

        if (ws->finished) {
            return;
        }
    }

    while (!ws->closing) {

        n = c->recv(c, ngx_http_securechat_ws_recv_buf,
                    NGX_HTTP_SECURECHAT_WS_RECV_SIZE);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "securechat: client closed the connection "
                          "without a close frame");
            ngx_http_securechat_ws_finish(ws, NGX_HTTP_CLOSE);
            return;
        }

        ngx_http_securechat_ws_input(ws, ngx_http_securechat_ws_recv_buf, n);

        if (ws->finished) {
            return;
        }
    }

    if (ws->closing) {
        /* after our close frame nothing is read: the lingering close will */
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_securechat_ws_finish(ws, NGX_HTTP_CLOSE);
        return;
    }

    ngx_http_securechat_ws_read_timer(ws);
}


/*
 * Silence for a ping interval gets a ping; a message begun is also given
 * until its time bound, whichever comes first.
 */

static void
ngx_http_securechat_ws_read_timer(ngx_http_securechat_ws_t *ws)
{
    ngx_msec_t  timer, spent, bound;

    timer = ws->smcf->ping_interval;

    if (ws->msg_started) {
        spent = ngx_current_msec - ws->msg_start;
        bound = ws->smcf->ws_message_timeout;

        timer = ngx_min(timer, (spent < bound) ? bound - spent : 0);
    }

    ngx_add_timer(ws->connection->read, timer);
}


static void
ngx_http_securechat_ws_input(ngx_http_securechat_ws_t *ws, u_char *data,
    size_t len)
{
    int                                 rc;
    size_t                              used;
    ngx_uint_t                          frames;
    ngx_http_securechat_frame_event_t   ev;

    ws->ping_sent = 0;

    while (len && !ws->closing) {

        if (ws->msg == NULL) {
            ws->msg = ngx_alloc(ws->smcf->ws_message_max,
                                ws->connection->log);
            if (ws->msg == NULL) {
                ngx_http_securechat_ws_close(ws,
                                       NGX_HTTP_SECURECHAT_WS_INTERNAL_ERROR,
                                       "out of memory");
                break;
            }
        }

        ws->parser.buf = ws->msg;

        rc = ngx_http_securechat_frame_parse(&ws->parser, data, len, &used,
                                             &ev);
        data += used;
        len -= used;

        /*
         * Every frame counts against the rate, fragments and control
         * frames alike, even when it ends no event; a close or a broken
         * frame ends the connection anyway.
         */

        frames = ws->parser.frames;
        ws->parser.frames = 0;

        if (frames
            && rc != NGX_HTTP_SECURECHAT_FRAME_CLOSE
            && rc != NGX_HTTP_SECURECHAT_FRAME_ERROR
            && ngx_http_securechat_ws_rate(ws, frames) != NGX_OK)
        {
            break;
        }

        switch (rc) {

        case NGX_HTTP_SECURECHAT_FRAME_TEXT:
        case NGX_HTTP_SECURECHAT_FRAME_BINARY:
            ws->role->message(ws, rc == NGX_HTTP_SECURECHAT_FRAME_TEXT
                                  ? NGX_HTTP_SECURECHAT_WS_TEXT
                                  : NGX_HTTP_SECURECHAT_WS_BINARY,
                              ev.data, ev.len);
            break;

        case NGX_HTTP_SECURECHAT_FRAME_PING:
            (void) ngx_http_securechat_ws_frame(ws,
                                                NGX_HTTP_SECURECHAT_WS_PONG,
                                                ev.data, ev.len);
            break;

        case NGX_HTTP_SECURECHAT_FRAME_CLOSE:
            /* echo the client's code; an empty close gets an empty one */
            ngx_http_securechat_ws_close(ws, ev.code, NULL);
            break;

        case NGX_HTTP_SECURECHAT_FRAME_ERROR:
            ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                          "securechat: bad frame from client, closing "
                          "with %ui", (ngx_uint_t) ev.code);
            ngx_http_securechat_ws_close(ws, ev.code, NULL);
            break;

        default:
            /* PONG: counted above; AGAIN: all used; DONE: not yet */
            break;
        }
    }

    if (ws->finished) {
        return;
    }

    if (!ws->closing) {
        (void) ngx_http_securechat_ws_message_time(ws);
    }

    if (ws->msg != NULL && !ngx_http_securechat_frame_parser_busy(&ws->parser))
    {
        ngx_free(ws->msg);
        ws->msg = NULL;
    }

    ngx_http_securechat_ws_flush(ws);
}


/*
 * A message begun (a frame or a fragment of it read) must end within
 * ws_message_timeout, or the size limit alone would let a client hold
 * its buffer for ever with a byte now and then.  NGX_ERROR: closed.
 */

static ngx_int_t
ngx_http_securechat_ws_message_time(ngx_http_securechat_ws_t *ws)
{
    if (!ngx_http_securechat_frame_parser_busy(&ws->parser)) {
        ws->msg_started = 0;
        return NGX_OK;
    }

    if (!ws->msg_started) {
        ws->msg_started = 1;
        ws->msg_start = ngx_current_msec;
        return NGX_OK;
    }

    if (ngx_current_msec - ws->msg_start < ws->smcf->ws_message_timeout) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "securechat: client did not finish a message in time");

    ngx_http_securechat_ws_close(ws, NGX_HTTP_SECURECHAT_WS_POLICY,
                                 "message too slow");

    return NGX_ERROR;
}


/*
 * The flood limit: a leaky bucket of ws_frame_rate frames a second with
 * a burst of twice that, counted in thousandths of a frame like
 * limit_req.
 */

static ngx_int_t
ngx_http_securechat_ws_rate(ngx_http_securechat_ws_t *ws, ngx_uint_t frames)
{
    ngx_msec_t  now, ms;
    ngx_uint_t  rate, leaked;

    rate = ws->smcf->ws_frame_rate;
    now = ngx_current_msec;
    ms = now - ws->rate_time;
    ws->rate_time = now;

    leaked = rate * ms;

    ws->rate_excess = (ws->rate_excess > leaked) ? ws->rate_excess - leaked
                                                 : 0;
    ws->rate_excess += frames * 1000;

    if (ws->rate_excess > rate * 2 * 1000) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "securechat: client sends frames too fast");
        ngx_http_securechat_ws_close(ws, NGX_HTTP_SECURECHAT_WS_POLICY,
                                     "too many frames");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * n bytes at the end of the output, within limit; NULL if that would
 * pass it (the caller decides what that means) or memory ran out.
 */

u_char *
ngx_http_securechat_ws_reserve(ngx_http_securechat_ws_t *ws, size_t n,
    size_t limit)
{
    u_char  *out;
    size_t   pending, cap;

    pending = ws->out_len - ws->out_pos;

    if (pending + n > limit) {
        return NULL;
    }

    if (ws->out_len + n <= ws->out_cap) {
        return ws->out + ws->out_len;
    }

    if (pending + n <= ws->out_cap) {
        ngx_memmove(ws->out, ws->out + ws->out_pos, pending);
        ws->out_pos = 0;
        ws->out_len = pending;
        return ws->out + ws->out_len;
    }

    cap = ngx_max(ws->out_cap * 2, 4096);
    cap = ngx_max(cap, pending + n);

    out = ngx_alloc(cap, ws->connection->log);
    if (out == NULL) {
        return NULL;
    }

    if (ws->out != NULL) {
        ngx_memcpy(out, ws->out + ws->out_pos, pending);
        ngx_http_securechat_ws_drop_out(ws);
    }

    ws->out = out;
    ws->out_cap = cap;
    ws->out_pos = 0;
    ws->out_len = pending;

    return ws->out + ws->out_len;
}


/* a frame of our own (echo, pong, ping, a notice), queued for sending */

ngx_int_t
ngx_http_securechat_ws_frame(ngx_http_securechat_ws_t *ws, ngx_uint_t opcode,
    const u_char *data, size_t len)
{
    u_char  *p;

    p = ngx_http_securechat_ws_reserve(ws,
                                       NGX_HTTP_SECURECHAT_FRAME_MAX_HEADER
                                       + len,
                                       ws->smcf->send_buffer
                                       + NGX_HTTP_SECURECHAT_WS_SLACK);
    if (p == NULL) {
        ngx_http_securechat_ws_close(ws, NGX_HTTP_SECURECHAT_WS_POLICY,
                                     "too slow: send queue full");
        return NGX_ERROR;
    }

    p += ngx_http_securechat_frame_header(p, opcode, 1, len);

    if (len) {
        p = ngx_cpymem(p, data, len);
    }

    ws->out_len = p - ws->out;

    return NGX_OK;
}


/*
 * Queues a close frame (code 0: an empty body) and stops reading; the
 * connection ends once it is sent.
 */

void
ngx_http_securechat_ws_close(ngx_http_securechat_ws_t *ws, ngx_uint_t code,
    const char *reason)
{
    u_char  *p;
    size_t   len;
    u_char   body[NGX_HTTP_SECURECHAT_FRAME_MAX_CONTROL];

    if (ws->closing || ws->finished) {
        return;
    }

    ws->closing = 1;

    len = ngx_http_securechat_frame_close_body(body, code,
                                 (const u_char *) reason,
                                 reason ? ngx_strlen(reason) : 0);

    p = ngx_http_securechat_ws_reserve(ws,
                                       NGX_HTTP_SECURECHAT_FRAME_MAX_HEADER
                                       + len, (size_t) -1);
    if (p == NULL) {
        ngx_http_securechat_ws_finish(ws, NGX_HTTP_CLOSE);
        return;
    }

    p += ngx_http_securechat_frame_header(p, NGX_HTTP_SECURECHAT_WS_CLOSE, 1,
                                          len);
    p = ngx_cpymem(p, body, len);
    ws->out_len = p - ws->out;

    /* a client that never reads it is dropped after the send timeout */

    if (ws->role->closing != NULL) {
        ws->role->closing(ws);
    }

    ngx_http_securechat_ws_flush(ws);
}


/*
 * Writes what is queued; when all is out, ends a closing connection or
 * lets a client that is catching up read more of the history.
 */

void
ngx_http_securechat_ws_flush(ngx_http_securechat_ws_t *ws)
{
    ssize_t              n;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    c = ws->connection;

    if (ws->finished) {
        return;
    }

    r = ws->request;

    if (r != NULL) {

        /* the 101 itself, if the socket (or TLS's buffer) still holds it */

        if (r->out != NULL || c->buffered) {
            if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
                ngx_http_securechat_ws_finish(ws, NGX_HTTP_CLOSE);
                return;
            }

            if (r->out != NULL || c->buffered) {
                goto again;
            }
        }

        ngx_http_securechat_ws_detach(ws);
    }

    for ( ;; ) {

        while (ws->out_pos < ws->out_len) {
            n = c->send(c, ws->out + ws->out_pos, ws->out_len - ws->out_pos);

            if (n == NGX_ERROR) {
                c->error = 1;
                ngx_http_securechat_ws_finish(ws, NGX_HTTP_CLOSE);
                return;
            }

            if (n == NGX_AGAIN) {
                goto again;
            }

            ws->out_pos += n;
        }

        ngx_http_securechat_ws_drop_out(ws);

        if (c->write->timer_set) {
            ngx_del_timer(c->write);
        }

        if (ws->closing) {
            ngx_http_securechat_ws_finish(ws, NGX_DONE);
            return;
        }

        if (ws->role->drained == NULL
            || ws->role->drained(ws) != NGX_OK
            || ws->out_len == 0)
        {
            return;
        }
    }

again:

    ngx_add_timer(c->write, ws->clcf->send_timeout);

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_http_securechat_ws_finish(ws, NGX_HTTP_CLOSE);
    }
}


/* no more output buffer: the client's own is freed, the scratch kept */

void
ngx_http_securechat_ws_drop_out(ngx_http_securechat_ws_t *ws)
{
    if (ws->out != NULL && ws->out != ngx_http_securechat_ws_scratch) {
        ngx_free(ws->out);
    }

    ws->out = NULL;
    ws->out_pos = ws->out_len = ws->out_cap = 0;
}
