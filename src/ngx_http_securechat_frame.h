
/*
 * Server side RFC 6455 frame codec: an incremental parser for client frames
 * and an encoder for server frame headers and close bodies.
 * Pure: plain C only, so unit tests and fuzzers call it directly.
 *
 * The parser is fed whatever bytes a read returned and yields one event at a
 * time.  The events, and the input offset at which each is yielded, do not
 * depend on how the bytes were split.  It never allocates: a text message is
 * unmasked into the caller's buffer, whose size is the message limit, and a
 * message that cannot fit is refused from its frame header, before any of
 * its payload is read.
 *
 * Driving it:
 *
 *     while (len) {
 *         rc = ngx_http_securechat_frame_parse(p, buf, len, &n, &ev);
 *         buf += n; len -= n;
 *         if (rc == NGX_HTTP_SECURECHAT_FRAME_AGAIN) break;   (read more)
 *         ...handle ev; after CLOSE or ERROR stop reading...
 *     }
 */

#ifndef _NGX_HTTP_SECURECHAT_FRAME_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_FRAME_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_http_securechat_utf8.h"


#define NGX_HTTP_SECURECHAT_FRAME_MAX_MESSAGE      65536
#define NGX_HTTP_SECURECHAT_FRAME_MAX_CONTROL      125
#define NGX_HTTP_SECURECHAT_FRAME_MAX_HEADER       10    /* server: unmasked */
#define NGX_HTTP_SECURECHAT_FRAME_MAX_REASON       123

/* opcodes */
#define NGX_HTTP_SECURECHAT_WS_CONT                0x0
#define NGX_HTTP_SECURECHAT_WS_TEXT                0x1
#define NGX_HTTP_SECURECHAT_WS_BINARY              0x2
#define NGX_HTTP_SECURECHAT_WS_CLOSE               0x8
#define NGX_HTTP_SECURECHAT_WS_PING                0x9
#define NGX_HTTP_SECURECHAT_WS_PONG                0xa

/* close codes (RFC 6455 section 7.4.1) */
#define NGX_HTTP_SECURECHAT_WS_NORMAL              1000
#define NGX_HTTP_SECURECHAT_WS_GOING_AWAY          1001
#define NGX_HTTP_SECURECHAT_WS_PROTOCOL_ERROR      1002
#define NGX_HTTP_SECURECHAT_WS_UNSUPPORTED         1003
#define NGX_HTTP_SECURECHAT_WS_NO_STATUS           1005
#define NGX_HTTP_SECURECHAT_WS_INVALID_DATA        1007
#define NGX_HTTP_SECURECHAT_WS_POLICY              1008
#define NGX_HTTP_SECURECHAT_WS_TOO_BIG             1009
#define NGX_HTTP_SECURECHAT_WS_INTERNAL_ERROR      1011
#define NGX_HTTP_SECURECHAT_WS_RESTART             1012
#define NGX_HTTP_SECURECHAT_WS_TRY_AGAIN           1013

/* what ngx_http_securechat_frame_parse() returns: the event yielded */
#define NGX_HTTP_SECURECHAT_FRAME_AGAIN            0  /* input used up */
#define NGX_HTTP_SECURECHAT_FRAME_TEXT             1
#define NGX_HTTP_SECURECHAT_FRAME_PING             2
#define NGX_HTTP_SECURECHAT_FRAME_PONG             3
#define NGX_HTTP_SECURECHAT_FRAME_CLOSE            4
#define NGX_HTTP_SECURECHAT_FRAME_ERROR            5
#define NGX_HTTP_SECURECHAT_FRAME_DONE             6  /* after CLOSE/ERROR */
#define NGX_HTTP_SECURECHAT_FRAME_BINARY           7  /* if allowed */


typedef struct {
    int                   type;      /* NGX_HTTP_SECURECHAT_FRAME_* */

    /*
     * TEXT: the whole message, in the caller's buffer;
     * PING/PONG: the payload (answer a PING with a PONG carrying it);
     * CLOSE: the reason (valid UTF-8, maybe empty).
     * Valid until the next call.
     */
    const unsigned char  *data;
    size_t                len;

    /*
     * CLOSE: the client's code, to echo; 0 if the body was empty (answer
     * with an empty body or 1000).
     * ERROR: the code to close with (1002, 1003, 1007 or 1009).
     */
    unsigned int          code;
} ngx_http_securechat_frame_event_t;


typedef struct {
    /* the message buffer; its size is the message limit */
    unsigned char                *buf;
    size_t                        size;

    /* the frame being read */
    int                           state;
    unsigned int                  fin;
    unsigned int                  opcode;
    unsigned int                  ext;         /* extended length: 2 or 8 */
    unsigned int                  ext_got;
    unsigned int                  mask_bytes;  /* mask key bytes read */
    uint64_t                      len;
    uint64_t                      got;
    unsigned char                 mask[4];

    /* binary messages are refused (1003) unless allowed */
    unsigned int                  binary_ok;

    /*
     * Frames begun (first header byte read) since the caller last zeroed
     * this: data, continuation and control frames alike, for a rate
     * limit that fragments cannot escape.
     */
    unsigned int                  frames;

    /* the (possibly fragmented) text or binary message */
    unsigned int                  in_message;
    unsigned int                  msg_binary;
    size_t                        msg_len;
    ngx_http_securechat_utf8_t    utf8;

    /* control frame payloads are small and kept here */
    unsigned char                 ctl[NGX_HTTP_SECURECHAT_FRAME_MAX_CONTROL];
} ngx_http_securechat_frame_parser_t;


/*
 * buf (size bytes) receives text messages; size is the limit on a message,
 * the sum of its fragments (NGX_HTTP_SECURECHAT_FRAME_MAX_MESSAGE by
 * default).  buf must live as long as the parser.
 */
void ngx_http_securechat_frame_parser_init(
    ngx_http_securechat_frame_parser_t *p, unsigned char *buf, size_t size);

/*
 * Reads from buf (len bytes) until one event is complete.  Sets *consumed
 * to the bytes used and fills *ev; returns ev->type:
 *   AGAIN  all len bytes used, no event yet: call again with more bytes;
 *   TEXT, PING, PONG: call again with the rest of the input;
 *   CLOSE  the client's close frame, valid: echo ev->code;
 *   ERROR  close the connection with ev->code;
 *   DONE   a CLOSE or ERROR was already yielded: nothing more is read.
 * Bytes after a CLOSE or ERROR are never looked at.
 */
int ngx_http_securechat_frame_parse(ngx_http_securechat_frame_parser_t *p,
    const unsigned char *buf, size_t len, size_t *consumed,
    ngx_http_securechat_frame_event_t *ev);

/*
 * Binary messages are yielded as BINARY events (no UTF-8 check) instead
 * of being refused with 1003: for the test-only echo role.
 */
void ngx_http_securechat_frame_parser_allow_binary(
    ngx_http_securechat_frame_parser_t *p);

/* 1 if a message is partly received (fragments or a frame in progress) */
int ngx_http_securechat_frame_parser_busy(
    const ngx_http_securechat_frame_parser_t *p);

/*
 * 1 if code may be sent in a close frame: 1000-1003, 1007-1014 (RFC 6455
 * and IANA's registry), and 3000-4999 (registered and private); never
 * 1004, 1005, 1006, 1015 or 1016-2999.
 */
int ngx_http_securechat_frame_close_code_valid(unsigned int code);

/*
 * Writes a server frame header (FIN as given, no mask, minimal length
 * encoding) to dst, which must hold NGX_HTTP_SECURECHAT_FRAME_MAX_HEADER
 * bytes.  Returns the header length: 2, 4 or 10.
 */
size_t ngx_http_securechat_frame_header(unsigned char *dst,
    unsigned int opcode, int fin, uint64_t len);

/*
 * Writes a close body to dst (NGX_HTTP_SECURECHAT_FRAME_MAX_CONTROL bytes):
 * the code in network order, then the reason cut to
 * NGX_HTTP_SECURECHAT_FRAME_MAX_REASON bytes on a character boundary.
 * code 0 gives an empty body.  Returns the body length.
 */
size_t ngx_http_securechat_frame_close_body(unsigned char *dst,
    unsigned int code, const unsigned char *reason, size_t reason_len);


#endif /* _NGX_HTTP_SECURECHAT_FRAME_H_INCLUDED_ */
