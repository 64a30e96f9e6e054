
/*
 * Thread tasks the module posts, counted per pool in each worker, so that
 * a storm is refused before nginx's own queue overflows (nginx logs an
 * [error] for every task its full queue refuses, and its pool is private:
 * its max_queue cannot be read).
 */

#ifndef _NGX_HTTP_SECURECHAT_TASK_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_TASK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_thread_pool.h>


/* a busy pool is logged at most once per this many seconds, per worker */
#define NGX_HTTP_SECURECHAT_TASK_LOG_INTERVAL  10

/* the default queue= of securechat_thread_pool and _seal_thread_pool */
#define NGX_HTTP_SECURECHAT_TASK_QUEUE  64


typedef struct {
    ngx_str_t                name;
    ngx_thread_pool_t       *pool;

    /* at most this many of our tasks queued or running, per worker */
    ngx_uint_t               limit;

    /* per worker: the configuration is each worker's own copy */
    ngx_uint_t               inflight;
    ngx_uint_t               refused;        /* not yet in a summary */
    const char              *what;           /* of the first refused */
    time_t                   logged;
    ngx_event_t              summary;
} ngx_http_securechat_task_pool_t;


/*
 * Posts task unless limit of ours are already queued or running in the
 * pool: NGX_OK, NGX_BUSY (refused, counted for the summary, "what" names
 * the task in it, e.g. "logins"), or NGX_ERROR (nginx refused it: another
 * user of the pool filled its queue).  After NGX_OK the task's completion
 * handler must call ngx_http_securechat_task_done().
 */
ngx_int_t ngx_http_securechat_task_post(ngx_http_securechat_task_pool_t *tp,
    ngx_thread_task_t *task, const char *what);
void ngx_http_securechat_task_done(ngx_http_securechat_task_pool_t *tp);


#endif /* _NGX_HTTP_SECURECHAT_TASK_H_INCLUDED_ */
