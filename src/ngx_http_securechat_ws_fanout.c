
/*
 * The fan-out to this worker's chat sockets: what the bus calls.  New
 * messages are written to every client that is up to date, one envelope
 * each (the shared prefix and the client's own tail); a client that is
 * behind reads on from the history (catch-up) as its queue drains; a
 * client someone asked to close is closed.
 */

#include "ngx_http_securechat_module.h"

#include <openssl/crypto.h>

#include "ngx_http_securechat_bus.h"
#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_frame.h"
#include "ngx_http_securechat_store.h"
#include "ngx_http_securechat_ws.h"
#include "ngx_http_securechat_ws_int.h"


/* a client catching up reads the history while its queue is below half */
#define NGX_HTTP_SECURECHAT_WS_CATCH_UP(smcf)  ((smcf)->send_buffer / 2)


static ngx_int_t ngx_http_securechat_ws_message(ngx_http_securechat_ws_t *ws,
    ngx_http_securechat_bus_msg_t *msg);
static void ngx_http_securechat_ws_unscratch(ngx_http_securechat_ws_t *ws);


/* per worker */
static ngx_queue_t                      ngx_http_securechat_ws_clients;
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


/* the socket is delivered to from now on */

void
ngx_http_securechat_ws_fanout_join(ngx_http_securechat_ws_t *ws)
{
    ngx_queue_insert_tail(&ngx_http_securechat_ws_clients, &ws->queue);
    ws->linked = 1;
}


/* closing or gone: nothing more is delivered to it */

void
ngx_http_securechat_ws_fanout_leave(ngx_http_securechat_ws_t *ws)
{
    if (ws->linked) {
        ngx_queue_remove(&ws->queue);
        ws->linked = 0;
    }
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
