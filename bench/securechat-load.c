
/*
 * securechat-load: WebSocket fan-out load generator for the securechat
 * module and, for comparison, nchan.  One thread, epoll, non-blocking
 * sockets; it reports its own CPU time so a reader can tell when the tool,
 * not the server, was the limit.
 *
 *   securechat-load --mode securechat|nchan [options]
 *
 * Phases: connect N subscribers (securechat: log in with the client public
 * key, upgrade /api/connect on the same keep-alive connection, verify the
 * hello and unwrap its SK; nchan: upgrade the websocket subscriber
 * location), optionally hold them idle (memory), then publish over HTTP
 * keep-alive at max or fixed rate for --duration seconds, drain, and print
 * one JSON line of figures on stdout.
 *
 * Each payload carries the run id, a sequence number and the send time
 * (CLOCK_MONOTONIC ns, one machine); every WebSocket frame is parsed
 * (fragmentation, ping -> pong, close).  nchan: every delivery is
 * counted by the sequence number in its payload.  securechat: every
 * envelope's members and their lengths are checked, and the delivery is
 * counted by the message id in its hdr, which the publisher learnt from
 * the 202 to its POST (the JSON "id" must copy it, and hdr after the time
 * must be that of a verified message); a sample is unwrapped (AES-KW) and
 * decrypted (AES-GCM), its plaintext's run, seq and send time those of
 * the id (the first message of each connection and 1 in --decrypt-every
 * per connection), and the server signature is checked on the first
 * message of each connection and 1 delivery in --sig-every.  Latency is
 * taken from the id's send time for every delivery.
 *
 * Workloads: one room of N (general, or one nchan channel; the default),
 * --rooms K (K rooms of N/K, subscriber i in room i % K) or --pairs (N/2
 * direct rooms, subscribers 2j and 2j+1).  Message seq s goes to room
 * s % K; a delivery is expected once by each subscriber of its room and
 * by no one else, and is identified by (room, id) (securechat: ids are
 * per room) or by (room, seq) (nchan: one channel per room).
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_envelope.h"


#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT  24
#endif

#define SL_MODE_SECURECHAT  0
#define SL_MODE_NCHAN       1

#define SL_SUB    0
#define SL_PUB    1
#define SL_STORM  2

/* connection states */
#define SL_CONNECTING   0
#define SL_LOGIN        1   /* POST /api/login sent */
#define SL_UPGRADE      2   /* GET upgrade sent */
#define SL_HELLO        3   /* 101 seen, waiting for the hello */
#define SL_READY        4   /* subscribed */
#define SL_IDLE         5   /* publisher/storm: nothing in flight */
#define SL_REQ          6   /* publisher/storm: request in flight */
#define SL_LOGOUT       7   /* storm: logout in flight */
#define SL_DEAD         8
#define SL_JOIN         9   /* subscriber: join or direct room in flight */
#define SL_ROOMS        10  /* subscriber: GET /api/rooms in flight */

#define SL_RBUF_INIT    16384
#define SL_RBUF_MAX     (4 * 1024 * 1024)
#define SL_WS_MSG_MAX   (1024 * 1024)

/* message frame members, indexes into sl_msg_keys */
#define SL_M_TYPE       0
#define SL_M_V          1
#define SL_M_ID         2
#define SL_M_ROOM       3
#define SL_M_EPOCH      4
#define SL_M_HDR        5
#define SL_M_IV         6
#define SL_M_CT         7
#define SL_M_TAG        8
#define SL_M_SIG        9
#define SL_M_WK         10
#define SL_M_N          11
#define SL_M_STRINGS    0x7f9     /* all but v and id are strings */

/* the one room of the default workload, which every user is in */
#define SL_GENERAL      "general"

#define SL_ROOM_NAME_MAX  64

/*
 * The first 24 base64url characters of hdr are its first 18 bytes:
 * version, id, ts and the first byte of the epoch.  The rest (epoch,
 * room, sender, key, algorithms) is the same for every message of one
 * sender under one server key in one history.
 */
#define SL_HDR_HEAD     24

/* base64url characters for n bytes, unpadded */
#define sl_b64len(n)    (((n) * 4 + 2) / 3)

/* latency histogram: exact below 1024 us, then 64 sub-buckets per octave */
#define SL_HIST_SUB     64
#define SL_HIST_SIZE    (1024 + 40 * SL_HIST_SUB)


typedef struct {
    int             fd;
    int             kind;
    int             state;
    int             idx;
    unsigned char  *rbuf;
    size_t          rlen;
    size_t          rcap;
    unsigned char  *wbuf;
    size_t          wlen;
    size_t          woff;
    size_t          wcap;
    /* WebSocket message reassembly */
    unsigned char  *msg;
    size_t          msg_len;
    size_t          msg_cap;
    int             msg_op;
    int             ws;           /* frames from here on */
    /* securechat session */
    char            cookie[256];
    char            csrf[128];
    char            conn_id[NGX_HTTP_SECURECHAT_CONN_ID_MAX + 1];
    char            epoch[NGX_HTTP_SECURECHAT_EPOCH_LEN];  /* the hello's */
    uint64_t        epoch_v;
    ngx_http_securechat_channel_t  chan;
    int             verified;     /* first message signature checked */
    /* subscriber results */
    uint64_t        msgs;         /* message frames, for the sampling */
    uint64_t       *seen;
    uint64_t        recv;
    uint64_t        dup;
    /* publisher/storm */
    uint64_t        seq;
    uint64_t        t_sent;
    int             text_len;
    int             user;
    int             reconnects;
    int             room;         /* subscriber: its room; publisher: the
                                     room of the message in flight */
} sl_conn_t;


/* securechat: what the 202 to one publish said, by id - room's base */
typedef struct {
    uint64_t        t_sent;       /* 0: not answered (yet) */
    uint32_t        seq;
    uint32_t        len;          /* plaintext bytes */
} sl_id_t;


/*
 * One room (one nchan channel) and what its subscribers are owed.  A
 * message's slot in the room is id - base (securechat: ids are the
 * room's own, and an event takes one too) or seq / K (nchan: seq s goes
 * to room s % K); acked and every subscriber's seen bitmap count slots.
 */
typedef struct {
    char            name[SL_ROOM_NAME_MAX + 1];  /* "": not known yet */
    size_t          name_len;
    char            sender[80];   /* who posts in it: hdr's sender */
    int             pub;          /* --pairs: the subscriber whose session
                                     posts; -1: benchpub's */
    int             members;      /* subscribers in it */
    int             ready;        /* of them subscribed now */
    uint64_t        base;         /* securechat: the id of slot 0 */
    uint64_t        next;         /* securechat: above every id seen */
    uint64_t        acked;        /* this phase's 2xx */
    uint64_t       *acked_map;    /* by slot */
    sl_id_t        *ids;          /* securechat: by slot */
    char            ref_hdr[512]; /* hdr after SL_HDR_HEAD chars */
    size_t          ref_hdr_len;  /* 0: none verified yet */
    unsigned char   ref_hdr_b17;
} sl_room_t;


/*
 * One securechat delivery to check against the id table: at once, or at
 * the end of the phase when its id was delivered before the publisher
 * read the 202 (the server fans out before it answers).
 */
typedef struct {
    uint64_t        t_recv;
    uint64_t        t_text;       /* sampled: T of the plaintext */
    uint32_t        room;
    uint32_t        slot;         /* id - the room's base */
    uint32_t        seq;          /* sampled: S of the plaintext */
    uint32_t        ct_len;       /* base64url characters of ct */
    uint8_t         sampled;      /* decrypted: t_text, seq, run_ok valid */
    uint8_t         run_ok;
} sl_pend_t;


typedef struct {
    uint64_t        n;
    uint64_t        max;
    uint64_t        b[SL_HIST_SIZE];
} sl_hist_t;


/* options */
static int          sl_mode = SL_MODE_NCHAN;
static const char  *sl_host = "127.0.0.1";
static int          sl_port = 2300;
static int          sl_nsubs = 100;
static int          sl_npubs = 2;
static double       sl_rate;              /* messages/s, 0: max */
static double       sl_duration = 5;
static double       sl_drain = 3;
static double       sl_idle;              /* hold connected N idle, s */
static int          sl_size = 100;        /* payload bytes */
static int          sl_sig_every = 100;
static int          sl_decrypt_every = 16;
static int          sl_parallel = 128;    /* subscribers connecting at once */
static int          sl_storm;             /* login storm connections */
static int          sl_srcaddrs = 200;
static const char  *sl_sub_path;
static const char  *sl_pub_path = "/pub/bench";
static const char  *sl_origin = "http://127.0.0.1";
static const char  *sl_user_fmt = "bench%d";
static const char  *sl_password = "bench-password";
static const char  *sl_pub_user = "benchpub";
static const char  *sl_storm_fmt = "storm%d";
static const char  *sl_key_file;
static const char  *sl_server_pids;
static const char  *sl_label = "";
static uint64_t     sl_max_msgs = 200000;
static unsigned     sl_run_id;
static uint64_t     sl_words;
static int          sl_nrooms = 1;
static int          sl_pairs;
static const char  *sl_room_fmt = "bench-r%d";
static const char  *sl_msg_keys[SL_M_N] = { "type", "v", "id", "room",
                                            "epoch", "hdr", "iv", "ct", "tag",
                                            "sig", "wk" };
static signed char  sl_b64[256];          /* base64url value, or -1 */

/* state */
static int          sl_ep;
static sl_conn_t   *sl_subs;
static sl_conn_t   *sl_pubs;
static sl_conn_t   *sl_storms;
static int          sl_publishing;
static uint64_t     sl_next_seq;
static uint64_t     sl_acked;
static uint64_t     sl_expected;          /* acked x subscribers of its room */
static uint64_t     sl_pub_errors;
static sl_room_t   *sl_rooms;
static uint64_t     sl_room_words;        /* bitmap words per room */
static uint64_t     sl_t_start;           /* publish start, ns */
static uint64_t     sl_last_delivery;
static uint64_t     sl_deliveries;
static uint64_t     sl_stale;
static uint64_t     sl_bad;
static uint64_t     sl_wrong_room;        /* also counted in sl_bad */
static uint64_t     sl_events;
static uint64_t     sl_presence;
static uint64_t     sl_gaps;
static uint64_t     sl_errors_frames;
static uint64_t     sl_sig_checked;
static uint64_t     sl_sig_failed;
static uint64_t     sl_decrypted;
static uint64_t     sl_unmapped;
static sl_pend_t   *sl_pend;
static size_t       sl_npend;
static size_t       sl_pend_cap;
static size_t       sl_sig_chars;         /* base64url length of a sig */
static uint64_t     sl_pings;
static uint64_t     sl_closes;
static uint64_t     sl_sub_failed;
static uint64_t     sl_msg_count;
static uint64_t     sl_storm_logins;
static uint64_t     sl_storm_errors;
static sl_hist_t    sl_lat;
static sl_hist_t    sl_storm_lat;
static uint64_t     sl_last_id;           /* securechat: history to skip */
static int          sl_ready;
static int          sl_connecting;
static int          sl_next_sub;
static int          sl_connect_upto;      /* subscribers to connect now */
static int          sl_quiet;

/* securechat keys */
static EVP_PKEY    *sl_client_key;
static char        *sl_client_pem;
static unsigned char  sl_client_key_id[NGX_HTTP_SECURECHAT_KEY_ID_LEN + 1];
static EVP_PKEY    *sl_server_key;
static char         sl_server_key_id[NGX_HTTP_SECURECHAT_KEY_ID_LEN + 1];
static char         sl_sig_alg[32];
static char         sl_pub_cookie[256];
static char         sl_pub_csrf[128];
static EVP_CIPHER_CTX  *sl_kw_ctx;
static EVP_CIPHER_CTX  *sl_gcm_ctx;
static EVP_PKEY_CTX    *sl_oaep_ctx;


static void sl_die(const char *fmt, ...);
static uint64_t sl_now(void);
static void sl_hist_add(sl_hist_t *h, uint64_t us);
static uint64_t sl_hist_pct(sl_hist_t *h, double p);
static void sl_b64_init(void);
static int sl_b64url_dec(const char *in, size_t len, unsigned char *out,
    size_t size);
static void sl_raise_nofile(int want);
static int sl_connect(int idx);
static void sl_send(sl_conn_t *c, const void *data, size_t len);
static void sl_flush(sl_conn_t *c);
static void sl_kill(sl_conn_t *c, const char *why);
static void sl_on_event(sl_conn_t *c, uint32_t ev, uint64_t now);
static int sl_http_response(sl_conn_t *c, int *status, unsigned char **body,
    size_t *body_len, size_t *total);
static int sl_header(const unsigned char *hdr, size_t len, const char *name,
    char *out, size_t size);
static int sl_take_session(sl_conn_t *c, size_t hlen,
    const unsigned char *body, size_t blen);
static void sl_sub_start(sl_conn_t *c);
static void sl_sub_login(sl_conn_t *c);
static void sl_sub_join(sl_conn_t *c);
static int sl_sub_joined(sl_conn_t *c, int st, const unsigned char *body,
    size_t blen);
static void sl_sub_ready(sl_conn_t *c);
static void sl_acked_slot(sl_room_t *r, uint64_t slot);
static int sl_room_of(int sub);
static void sl_rooms_init(void);
static void sl_sc_rooms_setup(void);
static const char *sl_workload(void);
static void sl_sub_upgrade(sl_conn_t *c);
static void sl_ws_frames(sl_conn_t *c, uint64_t now);
static void sl_ws_send(sl_conn_t *c, int op, const unsigned char *p,
    size_t len);
static int sl_flat_json(const unsigned char *p, size_t len,
    const char **keys, const char **val, size_t *vlen, unsigned *str, int n);
static void sl_on_message(sl_conn_t *c, const unsigned char *p, size_t len,
    uint64_t now);
static int sl_parse_text(const unsigned char *p, size_t len, unsigned *run,
    uint64_t *seq, uint64_t *t);
static void sl_on_payload(sl_conn_t *c, const unsigned char *p, size_t len,
    uint64_t now);
static int sl_sc_hello(sl_conn_t *c, json_t *j);
static int sl_sc_message(sl_conn_t *c, const char **s, size_t *sl,
    uint64_t now);
static int sl_sc_hdr_check(sl_conn_t *c, const unsigned char *h, size_t len);
static void sl_sc_check(const sl_pend_t *d);
static void sl_sc_sweep(int all);
static void sl_sc_acked(sl_conn_t *c, const unsigned char *body,
    size_t len);
static int sl_kw_unwrap(const unsigned char *kek, const unsigned char *in,
    unsigned char *out);
static void sl_pub_send(sl_conn_t *c, uint64_t now);
static void sl_storm_send(sl_conn_t *c, uint64_t now);
static void sl_read_pids_cpu(uint64_t *ticks, uint64_t *rss_kb);
static uint64_t sl_read_pids_pss(void);
static int sl_blocking_http(const char *req, size_t len, int *status,
    char *hdrs, size_t hsize, char *body, size_t bsize);
static void sl_sc_setup(void);
static void sl_loop(uint64_t until, int (*done)(void));
static int sl_all_connected(void);
static int sl_all_delivered(void);
static int sl_never(void);
static double sl_tool_cpu(void);
static double sl_phase(const char *kind, double duration, int storm,
    double t_conn);


static void
sl_die(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    fprintf(stderr, "securechat-load: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}


static uint64_t
sl_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}


static void
sl_hist_add(sl_hist_t *h, uint64_t us)
{
    int       e;
    uint64_t  i;

    h->n++;

    if (us > h->max) {
        h->max = us;
    }

    if (us < 1024) {
        h->b[us]++;
        return;
    }

    e = 63 - __builtin_clzll(us);           /* >= 10 */
    i = 1024 + (uint64_t) (e - 10) * SL_HIST_SUB
        + ((us >> (e - 6)) & (SL_HIST_SUB - 1));

    if (i >= SL_HIST_SIZE) {
        i = SL_HIST_SIZE - 1;
    }

    h->b[i]++;
}


static uint64_t
sl_hist_pct(sl_hist_t *h, double p)
{
    int       e;
    uint64_t  i, want, acc;

    if (h->n == 0) {
        return 0;
    }

    want = (uint64_t) (p / 100.0 * h->n);
    if (want >= h->n) {
        want = h->n - 1;
    }

    acc = 0;

    for (i = 0; i < SL_HIST_SIZE; i++) {
        acc += h->b[i];
        if (acc > want) {
            if (i < 1024) {
                return i;
            }

            e = (int) ((i - 1024) / SL_HIST_SUB) + 10;
            return ((uint64_t) 1 << e)
                   + (((i - 1024) % SL_HIST_SUB) << (e - 6));
        }
    }

    return h->max;
}


static void
sl_b64_init(void)
{
    int  i;

    for (i = 0; i < 256; i++) {
        sl_b64[i] = -1;
    }

    for (i = 0; i < 26; i++) {
        sl_b64['A' + i] = i;
        sl_b64['a' + i] = 26 + i;
    }

    for (i = 0; i < 10; i++) {
        sl_b64['0' + i] = 52 + i;
    }

    sl_b64['-'] = 62;
    sl_b64['_'] = 63;
}


static int
sl_b64url_dec(const char *in, size_t len, unsigned char *out, size_t size)
{
    int         v;
    size_t      i, n;
    uint32_t    acc;
    int         bits;

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        v = sl_b64[(unsigned char) in[i]];
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            if (n >= size) {
                return -1;
            }

            out[n++] = (acc >> bits) & 0xff;
        }
    }

    return (int) n;
}


static void
sl_raise_nofile(int want)
{
    struct rlimit  rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }

    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t) want) {
        rl.rlim_max = want;                 /* works as root */
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
            return;
        }

        getrlimit(RLIMIT_NOFILE, &rl);
    }

    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);

    if (rl.rlim_cur < (rlim_t) want) {
        sl_die("RLIMIT_NOFILE is %lu, %d needed", (unsigned long) rl.rlim_cur,
               want);
    }
}


/* a non-blocking socket from 127.0.0.(2 + idx % srcaddrs) */
static int
sl_connect(int idx)
{
    int                 fd, one;
    struct sockaddr_in  src, dst;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sl_die("socket: %s", strerror(errno));
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));

    memset(&src, 0, sizeof(src));
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000002 + (idx % sl_srcaddrs));

    if (bind(fd, (struct sockaddr *) &src, sizeof(src)) != 0) {
        sl_die("bind: %s", strerror(errno));
    }

    memset(&dst, 0, sizeof(dst));
    dst.sin_family = AF_INET;
    dst.sin_port = htons(sl_port);
    inet_pton(AF_INET, sl_host, &dst.sin_addr);

    if (connect(fd, (struct sockaddr *) &dst, sizeof(dst)) != 0
        && errno != EINPROGRESS)
    {
        sl_die("connect: %s", strerror(errno));
    }

    return fd;
}


static void
sl_add(sl_conn_t *c, int kind, int idx)
{
    struct epoll_event  ev;

    c->kind = kind;
    c->idx = idx;
    c->fd = sl_connect(idx + kind * 7);
    c->state = SL_CONNECTING;
    c->rlen = 0;
    c->wlen = 0;
    c->woff = 0;
    c->ws = 0;
    c->msg_len = 0;

    if (c->rbuf == NULL) {
        c->rcap = SL_RBUF_INIT;
        c->rbuf = malloc(c->rcap);
        if (c->rbuf == NULL) {
            sl_die("out of memory");
        }
    }

    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;

    if (epoll_ctl(sl_ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        sl_die("epoll_ctl: %s", strerror(errno));
    }
}


static void
sl_send(sl_conn_t *c, const void *data, size_t len)
{
    if (c->state == SL_DEAD) {
        return;
    }

    if (c->wlen + len > c->wcap) {
        if (c->woff > 0) {
            memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
            c->wlen -= c->woff;
            c->woff = 0;
        }

        if (c->wlen + len > c->wcap) {
            c->wcap = (c->wlen + len) * 2;
            c->wbuf = realloc(c->wbuf, c->wcap);
            if (c->wbuf == NULL) {
                sl_die("out of memory");
            }
        }
    }

    memcpy(c->wbuf + c->wlen, data, len);
    c->wlen += len;

    if (c->state != SL_CONNECTING) {
        sl_flush(c);
    }
}


static void
sl_flush(sl_conn_t *c)
{
    ssize_t  n;

    while (c->woff < c->wlen) {
        n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return;
            }

            sl_kill(c, strerror(errno));
            return;
        }

        c->woff += n;
    }

    c->woff = 0;
    c->wlen = 0;
}


static void
sl_kill(sl_conn_t *c, const char *why)
{
    if (c->state == SL_DEAD) {
        return;
    }

    if (c->kind != SL_SUB ? c->reconnects < 3 : !sl_quiet) {
        fprintf(stderr, "securechat-load: %s %d (state %d): %s\n",
                c->kind == SL_SUB ? "subscriber"
                : c->kind == SL_PUB ? "publisher" : "storm",
                c->idx, c->state, why);
    }

    if (c->kind == SL_SUB) {
        if (c->state == SL_READY) {
            sl_ready--;
            sl_rooms[c->room].ready--;
            sl_expected -= sl_rooms[c->room].acked;

        } else {
            sl_connecting--;
        }

        sl_sub_failed++;
        if (sl_sub_failed >= 20) {
            sl_quiet = 1;
        }
    }

    epoll_ctl(sl_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = SL_DEAD;

    /* a keep-alive limit or a reset: publishers and the storm reconnect */
    if (c->kind != SL_SUB && sl_publishing) {
        c->reconnects++;
        sl_add(c, c->kind, c->idx);
    }
}


/*
 * Parses one complete HTTP/1.1 response at the start of rbuf: 1 with
 * *total bytes consumed, 0 if incomplete, -1 if malformed.  Content-Length
 * and chunked bodies; a 101 has no body.
 */
static int
sl_http_response(sl_conn_t *c, int *status, unsigned char **body,
    size_t *body_len, size_t *total)
{
    char            v[64];
    size_t          hlen, clen, pos, out, n;
    unsigned char  *end, *p;

    end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (end == NULL) {
        return c->rlen > 65536 ? -1 : 0;
    }

    hlen = end + 4 - c->rbuf;

    if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.1 ", 9) != 0) {
        return -1;
    }

    *status = atoi((char *) c->rbuf + 9);
    *body = c->rbuf + hlen;

    if (*status == 101 || *status == 204 || *status == 304) {
        *body_len = 0;
        *total = hlen;
        return 1;
    }

    if (sl_header(c->rbuf, hlen, "Content-Length", v, sizeof(v)) == 0) {
        clen = strtoul(v, NULL, 10);
        if (c->rlen < hlen + clen) {
            return 0;
        }

        *body_len = clen;
        *total = hlen + clen;
        return 1;
    }

    if (sl_header(c->rbuf, hlen, "Transfer-Encoding", v, sizeof(v)) == 0
        && strcasestr(v, "chunked") != NULL)
    {
        /* de-chunk in place */
        pos = hlen;
        out = hlen;

        for ( ;; ) {
            p = memmem(c->rbuf + pos, c->rlen - pos, "\r\n", 2);
            if (p == NULL) {
                return 0;
            }

            n = strtoul((char *) c->rbuf + pos, NULL, 16);
            pos = p + 2 - c->rbuf;

            if (n == 0) {
                if (c->rlen < pos + 2) {
                    return 0;
                }

                /* no trailers expected */
                *body_len = out - hlen;
                *total = pos + 2;
                return 1;
            }

            if (c->rlen < pos + n + 2) {
                return 0;
            }

            memmove(c->rbuf + out, c->rbuf + pos, n);
            out += n;
            pos += n + 2;
            /* the moved bytes stay valid; keep parsing after them */
            memmove(c->rbuf + out, c->rbuf + pos, c->rlen - pos);
            c->rlen -= pos - out;
            pos = out;
        }
    }

    /* no length: the server would close; we never ask for that */
    return -1;
}


static int
sl_header(const unsigned char *hdr, size_t len, const char *name, char *out,
    size_t size)
{
    size_t       nlen, i, j, k;
    const char  *h;

    h = (const char *) hdr;
    nlen = strlen(name);

    for (i = 0; i + nlen + 1 < len; i++) {
        if ((i == 0 || h[i - 1] == '\n')
            && strncasecmp(h + i, name, nlen) == 0 && h[i + nlen] == ':')
        {
            j = i + nlen + 1;
            while (j < len && h[j] == ' ') {
                j++;
            }

            k = 0;
            while (j < len && h[j] != '\r' && k + 1 < size) {
                out[k++] = h[j++];
            }

            out[k] = '\0';
            return 0;
        }
    }

    return -1;
}


/* the cookie and CSRF token of a 200 from /api/login */
static int
sl_take_session(sl_conn_t *c, size_t hlen, const unsigned char *body,
    size_t blen)
{
    char        v[256], *semi;
    json_t     *j;
    const char *s;

    if (sl_header(c->rbuf, hlen, "Set-Cookie", v, sizeof(v)) != 0) {
        return -1;
    }

    semi = strchr(v, ';');
    if (semi != NULL) {
        *semi = '\0';
    }

    snprintf(c->cookie, sizeof(c->cookie), "%s", v);

    j = json_loadb((const char *) body, blen, 0, NULL);
    s = json_string_value(json_object_get(j, "csrf_token"));

    if (s == NULL) {
        json_decref(j);
        return -1;
    }

    snprintf(c->csrf, sizeof(c->csrf), "%s", s);
    json_decref(j);

    return 0;
}


static void
sl_sub_start(sl_conn_t *c)
{
    c->room = sl_room_of(c->idx);

    if (sl_mode == SL_MODE_SECURECHAT) {
        sl_sub_login(c);

    } else {
        sl_sub_upgrade(c);
    }
}


static void
sl_sub_login(sl_conn_t *c)
{
    int      n;
    char     user[80], hdr[512];
    char    *body;
    json_t  *j;

    snprintf(user, sizeof(user), sl_user_fmt, c->idx);

    j = json_pack("{s:s, s:s, s:s}", "username", user, "password",
                  sl_password, "public_key", sl_client_pem);
    body = json_dumps(j, JSON_COMPACT);
    json_decref(j);

    n = snprintf(hdr, sizeof(hdr),
                 "POST /api/login HTTP/1.1\r\nHost: %s:%d\r\n"
                 "Origin: %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 sl_host, sl_port, sl_origin, strlen(body));

    c->state = SL_LOGIN;
    sl_send(c, hdr, n);
    sl_send(c, body, strlen(body));
    free(body);
}


/*
 * After the login, before the socket (a socket subscribes to the rooms
 * its user is in when it attaches): --rooms joins the subscriber's room,
 * --pairs has the first of each pair open the direct room with the
 * second, who is in it from then on.
 */
static void
sl_sub_join(sl_conn_t *c)
{
    int          n, m;
    char         body[160], req[1024], peer[80];
    sl_room_t   *r;

    r = &sl_rooms[c->room];

    if (sl_pairs) {
        snprintf(peer, sizeof(peer), sl_user_fmt, c->idx + 1);
        m = snprintf(body, sizeof(body), "{\"user\":\"%s\"}", peer);
        n = snprintf(req, sizeof(req),
                     "POST /api/rooms/direct HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Origin: %s\r\nContent-Type: application/json\r\n"
                     "Cookie: %s\r\nX-CSRF-Token: %s\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     sl_host, sl_port, sl_origin, c->cookie, c->csrf, m,
                     body);

    } else {
        n = snprintf(req, sizeof(req),
                     "POST /api/rooms/%s/join HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Origin: %s\r\nContent-Type: application/json\r\n"
                     "Cookie: %s\r\nX-CSRF-Token: %s\r\n"
                     "Content-Length: 2\r\n\r\n{}",
                     r->name, sl_host, sl_port, sl_origin, c->cookie,
                     c->csrf);
    }

    c->state = SL_JOIN;
    sl_send(c, req, n);
}


/*
 * The answer to sl_sub_join() or to the GET /api/rooms after a direct
 * room: 1 when the socket may be opened now, 0 when another request went
 * out, -1 on a refusal.  The direct room's name comes from its answer,
 * and its last id from the list (the room answer has none): ids before
 * that are not this run's, and those after it are a join event each or
 * ours, so slots from last_id + 1 cover every message it will carry.
 */
static int
sl_sub_joined(sl_conn_t *c, int st, const unsigned char *body, size_t blen)
{
    int          n;
    char         req[1024];
    size_t       i, len;
    json_t      *j, *item;
    const char  *name;
    sl_room_t   *r;

    r = &sl_rooms[c->room];

    if (c->state == SL_JOIN && !sl_pairs) {
        /* 409 already_member: a room made by an earlier run */
        return st == 200 || st == 409 ? 1 : -1;
    }

    j = json_loadb((const char *) body, blen, 0, NULL);

    if (c->state == SL_JOIN) {
        name = json_string_value(json_object_get(json_object_get(j, "room"),
                                                 "name"));

        if ((st != 200 && st != 201) || name == NULL
            || strlen(name) > SL_ROOM_NAME_MAX)
        {
            json_decref(j);
            return -1;
        }

        r->name_len = strlen(name);
        memcpy(r->name, name, r->name_len + 1);
        json_decref(j);

        n = snprintf(req, sizeof(req),
                     "GET /api/rooms HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Cookie: %s\r\n\r\n", sl_host, sl_port, c->cookie);
        c->state = SL_ROOMS;
        sl_send(c, req, n);
        return 0;
    }

    /* SL_ROOMS */
    len = json_array_size(json_object_get(j, "rooms"));

    for (i = 0; st == 200 && i < len; i++) {
        item = json_array_get(json_object_get(j, "rooms"), i);
        name = json_string_value(json_object_get(item, "name"));

        if (name != NULL && strcmp(name, r->name) == 0) {
            r->base = json_integer_value(json_object_get(item, "last_id"))
                      + 1;
            r->next = r->base;
            json_decref(j);
            return 1;
        }
    }

    json_decref(j);
    return -1;
}


/* subscribed: what its room is owed counts it from now on */
static void
sl_sub_ready(sl_conn_t *c)
{
    c->state = SL_READY;
    sl_connecting--;
    sl_ready++;
    sl_rooms[c->room].ready++;
}


static void
sl_sub_upgrade(sl_conn_t *c)
{
    int            n;
    char           req[1024], path[256];
    unsigned char  key[16];
    char           key64[32];

    RAND_bytes(key, sizeof(key));
    EVP_EncodeBlock((unsigned char *) key64, key, sizeof(key));

    if (sl_mode == SL_MODE_SECURECHAT && sl_nrooms == 1) {
        snprintf(path, sizeof(path), "%s?last_id=%" PRIu64, sl_sub_path,
                 sl_last_id);

    } else if (sl_mode == SL_MODE_SECURECHAT || sl_nrooms == 1) {
        /* securechat rooms: no resume, nothing from before the socket */
        snprintf(path, sizeof(path), "%s", sl_sub_path);

    } else {
        /* nchan: the room's own channel */
        snprintf(path, sizeof(path), "%s_%d", sl_sub_path, c->room);
    }

    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\nOrigin: %s\r\n%s%s%s\r\n",
                 path, sl_host, sl_port, key64, sl_origin,
                 c->cookie[0] ? "Cookie: " : "", c->cookie,
                 c->cookie[0] ? "\r\n" : "");

    c->state = SL_UPGRADE;
    sl_send(c, req, n);
}


static void
sl_on_event(sl_conn_t *c, uint32_t ev, uint64_t now)
{
    int             rc, st, err, drained;
    size_t          blen, total, want;
    ssize_t         n;
    socklen_t       elen;
    unsigned char  *body;
    char            v[256];

    if (c->state == SL_CONNECTING && (ev & (EPOLLOUT | EPOLLERR))) {
        err = 0;
        elen = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen);

        if (err != 0) {
            sl_kill(c, strerror(err));
            return;
        }

        if (c->kind == SL_SUB) {
            sl_sub_start(c);

        } else {
            c->state = SL_IDLE;
            if (sl_publishing) {
                if (c->kind == SL_PUB) {
                    sl_pub_send(c, now);

                } else {
                    sl_storm_send(c, now);
                }
            }
        }
    }

    if (ev & EPOLLOUT) {
        sl_flush(c);
    }

    if (!(ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        return;
    }

    for ( ;; ) {
        if (c->state == SL_DEAD) {
            return;
        }

        if (c->rcap - c->rlen < 4096) {
            if (c->rcap >= SL_RBUF_MAX) {
                sl_kill(c, "read buffer overflow");
                return;
            }

            c->rcap *= 2;
            c->rbuf = realloc(c->rbuf, c->rcap);
            if (c->rbuf == NULL) {
                sl_die("out of memory");
            }
        }

        want = c->rcap - c->rlen;
        n = recv(c->fd, c->rbuf + c->rlen, want, 0);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return;
            }

            sl_kill(c, strerror(errno));
            return;
        }

        if (n == 0) {
            sl_kill(c, "closed by the server");
            return;
        }

        c->rlen += n;

        /*
         * A short read emptied the socket: TCP's recv stops only when
         * its queue is empty, and data coming later is a new edge.  So
         * no recv that would only say EAGAIN, one syscall per event
         * fewer.  Not after a FIN or an error: their event has come
         * already and the final recv must see them.
         */
        drained = (size_t) n < want
                  && !(ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));

        if (c->ws) {
            sl_ws_frames(c, now);

            if (drained) {
                return;
            }

            continue;
        }

        /* HTTP responses, possibly several (keep-alive) */
        while (c->rlen > 0 && !c->ws && c->state != SL_DEAD) {
            rc = sl_http_response(c, &st, &body, &blen, &total);
            if (rc == 0) {
                break;
            }

            if (rc < 0) {
                sl_kill(c, "malformed HTTP response");
                return;
            }

            switch (c->state) {

            case SL_LOGIN:
                if (st != 200
                    || sl_take_session(c, body - c->rbuf, body, blen) != 0)
                {
                    snprintf(v, sizeof(v), "login answered %d: %.*s", st,
                             (int) (blen > 120 ? 120 : blen), body);
                    sl_kill(c, v);
                    return;
                }

                memmove(c->rbuf, c->rbuf + total, c->rlen - total);
                c->rlen -= total;

                if (sl_nrooms > 1 && (!sl_pairs || c->idx % 2 == 0)) {
                    sl_sub_join(c);

                } else {
                    sl_sub_upgrade(c);
                }

                continue;

            case SL_JOIN:
            case SL_ROOMS:
                rc = sl_sub_joined(c, st, body, blen);

                if (rc < 0) {
                    snprintf(v, sizeof(v), "%s answered %d: %.*s",
                             c->state == SL_ROOMS ? "GET /api/rooms"
                             : sl_pairs ? "direct room" : "join", st,
                             (int) (blen > 120 ? 120 : blen), body);
                    sl_kill(c, v);
                    return;
                }

                memmove(c->rbuf, c->rbuf + total, c->rlen - total);
                c->rlen -= total;

                if (rc == 1) {
                    sl_sub_upgrade(c);
                }

                continue;

            case SL_UPGRADE:
                if (st != 101) {
                    snprintf(v, sizeof(v), "upgrade answered %d: %.*s", st,
                             (int) (blen > 120 ? 120 : blen), body);
                    sl_kill(c, v);
                    return;
                }

                memmove(c->rbuf, c->rbuf + total, c->rlen - total);
                c->rlen -= total;
                c->ws = 1;

                if (sl_mode == SL_MODE_SECURECHAT) {
                    c->state = SL_HELLO;

                } else {
                    sl_sub_ready(c);
                }

                sl_ws_frames(c, now);
                continue;

            case SL_REQ:
            case SL_LOGOUT:
                if (c->kind == SL_PUB) {
                    if (st >= 200 && st < 300
                        && sl_mode == SL_MODE_SECURECHAT)
                    {
                        sl_sc_acked(c, body, blen);

                    } else if (st >= 200 && st < 300) {
                        sl_acked_slot(&sl_rooms[c->room],
                                      c->seq / sl_nrooms);

                    } else {
                        sl_pub_errors++;
                        if (sl_pub_errors <= 5) {
                            fprintf(stderr, "securechat-load: publish "
                                    "answered %d\n", st);
                        }
                    }

                    memmove(c->rbuf, c->rbuf + total, c->rlen - total);
                    c->rlen -= total;

                    c->state = SL_IDLE;
                    if (sl_publishing && sl_rate == 0) {
                        sl_pub_send(c, sl_now());
                    }

                    continue;
                }

                /* storm */
                if (c->state == SL_REQ) {
                    if (st != 200
                        || sl_take_session(c, body - c->rbuf, body, blen)
                           != 0)
                    {
                        sl_storm_errors++;
                        c->state = SL_IDLE;
                        memmove(c->rbuf, c->rbuf + total, c->rlen - total);
                        c->rlen -= total;
                        if (sl_publishing) {
                            sl_storm_send(c, sl_now());
                        }

                        continue;
                    }

                    memmove(c->rbuf, c->rbuf + total, c->rlen - total);
                    c->rlen -= total;
                    sl_storm_logins++;
                    sl_hist_add(&sl_storm_lat, (sl_now() - c->t_sent) / 1000);
                    c->state = SL_LOGOUT;
                    sl_storm_send(c, sl_now());
                    continue;
                }

                memmove(c->rbuf, c->rbuf + total, c->rlen - total);
                c->rlen -= total;
                c->state = SL_IDLE;
                if (sl_publishing) {
                    sl_storm_send(c, sl_now());
                }

                continue;

            default:
                sl_kill(c, "unexpected HTTP response");
                return;
            }
        }

        if (drained) {
            return;
        }
    }
}


static void
sl_ws_frames(sl_conn_t *c, uint64_t now)
{
    int             fin, op, masked;
    size_t          pos, hl;
    uint64_t        plen;
    unsigned char  *p, *payload;

    pos = 0;

    while (c->state != SL_DEAD) {
        p = c->rbuf + pos;

        if (c->rlen - pos < 2) {
            break;
        }

        fin = p[0] & 0x80;
        op = p[0] & 0x0f;
        masked = p[1] & 0x80;
        plen = p[1] & 0x7f;
        hl = 2;

        if (p[0] & 0x70) {
            sl_kill(c, "RSV bits set");
            return;
        }

        if (masked) {
            sl_kill(c, "masked server frame");
            return;
        }

        if (plen == 126) {
            if (c->rlen - pos < 4) {
                break;
            }

            plen = ((uint64_t) p[2] << 8) | p[3];
            hl = 4;

        } else if (plen == 127) {
            if (c->rlen - pos < 10) {
                break;
            }

            plen = 0;
            for (hl = 2; hl < 10; hl++) {
                plen = (plen << 8) | p[hl];
            }
        }

        if (plen > SL_WS_MSG_MAX) {
            sl_kill(c, "frame too large");
            return;
        }

        if (c->rlen - pos < hl + plen) {
            break;
        }

        payload = p + hl;
        pos += hl + plen;

        if (op >= 8) {
            if (!fin || plen > 125) {
                sl_kill(c, "bad control frame");
                return;
            }

            if (op == 9) {
                sl_pings++;
                sl_ws_send(c, 10, payload, plen);

            } else if (op == 8) {
                sl_closes++;
                sl_ws_send(c, 8, payload, plen >= 2 ? 2 : 0);
                sl_kill(c, plen >= 2 ? "close frame" : "close frame");
                return;
            }

            continue;
        }

        if (op == 0) {
            if (c->msg_op == 0) {
                sl_kill(c, "continuation without a message");
                return;
            }

        } else if (op == 1 || op == 2) {
            if (c->msg_op != 0) {
                sl_kill(c, "new message inside a fragmented one");
                return;
            }

            if (fin) {
                sl_on_message(c, payload, plen, now);
                continue;
            }

            c->msg_op = op;
            c->msg_len = 0;

        } else {
            sl_kill(c, "unknown opcode");
            return;
        }

        if (c->msg_len + plen > SL_WS_MSG_MAX) {
            sl_kill(c, "message too large");
            return;
        }

        if (c->msg_len + plen > c->msg_cap) {
            c->msg_cap = (c->msg_len + plen) * 2;
            c->msg = realloc(c->msg, c->msg_cap);
            if (c->msg == NULL) {
                sl_die("out of memory");
            }
        }

        memcpy(c->msg + c->msg_len, payload, plen);
        c->msg_len += plen;

        if (fin) {
            c->msg_op = 0;
            sl_on_message(c, c->msg, c->msg_len, now);
        }
    }

    if (c->state != SL_DEAD && pos > 0) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
}


static void
sl_ws_send(sl_conn_t *c, int op, const unsigned char *p, size_t len)
{
    size_t         i, hl;
    unsigned char  f[14 + 256];
    uint32_t       mask;

    if (len > 125) {
        len = 125;                          /* control frames only */
    }

    f[0] = 0x80 | op;
    f[1] = 0x80 | len;
    hl = 2;
    mask = (uint32_t) random();
    memcpy(f + hl, &mask, 4);
    hl += 4;

    for (i = 0; i < len; i++) {
        f[hl + i] = p[i] ^ f[2 + (i & 3)];
    }

    sl_send(c, f, hl + len);
}


/*
 * The fast path for the server's message frames: one flat JSON object
 * whose string values are base64url (plain words included) and whose
 * other values are integers, true/false/null.  Fills the values of the
 * wanted keys (pointers into p; bit i of *str set when value i is a
 * string) and returns how many were found; -1 for anything else
 * (escapes, other characters, nesting, bad syntax, a repeated member),
 * and the caller falls back to jansson, so nothing is accepted that a
 * full parser would refuse.  One table look-up per character: this runs
 * on every delivery.
 */
static int
sl_flat_json(const unsigned char *p, size_t len, const char **keys,
    const char **val, size_t *vlen, unsigned *str, int n)
{
    int                   i, seen, quoted;
    size_t                kl;
    const unsigned char  *e, *k, *v;

    e = p + len;
    seen = 0;
    *str = 0;

    for (i = 0; i < n; i++) {
        val[i] = NULL;
    }

    if (p == e || *p++ != '{') {
        return -1;
    }

    for ( ;; ) {
        if (p == e || *p != '"') {
            return -1;
        }

        k = ++p;
        while (p < e && sl_b64[*p] >= 0) {
            p++;
        }

        if (p == e || *p != '"') {
            return -1;
        }

        kl = p - k;
        p++;

        if (p == e || *p++ != ':' || p == e) {
            return -1;
        }

        quoted = (*p == '"');

        if (quoted) {
            v = ++p;
            while (p < e && sl_b64[*p] >= 0) {
                p++;
            }

            if (p == e || *p != '"') {
                return -1;
            }

        } else {
            v = p;
            while (p < e && ((*p >= '0' && *p <= '9') || *p == '-'
                             || (*p >= 'a' && *p <= 'z')))
            {
                p++;
            }

            if (p == v) {
                return -1;
            }
        }

        /* keys[i] is NUL-terminated, k is not: strncmp then the length */
        for (i = 0; i < n; i++) {
            if (kl > 0 && keys[i][0] == *k
                && strncmp(keys[i], (const char *) k, kl) == 0
                && keys[i][kl] == '\0')
            {
                if (val[i] != NULL) {
                    return -1;              /* duplicate member */
                }

                val[i] = (const char *) v;
                vlen[i] = p - v;
                *str |= (unsigned) quoted << i;
                seen++;
                break;
            }
        }

        p += quoted;

        if (p == e) {
            return -1;
        }

        if (*p == ',') {
            p++;
            continue;
        }

        if (*p == '}' && p + 1 == e) {
            return seen;
        }

        return -1;
    }
}


static void
sl_on_message(sl_conn_t *c, const unsigned char *p, size_t len, uint64_t now)
{
    unsigned        str;
    size_t          vlen[SL_M_N];
    const char     *type, *val[SL_M_N];
    json_t         *j;

    if (sl_mode == SL_MODE_NCHAN) {
        sl_on_payload(c, p, len, now);
        return;
    }

    /* message frames, the bulk, without building a jansson tree */
    if (c->state == SL_READY
        && sl_flat_json(p, len, sl_msg_keys, val, vlen, &str, SL_M_N)
           == SL_M_N
        && str == SL_M_STRINGS
        && vlen[SL_M_TYPE] == 7 && memcmp(val[SL_M_TYPE], "message", 7) == 0)
    {
        if (sl_sc_message(c, val, vlen, now) != 0) {
            sl_bad++;
        }

        return;
    }

    j = json_loadb((const char *) p, len, 0, NULL);
    if (j == NULL) {
        sl_bad++;
        return;
    }

    type = json_string_value(json_object_get(j, "type"));
    if (type == NULL) {
        sl_bad++;

    } else if (strcmp(type, "message") == 0) {
        /* READY: a message the fast path could not read */
        if (c->state != SL_READY) {
            sl_kill(c, "message before the hello");

        } else {
            sl_bad++;
        }

    } else if (strcmp(type, "hello") == 0) {
        if (c->state != SL_HELLO) {
            sl_kill(c, "second hello");

        } else if (sl_sc_hello(c, j) != 0) {
            sl_kill(c, "hello refused");

        } else {
            sl_sub_ready(c);
        }

    } else if (strcmp(type, "event") == 0) {
        /* the joins of the set-up, to sockets already open: not counted */
        sl_events++;

    } else if (strcmp(type, "presence") == 0
               || strcmp(type, "typing") == 0)
    {
        /* a subscriber's socket opening, told to its small rooms */
        sl_presence++;

    } else if (strcmp(type, "gap") == 0) {
        sl_gaps++;

    } else if (strcmp(type, "error") == 0) {
        sl_errors_frames++;
        if (sl_errors_frames <= 5) {
            fprintf(stderr, "securechat-load: error frame: %.*s\n",
                    (int) (len > 200 ? 200 : len), p);
        }

    } else {
        sl_bad++;
    }

    json_decref(j);
}


/* "R<run> S<seq> T<ns> ...": 0, or -1 if it is not that */
static int
sl_parse_text(const unsigned char *p, size_t len, unsigned *run,
    uint64_t *seq, uint64_t *t)
{
    char  *end;
    char   buf[64];

    if (len < 6 || p[0] != 'R') {
        return -1;
    }

    memcpy(buf, p, len < 63 ? len : 63);
    buf[len < 63 ? len : 63] = '\0';

    *run = strtoul(buf + 1, &end, 10);
    if (*end != ' ' || end[1] != 'S') {
        return -1;
    }

    *seq = strtoull(end + 2, &end, 10);
    if (*end != ' ' || end[1] != 'T') {
        return -1;
    }

    *t = strtoull(end + 2, &end, 10);

    return 0;
}


/* nchan: every delivery by the seq in its plaintext, seq s of room s % K */
static void
sl_on_payload(sl_conn_t *c, const unsigned char *p, size_t len, uint64_t now)
{
    unsigned   run;
    uint64_t   seq, t, slot;

    if (sl_parse_text(p, len, &run, &seq, &t) != 0) {
        sl_bad++;
        return;
    }

    if (run != sl_run_id || c->seen == NULL || seq >= sl_max_msgs) {
        sl_stale++;
        return;
    }

    if (seq % sl_nrooms != (uint64_t) c->room) {
        sl_wrong_room++;
        sl_bad++;
        return;
    }

    slot = seq / sl_nrooms;

    if (c->seen[slot >> 6] & (1ULL << (slot & 63))) {
        c->dup++;
        return;
    }

    c->seen[slot >> 6] |= 1ULL << (slot & 63);
    c->recv++;
    sl_deliveries++;
    sl_last_delivery = now;

    sl_hist_add(&sl_lat, now > t ? (now - t) / 1000 : 0);
}


static int
sl_sc_hello(sl_conn_t *c, json_t *j)
{
    int                             n, wlen;
    size_t                          blen, sklen;
    const char                     *s;
    unsigned char                   wrapped[NGX_HTTP_SECURECHAT_WRAPPED_SK_MAX];
    unsigned char                   sig[NGX_HTTP_SECURECHAT_SIG_MAX];
    unsigned char                   bytes[2048], sk[512];
    ngx_http_securechat_hello_in_t  in;

    if (json_integer_value(json_object_get(j, "v")) != 2) {
        return -1;
    }

    s = json_string_value(json_object_get(j, "server_key_id"));
    if (s == NULL || strcmp(s, sl_server_key_id) != 0) {
        return -1;
    }

    s = json_string_value(json_object_get(j, "client_key_id"));
    if (s == NULL || strcmp(s, (char *) sl_client_key_id) != 0) {
        return -1;
    }

    s = json_string_value(json_object_get(j, "sig_alg"));
    if (s == NULL || strcmp(s, sl_sig_alg) != 0) {
        return -1;
    }

    s = json_string_value(json_object_get(j, "wrap_alg"));
    if (s == NULL || strcmp(s, NGX_HTTP_SECURECHAT_ALG_WRAP) != 0) {
        return -1;
    }

    s = json_string_value(json_object_get(j, "conn"));
    if (s == NULL || strlen(s) > NGX_HTTP_SECURECHAT_CONN_ID_MAX) {
        return -1;
    }

    snprintf(c->conn_id, sizeof(c->conn_id), "%s", s);

    s = json_string_value(json_object_get(j, "wrapped_sk"));
    wlen = s ? sl_b64url_dec(s, strlen(s), wrapped, sizeof(wrapped)) : -1;

    s = json_string_value(json_object_get(j, "sig"));
    n = s ? sl_b64url_dec(s, strlen(s), sig, sizeof(sig)) : -1;

    if (wlen <= 0 || n <= 0) {
        return -1;
    }

    in.server_key = NULL;
    in.server_key_id = (unsigned char *) sl_server_key_id;
    in.client_der = NULL;
    in.client_der_len = 0;
    in.client_key_id = sl_client_key_id;
    in.conn_id = (unsigned char *) c->conn_id;
    in.conn_id_len = strlen(c->conn_id);
    in.ts = json_integer_value(json_object_get(j, "ts"));

    /* the history epoch: 16 lowercase hex digits, signed as a u64 */
    s = json_string_value(json_object_get(j, "epoch"));
    if (s == NULL || strlen(s) != NGX_HTTP_SECURECHAT_EPOCH_LEN
        || strspn(s, "0123456789abcdef") != NGX_HTTP_SECURECHAT_EPOCH_LEN)
    {
        return -1;
    }

    in.epoch = strtoull(s, NULL, 16);

    /* the history every message of this connection must be of */
    memcpy(c->epoch, s, NGX_HTTP_SECURECHAT_EPOCH_LEN);
    c->epoch_v = in.epoch;

    if (ngx_http_securechat_hello_signed_bytes(&in, sl_sig_alg, wrapped, wlen,
                                               bytes, sizeof(bytes), &blen)
        != NGX_HTTP_SECURECHAT_ENV_OK)
    {
        return -1;
    }

    sl_sig_checked++;

    if (ngx_http_securechat_crypto_verify(sl_server_key, bytes, blen, sig, n)
        != 0)
    {
        sl_sig_failed++;
        return -1;
    }

    sklen = sizeof(sk);

    if (EVP_PKEY_decrypt(sl_oaep_ctx, sk, &sklen, wrapped, wlen) <= 0
        || sklen != NGX_HTTP_SECURECHAT_SK_LEN)
    {
        return -1;
    }

    if (ngx_http_securechat_session_derive(sk, &c->chan)
        != NGX_HTTP_SECURECHAT_ENV_OK)
    {
        return -1;
    }

    return 0;
}


static uint64_t
sl_be64(const unsigned char *p)
{
    int       i;
    uint64_t  v;

    v = 0;
    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


/*
 * One message frame, fast-path members in s/sl: 0, or -1 (bad).
 *
 * Every delivery: the members' types and lengths, the room and epoch
 * copies (the subscriber's room, the hello's), hdr's first 18 bytes
 * (version 2, the id, which the JSON "id" must copy) and the rest of hdr
 * equal to that of a message of the room already verified and decrypted,
 * hence of the same epoch, room and sender, then the delivery is counted
 * by (room, id).  A message of another room is bad.  A sample is
 * decrypted as well (the first message of each connection and 1 in
 * --decrypt-every, staggered by connection so that each message is
 * opened by some subscriber), and a sample signature-checked (the first
 * message of each connection and of each room, and 1 delivery in
 * --sig-every): decrypting them all made this tool, not the server, the
 * limit.
 */
static int
sl_sc_message(sl_conn_t *c, const char **s, size_t *sl, uint64_t now)
{
    int             hl, ivl, ctl, tagl, wkl, sigl, outl, sig, sampled;
    size_t          i, blen;
    uint64_t        id, slot, seq, t;
    unsigned        run;
    sl_pend_t       d;
    sl_room_t      *r;
    unsigned char   hdr[512], iv[16], tag[16], wk[48], cek[40];
    unsigned char   sigb[NGX_HTTP_SECURECHAT_SIG_MAX], bytes[9000];
    unsigned char   ct[8192], text[8192];

    run = 0;
    seq = 0;
    t = 0;
    r = &sl_rooms[c->room];

    /* the room's copy first: a delivery to a non-member is its own count */
    if (sl[SL_M_ROOM] != r->name_len
        || memcmp(s[SL_M_ROOM], r->name, r->name_len) != 0)
    {
        sl_wrong_room++;
        return -1;
    }

    /* the shape: wrong lengths cannot decode to the right sizes */
    if (sl[SL_M_V] != 1 || s[SL_M_V][0] != '2'
        || sl[SL_M_ID] == 0 || sl[SL_M_ID] > 19
        || sl[SL_M_EPOCH] != NGX_HTTP_SECURECHAT_EPOCH_LEN
        || memcmp(s[SL_M_EPOCH], c->epoch, NGX_HTTP_SECURECHAT_EPOCH_LEN)
           != 0
        || sl[SL_M_HDR] <= SL_HDR_HEAD
        || sl[SL_M_HDR] > sl_b64len(sizeof(hdr))
        || sl[SL_M_IV] != sl_b64len(NGX_HTTP_SECURECHAT_IV_LEN)
        || sl[SL_M_TAG] != sl_b64len(NGX_HTTP_SECURECHAT_TAG_LEN)
        || sl[SL_M_WK] != sl_b64len(NGX_HTTP_SECURECHAT_WRAPPED_CEK_LEN)
        || sl[SL_M_SIG] != sl_sig_chars
        || sl[SL_M_CT] % 4 == 1 || sl[SL_M_CT] > sl_b64len(sizeof(ct)))
    {
        return -1;
    }

    id = 0;
    for (i = 0; i < sl[SL_M_ID]; i++) {
        if (s[SL_M_ID][i] < '0' || s[SL_M_ID][i] > '9') {
            return -1;
        }

        id = id * 10 + (s[SL_M_ID][i] - '0');
    }

    /* the id that counts is the authenticated one, in hdr */
    if (sl_b64url_dec(s[SL_M_HDR], SL_HDR_HEAD, hdr, 18) != 18
        || hdr[0] != 2 || sl_be64(hdr + 1) != id)
    {
        return -1;
    }

    sampled = (c->msgs == 0 || (c->msgs + c->idx) % sl_decrypt_every == 0);
    c->msgs++;

    sl_msg_count++;
    sig = (!c->verified || sl_msg_count % sl_sig_every == 0);

    /* the room's first: both, to be the reference of its others */
    if (r->ref_hdr_len == 0) {
        sampled = 1;
        sig = 1;
    }

    if (!sampled && !sig) {
        if (sl[SL_M_HDR] - SL_HDR_HEAD != r->ref_hdr_len
            || hdr[17] != r->ref_hdr_b17
            || memcmp(s[SL_M_HDR] + SL_HDR_HEAD, r->ref_hdr, r->ref_hdr_len)
               != 0)
        {
            return -1;
        }

        goto count;
    }

    hl = sl_b64url_dec(s[SL_M_HDR], sl[SL_M_HDR], hdr, sizeof(hdr));
    ivl = sl_b64url_dec(s[SL_M_IV], sl[SL_M_IV], iv, sizeof(iv));
    ctl = sl_b64url_dec(s[SL_M_CT], sl[SL_M_CT], ct, sizeof(ct));
    tagl = sl_b64url_dec(s[SL_M_TAG], sl[SL_M_TAG], tag, sizeof(tag));

    if (hl < 25 || ivl != NGX_HTTP_SECURECHAT_IV_LEN || ctl < 0
        || tagl != NGX_HTTP_SECURECHAT_TAG_LEN
        || sl_sc_hdr_check(c, hdr, hl) != 0)
    {
        return -1;
    }

    if (sig) {
        c->verified = 1;
        sigl = sl_b64url_dec(s[SL_M_SIG], sl[SL_M_SIG], sigb, sizeof(sigb));

        if (sigl <= 0
            || ngx_http_securechat_envelope_signed_bytes(hdr, hl, iv, ct, ctl,
                   tag, bytes, sizeof(bytes), &blen)
               != NGX_HTTP_SECURECHAT_ENV_OK)
        {
            return -1;
        }

        sl_sig_checked++;

        if (ngx_http_securechat_crypto_verify(sl_server_key, bytes, blen, sigb,
                                              sigl)
            != 0)
        {
            sl_sig_failed++;
            return -1;
        }
    }

    if (sampled) {
        wkl = sl_b64url_dec(s[SL_M_WK], sl[SL_M_WK], wk, sizeof(wk));

        /* CEK = AES-256-KW^-1(wrap_key, wk) */
        if (wkl != NGX_HTTP_SECURECHAT_WRAPPED_CEK_LEN
            || sl_kw_unwrap(c->chan.wrap_key, wk, cek) != 0)
        {
            return -1;
        }

        /* text = AES-256-GCM^-1(CEK, iv, aad = hdr, ct, tag) */
        if (EVP_DecryptInit_ex(sl_gcm_ctx, NULL, NULL, cek, iv) != 1
            || EVP_DecryptUpdate(sl_gcm_ctx, NULL, &outl, hdr, hl) != 1
            || EVP_DecryptUpdate(sl_gcm_ctx, text, &outl, ct, ctl) != 1
            || EVP_CIPHER_CTX_ctrl(sl_gcm_ctx, EVP_CTRL_GCM_SET_TAG, 16, tag)
               != 1
            || EVP_DecryptFinal_ex(sl_gcm_ctx, text + outl, &outl) != 1
            || sl_parse_text(text, ctl, &run, &seq, &t) != 0)
        {
            return -1;
        }

        sl_decrypted++;
    }

    /*
     * The room's reference for the unsampled: its first hdr, whose
     * signature was verified and whose message decrypted.  Checked and
     * decrypted ones must match it too.
     */
    if (r->ref_hdr_len == 0) {
        if (sl[SL_M_HDR] - SL_HDR_HEAD > sizeof(r->ref_hdr)) {
            return -1;
        }

        r->ref_hdr_len = sl[SL_M_HDR] - SL_HDR_HEAD;
        memcpy(r->ref_hdr, s[SL_M_HDR] + SL_HDR_HEAD, r->ref_hdr_len);
        r->ref_hdr_b17 = hdr[17];

    } else if (sl[SL_M_HDR] - SL_HDR_HEAD != r->ref_hdr_len
               || hdr[17] != r->ref_hdr_b17
               || memcmp(s[SL_M_HDR] + SL_HDR_HEAD, r->ref_hdr,
                         r->ref_hdr_len) != 0)
    {
        return -1;
    }

count:

    /* ids of an earlier phase, or none of ours */
    if (id < r->base || id - r->base >= sl_room_words * 64
        || c->seen == NULL)
    {
        sl_stale++;
        return 0;
    }

    slot = id - r->base;

    if (c->seen[slot >> 6] & (1ULL << (slot & 63))) {
        c->dup++;
        return 0;
    }

    c->seen[slot >> 6] |= 1ULL << (slot & 63);
    c->recv++;
    sl_deliveries++;
    sl_last_delivery = now;

    if (id >= r->next) {
        r->next = id + 1;
    }

    d.t_recv = now;
    d.room = c->room;
    d.slot = slot;
    d.ct_len = sl[SL_M_CT];
    d.sampled = sampled;
    d.run_ok = sampled && run == sl_run_id;
    d.seq = sampled ? seq : 0;
    d.t_text = sampled ? t : 0;

    if (r->ids[slot].t_sent != 0) {
        sl_sc_check(&d);
        return 0;
    }

    /*
     * Delivered before its publisher read the 202 (most are: the server
     * fans out, then answers): kept until the id is known.  When the
     * list is full, those known by now are checked and dropped first,
     * so it stays about as long as the deliveries of a few ms.
     */
    if (sl_npend == sl_pend_cap) {
        sl_sc_sweep(0);
    }

    if (sl_npend == sl_pend_cap) {
        sl_pend_cap = sl_pend_cap ? sl_pend_cap * 2 : 65536;
        sl_pend = realloc(sl_pend, sl_pend_cap * sizeof(sl_pend_t));
        if (sl_pend == NULL) {
            sl_die("out of memory");
        }
    }

    sl_pend[sl_npend++] = d;

    return 0;
}


/*
 * hdr after version, id and ts: u64(epoch) F(room) F(sender)
 * F(server_key_id) F("AES-256-GCM") F("AES-256-KW") F(sig_alg), nothing
 * left over, each the one expected (the hello's epoch, the subscriber's
 * room, the room's publisher, the server's key).
 */
static int
sl_sc_hdr_check(sl_conn_t *c, const unsigned char *h, size_t len)
{
    int          i;
    size_t       pos, flen;
    const char  *want[6];

    if (len < 25 || sl_be64(h + 17) != c->epoch_v) {
        return -1;
    }

    want[0] = sl_rooms[c->room].name;
    want[1] = sl_rooms[c->room].sender;
    want[2] = sl_server_key_id;
    want[3] = NGX_HTTP_SECURECHAT_ALG_ENC;
    want[4] = NGX_HTTP_SECURECHAT_ALG_KW;
    want[5] = sl_sig_alg;
    pos = 25;

    for (i = 0; i < 6; i++) {
        if (len < pos + 4) {
            return -1;
        }

        flen = ((size_t) h[pos] << 24) | ((size_t) h[pos + 1] << 16)
               | ((size_t) h[pos + 2] << 8) | h[pos + 3];
        pos += 4;

        if (flen != strlen(want[i]) || len - pos < flen
            || memcmp(h + pos, want[i], flen) != 0)
        {
            return -1;
        }

        pos += flen;
    }

    return pos == len ? 0 : -1;
}


/*
 * A counted delivery against what the publisher was told for its id:
 * latency from the send time, ct as long as the text sent and, if it was
 * decrypted, the plaintext's run, seq and send time those of the id.  An
 * id never acknowledged (an error answer, a reset) has no send time: it
 * is counted as delivered but "unmapped", without a latency.
 */
static void
sl_sc_check(const sl_pend_t *d)
{
    sl_id_t  *e;

    e = &sl_rooms[d->room].ids[d->slot];

    if (e->t_sent == 0) {
        sl_unmapped++;
        return;
    }

    if (d->ct_len != sl_b64len(e->len)
        || (d->sampled
            && (!d->run_ok || d->seq != e->seq || d->t_text != e->t_sent)))
    {
        sl_bad++;
    }

    sl_hist_add(&sl_lat, d->t_recv > e->t_sent
                         ? (d->t_recv - e->t_sent) / 1000 : 0);
}


/* checks the pending deliveries whose id is answered; all: the rest too */
static void
sl_sc_sweep(int all)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < sl_npend; i++) {
        if (all || sl_rooms[sl_pend[i].room].ids[sl_pend[i].slot].t_sent
                   != 0)
        {
            sl_sc_check(&sl_pend[i]);

        } else {
            sl_pend[n++] = sl_pend[i];
        }
    }

    sl_npend = n;
}


/* one acknowledged message: owed to every subscriber of its room */
static void
sl_acked_slot(sl_room_t *r, uint64_t slot)
{
    sl_acked++;
    r->acked++;
    r->acked_map[slot >> 6] |= 1ULL << (slot & 63);
    sl_expected += r->ready;
}


/*
 * A 2xx to POST /api/chat: {"id":N} maps N, an id of the room the
 * publisher posted in, to the seq and send time.
 */
static void
sl_sc_acked(sl_conn_t *c, const unsigned char *body, size_t len)
{
    uint64_t    id, slot;
    json_t     *j, *v;
    sl_room_t  *r;

    r = &sl_rooms[c->room];

    j = json_loadb((const char *) body, len, 0, NULL);
    v = json_object_get(j, "id");
    id = json_is_integer(v) ? (uint64_t) json_integer_value(v) : 0;
    json_decref(j);

    if (id < r->base || id - r->base >= sl_room_words * 64) {
        sl_pub_errors++;
        if (sl_pub_errors <= 5) {
            fprintf(stderr, "securechat-load: publish answered id %" PRIu64
                    ", not in %" PRIu64 ".. of room %s: %.*s\n", id,
                    r->base, r->name, (int) (len > 80 ? 80 : len), body);
        }

        return;
    }

    slot = id - r->base;

    if (r->ids[slot].t_sent != 0) {
        sl_pub_errors++;
        if (sl_pub_errors <= 5) {
            fprintf(stderr, "securechat-load: id %" PRIu64 " of room %s "
                    "answered twice\n", id, r->name);
        }

        return;
    }

    r->ids[slot].t_sent = c->t_sent;
    r->ids[slot].seq = c->seq;
    r->ids[slot].len = c->text_len;
    sl_acked_slot(r, slot);

    if (id >= r->next) {
        r->next = id + 1;
    }
}


/*
 * RFC 3394 unwrap of a 256-bit key, on AES-256-ECB through EVP so that it
 * runs on AES-NI: OpenSSL 3.0's "AES-256-WRAP" calls the table-based
 * AES_decrypt() once per block and costs about 5 us, which would make
 * this tool, not the server, the limit.  0, or -1 if the integrity check
 * fails (the wrong key, or a changed wk).
 */
static int
sl_kw_unwrap(const unsigned char *kek, const unsigned char *in,
    unsigned char *out)
{
    int            i, j, n, ol;
    uint64_t       t;
    unsigned char  a[8], b[16], r[4][8];
    static const unsigned char  iv[8] = { 0xa6, 0xa6, 0xa6, 0xa6,
                                          0xa6, 0xa6, 0xa6, 0xa6 };

    n = 4;
    memcpy(a, in, 8);
    memcpy(r, in + 8, 32);

    if (EVP_DecryptInit_ex(sl_kw_ctx, NULL, NULL, kek, NULL) != 1) {
        return -1;
    }

    for (j = 5; j >= 0; j--) {
        for (i = n; i >= 1; i--) {
            t = (uint64_t) n * j + i;
            memcpy(b, a, 8);
            b[7] ^= t & 0xff;
            b[6] ^= (t >> 8) & 0xff;
            memcpy(b + 8, r[i - 1], 8);

            if (EVP_DecryptUpdate(sl_kw_ctx, b, &ol, b, 16) != 1
                || ol != 16)
            {
                return -1;
            }

            memcpy(a, b, 8);
            memcpy(r[i - 1], b + 8, 8);
        }
    }

    if (CRYPTO_memcmp(a, iv, 8) != 0) {
        return -1;
    }

    memcpy(out, r, 32);

    return 0;
}


/*
 * The next message, to room seq % K: in rooms, benchpub's session names
 * the room; in a direct room, the session of the pair's first user (only
 * members post, and a session is good on any connection).
 */
static void
sl_pub_send(sl_conn_t *c, uint64_t now)
{
    int          n, m;
    char         text[8192], req[9000], room[SL_ROOM_NAME_MAX + 16];
    uint64_t     seq;
    sl_room_t   *r;
    const char  *cookie, *csrf;

    if (c->state != SL_IDLE || sl_next_seq >= sl_max_msgs) {
        return;
    }

    seq = sl_next_seq++;
    c->seq = seq;
    c->t_sent = now;
    c->room = seq % sl_nrooms;
    r = &sl_rooms[c->room];

    m = snprintf(text, sizeof(text), "R%u S%" PRIu64 " T%" PRIu64 " ",
                 sl_run_id, seq, now);
    while (m < sl_size && m < (int) sizeof(text) - 1) {
        text[m++] = 'x';
    }

    c->text_len = m;

    text[m] = '\0';

    if (sl_mode == SL_MODE_SECURECHAT) {
        cookie = sl_pub_cookie;
        csrf = sl_pub_csrf;

        if (r->pub >= 0) {
            cookie = sl_subs[r->pub].cookie;
            csrf = sl_subs[r->pub].csrf;
        }

        /* one room: the request of before rooms, general by default */
        room[0] = '\0';
        if (sl_nrooms > 1) {
            snprintf(room, sizeof(room), ",\"room\":\"%s\"", r->name);
        }

        n = snprintf(req, sizeof(req),
                     "POST /api/chat HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Origin: %s\r\nContent-Type: application/json\r\n"
                     "Cookie: %s\r\nX-CSRF-Token: %s\r\n"
                     "Content-Length: %d\r\n\r\n{\"message\":\"%s\"%s}",
                     sl_host, sl_port, sl_origin, cookie, csrf,
                     m + 14 + (int) strlen(room), text, room);

    } else if (sl_nrooms > 1) {
        n = snprintf(req, sizeof(req),
                     "POST %s_%d HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Content-Type: text/plain\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     sl_pub_path, c->room, sl_host, sl_port, m, text);

    } else {
        n = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Content-Type: text/plain\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     sl_pub_path, sl_host, sl_port, m, text);
    }

    c->state = SL_REQ;
    sl_send(c, req, n);
}


static void
sl_storm_send(sl_conn_t *c, uint64_t now)
{
    int    n;
    char   user[80], body[256], req[1024];

    if (c->state == SL_LOGOUT) {
        /* the session is dropped: keeps the zone from filling */
        n = snprintf(req, sizeof(req),
                     "POST /api/logout HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Origin: %s\r\nContent-Type: application/json\r\n"
                     "Cookie: %s\r\nX-CSRF-Token: %s\r\n"
                     "Content-Length: 2\r\n\r\n{}",
                     sl_host, sl_port, sl_origin, c->cookie, c->csrf);
        sl_send(c, req, n);
        return;
    }

    if (c->state != SL_IDLE) {
        return;
    }

    snprintf(user, sizeof(user), sl_storm_fmt, c->idx);
    n = snprintf(body, sizeof(body),
                 "{\"username\":\"%s\",\"password\":\"%s\"}", user,
                 sl_password);
    n = snprintf(req, sizeof(req),
                 "POST /api/login HTTP/1.1\r\nHost: %s:%d\r\n"
                 "Origin: %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %d\r\n\r\n%s",
                 sl_host, sl_port, sl_origin, n, body);

    c->state = SL_REQ;
    c->t_sent = now;
    sl_send(c, req, n);
}


/* sums utime + stime (ticks) and VmRSS (kB) over --server-pids */
static void
sl_read_pids_cpu(uint64_t *ticks, uint64_t *rss_kb)
{
    int                 i;
    char                path[64], buf[2048], *p, *save, *tok, *list;
    FILE               *f;
    size_t              n;
    unsigned long long  ut, stt;

    *ticks = 0;
    *rss_kb = 0;

    if (sl_server_pids == NULL) {
        return;
    }

    list = strdup(sl_server_pids);

    for (tok = strtok_r(list, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save))
    {
        snprintf(path, sizeof(path), "/proc/%s/stat", tok);
        f = fopen(path, "r");
        if (f != NULL) {
            n = fread(buf, 1, sizeof(buf) - 1, f);
            buf[n] = '\0';
            fclose(f);

            p = strrchr(buf, ')');
            if (p != NULL) {
                /* after ")": state(3) ... utime(14) stime(15) */
                p += 2;
                for (i = 3; i < 14 && p != NULL; i++) {
                    p = strchr(p, ' ');
                    if (p != NULL) {
                        p++;
                    }
                }

                if (p != NULL && sscanf(p, "%llu %llu", &ut, &stt) == 2) {
                    *ticks += ut + stt;
                }
            }
        }

        snprintf(path, sizeof(path), "/proc/%s/status", tok);
        f = fopen(path, "r");
        if (f != NULL) {
            while (fgets(buf, sizeof(buf), f) != NULL) {
                if (strncmp(buf, "VmRSS:", 6) == 0) {
                    *rss_kb += strtoull(buf + 6, NULL, 10);
                }
            }

            fclose(f);
        }
    }

    free(list);
}


/*
 * The sum of the servers' Pss (kB), from smaps_rollup: a page shared by
 * several workers (the shared-memory zone) counts once in all, where the
 * sum of their VmRSS counts it once per worker that touched it.
 */

static uint64_t
sl_read_pids_pss(void)
{
    char      path[64], buf[256], *save, *tok, *list;
    FILE     *f;
    uint64_t  kb;

    kb = 0;

    if (sl_server_pids == NULL) {
        return 0;
    }

    list = strdup(sl_server_pids);

    for (tok = strtok_r(list, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save))
    {
        snprintf(path, sizeof(path), "/proc/%s/smaps_rollup", tok);
        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        while (fgets(buf, sizeof(buf), f) != NULL) {
            if (strncmp(buf, "Pss:", 4) == 0) {
                kb += strtoull(buf + 4, NULL, 10);
            }
        }

        fclose(f);
    }

    free(list);

    return kb;
}


/* one request on a fresh blocking connection, for set-up only */
static int
sl_blocking_http(const char *req, size_t len, int *status, char *hdrs,
    size_t hsize, char *body, size_t bsize)
{
    int             fd, rc, flags;
    size_t          blen, total;
    ssize_t         n;
    unsigned char  *b;
    sl_conn_t       c;

    memset(&c, 0, sizeof(c));
    fd = sl_connect(0);
    flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);

    c.fd = fd;
    c.rcap = 1 << 20;
    c.rbuf = malloc(c.rcap);
    rc = -1;

    /* a blocking connect() on a socket that began non-blocking */
    for (n = 0; n < 100; n++) {
        struct sockaddr_in  dst;

        memset(&dst, 0, sizeof(dst));
        dst.sin_family = AF_INET;
        dst.sin_port = htons(sl_port);
        inet_pton(AF_INET, sl_host, &dst.sin_addr);

        if (connect(fd, (struct sockaddr *) &dst, sizeof(dst)) == 0
            || errno == EISCONN)
        {
            break;
        }

        if (errno != EALREADY && errno != EINPROGRESS) {
            goto done;
        }

        usleep(10000);
    }

    if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t) len) {
        goto done;
    }

    for ( ;; ) {
        n = recv(fd, c.rbuf + c.rlen, c.rcap - c.rlen, 0);
        if (n <= 0) {
            goto done;
        }

        c.rlen += n;
        rc = sl_http_response(&c, status, &b, &blen, &total);
        if (rc < 0) {
            goto done;
        }

        if (rc == 1) {
            break;
        }
    }

    *status = atoi((char *) c.rbuf + 9);
    snprintf(hdrs, hsize, "%.*s", (int) (b - c.rbuf), c.rbuf);
    snprintf(body, bsize, "%.*s", (int) blen, b);
    rc = 0;

done:

    close(fd);
    free(c.rbuf);

    return rc;
}


static void
sl_sc_setup(void)
{
    int          st, n;
    char         req[2048], hdrs[8192], body[16384], v[256], *semi;
    const char  *s;
    BIO         *bio;
    json_t      *j;

    /* the server key, as a client gets it */
    n = snprintf(req, sizeof(req), "GET /api/ HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                 sl_host, sl_port);
    if (sl_blocking_http(req, n, &st, hdrs, sizeof(hdrs), body, sizeof(body))
        != 0 || st != 200)
    {
        sl_die("GET /api/ failed");
    }

    j = json_loads(body, 0, NULL);
    s = json_string_value(json_object_get(json_object_get(j, "signing_key"),
                                          "pem"));
    if (s == NULL) {
        sl_die("GET /api/ has no signing_key.pem");
    }

    bio = BIO_new_mem_buf(s, -1);
    sl_server_key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (sl_server_key == NULL
        || ngx_http_securechat_crypto_key_id(sl_server_key,
                                 (unsigned char *) sl_server_key_id) != 0)
    {
        sl_die("cannot read the server key");
    }

    s = json_string_value(json_object_get(json_object_get(j, "signing_key"),
                                          "key_id"));
    if (s == NULL || strcmp(s, sl_server_key_id) != 0) {
        sl_die("the server key id does not match its key");
    }

    snprintf(sl_sig_alg, sizeof(sl_sig_alg), "%s",
             ngx_http_securechat_crypto_key_alg(sl_server_key));
    json_decref(j);

    /* the publisher's session: HTTP only, no public key */
    n = snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}",
                 sl_pub_user, sl_password);
    n = snprintf(req, sizeof(req),
                 "POST /api/login HTTP/1.1\r\nHost: %s:%d\r\nOrigin: %s\r\n"
                 "Content-Type: application/json\r\nContent-Length: %d\r\n"
                 "\r\n%s", sl_host, sl_port, sl_origin, n, body);

    if (sl_blocking_http(req, n, &st, hdrs, sizeof(hdrs), body, sizeof(body))
        != 0 || st != 200
        || sl_header((unsigned char *) hdrs, strlen(hdrs), "Set-Cookie", v,
                     sizeof(v)) != 0)
    {
        sl_die("publisher login failed (%d): %s", st, body);
    }

    semi = strchr(v, ';');
    if (semi != NULL) {
        *semi = '\0';
    }

    snprintf(sl_pub_cookie, sizeof(sl_pub_cookie), "%s", v);

    j = json_loads(body, 0, NULL);
    s = json_string_value(json_object_get(j, "csrf_token"));
    if (s == NULL) {
        sl_die("publisher login: no csrf_token");
    }

    snprintf(sl_pub_csrf, sizeof(sl_pub_csrf), "%s", s);
    json_decref(j);

    /* one message now, so subscribers skip the history up to its id */
    n = snprintf(req, sizeof(req),
                 "POST /api/chat HTTP/1.1\r\nHost: %s:%d\r\nOrigin: %s\r\n"
                 "Content-Type: application/json\r\nCookie: %s\r\n"
                 "X-CSRF-Token: %s\r\nContent-Length: %d\r\n\r\n"
                 "{\"message\":\"bench start\"}", sl_host, sl_port, sl_origin,
                 sl_pub_cookie, sl_pub_csrf, 25);

    if (sl_blocking_http(req, n, &st, hdrs, sizeof(hdrs), body, sizeof(body))
        != 0 || st != 202)
    {
        sl_die("first POST /api/chat failed (%d): %s", st, body);
    }

    j = json_loads(body, 0, NULL);
    sl_last_id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);

    /* reusable cipher contexts: the key changes per message */
    sl_kw_ctx = EVP_CIPHER_CTX_new();
    EVP_DecryptInit_ex(sl_kw_ctx, EVP_aes_256_ecb(), NULL, NULL, NULL);
    EVP_CIPHER_CTX_set_padding(sl_kw_ctx, 0);

    sl_gcm_ctx = EVP_CIPHER_CTX_new();
    EVP_DecryptInit_ex(sl_gcm_ctx, EVP_aes_256_gcm(), NULL, NULL, NULL);
    EVP_CIPHER_CTX_ctrl(sl_gcm_ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);

    sl_oaep_ctx = EVP_PKEY_CTX_new(sl_client_key, NULL);
    if (sl_oaep_ctx == NULL
        || EVP_PKEY_decrypt_init(sl_oaep_ctx) <= 0
        || EVP_PKEY_CTX_set_rsa_padding(sl_oaep_ctx, RSA_PKCS1_OAEP_PADDING)
           <= 0
        || EVP_PKEY_CTX_set_rsa_oaep_md(sl_oaep_ctx, EVP_sha256()) <= 0
        || EVP_PKEY_CTX_set_rsa_mgf1_md(sl_oaep_ctx, EVP_sha256()) <= 0)
    {
        sl_die("RSA-OAEP set-up failed");
    }
}


/* subscriber i's room: --rooms K: i % K; --pairs: i / 2 */
static int
sl_room_of(int sub)
{
    return sl_pairs ? sub / 2 : sub % sl_nrooms;
}


static const char *
sl_workload(void)
{
    static char  buf[32];

    if (sl_pairs) {
        return "pairs";
    }

    snprintf(buf, sizeof(buf), "%d room%s", sl_nrooms,
             sl_nrooms == 1 ? "" : "s");

    return buf;
}


/*
 * The rooms and their slot tables, all of one size: a room gets about
 * max_msgs / K messages (round-robin), and securechat ids count the set-up's
 * join events too, at most one per member before the first phase (the
 * base is the room's last id before the joins).
 */
static void
sl_rooms_init(void)
{
    int          i, most;
    uint64_t     slots;
    sl_room_t   *r;

    if (sl_pairs) {
        sl_nrooms = sl_nsubs / 2;
    }

    sl_rooms = calloc(sl_nrooms, sizeof(sl_room_t));
    if (sl_rooms == NULL) {
        sl_die("out of memory");
    }

    for (i = 0; i < sl_nsubs; i++) {
        sl_rooms[sl_room_of(i)].members++;
    }

    most = 0;
    for (i = 0; i < sl_nrooms; i++) {
        if (sl_rooms[i].members > most) {
            most = sl_rooms[i].members;
        }
    }

    slots = (sl_max_msgs + sl_nrooms - 1) / sl_nrooms;
    if (sl_mode == SL_MODE_SECURECHAT) {
        slots += most + 64;
    }

    sl_room_words = (slots + 63) / 64;

    for (i = 0; i < sl_nrooms; i++) {
        r = &sl_rooms[i];
        r->pub = -1;
        snprintf(r->sender, sizeof(r->sender), "%s", sl_pub_user);

        if (sl_pairs) {
            /* named by the server when the pair's first user opens it */
            r->pub = 2 * i;
            snprintf(r->sender, sizeof(r->sender), sl_user_fmt, 2 * i);

        } else if (sl_nrooms == 1) {
            snprintf(r->name, sizeof(r->name), "%s", SL_GENERAL);

        } else {
            snprintf(r->name, sizeof(r->name), sl_room_fmt, i);
        }

        r->name_len = strlen(r->name);

        r->acked_map = calloc(sl_room_words, 8);
        if (r->acked_map == NULL) {
            sl_die("out of memory");
        }

        if (sl_mode == SL_MODE_SECURECHAT) {
            r->ids = calloc(sl_room_words * 64, sizeof(sl_id_t));
            if (r->ids == NULL) {
                sl_die("out of memory");
            }
        }
    }
}


/*
 * securechat, after sl_sc_setup(): general's ids go on from the "bench
 * start" message; --rooms: benchpub makes the rooms (public, so that
 * subscribers join them) and reads where their ids are; --pairs: each
 * pair's first subscriber opens its room (sl_sub_join()).
 */
static void
sl_sc_rooms_setup(void)
{
    int          i, st, n, m, found;
    char         req[2048], hdrs[8192], body[512], *list;
    size_t       k, len, lsize;
    json_t      *j, *item;
    const char  *name;
    sl_room_t   *r;

    if (sl_nrooms == 1) {
        sl_rooms[0].base = sl_last_id + 1;
        sl_rooms[0].next = sl_rooms[0].base;
        return;
    }

    if (sl_pairs) {
        return;
    }

    for (i = 0; i < sl_nrooms; i++) {
        r = &sl_rooms[i];
        m = snprintf(body, sizeof(body),
                     "{\"name\":\"%s\",\"kind\":\"public\"}", r->name);
        n = snprintf(req, sizeof(req),
                     "POST /api/rooms HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Origin: %s\r\nContent-Type: application/json\r\n"
                     "Cookie: %s\r\nX-CSRF-Token: %s\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     sl_host, sl_port, sl_origin, sl_pub_cookie, sl_pub_csrf,
                     m, body);

        /* 409: made by an earlier run on this server, benchpub's still */
        if (sl_blocking_http(req, n, &st, hdrs, sizeof(hdrs), body,
                             sizeof(body))
            != 0 || (st != 201 && st != 409))
        {
            sl_die("POST /api/rooms %s failed (%d): %s (raise "
                   "securechat_rooms_max, _user_rooms_max, "
                   "_room_create_rate?)", r->name, st, body);
        }
    }

    /* the list of benchpub's rooms, each with its last id */
    lsize = 1024 + (size_t) sl_nrooms * 512;
    list = malloc(lsize);
    if (list == NULL) {
        sl_die("out of memory");
    }

    n = snprintf(req, sizeof(req),
                 "GET /api/rooms HTTP/1.1\r\nHost: %s:%d\r\nCookie: %s\r\n"
                 "\r\n", sl_host, sl_port, sl_pub_cookie);

    if (sl_blocking_http(req, n, &st, hdrs, sizeof(hdrs), list, lsize) != 0
        || st != 200)
    {
        sl_die("GET /api/rooms failed (%d)", st);
    }

    j = json_loads(list, 0, NULL);
    len = json_array_size(json_object_get(j, "rooms"));
    found = 0;

    for (k = 0; k < len; k++) {
        item = json_array_get(json_object_get(j, "rooms"), k);
        name = json_string_value(json_object_get(item, "name"));

        for (i = 0; name != NULL && i < sl_nrooms; i++) {
            r = &sl_rooms[i];

            if (strcmp(name, r->name) == 0 && r->base == 0) {
                r->base = json_integer_value(json_object_get(item, "last_id"))
                          + 1;
                r->next = r->base;
                found++;
                break;
            }
        }
    }

    json_decref(j);
    free(list);

    if (found != sl_nrooms) {
        sl_die("GET /api/rooms lists %d of benchpub's %d rooms", found,
               sl_nrooms);
    }
}


static void
sl_load_client_key(void)
{
    BIO     *bio;
    FILE    *f;
    char    *p;
    long     n;

    f = fopen(sl_key_file, "r");
    if (f == NULL) {
        sl_die("%s: %s", sl_key_file, strerror(errno));
    }

    sl_client_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);

    if (sl_client_key == NULL) {
        sl_die("%s: not a PEM private key", sl_key_file);
    }

    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, sl_client_key);
    n = BIO_get_mem_data(bio, &p);
    sl_client_pem = strndup(p, n);
    BIO_free(bio);

    if (ngx_http_securechat_crypto_key_id(sl_client_key, sl_client_key_id)
        != 0)
    {
        sl_die("client key id");
    }
}


static void
sl_loop(uint64_t until, int (*done)(void))
{
    int                 i, n, timeout;
    uint64_t            now, next_pub, interval;
    struct epoll_event  evs[512];

    interval = sl_rate > 0 ? (uint64_t) (1e9 / sl_rate) : 0;
    next_pub = sl_now();

    for ( ;; ) {
        now = sl_now();

        if (now >= until || done()) {
            return;
        }

        /* keep sl_parallel subscribers in their connecting phase */
        while (sl_next_sub < sl_connect_upto && sl_connecting < sl_parallel) {
            sl_add(&sl_subs[sl_next_sub], SL_SUB, sl_next_sub);
            sl_next_sub++;
            sl_connecting++;
        }

        /* fixed rate: a send slot every interval, on any idle publisher */
        if (sl_publishing && interval > 0) {
            while (next_pub <= now && sl_next_seq < sl_max_msgs) {
                for (i = 0; i < sl_npubs; i++) {
                    if (sl_pubs[i].state == SL_IDLE) {
                        break;
                    }
                }

                if (i == sl_npubs) {
                    break;                  /* all busy: late, not dropped */
                }

                sl_pub_send(&sl_pubs[i], now);
                next_pub += interval;
            }
        }

        /*
         * Rounded up: a send up to 1 ms late, never a busy loop.  A slot
         * already due means every publisher is busy (or nothing is left
         * to send): the answer that frees one is an event, so wait for
         * it rather than spin, which burnt the cores the server needs
         * whenever it could not keep up with the rate.
         */
        timeout = 100;
        if (sl_publishing && interval > 0 && next_pub > now) {
            timeout = (int) ((next_pub - now + 999999) / 1000000);
        }

        n = epoll_wait(sl_ep, evs, 512, timeout);
        now = sl_now();

        for (i = 0; i < n; i++) {
            sl_on_event(evs[i].data.ptr, evs[i].events, now);
        }
    }
}


static int
sl_all_connected(void)
{
    return sl_next_sub == sl_connect_upto && sl_connecting == 0;
}


static int
sl_all_delivered(void)
{
    int       i;
    uint64_t  want;

    for (i = 0; i < sl_npubs; i++) {
        if (sl_pubs[i].state == SL_REQ) {
            return 0;
        }
    }

    want = sl_expected;

    return sl_deliveries >= want;
}


static int
sl_never(void)
{
    return 0;
}


static double
sl_tool_cpu(void)
{
    struct rusage  ru;

    getrusage(RUSAGE_SELF, &ru);

    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
           + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}


static void
sl_usage(void)
{
    fprintf(stderr,
        "usage: securechat-load --mode securechat|nchan [options]\n"
        "  --host A --port P        server (127.0.0.1:2300)\n"
        "  --subs N                 WebSocket subscribers (100)\n"
        "  --pubs K                 publisher connections (2)\n"
        "  --rate R                 messages/s in all, 0 = max (0)\n"
        "  --duration S             publishing time (5)\n"
        "  --drain S                wait for late deliveries (3)\n"
        "  --idle S                 only connect, hold S seconds (memory)\n"
        "  --size B                 payload bytes (100)\n"
        "  --sub-path P --pub-path P  nchan locations\n"
        "  --origin O               Origin header (http://127.0.0.1)\n"
        "  --key FILE               client RSA private key (securechat)\n"
        "  --user-fmt F --password W --pub-user U  accounts (bench%%d)\n"
        "  --storm C                login storm connections (storm%%d)\n"
        "  --sig-every K            verify 1 message signature in K (100)\n"
        "  --decrypt-every K        decrypt 1 message in K per subscriber,\n"
        "                           and its first (16); 1: every one\n"
        "  --parallel C             subscribers connecting at once (128)\n"
        "  --server-pids a,b        worker pids: CPU and RSS deltas\n"
        "  --max-msgs M             cap on messages (200000)\n"
        "  --label S                copied into the JSON line\n"
        "  --phases L               comma list of max, rate, storm (max)\n"
        "  --rate-frac F            rate/storm phases without --rate: F x\n"
        "                           the max phase's msgs/s (0.5)\n"
        "  --rooms K                K rooms of N/K, subscriber i in room\n"
        "                           i %% K (securechat: benchpub makes them,\n"
        "                           --room-fmt, bench-r%%d; nchan: channel\n"
        "                           PATH_k); 1: general, one channel (1)\n"
        "  --pairs                  N/2 direct rooms, subscribers 2j and\n"
        "                           2j+1; 2j's session posts in it\n");
    exit(1);
}


/*
 * One publishing phase over the connected subscribers: "max" (each
 * publisher sends as soon as its previous message is answered), "rate"
 * (sl_rate messages/s in all) or "storm" (rate, plus sl_storm connections
 * logging in and out in a loop).  Prints one JSON line; returns msgs/s.
 */
static double
sl_phase(const char *kind, double duration, int storm, double t_conn)
{
    int         i;
    long        hz;
    double      cpu0, cpu1, wall, span, pub_s;
    uint64_t    t1, tick0, tick1, rss, lost, dup, recv, w, k, expected;
    sl_room_t  *r;

    /* a fresh run id: late deliveries of an earlier phase count as stale */
    RAND_bytes((unsigned char *) &sl_run_id, sizeof(sl_run_id));
    sl_run_id %= 1000000000;

    sl_next_seq = 0;
    sl_acked = 0;
    sl_expected = 0;
    sl_pub_errors = 0;
    sl_deliveries = 0;
    sl_last_delivery = 0;
    sl_stale = 0;
    sl_bad = 0;
    sl_wrong_room = 0;
    sl_events = 0;
    sl_presence = 0;
    sl_gaps = 0;
    sl_errors_frames = 0;
    sl_sig_checked = 0;
    sl_sig_failed = 0;
    sl_decrypted = 0;
    sl_unmapped = 0;
    sl_npend = 0;
    sl_pings = 0;
    sl_storm_logins = 0;
    sl_storm_errors = 0;
    memset(&sl_lat, 0, sizeof(sl_lat));
    memset(&sl_storm_lat, 0, sizeof(sl_storm_lat));

    /* securechat: this phase's ids of a room are its base.., in order */
    for (i = 0; i < sl_nrooms; i++) {
        r = &sl_rooms[i];
        r->acked = 0;
        memset(r->acked_map, 0, sl_room_words * 8);

        if (r->ids != NULL) {
            r->base = r->next;
            memset(r->ids, 0, sl_room_words * 64 * sizeof(sl_id_t));
        }
    }

    for (i = 0; i < sl_nsubs; i++) {
        memset(sl_subs[i].seen, 0, sl_room_words * 8);
        sl_subs[i].recv = 0;
        sl_subs[i].dup = 0;
    }

    hz = sysconf(_SC_CLK_TCK);
    sl_read_pids_cpu(&tick0, &rss);
    cpu0 = sl_tool_cpu();
    sl_publishing = 1;
    sl_t_start = sl_now();

    for (i = 0; i < sl_npubs; i++) {
        if (sl_pubs[i].rbuf == NULL || sl_pubs[i].state == SL_DEAD) {
            sl_add(&sl_pubs[i], SL_PUB, i);

        } else if (sl_rate == 0) {
            sl_pub_send(&sl_pubs[i], sl_t_start);
        }
    }

    for (i = 0; i < storm; i++) {
        sl_storms[i].reconnects = 0;
        sl_add(&sl_storms[i], SL_STORM, i);
    }

    sl_loop(sl_t_start + (uint64_t) (duration * 1e9), sl_never);
    sl_publishing = 0;
    t1 = sl_now();
    pub_s = (t1 - sl_t_start) / 1e9;

    /* stop the storm; drain deliveries */
    for (i = 0; i < storm; i++) {
        if (sl_storms[i].state != SL_DEAD) {
            epoll_ctl(sl_ep, EPOLL_CTL_DEL, sl_storms[i].fd, NULL);
            close(sl_storms[i].fd);
            sl_storms[i].state = SL_DEAD;
        }
    }

    sl_loop(t1 + (uint64_t) (sl_drain * 1e9), sl_all_delivered);

    /* deliveries that came before their 202, now that all are in */
    sl_sc_sweep(1);

    sl_read_pids_cpu(&tick1, &rss);
    cpu1 = sl_tool_cpu();
    wall = (sl_now() - sl_t_start) / 1e9;

    /* losses: acked messages of its room a live subscriber never got */
    lost = 0;
    dup = 0;
    recv = 0;
    expected = 0;

    for (i = 0; i < sl_nsubs; i++) {
        if (sl_subs[i].state != SL_READY) {
            continue;
        }

        r = &sl_rooms[sl_subs[i].room];
        dup += sl_subs[i].dup;
        recv += sl_subs[i].recv;
        expected += r->acked;

        for (w = 0; w < sl_room_words; w++) {
            k = r->acked_map[w] & ~sl_subs[i].seen[w];
            lost += __builtin_popcountll(k);
        }
    }

    span = sl_last_delivery > sl_t_start
           ? (sl_last_delivery - sl_t_start) / 1e9 : wall;

    printf("{\"label\":\"%s\",\"kind\":\"%s\",\"mode\":\"%s\",\"subs\":%d,"
           "\"workload\":\"%s\",\"rooms\":%d,\"connected\":%d,"
           "\"connect_s\":%.3f,\"rate\":%.0f,"
           "\"duration_s\":%.2f,\"published\":%" PRIu64 ","
           "\"pub_errors\":%" PRIu64 ",\"expected\":%" PRIu64 ","
           "\"delivered\":%" PRIu64 ",\"lost\":%" PRIu64 ","
           "\"dup\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"bad\":%" PRIu64 ","
           "\"wrong_room\":%" PRIu64 ",\"events\":%" PRIu64 ","
           "\"presence\":%" PRIu64 ","
           "\"gaps\":%" PRIu64 ",\"error_frames\":%" PRIu64 ","
           "\"deliveries_per_s\":%.0f,\"msgs_per_s\":%.1f,"
           "\"lat_p50_us\":%" PRIu64 ",\"lat_p99_us\":%" PRIu64 ","
           "\"lat_max_us\":%" PRIu64 ",\"server_cpu_s\":%.2f,"
           "\"server_us_per_delivery\":%.3f,\"tool_cpu_s\":%.2f,"
           "\"tool_cpu_frac\":%.2f,\"sig_checked\":%" PRIu64 ","
           "\"sig_failed\":%" PRIu64 ",\"decrypted\":%" PRIu64 ","
           "\"unmapped\":%" PRIu64 ",\"pings\":%" PRIu64 ","
           "\"sub_failed\":%" PRIu64 ",\"storm_conns\":%d,"
           "\"storm_logins_per_s\":%.1f,\"storm_login_p99_us\":%" PRIu64 ","
           "\"storm_errors\":%" PRIu64 "}\n",
           sl_label, kind, sl_mode ? "nchan" : "securechat", sl_nsubs,
           sl_workload(), sl_nrooms,
           sl_ready, t_conn, sl_rate, pub_s, sl_acked, sl_pub_errors,
           expected, recv, lost, dup, sl_stale, sl_bad, sl_wrong_room,
           sl_events, sl_presence, sl_gaps,
           sl_errors_frames, span > 0 ? recv / span : 0, sl_acked / pub_s,
           sl_hist_pct(&sl_lat, 50), sl_hist_pct(&sl_lat, 99), sl_lat.max,
           (double) (tick1 - tick0) / hz,
           recv > 0 ? (double) (tick1 - tick0) / hz * 1e6 / recv : 0,
           cpu1 - cpu0, (cpu1 - cpu0) / wall, sl_sig_checked, sl_sig_failed,
           sl_decrypted, sl_unmapped,
           sl_pings, sl_sub_failed, storm, sl_storm_logins / pub_s,
           sl_hist_pct(&sl_storm_lat, 99), sl_storm_errors);
    fflush(stdout);

    /* a pause so that one phase's tail does not load the next */
    sl_loop(sl_now() + 300000000ULL, sl_never);

    return sl_acked / pub_s;
}


int
main(int argc, char **argv)
{
    int                  c, i, oi, half, ready1;
    char                *phases, *ph;
    double               t_conn, rss_per, rss_marginal, pss_marginal;
    double               max_rate, fixed_rate, rate_frac;
    uint64_t             t0, tick0, tick1, rss0, rss1, rss2;
    uint64_t             pss0, pss1, pss2;
    static struct option opts[] = {
        { "mode", 1, 0, 'm' }, { "host", 1, 0, 'H' }, { "port", 1, 0, 'p' },
        { "subs", 1, 0, 'n' }, { "pubs", 1, 0, 'P' }, { "rate", 1, 0, 'r' },
        { "duration", 1, 0, 'd' }, { "drain", 1, 0, 'D' },
        { "idle", 1, 0, 'i' }, { "size", 1, 0, 's' },
        { "sub-path", 1, 0, 'S' }, { "pub-path", 1, 0, 'U' },
        { "origin", 1, 0, 'o' }, { "key", 1, 0, 'k' },
        { "user-fmt", 1, 0, 'u' }, { "password", 1, 0, 'w' },
        { "pub-user", 1, 0, 'B' }, { "storm", 1, 0, 'x' },
        { "sig-every", 1, 0, 'v' }, { "decrypt-every", 1, 0, 'K' },
        { "parallel", 1, 0, 'c' },
        { "server-pids", 1, 0, 'W' }, { "max-msgs", 1, 0, 'M' },
        { "label", 1, 0, 'l' }, { "phases", 1, 0, 'F' },
        { "rate-frac", 1, 0, 'R' }, { "rooms", 1, 0, 'G' },
        { "pairs", 0, 0, 'Q' }, { "room-fmt", 1, 0, 'f' },
        { "help", 0, 0, 'h' }, { 0, 0, 0, 0 }
    };

    phases = strdup("max");
    rate_frac = 0.5;

    while ((c = getopt_long(argc, argv, "", opts, &oi)) != -1) {
        switch (c) {
        case 'm':
            if (strcmp(optarg, "securechat") == 0) {
                sl_mode = SL_MODE_SECURECHAT;
            } else if (strcmp(optarg, "nchan") == 0) {
                sl_mode = SL_MODE_NCHAN;
            } else {
                sl_usage();
            }
            break;
        case 'H': sl_host = optarg; break;
        case 'p': sl_port = atoi(optarg); break;
        case 'n': sl_nsubs = atoi(optarg); break;
        case 'P': sl_npubs = atoi(optarg); break;
        case 'r': sl_rate = atof(optarg); break;
        case 'd': sl_duration = atof(optarg); break;
        case 'D': sl_drain = atof(optarg); break;
        case 'i': sl_idle = atof(optarg); break;
        case 's': sl_size = atoi(optarg); break;
        case 'S': sl_sub_path = optarg; break;
        case 'U': sl_pub_path = optarg; break;
        case 'o': sl_origin = optarg; break;
        case 'k': sl_key_file = optarg; break;
        case 'u': sl_user_fmt = optarg; break;
        case 'w': sl_password = optarg; break;
        case 'B': sl_pub_user = optarg; break;
        case 'x': sl_storm = atoi(optarg); break;
        case 'v': sl_sig_every = atoi(optarg); break;
        case 'K': sl_decrypt_every = atoi(optarg); break;
        case 'c': sl_parallel = atoi(optarg); break;
        case 'W': sl_server_pids = optarg; break;
        case 'M': sl_max_msgs = strtoull(optarg, NULL, 10); break;
        case 'l': sl_label = optarg; break;
        case 'F': phases = optarg; break;
        case 'R': rate_frac = atof(optarg); break;
        case 'G': sl_nrooms = atoi(optarg); break;
        case 'Q': sl_pairs = 1; break;
        case 'f': sl_room_fmt = optarg; break;
        default: sl_usage();
        }
    }

    if (sl_nsubs < 0 || sl_npubs < 1 || sl_duration <= 0 || sl_duration > 600
        || sl_drain > 60 || sl_idle > 600 || sl_size < 40 || sl_size > 4000
        || sl_sig_every < 1 || sl_decrypt_every < 1 || sl_parallel < 1
        || sl_max_msgs < 64 || sl_nrooms < 1
        || (sl_nrooms > 1 && sl_pairs)
        || (sl_pairs && (sl_nsubs < 2 || sl_nsubs % 2 != 0))
        || (sl_nrooms > 1 && sl_nrooms > sl_nsubs))
    {
        sl_usage();
    }

    if (sl_sub_path == NULL) {
        sl_sub_path = sl_mode == SL_MODE_SECURECHAT ? "/api/connect"
                                                    : "/sub/bench";
    }

    if (strncmp(sl_host, "127.", 4) != 0) {
        sl_die("loopback only: --host must be in 127.0.0.0/8");
    }

    signal(SIGPIPE, SIG_IGN);
    srandom(getpid());
    sl_b64_init();
    RAND_bytes((unsigned char *) &sl_run_id, sizeof(sl_run_id));
    sl_run_id %= 1000000000;

    sl_raise_nofile(sl_nsubs + sl_npubs + sl_storm + 64);

    sl_ep = epoll_create1(EPOLL_CLOEXEC);
    sl_subs = calloc(sl_nsubs + 1, sizeof(sl_conn_t));
    sl_pubs = calloc(sl_npubs, sizeof(sl_conn_t));
    sl_storms = calloc(sl_storm + 1, sizeof(sl_conn_t));
    sl_words = (sl_max_msgs + 63) / 64;

    if (sl_subs == NULL || sl_pubs == NULL || sl_storms == NULL) {
        sl_die("out of memory");
    }

    sl_rooms_init();

    if (sl_mode == SL_MODE_SECURECHAT) {
        if (sl_key_file == NULL) {
            sl_die("--key is needed in securechat mode");
        }

        sl_load_client_key();
        sl_sc_setup();
        sl_sc_rooms_setup();
        sl_sig_chars = sl_b64len((size_t) EVP_PKEY_get_size(sl_server_key));
    }

    fixed_rate = sl_rate;

    /*
     * Connect the subscribers in two halves, memory read before, between
     * and after: the second half's growth is what one more connection
     * costs, without what a worker allocates once (its thread pools'
     * malloc arenas warming up on the first logins, say).
     */

    sl_read_pids_cpu(&tick0, &rss0);
    pss0 = sl_read_pids_pss();
    t0 = sl_now();

    for (half = 0; half < 2; half++) {
        sl_connect_upto = half ? sl_nsubs : sl_nsubs / 2;
        sl_loop(sl_now() + 300ULL * 1000000000ULL, sl_all_connected);

        /* let the server settle (subscriptions registered in every worker) */
        sl_loop(sl_now() + 300000000ULL, sl_never);

        if (half == 0) {
            ready1 = sl_ready;
            sl_read_pids_cpu(&tick1, &rss1);
            pss1 = sl_read_pids_pss();
        }
    }

    t_conn = (sl_now() - t0) / 1e9 - 0.6;

    if (sl_ready < sl_nsubs) {
        fprintf(stderr, "securechat-load: %d of %d subscribers connected\n",
                sl_ready, sl_nsubs);

        if (sl_ready == 0 && sl_nsubs > 0) {
            return 3;
        }
    }

    if (sl_idle > 0) {
        sl_loop(sl_now() + (uint64_t) (sl_idle * 1e9), sl_never);
        sl_read_pids_cpu(&tick1, &rss2);
        pss2 = sl_read_pids_pss();

        rss_per = sl_ready > 0
                  ? ((double) rss2 - (double) rss0) * 1024.0 / sl_ready : 0;
        rss_marginal = sl_ready > ready1
                       ? ((double) rss2 - (double) rss1) * 1024.0
                         / (sl_ready - ready1) : 0;
        pss_marginal = sl_ready > ready1
                       ? ((double) pss2 - (double) pss1) * 1024.0
                         / (sl_ready - ready1) : 0;

        printf("{\"label\":\"%s\",\"kind\":\"idle\",\"mode\":\"%s\","
               "\"subs\":%d,\"workload\":\"%s\",\"rooms\":%d,"
               "\"connected\":%d,\"connect_s\":%.3f,"
               "\"rss_before_kb\":%" PRIu64 ",\"rss_half_kb\":%" PRIu64 ","
               "\"rss_after_kb\":%" PRIu64 ",\"pss_before_kb\":%" PRIu64 ","
               "\"pss_half_kb\":%" PRIu64 ",\"pss_after_kb\":%" PRIu64 ","
               "\"bytes_per_conn\":%.0f,\"bytes_per_conn_marginal\":%.0f,"
               "\"pss_per_conn_marginal\":%.0f,\"pings\":%" PRIu64 ","
               "\"events\":%" PRIu64 ",\"presence\":%" PRIu64 ","
               "\"sub_failed\":%" PRIu64 "}\n",
               sl_label, sl_mode ? "nchan" : "securechat", sl_nsubs,
               sl_workload(), sl_nrooms, sl_ready, t_conn, rss0, rss1, rss2,
               pss0, pss1, pss2, rss_per, rss_marginal, pss_marginal,
               sl_pings, sl_events, sl_presence, sl_sub_failed);
        fflush(stdout);
    }

    /* the publishing phases */
    for (i = 0; i < sl_nsubs; i++) {
        sl_subs[i].seen = calloc(sl_room_words, 8);
        if (sl_subs[i].seen == NULL) {
            sl_die("out of memory for the delivery bitmaps");
        }
    }

    max_rate = 0;

    for (ph = strtok(phases, ","); ph != NULL; ph = strtok(NULL, ",")) {
        if (strcmp(ph, "max") == 0) {
            sl_rate = 0;
            max_rate = sl_phase("max", sl_duration, 0, t_conn);
            continue;
        }

        if (strcmp(ph, "rate") != 0 && strcmp(ph, "storm") != 0) {
            sl_die("unknown phase \"%s\"", ph);
        }

        sl_rate = fixed_rate;
        if (sl_rate == 0) {
            sl_rate = rate_frac * max_rate;
        }

        if (sl_rate < 1) {
            sl_rate = 1;
        }

        if (strcmp(ph, "rate") == 0) {
            sl_phase("rate", sl_duration, 0, t_conn);

        } else {
            sl_phase("storm", sl_duration, sl_storm, t_conn);
        }
    }

    return 0;
}
