
/*
 * Server side RFC 6455 frame codec: see ngx_http_securechat_frame.h.
 */


#include <string.h>

#include "ngx_http_securechat_frame.h"


#define NGX_HTTP_SECURECHAT_FRAME_ST_HDR0      0
#define NGX_HTTP_SECURECHAT_FRAME_ST_HDR1      1
#define NGX_HTTP_SECURECHAT_FRAME_ST_EXTLEN    2
#define NGX_HTTP_SECURECHAT_FRAME_ST_MASK      3
#define NGX_HTTP_SECURECHAT_FRAME_ST_PAYLOAD   4
#define NGX_HTTP_SECURECHAT_FRAME_ST_DONE      5

#define ngx_http_securechat_frame_is_control(op)  ((op) & 0x8)


static unsigned int ngx_http_securechat_frame_check_hdr0(
    ngx_http_securechat_frame_parser_t *p);
static unsigned int ngx_http_securechat_frame_check_len(
    ngx_http_securechat_frame_parser_t *p);
static int ngx_http_securechat_frame_end(ngx_http_securechat_frame_parser_t *p,
    ngx_http_securechat_frame_event_t *ev);
static int ngx_http_securechat_frame_close(
    ngx_http_securechat_frame_parser_t *p,
    ngx_http_securechat_frame_event_t *ev);
static int ngx_http_securechat_frame_error(
    ngx_http_securechat_frame_parser_t *p,
    ngx_http_securechat_frame_event_t *ev, unsigned int code);
static void ngx_http_securechat_frame_unmask(unsigned char *dst,
    const unsigned char *src, size_t n, const unsigned char *mask,
    uint64_t offset);


void
ngx_http_securechat_frame_parser_init(ngx_http_securechat_frame_parser_t *p,
    unsigned char *buf, size_t size)
{
    memset(p, 0, sizeof(ngx_http_securechat_frame_parser_t));

    p->buf = buf;
    p->size = size;
    p->state = NGX_HTTP_SECURECHAT_FRAME_ST_HDR0;

    ngx_http_securechat_utf8_init(&p->utf8);
}


void
ngx_http_securechat_frame_parser_allow_binary(
    ngx_http_securechat_frame_parser_t *p)
{
    p->binary_ok = 1;
}


int
ngx_http_securechat_frame_parse(ngx_http_securechat_frame_parser_t *p,
    const unsigned char *buf, size_t len, size_t *consumed,
    ngx_http_securechat_frame_event_t *ev)
{
    int            rc;
    size_t         i, n, bad;
    uint64_t       left;
    unsigned int   code;
    unsigned char  c, *dst;

    ev->type = NGX_HTTP_SECURECHAT_FRAME_AGAIN;
    ev->data = NULL;
    ev->len = 0;
    ev->code = 0;

    i = 0;
    rc = NGX_HTTP_SECURECHAT_FRAME_AGAIN;

    if (p->state == NGX_HTTP_SECURECHAT_FRAME_ST_DONE) {
        *consumed = 0;
        ev->type = NGX_HTTP_SECURECHAT_FRAME_DONE;
        return NGX_HTTP_SECURECHAT_FRAME_DONE;
    }

    while (i < len && rc == NGX_HTTP_SECURECHAT_FRAME_AGAIN) {

        switch (p->state) {

        case NGX_HTTP_SECURECHAT_FRAME_ST_HDR0:
            c = buf[i++];
            p->frames++;

            /* no extension is ever negotiated, so RSV1-3 must be clear */

            if (c & 0x70) {
                rc = ngx_http_securechat_frame_error(p, ev,
                                       NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR);
                break;
            }

            p->fin = c >> 7;
            p->opcode = c & 0x0f;

            code = ngx_http_securechat_frame_check_hdr0(p);
            if (code) {
                rc = ngx_http_securechat_frame_error(p, ev, code);
                break;
            }

            if (p->opcode == NGX_HTTP_SECURECHAT_WS_TEXT
                || p->opcode == NGX_HTTP_SECURECHAT_WS_BINARY)
            {
                p->msg_binary = (p->opcode == NGX_HTTP_SECURECHAT_WS_BINARY);
            }

            p->state = NGX_HTTP_SECURECHAT_FRAME_ST_HDR1;
            break;

        case NGX_HTTP_SECURECHAT_FRAME_ST_HDR1:
            c = buf[i++];

            /* RFC 6455 5.1: a server must close on an unmasked frame */

            if (!(c & 0x80)) {
                rc = ngx_http_securechat_frame_error(p, ev,
                                       NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR);
                break;
            }

            p->len = c & 0x7f;

            /* 126 and 127 announce more than 125 bytes */

            if (ngx_http_securechat_frame_is_control(p->opcode)
                && p->len > NGX_HTTP_SECURECHAT_FRAME_MAX_CONTROL)
            {
                rc = ngx_http_securechat_frame_error(p, ev,
                                       NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR);
                break;
            }

            if (p->len >= 126) {
                p->ext = (p->len == 126) ? 2 : 8;
                p->ext_got = 0;
                p->len = 0;
                p->state = NGX_HTTP_SECURECHAT_FRAME_ST_EXTLEN;
                break;
            }

            code = ngx_http_securechat_frame_check_len(p);
            if (code) {
                rc = ngx_http_securechat_frame_error(p, ev, code);
                break;
            }

            p->mask_bytes = 0;
            p->state = NGX_HTTP_SECURECHAT_FRAME_ST_MASK;
            break;

        case NGX_HTTP_SECURECHAT_FRAME_ST_EXTLEN:
            c = buf[i++];

            /* the most significant bit of a 64-bit length must be 0 */

            if (p->ext == 8 && p->ext_got == 0 && (c & 0x80)) {
                rc = ngx_http_securechat_frame_error(p, ev,
                                       NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR);
                break;
            }

            p->len = p->len << 8 | c;

            if (++p->ext_got < p->ext) {
                break;
            }

            /* RFC 6455 5.2: "the minimal number of bytes MUST be used" */

            if ((p->ext == 2 && p->len < 126)
                || (p->ext == 8 && p->len <= 0xffff))
            {
                rc = ngx_http_securechat_frame_error(p, ev,
                                       NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR);
                break;
            }

            code = ngx_http_securechat_frame_check_len(p);
            if (code) {
                rc = ngx_http_securechat_frame_error(p, ev, code);
                break;
            }

            p->mask_bytes = 0;
            p->state = NGX_HTTP_SECURECHAT_FRAME_ST_MASK;
            break;

        case NGX_HTTP_SECURECHAT_FRAME_ST_MASK:
            p->mask[p->mask_bytes++] = buf[i++];

            if (p->mask_bytes < 4) {
                break;
            }

            p->got = 0;

            if (p->len == 0) {
                rc = ngx_http_securechat_frame_end(p, ev);
                break;
            }

            p->state = NGX_HTTP_SECURECHAT_FRAME_ST_PAYLOAD;
            break;

        case NGX_HTTP_SECURECHAT_FRAME_ST_PAYLOAD:
            left = p->len - p->got;
            n = len - i;

            if ((uint64_t) n > left) {
                n = (size_t) left;
            }

            if (ngx_http_securechat_frame_is_control(p->opcode)) {
                ngx_http_securechat_frame_unmask(p->ctl + p->got, buf + i, n,
                                                 p->mask, p->got);

            } else {
                /* the header check guarantees msg_len + len <= size */

                dst = p->buf + p->msg_len;

                ngx_http_securechat_frame_unmask(dst, buf + i, n, p->mask,
                                                 p->got);

                /* fail fast: do not wait for the end of the message */

                if (!p->msg_binary
                    && ngx_http_securechat_utf8_feed(&p->utf8, dst, n, &bad)
                    != NGX_HTTP_SECURECHAT_UTF8_OK)
                {
                    i += bad + 1;
                    rc = ngx_http_securechat_frame_error(p, ev,
                                         NGX_HTTP_SECURECHAT_WS_INVALID_DATA);
                    break;
                }

                p->msg_len += n;
            }

            i += n;
            p->got += n;

            if (p->got == p->len) {
                rc = ngx_http_securechat_frame_end(p, ev);
            }

            break;

        default:
            /* ST_DONE is handled above; anything else is a broken state */
            rc = ngx_http_securechat_frame_error(p, ev,
                                       NGX_HTTP_SECURECHAT_WS_INTERNAL_ERROR);
            break;
        }
    }

    *consumed = i;

    return rc;
}


/* the checks the first header byte alone decides; returns 0 or a code */

static unsigned int
ngx_http_securechat_frame_check_hdr0(ngx_http_securechat_frame_parser_t *p)
{
    switch (p->opcode) {

    case NGX_HTTP_SECURECHAT_WS_CONT:
        return p->in_message ? 0 : NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR;

    case NGX_HTTP_SECURECHAT_WS_TEXT:
        return p->in_message ? NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR : 0;

    case NGX_HTTP_SECURECHAT_WS_BINARY:
        if (p->in_message) {
            return NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR;
        }

        /* the chat protocol is text only: refuse before any payload */

        return p->binary_ok ? 0 : NGX_HTTP_SECURECHAT_WS_UNSUPPORTED;

    case NGX_HTTP_SECURECHAT_WS_CLOSE:
    case NGX_HTTP_SECURECHAT_WS_PING:
    case NGX_HTTP_SECURECHAT_WS_PONG:
        /* RFC 6455 5.5: control frames must not be fragmented */
        return p->fin ? 0 : NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR;

    default:
        /* 0x3-0x7 and 0xb-0xf are reserved */
        return NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR;
    }
}


/*
 * Once the payload length is known: a message over the limit is refused
 * here, before any of its payload is read.  Returns 0 or a close code.
 */

static unsigned int
ngx_http_securechat_frame_check_len(ngx_http_securechat_frame_parser_t *p)
{
    if (ngx_http_securechat_frame_is_control(p->opcode)) {
        return 0;
    }

    if (p->len > (uint64_t) (p->size - p->msg_len)) {
        return NGX_HTTP_SECURECHAT_WS_TOO_BIG;
    }

    return 0;
}


/* a frame's payload is complete; returns the event type, maybe AGAIN */

static int
ngx_http_securechat_frame_end(ngx_http_securechat_frame_parser_t *p,
    ngx_http_securechat_frame_event_t *ev)
{
    p->state = NGX_HTTP_SECURECHAT_FRAME_ST_HDR0;

    switch (p->opcode) {

    case NGX_HTTP_SECURECHAT_WS_PING:
    case NGX_HTTP_SECURECHAT_WS_PONG:
        ev->type = (p->opcode == NGX_HTTP_SECURECHAT_WS_PING)
                   ? NGX_HTTP_SECURECHAT_FRAME_PING
                   : NGX_HTTP_SECURECHAT_FRAME_PONG;
        ev->data = p->ctl;
        ev->len = (size_t) p->len;
        return ev->type;

    case NGX_HTTP_SECURECHAT_WS_CLOSE:
        return ngx_http_securechat_frame_close(p, ev);

    default:
        break;
    }

    /* text or continuation */

    if (!p->fin) {
        p->in_message = 1;
        return NGX_HTTP_SECURECHAT_FRAME_AGAIN;
    }

    if (!p->msg_binary
        && ngx_http_securechat_utf8_finish(&p->utf8)
           != NGX_HTTP_SECURECHAT_UTF8_OK)
    {
        /* the message ended inside a character */
        return ngx_http_securechat_frame_error(p, ev,
                                         NGX_HTTP_SECURECHAT_WS_INVALID_DATA);
    }

    ev->type = p->msg_binary ? NGX_HTTP_SECURECHAT_FRAME_BINARY
                             : NGX_HTTP_SECURECHAT_FRAME_TEXT;
    ev->data = p->buf;
    ev->len = p->msg_len;

    p->in_message = 0;
    p->msg_len = 0;
    ngx_http_securechat_utf8_init(&p->utf8);

    return ev->type;
}


static int
ngx_http_securechat_frame_close(ngx_http_securechat_frame_parser_t *p,
    ngx_http_securechat_frame_event_t *ev)
{
    size_t        n;
    unsigned int  code;

    n = (size_t) p->len;

    if (n == 0) {
        code = 0;

    } else if (n == 1) {
        /* a body, if any, starts with a 2-byte code */
        return ngx_http_securechat_frame_error(p, ev,
                                       NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR);

    } else {
        code = (unsigned int) p->ctl[0] << 8 | p->ctl[1];

        if (!ngx_http_securechat_frame_close_code_valid(code)) {
            return ngx_http_securechat_frame_error(p, ev,
                                       NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR);
        }

        if (ngx_http_securechat_utf8_valid(p->ctl + 2, n - 2)
            != NGX_HTTP_SECURECHAT_UTF8_OK)
        {
            return ngx_http_securechat_frame_error(p, ev,
                                         NGX_HTTP_SECURECHAT_WS_INVALID_DATA);
        }
    }

    /* RFC 6455 5.5.1: nothing the client sends after its close counts */

    p->state = NGX_HTTP_SECURECHAT_FRAME_ST_DONE;

    ev->type = NGX_HTTP_SECURECHAT_FRAME_CLOSE;
    ev->code = code;
    ev->data = (n > 2) ? p->ctl + 2 : p->ctl;
    ev->len = (n > 2) ? n - 2 : 0;

    return NGX_HTTP_SECURECHAT_FRAME_CLOSE;
}


static int
ngx_http_securechat_frame_error(ngx_http_securechat_frame_parser_t *p,
    ngx_http_securechat_frame_event_t *ev, unsigned int code)
{
    p->state = NGX_HTTP_SECURECHAT_FRAME_ST_DONE;

    ev->type = NGX_HTTP_SECURECHAT_FRAME_ERROR;
    ev->code = code;
    ev->data = NULL;
    ev->len = 0;

    return NGX_HTTP_SECURECHAT_FRAME_ERROR;
}


static void
ngx_http_securechat_frame_unmask(unsigned char *dst, const unsigned char *src,
    size_t n, const unsigned char *mask, uint64_t offset)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        dst[i] = src[i] ^ mask[(offset + i) & 3];
    }
}


int
ngx_http_securechat_frame_parser_busy(
    const ngx_http_securechat_frame_parser_t *p)
{
    if (p->state == NGX_HTTP_SECURECHAT_FRAME_ST_DONE) {
        return 0;
    }

    return p->in_message || p->state != NGX_HTTP_SECURECHAT_FRAME_ST_HDR0;
}


int
ngx_http_securechat_frame_close_code_valid(unsigned int code)
{
    if (code >= 1000 && code <= 1003) {
        return 1;
    }

    /*
     * 1004 is reserved; 1005, 1006 and 1015 must never be on the wire;
     * 1012-1014 were registered with IANA after RFC 6455 (restart, try
     * again later, bad gateway) and a proxy may well forward them.
     */

    if (code >= 1007 && code <= 1014) {
        return 1;
    }

    /* 1016-2999 are for future RFCs: none is defined */

    return code >= 3000 && code <= 4999;
}


size_t
ngx_http_securechat_frame_header(unsigned char *dst, unsigned int opcode,
    int fin, uint64_t len)
{
    int  i;

    dst[0] = (unsigned char) ((fin ? 0x80 : 0) | (opcode & 0x0f));

    if (len < 126) {
        dst[1] = (unsigned char) len;
        return 2;
    }

    if (len <= 0xffff) {
        dst[1] = 126;
        dst[2] = (unsigned char) (len >> 8);
        dst[3] = (unsigned char) len;
        return 4;
    }

    dst[1] = 127;

    for (i = 0; i < 8; i++) {
        dst[2 + i] = (unsigned char) (len >> (56 - 8 * i));
    }

    return 10;
}


size_t
ngx_http_securechat_frame_close_body(unsigned char *dst, unsigned int code,
    const unsigned char *reason, size_t reason_len)
{
    size_t  n;

    if (code == 0) {
        return 0;
    }

    dst[0] = (unsigned char) (code >> 8);
    dst[1] = (unsigned char) code;

    n = reason_len;

    if (n > NGX_HTTP_SECURECHAT_FRAME_MAX_REASON) {
        n = NGX_HTTP_SECURECHAT_FRAME_MAX_REASON;

        /* do not cut a character in two: the client would fail with 1007 */

        while (n > 0 && (reason[n] & 0xc0) == 0x80) {
            n--;
        }
    }

    if (n) {
        memcpy(dst + 2, reason, n);
    }

    return n + 2;
}
