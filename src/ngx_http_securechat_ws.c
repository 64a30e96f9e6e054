
/*
 * A WebSocket on nginx's own connection.  The handshake is an ordinary
 * request answered with 101 through the header filter; from then on the
 * connection's read and write handlers are ours (so that a graceful
 * shutdown, which calls idle connections' read handlers with c->close
 * set, reaches us and we can say 1012), and I/O goes through c->recv and
 * c->send (plain or TLS alike).
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
#include <openssl/rand.h>
#include <jansson.h>

#include "ngx_http_securechat_bus.h"
#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_frame.h"
#include "ngx_http_securechat_handshake.h"
#include "ngx_http_securechat_http.h"
#include "ngx_http_securechat_store.h"
#include "ngx_http_securechat_token.h"
#include "ngx_http_securechat_utf8.h"
#include "ngx_http_securechat_ws.h"


#define NGX_HTTP_SECURECHAT_WS_RECV_SIZE   16384

/* control frames may exceed the send limit by this much */
#define NGX_HTTP_SECURECHAT_WS_SLACK       512

/* a client catching up reads the history while its queue is below half */
#define NGX_HTTP_SECURECHAT_WS_CATCH_UP(smcf)  ((smcf)->send_buffer / 2)

#define NGX_HTTP_SECURECHAT_WS_NOTICE_MAX  256

/* a session's end further than this is waited for in steps of it */
#define NGX_HTTP_SECURECHAT_WS_EXPIRE_STEP  (24 * 60 * 60 * 1000)


typedef struct {
    ngx_connection_t                    *connection;
    ngx_http_request_t                  *request;  /* NULL once detached */
    ngx_pool_cleanup_t                  *cleanup;  /* in the request pool */
    ngx_http_securechat_main_conf_t     *smcf;
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

    unsigned                             echo:1;
    unsigned                             linked:1;
    unsigned                             closing:1;    /* close frame sent */
    unsigned                             ping_sent:1;
    unsigned                             finished:1;
    unsigned                             msg_started:1;

    /* a chat client */
    void                                *client;   /* the zone's node */
    struct ngx_http_securechat_hello_task_s  *hello;
    ngx_http_securechat_channel_t        channel;
    uint64_t                             next_id;  /* next message to send */
    time_t                               expires;  /* of the session */
    ngx_str_t                            user;
    u_char                               user_data[NGX_HTTP_SECURECHAT_USER_MAX];
    u_char                               conn_id[NGX_HTTP_SECURECHAT_CONN_ID_LEN];
} ngx_http_securechat_ws_t;


/* the hello, built in a thread: an RSA encryption and a signature */
typedef struct ngx_http_securechat_hello_task_s {
    ngx_http_securechat_ws_t            *ws;
    ngx_http_securechat_hello_in_t       in;
    int                                  rc;
    size_t                               len;
    u_char                               frame[NGX_HTTP_SECURECHAT_HELLO_MAX];
} ngx_http_securechat_hello_task_t;


static ngx_int_t ngx_http_securechat_ws_join(ngx_http_request_t *r,
    ngx_http_securechat_ws_t *ws, ngx_http_securechat_ctx_t *ctx);
static ngx_int_t ngx_http_securechat_ws_resume_from(ngx_http_request_t *r,
    ngx_http_securechat_ws_t *ws, ngx_int_t *answer);
static void ngx_http_securechat_ws_hello_thread(void *data, ngx_log_t *log);
static void ngx_http_securechat_ws_hello_done(ngx_event_t *ev);
static void ngx_http_securechat_ws_hello_finish(ngx_http_request_t *r);
static ngx_int_t ngx_http_securechat_ws_takeover(ngx_http_request_t *r,
    ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_detach(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_cleanup(void *data);
static void ngx_http_securechat_ws_release(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_finish(ngx_http_securechat_ws_t *ws,
    ngx_int_t rc);
static void ngx_http_securechat_ws_finalize(ngx_event_t *ev);
static void ngx_http_securechat_ws_linger(ngx_connection_t *c);
static void ngx_http_securechat_ws_linger_read(ngx_event_t *rev);
static void ngx_http_securechat_ws_close_connection(ngx_connection_t *c);
static void ngx_http_securechat_ws_request_event(ngx_event_t *ev);
static void ngx_http_securechat_ws_event(ngx_event_t *ev);
static void ngx_http_securechat_ws_on_read(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_on_write(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_idle(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_expire_timer(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_expire(ngx_event_t *ev);
static void ngx_http_securechat_ws_read(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_input(ngx_http_securechat_ws_t *ws,
    u_char *data, size_t len);
static ngx_int_t ngx_http_securechat_ws_rate(ngx_http_securechat_ws_t *ws,
    ngx_uint_t frames);
static ngx_int_t ngx_http_securechat_ws_message_time(
    ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_read_timer(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_chat(ngx_http_securechat_ws_t *ws,
    const u_char *frame, size_t len);
static u_char *ngx_http_securechat_ws_reserve(ngx_http_securechat_ws_t *ws,
    size_t n, size_t limit);
static ngx_int_t ngx_http_securechat_ws_frame(ngx_http_securechat_ws_t *ws,
    ngx_uint_t opcode, const u_char *data, size_t len);
static ngx_int_t ngx_http_securechat_ws_message(ngx_http_securechat_ws_t *ws,
    ngx_http_securechat_bus_msg_t *msg);
static void ngx_http_securechat_ws_notice(ngx_http_securechat_ws_t *ws,
    const char *code, const char *message);
static ngx_int_t ngx_http_securechat_ws_gap(ngx_http_securechat_ws_t *ws,
    uint64_t from, uint64_t to);
static ngx_int_t ngx_http_securechat_ws_json(ngx_http_securechat_ws_t *ws,
    json_t *doc);
static void ngx_http_securechat_ws_close(ngx_http_securechat_ws_t *ws,
    ngx_uint_t code, const char *reason);
static void ngx_http_securechat_ws_flush(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_unscratch(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_drop_out(ngx_http_securechat_ws_t *ws);
static ngx_int_t ngx_http_securechat_ws_catch_up(
    ngx_http_securechat_ws_t *ws);


/* per worker */
static ngx_queue_t                      ngx_http_securechat_ws_clients;
static u_char                          *ngx_http_securechat_ws_recv_buf;
static u_char                          *ngx_http_securechat_ws_text;
static u_char                          *ngx_http_securechat_ws_scratch;
static size_t                           ngx_http_securechat_ws_scratch_size;
static ngx_http_securechat_wrap_ctx_t  *ngx_http_securechat_ws_wctx;


static void
ngx_http_securechat_ws_wctx_free(void *data)
{
    ngx_http_securechat_wrap_ctx_free(data);
}


ngx_int_t
ngx_http_securechat_ws_init_process(ngx_cycle_t *cycle)
{
    ngx_pool_cleanup_t               *cln;
    ngx_http_securechat_main_conf_t  *smcf;

    ngx_queue_init(&ngx_http_securechat_ws_clients);

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_securechat_module);
    if (smcf == NULL || smcf->handlers == 0) {
        return NGX_OK;
    }

    ngx_http_securechat_ws_recv_buf = ngx_palloc(cycle->pool,
                                         NGX_HTTP_SECURECHAT_WS_RECV_SIZE);
    ngx_http_securechat_ws_text = ngx_palloc(cycle->pool, smcf->message_max);

    ngx_http_securechat_ws_scratch_size = smcf->send_buffer
                                          + NGX_HTTP_SECURECHAT_WS_SLACK;
    ngx_http_securechat_ws_scratch = ngx_palloc(cycle->pool,
                                        ngx_http_securechat_ws_scratch_size);

    if (ngx_http_securechat_ws_recv_buf == NULL
        || ngx_http_securechat_ws_text == NULL
        || ngx_http_securechat_ws_scratch == NULL)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ngx_http_securechat_ws_wctx = ngx_http_securechat_wrap_ctx_create();
    if (ngx_http_securechat_ws_wctx == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_securechat_ws_wctx_free;
    cln->data = ngx_http_securechat_ws_wctx;

    return NGX_OK;
}


ngx_int_t
ngx_http_securechat_ws_handler(ngx_http_request_t *r, ngx_uint_t echo)
{
    ngx_int_t                         rc, answer;
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
    ws->echo = echo;
    ws->rate_time = ngx_current_msec;
    ctx->ws = ws;

    ngx_memcpy(ws->accept, accept, NGX_HTTP_SECURECHAT_WS_ACCEPT_LEN);

    ngx_http_securechat_frame_parser_init(&ws->parser, NULL,
                                          smcf->ws_message_max);

    if (!echo) {
        /* the 101 follows once the hello is built, in a thread */
        return ngx_http_securechat_ws_join(r, ws, ctx);
    }

    ngx_http_securechat_frame_parser_allow_binary(&ws->parser);

    rc = ngx_http_securechat_handshake_accept(r, ws->accept);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    r->main->count++;

    (void) ngx_http_securechat_ws_takeover(r, ws);

    return NGX_DONE;
}


/*
 * The connection is ours from here on: our event handlers, our timers,
 * and the one request reference the caller took, released by ws_finish().
 */

static ngx_int_t
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

    if (!ws->echo) {
        ngx_queue_insert_tail(&ngx_http_securechat_ws_clients, &ws->queue);
        ws->linked = 1;

        ws->expire.handler = ngx_http_securechat_ws_expire;
        ws->expire.data = ws;
        ws->expire.log = c->log;

        /* an exiting worker need not wait for it: c->close ends us first */
        ws->expire.cancelable = 1;

        ngx_http_securechat_ws_expire_timer(ws);
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
 * Joins the client table and starts building the hello; returns what a
 * content handler returns (NGX_DONE while the hello is being built).
 */

static ngx_int_t
ngx_http_securechat_ws_join(ngx_http_request_t *r,
    ngx_http_securechat_ws_t *ws, ngx_http_securechat_ctx_t *ctx)
{
    ngx_int_t                          rc, answer;
    ngx_time_t                        *tp;
    ngx_thread_task_t                 *task;
    ngx_http_securechat_client_t       client;
    ngx_http_securechat_main_conf_t   *smcf;
    ngx_http_securechat_hello_task_t  *t;
    u_char                             raw[12];

    smcf = ws->smcf;

    if (ngx_http_securechat_ws_resume_from(r, ws, &answer) != NGX_OK) {
        return answer;
    }

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return ngx_http_securechat_send_error(r,
                   NGX_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
                   "the server could not draw random bytes");
    }

    (void) ngx_http_securechat_base64url_encode(ws->conn_id, raw,
                                                sizeof(raw));

    ws->user.data = ws->user_data;
    ws->user.len = ctx->session.user.len;
    ngx_memcpy(ws->user_data, ctx->session.user.data, ws->user.len);
    ws->expires = ctx->session.expires;

    tp = ngx_timeofday();

    ngx_memzero(&client, sizeof(ngx_http_securechat_client_t));
    ngx_memcpy(client.id, ws->conn_id, NGX_HTTP_SECURECHAT_CONN_ID_LEN);
    client.since = (uint64_t) tp->sec * 1000 + tp->msec;
    client.user_len = ws->user.len;
    ngx_memcpy(client.user, ws->user.data, ws->user.len);
    ngx_memcpy(client.session, ctx->hash, NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN);
    ngx_memcpy(client.key_id, ctx->session.client_key_id.data,
               NGX_HTTP_SECURECHAT_KEY_ID_LEN);

    ws->client = ngx_http_securechat_client_add(smcf->shm_zone, &client,
                                                smcf->user_connections, &rc);
    if (ws->client == NULL) {
        if (rc == NGX_DECLINED) {
            return ngx_http_securechat_send_error(r,
                       NGX_HTTP_TOO_MANY_REQUESTS, "too_many_connections",
                       "this user has as many connections as allowed");
        }

        return ngx_http_securechat_send_error(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "zone_full",
                   "the server is full: try again later");
    }

    /*
     * One RSA-OAEP encryption and one signature: under a millisecond, but
     * a storm of connections would stall the event loop with them.
     */

    /*
     * From the heap, not the request pool: the hello's buffers would stay
     * in the pool for the life of the connection.  Freed by hello_done().
     */

    task = ngx_calloc(sizeof(ngx_thread_task_t)
                      + sizeof(ngx_http_securechat_hello_task_t),
                      r->connection->log);
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    task->ctx = task + 1;
    t = task->ctx;
    t->ws = ws;
    ws->hello = t;
    t->rc = NGX_HTTP_SECURECHAT_ENV_ERROR;
    t->in.server_key = smcf->signing_key;
    t->in.server_key_id = smcf->key_id.data;
    t->in.client_der = ctx->session.client_key.data;
    t->in.client_der_len = ctx->session.client_key.len;
    t->in.client_key_id = ctx->session.client_key_id.data;
    t->in.conn_id = ws->conn_id;
    t->in.conn_id_len = NGX_HTTP_SECURECHAT_CONN_ID_LEN;
    t->in.ts = client.since;
    t->in.epoch = ngx_http_securechat_history_epoch(smcf->shm_zone);

    task->handler = ngx_http_securechat_ws_hello_thread;
    task->event.data = t;
    task->event.handler = ngx_http_securechat_ws_hello_done;

    /*
     * Counted, and refused before nginx's own queue overflows: nginx logs
     * an [error] for each task a full queue refuses, a line per handshake
     * in a storm; ours sums them up once per interval.
     */

    if (ngx_http_securechat_task_post(smcf->seal_tasks, task, "hellos")
        != NGX_OK)
    {
        ws->hello = NULL;
        ngx_free(task);
        return ngx_http_securechat_send_error(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "busy",
                   "too many connections at once: try again in a moment");
    }

    /* held until the connection ends: see ws_takeover() */
    r->main->count++;

    ngx_http_securechat_suspend(r, ngx_http_securechat_ws_hello_finish);

    return NGX_DONE;
}


/* runs in a thread of the pool: touches its task only */

static void
ngx_http_securechat_ws_hello_thread(void *data, ngx_log_t *log)
{
    ngx_http_securechat_hello_task_t  *t = data;

    t->rc = ngx_http_securechat_hello_build(&t->in, &t->ws->channel,
                                            t->frame, sizeof(t->frame),
                                            &t->len);
}


static void
ngx_http_securechat_ws_hello_done(ngx_event_t *ev)
{
    ngx_http_securechat_hello_task_t  *t = ev->data;

    ngx_http_securechat_ws_t          *ws;
    ngx_http_securechat_main_conf_t   *smcf;

    ws = t->ws;

    smcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_securechat_module);
    ngx_http_securechat_task_done(smcf->seal_tasks);

    /* hello_finish (or nginx's finalizer) runs in here and uses t */
    ngx_http_securechat_resume(ws->request);

    OPENSSL_cleanse(t, sizeof(ngx_http_securechat_hello_task_t));

    /* the task sits right before its context: see ws_join() */
    ngx_free((ngx_thread_task_t *) t - 1);
}


static void
ngx_http_securechat_ws_hello_finish(ngx_http_request_t *r)
{
    u_char                            *p;
    ngx_int_t                          rc;
    ngx_http_securechat_ws_t          *ws;
    ngx_http_securechat_ctx_t         *ctx;
    ngx_http_securechat_hello_task_t  *t;

    if (r->aio) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ctx = ngx_http_get_module_ctx(r, ngx_http_securechat_module);
    ws = ctx->ws;
    t = ws->hello;

    if (t->rc != NGX_HTTP_SECURECHAT_ENV_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "securechat: the hello could not be built (%d)", t->rc);
        ngx_http_finalize_request(r,
            ngx_http_securechat_send_error(r,
                NGX_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
                "the server could not make the session key"));
        return;
    }

    p = ngx_http_securechat_ws_reserve(ws,
                                       NGX_HTTP_SECURECHAT_FRAME_MAX_HEADER
                                       + t->len, (size_t) -1);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p += ngx_http_securechat_frame_header(p, NGX_HTTP_SECURECHAT_WS_TEXT, 1,
                                          t->len);
    p = ngx_cpymem(p, t->frame, t->len);
    ws->out_len = p - ws->out;

    OPENSSL_cleanse(t->frame, sizeof(t->frame));

    rc = ngx_http_securechat_handshake_accept(r, ws->accept);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    (void) ngx_http_securechat_ws_takeover(r, ws);
}


/*
 * ?last_id=N: the client has seen everything up to N and gets what
 * follows from the history; without it, only what is published from now.
 * &epoch=E: the history N counts in; another one than the zone's (the
 * server restarted since, ids began again at 1) means the client has seen
 * nothing of this history: it gets all of it.
 */

static ngx_int_t
ngx_http_securechat_ws_resume_from(ngx_http_request_t *r,
    ngx_http_securechat_ws_t *ws, ngx_int_t *answer)
{
    off_t       n;
    u_char      epoch[NGX_HTTP_SECURECHAT_EPOCH_LEN];
    uint64_t    last;
    ngx_str_t   value;
    ngx_uint_t  i, other;

    last = ngx_http_securechat_history_last(ws->smcf->shm_zone);
    other = 0;

    if (ngx_http_arg(r, (u_char *) "epoch", sizeof("epoch") - 1, &value)
        == NGX_OK)
    {
        for (i = 0; i < value.len; i++) {
            if ((value.data[i] < '0' || value.data[i] > '9')
                && (value.data[i] < 'a' || value.data[i] > 'f'))
            {
                break;
            }
        }

        if (i != NGX_HTTP_SECURECHAT_EPOCH_LEN
            || value.len != NGX_HTTP_SECURECHAT_EPOCH_LEN)
        {
            *answer = ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                          "bad_epoch",
                          "epoch must be 16 lowercase hex digits");
            return NGX_ERROR;
        }

        ngx_http_securechat_epoch_hex(
            ngx_http_securechat_history_epoch(ws->smcf->shm_zone), epoch);

        other = ngx_strncmp(value.data, epoch, sizeof(epoch)) != 0;
    }

    if (ngx_http_arg(r, (u_char *) "last_id", sizeof("last_id") - 1, &value)
        != NGX_OK)
    {
        ws->next_id = ngx_http_securechat_bus_cursor() + 1;
        return NGX_OK;
    }

    n = ngx_atoof(value.data, value.len);

    if (n == NGX_ERROR || value.len > 16
        || (uint64_t) n > NGX_HTTP_SECURECHAT_JSON_INT_MAX)
    {
        *answer = ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                      "bad_last_id",
                      "last_id must be a message id (0 or more)");
        return NGX_ERROR;
    }

    if (other) {
        n = 0;
    }

    /* an id from the future (a restarted server): resume from now */

    ws->next_id = ((uint64_t) n > last) ? last + 1 : (uint64_t) n + 1;

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


/* leaves the worker's list and the zone's table; frees what it holds */

static void
ngx_http_securechat_ws_release(ngx_http_securechat_ws_t *ws)
{
    if (ws->expire.timer_set) {
        ngx_del_timer(&ws->expire);
    }

    if (ws->linked) {
        ngx_queue_remove(&ws->queue);
        ws->linked = 0;
    }

    if (ws->client != NULL) {
        ngx_http_securechat_client_remove(ws->smcf->shm_zone, ws->client);
        ws->client = NULL;
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

    OPENSSL_cleanse(&ws->channel, sizeof(ngx_http_securechat_channel_t));
}


/*
 * The one place the connection starts to end: NGX_DONE after a close
 * handshake (a lingering close lets our last frame reach the client),
 * NGX_HTTP_CLOSE when the connection is dead.  The rest happens in an
 * event after the current one: the callers up the stack (a read loop, a
 * delivery pass) may still look at ws->finished, so ws must outlive them.
 */

static void
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

    if (!ws->echo && ngx_time() >= ws->expires) {
        ngx_http_securechat_ws_close(ws, NGX_HTTP_SECURECHAT_WS_NORMAL,
                                     "session expired");
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


/*
 * The session's end closes the socket at that moment, whatever the client
 * sends: the idle timer alone never fires while a client keeps talking.
 */

static void
ngx_http_securechat_ws_expire_timer(ngx_http_securechat_ws_t *ws)
{
    ngx_time_t      *tp;
    ngx_msec_int_t   left;

    tp = ngx_timeofday();

    if (ws->expires - tp->sec > NGX_HTTP_SECURECHAT_WS_EXPIRE_STEP / 1000) {
        /* timers compare modulo 2^32 ms: a far end is reached in steps */
        left = NGX_HTTP_SECURECHAT_WS_EXPIRE_STEP;

    } else {
        left = (ngx_msec_int_t) (ws->expires - tp->sec) * 1000 - tp->msec;
    }

    ngx_add_timer(&ws->expire, (left > 0) ? (ngx_msec_t) left : 0);
}


static void
ngx_http_securechat_ws_expire(ngx_event_t *ev)
{
    ngx_http_securechat_ws_t  *ws;

    ws = ev->data;

    /* a step of a far end, or the wall clock was set back */

    if (ngx_time() < ws->expires) {
        ngx_http_securechat_ws_expire_timer(ws);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "securechat: session expired, closing");

    ngx_http_securechat_ws_close(ws, NGX_HTTP_SECURECHAT_WS_NORMAL,
                                 "session expired");
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
            if (ws->echo) {
                (void) ngx_http_securechat_ws_frame(ws,
                            rc == NGX_HTTP_SECURECHAT_FRAME_TEXT
                            ? NGX_HTTP_SECURECHAT_WS_TEXT
                            : NGX_HTTP_SECURECHAT_WS_BINARY,
                            ev.data, ev.len);
            } else {
                ngx_http_securechat_ws_chat(ws, ev.data, ev.len);
            }

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


/* a client's chat frame: docs/PROTOCOL.md section 8 */

static void
ngx_http_securechat_ws_chat(ngx_http_securechat_ws_t *ws, const u_char *frame,
    size_t len)
{
    size_t                          text_len;
    ngx_int_t                       rc;
    ngx_str_t                       text;
    ngx_http_securechat_chat_rc_e   frc;

    frc = ngx_http_securechat_client_frame_open(&ws->channel, ws->conn_id,
                                               NGX_HTTP_SECURECHAT_CONN_ID_LEN,
                                               frame, len,
                                               ngx_http_securechat_ws_text,
                                               ws->smcf->message_max,
                                               &text_len);
    if (frc != NGX_HTTP_SECURECHAT_CHAT_OK) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "securechat: chat frame refused: %s",
                      ngx_http_securechat_chat_rc_code(frc));

        ngx_http_securechat_ws_notice(ws,
                                      ngx_http_securechat_chat_rc_code(frc),
                                      ngx_http_securechat_chat_rc_text(frc));

        ngx_http_securechat_ws_close(ws,
                                     frc == NGX_HTTP_SECURECHAT_CHAT_ERROR
                                     ? NGX_HTTP_SECURECHAT_WS_INTERNAL_ERROR
                                     : NGX_HTTP_SECURECHAT_WS_POLICY,
                                     "chat frame refused");
        return;
    }

    switch (ngx_http_securechat_text_check(ngx_http_securechat_ws_text,
                                           text_len))
    {
    case NGX_HTTP_SECURECHAT_TEXT_OK:
        break;

    case NGX_HTTP_SECURECHAT_TEXT_BAD_UTF8:
        ngx_http_securechat_ws_notice(ws, "bad_utf8",
                                      "the text is not valid UTF-8");
        ngx_http_securechat_ws_close(ws, NGX_HTTP_SECURECHAT_WS_POLICY,
                                     "chat frame refused");
        return;

    case NGX_HTTP_SECURECHAT_TEXT_CONTROL:
        ngx_http_securechat_ws_notice(ws, "bad_characters",
                              "messages may not contain control characters");
        return;

    default: /* blank */
        ngx_http_securechat_ws_notice(ws, "empty_message",
                                      "the message is empty");
        return;
    }

    if (ngx_time() >= ws->expires) {
        ngx_http_securechat_ws_close(ws, NGX_HTTP_SECURECHAT_WS_NORMAL,
                                     "session expired");
        return;
    }

    text.data = ngx_http_securechat_ws_text;
    text.len = text_len;

    rc = ngx_http_securechat_bus_publish(&ws->user, &text, NULL, NULL);

    OPENSSL_cleanse(ngx_http_securechat_ws_text, text_len);

    if (rc == NGX_BUSY) {
        ngx_http_securechat_ws_notice(ws, "throttled",
                               "the server is busy: this message was dropped");
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_securechat_ws_notice(ws, "internal_error",
                                      "the message could not be published");
        ngx_http_securechat_ws_close(ws,
                                     NGX_HTTP_SECURECHAT_WS_INTERNAL_ERROR,
                                     "internal error");
    }
}


/*
 * n bytes at the end of the output, within limit; NULL if that would
 * pass it (the caller decides what that means) or memory ran out.
 */

static u_char *
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


/* a frame of our own (echo, pong, ping), queued for sending */

static ngx_int_t
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


/* one envelope for this client: the shared prefix and its own tail */

static ngx_int_t
ngx_http_securechat_ws_message(ngx_http_securechat_ws_t *ws,
    ngx_http_securechat_bus_msg_t *msg)
{
    u_char  *p;

    /* the expiry timer may come later in the same pass of the event loop */

    if (ngx_time() >= ws->expires) {
        ngx_http_securechat_ws_close(ws, NGX_HTTP_SECURECHAT_WS_NORMAL,
                                     "session expired");
        return NGX_ERROR;
    }

    p = ngx_http_securechat_ws_reserve(ws, msg->wshdr_len
                                           + msg->env.prefix_len
                                           + NGX_HTTP_SECURECHAT_ENVELOPE_TAIL_LEN,
                                       ws->smcf->send_buffer);
    if (p == NULL) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "securechat: client too slow, closing");
        ngx_http_securechat_ws_close(ws, NGX_HTTP_SECURECHAT_WS_POLICY,
                                     "too slow: send queue full");
        return NGX_ERROR;
    }

    p = ngx_cpymem(p, msg->wshdr, msg->wshdr_len);
    p = ngx_cpymem(p, msg->env.frame, msg->env.prefix_len);

    if (ngx_http_securechat_envelope_recipient(&msg->env,
                                               ngx_http_securechat_ws_wctx,
                                               ws->channel.wrap_key, p)
        != NGX_HTTP_SECURECHAT_ENV_OK)
    {
        ngx_http_securechat_ws_close(ws,
                                     NGX_HTTP_SECURECHAT_WS_INTERNAL_ERROR,
                                     "internal error");
        return NGX_ERROR;
    }

    ws->out_len = p + NGX_HTTP_SECURECHAT_ENVELOPE_TAIL_LEN - ws->out;
    ws->next_id = msg->id + 1;

    return NGX_OK;
}


/* an error frame (docs/PROTOCOL.md section 9) */

static void
ngx_http_securechat_ws_notice(ngx_http_securechat_ws_t *ws, const char *code,
    const char *message)
{
    /* jansson escapes whatever the sentence holds: quotes, for one */

    (void) ngx_http_securechat_ws_json(ws,
               json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
                         "message", message));
}


static ngx_int_t
ngx_http_securechat_ws_gap(ngx_http_securechat_ws_t *ws, uint64_t from,
    uint64_t to)
{
    ws->next_id = to + 1;

    return ngx_http_securechat_ws_json(ws,
               json_pack("{s:s, s:I, s:I}", "type", "gap",
                         "from", (json_int_t) from, "to", (json_int_t) to));
}


/*
 * A notice of ours as a text frame; consumes the reference to doc (NULL:
 * jansson ran out of memory).  Our notices are short: a longer one is a
 * bug, refused rather than cut into invalid JSON.
 */

static ngx_int_t
ngx_http_securechat_ws_json(ngx_http_securechat_ws_t *ws, json_t *doc)
{
    size_t  len;
    u_char  buf[NGX_HTTP_SECURECHAT_WS_NOTICE_MAX];

    len = (doc != NULL) ? json_dumpb(doc, (char *) buf, sizeof(buf),
                                     JSON_COMPACT)
                        : 0;

    json_decref(doc);

    if (len == 0 || len > sizeof(buf)) {
        ngx_log_error(NGX_LOG_ALERT, ws->connection->log, 0,
                      "securechat: a notice could not be written");
        ngx_http_securechat_ws_close(ws,
                                     NGX_HTTP_SECURECHAT_WS_INTERNAL_ERROR,
                                     "internal error");
        return NGX_ERROR;
    }

    return ngx_http_securechat_ws_frame(ws, NGX_HTTP_SECURECHAT_WS_TEXT, buf,
                                        len);
}


/*
 * Queues a close frame (code 0: an empty body) and stops reading; the
 * connection ends once it is sent.
 */

static void
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

    if (ws->linked) {
        ngx_queue_remove(&ws->queue);
        ws->linked = 0;
    }

    ngx_http_securechat_ws_flush(ws);
}


/*
 * Writes what is queued; when all is out, ends a closing connection or
 * lets a client that is catching up read more of the history.
 */

static void
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

        if (ws->echo
            || ngx_http_securechat_ws_catch_up(ws) != NGX_OK
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


/*
 * A client that connected with last_id, or fell behind the worker's
 * cursor: reads on from the history, a bounded amount at a time, with a
 * gap frame for what the history no longer holds.
 */

static ngx_int_t
ngx_http_securechat_ws_catch_up(ngx_http_securechat_ws_t *ws)
{
    uint64_t                        upto, oldest;
    ngx_int_t                       rc;
    ngx_http_securechat_bus_msg_t  *msg;

    upto = ngx_http_securechat_bus_cursor();

    while (ws->next_id <= upto
           && ws->out_len - ws->out_pos
              < NGX_HTTP_SECURECHAT_WS_CATCH_UP(ws->smcf))
    {
        rc = ngx_http_securechat_bus_fetch(ws->next_id, &msg);

        if (rc == NGX_OK) {
            rc = ngx_http_securechat_ws_message(ws, msg);
            OPENSSL_cleanse(msg->env.cek, NGX_HTTP_SECURECHAT_CEK_LEN);

            if (rc != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        if (rc != NGX_DECLINED) {
            break;
        }

        oldest = ngx_http_securechat_history_oldest(ws->smcf->shm_zone);

        if (oldest <= ws->next_id) {
            /* overwritten just now by a newer message */
            oldest = ws->next_id + 1;
        }

        if (oldest > upto + 1) {
            oldest = upto + 1;
        }

        if (ngx_http_securechat_ws_gap(ws, ws->next_id, oldest - 1) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_http_securechat_ws_deliver(ngx_http_securechat_bus_msg_t *msgs,
    ngx_uint_t n)
{
    uint64_t                   first, last, gap_from;
    ngx_uint_t                 k;
    ngx_queue_t               *q, *next;
    ngx_http_securechat_ws_t  *ws;

    if (n == 0) {
        return;
    }

    first = msgs[0].id;
    last = msgs[n - 1].id;

    for (q = ngx_queue_head(&ngx_http_securechat_ws_clients);
         q != ngx_queue_sentinel(&ngx_http_securechat_ws_clients);
         q = next)
    {
        next = ngx_queue_next(q);
        ws = ngx_queue_data(q, ngx_http_securechat_ws_t, queue);

        /*
         * Behind (catching up, its queue not yet drained): it reads these
         * from the history itself.  Ahead (resumed past them): skip.
         */

        if (ws->next_id < first || ws->next_id > last) {
            continue;
        }

        /*
         * Built in the worker's scratch buffer when nothing is queued
         * (nearly always): one send takes it all, and only what the
         * socket refuses is copied to a buffer of the client's own.
         */

        if (ws->out == NULL) {
            ws->out = ngx_http_securechat_ws_scratch;
            ws->out_cap = ngx_http_securechat_ws_scratch_size;
        }

        gap_from = 0;

        for (k = ws->next_id - first; k < n; k++) {

            if (msgs[k].gone) {
                if (gap_from == 0) {
                    gap_from = msgs[k].id;
                }

                continue;
            }

            if (gap_from
                && ngx_http_securechat_ws_gap(ws, gap_from, msgs[k].id - 1)
                   != NGX_OK)
            {
                break;
            }

            gap_from = 0;

            if (ngx_http_securechat_ws_message(ws, &msgs[k]) != NGX_OK) {
                break;
            }
        }

        if (gap_from && !ws->closing) {
            (void) ngx_http_securechat_ws_gap(ws, gap_from, last);
        }

        /* one write per client per batch */

        ngx_http_securechat_ws_flush(ws);
        ngx_http_securechat_ws_unscratch(ws);
    }
}


/* what the socket did not take moves out of the scratch buffer */

static void
ngx_http_securechat_ws_unscratch(ngx_http_securechat_ws_t *ws)
{
    u_char  *out;
    size_t   pending;

    if (ws->out != ngx_http_securechat_ws_scratch) {
        return;
    }

    pending = ws->out_len - ws->out_pos;
    out = NULL;

    if (pending) {
        out = ngx_alloc(pending, ws->connection->log);

        if (out == NULL) {
            ngx_http_securechat_ws_drop_out(ws);
            ngx_http_securechat_ws_finish(ws, NGX_HTTP_CLOSE);
            return;
        }

        ngx_memcpy(out, ws->out + ws->out_pos, pending);
    }

    ngx_http_securechat_ws_drop_out(ws);

    ws->out = out;
    ws->out_len = pending;
    ws->out_cap = pending;
}


/* no more output buffer: the client's own is freed, the scratch kept */

static void
ngx_http_securechat_ws_drop_out(ngx_http_securechat_ws_t *ws)
{
    if (ws->out != NULL && ws->out != ngx_http_securechat_ws_scratch) {
        ngx_free(ws->out);
    }

    ws->out = NULL;
    ws->out_pos = ws->out_len = ws->out_cap = 0;
}


void
ngx_http_securechat_ws_kick_check(void)
{
    ngx_uint_t                 code;
    ngx_queue_t               *q, *next;
    ngx_http_securechat_ws_t  *ws;

    for (q = ngx_queue_head(&ngx_http_securechat_ws_clients);
         q != ngx_queue_sentinel(&ngx_http_securechat_ws_clients);
         q = next)
    {
        next = ngx_queue_next(q);
        ws = ngx_queue_data(q, ngx_http_securechat_ws_t, queue);

        code = ngx_http_securechat_client_kicked(ws->client);

        if (code) {
            ngx_http_securechat_ws_close(ws, code, "closed by request");
        }
    }
}
