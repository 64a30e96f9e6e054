
/*
 * libFuzzer target: the WebSocket frame parser
 * (src/ngx_http_securechat_frame.c).  The input after two control bytes
 * (the message limit, the chunking) is fed whole, in pseudo-random chunks
 * and a byte at a time; the event sequences, with the offset of each, must
 * be identical, and every event must respect the codec's promises.  Each
 * chunk and the message buffer are heap blocks of exactly their size, so
 * ASan catches any read or write past them.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_securechat_frame.h"


#define FUZZ_FRAME_MAX_EVENTS  4096


typedef struct {
    int           type;
    unsigned int  code;
    size_t        len;
    size_t        offset;
    uint32_t      hash;
    unsigned int  frames;   /* frames begun so far: split-independent too */
} fuzz_frame_event_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_frame_run(const uint8_t *data, size_t size, size_t limit,
    unsigned int seed, fuzz_frame_event_t *out);
static void fuzz_frame_check(const ngx_http_securechat_frame_event_t *ev,
    const unsigned char *msg, size_t limit);


static fuzz_frame_event_t  fuzz_frame_a[FUZZ_FRAME_MAX_EVENTS];
static fuzz_frame_event_t  fuzz_frame_b[FUZZ_FRAME_MAX_EVENTS];


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               na, nb, limit;
    unsigned int         seed;
    static const size_t  limits[] = {
        NGX_HTTP_SECURECHAT_FRAME_MAX_MESSAGE, 125, 16, 0
    };

    if (size < 2) {
        return 0;
    }

    limit = limits[data[0] & 3];
    seed = data[1];
    data += 2;
    size -= 2;

    /* seed 0: whole, as one read */

    na = fuzz_frame_run(data, size, limit, 0, fuzz_frame_a);

    nb = fuzz_frame_run(data, size, limit, seed | 0x100, fuzz_frame_b);

    if (na != nb
        || memcmp(fuzz_frame_a, fuzz_frame_b, na * sizeof(fuzz_frame_event_t))
           != 0)
    {
        abort();
    }

    if (size <= 4096) {
        nb = fuzz_frame_run(data, size, limit, 1, fuzz_frame_b);

        if (na != nb
            || memcmp(fuzz_frame_a, fuzz_frame_b,
                      na * sizeof(fuzz_frame_event_t))
               != 0)
        {
            abort();
        }
    }

    return 0;
}


/*
 * seed 0: one chunk; 1: a byte at a time; otherwise pseudo-random chunk
 * sizes drawn from the seed.  Returns the number of events stored in out.
 */

static size_t
fuzz_frame_run(const uint8_t *data, size_t size, size_t limit,
    unsigned int seed, fuzz_frame_event_t *out)
{
    int                                 rc, done;
    size_t                              off, n, pos, used, nev, i;
    uint32_t                            rnd, h;
    unsigned char                       *msg, *chunk;
    ngx_http_securechat_frame_event_t   ev;
    ngx_http_securechat_frame_parser_t  p;

    msg = malloc(limit ? limit : 1);
    if (msg == NULL) {
        abort();
    }

    memset(out, 0, FUZZ_FRAME_MAX_EVENTS * sizeof(fuzz_frame_event_t));

    ngx_http_securechat_frame_parser_init(&p, msg, limit);

    rnd = seed * 2654435761u;
    nev = 0;
    done = 0;

    for (off = 0; off < size && !done; off += n) {

        if (seed == 0) {
            n = size;

        } else if (seed == 1) {
            n = 1;

        } else {
            rnd = rnd * 1103515245u + 12345u;
            n = 1 + (rnd >> 16) % (1 + (seed & 0x3f) * 3);
        }

        if (n > size - off) {
            n = size - off;
        }

        chunk = malloc(n);
        if (chunk == NULL) {
            abort();
        }

        memcpy(chunk, data + off, n);

        for (pos = 0; pos < n; pos += used) {
            rc = ngx_http_securechat_frame_parse(&p, chunk + pos, n - pos,
                                                 &used, &ev);

            if (used > n - pos || rc != ev.type) {
                abort();
            }

            if (rc == NGX_HTTP_SECURECHAT_FRAME_AGAIN) {
                if (used != n - pos) {
                    abort();
                }

                continue;
            }

            if (used == 0 || rc == NGX_HTTP_SECURECHAT_FRAME_DONE) {
                abort();
            }

            fuzz_frame_check(&ev, msg, limit);

            h = 2166136261u;

            for (i = 0; i < ev.len; i++) {
                h = (h ^ ev.data[i]) * 16777619u;
            }

            if (nev < FUZZ_FRAME_MAX_EVENTS) {
                out[nev].type = rc;
                out[nev].code = ev.code;
                out[nev].len = ev.len;
                out[nev].offset = off + pos + used;
                out[nev].hash = h;
                out[nev].frames = p.frames;
                nev++;
            }

            if (rc == NGX_HTTP_SECURECHAT_FRAME_CLOSE
                || rc == NGX_HTTP_SECURECHAT_FRAME_ERROR)
            {
                /* the parser must refuse to read on */

                rc = ngx_http_securechat_frame_parse(&p, chunk, n, &used,
                                                     &ev);
                if (rc != NGX_HTTP_SECURECHAT_FRAME_DONE || used != 0) {
                    abort();
                }

                done = 1;
                break;
            }
        }

        free(chunk);
    }

    free(msg);

    return nev;
}


static void
fuzz_frame_check(const ngx_http_securechat_frame_event_t *ev,
    const unsigned char *msg, size_t limit)
{
    switch (ev->type) {

    case NGX_HTTP_SECURECHAT_FRAME_TEXT:
        if (ev->len > limit
            || (ev->len && ev->data != msg)
            || ngx_http_securechat_utf8_valid(ev->data, ev->len)
               != NGX_HTTP_SECURECHAT_UTF8_OK)
        {
            abort();
        }

        break;

    case NGX_HTTP_SECURECHAT_FRAME_PING:
    case NGX_HTTP_SECURECHAT_FRAME_PONG:
        if (ev->len > NGX_HTTP_SECURECHAT_FRAME_MAX_CONTROL) {
            abort();
        }

        break;

    case NGX_HTTP_SECURECHAT_FRAME_CLOSE:
        if ((ev->code != 0
             && !ngx_http_securechat_frame_close_code_valid(ev->code))
            || (ev->code == 0 && ev->len != 0)
            || ev->len > NGX_HTTP_SECURECHAT_FRAME_MAX_REASON
            || ngx_http_securechat_utf8_valid(ev->data, ev->len)
               != NGX_HTTP_SECURECHAT_UTF8_OK)
        {
            abort();
        }

        break;

    case NGX_HTTP_SECURECHAT_FRAME_ERROR:
        if (ev->code != NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR
            && ev->code != NGX_HTTP_SECURECHAT_WS_UNSUPPORTED
            && ev->code != NGX_HTTP_SECURECHAT_WS_INVALID_DATA
            && ev->code != NGX_HTTP_SECURECHAT_WS_TOO_BIG)
        {
            abort();
        }

        break;

    default:
        abort();
    }
}
