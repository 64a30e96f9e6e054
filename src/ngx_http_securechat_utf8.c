
/*
 * Incremental UTF-8 validator: see ngx_http_securechat_utf8.h.
 */


#include "ngx_http_securechat_utf8.h"


void
ngx_http_securechat_utf8_init(ngx_http_securechat_utf8_t *u)
{
    u->need = 0;
    u->lo = 0x80;
    u->hi = 0xbf;
    u->invalid = 0;
}


int
ngx_http_securechat_utf8_feed(ngx_http_securechat_utf8_t *u,
    const unsigned char *buf, size_t len, size_t *bad)
{
    size_t         i;
    unsigned char  c;

    if (u->invalid) {
        if (bad != NULL) {
            *bad = 0;
        }

        return NGX_HTTP_SECURECHAT_UTF8_INVALID;
    }

    for (i = 0; i < len; i++) {
        c = buf[i];

        if (u->need) {
            if (c < u->lo || c > u->hi) {
                goto invalid;
            }

            /* only the second byte of a sequence has a narrower range */
            u->lo = 0x80;
            u->hi = 0xbf;
            u->need--;
            continue;
        }

        if (c < 0x80) {
            continue;
        }

        /* 0x80-0xbf: stray continuation; 0xc0, 0xc1: always overlong */

        if (c < 0xc2) {
            goto invalid;
        }

        if (c < 0xe0) {
            u->need = 1;
            continue;
        }

        if (c < 0xf0) {
            u->need = 2;

            if (c == 0xe0) {
                u->lo = 0xa0;             /* below U+0800 is overlong */

            } else if (c == 0xed) {
                u->hi = 0x9f;             /* U+D800-U+DFFF are surrogates */
            }

            continue;
        }

        if (c < 0xf5) {
            u->need = 3;

            if (c == 0xf0) {
                u->lo = 0x90;             /* below U+10000 is overlong */

            } else if (c == 0xf4) {
                u->hi = 0x8f;             /* above U+10FFFF */
            }

            continue;
        }

        /* 0xf5-0xff: beyond U+10FFFF, or the old 5- and 6-byte forms */

        goto invalid;
    }

    return NGX_HTTP_SECURECHAT_UTF8_OK;

invalid:

    u->invalid = 1;

    if (bad != NULL) {
        *bad = i;
    }

    return NGX_HTTP_SECURECHAT_UTF8_INVALID;
}


int
ngx_http_securechat_utf8_finish(const ngx_http_securechat_utf8_t *u)
{
    if (u->invalid || u->need) {
        return NGX_HTTP_SECURECHAT_UTF8_INVALID;
    }

    return NGX_HTTP_SECURECHAT_UTF8_OK;
}


int
ngx_http_securechat_utf8_valid(const unsigned char *buf, size_t len)
{
    ngx_http_securechat_utf8_t  u;

    ngx_http_securechat_utf8_init(&u);

    if (ngx_http_securechat_utf8_feed(&u, buf, len, NULL)
        != NGX_HTTP_SECURECHAT_UTF8_OK)
    {
        return NGX_HTTP_SECURECHAT_UTF8_INVALID;
    }

    return ngx_http_securechat_utf8_finish(&u);
}


/*
 * The rule for a chat message's text, wherever it comes from: valid
 * UTF-8, no control characters but tab and newline, not blank.
 */

int
ngx_http_securechat_text_check(const unsigned char *text, size_t len)
{
    int                   blank;
    const unsigned char  *p, *last;

    if (ngx_http_securechat_utf8_valid(text, len)
        != NGX_HTTP_SECURECHAT_UTF8_OK)
    {
        return NGX_HTTP_SECURECHAT_TEXT_BAD_UTF8;
    }

    blank = 1;
    last = text + len;

    for (p = text; p < last; p++) {
        if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f) {
            return NGX_HTTP_SECURECHAT_TEXT_CONTROL;
        }

        if (*p != ' ' && *p != '\t' && *p != '\n') {
            blank = 0;
        }
    }

    return blank ? NGX_HTTP_SECURECHAT_TEXT_BLANK : NGX_HTTP_SECURECHAT_TEXT_OK;
}
