
/*
 * The module's own count of its thread tasks, and the summary of those it
 * refused: one line per pool and interval, however many clients a storm
 * brings.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_securechat_task.h"


static void ngx_http_securechat_task_summary(ngx_event_t *ev);
static void ngx_http_securechat_task_log(ngx_http_securechat_task_pool_t *tp,
    ngx_log_t *log);


ngx_int_t
ngx_http_securechat_task_post(ngx_http_securechat_task_pool_t *tp,
    ngx_thread_task_t *task, const char *what)
{
    ngx_event_t  *ev;

    if (tp->inflight >= tp->limit) {

        if (tp->refused == 0) {
            tp->what = what;
        }

        tp->refused++;

        if (ngx_time() - tp->logged >= NGX_HTTP_SECURECHAT_TASK_LOG_INTERVAL)
        {
            ngx_http_securechat_task_log(tp, ngx_cycle->log);
            return NGX_BUSY;
        }

        /* the rest of this interval is told when it ends */

        ev = &tp->summary;

        if (!ev->timer_set) {
            ev->handler = ngx_http_securechat_task_summary;
            ev->data = tp;
            ev->log = ngx_cycle->log;

            /* never keeps a worker that is shutting down */
            ev->cancelable = 1;

            ngx_add_timer(ev, (ngx_msec_t) (tp->logged
                                  + NGX_HTTP_SECURECHAT_TASK_LOG_INTERVAL
                                  - ngx_time() + 1) * 1000);
        }

        return NGX_BUSY;
    }

    if (ngx_thread_task_post(tp->pool, task) != NGX_OK) {
        return NGX_ERROR;
    }

    tp->inflight++;

    return NGX_OK;
}


void
ngx_http_securechat_task_done(ngx_http_securechat_task_pool_t *tp)
{
    tp->inflight--;
}


static void
ngx_http_securechat_task_summary(ngx_event_t *ev)
{
    ngx_http_securechat_task_pool_t  *tp = ev->data;

    if (tp->refused) {
        ngx_http_securechat_task_log(tp, ev->log);
    }
}


static void
ngx_http_securechat_task_log(ngx_http_securechat_task_pool_t *tp,
    ngx_log_t *log)
{
    time_t  since;

    since = ngx_min(ngx_time() - tp->logged,
                    NGX_HTTP_SECURECHAT_TASK_LOG_INTERVAL);

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "securechat: %ui %s refused, thread pool \"%V\" busy "
                  "(%ui tasks of this worker queued or running, queue=%ui), "
                  "in the last %T s",
                  tp->refused, tp->what, &tp->name, tp->inflight, tp->limit,
                  since ? since : 1);

    tp->refused = 0;
    tp->logged = ngx_time();
}
