
/*
 * The fan-out to this worker's chat sockets: what the bus calls.  A new
 * message is written to every client that is up to date and gets its
 * room (see ngx_http_securechat_ws_rooms.c), one envelope each (the
 * shared prefix and the client's own tail); a room's event to the room's
 * clients and to those of the user it is about, and then it changes who
 * gets the room.  A client that is behind reads on from the history
 * (catch-up) as its queue drains, by the rooms it has now; a client
 * someone asked to close is closed.
 *
 * Every client moves through every id of the history, those it does not
 * get included, so that "up to date" stays one comparison with the ids of
 * the batch, and a resume from the last id a client saw misses nothing.
 */

#include "ngx_http_securechat_module.h"

#include <openssl/crypto.h>

#include "ngx_http_securechat_bus.h"
#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_frame.h"
#include "ngx_http_securechat_rooms.h"
#include "ngx_http_securechat_store.h"
#include "ngx_http_securechat_ws.h"
#include "ngx_http_securechat_ws_int.h"


/* a client catching up reads the history while its queue is below half */
#define NGX_HTTP_SECURECHAT_WS_CATCH_UP(smcf)  ((smcf)->send_buffer / 2)


static ngx_int_t ngx_http_securechat_ws_message(ngx_http_securechat_ws_t *ws,
    ngx_http_securechat_bus_msg_t *msg);
static void ngx_http_securechat_ws_deliver(ngx_http_securechat_bus_msg_t *msgs,
    ngx_uint_t n);
static void ngx_http_securechat_ws_kick_check(void);
static void ngx_http_securechat_ws_notice(
    ngx_http_securechat_bus_notice_t *notice);
static void ngx_http_securechat_ws_notice_room(
    ngx_http_securechat_bus_notice_t *notice,
    ngx_http_securechat_ws_room_t *room, ngx_uint_t seq);
static void ngx_http_securechat_ws_notice_send(
    ngx_http_securechat_bus_notice_t *notice, ngx_uint_t seq);
static void ngx_http_securechat_ws_deliver_messages(
    ngx_http_securechat_bus_msg_t *msgs, ngx_uint_t n);
static void ngx_http_securechat_ws_deliver_event(
    ngx_http_securechat_bus_msg_t *msg);
static void ngx_http_securechat_ws_event_exits(ngx_http_securechat_ws_t *ws,
    ngx_http_securechat_bus_msg_t *msg);
static ngx_uint_t ngx_http_securechat_ws_is(ngx_http_securechat_ws_t *ws,
    ngx_str_t *user);
static void ngx_http_securechat_ws_resume_room(ngx_http_securechat_ws_t *ws,
    ngx_http_securechat_ws_sub_t *sub);
static void ngx_http_securechat_ws_resume_scan(ngx_http_securechat_ws_t *ws,
    uint64_t cursor);
static ngx_int_t ngx_http_securechat_ws_room_next(ngx_http_securechat_ws_t *ws,
    ngx_http_securechat_ws_sub_t *sub, ngx_http_securechat_bus_msg_t *msg);
static void ngx_http_securechat_ws_scratch_lend(ngx_http_securechat_ws_t *ws);
static void ngx_http_securechat_ws_unscratch(ngx_http_securechat_ws_t *ws);


/* what the bus hands this worker's clients */
static const ngx_http_securechat_bus_sink_t  ngx_http_securechat_ws_sink = {
    ngx_http_securechat_ws_deliver,
    ngx_http_securechat_ws_kick_check,
    ngx_http_securechat_ws_notice
};


/* per worker */
static ngx_queue_t                      ngx_http_securechat_ws_clients;
static ngx_uint_t                       ngx_http_securechat_ws_batch_seq;
static ngx_http_securechat_wrap_ctx_t  *ngx_http_securechat_ws_wctx;


static void
ngx_http_securechat_ws_wctx_free(void *data)
{
    ngx_http_securechat_wrap_ctx_free(data);
}


ngx_int_t
ngx_http_securechat_ws_fanout_init_process(ngx_cycle_t *cycle,
    ngx_http_securechat_main_conf_t *smcf)
{
    ngx_pool_cleanup_t  *cln;

    ngx_queue_init(&ngx_http_securechat_ws_clients);
    ngx_http_securechat_ws_rooms_init();
    ngx_http_securechat_bus_set_sink(&ngx_http_securechat_ws_sink);

    if (smcf == NULL || smcf->handlers == 0) {
        return NGX_OK;
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


/*
 * The socket is delivered to from now on, the rooms its user is a member
 * of now; the events the worker delivers later keep them so.
 */

ngx_int_t
ngx_http_securechat_ws_fanout_join(ngx_http_securechat_ws_t *ws)
{
    uint64_t                          cursor;
    ngx_int_t                         rc;
    ngx_uint_t                        i;
    ngx_pool_t                       *pool;
    ngx_array_t                      *list;
    ngx_http_securechat_ws_sub_t     *sub;
    ngx_http_securechat_room_info_t  *info;

    ngx_queue_init(&ws->rooms);

    /* before the rooms' last ids: see resume_scan() */
    cursor = ngx_http_securechat_bus_cursor();

    pool = ngx_create_pool(1024, ws->connection->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    if (ngx_http_securechat_rooms_of_user(ws->smcf->shm_zone, &ws->user, pool,
                                          &list)
        != NGX_HTTP_SECURECHAT_ROOMS_OK)
    {
        rc = NGX_ERROR;
        goto done;
    }

    info = list->elts;

    for (i = 0; i < list->nelts; i++) {
        sub = ngx_http_securechat_ws_rooms_subscribe(ws, &info[i].name);

        if (sub == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        if (ws->resume != NULL) {
            ngx_http_securechat_ws_resume_room(ws, sub);
        }
    }

    if (ws->resume != NULL) {
        ngx_http_securechat_ws_resume_scan(ws, cursor);
        ws->resume = NULL;
    }

    ngx_queue_insert_tail(&ngx_http_securechat_ws_clients, &ws->queue);
    ws->linked = 1;

done:

    ngx_destroy_pool(pool);

    if (rc != NGX_OK) {
        ngx_http_securechat_ws_rooms_release(ws);
    }

    return rc;
}


/*
 * A room of a client that resumes: from the id after the one it named
 * for the room, or for "*"; a room it did not name, from now.  An id from
 * the future (a restarted server's) is taken as now.
 */

static void
ngx_http_securechat_ws_resume_room(ngx_http_securechat_ws_t *ws,
    ngx_http_securechat_ws_sub_t *sub)
{
    uint64_t                          last;
    ngx_str_t                         room;
    ngx_uint_t                        i;
    ngx_http_securechat_ws_resume_t  *want, *any;

    room.data = sub->room->name;
    room.len = sub->room->sn.str.len;

    last = ngx_http_securechat_history_room_last(ws->smcf->shm_zone, &room);

    want = ws->resume->elts;
    any = NULL;

    for (i = 0; i < ws->resume->nelts; i++) {
        if (want[i].room.len == 1 && want[i].room.data[0] == '*') {
            any = &want[i];
            continue;
        }

        if (want[i].room.len == room.len
            && ngx_memcmp(want[i].room.data, room.data, room.len) == 0)
        {
            break;
        }
    }

    if (i == ws->resume->nelts) {
        if (any == NULL) {
            sub->next_id = last + 1;
            return;
        }

        want = any;

    } else {
        want = &want[i];
    }

    sub->next_id = ngx_min(want->id, last) + 1;
    sub->resumed = 1;
}


/*
 * Where in the history a resuming client begins: at the oldest entry it
 * still needs of the rooms it named, read backwards from the worker's
 * cursor (taken before the rooms' last ids, so that whatever they
 * counted past it comes after it) with peek(), which copies a slot's
 * head only.  What the ring no longer holds shows as a gap when the
 * room's next id comes.
 */

static void
ngx_http_securechat_ws_resume_scan(ngx_http_securechat_ws_t *ws,
    uint64_t cursor)
{
    uint64_t                          id, oldest, start;
    ngx_uint_t                        i, pending;
    ngx_queue_t                      *q;
    ngx_http_securechat_ws_sub_t     *sub;
    ngx_http_securechat_bus_msg_t     msg;
    ngx_http_securechat_ws_resume_t  *want;

    pending = 0;

    for (q = ngx_queue_head(&ws->rooms);
         q != ngx_queue_sentinel(&ws->rooms);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_http_securechat_ws_sub_t, in_ws);
        pending += sub->resumed;
    }

    oldest = ngx_http_securechat_history_oldest(ws->smcf->shm_zone);
    start = cursor + 1;

    /*
     * "*:0", all of it: from the oldest entry, events about the user in
     * rooms it is no longer in included
     */

    want = ws->resume->elts;

    for (i = 0; i < ws->resume->nelts; i++) {
        if (want[i].room.len == 1 && want[i].room.data[0] == '*'
            && want[i].id == 0)
        {
            ws->next_id = ngx_min(oldest, start);
            return;
        }
    }

    for (id = cursor; id >= oldest && id > 0 && pending; id--) {

        if (ngx_http_securechat_bus_peek(id, &msg) != NGX_OK) {
            continue;
        }

        sub = ngx_http_securechat_ws_rooms_sub(ws, &msg.room);

        if (sub == NULL || !sub->resumed || sub->found) {
            continue;
        }

        if (msg.room_id >= sub->next_id) {
            start = id;     /* needed: look further back */

        } else {
            sub->found = 1;     /* older than it needs: done with it */
            pending--;
        }
    }

    ws->next_id = start;
}


/* closing or gone: nothing more is delivered to it */

void
ngx_http_securechat_ws_fanout_leave(ngx_http_securechat_ws_t *ws)
{
    if (ws->linked) {
        ngx_queue_remove(&ws->queue);
        ws->linked = 0;
    }

    ngx_http_securechat_ws_rooms_release(ws);
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


/*
 * A client that connected with last_id, or fell behind the worker's
 * cursor: reads on from the history, a bounded amount at a time, with a
 * gap frame for what the history no longer holds.
 */

ngx_int_t
ngx_http_securechat_ws_catch_up(ngx_http_securechat_ws_t *ws)
{
    uint64_t                        upto, oldest;
    ngx_int_t                       rc;
    ngx_http_securechat_ws_sub_t   *sub;
    ngx_http_securechat_bus_msg_t  *msg;

    upto = ngx_http_securechat_bus_cursor();

    while (ws->next_id <= upto
           && ws->out_len - ws->out_pos
              < NGX_HTTP_SECURECHAT_WS_CATCH_UP(ws->smcf))
    {
        rc = ngx_http_securechat_bus_fetch(ws->next_id, &msg);

        if (rc == NGX_DECLINED) {

            /*
             * Gone from the ring, or an id no sealer finished: no room to
             * tell of it; the next id of each room that comes tells its
             * own gap (room_next()).
             */

            oldest = ngx_http_securechat_history_oldest(ws->smcf->shm_zone);

            ws->next_id = (oldest > ws->next_id) ? ngx_min(oldest, upto + 1)
                                                 : ws->next_id + 1;
            continue;
        }

        if (rc != NGX_OK) {
            break;
        }

        /*
         * What the client gets now: its rooms', and events about it.  A
         * room the worker took from it while it was behind goes at the
         * event that took it (after it, should that one be gone).
         */

        sub = ngx_http_securechat_ws_rooms_sub(ws, &msg->room);

        if (sub != NULL && sub->ends_at && msg->id > sub->ends_at) {
            ngx_http_securechat_ws_rooms_unsubscribe(ws, &msg->room);
            sub = NULL;
        }

        rc = NGX_DECLINED;

        if (sub != NULL) {
            rc = ngx_http_securechat_ws_room_next(ws, sub, msg);

        } else if (msg->kind == NGX_HTTP_SECURECHAT_BUS_EVENT
                   && ngx_http_securechat_ws_is(ws, &msg->target))
        {
            rc = NGX_OK;
        }

        if (rc == NGX_OK) {
            rc = (msg->kind == NGX_HTTP_SECURECHAT_BUS_EVENT)
                 ? ngx_http_securechat_ws_frame(ws,
                                                NGX_HTTP_SECURECHAT_WS_TEXT,
                                                msg->json.data,
                                                msg->json.len)
                 : ngx_http_securechat_ws_message(ws, msg);
        }

        OPENSSL_cleanse(msg->env.cek, NGX_HTTP_SECURECHAT_CEK_LEN);

        if (sub != NULL && sub->ends_at == msg->id) {
            ngx_http_securechat_ws_rooms_unsubscribe(ws, &msg->room);
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        ws->next_id = msg->id + 1;
    }

    return NGX_OK;
}


/*
 * An entry of a room the socket gets: NGX_OK to send it, after a gap
 * frame if ids of the room were missed; NGX_DECLINED when the socket has
 * it already (it resumed past it); NGX_ERROR when the socket closed.
 */

static ngx_int_t
ngx_http_securechat_ws_room_next(ngx_http_securechat_ws_t *ws,
    ngx_http_securechat_ws_sub_t *sub, ngx_http_securechat_bus_msg_t *msg)
{
    if (sub->next_id && msg->room_id < sub->next_id) {
        return NGX_DECLINED;
    }

    if (sub->next_id && msg->room_id > sub->next_id
        && ngx_http_securechat_ws_gap(ws, &msg->room, sub->next_id,
                                      msg->room_id - 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    sub->next_id = msg->room_id + 1;

    return NGX_OK;
}


/* runs of messages together, each event alone: it changes who gets what */

static void
ngx_http_securechat_ws_deliver(ngx_http_securechat_bus_msg_t *msgs,
    ngx_uint_t n)
{
    ngx_uint_t  k, run;

    for (k = 0; k < n; k += run) {

        if (!msgs[k].gone && msgs[k].kind == NGX_HTTP_SECURECHAT_BUS_EVENT) {
            ngx_http_securechat_ws_deliver_event(&msgs[k]);
            run = 1;
            continue;
        }

        for (run = 1; k + run < n; run++) {
            if (!msgs[k + run].gone
                && msgs[k + run].kind == NGX_HTTP_SECURECHAT_BUS_EVENT)
            {
                break;
            }
        }

        ngx_http_securechat_ws_deliver_messages(&msgs[k], run);
    }
}


/*
 * A batch of messages: each room in it gets a bit, each client of those
 * rooms the bits of its rooms (the rooms' subscriptions are walked, not
 * every client's), and then every client up to date gets the messages
 * whose bit it has, in one write.  A batch has at most 64 messages, so a
 * 64-bit mask has room for all its rooms.
 */

static void
ngx_http_securechat_ws_deliver_messages(ngx_http_securechat_bus_msg_t *msgs,
    ngx_uint_t n)
{
    uint64_t                        first, last, mask;
    uint64_t                        bits[NGX_HTTP_SECURECHAT_BUS_BATCH];
    ngx_http_securechat_ws_room_t  *rooms[NGX_HTTP_SECURECHAT_BUS_BATCH];
    ngx_int_t                       rc;
    ngx_uint_t                      k, seq, nbits;
    ngx_queue_t                    *q, *next;
    ngx_http_securechat_ws_t       *ws;
    ngx_http_securechat_ws_sub_t   *sub;
    ngx_http_securechat_ws_room_t  *room, *prev;

    if (n == 0 || n > NGX_HTTP_SECURECHAT_BUS_BATCH) {
        return;
    }

    seq = ++ngx_http_securechat_ws_batch_seq;
    nbits = 0;
    prev = NULL;

    for (k = 0; k < n; k++) {
        bits[k] = 0;
        rooms[k] = NULL;

        if (msgs[k].gone) {
            continue;
        }

        /* runs of one room are the common case: no lookup for them */

        if (prev != NULL && prev->sn.str.len == msgs[k].room.len
            && ngx_memcmp(prev->name, msgs[k].room.data, msgs[k].room.len)
               == 0)
        {
            room = prev;

        } else {
            room = ngx_http_securechat_ws_rooms_find(&msgs[k].room);
        }

        if (room == NULL) {
            continue;   /* nobody here gets it */
        }

        prev = room;

        if (room->seq != seq) {
            room->seq = seq;
            room->bit = (uint64_t) 1 << nbits++;

            for (q = ngx_queue_head(&room->sockets);
                 q != ngx_queue_sentinel(&room->sockets);
                 q = ngx_queue_next(q))
            {
                sub = ngx_queue_data(q, ngx_http_securechat_ws_sub_t,
                                     in_room);

                if (sub->ws->mask_seq != seq) {
                    sub->ws->mask_seq = seq;
                    sub->ws->mask = 0;
                }

                sub->ws->mask |= room->bit;
            }
        }

        bits[k] = room->bit;
        rooms[k] = room;
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

        mask = (ws->mask_seq == seq) ? ws->mask : 0;

        if (mask == 0) {
            ws->next_id = last + 1;     /* none of these is for it */
            continue;
        }

        ngx_http_securechat_ws_scratch_lend(ws);

        for (k = ws->next_id - first; k < n; k++) {

            if (!(bits[k] & mask)) {
                continue;   /* gone, or another room's */
            }

            sub = ngx_http_securechat_ws_rooms_sub_of(ws, rooms[k]);

            if (sub == NULL) {
                continue;
            }

            if (sub->ends_at && msgs[k].id > sub->ends_at) {
                /*
                 * the event that took the room was gone from the ring
                 * when its catch-up came by: nothing more of the room
                 * (the link goes with the socket, or a new join; not
                 * here, where the batch holds the room's pointer)
                 */
                continue;
            }

            rc = ngx_http_securechat_ws_room_next(ws, sub, &msgs[k]);

            if (rc == NGX_DECLINED) {
                continue;
            }

            if (rc != NGX_OK
                || ngx_http_securechat_ws_message(ws, &msgs[k]) != NGX_OK)
            {
                break;
            }
        }

        if (!ws->closing) {
            ws->next_id = last + 1;
        }

        /* one write per client per batch */

        ngx_http_securechat_ws_flush(ws);
        ngx_http_securechat_ws_unscratch(ws);
    }
}


/*
 * A room's event: a join first gives the room to the user's sockets here,
 * so that they are told of it; the room's clients and the user's get the
 * frame; then a leave, a removal or a ban takes the room from the user's
 * sockets, and a deletion from everyone's.  A socket behind (catching up
 * from the history) has not reached the event yet: it keeps the room up
 * to it (ends_at), so that it gets what came before and the event.
 */

static void
ngx_http_securechat_ws_deliver_event(ngx_http_securechat_bus_msg_t *msg)
{
    ngx_int_t                           rc;
    ngx_queue_t                        *q, *next;
    ngx_http_securechat_ws_sub_t       *sub;
    ngx_http_securechat_ws_t           *ws;
    ngx_http_securechat_room_effect_e   effect;

    effect = ngx_http_securechat_room_event_effect(msg->event);

    for (q = ngx_queue_head(&ngx_http_securechat_ws_clients);
         q != ngx_queue_sentinel(&ngx_http_securechat_ws_clients);
         q = next)
    {
        next = ngx_queue_next(q);
        ws = ngx_queue_data(q, ngx_http_securechat_ws_t, queue);

        if (effect == NGX_HTTP_SECURECHAT_EVENT_ENTERS
            && ngx_http_securechat_ws_is(ws, &msg->target)
            && ngx_http_securechat_ws_rooms_subscribe(ws, &msg->room) == NULL)
        {
            ngx_http_securechat_ws_close(ws,
                                         NGX_HTTP_SECURECHAT_WS_INTERNAL_ERROR,
                                         "internal error");
        }

        if (ws->next_id == msg->id && !ws->closing) {
            ws->next_id = msg->id + 1;

            sub = ngx_http_securechat_ws_rooms_sub(ws, &msg->room);
            rc = NGX_DECLINED;

            if (sub != NULL) {
                ngx_http_securechat_ws_scratch_lend(ws);
                rc = ngx_http_securechat_ws_room_next(ws, sub, msg);

            } else if (ngx_http_securechat_ws_is(ws, &msg->target)) {
                ngx_http_securechat_ws_scratch_lend(ws);
                rc = NGX_OK;
            }

            if (rc != NGX_DECLINED) {
                if (rc == NGX_OK) {
                    (void) ngx_http_securechat_ws_frame(ws,
                                                 NGX_HTTP_SECURECHAT_WS_TEXT,
                                                 msg->json.data,
                                                 msg->json.len);
                }

                ngx_http_securechat_ws_flush(ws);
                ngx_http_securechat_ws_unscratch(ws);
            }
        }

        if (effect == NGX_HTTP_SECURECHAT_EVENT_ENDS
            || (effect == NGX_HTTP_SECURECHAT_EVENT_EXITS
                && ngx_http_securechat_ws_is(ws, &msg->target)))
        {
            ngx_http_securechat_ws_event_exits(ws, msg);
        }
    }
}


/* the room goes from the socket now, or, if it is behind, at the event */

static void
ngx_http_securechat_ws_event_exits(ngx_http_securechat_ws_t *ws,
    ngx_http_securechat_bus_msg_t *msg)
{
    ngx_http_securechat_ws_sub_t  *sub;

    sub = ngx_http_securechat_ws_rooms_sub(ws, &msg->room);

    if (sub == NULL) {
        return;
    }

    if (ws->next_id > msg->id || ws->closing) {
        ngx_http_securechat_ws_rooms_unsubscribe(ws, &msg->room);
        return;
    }

    if (sub->ends_at == 0 || sub->ends_at > msg->id) {
        sub->ends_at = msg->id;
    }
}


static ngx_uint_t
ngx_http_securechat_ws_is(ngx_http_securechat_ws_t *ws, ngx_str_t *user)
{
    return ws->user.len == user->len
           && ngx_memcmp(ws->user.data, user->data, user->len) == 0;
}


/*
 * Built in the worker's scratch buffer when nothing is queued (nearly
 * always): one send takes it all, and only what the socket refuses is
 * copied to a buffer of the client's own (unscratch()).
 */

static void
ngx_http_securechat_ws_scratch_lend(ngx_http_securechat_ws_t *ws)
{
    if (ws->out == NULL) {
        ws->out = ngx_http_securechat_ws_scratch;
        ws->out_cap = ngx_http_securechat_ws_scratch_size;
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


/*
 * A notice: typing to the room's sockets; presence to the sockets of the
 * rooms of at most securechat_presence_members_max members the user is
 * in, each socket once; never to the user's own sockets.
 */

static void
ngx_http_securechat_ws_notice(ngx_http_securechat_bus_notice_t *notice)
{
    ngx_uint_t                        i, seq;
    ngx_pool_t                       *pool;
    ngx_array_t                      *list;
    ngx_http_securechat_ws_room_t    *room;
    ngx_http_securechat_room_info_t  *info;
    ngx_http_securechat_main_conf_t  *smcf;

    seq = ++ngx_http_securechat_ws_batch_seq;

    if (notice->kind == NGX_HTTP_SECURECHAT_BUS_TYPING) {
        room = ngx_http_securechat_ws_rooms_find(&notice->room);

        if (room != NULL) {
            ngx_http_securechat_ws_notice_room(notice, room, seq);
            ngx_http_securechat_ws_notice_send(notice, seq);
        }

        return;
    }

    if (ngx_queue_empty(&ngx_http_securechat_ws_clients)) {
        return;
    }

    smcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_securechat_module);

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    if (ngx_http_securechat_rooms_of_user(smcf->shm_zone, &notice->user, pool,
                                          &list)
        == NGX_HTTP_SECURECHAT_ROOMS_OK)
    {
        info = list->elts;

        for (i = 0; i < list->nelts; i++) {
            if (info[i].members > smcf->presence_members_max) {
                continue;
            }

            room = ngx_http_securechat_ws_rooms_find(&info[i].name);

            if (room != NULL) {
                ngx_http_securechat_ws_notice_room(notice, room, seq);
            }
        }

        ngx_http_securechat_ws_notice_send(notice, seq);
    }

    ngx_destroy_pool(pool);
}


/* marks the room's sockets for this notice; sending is a second pass */

static void
ngx_http_securechat_ws_notice_room(ngx_http_securechat_bus_notice_t *notice,
    ngx_http_securechat_ws_room_t *room, ngx_uint_t seq)
{
    ngx_queue_t                   *q;
    ngx_http_securechat_ws_t      *ws;
    ngx_http_securechat_ws_sub_t  *sub;

    for (q = ngx_queue_head(&room->sockets);
         q != ngx_queue_sentinel(&room->sockets);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_http_securechat_ws_sub_t, in_room);
        ws = sub->ws;

        if (!ngx_http_securechat_ws_is(ws, &notice->user)) {
            ws->mask_seq = seq;
            ws->mask = 1;
        }
    }
}


/*
 * Over the worker's sockets, not a room's: a socket that closes while it
 * is written to leaves its rooms, and may free the one being walked.
 */

static void
ngx_http_securechat_ws_notice_send(ngx_http_securechat_bus_notice_t *notice,
    ngx_uint_t seq)
{
    ngx_queue_t               *q, *next;
    ngx_http_securechat_ws_t  *ws;

    for (q = ngx_queue_head(&ngx_http_securechat_ws_clients);
         q != ngx_queue_sentinel(&ngx_http_securechat_ws_clients);
         q = next)
    {
        next = ngx_queue_next(q);
        ws = ngx_queue_data(q, ngx_http_securechat_ws_t, queue);

        if (ws->mask_seq != seq || ws->mask != 1 || ws->closing) {
            continue;
        }

        ws->mask = 0;

        ngx_http_securechat_ws_scratch_lend(ws);

        (void) ngx_http_securechat_ws_frame(ws, NGX_HTTP_SECURECHAT_WS_TEXT,
                                            notice->json.data,
                                            notice->json.len);

        ngx_http_securechat_ws_flush(ws);
        ngx_http_securechat_ws_unscratch(ws);
    }
}


static void
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
