
/*
 * Rooms: names, direct room names, and the permission rules (see the
 * header).  The rules are one function rather than a table because most
 * depend on how the actor's role compares with the target's.
 */


#include <string.h>

#include <openssl/evp.h>

#include "ngx_http_securechat_room.h"


#define NGX_HTTP_SECURECHAT_ROOM_DIRECT_TAG  "securechat direct v1"
#define NGX_HTTP_SECURECHAT_ROOM_PREFIX_LEN  \
    (sizeof(NGX_HTTP_SECURECHAT_ROOM_DIRECT_PREFIX) - 1)


static ngx_http_securechat_room_rc_e ngx_http_securechat_room_may_member(
    ngx_http_securechat_room_act_e act,
    const ngx_http_securechat_room_ask_t *ask);
static ngx_http_securechat_room_rc_e ngx_http_securechat_room_may_moderate(
    ngx_http_securechat_room_act_e act,
    const ngx_http_securechat_room_ask_t *ask);
static ngx_http_securechat_room_rc_e ngx_http_securechat_room_may_own(
    ngx_http_securechat_room_act_e act,
    const ngx_http_securechat_room_ask_t *ask);
static int ngx_http_securechat_room_word(const unsigned char *s, size_t len,
    const char *const *words, int n);


static const char *const  ngx_http_securechat_room_kinds[] = {
    "public", "private", "direct"
};

static const char *const  ngx_http_securechat_room_roles[] = {
    "none", "member", "moderator", "owner"
};

static const char *const  ngx_http_securechat_room_codes[] = {
    "ok", "not_member", "banned", "muted", "not_allowed", "already_member"
};

/* in the order of ngx_http_securechat_room_event_e */
static const char *const  ngx_http_securechat_room_events[] = {
    "join", "leave", "removed", "banned", "unbanned", "muted", "unmuted",
    "role", "title", "transfer", "deleted"
};


int
ngx_http_securechat_room_path_split(const unsigned char *base,
    size_t base_len, const unsigned char *uri, size_t uri_len,
    ngx_http_securechat_room_path_t *path)
{
    const unsigned char  *p, *last, *start;

    memset(path, 0, sizeof(ngx_http_securechat_room_path_t));

    if (base_len && base[base_len - 1] == '/') {
        base_len--;
    }

    if (uri_len < base_len || memcmp(uri, base, base_len) != 0) {
        return -1;
    }

    p = uri + base_len;
    last = uri + uri_len;

    if (p == last || (*p == '/' && p + 1 == last)) {
        return 0;
    }

    if (*p++ != '/') {
        return -1;      /* "/api/roomsx" under "/api/rooms" */
    }

    for (start = p; p < last && *p != '/'; p++) { /* void */ }

    if (p == start) {
        return -1;
    }

    path->name = start;
    path->name_len = p - start;

    if (p == last) {
        return 0;
    }

    for (start = ++p; p < last && *p != '/'; p++) { /* void */ }

    if (p != last || p == start) {
        path->name = NULL;
        path->name_len = 0;
        return -1;
    }

    path->action = start;
    path->action_len = p - start;

    return 0;
}


int
ngx_http_securechat_room_name_ok(const unsigned char *name, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > NGX_HTTP_SECURECHAT_ROOM_NAME_MAX) {
        return 0;
    }

    /* a name is a path segment of the routes: "." and ".." are not kept */

    if (name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.'))) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = name[i];

        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '.' || c == '_' || c == '-')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


int
ngx_http_securechat_room_name_creatable(const unsigned char *name,
    size_t len)
{
    if (!ngx_http_securechat_room_name_ok(name, len)) {
        return 0;
    }

    /* the whole prefix is reserved, not only names of the direct shape */

    return !(len >= NGX_HTTP_SECURECHAT_ROOM_PREFIX_LEN
             && memcmp(name, NGX_HTTP_SECURECHAT_ROOM_DIRECT_PREFIX,
                       NGX_HTTP_SECURECHAT_ROOM_PREFIX_LEN) == 0);
}


int
ngx_http_securechat_room_name_direct(const unsigned char *name, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len != NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN
        || memcmp(name, NGX_HTTP_SECURECHAT_ROOM_DIRECT_PREFIX,
                  NGX_HTTP_SECURECHAT_ROOM_PREFIX_LEN) != 0)
    {
        return 0;
    }

    for (i = NGX_HTTP_SECURECHAT_ROOM_PREFIX_LEN; i < len; i++) {
        c = name[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


int
ngx_http_securechat_room_direct_name(const unsigned char *a, size_t a_len,
    const unsigned char *b, size_t b_len, unsigned char *out)
{
    int                   cmp, ok;
    size_t                i, n;
    unsigned char         zero, md[EVP_MAX_MD_SIZE];
    unsigned int          md_len;
    EVP_MD_CTX           *ctx;
    const unsigned char  *lo, *hi;
    size_t                lo_len, hi_len;

    static const char     hex[] = "0123456789abcdef";

    n = a_len < b_len ? a_len : b_len;
    cmp = memcmp(a, b, n);

    if (cmp == 0) {
        if (a_len == b_len) {
            return -1;
        }

        cmp = a_len < b_len ? -1 : 1;
    }

    if (cmp < 0) {
        lo = a; lo_len = a_len; hi = b; hi_len = b_len;

    } else {
        lo = b; lo_len = b_len; hi = a; hi_len = a_len;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    /* the zero bytes keep ("ab", "c") and ("a", "bc") apart */

    zero = 0;

    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)
         && EVP_DigestUpdate(ctx, NGX_HTTP_SECURECHAT_ROOM_DIRECT_TAG,
                             sizeof(NGX_HTTP_SECURECHAT_ROOM_DIRECT_TAG) - 1)
         && EVP_DigestUpdate(ctx, &zero, 1)
         && EVP_DigestUpdate(ctx, lo, lo_len)
         && EVP_DigestUpdate(ctx, &zero, 1)
         && EVP_DigestUpdate(ctx, hi, hi_len)
         && EVP_DigestFinal_ex(ctx, md, &md_len);

    EVP_MD_CTX_free(ctx);

    if (!ok) {
        return -1;
    }

    memcpy(out, NGX_HTTP_SECURECHAT_ROOM_DIRECT_PREFIX,
           NGX_HTTP_SECURECHAT_ROOM_PREFIX_LEN);

    n = (NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN
         - NGX_HTTP_SECURECHAT_ROOM_PREFIX_LEN) / 2;

    for (i = 0; i < n; i++) {
        out[NGX_HTTP_SECURECHAT_ROOM_PREFIX_LEN + 2 * i] = hex[md[i] >> 4];
        out[NGX_HTTP_SECURECHAT_ROOM_PREFIX_LEN + 2 * i + 1] = hex[md[i] & 15];
    }

    return 0;
}


int
ngx_http_securechat_room_kind_parse(const unsigned char *s, size_t len,
    ngx_http_securechat_room_kind_e *kind)
{
    int  i;

    i = ngx_http_securechat_room_word(s, len, ngx_http_securechat_room_kinds,
                                      3);
    if (i < 0) {
        return -1;
    }

    *kind = (ngx_http_securechat_room_kind_e) i;

    return 0;
}


const char *
ngx_http_securechat_room_kind_name(ngx_http_securechat_room_kind_e kind)
{
    return (unsigned) kind < 3 ? ngx_http_securechat_room_kinds[kind] : "?";
}


int
ngx_http_securechat_room_role_parse(const unsigned char *s, size_t len,
    ngx_http_securechat_room_role_e *role)
{
    int  i;

    i = ngx_http_securechat_room_word(s, len, ngx_http_securechat_room_roles,
                                      4);

    /* "none" is how a non-member is shown, not a role one can be given */

    if (i <= 0) {
        return -1;
    }

    *role = (ngx_http_securechat_room_role_e) i;

    return 0;
}


const char *
ngx_http_securechat_room_role_name(ngx_http_securechat_room_role_e role)
{
    return (unsigned) role < 4 ? ngx_http_securechat_room_roles[role] : "?";
}


int
ngx_http_securechat_room_act_event(ngx_http_securechat_room_act_e act,
    int undo)
{
    switch (act) {
    case NGX_HTTP_SECURECHAT_ACT_JOIN:
    case NGX_HTTP_SECURECHAT_ACT_INVITE:
        return NGX_HTTP_SECURECHAT_EVENT_JOIN;
    case NGX_HTTP_SECURECHAT_ACT_LEAVE:
        return NGX_HTTP_SECURECHAT_EVENT_LEAVE;
    case NGX_HTTP_SECURECHAT_ACT_REMOVE:
        return NGX_HTTP_SECURECHAT_EVENT_REMOVED;
    case NGX_HTTP_SECURECHAT_ACT_BAN:
        return undo ? NGX_HTTP_SECURECHAT_EVENT_UNBANNED
                    : NGX_HTTP_SECURECHAT_EVENT_BANNED;
    case NGX_HTTP_SECURECHAT_ACT_MUTE:
        return undo ? NGX_HTTP_SECURECHAT_EVENT_UNMUTED
                    : NGX_HTTP_SECURECHAT_EVENT_MUTED;
    case NGX_HTTP_SECURECHAT_ACT_SET_ROLE:
        return NGX_HTTP_SECURECHAT_EVENT_ROLE;
    case NGX_HTTP_SECURECHAT_ACT_RENAME:
        return NGX_HTTP_SECURECHAT_EVENT_TITLE;
    case NGX_HTTP_SECURECHAT_ACT_TRANSFER:
        return NGX_HTTP_SECURECHAT_EVENT_TRANSFER;
    case NGX_HTTP_SECURECHAT_ACT_DELETE:
        return NGX_HTTP_SECURECHAT_EVENT_DELETED;
    default:    /* READ and POST change nothing */
        return -1;
    }
}


const char *
ngx_http_securechat_room_event_name(ngx_http_securechat_room_event_e event)
{
    return (unsigned) event < NGX_HTTP_SECURECHAT_EVENT_COUNT
           ? ngx_http_securechat_room_events[event] : "?";
}


ngx_http_securechat_room_effect_e
ngx_http_securechat_room_event_effect(ngx_http_securechat_room_event_e event)
{
    switch (event) {
    case NGX_HTTP_SECURECHAT_EVENT_JOIN:
        return NGX_HTTP_SECURECHAT_EVENT_ENTERS;
    case NGX_HTTP_SECURECHAT_EVENT_LEAVE:
    case NGX_HTTP_SECURECHAT_EVENT_REMOVED:
    case NGX_HTTP_SECURECHAT_EVENT_BANNED:
        return NGX_HTTP_SECURECHAT_EVENT_EXITS;
    case NGX_HTTP_SECURECHAT_EVENT_DELETED:
        return NGX_HTTP_SECURECHAT_EVENT_ENDS;
    default:
        return NGX_HTTP_SECURECHAT_EVENT_KEEPS;
    }
}


const char *
ngx_http_securechat_room_rc_code(ngx_http_securechat_room_rc_e rc)
{
    return (unsigned) rc < NGX_HTTP_SECURECHAT_ROOM_ERR_COUNT
           ? ngx_http_securechat_room_codes[rc] : "not_allowed";
}


/*
 * The rules, in the order they are checked: a ban refuses everything; a
 * non-member may only join a public room; members read, post unless
 * muted, leave (not the owner, who transfers or deletes first), and invite
 * to a public room; moderators remove, ban and mute members below them
 * and invite to a private room; the owner sets roles, renames, transfers
 * and deletes.  A direct room has two members and no moderation: they
 * read and post, nothing else.  A private room's existence is not shown to
 * non-members: the caller answers "no such room" where this says
 * not_member.
 */

ngx_http_securechat_room_rc_e
ngx_http_securechat_room_may(ngx_http_securechat_room_act_e act,
    const ngx_http_securechat_room_ask_t *ask)
{
    if (ask->actor_banned) {
        return NGX_HTTP_SECURECHAT_ROOM_BANNED;
    }

    if (act == NGX_HTTP_SECURECHAT_ACT_JOIN) {

        if (ask->actor != NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE) {
            return NGX_HTTP_SECURECHAT_ROOM_ALREADY_MEMBER;
        }

        return ask->kind == NGX_HTTP_SECURECHAT_ROOM_PUBLIC
               ? NGX_HTTP_SECURECHAT_ROOM_OK
               : NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED;
    }

    if (ask->actor == NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE) {
        return NGX_HTTP_SECURECHAT_ROOM_NOT_MEMBER;
    }

    if (act == NGX_HTTP_SECURECHAT_ACT_READ
        || act == NGX_HTTP_SECURECHAT_ACT_POST)
    {
        return (act == NGX_HTTP_SECURECHAT_ACT_POST && ask->actor_muted)
               ? NGX_HTTP_SECURECHAT_ROOM_MUTED
               : NGX_HTTP_SECURECHAT_ROOM_OK;
    }

    if (ask->kind == NGX_HTTP_SECURECHAT_ROOM_DIRECT) {
        return NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED;
    }

    switch (act) {

    case NGX_HTTP_SECURECHAT_ACT_LEAVE:
    case NGX_HTTP_SECURECHAT_ACT_INVITE:
        return ngx_http_securechat_room_may_member(act, ask);

    case NGX_HTTP_SECURECHAT_ACT_REMOVE:
    case NGX_HTTP_SECURECHAT_ACT_BAN:
    case NGX_HTTP_SECURECHAT_ACT_MUTE:
        return ngx_http_securechat_room_may_moderate(act, ask);

    case NGX_HTTP_SECURECHAT_ACT_SET_ROLE:
    case NGX_HTTP_SECURECHAT_ACT_RENAME:
    case NGX_HTTP_SECURECHAT_ACT_TRANSFER:
    case NGX_HTTP_SECURECHAT_ACT_DELETE:
        return ngx_http_securechat_room_may_own(act, ask);

    default:
        return NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED;
    }
}


static ngx_http_securechat_room_rc_e
ngx_http_securechat_room_may_member(ngx_http_securechat_room_act_e act,
    const ngx_http_securechat_room_ask_t *ask)
{
    if (act == NGX_HTTP_SECURECHAT_ACT_LEAVE) {
        return ask->actor == NGX_HTTP_SECURECHAT_ROOM_ROLE_OWNER
               ? NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED
               : NGX_HTTP_SECURECHAT_ROOM_OK;
    }

    /* INVITE */

    if (ask->kind == NGX_HTTP_SECURECHAT_ROOM_PRIVATE
        && ask->actor < NGX_HTTP_SECURECHAT_ROOM_ROLE_MODERATOR)
    {
        return NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED;
    }

    if (ask->target != NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE) {
        return NGX_HTTP_SECURECHAT_ROOM_ALREADY_MEMBER;
    }

    /* a banned user comes back only through an unban, by a moderator */

    return ask->target_banned ? NGX_HTTP_SECURECHAT_ROOM_BANNED
                              : NGX_HTTP_SECURECHAT_ROOM_OK;
}


static ngx_http_securechat_room_rc_e
ngx_http_securechat_room_may_moderate(ngx_http_securechat_room_act_e act,
    const ngx_http_securechat_room_ask_t *ask)
{
    if (ask->actor < NGX_HTTP_SECURECHAT_ROOM_ROLE_MODERATOR || ask->self) {
        return NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED;
    }

    /* a ban (or unban) may name a non-member: it keeps them out */

    if (act != NGX_HTTP_SECURECHAT_ACT_BAN
        && ask->target == NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE)
    {
        return NGX_HTTP_SECURECHAT_ROOM_NOT_MEMBER;
    }

    /* only over those below: moderators do not moderate each other */

    return ask->target < ask->actor ? NGX_HTTP_SECURECHAT_ROOM_OK
                                    : NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED;
}


static ngx_http_securechat_room_rc_e
ngx_http_securechat_room_may_own(ngx_http_securechat_room_act_e act,
    const ngx_http_securechat_room_ask_t *ask)
{
    if (ask->actor != NGX_HTTP_SECURECHAT_ROOM_ROLE_OWNER) {
        return NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED;
    }

    switch (act) {

    case NGX_HTTP_SECURECHAT_ACT_RENAME:
        return NGX_HTTP_SECURECHAT_ROOM_OK;

    case NGX_HTTP_SECURECHAT_ACT_DELETE:
        return ask->general ? NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED
                            : NGX_HTTP_SECURECHAT_ROOM_OK;

    default:   /* SET_ROLE, TRANSFER: on another member */
        break;
    }

    if (ask->self) {
        return NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED;
    }

    if (ask->target == NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE) {
        return NGX_HTTP_SECURECHAT_ROOM_NOT_MEMBER;
    }

    /* ownership moves only by a transfer, so there is always one owner */

    if (act == NGX_HTTP_SECURECHAT_ACT_SET_ROLE
        && ask->new_role != NGX_HTTP_SECURECHAT_ROOM_ROLE_MEMBER
        && ask->new_role != NGX_HTTP_SECURECHAT_ROOM_ROLE_MODERATOR)
    {
        return NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED;
    }

    return NGX_HTTP_SECURECHAT_ROOM_OK;
}


int
ngx_http_securechat_room_resume_next(const unsigned char *s, size_t len,
    size_t *pos, const unsigned char **room, size_t *room_len,
    unsigned long long *id)
{
    size_t              i, start, colon, digits;
    unsigned long long  n;

    start = *pos;

    if (start >= len) {
        return (len == 0) ? -1 : 0;
    }

    for (i = start; i < len && s[i] != ':' && s[i] != ','; i++) {
        /* the room */
    }

    if (i == len || s[i] != ':') {
        return -1;
    }

    colon = i;

    if (!(colon - start == 1 && s[start] == '*')
        && !ngx_http_securechat_room_name_ok(s + start, colon - start))
    {
        return -1;
    }

    n = 0;
    digits = 0;

    for (i = colon + 1; i < len && s[i] != ','; i++) {
        if (s[i] < '0' || s[i] > '9' || ++digits > 16) {
            return -1;
        }

        n = n * 10 + (unsigned long long) (s[i] - '0');
    }

    if (digits == 0 || n > NGX_HTTP_SECURECHAT_ROOM_ID_MAX) {
        return -1;
    }

    if (i < len) {
        i++;    /* the comma */

        if (i == len) {
            return -1;  /* a pair left out */
        }
    }

    *room = s + start;
    *room_len = colon - start;
    *id = n;
    *pos = i;

    return 1;
}


static int
ngx_http_securechat_room_word(const unsigned char *s, size_t len,
    const char *const *words, int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (strlen(words[i]) == len && memcmp(words[i], s, len) == 0) {
            return i;
        }
    }

    return -1;
}
