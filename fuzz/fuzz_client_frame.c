
/*
 * libFuzzer target: ngx_http_securechat_client_frame_open() on arbitrary
 * frames for a fixed connection (SK = 00 01 .. 1f, id "fuzz-conn", no frame
 * accepted yet); a frame that opens names a valid room.  Then a round trip:
 * the input as a text, sealed as frame 1 for "general", must open to the
 * same text and room, must not open twice, and must not open once any
 * single byte of the frame is changed.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_room.h"


#define FUZZ_TEXT_MAX  4096
#define FUZZ_CONN      "fuzz-conn"
#define FUZZ_ROOM      "general"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_client_frame_session(ngx_http_securechat_channel_t *s);
static ngx_http_securechat_chat_rc_e fuzz_client_frame_open(
    ngx_http_securechat_channel_t *s, const uint8_t *frame, size_t len,
    unsigned char *text, size_t *text_len);


static unsigned char  fuzz_frame[2 * FUZZ_TEXT_MAX + 256];
static unsigned char  fuzz_text[FUZZ_TEXT_MAX];
static unsigned char  fuzz_room[NGX_HTTP_SECURECHAT_ROOM_NAME_MAX];
static size_t         fuzz_room_len;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                          text_len, len, pos;
    unsigned char                   iv[NGX_HTTP_SECURECHAT_IV_LEN];
    ngx_http_securechat_channel_t   s, before;
    ngx_http_securechat_chat_rc_e   rc;

    fuzz_client_frame_session(&s);
    before = s;

    rc = fuzz_client_frame_open(&s, data, size, fuzz_text, &text_len);

    if (rc == NGX_HTTP_SECURECHAT_CHAT_OK) {
        if (s.last_counter != 1 || text_len > FUZZ_TEXT_MAX) {
            abort();
        }

        /* the same frame again is a replay */
        if (fuzz_client_frame_open(&s, data, size, fuzz_text, &text_len)
            != NGX_HTTP_SECURECHAT_CHAT_BAD_COUNTER)
        {
            abort();
        }

    } else if (memcmp(&s, &before, sizeof(s)) != 0) {
        abort();
    }

    /* round trip of the input as a text */

    if (size > FUZZ_TEXT_MAX) {
        return 0;
    }

    memset(iv, size & 0xff, sizeof(iv));
    fuzz_client_frame_session(&s);

    if (ngx_http_securechat_client_frame_seal(s.chat_key,
            (const unsigned char *) FUZZ_CONN, sizeof(FUZZ_CONN) - 1,
            (const unsigned char *) FUZZ_ROOM, sizeof(FUZZ_ROOM) - 1, 1, iv,
            data, size, fuzz_frame, sizeof(fuzz_frame), &len)
        != NGX_HTTP_SECURECHAT_ENV_OK)
    {
        abort();
    }

    /* one byte changed, chosen by the input: never accepted */

    pos = size ? (data[0] | (size_t) data[size - 1] << 8) % len : 0;
    fuzz_frame[pos] ^= size ? (data[size / 2] | 1) : 1;

    if (fuzz_client_frame_open(&s, fuzz_frame, len, fuzz_text, &text_len)
        == NGX_HTTP_SECURECHAT_CHAT_OK)
    {
        abort();
    }

    fuzz_frame[pos] ^= size ? (data[size / 2] | 1) : 1;

    if (fuzz_client_frame_open(&s, fuzz_frame, len, fuzz_text, &text_len)
        != NGX_HTTP_SECURECHAT_CHAT_OK
        || text_len != size || memcmp(fuzz_text, data, size) != 0
        || fuzz_room_len != sizeof(FUZZ_ROOM) - 1
        || memcmp(fuzz_room, FUZZ_ROOM, fuzz_room_len) != 0)
    {
        abort();
    }

    return 0;
}


static void
fuzz_client_frame_session(ngx_http_securechat_channel_t *s)
{
    int            i;
    unsigned char  sk[NGX_HTTP_SECURECHAT_SK_LEN];

    for (i = 0; i < NGX_HTTP_SECURECHAT_SK_LEN; i++) {
        sk[i] = (unsigned char) i;
    }

    if (ngx_http_securechat_session_derive(sk, s) != 0) {
        abort();
    }
}


static ngx_http_securechat_chat_rc_e
fuzz_client_frame_open(ngx_http_securechat_channel_t *s, const uint8_t *frame,
    size_t len, unsigned char *text, size_t *text_len)
{
    ngx_http_securechat_chat_rc_e  rc;

    rc = ngx_http_securechat_client_frame_open(s,
             (const unsigned char *) FUZZ_CONN, sizeof(FUZZ_CONN) - 1,
             frame, len, fuzz_room, &fuzz_room_len, text, FUZZ_TEXT_MAX,
             text_len);

    if (rc < NGX_HTTP_SECURECHAT_CHAT_OK
        || rc > NGX_HTTP_SECURECHAT_CHAT_ERROR
        || rc == NGX_HTTP_SECURECHAT_CHAT_ERROR)
    {
        abort();
    }

    /* an opened frame names a valid room, whatever the input */

    if (rc == NGX_HTTP_SECURECHAT_CHAT_OK
        && !ngx_http_securechat_room_name_ok(fuzz_room, fuzz_room_len))
    {
        abort();
    }

    return rc;
}
