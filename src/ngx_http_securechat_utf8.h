
/*
 * Incremental UTF-8 validator (RFC 3629) for WebSocket text messages.
 * Pure: plain C only, so unit tests and fuzzers call it directly.
 *
 * The state is carried across calls, so a text split anywhere (across
 * fragments, across reads) gives the same verdict as the whole text, and it
 * fails fast: the first byte that no valid continuation could rescue is the
 * one reported (0xF5, 0xC0, 0xED 0xA0, 0xF4 0x90, ...), which is what
 * RFC 6455 section 8.1 and the Autobahn suite expect from a server.
 */

#ifndef _NGX_HTTP_SECURECHAT_UTF8_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_UTF8_H_INCLUDED_


#include <stddef.h>


#define NGX_HTTP_SECURECHAT_UTF8_OK        0
#define NGX_HTTP_SECURECHAT_UTF8_INVALID  -1


typedef struct {
    unsigned char  need;      /* continuation bytes still expected */
    unsigned char  lo;        /* range allowed for the next one */
    unsigned char  hi;
    unsigned char  invalid;   /* sticky: once invalid, always invalid */
} ngx_http_securechat_utf8_t;


void ngx_http_securechat_utf8_init(ngx_http_securechat_utf8_t *u);

/*
 * Validates len more bytes.  Returns NGX_HTTP_SECURECHAT_UTF8_OK, or
 * NGX_HTTP_SECURECHAT_UTF8_INVALID with *bad (if bad != NULL) set to the
 * index in buf of the first byte that makes the text invalid.  An invalid
 * state stays invalid (later calls return INVALID with *bad = 0).
 */
int ngx_http_securechat_utf8_feed(ngx_http_securechat_utf8_t *u,
    const unsigned char *buf, size_t len, size_t *bad);

/* OK if the text ended on a character boundary and nothing was invalid */
int ngx_http_securechat_utf8_finish(const ngx_http_securechat_utf8_t *u);

/* one-shot check of a complete text */
int ngx_http_securechat_utf8_valid(const unsigned char *buf, size_t len);


#define NGX_HTTP_SECURECHAT_TEXT_OK        0
#define NGX_HTTP_SECURECHAT_TEXT_BAD_UTF8  1
#define NGX_HTTP_SECURECHAT_TEXT_CONTROL   2   /* but tab and newline */
#define NGX_HTTP_SECURECHAT_TEXT_BLANK     3   /* empty or white space */

/* whether text may be a chat message: one of the codes above */
int ngx_http_securechat_text_check(const unsigned char *text, size_t len);


#endif /* _NGX_HTTP_SECURECHAT_UTF8_H_INCLUDED_ */
