
/*
 * The bus inside one nginx, the first backend of ngx_http_securechat_bus.h:
 * the shared history is the log, each
 * worker keeps a cursor into it, and a doorbell wakes a worker when the
 * log grows.
 *
 * Publishing: a worker queues accepted texts and hands them, a batch at a
 * time, to one thread task of the thread pool, which for each reserves the
 * next id, seals it (one signature per message, however many recipients)
 * without any lock held, and commits it to the history.  One task in
 * flight per worker keeps each client's messages in the order sent.
 * Readers see an id only once it and every id before it are committed
 * (or gaps), so delivery is in id order although sealers in several
 * workers finish in any order.
 * A batch starts after the event loop's current pass, so that what several
 * publishers sent at once is sealed, and written to each client, together.
 *
 * Delivery: when the history grows, the worker that published delivers at
 * once and rings the doorbell of every other worker that is armed.  A
 * doorbell is an abstract-namespace datagram socket named after the
 * worker's pid, so any worker, old or new across reloads, can ring any
 * other without inherited descriptors.  A worker re-arms before it reads
 * the history, so a message committed meanwhile always rings again: no
 * lost wake-up, no polling timer, one datagram per burst.  The worker
 * whose commit moves the history's mark rings: it may publish ids that
 * another worker committed first.
 *
 * Two timers, both idle normally: a worker that found no room for its
 * entry in the zone's worker table retries, delivering from the history
 * meanwhile; a worker that sees an id reserved and not committed checks
 * later whether its sealer died or stopped (see history_expire()), so a
 * lost sealer costs a gap, never the messages after it.
 */

#include "ngx_http_securechat_module.h"

#include <sys/un.h>
#include <openssl/crypto.h>
#include <jansson.h>

#include "ngx_http_securechat_bus.h"
#include "ngx_http_securechat_frame.h"
#include "ngx_http_securechat_room.h"
#include "ngx_http_securechat_store.h"


/* messages a worker may hold waiting to be sealed */
#define NGX_HTTP_SECURECHAT_BUS_QUEUE_MAX  4096

/* how often a worker without an entry retries (ms) */
#define NGX_HTTP_SECURECHAT_BUS_RETRY      500

/* how soon a reservation in the way is looked at again (ms) */
#define NGX_HTTP_SECURECHAT_BUS_STALL      1000

/*
 * A history slot begins with its kind, the length of its room's name and
 * its id in the room (u64, host order), then
 *   a message: where in the frame the room's name is (a byte: the frame
 *   has the name already), the CEK, and the frame prefix every recipient
 *   shares;
 *   an event: the room's name, the event's type, whom it is about (a
 *   length byte and the name), and its frame, JSON of at most EVENT_MAX
 *   bytes.
 * A message's slot is 11 bytes longer than before rooms, so that zones
 * sized then still hold their history.
 */
#define NGX_HTTP_SECURECHAT_BUS_ROOM_ID    2
#define NGX_HTTP_SECURECHAT_BUS_HEAD       10
#define NGX_HTTP_SECURECHAT_BUS_MESSAGE_HEAD  11

/* enough of a slot for its room: see bus_head() */
#define NGX_HTTP_SECURECHAT_BUS_PEEK                                         \
    (NGX_HTTP_SECURECHAT_BUS_MESSAGE_HEAD + NGX_HTTP_SECURECHAT_CEK_LEN     \
     + 255 + NGX_HTTP_SECURECHAT_ROOM_NAME_MAX)
#define NGX_HTTP_SECURECHAT_BUS_EVENT_MAX  2048


/*
 * What waits to be sealed: a message (user is the sender, text the
 * plaintext) or an event (user is whom it is about, text its frame's JSON
 * after the opening brace: the id goes first, once it is known).
 */
typedef struct {
    ngx_queue_t                          queue;
    ngx_http_securechat_published_pt     published;
    void                                *data;
    uint64_t                             id;
    uint64_t                             ts;
    ngx_http_securechat_bus_kind_e       kind;
    ngx_http_securechat_room_event_e     event;
    ngx_uint_t                           online;    /* presence */
    uint64_t                             log_id;    /* reserved: events */
    uint64_t                             room_id;
    unsigned                             reserved:1;
    size_t                               room_len;
    size_t                               user_len;
    size_t                               text_len;
    u_char                               room[NGX_HTTP_SECURECHAT_ROOM_NAME_MAX];
    u_char                               user[NGX_HTTP_SECURECHAT_USER_MAX];
    u_char                               text[1];
} ngx_http_securechat_bus_item_t;


typedef struct {
    ngx_http_securechat_main_conf_t     *smcf;
    void                                *worker;     /* the zone's entry */
    ngx_uint_t                           expect;     /* worker_processes */
    ngx_event_t                          retry;      /* no entry yet */
    ngx_event_t                          stall;      /* a sealer is late */
    ngx_connection_t                    *doorbell;
    ngx_uint_t                           kicks;      /* seen so far */
    uint64_t                             cursor;     /* delivered up to */
    uint64_t                             notices;    /* the same, notices */
    u_char              notice_buf[NGX_HTTP_SECURECHAT_EPHEMERAL_DATA];

    ngx_queue_t                          waiting;    /* to be sealed */
    ngx_uint_t                           nwaiting;
    ngx_queue_t                          sealing;    /* in the thread */
    ngx_thread_task_t                   *task;
    ngx_uint_t                           busy;
    ngx_event_t                          start;      /* the next batch */
    u_char                              *seal_buf;   /* the thread's */
    u_char                  peek_buf[NGX_HTTP_SECURECHAT_BUS_PEEK];

    /* copies of history slots: a delivery batch, then one for fetch() */
    u_char                              *slots;
    size_t                               slot_data;
    ngx_http_securechat_bus_msg_t
                                  msgs[NGX_HTTP_SECURECHAT_BUS_BATCH + 1];
} ngx_http_securechat_bus_t;


static socklen_t ngx_http_securechat_doorbell_addr(ngx_pid_t pid,
    struct sockaddr_un *sun);
static ngx_int_t ngx_http_securechat_doorbell_open(ngx_cycle_t *cycle,
    ngx_http_securechat_bus_t *bus);
static void ngx_http_securechat_doorbell_handler(ngx_event_t *ev);
static void ngx_http_securechat_bus_ring(ngx_http_securechat_bus_t *bus,
    ngx_uint_t all);
static ngx_int_t ngx_http_securechat_bus_seal_next(
    ngx_http_securechat_bus_t *bus);
static void ngx_http_securechat_bus_start(ngx_event_t *ev);
static void ngx_http_securechat_bus_seal_thread(void *data, ngx_log_t *log);
static ngx_http_securechat_bus_item_t *ngx_http_securechat_bus_item(
    ngx_http_securechat_bus_t *bus, ngx_str_t *room, ngx_str_t *user,
    size_t text_len);
static void ngx_http_securechat_bus_queue(ngx_http_securechat_bus_t *bus,
    ngx_http_securechat_bus_item_t *item);
static ngx_int_t ngx_http_securechat_bus_seal_one(
    ngx_http_securechat_bus_t *bus, ngx_http_securechat_bus_item_t *item,
    uint64_t id, size_t *len);
static ngx_int_t ngx_http_securechat_bus_event_slot(
    ngx_http_securechat_bus_t *bus, ngx_http_securechat_bus_item_t *item,
    uint64_t id, u_char *p, size_t size, size_t *len);
static uint64_t ngx_http_securechat_bus_commit(ngx_http_securechat_bus_t *bus,
    ngx_http_securechat_bus_item_t *item);
static void ngx_http_securechat_bus_retry(ngx_event_t *ev);
static void ngx_http_securechat_bus_stall(ngx_event_t *ev);
static void ngx_http_securechat_bus_sealed(ngx_event_t *ev);
static void ngx_http_securechat_bus_deliver(ngx_http_securechat_bus_t *bus);
static ngx_int_t ngx_http_securechat_bus_head(u_char *buf, size_t len,
    ngx_http_securechat_bus_msg_t *msg);
static void ngx_http_securechat_bus_deliver_notices(
    ngx_http_securechat_bus_t *bus);
static uint64_t ngx_http_securechat_bus_presence_commit(
    ngx_http_securechat_bus_t *bus, ngx_http_securechat_bus_item_t *item);
static ngx_int_t ngx_http_securechat_bus_parse(u_char *buf, size_t len,
    ngx_http_securechat_bus_msg_t *msg);
static ngx_int_t ngx_http_securechat_bus_local_page(
    ngx_http_securechat_bus_page_t *page);
static void ngx_http_securechat_bus_orphans(ngx_http_securechat_bus_t *bus);
static ngx_int_t ngx_http_securechat_bus_local_presence(ngx_str_t *user,
    ngx_uint_t online);
static ngx_int_t ngx_http_securechat_bus_load(ngx_http_securechat_bus_t *bus,
    uint64_t id, ngx_http_securechat_bus_msg_t *msg, u_char *buf);


/* one bus per worker process */
static ngx_http_securechat_bus_t  *ngx_http_securechat_bus;


size_t
ngx_http_securechat_bus_slot_size(size_t message_max)
{
    size_t  message, event;

    message = NGX_HTTP_SECURECHAT_CEK_LEN
              + ngx_http_securechat_envelope_size(
                    NGX_HTTP_SECURECHAT_ROOM_NAME_MAX,
                    NGX_HTTP_SECURECHAT_SENDER_MAX, message_max);

    message += NGX_HTTP_SECURECHAT_BUS_MESSAGE_HEAD;

    event = NGX_HTTP_SECURECHAT_BUS_HEAD + NGX_HTTP_SECURECHAT_ROOM_NAME_MAX
            + 2 + NGX_HTTP_SECURECHAT_USER_MAX
            + NGX_HTTP_SECURECHAT_BUS_EVENT_MAX;

    return ngx_max(message, event);
}


static ngx_int_t
ngx_http_securechat_bus_local_init_process(ngx_cycle_t *cycle)
{
    ngx_http_securechat_bus_t        *bus;
    ngx_http_securechat_main_conf_t  *smcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_securechat_module);
    if (smcf == NULL || smcf->handlers == 0 || smcf->shm_zone == NULL) {
        return NGX_OK;
    }

    bus = ngx_pcalloc(cycle->pool, sizeof(ngx_http_securechat_bus_t));
    if (bus == NULL) {
        return NGX_ERROR;
    }

    bus->smcf = smcf;
    ngx_queue_init(&bus->waiting);
    ngx_queue_init(&bus->sealing);

    bus->slot_data = ngx_http_securechat_history_slot_data(smcf->shm_zone);
    bus->slots = ngx_palloc(cycle->pool, (NGX_HTTP_SECURECHAT_BUS_BATCH + 2)
                                         * bus->slot_data);
    if (bus->slots == NULL) {
        return NGX_ERROR;
    }

    bus->seal_buf = bus->slots + (NGX_HTTP_SECURECHAT_BUS_BATCH + 1)
                                 * bus->slot_data;

    bus->task = ngx_thread_task_alloc(cycle->pool, 0);
    if (bus->task == NULL) {
        return NGX_ERROR;
    }

    bus->task->ctx = bus;
    bus->task->handler = ngx_http_securechat_bus_seal_thread;
    bus->task->event.handler = ngx_http_securechat_bus_sealed;
    bus->task->event.data = bus;
    bus->task->event.log = cycle->log;

    bus->start.handler = ngx_http_securechat_bus_start;
    bus->start.data = bus;
    bus->start.log = cycle->log;

    /* neither keeps an exiting worker alive */

    bus->retry.handler = ngx_http_securechat_bus_retry;
    bus->retry.data = bus;
    bus->retry.log = cycle->log;
    bus->retry.cancelable = 1;

    bus->stall.handler = ngx_http_securechat_bus_stall;
    bus->stall.data = bus;
    bus->stall.log = cycle->log;
    bus->stall.cancelable = 1;

    if (ngx_http_securechat_doorbell_open(cycle, bus) != NGX_OK) {
        return NGX_ERROR;
    }

    bus->expect = ((ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx,
                                                    ngx_core_module))
                  ->worker_processes;

    /* a new worker delivers what is published from now on */
    bus->cursor = ngx_http_securechat_history_last(smcf->shm_zone);
    bus->notices = ngx_http_securechat_ephemeral_last(smcf->shm_zone);

    bus->worker = ngx_http_securechat_worker_register(smcf->shm_zone,
                                                      bus->expect, 1,
                                                      cycle->log);

    if (bus->worker == NULL) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "securechat: the zone has no room for this worker's "
                      "entry; it reads the history every %d ms until it "
                      "finds room", NGX_HTTP_SECURECHAT_BUS_RETRY);
        ngx_add_timer(&bus->retry, NGX_HTTP_SECURECHAT_BUS_RETRY);
    }

    ngx_http_securechat_bus = bus;

    /* a worker that died and was replaced left users online */
    ngx_http_securechat_bus_orphans(bus);

    return NGX_OK;
}


/*
 * The offline notices a dead worker never sent, for the users whose last
 * socket it held: whoever sweeps its clients from the zone (a new worker
 * registering, a connect) leaves them there for the next worker that
 * delivers.
 */

#define NGX_HTTP_SECURECHAT_BUS_ORPHANS  8

static void
ngx_http_securechat_bus_orphans(ngx_http_securechat_bus_t *bus)
{
    u_char      buf[NGX_HTTP_SECURECHAT_BUS_ORPHANS
                    * NGX_HTTP_SECURECHAT_USER_MAX];
    ngx_str_t   users[NGX_HTTP_SECURECHAT_BUS_ORPHANS];
    ngx_uint_t  i, n;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    do {
        n = ngx_http_securechat_client_orphans(bus->smcf->shm_zone, users,
                                               buf,
                                               NGX_HTTP_SECURECHAT_BUS_ORPHANS);

        for (i = 0; i < n; i++) {
            if (ngx_http_securechat_bus_local_presence(&users[i], 0)
                != NGX_OK)
            {
                return;     /* the queue is full: the rest are lost */
            }
        }

    } while (n == NGX_HTTP_SECURECHAT_BUS_ORPHANS);
}


/*
 * No entry in the worker table: nobody rings this worker, so it reads the
 * history itself and tries again; once registered, the doorbell takes
 * over from where the cursor is (nothing is skipped).
 */

static void
ngx_http_securechat_bus_retry(ngx_event_t *ev)
{
    ngx_http_securechat_bus_t  *bus;

    bus = ev->data;

    bus->worker = ngx_http_securechat_worker_register(bus->smcf->shm_zone,
                                                      bus->expect, 0,
                                                      ev->log);
    if (bus->worker != NULL) {
        ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                      "securechat: this worker now has an entry in the "
                      "zone and gets broadcasts");

    } else if (!ngx_exiting) {
        ngx_add_timer(&bus->retry, NGX_HTTP_SECURECHAT_BUS_RETRY);
    }

    ngx_http_securechat_bus_sink->kick_check();

    if (!bus->busy) {
        ngx_http_securechat_bus_deliver(bus);
    }
}


/* an id reserved a while ago is still not committed: is its sealer gone? */

static void
ngx_http_securechat_bus_stall(ngx_event_t *ev)
{
    ngx_uint_t                  gaps;
    ngx_http_securechat_bus_t  *bus;

    bus = ev->data;

    gaps = ngx_http_securechat_history_expire(bus->smcf->shm_zone);

    if (gaps) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "securechat: %ui message ids left as gaps: the "
                      "process sealing them died or stopped for over %ds",
                      gaps, NGX_HTTP_SECURECHAT_RESERVE_TIMEOUT);

        ngx_http_securechat_bus_ring(bus, 0);
    }

    if (!bus->busy) {
        /* re-arms this timer while something is still reserved */
        ngx_http_securechat_bus_deliver(bus);

    } else if (!bus->stall.timer_set) {
        ngx_add_timer(&bus->stall, NGX_HTTP_SECURECHAT_BUS_STALL);
    }
}


static void
ngx_http_securechat_bus_local_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t                     *q;
    ngx_http_securechat_bus_t       *bus;
    ngx_http_securechat_bus_item_t  *item;

    bus = ngx_http_securechat_bus;

    if (bus == NULL) {
        return;
    }

    /*
     * What is still queued is never sealed, or never answered: whoever
     * waits for it is gone with the worker.  The thread pools have joined
     * their threads by now (ngx_thread_pool_module, a core module, exits
     * before any HTTP module), so the batch a thread sealed is ours too.
     */

    ngx_queue_add(&bus->waiting, &bus->sealing);
    ngx_queue_init(&bus->sealing);

    while (!ngx_queue_empty(&bus->waiting)) {
        q = ngx_queue_head(&bus->waiting);
        ngx_queue_remove(q);
        item = ngx_queue_data(q, ngx_http_securechat_bus_item_t, queue);

        /* a gap at once, not after the sealer's time runs out */
        if (item->reserved) {
            ngx_http_securechat_history_abandon(bus->smcf->shm_zone,
                                                item->log_id);
        }

        OPENSSL_cleanse(item->text, item->text_len);
        ngx_free(item);
    }

    bus->nwaiting = 0;

    if (bus->worker != NULL) {
        ngx_http_securechat_worker_unregister(bus->smcf->shm_zone,
                                              bus->worker);
    }

    /* nginx counts connections left open at exit as leaks */

    if (bus->doorbell != NULL) {
        ngx_close_connection(bus->doorbell);
        bus->doorbell = NULL;
    }

    ngx_http_securechat_bus = NULL;
}


static socklen_t
ngx_http_securechat_doorbell_addr(ngx_pid_t pid, struct sockaddr_un *sun)
{
    u_char  *p;

    ngx_memzero(sun, sizeof(struct sockaddr_un));
    sun->sun_family = AF_UNIX;

    /* sun_path[0] == '\0': Linux's abstract namespace, no file to clean */

    p = ngx_snprintf((u_char *) sun->sun_path + 1,
                     sizeof(sun->sun_path) - 1, "ngx_securechat/%P", pid);

    return offsetof(struct sockaddr_un, sun_path)
           + (p - (u_char *) sun->sun_path);
}


static ngx_int_t
ngx_http_securechat_doorbell_open(ngx_cycle_t *cycle,
    ngx_http_securechat_bus_t *bus)
{
    int                  fd;
    socklen_t            len;
    ngx_connection_t    *c;
    struct sockaddr_un   sun;

    fd = socket(AF_UNIX, SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "securechat: doorbell socket() failed");
        return NGX_ERROR;
    }

    len = ngx_http_securechat_doorbell_addr(ngx_pid, &sun);

    if (bind(fd, (struct sockaddr *) &sun, len) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "securechat: doorbell bind() failed");
        (void) close(fd);
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, cycle->log);
    if (c == NULL) {
        (void) close(fd);
        return NGX_ERROR;
    }

    c->data = bus;
    c->read->handler = ngx_http_securechat_doorbell_handler;
    c->read->log = cycle->log;
    c->write->log = cycle->log;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_close_connection(c);
        return NGX_ERROR;
    }

    bus->doorbell = c;

    return NGX_OK;
}


static void
ngx_http_securechat_doorbell_handler(ngx_event_t *ev)
{
    ssize_t                     n;
    ngx_uint_t                  kicks;
    ngx_connection_t           *c;
    ngx_http_securechat_bus_t  *bus;
    u_char                      buf[16];

    c = ev->data;
    bus = c->data;

    /* every ring says the same: drain them all */

    do {
        n = recv(c->fd, buf, sizeof(buf), 0);
    } while (n >= 0);

    ev->ready = 0;

    if (ngx_handle_read_event(ev, 0) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "securechat: doorbell event failed");
    }

    if (bus->worker == NULL) {
        return;
    }

    ngx_http_securechat_worker_arm(bus->worker);

    kicks = ngx_http_securechat_worker_kicks(bus->worker);

    if (kicks != bus->kicks) {
        bus->kicks = kicks;
        ngx_http_securechat_bus_sink->kick_check();
    }

    if (bus->busy) {
        /*
         * A batch of ours is being sealed: its delivery, a signature or
         * a few away, takes what the other worker committed too, in the
         * same writes to each client.
         */
        return;
    }

    ngx_http_securechat_bus_deliver(bus);
}


/* rings the armed workers, or all of them (to close clients) */

static void
ngx_http_securechat_bus_ring(ngx_http_securechat_bus_t *bus, ngx_uint_t all)
{
    socklen_t           len;
    ngx_uint_t          i, n, pos;
    ngx_pid_t           pids[NGX_HTTP_SECURECHAT_RING_BATCH];
    struct sockaddr_un  sun;

    pos = 0;

    do {
        n = ngx_http_securechat_workers_to_ring(bus->smcf->shm_zone,
                                                bus->worker, pids, &pos,
                                                all);

        for (i = 0; i < n; i++) {
            len = ngx_http_securechat_doorbell_addr(pids[i], &sun);

            /*
             * EAGAIN: that worker has rings queued already; ECONNREFUSED:
             * it is gone, and the client table sweeps its entry
             */

            if (sendto(bus->doorbell->fd, "", 1, 0, (struct sockaddr *) &sun,
                       len)
                == -1)
            {
                ngx_log_debug2(NGX_LOG_DEBUG_HTTP, bus->doorbell->log,
                               ngx_socket_errno,
                               "securechat: doorbell of %P not rung (%d)",
                               pids[i], (int) ngx_socket_errno);
            }
        }

    } while (n == NGX_HTTP_SECURECHAT_RING_BATCH);
}


static ngx_int_t
ngx_http_securechat_bus_local_publish(ngx_str_t *room, ngx_str_t *user,
    ngx_str_t *text, ngx_http_securechat_published_pt published, void *data)
{
    ngx_http_securechat_bus_t       *bus;
    ngx_http_securechat_bus_item_t  *item;

    bus = ngx_http_securechat_bus;

    if (bus == NULL) {
        return NGX_ERROR;
    }

    if (bus->nwaiting >= NGX_HTTP_SECURECHAT_BUS_QUEUE_MAX) {
        return NGX_BUSY;
    }

    item = ngx_http_securechat_bus_item(bus, room, user, text->len);
    if (item == NULL) {
        return NGX_ERROR;
    }

    item->kind = NGX_HTTP_SECURECHAT_BUS_MESSAGE;
    item->published = published;
    item->data = data;
    ngx_memcpy(item->text, text->data, text->len);

    ngx_http_securechat_bus_queue(bus, item);

    return NGX_OK;
}


/*
 * An event takes the way of the messages, sealing queue and all: it is in
 * the history in the order this worker accepted things, and the sealer
 * signs it as it signs them.  The item's text holds who did it (a length
 * byte and the name) and the detail (the new role or title).
 */

static ngx_int_t
ngx_http_securechat_bus_local_event(ngx_http_securechat_bus_event_t *ev)
{
    u_char                          *p;
    size_t                           detail_len;
    const u_char                    *detail;
    ngx_http_securechat_bus_t       *bus;
    ngx_http_securechat_bus_item_t  *item;

    bus = ngx_http_securechat_bus;

    if (bus == NULL || ev->by.len > NGX_HTTP_SECURECHAT_USER_MAX) {
        return NGX_ERROR;
    }

    /* an event is never dropped for a full queue: it changes delivery */

    detail = (const u_char *) ev->role;
    detail_len = ev->role ? ngx_strlen(ev->role) : 0;

    if (ev->title.len) {
        detail = ev->title.data;
        detail_len = ev->title.len;
    }

    if (detail_len > NGX_HTTP_SECURECHAT_EVENT_DETAIL_MAX) {
        return NGX_ERROR;
    }

    item = ngx_http_securechat_bus_item(bus, &ev->room, &ev->user,
                                        1 + ev->by.len + detail_len);
    if (item == NULL) {
        return NGX_ERROR;
    }

    item->kind = NGX_HTTP_SECURECHAT_BUS_EVENT;
    item->event = ev->event;
    item->published = NULL;
    item->data = NULL;

    p = item->text;
    *p++ = (u_char) ev->by.len;
    p = ngx_cpymem(p, ev->by.data, ev->by.len);
    ngx_memcpy(p, detail, detail_len);

    /*
     * Its place in the log now, before the route answers: what anyone
     * does after the answer (post to a room just opened, say) comes after
     * it in every worker, although this worker's sealer may reach it
     * later than another's reaches theirs.
     */

    if (ngx_http_securechat_history_reserve(bus->smcf->shm_zone, &ev->room,
                                            &item->log_id, &item->room_id)
        != NGX_OK)
    {
        ngx_free(item);
        return NGX_ERROR;
    }

    item->reserved = 1;

    ngx_http_securechat_bus_queue(bus, item);

    return NGX_OK;
}


/* signed in the thread, as events are; one per user's first or last socket */

static ngx_int_t
ngx_http_securechat_bus_local_presence(ngx_str_t *user, ngx_uint_t online)
{
    ngx_str_t                        none = ngx_null_string;
    ngx_http_securechat_bus_t       *bus;
    ngx_http_securechat_bus_item_t  *item;

    bus = ngx_http_securechat_bus;

    if (bus == NULL) {
        return NGX_ERROR;
    }

    if (bus->nwaiting >= NGX_HTTP_SECURECHAT_BUS_QUEUE_MAX) {
        return NGX_BUSY;
    }

    item = ngx_http_securechat_bus_item(bus, &none, user, 0);
    if (item == NULL) {
        return NGX_ERROR;
    }

    item->kind = NGX_HTTP_SECURECHAT_BUS_PRESENCE;
    item->online = online ? 1 : 0;
    item->published = NULL;
    item->data = NULL;

    ngx_http_securechat_bus_queue(bus, item);

    return NGX_OK;
}


/* unsigned and at once: nothing to seal, and late is useless */

static ngx_int_t
ngx_http_securechat_bus_local_typing(ngx_str_t *room, ngx_str_t *user)
{
    u_char                     *p;
    size_t                      len;
    json_t                     *doc;
    ngx_http_securechat_bus_t  *bus;
    u_char                      buf[NGX_HTTP_SECURECHAT_EPHEMERAL_DATA];

    bus = ngx_http_securechat_bus;

    if (bus == NULL || room->len == 0
        || room->len > NGX_HTTP_SECURECHAT_ROOM_NAME_MAX
        || user->len == 0 || user->len > NGX_HTTP_SECURECHAT_USER_MAX)
    {
        return NGX_ERROR;
    }

    p = buf;
    *p++ = (u_char) NGX_HTTP_SECURECHAT_BUS_TYPING;
    *p++ = (u_char) user->len;
    p = ngx_cpymem(p, user->data, user->len);
    *p++ = (u_char) room->len;
    p = ngx_cpymem(p, room->data, room->len);

    doc = json_pack("{s:s, s:s#, s:s#, s:b}", "type", "typing",
                    "room", room->data, (int) room->len,
                    "user", user->data, (int) user->len, "signed", 0);
    if (doc == NULL) {
        return NGX_ERROR;
    }

    len = json_dumpb(doc, (char *) p, buf + sizeof(buf) - p, JSON_COMPACT);
    json_decref(doc);

    if (len == 0 || len > (size_t) (buf + sizeof(buf) - p)) {
        return NGX_ERROR;
    }

    if (ngx_http_securechat_ephemeral_append(bus->smcf->shm_zone, buf,
                                             p + len - buf)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_securechat_bus_ring(bus, 0);

    if (!bus->busy) {
        ngx_http_securechat_bus_deliver_notices(bus);
    }

    return NGX_OK;
}


static ngx_http_securechat_bus_item_t *
ngx_http_securechat_bus_item(ngx_http_securechat_bus_t *bus, ngx_str_t *room,
    ngx_str_t *user, size_t text_len)
{
    ngx_time_t                      *tp;
    ngx_http_securechat_bus_item_t  *item;

    /* no room: a presence notice, which is the user's */

    if (room->len > NGX_HTTP_SECURECHAT_ROOM_NAME_MAX
        || user->len == 0 || user->len > NGX_HTTP_SECURECHAT_USER_MAX)
    {
        return NULL;
    }

    item = ngx_alloc(offsetof(ngx_http_securechat_bus_item_t, text)
                     + text_len, ngx_cycle->log);
    if (item == NULL) {
        return NULL;
    }

    tp = ngx_timeofday();

    item->id = 0;
    item->reserved = 0;
    item->ts = (uint64_t) tp->sec * 1000 + tp->msec;
    item->room_len = room->len;
    ngx_memcpy(item->room, room->data, room->len);
    item->user_len = user->len;
    ngx_memcpy(item->user, user->data, user->len);
    item->text_len = text_len;

    return item;
}


static void
ngx_http_securechat_bus_queue(ngx_http_securechat_bus_t *bus,
    ngx_http_securechat_bus_item_t *item)
{
    ngx_queue_insert_tail(&bus->waiting, &item->queue);
    bus->nwaiting++;

    if (!bus->busy && !bus->start.timer_set) {
        /* after this pass: the other requests it read may join the batch */
        ngx_add_timer(&bus->start, 0);
    }
}


static void
ngx_http_securechat_bus_start(ngx_event_t *ev)
{
    ngx_http_securechat_bus_t  *bus;

    bus = ev->data;

    if (bus->busy || ngx_queue_empty(&bus->waiting)) {
        return;
    }

    if (ngx_http_securechat_bus_seal_next(bus) != NGX_OK) {
        /*
         * The pool's queue is full (a storm of connections, each with a
         * hello to sign): the batch waits; publish() refuses new texts
         * once too many wait.
         */
        ngx_add_timer(&bus->start, 10);
    }
}


static ngx_int_t
ngx_http_securechat_bus_seal_next(ngx_http_securechat_bus_t *bus)
{
    ngx_uint_t    n;
    ngx_queue_t  *q;

    for (n = 0; n < NGX_HTTP_SECURECHAT_BUS_BATCH; n++) {
        if (ngx_queue_empty(&bus->waiting)) {
            break;
        }

        q = ngx_queue_head(&bus->waiting);
        ngx_queue_remove(q);
        bus->nwaiting--;
        ngx_queue_insert_tail(&bus->sealing, q);
    }

    if (ngx_thread_task_post(bus->smcf->seal_pool, bus->task) != NGX_OK) {

        /* give the batch back, in order */

        while (!ngx_queue_empty(&bus->sealing)) {
            q = ngx_queue_last(&bus->sealing);
            ngx_queue_remove(q);
            ngx_queue_insert_head(&bus->waiting, q);
            bus->nwaiting++;
        }

        return NGX_ERROR;
    }

    bus->busy = 1;

    return NGX_OK;
}


/* runs in a thread of the pool: touches the batch and the zone only */

static void
ngx_http_securechat_bus_seal_thread(void *data, ngx_log_t *log)
{
    ngx_http_securechat_bus_t  *bus = data;

    ngx_queue_t                     *q;
    ngx_http_securechat_bus_item_t  *item;

    for (q = ngx_queue_head(&bus->sealing);
         q != ngx_queue_sentinel(&bus->sealing);
         q = ngx_queue_next(q))
    {
        item = ngx_queue_data(q, ngx_http_securechat_bus_item_t, queue);

        item->id = ngx_http_securechat_bus_commit(bus, item);

        OPENSSL_cleanse(item->text, item->text_len);
    }

    OPENSSL_cleanse(bus->seal_buf, bus->slot_data);
}


/*
 * Reserve (an event has its ids already), seal, commit: the room's id or
 * 0.  A reservation abandoned while it was sealed (this worker was
 * stopped longer than the bound) became a gap that readers went past: the
 * entry gets the next id instead, once.
 */

static uint64_t
ngx_http_securechat_bus_commit(ngx_http_securechat_bus_t *bus,
    ngx_http_securechat_bus_item_t *item)
{
    size_t           len;
    uint64_t         id, room_id;
    ngx_int_t        rc;
    ngx_str_t        room;
    ngx_uint_t       try;
    ngx_shm_zone_t  *shm_zone;

    shm_zone = bus->smcf->shm_zone;
    room.data = item->room;
    room.len = item->room_len;

    if (item->kind == NGX_HTTP_SECURECHAT_BUS_PRESENCE) {
        return ngx_http_securechat_bus_presence_commit(bus, item);
    }

    for (try = 0; try < 2; try++) {

        if (try == 0 && item->reserved) {
            id = item->log_id;
            room_id = item->room_id;

        } else if (ngx_http_securechat_history_reserve(shm_zone, &room, &id,
                                                       &room_id)
                   != NGX_OK)
        {
            return 0;
        }

        if (ngx_http_securechat_bus_seal_one(bus, item, room_id, &len)
            != NGX_OK)
        {
            ngx_http_securechat_history_abandon(shm_zone, id);
            return 0;
        }

        rc = ngx_http_securechat_history_commit(shm_zone, id, bus->seal_buf,
                                                len);
        if (rc == NGX_OK) {
            return room_id;     /* the id clients know it by */
        }

        if (rc == NGX_ERROR) {
            return 0;
        }
    }

    return 0;
}


/*
 * A notice in the ring of its own: kind, user (a length byte and the
 * name), room (the same; none for presence), its frame.  1, or 0 if it
 * could not be signed or written.
 */

static uint64_t
ngx_http_securechat_bus_presence_commit(ngx_http_securechat_bus_t *bus,
    ngx_http_securechat_bus_item_t *item)
{
    u_char                             *p, *buf;
    size_t                              len, size;
    ngx_http_securechat_presence_in_t   in;

    buf = bus->seal_buf;
    size = ngx_min(bus->slot_data, NGX_HTTP_SECURECHAT_EPHEMERAL_DATA);

    if (size < 3 + item->user_len) {
        return 0;
    }

    p = buf;
    *p++ = (u_char) NGX_HTTP_SECURECHAT_BUS_PRESENCE;
    *p++ = (u_char) item->user_len;
    p = ngx_cpymem(p, item->user, item->user_len);
    *p++ = 0;

    in.server_key = bus->smcf->signing_key;
    in.server_key_id = bus->smcf->key_id.data;
    in.ts = item->ts;
    in.epoch = ngx_http_securechat_history_epoch(bus->smcf->shm_zone);
    in.user = item->user;
    in.user_len = item->user_len;
    in.online = item->online;

    if (ngx_http_securechat_presence_seal(&in, p, size - (p - buf), &len)
        != NGX_HTTP_SECURECHAT_ENV_OK
        || ngx_http_securechat_ephemeral_append(bus->smcf->shm_zone, buf,
                                                (p - buf) + len)
           != NGX_OK)
    {
        return 0;
    }

    return 1;
}


/* a history slot: see NGX_HTTP_SECURECHAT_BUS_HEAD; id is the room's */

static ngx_int_t
ngx_http_securechat_bus_seal_one(ngx_http_securechat_bus_t *bus,
    ngx_http_securechat_bus_item_t *item, uint64_t id, size_t *len)
{
    u_char                            *buf, *p;
    size_t                             size, head;
    ngx_http_securechat_envelope_t     env;
    ngx_http_securechat_message_in_t   in;

    buf = bus->seal_buf;
    size = bus->slot_data;

    buf[0] = (u_char) item->kind;
    buf[1] = (u_char) item->room_len;
    ngx_memcpy(buf + NGX_HTTP_SECURECHAT_BUS_ROOM_ID, &id, sizeof(uint64_t));

    if (item->kind == NGX_HTTP_SECURECHAT_BUS_EVENT) {
        head = NGX_HTTP_SECURECHAT_BUS_HEAD + item->room_len;

        if (size < head) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(buf + NGX_HTTP_SECURECHAT_BUS_HEAD, item->room,
                       item->room_len);

        if (ngx_http_securechat_bus_event_slot(bus, item, id, p, size - head,
                                               len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        *len += head;
        return NGX_OK;
    }

    head = NGX_HTTP_SECURECHAT_BUS_MESSAGE_HEAD;

    if (size < head + NGX_HTTP_SECURECHAT_CEK_LEN) {
        return NGX_ERROR;
    }

    p = buf + head;

    in.server_key = bus->smcf->signing_key;
    in.server_key_id = bus->smcf->key_id.data;
    in.id = id;
    in.ts = item->ts;

    /*
     * The epoch is the zone's, for every room: the one the hello gives.
     * It is set when the zone is made and never changes, so reading it
     * here, in the sealing thread, needs no lock.
     */

    in.epoch = ngx_http_securechat_history_epoch(bus->smcf->shm_zone);
    in.room = item->room;
    in.room_len = item->room_len;
    in.sender = item->user;
    in.sender_len = item->user_len;
    in.text = item->text;
    in.text_len = item->text_len;

    if (ngx_http_securechat_envelope_seal(&in, &env,
                                   p + NGX_HTTP_SECURECHAT_CEK_LEN,
                                   size - head - NGX_HTTP_SECURECHAT_CEK_LEN)
        != NGX_HTTP_SECURECHAT_ENV_OK)
    {
        return NGX_ERROR;
    }

    if (env.room_at > 255) {
        ngx_http_securechat_envelope_clear(&env);
        return NGX_ERROR;
    }

    buf[NGX_HTTP_SECURECHAT_BUS_HEAD] = (u_char) env.room_at;
    ngx_memcpy(p, env.cek, NGX_HTTP_SECURECHAT_CEK_LEN);
    *len = head + NGX_HTTP_SECURECHAT_CEK_LEN + env.prefix_len;

    ngx_http_securechat_envelope_clear(&env);

    return NGX_OK;
}


/* an event's part of the slot: type, target, its signed frame */

static ngx_int_t
ngx_http_securechat_bus_event_slot(ngx_http_securechat_bus_t *bus,
    ngx_http_securechat_bus_item_t *item, uint64_t id, u_char *p,
    size_t size, size_t *len)
{
    size_t                           frame_len;
    u_char                          *start;
    ngx_http_securechat_event_in_t   in;

    start = p;

    if (size < 2 + item->user_len || item->text_len < 1
        || (size_t) item->text[0] + 1 > item->text_len)
    {
        return NGX_ERROR;
    }

    *p++ = (u_char) item->event;
    *p++ = (u_char) item->user_len;
    p = ngx_cpymem(p, item->user, item->user_len);

    in.server_key = bus->smcf->signing_key;
    in.server_key_id = bus->smcf->key_id.data;
    in.id = id;
    in.ts = item->ts;
    in.epoch = ngx_http_securechat_history_epoch(bus->smcf->shm_zone);
    in.room = item->room;
    in.room_len = item->room_len;
    in.event = ngx_http_securechat_room_event_name(item->event);
    in.user = item->user;
    in.user_len = item->user_len;
    in.by = item->text + 1;
    in.by_len = item->text[0];
    in.detail = item->text + 1 + in.by_len;
    in.detail_len = item->text_len - 1 - in.by_len;

    in.detail_name = (item->event == NGX_HTTP_SECURECHAT_EVENT_ROLE)
                     ? "role"
                     : (item->event == NGX_HTTP_SECURECHAT_EVENT_TITLE)
                       ? "title" : NULL;

    if (ngx_http_securechat_event_seal(&in, p, size - (p - start), &frame_len)
        != NGX_HTTP_SECURECHAT_ENV_OK)
    {
        return NGX_ERROR;
    }

    *len = (p - start) + frame_len;

    return NGX_OK;
}


static void
ngx_http_securechat_bus_sealed(ngx_event_t *ev)
{
    ngx_queue_t                     *q;
    ngx_http_securechat_bus_t       *bus;
    ngx_http_securechat_bus_item_t  *item;

    bus = ev->data;
    bus->busy = 0;

    /* the other workers first, then the HTTP answers, then local clients */

    for (q = ngx_queue_head(&bus->sealing);
         q != ngx_queue_sentinel(&bus->sealing);
         q = ngx_queue_next(q))
    {
        item = ngx_queue_data(q, ngx_http_securechat_bus_item_t, queue);

        if (item->id == 0) {
            ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                          "securechat: a message could not be sealed");
        }
    }

    /*
     * Rung when the readers' mark moved past what this worker delivered:
     * by its commits, or by commits of others that waited for one of its
     * ids.  When it did not move, an id of another worker still holds it
     * back, and that worker rings once it commits.
     */

    if (ngx_http_securechat_history_last(bus->smcf->shm_zone) > bus->cursor
        || ngx_http_securechat_ephemeral_last(bus->smcf->shm_zone)
           > bus->notices)
    {
        ngx_http_securechat_bus_ring(bus, 0);
    }

    /*
     * The answers before the local delivery: a publisher's next message
     * then arrives while this batch is written out, and joins the next.
     */

    while (!ngx_queue_empty(&bus->sealing)) {
        q = ngx_queue_head(&bus->sealing);
        ngx_queue_remove(q);
        item = ngx_queue_data(q, ngx_http_securechat_bus_item_t, queue);

        if (item->published) {
            item->published(item->data, item->id);
        }

        ngx_free(item);
    }

    /* ours, and what other workers committed while it was sealed */
    ngx_http_securechat_bus_deliver(bus);

    /* after the next pass of the event loop, which reads what came */

    if (!ngx_queue_empty(&bus->waiting) && !bus->start.timer_set) {
        ngx_add_timer(&bus->start, 0);
    }
}


/* hands everything new in the history to this worker's clients, in order */

static void
ngx_http_securechat_bus_deliver(ngx_http_securechat_bus_t *bus)
{
    uint64_t    last, id;
    ngx_uint_t  n, k;

    for ( ;; ) {
        last = ngx_http_securechat_history_last(bus->smcf->shm_zone);

        if (bus->cursor >= last) {
            break;
        }

        n = (last - bus->cursor > NGX_HTTP_SECURECHAT_BUS_BATCH)
            ? NGX_HTTP_SECURECHAT_BUS_BATCH : (ngx_uint_t) (last - bus->cursor);

        for (k = 0; k < n; k++) {
            id = bus->cursor + 1 + k;
            (void) ngx_http_securechat_bus_load(bus, id, &bus->msgs[k],
                                                bus->slots
                                                + k * bus->slot_data);
        }

        ngx_http_securechat_bus_sink->deliver(bus->msgs, n);

        for (k = 0; k < n; k++) {
            OPENSSL_cleanse(bus->msgs[k].env.cek, NGX_HTTP_SECURECHAT_CEK_LEN);
        }

        bus->cursor += n;
    }

    /* an id is being sealed, or its sealer is lost: look again later */

    if (ngx_http_securechat_history_reserved(bus->smcf->shm_zone) > last
        && !bus->stall.timer_set && !ngx_exiting)
    {
        ngx_add_timer(&bus->stall, NGX_HTTP_SECURECHAT_BUS_STALL);
    }

    ngx_http_securechat_bus_deliver_notices(bus);

    ngx_http_securechat_bus_orphans(bus);
}


/*
 * The notices since the last look, oldest first; those the small ring
 * dropped before this worker read them are lost: no one waits for them.
 */

static void
ngx_http_securechat_bus_deliver_notices(ngx_http_securechat_bus_t *bus)
{
    u_char                            *p, *end;
    size_t                             len;
    uint64_t                           last;
    ngx_http_securechat_bus_notice_t   n;

    last = ngx_http_securechat_ephemeral_last(bus->smcf->shm_zone);

    if (last - bus->notices > NGX_HTTP_SECURECHAT_EPHEMERAL_SLOTS) {
        bus->notices = last - NGX_HTTP_SECURECHAT_EPHEMERAL_SLOTS;
    }

    while (bus->notices < last) {
        bus->notices++;

        if (ngx_http_securechat_ephemeral_read(bus->smcf->shm_zone,
                                               bus->notices, bus->notice_buf,
                                               &len)
            != NGX_OK)
        {
            continue;
        }

        /* kind, user, room, frame: written by us, checked all the same */

        p = bus->notice_buf;
        end = p + len;

        if (len < 3 || (size_t) p[1] + 3 > len) {
            continue;
        }

        n.kind = (ngx_http_securechat_bus_kind_e) p[0];
        n.user.len = p[1];
        n.user.data = p + 2;
        p += 2 + n.user.len;
        n.room.len = *p++;
        n.room.data = p;

        if ((size_t) (end - p) < n.room.len + 2) {
            continue;
        }

        n.json.data = p + n.room.len;
        n.json.len = end - n.json.data;

        if (n.kind == NGX_HTTP_SECURECHAT_BUS_PRESENCE
            || n.kind == NGX_HTTP_SECURECHAT_BUS_TYPING)
        {
            ngx_http_securechat_bus_sink->notice(&n);
        }
    }
}


static ngx_int_t
ngx_http_securechat_bus_load(ngx_http_securechat_bus_t *bus, uint64_t id,
    ngx_http_securechat_bus_msg_t *msg, u_char *buf)
{
    size_t      len;
    ngx_int_t   rc;

    msg->id = id;
    msg->gone = 1;
    msg->room_id = 0;

    rc = ngx_http_securechat_history_read(bus->smcf->shm_zone, id, buf, &len);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_securechat_bus_parse(buf, len, msg);
}


/* an entry's len bytes in buf into msg: NGX_OK, or NGX_DECLINED */

static ngx_int_t
ngx_http_securechat_bus_parse(u_char *buf, size_t len,
    ngx_http_securechat_bus_msg_t *msg)
{
    u_char  *p, *last;
    size_t   body;

    /* written by our own sealers; checked all the same */

    if (ngx_http_securechat_bus_head(buf, len, msg) != NGX_OK) {
        return NGX_DECLINED;
    }

    last = buf + len;

    if (msg->kind == NGX_HTTP_SECURECHAT_BUS_MESSAGE) {
        p = buf + NGX_HTTP_SECURECHAT_BUS_MESSAGE_HEAD;

        ngx_memcpy(msg->env.cek, p, NGX_HTTP_SECURECHAT_CEK_LEN);
        msg->env.frame = p + NGX_HTTP_SECURECHAT_CEK_LEN;
        msg->env.prefix_len = last - msg->env.frame;
        body = msg->env.prefix_len + NGX_HTTP_SECURECHAT_ENVELOPE_TAIL_LEN;

    } else {
        p = buf + NGX_HTTP_SECURECHAT_BUS_HEAD + msg->room.len;

        if (last - p < 2 || (size_t) (last - p) < 2 + (size_t) p[1] + 2
            || p[0] >= NGX_HTTP_SECURECHAT_EVENT_COUNT)
        {
            return NGX_DECLINED;
        }

        ngx_memzero(&msg->env, sizeof(ngx_http_securechat_envelope_t));
        msg->event = (ngx_http_securechat_room_event_e) p[0];
        msg->target.len = p[1];
        msg->target.data = p + 2;
        msg->json.data = p + 2 + p[1];
        msg->json.len = last - msg->json.data;
        body = msg->json.len;
    }

    msg->wshdr_len = ngx_http_securechat_frame_header(msg->wshdr,
                         NGX_HTTP_SECURECHAT_WS_TEXT, 1, body);
    msg->gone = 0;

    return NGX_OK;
}


/*
 * The kind, room and room id of the slot's first len bytes: enough of a
 * message's to reach the room's name in its frame.  NGX_OK or NGX_ERROR.
 */

static ngx_int_t
ngx_http_securechat_bus_head(u_char *buf, size_t len,
    ngx_http_securechat_bus_msg_t *msg)
{
    size_t  at;

    if (len < NGX_HTTP_SECURECHAT_BUS_HEAD || buf[1] == 0
        || buf[1] > NGX_HTTP_SECURECHAT_ROOM_NAME_MAX)
    {
        return NGX_ERROR;
    }

    msg->room.len = buf[1];
    ngx_memcpy(&msg->room_id, buf + NGX_HTTP_SECURECHAT_BUS_ROOM_ID,
               sizeof(uint64_t));

    switch (buf[0]) {

    case NGX_HTTP_SECURECHAT_BUS_MESSAGE:
        if (len <= NGX_HTTP_SECURECHAT_BUS_MESSAGE_HEAD) {
            return NGX_ERROR;
        }

        at = NGX_HTTP_SECURECHAT_BUS_MESSAGE_HEAD + NGX_HTTP_SECURECHAT_CEK_LEN
             + buf[NGX_HTTP_SECURECHAT_BUS_HEAD];

        if (at + msg->room.len > len) {
            return NGX_ERROR;
        }

        msg->kind = NGX_HTTP_SECURECHAT_BUS_MESSAGE;
        msg->room.data = buf + at;
        return NGX_OK;

    case NGX_HTTP_SECURECHAT_BUS_EVENT:
        if (NGX_HTTP_SECURECHAT_BUS_HEAD + msg->room.len > len) {
            return NGX_ERROR;
        }

        msg->kind = NGX_HTTP_SECURECHAT_BUS_EVENT;
        msg->room.data = buf + NGX_HTTP_SECURECHAT_BUS_HEAD;
        return NGX_OK;

    default:
        return NGX_ERROR;
    }
}


/* what a client resuming needs to find where to start: no copy of it all */

static ngx_int_t
ngx_http_securechat_bus_local_peek(uint64_t id,
    ngx_http_securechat_bus_msg_t *msg)
{
    size_t                      len;
    ngx_int_t                   rc;
    ngx_http_securechat_bus_t  *bus;

    bus = ngx_http_securechat_bus;

    msg->id = id;
    msg->gone = 1;

    rc = ngx_http_securechat_history_head(bus->smcf->shm_zone, id,
                                          bus->peek_buf,
                                          NGX_HTTP_SECURECHAT_BUS_PEEK, &len);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_securechat_bus_head(bus->peek_buf, len, msg) != NGX_OK) {
        return NGX_DECLINED;
    }

    msg->gone = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_securechat_bus_local_fetch(uint64_t id, ngx_http_securechat_bus_msg_t **msg)
{
    ngx_int_t                   rc;
    ngx_http_securechat_bus_t  *bus;

    bus = ngx_http_securechat_bus;

    *msg = &bus->msgs[NGX_HTTP_SECURECHAT_BUS_BATCH];

    rc = ngx_http_securechat_bus_load(bus, id, *msg,
                                      bus->slots + NGX_HTTP_SECURECHAT_BUS_BATCH
                                                   * bus->slot_data);
    return rc;
}


/*
 * A page of a room's history, from what the zone holds: its entries are
 * copied into the request's pool under the mutex, then parsed there.
 */

static ngx_int_t
ngx_http_securechat_bus_local_page(ngx_http_securechat_bus_page_t *page)
{
    ngx_uint_t                           i, n;
    ngx_array_t                          items;
    ngx_http_securechat_bus_t           *bus;
    ngx_http_securechat_bus_msg_t       *msg;
    ngx_http_securechat_history_item_t  *item;

    bus = ngx_http_securechat_bus;

    if (bus == NULL
        || ngx_array_init(&items, page->pool, page->limit,
                          sizeof(ngx_http_securechat_history_item_t))
           != NGX_OK
        || ngx_array_init(&page->msgs, page->pool, page->limit,
                          sizeof(ngx_http_securechat_bus_msg_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_securechat_history_room_page(bus->smcf->shm_zone,
                                              &page->room, page->before,
                                              page->limit, page->pool,
                                              &items, &page->more)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    item = items.elts;
    n = items.nelts;

    /* the room's last id, for a page that holds nothing: see bus.h */
    page->lowest = ngx_min(page->before,
                           ngx_http_securechat_history_room_last(
                               bus->smcf->shm_zone, &page->room) + 1);

    /* oldest first */

    for (i = n; i-- > 0; /* void */) {
        msg = ngx_array_push(&page->msgs);
        if (msg == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(msg, sizeof(ngx_http_securechat_bus_msg_t));
        msg->id = item[i].id;

        if (ngx_http_securechat_bus_parse(item[i].data.data, item[i].data.len,
                                          msg)
            != NGX_OK)
        {
            page->msgs.nelts--;
            continue;
        }

        if (page->msgs.nelts == 1) {
            page->lowest = msg->room_id;
        }
    }

    return NGX_OK;
}


static uint64_t
ngx_http_securechat_bus_local_cursor(void)
{
    return ngx_http_securechat_bus ? ngx_http_securechat_bus->cursor : 0;
}


static ngx_int_t
ngx_http_securechat_bus_local_disconnect(ngx_str_t *id, ngx_str_t *user,
    ngx_uint_t code)
{
    ngx_pid_t                   pid;
    ngx_int_t                   rc;
    ngx_http_securechat_bus_t  *bus;

    bus = ngx_http_securechat_bus;

    if (bus == NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_http_securechat_client_kick(bus->smcf->shm_zone, id, user, code,
                                         &pid);
    if (rc != NGX_OK) {
        return rc;
    }

    if (pid == ngx_pid) {
        ngx_http_securechat_bus_sink->kick_check();

    } else {
        ngx_http_securechat_bus_ring(bus, 1);
    }

    return NGX_OK;
}


static void
ngx_http_securechat_bus_local_disconnect_session(const u_char *session,
    ngx_uint_t code)
{
    ngx_http_securechat_bus_t  *bus;

    bus = ngx_http_securechat_bus;

    if (bus == NULL) {
        return;
    }

    if (ngx_http_securechat_client_kick_session(bus->smcf->shm_zone, session,
                                                code)
        == 0)
    {
        return;
    }

    ngx_http_securechat_bus_sink->kick_check();
    ngx_http_securechat_bus_ring(bus, 1);
}


ngx_http_securechat_bus_ops_t  ngx_http_securechat_bus_local = {
    "local",
    ngx_http_securechat_bus_local_init_process,
    ngx_http_securechat_bus_local_exit_process,
    ngx_http_securechat_bus_local_publish,
    ngx_http_securechat_bus_local_event,
    ngx_http_securechat_bus_local_disconnect,
    ngx_http_securechat_bus_local_disconnect_session,
    ngx_http_securechat_bus_local_cursor,
    ngx_http_securechat_bus_local_fetch,
    ngx_http_securechat_bus_local_peek,
    ngx_http_securechat_bus_local_page,
    ngx_http_securechat_bus_local_presence,
    ngx_http_securechat_bus_local_typing
};
