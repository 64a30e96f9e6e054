
/*
 * The chat protocol on a WebSocket (docs/PROTOCOL.md): the chat role of
 * the transport.  Joins the client table and builds the hello (in a
 * thread), decides where a client resumes from (last_id, epoch), opens
 * the client's chat frames and publishes them on the bus, closes the
 * socket when the session ends, and writes our JSON frames: error notices
 * and gaps.  Delivery of what the bus carries is the fan-out's
 * (ngx_http_securechat_ws_fanout.c).
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
#include "ngx_http_securechat_room.h"
#include "ngx_http_securechat_rooms.h"
#include "ngx_http_securechat_store.h"
#include "ngx_http_securechat_task.h"
#include "ngx_http_securechat_token.h"
#include "ngx_http_securechat_utf8.h"
#include "ngx_http_securechat_ws_int.h"


#define NGX_HTTP_SECURECHAT_WS_NOTICE_MAX  256

/* a session's end further than this is waited for in steps of it */
#define NGX_HTTP_SECURECHAT_WS_EXPIRE_STEP  (24 * 60 * 60 * 1000)


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
static void ngx_http_securechat_ws_chat_attach(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_expire_timer(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_expire(ngx_event_t *ev);
static ngx_int_t ngx_http_securechat_ws_chat_idle(
    ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_chat(ngx_http_securechat_ws_t *ws,
    ngx_uint_t opcode, const u_char *frame, size_t len);
static ngx_int_t ngx_http_securechat_ws_may_post(ngx_http_securechat_ws_t *ws,
    ngx_str_t *room);
static void ngx_http_securechat_ws_presence(ngx_http_securechat_ws_t *ws,
    ngx_uint_t online);
static ngx_int_t ngx_http_securechat_ws_typing(ngx_http_securechat_ws_t *ws,
    const u_char *frame, size_t len);
static void ngx_http_securechat_ws_notice(ngx_http_securechat_ws_t *ws,
    const char *code, const char *message);
static ngx_int_t ngx_http_securechat_ws_json(ngx_http_securechat_ws_t *ws,
    json_t *doc);
static void ngx_http_securechat_ws_chat_release(
    ngx_http_securechat_ws_t *ws);


ngx_http_securechat_ws_role_t  ngx_http_securechat_ws_chat_role = {
    ngx_http_securechat_ws_join,
    ngx_http_securechat_ws_chat_attach,
    ngx_http_securechat_ws_chat,
    ngx_http_securechat_ws_chat_idle,
    ngx_http_securechat_ws_catch_up,
    ngx_http_securechat_ws_fanout_leave,
    ngx_http_securechat_ws_chat_release
};


/* per worker: a client's text, opened */
static u_char  *ngx_http_securechat_ws_text;


ngx_int_t
ngx_http_securechat_ws_chat_init_process(ngx_cycle_t *cycle,
    ngx_http_securechat_main_conf_t *smcf)
{
    ngx_http_securechat_ws_text = ngx_palloc(cycle->pool, smcf->message_max);

    if (ngx_http_securechat_ws_text == NULL) {
        return NGX_ERROR;
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
    ngx_uint_t                         first;
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
                                                smcf->user_connections,
                                                &first, &rc);
    ws->presence_first = first;

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
 * Where the client resumes, per room: ?resume=ROOM:ID,ROOM:ID,... names
 * the last id it saw of each room ("*" for every room it does not name);
 * ?last_id=N, the form of before rooms, is resume=general:N.  The rooms
 * it names get what followed from the history; the others, and every
 * room without either, only what is published from now.  &epoch=E: the
 * history the ids count in; another one than the zone's (the server
 * restarted since, ids began again at 1) means the client has seen
 * nothing of this one: every room it names is resumed from its start.
 */

static ngx_int_t
ngx_http_securechat_ws_resume_from(ngx_http_request_t *r,
    ngx_http_securechat_ws_t *ws, ngx_int_t *answer)
{
    u_char                           *p, *end;
    u_char                            epoch[NGX_HTTP_SECURECHAT_EPOCH_LEN];
    off_t                             n;
    int                               rc;
    size_t                            pos, room_len;
    ngx_str_t                         value, resume;
    ngx_uint_t                        i, other;
    const u_char                     *room;
    unsigned long long                id;
    ngx_http_securechat_ws_resume_t  *want;

    other = 0;

    ws->next_id = ngx_http_securechat_bus_cursor() + 1;

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

    if (ngx_http_arg(r, (u_char *) "resume", sizeof("resume") - 1, &resume)
        == NGX_OK)
    {
        if (ngx_http_arg(r, (u_char *) "last_id", sizeof("last_id") - 1,
                         &value)
            == NGX_OK)
        {
            goto bad;
        }

        /* the name's ':' and ',' may come percent-encoded */

        p = ngx_pnalloc(r->connection->pool, resume.len);
        if (p == NULL) {
            *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ERROR;
        }

        end = p;
        ngx_unescape_uri(&end, &resume.data, resume.len, NGX_UNESCAPE_URI);
        resume.data = p;
        resume.len = end - p;

    } else if (ngx_http_arg(r, (u_char *) "last_id", sizeof("last_id") - 1,
                            &value)
               == NGX_OK)
    {
        n = ngx_atoof(value.data, value.len);

        if (n == NGX_ERROR || value.len > 16
            || (uint64_t) n > NGX_HTTP_SECURECHAT_JSON_INT_MAX)
        {
            *answer = ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                          "bad_last_id",
                          "last_id must be a message id (0 or more)");
            return NGX_ERROR;
        }

        resume.len = sizeof("general:") - 1 + value.len;
        resume.data = ngx_pnalloc(r->connection->pool, resume.len);
        if (resume.data == NULL) {
            *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_cpymem(resume.data, "general:", sizeof("general:") - 1),
                   value.data, value.len);

    } else {
        return NGX_OK;  /* from now */
    }

    ws->resume = ngx_array_create(r->connection->pool, 4,
                                  sizeof(ngx_http_securechat_ws_resume_t));
    if (ws->resume == NULL) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    pos = 0;

    for ( ;; ) {
        rc = ngx_http_securechat_room_resume_next(resume.data, resume.len,
                                                  &pos, &room, &room_len,
                                                  &id);
        if (rc == 0) {
            break;
        }

        if (rc < 0 || ws->resume->nelts > ws->smcf->room_limits.per_user) {
            goto bad;
        }

        want = ngx_array_push(ws->resume);
        if (want == NULL) {
            *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ERROR;
        }

        want->room.data = (u_char *) room;
        want->room.len = room_len;
        want->id = other ? 0 : (uint64_t) id;
    }

    return NGX_OK;

bad:

    *answer = ngx_http_securechat_send_error(r, NGX_HTTP_BAD_REQUEST,
                  "bad_resume",
                  "resume is ROOM:ID,... (ROOM a room or *, ID 0 or more), "
                  "or last_id=ID, not both");
    return NGX_ERROR;
}


/* the socket is ours: it joins the fan-out, its session's end is timed */

static void
ngx_http_securechat_ws_chat_attach(ngx_http_securechat_ws_t *ws)
{
    if (ngx_http_securechat_ws_fanout_join(ws) != NGX_OK) {
        ngx_http_securechat_ws_close(ws,
                                     NGX_HTTP_SECURECHAT_WS_INTERNAL_ERROR,
                                     "internal error");
        return;
    }

    ws->attached = 1;

    /* the user's first socket: online, for those who share a small room */

    if (ws->presence_first) {
        ngx_http_securechat_ws_presence(ws, 1);
    }

    ws->expire.handler = ngx_http_securechat_ws_expire;
    ws->expire.data = ws;
    ws->expire.log = ws->connection->log;

    /* an exiting worker need not wait for it: c->close ends us first */
    ws->expire.cancelable = 1;

    ngx_http_securechat_ws_expire_timer(ws);
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


/* before a ping: a session that has ended is closed instead */

static ngx_int_t
ngx_http_securechat_ws_chat_idle(ngx_http_securechat_ws_t *ws)
{
    if (ngx_time() >= ws->expires) {
        ngx_http_securechat_ws_close(ws, NGX_HTTP_SECURECHAT_WS_NORMAL,
                                     "session expired");
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * A client's chat frame: docs/PROTOCOL.md section 8.  Always text: the
 * chat role's parser refuses binary frames.
 */

static void
ngx_http_securechat_ws_chat(ngx_http_securechat_ws_t *ws, ngx_uint_t opcode,
    const u_char *frame, size_t len)
{
    size_t                          text_len, room_len;
    ngx_int_t                       rc;
    ngx_str_t                       text, name;
    ngx_http_securechat_chat_rc_e   frc;
    u_char                          room[NGX_HTTP_SECURECHAT_ROOM_NAME_MAX];

    frc = ngx_http_securechat_client_frame_open(&ws->channel, ws->conn_id,
                                               NGX_HTTP_SECURECHAT_CONN_ID_LEN,
                                               frame, len, room, &room_len,
                                               ngx_http_securechat_ws_text,
                                               ws->smcf->message_max,
                                               &text_len);
    /* not a chat frame: perhaps a typing one, which has no counter */

    if (frc == NGX_HTTP_SECURECHAT_CHAT_BAD_FIELD
        && ngx_http_securechat_ws_typing(ws, frame, len) != NGX_DECLINED)
    {
        return;
    }

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

    /*
     * A frame for a room one may not post in was valid and used its
     * counter, so the connection goes on, as after an empty message.
     */

    name.data = room;
    name.len = room_len;

    if (ngx_http_securechat_ws_may_post(ws, &name) != NGX_OK) {
        OPENSSL_cleanse(ngx_http_securechat_ws_text, text_len);
        return;
    }

    text.data = ngx_http_securechat_ws_text;
    text.len = text_len;

    rc = ngx_http_securechat_bus_publish(&name, &ws->user, &text, NULL, NULL);

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
 * Whether anyone is to hear of it: presence goes only to rooms of at most
 * securechat_presence_members_max members, so a user in none of those
 * costs no signature (a reconnection storm in one big room, say).
 */

static void
ngx_http_securechat_ws_presence(ngx_http_securechat_ws_t *ws,
    ngx_uint_t online)
{
    if (!ngx_http_securechat_rooms_presence_shared(ws->smcf->shm_zone,
                                                   &ws->user,
                                                   ws->smcf->presence_members_max))
    {
        return;
    }

    if (ngx_http_securechat_bus_presence(&ws->user, online) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "securechat: presence of \"%V\" not published "
                      "(queue full)", &ws->user);
    }
}


/*
 * {"type":"typing","room":R}: relayed to the room's other sockets, never
 * kept; at most one a socket and room every TYPING_INTERVAL, the others
 * dropped without a word.  Asked of a frame the chat frame's parser
 * refused for its members; NGX_DECLINED: not a typing frame either, the
 * parser's refusal stands.
 */

static ngx_int_t
ngx_http_securechat_ws_typing(ngx_http_securechat_ws_t *ws,
    const u_char *frame, size_t len)
{
    json_t                        *doc, *type, *name;
    ngx_str_t                      room;
    ngx_msec_t                     now;
    ngx_http_securechat_ws_sub_t  *sub;

    doc = json_loadb((const char *) frame, len, JSON_REJECT_DUPLICATES, NULL);
    type = json_object_get(doc, "type");

    if (doc == NULL || !json_is_string(type)
        || ngx_strcmp(json_string_value(type), "typing") != 0)
    {
        json_decref(doc);
        return NGX_DECLINED;
    }

    name = json_object_get(doc, "room");

    if (json_object_size(doc) != 2 || !json_is_string(name)) {
        json_decref(doc);
        ngx_http_securechat_ws_notice(ws, "bad_typing",
                   "a typing frame is exactly {\"type\":\"typing\",\"room\"}");
        return NGX_OK;
    }

    room.data = (u_char *) json_string_value(name);
    room.len = json_string_length(name);

    sub = ngx_http_securechat_ws_rooms_sub(ws, &room);
    now = ngx_current_msec;

    if (sub != NULL && sub->typed
        && now - sub->typing_at < NGX_HTTP_SECURECHAT_WS_TYPING_INTERVAL)
    {
        json_decref(doc);
        return NGX_OK;
    }

    if (!ngx_http_securechat_room_name_ok(room.data, room.len)) {
        json_decref(doc);
        ngx_http_securechat_ws_notice(ws, "bad_typing",
                                      "the typing frame names no valid room");
        return NGX_OK;
    }

    if (ngx_http_securechat_ws_may_post(ws, &room) == NGX_OK) {
        if (sub != NULL) {
            sub->typing_at = now;
            sub->typed = 1;
        }

        (void) ngx_http_securechat_bus_typing(&room, &ws->user);
    }

    json_decref(doc);

    return NGX_OK;
}


/* the rules of the room, as for POST /api/chat: an error frame if not */

static ngx_int_t
ngx_http_securechat_ws_may_post(ngx_http_securechat_ws_t *ws, ngx_str_t *room)
{
    const char                      *code;
    ngx_http_securechat_rooms_rc_e   rc;
    ngx_http_securechat_room_rc_e    why;
    ngx_http_securechat_rooms_act_t  act;

    if (!ngx_http_securechat_room_name_ok(room->data, room->len)) {
        ngx_http_securechat_ws_notice(ws, "bad_room_name",
                                      "the frame names no valid room");
        return NGX_DECLINED;
    }

    ngx_memzero(&act, sizeof(ngx_http_securechat_rooms_act_t));
    act.act = NGX_HTTP_SECURECHAT_ACT_POST;
    why = NGX_HTTP_SECURECHAT_ROOM_OK;

    rc = ngx_http_securechat_rooms_act(ws->smcf->shm_zone, &ws->user, room,
                                       &act, &ws->smcf->room_limits, &why);

    switch (rc) {

    case NGX_HTTP_SECURECHAT_ROOMS_OK:
        return NGX_OK;

    case NGX_HTTP_SECURECHAT_ROOMS_NO_ROOM:
        ngx_http_securechat_ws_notice(ws, "no_such_room",
                                      "there is no room of that name");
        return NGX_DECLINED;

    case NGX_HTTP_SECURECHAT_ROOMS_REFUSED:
        code = ngx_http_securechat_room_rc_code(why);
        ngx_http_securechat_ws_notice(ws, code,
                                      "the room's rules refuse this message");
        return NGX_DECLINED;

    default:
        ngx_http_securechat_ws_notice(ws, "internal_error",
                                      "the message could not be published");
        return NGX_DECLINED;
    }
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


ngx_int_t
ngx_http_securechat_ws_gap(ngx_http_securechat_ws_t *ws, ngx_str_t *room,
    uint64_t from, uint64_t to)
{
    return ngx_http_securechat_ws_json(ws,
               json_pack("{s:s, s:s#, s:I, s:I}", "type", "gap",
                         "room", room->data, (int) room->len,
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


/* leaves the fan-out and the zone's table; forgets the session's keys */

static void
ngx_http_securechat_ws_chat_release(ngx_http_securechat_ws_t *ws)
{
    ngx_uint_t  last;

    if (ws->expire.timer_set) {
        ngx_del_timer(&ws->expire);
    }

    ngx_http_securechat_ws_fanout_leave(ws);

    if (ws->client != NULL) {
        last = ngx_http_securechat_client_remove(ws->smcf->shm_zone,
                                                 ws->client);
        ws->client = NULL;

        /*
         * Its last socket: offline; not when this worker exits (a reload):
         * the user's sockets come back to the new workers at once
         */

        if (last && ws->attached && !ngx_exiting && !ngx_quit
            && !ngx_terminate)
        {
            ngx_http_securechat_ws_presence(ws, 0);
        }
    }

    OPENSSL_cleanse(&ws->channel, sizeof(ngx_http_securechat_channel_t));
}
