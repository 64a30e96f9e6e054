
/*
 * Unit tests for src/ngx_http_securechat_frame.c, organised after the
 * Autobahn|Testsuite case groups a codec can decide on its own (1 framing,
 * 2 ping/pong, 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8,
 * 7 close handling) plus the rules of RFC 6455 the issue lists.
 *
 * Every case is run whole, split in two at every byte (or at a dense sample
 * of points for the 64 KiB frames), a byte at a time and in pseudo-random
 * chunks; the events and the input offset of each must be the same every
 * time.  Each chunk is a separate heap copy of exactly its size, so an
 * overread shows under valgrind.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_securechat_frame.h"


#define T_FIN       0x80
#define T_RSV1      0x40
#define T_RSV2      0x20
#define T_RSV3      0x10
#define T_CONT      0x0
#define T_TEXT      0x1
#define T_BIN       0x2
#define T_CLOSE     0x8
#define T_PING      0x9
#define T_PONG      0xa

#define T_LIMIT     NGX_HTTP_SECURECHAT_FRAME_MAX_MESSAGE
#define T_IN_MAX    (4 * 65536 + 4096)
#define T_LOG_MAX   8192

#define T_ALL_SPLITS_MAX  3000

/* chunking modes */
#define T_WHOLE     0
#define T_SPLIT     1
#define T_BYTES     2
#define T_RANDOM    3


static void t_reset(void);
static void t_raw(const void *bytes, size_t len);
static void t_frame(unsigned int b0, const void *payload, size_t len);
static void t_frame_masked(unsigned int b0, unsigned int ext, uint64_t len,
    const void *payload, size_t plen);
static void t_desc(char *out, size_t size, const unsigned char *data,
    size_t len);
static size_t t_chunk(int mode, size_t arg, uint32_t *rnd, size_t off,
    size_t len);
static void t_run(size_t limit, int mode, size_t arg, char *log,
    char *olog);
static void t_expect_limit(size_t limit, const char *want,
    const char *want_off);
static void t_expect(const char *want);
static void t_expect_off(const char *want_off);
static const char *t_ev(const char *type, const unsigned char *data,
    size_t len);
static const char *t_close_ev(unsigned int code, const char *desc);

static void test_framing_text_sizes(void **state);
static void test_framing_binary(void **state);
static void test_framing_binary_allowed(void **state);
static void test_framing_limit(void **state);
static void test_framing_length_encoding(void **state);
static void test_framing_unmasked(void **state);
static void test_ping_pong(void **state);
static void test_reserved_bits(void **state);
static void test_opcodes(void **state);
static void test_fragmentation(void **state);
static void test_fragmentation_limit(void **state);
static void test_utf8_single_frame(void **state);
static void test_utf8_fragments_every_split(void **state);
static void test_utf8_fail_fast(void **state);
static void test_close_handling(void **state);
static void test_close_codes(void **state);
static void test_after_close(void **state);
static void test_busy(void **state);
static void test_frame_count(void **state);
static void test_encode_header(void **state);
static void test_encode_close_body(void **state);


static unsigned char  t_in[T_IN_MAX];
static size_t         t_len;
static unsigned int   t_frames;
static size_t         t_cases;
static size_t         t_runs;
static char           t_evbuf[T_LOG_MAX];


static void
t_reset(void)
{
    t_len = 0;
    t_frames = 0;
}


static void
t_raw(const void *bytes, size_t len)
{
    assert_true(t_len + len <= T_IN_MAX);
    memcpy(t_in + t_len, bytes, len);
    t_len += len;
}


/* a masked client frame, minimal length encoding */

static void
t_frame(unsigned int b0, const void *payload, size_t len)
{
    unsigned int  ext;

    ext = (len < 126) ? 0 : (len <= 0xffff ? 2 : 8);

    t_frame_masked(b0, ext, len, payload, len);
}


/*
 * A masked frame with a chosen length encoding (ext 0, 2 or 8 bytes) and
 * length field, which need not match the payload given.  The mask key
 * changes from frame to frame.
 */

static void
t_frame_masked(unsigned int b0, unsigned int ext, uint64_t len,
    const void *payload, size_t plen)
{
    size_t               i;
    unsigned char        h[14], mask[4];
    const unsigned char  *pl;

    h[0] = (unsigned char) b0;
    i = 2;

    if (ext == 0) {
        h[1] = (unsigned char) (0x80 | len);

    } else if (ext == 2) {
        h[1] = 0x80 | 126;
        h[i++] = (unsigned char) (len >> 8);
        h[i++] = (unsigned char) len;

    } else {
        h[1] = 0x80 | 127;

        for ( /* void */ ; i < 10; i++) {
            h[i] = (unsigned char) (len >> (8 * (9 - i)));
        }
    }

    t_frames++;
    mask[0] = (unsigned char) (0x37 + t_frames * 13);
    mask[1] = 0xfa;
    mask[2] = (unsigned char) (0x21 ^ t_frames);
    mask[3] = 0x3d;

    memcpy(h + i, mask, 4);
    t_raw(h, i + 4);

    assert_true(t_len + plen <= T_IN_MAX);
    pl = payload;

    for (i = 0; i < plen; i++) {
        t_in[t_len++] = pl[i] ^ mask[i & 3];
    }
}


/* payloads are shown as text when short and printable, else as a hash */

static void
t_desc(char *out, size_t size, const unsigned char *data, size_t len)
{
    size_t    i;
    uint32_t  h;

    if (len <= 32) {
        for (i = 0; i < len; i++) {
            if (data[i] < 0x20 || data[i] >= 0x7f) {
                break;
            }
        }

        if (i == len) {
            snprintf(out, size, "%.*s", (int) len, data);
            return;
        }
    }

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h = (h ^ data[i]) * 16777619u;
    }

    snprintf(out, size, "#%08x", (unsigned int) h);
}


static const char *
t_ev(const char *type, const unsigned char *data, size_t len)
{
    char  d[64];

    t_desc(d, sizeof(d), data, len);
    snprintf(t_evbuf, sizeof(t_evbuf), "%s %zu %s;", type, len, d);

    return t_evbuf;
}


static const char *
t_close_ev(unsigned int code, const char *desc)
{
    snprintf(t_evbuf, sizeof(t_evbuf), "CLOSE %u %s;", code, desc);

    return t_evbuf;
}


static size_t
t_chunk(int mode, size_t arg, uint32_t *rnd, size_t off, size_t len)
{
    switch (mode) {

    case T_SPLIT:
        return (off < arg) ? arg - off : len - off;

    case T_BYTES:
        return 1;

    case T_RANDOM:
        *rnd = *rnd * 1103515245u + 12345u;
        return 1 + (*rnd >> 16) % (arg + 1);

    default:
        return len - off;
    }
}


/* feeds t_in in chunks; log gets the events, olog the same with offsets */

static void
t_run(size_t limit, int mode, size_t arg, char *log, char *olog)
{
    int                                 rc, done;
    char                                d[64], e[128];
    size_t                              off, n, pos, used, ll, ol;
    uint32_t                            rnd;
    unsigned char                       *msg, *chunk;
    ngx_http_securechat_frame_event_t   ev;
    ngx_http_securechat_frame_parser_t  p;

    /* exactly the limit, so that writing past it shows under valgrind */

    msg = malloc(limit ? limit : 1);
    assert_non_null(msg);

    ngx_http_securechat_frame_parser_init(&p, msg, limit);

    rnd = (uint32_t) arg * 2654435761u + 1;
    ll = 0;
    ol = 0;
    log[0] = '\0';
    olog[0] = '\0';
    done = 0;
    t_runs++;

    for (off = 0; off < t_len && !done; off += n) {
        n = t_chunk(mode, arg, &rnd, off, t_len);

        if (n > t_len - off) {
            n = t_len - off;
        }

        chunk = malloc(n);
        assert_non_null(chunk);
        memcpy(chunk, t_in + off, n);

        for (pos = 0; pos < n; pos += used) {
            used = (size_t) -1;
            rc = ngx_http_securechat_frame_parse(&p, chunk + pos, n - pos,
                                                 &used, &ev);

            assert_true(used <= n - pos);
            assert_int_equal(rc, ev.type);

            if (rc == NGX_HTTP_SECURECHAT_FRAME_AGAIN) {
                assert_int_equal(used, n - pos);
                continue;
            }

            assert_true(used > 0);

            switch (rc) {

            case NGX_HTTP_SECURECHAT_FRAME_TEXT:
                t_desc(d, sizeof(d), ev.data, ev.len);
                snprintf(e, sizeof(e), "TEXT %zu %s", ev.len, d);
                break;

            case NGX_HTTP_SECURECHAT_FRAME_PING:
                t_desc(d, sizeof(d), ev.data, ev.len);
                snprintf(e, sizeof(e), "PING %zu %s", ev.len, d);
                break;

            case NGX_HTTP_SECURECHAT_FRAME_PONG:
                t_desc(d, sizeof(d), ev.data, ev.len);
                snprintf(e, sizeof(e), "PONG %zu %s", ev.len, d);
                break;

            case NGX_HTTP_SECURECHAT_FRAME_CLOSE:
                t_desc(d, sizeof(d), ev.data, ev.len);
                snprintf(e, sizeof(e), "CLOSE %u %s", ev.code, d);
                done = 1;
                break;

            case NGX_HTTP_SECURECHAT_FRAME_ERROR:
                snprintf(e, sizeof(e), "ERROR %u", ev.code);
                done = 1;
                break;

            default:
                fail_msg("unexpected event %d", rc);
            }

            ll += snprintf(log + ll, T_LOG_MAX - ll, "%s;", e);
            ol += snprintf(olog + ol, T_LOG_MAX - ol, "%s@%zu;", e,
                           off + pos + used);
            assert_true(ll < T_LOG_MAX && ol < T_LOG_MAX);

            if (done) {
                /* nothing is read after a close or an error */

                rc = ngx_http_securechat_frame_parse(&p, chunk, n, &used,
                                                     &ev);
                assert_int_equal(rc, NGX_HTTP_SECURECHAT_FRAME_DONE);
                assert_int_equal(used, 0);
                assert_int_equal(ngx_http_securechat_frame_parser_busy(&p),
                                 0);
                break;
            }
        }

        free(chunk);
    }

    if (!done && ngx_http_securechat_frame_parser_busy(&p)) {
        ll += snprintf(log + ll, T_LOG_MAX - ll, "partial;");
        ol += snprintf(olog + ol, T_LOG_MAX - ol, "partial;");
    }

    free(msg);
}


/*
 * The events of t_in must be `want` (and `want_off` with offsets, if not
 * NULL) however the input is cut.
 */

static void
t_expect_limit(size_t limit, const char *want, const char *want_off)
{
    size_t       k, step;
    static char  log[T_LOG_MAX], olog[T_LOG_MAX], log2[T_LOG_MAX],
                 olog2[T_LOG_MAX];

    t_cases++;

    t_run(limit, T_WHOLE, 0, log, olog);

    if (strcmp(log, want) != 0) {
        fail_msg("case %zu:\n got: %s\nwant: %s", t_cases, log, want);
    }

    if (want_off != NULL && strcmp(olog, want_off) != 0) {
        fail_msg("case %zu:\n got: %s\nwant: %s", t_cases, olog, want_off);
    }

    step = (t_len <= T_ALL_SPLITS_MAX) ? 1 : 251;

    for (k = 0; k <= t_len; k++) {

        /* big inputs: every cut near the ends, a sample in between */

        if (step > 1 && k > 64 && k + 64 < t_len && k % step != 0) {
            continue;
        }

        t_run(limit, T_SPLIT, k, log2, olog2);

        if (strcmp(olog, olog2) != 0) {
            fail_msg("case %zu split at %zu:\n got: %s\nwant: %s", t_cases,
                     k, olog2, olog);
        }
    }

    t_run(limit, T_BYTES, 0, log2, olog2);

    if (strcmp(olog, olog2) != 0) {
        fail_msg("case %zu bytewise:\n got: %s\nwant: %s", t_cases, olog2,
                 olog);
    }

    for (k = 1; k < 2000; k = k * 3 + 2) {
        t_run(limit, T_RANDOM, k, log2, olog2);

        if (strcmp(olog, olog2) != 0) {
            fail_msg("case %zu random %zu:\n got: %s\nwant: %s", t_cases, k,
                     olog2, olog);
        }
    }
}


static void
t_expect(const char *want)
{
    t_expect_limit(T_LIMIT, want, NULL);
}


static void
t_expect_off(const char *want_off)
{
    size_t  i, j;
    char    want[T_LOG_MAX];

    /* the same log without the "@offset" parts */

    for (i = 0, j = 0; want_off[i] != '\0'; i++) {
        if (want_off[i] == '@') {
            while (want_off[i + 1] >= '0' && want_off[i + 1] <= '9') {
                i++;
            }

            continue;
        }

        want[j++] = want_off[i];
    }

    want[j] = '\0';

    t_expect_limit(T_LIMIT, want, want_off);
}


/* Autobahn 1.1.*: text messages of the boundary sizes */

static void
test_framing_text_sizes(void **state)
{
    char            want[256];
    size_t          i;
    unsigned char  *s;
    static size_t   sizes[] = { 0, 1, 125, 126, 127, 128, 65535, 65536 };

    s = malloc(65536);
    assert_non_null(s);
    memset(s, '*', 65536);

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        t_reset();
        t_frame(T_FIN | T_TEXT, s, sizes[i]);
        t_expect(t_ev("TEXT", s, sizes[i]));
    }

    /* two messages back to back in one read */

    t_reset();
    t_frame(T_FIN | T_TEXT, "Hello", 5);
    t_frame(T_FIN | T_TEXT, s, 200);
    snprintf(want, sizeof(want), "TEXT 5 Hello;%s", t_ev("TEXT", s, 200));
    t_expect(want);

    /* a header cut short stays pending */

    t_reset();
    t_frame(T_FIN | T_TEXT, s, 300);
    t_len -= 1;
    t_expect("partial;");

    free(s);
}


/* Autobahn 1.2.*: the chat protocol is text only, 1003 from the header */

static void
test_framing_binary(void **state)
{
    unsigned char  b[256];
    size_t         i;
    static size_t  sizes[] = { 0, 125, 126, 127, 128, 200 };

    for (i = 0; i < sizeof(b); i++) {
        b[i] = (unsigned char) i;
    }

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        t_reset();
        t_frame(T_FIN | T_BIN, b, sizes[i]);
        t_expect_off("ERROR 1003@1;");
    }

    /* a fragmented binary message is refused at its first frame */

    t_reset();
    t_frame(T_BIN, b, 10);
    t_frame(T_FIN | T_CONT, b, 10);
    t_expect_off("ERROR 1003@1;");
}


/*
 * The echo role allows binary messages: reassembled across fragments and
 * reads like text, never checked as UTF-8, and a text message after one
 * is still checked.
 */

static void
test_framing_binary_allowed(void **state)
{
    int                                 rc;
    size_t                              i, n, used, got;
    unsigned char                       b[300], msg[1024];
    ngx_http_securechat_frame_parser_t  p;
    ngx_http_securechat_frame_event_t   ev;

    for (i = 0; i < sizeof(b); i++) {
        b[i] = (unsigned char) (0xff - i);    /* not UTF-8 */
    }

    t_reset();
    t_frame(T_BIN, b, 100);
    t_frame(T_FIN | T_CONT, b + 100, 200);
    t_frame(T_FIN | T_TEXT, "\xc3\x28", 2);

    ngx_http_securechat_frame_parser_init(&p, msg, sizeof(msg));
    ngx_http_securechat_frame_parser_allow_binary(&p);

    got = 0;

    /* one byte per read */

    for (i = 0; i < t_len; i += used) {
        n = 1;
        rc = ngx_http_securechat_frame_parse(&p, t_in + i, n, &used, &ev);

        if (rc == NGX_HTTP_SECURECHAT_FRAME_BINARY) {
            assert_int_equal(ev.len, 300);
            assert_memory_equal(ev.data, b, 300);
            got++;
            continue;
        }

        if (rc == NGX_HTTP_SECURECHAT_FRAME_ERROR) {
            /* the text frame's invalid UTF-8 */
            assert_int_equal(ev.code, 1007);
            assert_int_equal(got, 1);
            return;
        }

        assert_int_equal(rc, NGX_HTTP_SECURECHAT_FRAME_AGAIN);
    }

    fail_msg("no 1007 for the text after the binary message");
}


/* over the limit: 1009 as soon as the length is known, before the mask */

static void
test_framing_limit(void **state)
{
    unsigned char  *s;

    s = calloc(1, 65537);
    assert_non_null(s);

    t_reset();
    t_frame(T_FIN | T_TEXT, s, 65537);
    t_expect_off("ERROR 1009@10;");

    /* a huge announced length with no payload behind it */

    t_reset();
    t_frame_masked(T_FIN | T_TEXT, 8, (uint64_t) 1 << 62, NULL, 0);
    t_expect_off("ERROR 1009@10;");

    t_reset();
    t_frame_masked(T_FIN | T_TEXT, 8, 0x7fffffffffffffffULL, NULL, 0);
    t_expect_off("ERROR 1009@10;");

    /* a small configured limit: 10 fits, 11 does not */

    t_reset();
    t_frame(T_FIN | T_TEXT, "0123456789", 10);
    t_expect_limit(10, "TEXT 10 0123456789;", NULL);

    t_reset();
    t_frame(T_FIN | T_TEXT, "0123456789a", 11);
    t_expect_limit(10, "ERROR 1009;", "ERROR 1009@2;");

    /* limit 0: only empty messages */

    t_reset();
    t_frame(T_FIN | T_TEXT, "", 0);
    t_frame(T_FIN | T_TEXT, "x", 1);
    t_expect_limit(0, "TEXT 0 ;ERROR 1009;", "TEXT 0 @6;ERROR 1009@8;");

    /* control frames do not count against the message limit */

    t_reset();
    t_frame(T_FIN | T_PING, "0123456789abcdef", 16);
    t_expect_limit(10, "PING 16 0123456789abcdef;", NULL);

    free(s);
}


/* lengths must be minimally encoded, and the 64-bit top bit clear */

static void
test_framing_length_encoding(void **state)
{
    unsigned char  s[200];

    memset(s, 'x', sizeof(s));

    t_reset();
    t_frame_masked(T_FIN | T_TEXT, 2, 125, s, 125);
    t_expect_off("ERROR 1002@4;");

    t_reset();
    t_frame_masked(T_FIN | T_TEXT, 2, 0, s, 0);
    t_expect_off("ERROR 1002@4;");

    t_reset();
    t_frame_masked(T_FIN | T_TEXT, 2, 126, s, 126);
    t_expect(t_ev("TEXT", s, 126));

    t_reset();
    t_frame_masked(T_FIN | T_TEXT, 8, 5, "Hello", 5);
    t_expect_off("ERROR 1002@10;");

    t_reset();
    t_frame_masked(T_FIN | T_TEXT, 8, 0xffff, s, 0);
    t_expect_off("ERROR 1002@10;");

    t_reset();
    t_frame_masked(T_FIN | T_TEXT, 8, 0x10000, s, 0);
    t_expect_off("partial;");

    /* the top bit is refused at the first length byte */

    t_reset();
    t_frame_masked(T_FIN | T_TEXT, 8, 0x8000000000000005ULL, "Hello", 5);
    t_expect_off("ERROR 1002@3;");

    t_reset();
    t_frame_masked(T_FIN | T_TEXT, 8, 0xffffffffffffffffULL, NULL, 0);
    t_expect_off("ERROR 1002@3;");

    /* control frames: 126 or 127 is refused at once */

    t_reset();
    t_frame_masked(T_FIN | T_PING, 2, 126, s, 126);
    t_expect_off("ERROR 1002@2;");

    t_reset();
    t_frame_masked(T_FIN | T_CLOSE, 8, 0x10000, NULL, 0);
    t_expect_off("ERROR 1002@2;");
}


static void
test_framing_unmasked(void **state)
{
    static const unsigned char  text[] = { 0x81, 0x05, 'H', 'e', 'l', 'l',
                                           'o' };
    static const unsigned char  ping[] = { 0x89, 0x00 };
    static const unsigned char  close[] = { 0x88, 0x02, 0x03, 0xe8 };

    t_reset();
    t_raw(text, sizeof(text));
    t_expect_off("ERROR 1002@2;");

    t_reset();
    t_raw(ping, sizeof(ping));
    t_expect_off("ERROR 1002@2;");

    t_reset();
    t_raw(close, sizeof(close));
    t_expect_off("ERROR 1002@2;");

    /* a masked frame, then an unmasked one */

    t_reset();
    t_frame(T_FIN | T_TEXT, "ok", 2);
    t_raw(text, sizeof(text));
    t_expect_off("TEXT 2 ok@8;ERROR 1002@10;");
}


/* Autobahn 2.*: ping and pong */

static void
test_ping_pong(void **state)
{
    int            i;
    char           want[T_LOG_MAX];
    size_t         wl;
    unsigned char  b[126];

    for (i = 0; i < 126; i++) {
        b[i] = (unsigned char) (0xfe - i);
    }

    /* 2.1 empty ping */
    t_reset();
    t_frame(T_FIN | T_PING, NULL, 0);
    t_expect_off("PING 0 @6;");

    /* 2.2 text payload */
    t_reset();
    t_frame(T_FIN | T_PING, "Hello, world!", 13);
    t_expect_off("PING 13 Hello, world!@19;");

    /* 2.3 binary payload, 2.4 125 bytes */
    t_reset();
    t_frame(T_FIN | T_PING, b, 8);
    t_expect(t_ev("PING", b, 8));

    t_reset();
    t_frame(T_FIN | T_PING, b, 125);
    t_expect(t_ev("PING", b, 125));

    /* 2.5 126 bytes */
    t_reset();
    t_frame(T_FIN | T_PING, b, 126);
    t_expect_off("ERROR 1002@2;");

    /* 2.7 unsolicited pong, 2.8 with payload, 2.9 then a ping */
    t_reset();
    t_frame(T_FIN | T_PONG, NULL, 0);
    t_expect("PONG 0 ;");

    t_reset();
    t_frame(T_FIN | T_PONG, "unsolicited pong payload", 24);
    t_expect("PONG 24 unsolicited pong payload;");

    t_reset();
    t_frame(T_FIN | T_PONG, "unsolicited pong payload", 24);
    t_frame(T_FIN | T_PING, "ping payload", 12);
    t_expect("PONG 24 unsolicited pong payload;PING 12 ping payload;");

    t_reset();
    t_frame(T_FIN | T_PONG, b, 125);
    t_expect(t_ev("PONG", b, 125));

    /* 2.10, 2.11: ten pings, each answered in order */
    t_reset();
    wl = 0;

    for (i = 0; i < 10; i++) {
        snprintf((char *) b, sizeof(b), "payload-%d", i);
        t_frame(T_FIN | T_PING, b, strlen((char *) b));
        wl += snprintf(want + wl, sizeof(want) - wl, "PING 9 payload-%d;", i);
    }

    t_expect(want);
}


/* Autobahn 3.*: any RSV bit is a protocol error, found at the first byte */

static void
test_reserved_bits(void **state)
{
    unsigned int  rsv;

    for (rsv = 1; rsv <= 7; rsv++) {

        /* 3.1-3.7 on text, binary, ping, close */

        t_reset();
        t_frame(T_FIN | T_TEXT | rsv << 4, "Hello", 5);
        t_expect_off("ERROR 1002@1;");

        t_reset();
        t_frame(T_FIN | T_BIN | rsv << 4, "\x00\xff", 2);
        t_expect_off("ERROR 1002@1;");

        t_reset();
        t_frame(T_FIN | T_PING | rsv << 4, "Hello", 5);
        t_expect_off("ERROR 1002@1;");

        t_reset();
        t_frame(T_FIN | T_CLOSE | rsv << 4, "\x03\xe8", 2);
        t_expect_off("ERROR 1002@1;");

        /* after a valid message, and before a ping that is never read */

        t_reset();
        t_frame(T_FIN | T_TEXT, "Hello", 5);
        t_frame(T_FIN | T_TEXT | rsv << 4, "Hello", 5);
        t_frame(T_FIN | T_PING, "", 0);
        t_expect_off("TEXT 5 Hello@11;ERROR 1002@12;");

        /* on a continuation frame */

        t_reset();
        t_frame(T_TEXT, "Hel", 3);
        t_frame(T_FIN | T_CONT | rsv << 4, "lo", 2);
        t_expect_off("ERROR 1002@10;");
    }
}


/* Autobahn 4.*: reserved opcodes */

static void
test_opcodes(void **state)
{
    unsigned int         i, op;
    static unsigned int  reserved[] = { 3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe,
                                        0xf };

    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        op = reserved[i];

        t_reset();
        t_frame(T_FIN | op, NULL, 0);
        t_expect_off("ERROR 1002@1;");

        t_reset();
        t_frame(T_FIN | op, "reserved opcode payload", 23);
        t_expect_off("ERROR 1002@1;");

        t_reset();
        t_frame(T_FIN | T_TEXT, "Hello", 5);
        t_frame(T_FIN | op, "x", 1);
        t_frame(T_FIN | T_PING, "", 0);
        t_expect_off("TEXT 5 Hello@11;ERROR 1002@12;");

        /* without FIN too */

        t_reset();
        t_frame(op, "x", 1);
        t_expect_off("ERROR 1002@1;");
    }
}


/* Autobahn 5.*: fragmentation */

static void
test_fragmentation(void **state)
{
    int            i;
    char           want[T_LOG_MAX], frag[16];
    size_t         wl;

    /* 5.1, 5.2: fragmented ping / pong */
    t_reset();
    t_frame(T_PING, "frag", 4);
    t_frame(T_FIN | T_CONT, "ment", 4);
    t_expect_off("ERROR 1002@1;");

    t_reset();
    t_frame(T_PONG, "frag", 4);
    t_frame(T_FIN | T_CONT, "ment", 4);
    t_expect_off("ERROR 1002@1;");

    t_reset();
    t_frame(T_CLOSE, "\x03\xe8", 2);
    t_expect_off("ERROR 1002@1;");

    /* 5.3-5.5: two fragments */
    t_reset();
    t_frame(T_TEXT, "fragment1", 9);
    t_frame(T_FIN | T_CONT, "fragment2", 9);
    t_expect_off("TEXT 18 fragment1fragment2@30;");

    /* 5.6-5.8: a ping between the fragments is delivered first */
    t_reset();
    t_frame(T_TEXT, "fragment1", 9);
    t_frame(T_FIN | T_PING, "ping payload", 12);
    t_frame(T_FIN | T_CONT, "fragment2", 9);
    t_expect_off("PING 12 ping payload@33;TEXT 18 fragment1fragment2@48;");

    t_reset();
    t_frame(T_TEXT, "fragment1", 9);
    t_frame(T_FIN | T_PONG, "pong", 4);
    t_frame(T_FIN | T_CONT, "fragment2", 9);
    t_expect("PONG 4 pong;TEXT 18 fragment1fragment2;");

    /* 5.9-5.11: continuation with nothing to continue */
    t_reset();
    t_frame(T_FIN | T_CONT, "non-continuation payload", 24);
    t_frame(T_FIN | T_TEXT, "Hello, world!", 13);
    t_expect_off("ERROR 1002@1;");

    /* 5.12-5.14: the same without FIN */
    t_reset();
    t_frame(T_CONT, "non-continuation payload", 24);
    t_frame(T_FIN | T_TEXT, "Hello, world!", 13);
    t_expect_off("ERROR 1002@1;");

    /* 5.15: a message, then a stray continuation */
    t_reset();
    t_frame(T_TEXT, "fragment1", 9);
    t_frame(T_FIN | T_CONT, "fragment2", 9);
    t_frame(T_CONT, "fragment3", 9);
    t_frame(T_FIN | T_CONT, "fragment4", 9);
    t_expect_off("TEXT 18 fragment1fragment2@30;ERROR 1002@31;");

    /* 5.16, 5.17: a continuation message twice, FIN or not */
    t_reset();
    t_frame(T_CONT, "fragment1", 9);
    t_frame(T_FIN | T_TEXT, "fragment2", 9);
    t_expect_off("ERROR 1002@1;");

    /* 5.18: a new text frame inside a fragmented message */
    t_reset();
    t_frame(T_TEXT, "fragment1", 9);
    t_frame(T_FIN | T_TEXT, "fragment2", 9);
    t_expect_off("ERROR 1002@16;");

    /* a binary frame inside a fragmented text message */
    t_reset();
    t_frame(T_TEXT, "fragment1", 9);
    t_frame(T_FIN | T_BIN, "fragment2", 9);
    t_expect_off("ERROR 1002@16;");

    /* 5.19, 5.20: five fragments with pings between */
    t_reset();
    wl = 0;

    for (i = 1; i <= 5; i++) {
        snprintf(frag, sizeof(frag), "fragment%d", i);
        t_frame((i == 5 ? T_FIN : 0) | (i == 1 ? T_TEXT : T_CONT), frag, 9);

        if (i == 2 || i == 4) {
            t_frame(T_FIN | T_PING, frag, 9);
            wl += snprintf(want + wl, sizeof(want) - wl, "PING 9 %s;", frag);
        }
    }

    snprintf(want + wl, sizeof(want) - wl, "%s",
             t_ev("TEXT", (const unsigned char *) "fragment1fragment2"
                  "fragment3fragment4fragment5", 45));
    t_expect(want);

    /* empty fragments, and an empty message in fragments */
    t_reset();
    t_frame(T_TEXT, "", 0);
    t_frame(T_CONT, "", 0);
    t_frame(T_FIN | T_CONT, "", 0);
    t_frame(T_TEXT, "a", 1);
    t_frame(T_CONT, "", 0);
    t_frame(T_FIN | T_CONT, "b", 1);
    t_expect("TEXT 0 ;TEXT 2 ab;");

    /* a valid close between fragments ends everything */
    t_reset();
    t_frame(T_TEXT, "fragment1", 9);
    t_frame(T_FIN | T_CLOSE, "\x03\xe8", 2);
    t_frame(T_FIN | T_CONT, "fragment2", 9);
    t_expect_off("CLOSE 1000 @23;");

    /* a message in progress at the end of the input is pending */
    t_reset();
    t_frame(T_TEXT, "fragment1", 9);
    t_expect("partial;");
}


/* the sum of the fragments is what the limit applies to */

static void
test_fragmentation_limit(void **state)
{
    int             i;
    unsigned char  *s;

    s = malloc(65536);
    assert_non_null(s);
    memset(s, 'f', 65536);

    t_reset();
    t_frame(T_TEXT, s, 40000);
    t_frame(T_FIN | T_CONT, s, 25536);
    t_expect(t_ev("TEXT", s, 65536));

    /* 40000 + 25537: refused at the second header, before its payload */
    t_reset();
    t_frame(T_TEXT, s, 40000);
    t_frame(T_FIN | T_CONT, s, 25537);
    t_expect_off("ERROR 1009@40012;");

    /* ten fragments of 100 fill a limit of 1000; one byte more does not */
    t_reset();

    for (i = 0; i < 10; i++) {
        t_frame((i == 0 ? T_TEXT : T_CONT), s, 100);
    }

    t_frame(T_FIN | T_CONT, s, 0);
    t_expect_limit(1000, t_ev("TEXT", s, 1000), NULL);

    t_reset();

    for (i = 0; i < 10; i++) {
        t_frame((i == 0 ? T_TEXT : T_CONT), s, 100);
    }

    t_frame(T_FIN | T_CONT, s, 1);
    t_expect_limit(1000, "ERROR 1009;", "ERROR 1009@1062;");

    free(s);
}


/* Autobahn 6.*: UTF-8 in one frame */

static void
test_utf8_single_frame(void **state)
{
    size_t  i;

    static const struct {
        const char  *s;
        size_t       len;
        int          valid;
    } cases[] = {
        { "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11, 1 },
        { "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
          "edited", 20, 0 },
        { "\x00", 1, 1 },
        { "\xc2\x80", 2, 1 },
        { "\xe0\xa0\x80", 3, 1 },
        { "\xf0\x90\x80\x80", 4, 1 },
        { "\xf8\x88\x80\x80\x80", 5, 0 },
        { "\xfc\x84\x80\x80\x80\x80", 6, 0 },
        { "\x7f", 1, 1 },
        { "\xdf\xbf", 2, 1 },
        { "\xef\xbf\xbf", 3, 1 },
        { "\xf4\x8f\xbf\xbf", 4, 1 },
        { "\xf4\x90\x80\x80", 4, 0 },
        { "\xf7\xbf\xbf\xbf", 4, 0 },
        { "\xed\x9f\xbf", 3, 1 },
        { "\xee\x80\x80", 3, 1 },
        { "\xef\xbf\xbd", 3, 1 },
        { "\x80", 1, 0 },
        { "\xbf", 1, 0 },
        { "\x80\xbf\x80\xbf", 4, 0 },
        { "\xc0\x20", 2, 0 },
        { "\xe0\x80", 2, 0 },
        { "\xc2", 1, 0 },
        { "\xf0\x90\x80", 3, 0 },
        { "\xfe", 1, 0 },
        { "\xff", 1, 0 },
        { "\xc0\xaf", 2, 0 },
        { "\xe0\x80\xaf", 3, 0 },
        { "\xf0\x80\x80\xaf", 4, 0 },
        { "\xc1\xbf", 2, 0 },
        { "\xc0\x80", 2, 0 },
        { "\xed\xa0\x80", 3, 0 },
        { "\xed\xbf\xbf", 3, 0 },
        { "\xed\xa0\x80\xed\xb0\x80", 6, 0 },
        { "\xef\xbf\xbe", 3, 1 },
        { "\xf4\x8f\xbf\xbe", 4, 1 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t_reset();
        t_frame(T_FIN | T_TEXT, cases[i].s, cases[i].len);
        t_expect(cases[i].valid
                 ? t_ev("TEXT", (const unsigned char *) cases[i].s,
                        cases[i].len)
                 : "ERROR 1007;");
    }
}


/*
 * Autobahn 6.2, 6.4: a text cut into two or three fragments at every pair
 * of positions, which also cuts characters between frames.
 */

static void
test_utf8_fragments_every_split(void **state)
{
    size_t       a, b, len;
    const char  *good, *bad;

    good = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1"
           "-UTF-8!! \xf0\x9f\x98\x80 \xe2\x82\xac";
    len = strlen(good);

    for (a = 0; a <= len; a++) {
        for (b = a; b <= len; b++) {
            t_reset();
            t_frame(T_TEXT, good, a);
            t_frame(T_CONT, good + a, b - a);
            t_frame(T_FIN | T_CONT, good + b, len - b);
            t_expect(t_ev("TEXT", (const unsigned char *) good, len));
        }
    }

    /* the bad byte, 0xa0 after 0xed, is the 14th of the text */

    bad = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
          "edited";
    len = 20;

    for (a = 0; a <= len; a++) {
        t_reset();
        t_frame(T_TEXT, bad, a);
        t_frame(T_FIN | T_CONT, bad + a, len - a);
        t_expect("ERROR 1007;");
    }

    /* a message ending inside a character, in a later fragment */
    t_reset();
    t_frame(T_TEXT, "\xce\xba", 2);
    t_frame(T_FIN | T_CONT, "\xe1\xbd", 2);
    t_expect_off("ERROR 1007@16;");
}


/* 1007 at the impossible byte, even if the frame or message goes on */

static void
test_utf8_fail_fast(void **state)
{
    unsigned char  s[300];

    /* 6.4.1: the bad byte in the first of three fragments */
    t_reset();
    t_frame(T_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11);
    t_frame(T_CONT, "\xf4\x90\x80\x80", 4);
    t_frame(T_FIN | T_CONT, "edited", 6);
    t_expect_off("ERROR 1007@25;");

    /* 6.4.2: 0xf4 ends fragment one, 0x90 starts fragment two */
    t_reset();
    t_frame(T_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4", 12);
    t_frame(T_CONT, "\x90\x80\x80", 3);
    t_frame(T_FIN | T_CONT, "edited", 6);
    t_expect_off("ERROR 1007@25;");

    /* inside one long frame: the rest of it is never read */
    memset(s, 'a', sizeof(s));
    s[10] = 0xf5;
    t_reset();
    t_frame(T_FIN | T_TEXT, s, sizeof(s));
    t_expect_off("ERROR 1007@19;");

    /* a surrogate lead-in: refused at 0xa0, not at the end */
    memset(s, 'a', sizeof(s));
    s[100] = 0xed;
    s[101] = 0xa0;
    s[102] = 0x80;
    t_reset();
    t_frame(T_TEXT, s, 200);
    t_expect_off("ERROR 1007@110;");
}


/* Autobahn 7.1, 7.3, 7.5: close frames */

static void
test_close_handling(void **state)
{
    unsigned char  b[130];
    char           want[256];

    /* 7.3.1: empty body: code 0, answer with an empty body */
    t_reset();
    t_frame(T_FIN | T_CLOSE, NULL, 0);
    t_expect_off("CLOSE 0 @6;");

    /* 7.3.2: one byte */
    t_reset();
    t_frame(T_FIN | T_CLOSE, "\x03", 1);
    t_expect_off("ERROR 1002@7;");

    /* 7.3.3, 7.3.4: code, code and reason */
    t_reset();
    t_frame(T_FIN | T_CLOSE, "\x03\xe8", 2);
    t_expect("CLOSE 1000 ;");

    t_reset();
    t_frame(T_FIN | T_CLOSE, "\x03\xe8Hello World!", 14);
    t_expect("CLOSE 1000 Hello World!;");

    t_reset();
    t_frame(T_FIN | T_CLOSE, "\x0f\xa0\xce\xba\xe1\xbd\xb9", 7);
    t_desc(want, sizeof(want),
           (const unsigned char *) "\xce\xba\xe1\xbd\xb9", 5);
    t_expect(t_close_ev(4000, want));

    /* 7.3.5: 125 bytes; 7.3.6: 126 */
    memset(b, '*', sizeof(b));
    b[0] = 0x03;
    b[1] = 0xe8;
    t_reset();
    t_frame(T_FIN | T_CLOSE, b, 125);
    t_desc(want, sizeof(want), b + 2, 123);
    t_expect(t_close_ev(1000, want));

    t_reset();
    t_frame(T_FIN | T_CLOSE, b, 126);
    t_expect_off("ERROR 1002@2;");

    /* 7.5.1: invalid UTF-8 reason, truncated or impossible */
    t_reset();
    t_frame(T_FIN | T_CLOSE,
            "\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
            "edited", 22);
    t_expect_off("ERROR 1007@28;");

    t_reset();
    t_frame(T_FIN | T_CLOSE, "\x03\xe8\xce", 3);
    t_expect_off("ERROR 1007@9;");

    t_reset();
    t_frame(T_FIN | T_CLOSE, "\x03\xe8\xff", 3);
    t_expect("ERROR 1007;");
}


/* Autobahn 7.7 (valid codes, echoed) and 7.9 (invalid codes) */

static void
test_close_codes(void **state)
{
    size_t               i;
    char                 want[64];
    unsigned char        body[2];
    /* RFC 6455 7.4.1 and 7.4.2, and IANA's registry for 1012-1014 */
    static unsigned int  valid[] = { 1000, 1001, 1002, 1003, 1007, 1008,
                                     1009, 1010, 1011, 1012, 1013, 1014,
                                     3000, 3999, 4000, 4999 };
    static unsigned int  invalid[] = { 0, 1, 999, 1004, 1005, 1006, 1015,
                                       1016, 1100, 2000, 2999, 5000,
                                       65535 };

    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        body[0] = (unsigned char) (valid[i] >> 8);
        body[1] = (unsigned char) valid[i];
        t_reset();
        t_frame(T_FIN | T_CLOSE, body, 2);
        snprintf(want, sizeof(want), "CLOSE %u ;", valid[i]);
        t_expect(want);
    }

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        body[0] = (unsigned char) (invalid[i] >> 8);
        body[1] = (unsigned char) invalid[i];
        t_reset();
        t_frame(T_FIN | T_CLOSE, body, 2);
        t_expect("ERROR 1002;");
    }

    /* the whole range against the rule */

    for (i = 0; i < 65536; i++) {
        assert_int_equal(ngx_http_securechat_frame_close_code_valid(i),
                         (i >= 1000 && i <= 1003) || (i >= 1007 && i <= 1014)
                         || (i >= 3000 && i <= 4999));
    }

    t_cases++;
}


/* Autobahn 7.1: nothing is processed after the client's close */

static void
test_after_close(void **state)
{
    /* 7.1.1 */
    t_reset();
    t_frame(T_FIN | T_TEXT, "Hello World!", 12);
    t_frame(T_FIN | T_CLOSE, "\x03\xe8", 2);
    t_expect_off("TEXT 12 Hello World!@18;CLOSE 1000 @26;");

    /* 7.1.2, 7.1.3, 7.1.4: a second close, a ping, a text after close */
    t_reset();
    t_frame(T_FIN | T_CLOSE, "\x03\xe8", 2);
    t_frame(T_FIN | T_CLOSE, "\x03\xe8", 2);
    t_expect_off("CLOSE 1000 @8;");

    t_reset();
    t_frame(T_FIN | T_CLOSE, "\x03\xe8", 2);
    t_frame(T_FIN | T_PING, "", 0);
    t_expect_off("CLOSE 1000 @8;");

    t_reset();
    t_frame(T_FIN | T_CLOSE, "\x03\xe8", 2);
    t_frame(T_FIN | T_TEXT, "Hello World!", 12);
    t_expect_off("CLOSE 1000 @8;");

    /* garbage after the close is never looked at */
    t_reset();
    t_frame(T_FIN | T_CLOSE, "\x03\xe9", 2);
    t_raw("\xff\xff\x00\x01", 4);
    t_expect_off("CLOSE 1001 @8;");

    /* 7.1.5: fragmented text, close, the last fragment */
    t_reset();
    t_frame(T_TEXT, "fragment1", 9);
    t_frame(T_FIN | T_CLOSE, "\x03\xe8", 2);
    t_frame(T_FIN | T_CONT, "fragment2", 9);
    t_expect("CLOSE 1000 ;");

    /* and nothing after an error either */
    t_reset();
    t_raw("\x81\x00", 2);
    t_frame(T_FIN | T_TEXT, "never", 5);
    t_expect_off("ERROR 1002@2;");
}


static void
test_busy(void **state)
{
    size_t                              used;
    unsigned char                       msg[16];
    ngx_http_securechat_frame_event_t   ev;
    ngx_http_securechat_frame_parser_t  p;

    ngx_http_securechat_frame_parser_init(&p, msg, sizeof(msg));
    assert_int_equal(ngx_http_securechat_frame_parser_busy(&p), 0);

    t_reset();
    t_frame(T_TEXT, "ab", 2);
    t_frame(T_FIN | T_CONT, "cd", 2);

    /* one header byte */
    assert_int_equal(ngx_http_securechat_frame_parse(&p, t_in, 1, &used, &ev),
                     NGX_HTTP_SECURECHAT_FRAME_AGAIN);
    assert_int_equal(used, 1);
    assert_int_equal(ngx_http_securechat_frame_parser_busy(&p), 1);

    /* the first fragment: still busy between fragments */
    assert_int_equal(ngx_http_securechat_frame_parse(&p, t_in + 1, 7, &used,
                                                     &ev),
                     NGX_HTTP_SECURECHAT_FRAME_AGAIN);
    assert_int_equal(ngx_http_securechat_frame_parser_busy(&p), 1);

    assert_int_equal(ngx_http_securechat_frame_parse(&p, t_in + 8, t_len - 8,
                                                     &used, &ev),
                     NGX_HTTP_SECURECHAT_FRAME_TEXT);
    assert_int_equal(used, t_len - 8);
    assert_int_equal(ev.len, 4);
    assert_memory_equal(ev.data, "abcd", 4);
    assert_ptr_equal(ev.data, msg);
    assert_int_equal(ngx_http_securechat_frame_parser_busy(&p), 0);

    /* an empty read is harmless */
    assert_int_equal(ngx_http_securechat_frame_parse(&p, NULL, 0, &used, &ev),
                     NGX_HTTP_SECURECHAT_FRAME_AGAIN);
    assert_int_equal(used, 0);

    t_cases++;
}


/*
 * Every frame counts, whether or not it ends an event: fragments and
 * control frames inside a message too, and however the input is split.
 */

static void
test_frame_count(void **state)
{
    size_t                              i, n, used, step;
    unsigned int                        total, events;
    unsigned char                       msg[64];
    ngx_http_securechat_frame_event_t   ev;
    ngx_http_securechat_frame_parser_t  p;

    t_reset();
    t_frame(T_TEXT, "a", 1);
    t_frame(T_CONT, "b", 1);
    t_frame(T_CONT, "", 0);
    t_frame(T_FIN | T_PING, "p", 1);
    t_frame(T_CONT, "c", 1);
    t_frame(T_FIN | T_PONG, "", 0);
    t_frame(T_FIN | T_CONT, "d", 1);
    t_frame(T_FIN | T_TEXT, "e", 1);

    for (step = 1; step <= t_len; step++) {
        ngx_http_securechat_frame_parser_init(&p, msg, sizeof(msg));
        assert_int_equal(p.frames, 0);

        total = 0;
        events = 0;

        for (i = 0; i < t_len; i += used) {
            n = (t_len - i < step) ? t_len - i : step;

            if (ngx_http_securechat_frame_parse(&p, t_in + i, n, &used, &ev)
                != NGX_HTTP_SECURECHAT_FRAME_AGAIN)
            {
                events++;
            }

            total += p.frames;
            p.frames = 0;
        }

        /* ping, pong, "abcd", "e" */
        assert_int_equal(events, 4);
        assert_int_equal(total, 8);
    }

    t_cases++;
}


static void
test_encode_header(void **state)
{
    size_t         i, n;
    unsigned char  h[NGX_HTTP_SECURECHAT_FRAME_MAX_HEADER];

    static const struct {
        unsigned int   opcode;
        int            fin;
        uint64_t       len;
        size_t         hlen;
        unsigned char  h[10];
    } cases[] = {
        { T_TEXT, 1, 0, 2, { 0x81, 0x00 } },
        { T_TEXT, 1, 125, 2, { 0x81, 0x7d } },
        { T_TEXT, 1, 126, 4, { 0x81, 0x7e, 0x00, 0x7e } },
        { T_TEXT, 0, 127, 4, { 0x01, 0x7e, 0x00, 0x7f } },
        { T_CONT, 1, 65535, 4, { 0x80, 0x7e, 0xff, 0xff } },
        { T_TEXT, 1, 65536, 10, { 0x81, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 } },
        { T_BIN, 1, 0x0102030405060708ULL, 10,
          { 0x82, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8 } },
        { T_PING, 1, 4, 2, { 0x89, 0x04 } },
        { T_PONG, 1, 125, 2, { 0x8a, 0x7d } },
        { T_CLOSE, 1, 2, 2, { 0x88, 0x02 } },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(h, 0xaa, sizeof(h));
        n = ngx_http_securechat_frame_header(h, cases[i].opcode, cases[i].fin,
                                             cases[i].len);
        assert_int_equal(n, cases[i].hlen);
        assert_memory_equal(h, cases[i].h, n);
        t_cases++;
    }
}


static void
test_encode_close_body(void **state)
{
    size_t         n;
    unsigned char  b[NGX_HTTP_SECURECHAT_FRAME_MAX_CONTROL], r[200];

    assert_int_equal(ngx_http_securechat_frame_close_body(b, 0, NULL, 0), 0);

    n = ngx_http_securechat_frame_close_body(b, 1000, NULL, 0);
    assert_int_equal(n, 2);
    assert_memory_equal(b, "\x03\xe8", 2);

    n = ngx_http_securechat_frame_close_body(b, 1009,
                                    (const unsigned char *) "too big", 7);
    assert_int_equal(n, 9);
    assert_memory_equal(b, "\x03\xf1too big", 9);

    /* cut to 123 bytes, not inside the 2-byte character at 122-123 */
    memset(r, 'a', sizeof(r));
    r[122] = 0xc3;
    r[123] = 0xa9;
    n = ngx_http_securechat_frame_close_body(b, 4000, r, sizeof(r));
    assert_int_equal(n, 2 + 122);
    assert_int_equal(ngx_http_securechat_utf8_valid(b + 2, n - 2),
                     NGX_HTTP_SECURECHAT_UTF8_OK);

    /* a 3-byte character at 121-123 */
    memset(r, 'a', sizeof(r));
    r[121] = 0xe2;
    r[122] = 0x82;
    r[123] = 0xac;
    n = ngx_http_securechat_frame_close_body(b, 4000, r, sizeof(r));
    assert_int_equal(n, 2 + 121);

    /* exactly 123 bytes fit */
    memset(r, 'a', sizeof(r));
    n = ngx_http_securechat_frame_close_body(b, 4000, r, 123);
    assert_int_equal(n, 125);

    /* what it builds the parser accepts and echoes */
    n = ngx_http_securechat_frame_close_body(b, 1001,
                                    (const unsigned char *) "bye", 3);
    t_reset();
    t_frame(T_FIN | T_CLOSE, b, n);
    t_expect("CLOSE 1001 bye;");

    t_cases += 5;
}


int
main(void)
{
    int  rc;

    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_framing_text_sizes),
        cmocka_unit_test(test_framing_binary),
        cmocka_unit_test(test_framing_binary_allowed),
        cmocka_unit_test(test_framing_limit),
        cmocka_unit_test(test_framing_length_encoding),
        cmocka_unit_test(test_framing_unmasked),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_reserved_bits),
        cmocka_unit_test(test_opcodes),
        cmocka_unit_test(test_fragmentation),
        cmocka_unit_test(test_fragmentation_limit),
        cmocka_unit_test(test_utf8_single_frame),
        cmocka_unit_test(test_utf8_fragments_every_split),
        cmocka_unit_test(test_utf8_fail_fast),
        cmocka_unit_test(test_close_handling),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_after_close),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_frame_count),
        cmocka_unit_test(test_encode_header),
        cmocka_unit_test(test_encode_close_body),
    };

    rc = cmocka_run_group_tests(tests, NULL, NULL);

    printf("frame: %zu cases, %zu parser runs (every case whole, split at "
           "every byte, bytewise and in random chunks)\n", t_cases, t_runs);

    return rc;
}
