
/*
 * libFuzzer target: the room name checks and the direct room name of two
 * user names split from the input.  Checks the promises of the header: a
 * valid name is exactly the allowed bytes, a creatable one is valid and not
 * reserved, a direct name is the same for either order, of the direct
 * shape, valid and never creatable.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_securechat_room.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_room_name_ok(const uint8_t *s, size_t len);
static void fuzz_room_path(const uint8_t *data, size_t size);
static void fuzz_room_resume(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t         split;
    unsigned char  ab[NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN];
    unsigned char  ba[NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN];

    if (ngx_http_securechat_room_name_ok(data, size)
        != fuzz_room_name_ok(data, size))
    {
        abort();
    }

    if (ngx_http_securechat_room_name_creatable(data, size)
        && (!fuzz_room_name_ok(data, size)
            || ngx_http_securechat_room_name_direct(data, size)))
    {
        abort();
    }

    if (size == 0) {
        return 0;
    }

    fuzz_room_path(data, size);
    fuzz_room_resume(data, size);

    /* first byte: where the two names split */

    split = data[0] % size;
    data++;
    size--;

    if (split > size) {
        split = size;
    }

    if (ngx_http_securechat_room_direct_name(data, split, data + split,
                                             size - split, ab)
        != 0)
    {
        if (split != size - split || memcmp(data, data + split, split) != 0) {
            abort();    /* refused two different names */
        }

        return 0;
    }

    if (ngx_http_securechat_room_direct_name(data + split, size - split,
                                             data, split, ba)
        != 0
        || memcmp(ab, ba, sizeof(ab)) != 0
        || !ngx_http_securechat_room_name_direct(ab, sizeof(ab))
        || !ngx_http_securechat_room_name_ok(ab, sizeof(ab))
        || ngx_http_securechat_room_name_creatable(ab, sizeof(ab)))
    {
        abort();
    }

    return 0;
}


static int
fuzz_room_name_ok(const uint8_t *s, size_t len)
{
    size_t  i;

    if (len < 1 || len > 64) {
        return 0;
    }

    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", s[i]) == NULL
            || s[i] == '\0')
        {
            return 0;
        }
    }

    return 1;
}


/*
 * The first byte says how much of the rest is the location's name; a
 * split's segments must be non-empty, inside the URI, after the base,
 * and hold no "/".
 */

static void
fuzz_room_path(const uint8_t *data, size_t size)
{
    size_t                           base_len, n;
    const uint8_t                   *uri;
    ngx_http_securechat_room_path_t  path;

    base_len = data[0] % size;
    uri = data + 1;
    n = size - 1;

    if (base_len > n) {
        base_len = n;
    }

    if (ngx_http_securechat_room_path_split(uri, base_len, uri, n, &path)
        != 0)
    {
        if (path.name != NULL || path.action != NULL) {
            abort();
        }

        return;
    }

    if ((path.name != NULL
         && (path.name_len == 0 || path.name < uri + (base_len ? base_len - 1 : 0)
             || path.name + path.name_len > uri + n
             || memchr(path.name, '/', path.name_len) != NULL))
        || (path.action != NULL
            && (path.name == NULL || path.action_len == 0
                || path.action + path.action_len != uri + n
                || memchr(path.action, '/', path.action_len) != NULL)))
    {
        abort();
    }
}


/*
 * A resume list: each pair a valid room or "*" and an id in range, the
 * position moving forward to the end, and the list refused or read whole.
 */

static void
fuzz_room_resume(const uint8_t *data, size_t size)
{
    int                   rc;
    size_t                pos, before, len;
    unsigned long long    id;
    const unsigned char  *room;

    pos = 0;

    for ( ;; ) {
        before = pos;

        rc = ngx_http_securechat_room_resume_next(data, size, &pos, &room,
                                                  &len, &id);
        if (rc != 1) {
            if (rc == 0 && pos != size) {
                abort();
            }

            return;
        }

        if (pos <= before || pos > size
            || room != data + before
            || !((len == 1 && room[0] == '*') || fuzz_room_name_ok(room, len))
            || id > NGX_HTTP_SECURECHAT_ROOM_ID_MAX)
        {
            abort();
        }
    }
}
