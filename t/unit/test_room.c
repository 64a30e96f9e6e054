
/*
 * Unit tests for src/ngx_http_securechat_room.c: room names, direct room
 * names (against reference values computed with sha256sum) and the
 * permission rules, act by act.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_securechat_room.h"


#define U(s)  (const unsigned char *) (s), strlen(s)

#define OK           NGX_HTTP_SECURECHAT_ROOM_OK
#define NOT_MEMBER   NGX_HTTP_SECURECHAT_ROOM_NOT_MEMBER
#define BANNED       NGX_HTTP_SECURECHAT_ROOM_BANNED
#define MUTED        NGX_HTTP_SECURECHAT_ROOM_MUTED
#define NOT_ALLOWED  NGX_HTTP_SECURECHAT_ROOM_NOT_ALLOWED
#define ALREADY      NGX_HTTP_SECURECHAT_ROOM_ALREADY_MEMBER

#define PUBLIC       NGX_HTTP_SECURECHAT_ROOM_PUBLIC
#define PRIVATE      NGX_HTTP_SECURECHAT_ROOM_PRIVATE
#define DIRECT       NGX_HTTP_SECURECHAT_ROOM_DIRECT

#define NONE         NGX_HTTP_SECURECHAT_ROOM_ROLE_NONE
#define MEMBER       NGX_HTTP_SECURECHAT_ROOM_ROLE_MEMBER
#define MODERATOR    NGX_HTTP_SECURECHAT_ROOM_ROLE_MODERATOR
#define OWNER        NGX_HTTP_SECURECHAT_ROOM_ROLE_OWNER


static ngx_http_securechat_room_ask_t t_ask(
    ngx_http_securechat_room_kind_e kind,
    ngx_http_securechat_room_role_e actor,
    ngx_http_securechat_room_role_e target);
static ngx_http_securechat_room_rc_e t_may(ngx_http_securechat_room_act_e act,
    ngx_http_securechat_room_kind_e kind,
    ngx_http_securechat_room_role_e actor,
    ngx_http_securechat_room_role_e target);

static void test_name_ok(void **state);
static void test_name_every_byte(void **state);
static void test_name_creatable(void **state);
static void test_direct_name_reference(void **state);
static void test_direct_name_symmetric_and_distinct(void **state);
static void test_direct_name_same_user(void **state);
static void test_kind_and_role_words(void **state);
static void test_may_banned(void **state);
static void test_may_join(void **state);
static void test_may_read_post(void **state);
static void test_may_leave(void **state);
static void test_may_invite(void **state);
static void test_may_moderate(void **state);
static void test_may_own(void **state);
static void test_may_direct(void **state);
static void test_rc_codes(void **state);
static void test_path_split(void **state);


static ngx_http_securechat_room_ask_t
t_ask(ngx_http_securechat_room_kind_e kind,
    ngx_http_securechat_room_role_e actor,
    ngx_http_securechat_room_role_e target)
{
    ngx_http_securechat_room_ask_t  ask;

    memset(&ask, 0, sizeof(ask));
    ask.kind = kind;
    ask.actor = actor;
    ask.target = target;
    ask.new_role = MODERATOR;

    return ask;
}


static ngx_http_securechat_room_rc_e
t_may(ngx_http_securechat_room_act_e act,
    ngx_http_securechat_room_kind_e kind,
    ngx_http_securechat_room_role_e actor,
    ngx_http_securechat_room_role_e target)
{
    ngx_http_securechat_room_ask_t  ask;

    ask = t_ask(kind, actor, target);

    return ngx_http_securechat_room_may(act, &ask);
}


static void
test_name_ok(void **state)
{
    char  long_name[66];

    (void) state;

    assert_true(ngx_http_securechat_room_name_ok(U("general")));
    assert_true(ngx_http_securechat_room_name_ok(U("a")));
    assert_true(ngx_http_securechat_room_name_ok(U("ops.team_2-x")));
    assert_false(ngx_http_securechat_room_name_ok(U("")));
    assert_false(ngx_http_securechat_room_name_ok(U("General")));
    assert_false(ngx_http_securechat_room_name_ok(U("a b")));
    assert_false(ngx_http_securechat_room_name_ok(U("a/b")));
    assert_false(ngx_http_securechat_room_name_ok(U(".")));
    assert_false(ngx_http_securechat_room_name_ok(U("..")));
    assert_true(ngx_http_securechat_room_name_ok(U("...")));
    assert_true(ngx_http_securechat_room_name_ok(U(".a")));
    assert_false(ngx_http_securechat_room_name_ok(
                     (const unsigned char *) "a\0b", 3));

    memset(long_name, 'x', sizeof(long_name));
    assert_true(ngx_http_securechat_room_name_ok(
                    (const unsigned char *) long_name, 64));
    assert_false(ngx_http_securechat_room_name_ok(
                     (const unsigned char *) long_name, 65));
}


static void
test_name_every_byte(void **state)
{
    int            want;
    unsigned int   c;
    unsigned char  b, two[2];

    (void) state;

    /* each byte after an "a", and alone (where "." is a path segment) */

    for (c = 0; c < 256; c++) {
        b = (unsigned char) c;
        want = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
               || c == '.' || c == '_' || c == '-';

        two[0] = 'a';
        two[1] = b;
        assert_int_equal(ngx_http_securechat_room_name_ok(two, 2), want);
        assert_int_equal(ngx_http_securechat_room_name_ok(&b, 1),
                         want && c != '.');
    }
}


static void
test_name_creatable(void **state)
{
    (void) state;

    assert_true(ngx_http_securechat_room_name_creatable(U("general2")));
    assert_true(ngx_http_securechat_room_name_creatable(U("dm")));
    assert_true(ngx_http_securechat_room_name_creatable(U("d-m")));
    assert_false(ngx_http_securechat_room_name_creatable(U("dm-")));
    assert_false(ngx_http_securechat_room_name_creatable(U("dm-x")));
    assert_false(ngx_http_securechat_room_name_creatable(U("Bad")));
}


static void
test_direct_name_reference(void **state)
{
    unsigned char  out[NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN];

    (void) state;

    /* printf 'securechat direct v1\0alice\0bob' | sha256sum | cut -c1-40 */

    assert_int_equal(ngx_http_securechat_room_direct_name(U("alice"),
                                                          U("bob"), out), 0);
    assert_memory_equal(out, "dm-ed4143be43fb5b5a9cbb52b4eb6dc8efbd850a5e",
                        sizeof(out));
    assert_true(ngx_http_securechat_room_name_direct(out, sizeof(out)));
    assert_true(ngx_http_securechat_room_name_ok(out, sizeof(out)));
    assert_false(ngx_http_securechat_room_name_creatable(out, sizeof(out)));

    /* byte order: "Bob" < "alice" */

    assert_int_equal(ngx_http_securechat_room_direct_name(U("alice"),
                                                          U("Bob"), out), 0);
    assert_memory_equal(out, "dm-c38a219c25ca332c66919d5c3b02020f7d749cd5",
                        sizeof(out));
}


static void
test_direct_name_symmetric_and_distinct(void **state)
{
    unsigned char  ab[NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN];
    unsigned char  ba[NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN];
    unsigned char  x[NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN];

    (void) state;

    assert_int_equal(ngx_http_securechat_room_direct_name(U("carol"),
                                                          U("dave"), ab), 0);
    assert_int_equal(ngx_http_securechat_room_direct_name(U("dave"),
                                                          U("carol"), ba), 0);
    assert_memory_equal(ab, ba, sizeof(ab));

    /* a prefix of the other name, and the split between the two */

    assert_int_equal(ngx_http_securechat_room_direct_name(U("ab"), U("c"), ab),
                     0);
    assert_int_equal(ngx_http_securechat_room_direct_name(U("a"), U("bc"), x),
                     0);
    assert_memory_not_equal(ab, x, sizeof(ab));

    assert_int_equal(ngx_http_securechat_room_direct_name(U("a"), U("ab"), ab),
                     0);
    assert_int_equal(ngx_http_securechat_room_direct_name(U("ab"), U("a"), ba),
                     0);
    assert_memory_equal(ab, ba, sizeof(ab));
}


static void
test_direct_name_same_user(void **state)
{
    unsigned char  out[NGX_HTTP_SECURECHAT_ROOM_DIRECT_LEN];

    (void) state;

    assert_int_equal(ngx_http_securechat_room_direct_name(U("alice"),
                                                          U("alice"), out),
                     -1);

    assert_false(ngx_http_securechat_room_name_direct(U("dm-abc")));
    assert_false(ngx_http_securechat_room_name_direct(
                     U("dm-ED4143be43fb5b5a9cbb52b4eb6dc8efbd850a5e")));
    assert_false(ngx_http_securechat_room_name_direct(
                     U("xx-ed4143be43fb5b5a9cbb52b4eb6dc8efbd850a5e")));
}


static void
test_kind_and_role_words(void **state)
{
    ngx_http_securechat_room_kind_e  kind;
    ngx_http_securechat_room_role_e  role;

    (void) state;

    assert_int_equal(ngx_http_securechat_room_kind_parse(U("private"), &kind),
                     0);
    assert_int_equal(kind, PRIVATE);
    assert_string_equal(ngx_http_securechat_room_kind_name(kind), "private");
    assert_int_equal(ngx_http_securechat_room_kind_parse(U("Public"), &kind),
                     -1);
    assert_int_equal(ngx_http_securechat_room_kind_parse(U("pub"), &kind),
                     -1);

    assert_int_equal(ngx_http_securechat_room_role_parse(U("moderator"),
                                                         &role), 0);
    assert_int_equal(role, MODERATOR);
    assert_string_equal(ngx_http_securechat_room_role_name(OWNER), "owner");
    assert_int_equal(ngx_http_securechat_room_role_parse(U("none"), &role),
                     -1);
    assert_int_equal(ngx_http_securechat_room_role_parse(U(""), &role), -1);
}


/* "general:12,*:0": each pair, and every malformed list refused */

static void
test_resume_list(void **state)
{
    size_t                pos, len;
    unsigned long long    id;
    const unsigned char  *room;
    const char           *ok = "general:12,*:0,dm-a.b_c:9007199254740991";
    const char           *bad[] = {
        "", ",", "general", "general:", ":1", "general:1,", "general:1,,x:2",
        "General:1", "general:-1", "general:1x", "general:+1", "**:1",
        "general:9007199254740992", "general:00000000000000001",
        "a/b:1", "general:1:2", " general:1"
    };
    size_t                i;
    int                   rc;

    (void) state;

    pos = 0;
    assert_int_equal(ngx_http_securechat_room_resume_next(U(ok), &pos, &room,
                                                          &len, &id), 1);
    assert_int_equal(len, 7);
    assert_memory_equal(room, "general", 7);
    assert_true(id == 12);

    assert_int_equal(ngx_http_securechat_room_resume_next(U(ok), &pos, &room,
                                                          &len, &id), 1);
    assert_int_equal(len, 1);
    assert_memory_equal(room, "*", 1);
    assert_true(id == 0);

    assert_int_equal(ngx_http_securechat_room_resume_next(U(ok), &pos, &room,
                                                          &len, &id), 1);
    assert_int_equal(len, 8);
    assert_true(id == 9007199254740991ULL);

    assert_int_equal(ngx_http_securechat_room_resume_next(U(ok), &pos, &room,
                                                          &len, &id), 0);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pos = 0;

        do {
            rc = ngx_http_securechat_room_resume_next(
                     (const unsigned char *) bad[i], strlen(bad[i]), &pos,
                     &room, &len, &id);
        } while (rc == 1);

        if (rc != -1) {
            fail_msg("\"%s\" was not refused", bad[i]);
        }
    }
}


/* each act that changes something has its event, and each event its effect */

static void
test_events(void **state)
{
    int  act, e;

    (void) state;

    assert_int_equal(ngx_http_securechat_room_act_event(
                         NGX_HTTP_SECURECHAT_ACT_INVITE, 0),
                     NGX_HTTP_SECURECHAT_EVENT_JOIN);
    assert_int_equal(ngx_http_securechat_room_act_event(
                         NGX_HTTP_SECURECHAT_ACT_BAN, 1),
                     NGX_HTTP_SECURECHAT_EVENT_UNBANNED);
    assert_int_equal(ngx_http_securechat_room_act_event(
                         NGX_HTTP_SECURECHAT_ACT_MUTE, 0),
                     NGX_HTTP_SECURECHAT_EVENT_MUTED);
    assert_int_equal(ngx_http_securechat_room_act_event(
                         NGX_HTTP_SECURECHAT_ACT_POST, 0), -1);
    assert_int_equal(ngx_http_securechat_room_act_event(
                         NGX_HTTP_SECURECHAT_ACT_READ, 0), -1);

    for (act = NGX_HTTP_SECURECHAT_ACT_JOIN;
         act < NGX_HTTP_SECURECHAT_ACT_COUNT; act++)
    {
        e = ngx_http_securechat_room_act_event(act, 0);
        assert_true(e >= 0 && e < NGX_HTTP_SECURECHAT_EVENT_COUNT);
        assert_string_not_equal(ngx_http_securechat_room_event_name(e), "?");
    }

    assert_string_equal(ngx_http_securechat_room_event_name(
                            NGX_HTTP_SECURECHAT_EVENT_REMOVED), "removed");
    assert_string_equal(ngx_http_securechat_room_event_name(
                            NGX_HTTP_SECURECHAT_EVENT_DELETED), "deleted");
    assert_string_equal(ngx_http_securechat_room_event_name(
                            NGX_HTTP_SECURECHAT_EVENT_COUNT), "?");

    assert_int_equal(ngx_http_securechat_room_event_effect(
                         NGX_HTTP_SECURECHAT_EVENT_JOIN),
                     NGX_HTTP_SECURECHAT_EVENT_ENTERS);
    assert_int_equal(ngx_http_securechat_room_event_effect(
                         NGX_HTTP_SECURECHAT_EVENT_BANNED),
                     NGX_HTTP_SECURECHAT_EVENT_EXITS);
    assert_int_equal(ngx_http_securechat_room_event_effect(
                         NGX_HTTP_SECURECHAT_EVENT_UNBANNED),
                     NGX_HTTP_SECURECHAT_EVENT_KEEPS);
    assert_int_equal(ngx_http_securechat_room_event_effect(
                         NGX_HTTP_SECURECHAT_EVENT_DELETED),
                     NGX_HTTP_SECURECHAT_EVENT_ENDS);
}


static void
test_may_banned(void **state)
{
    int                             act;
    ngx_http_securechat_room_ask_t  ask;

    (void) state;

    for (act = 0; act < NGX_HTTP_SECURECHAT_ACT_COUNT; act++) {
        ask = t_ask(PUBLIC, NONE, NONE);
        ask.actor_banned = 1;
        assert_int_equal(ngx_http_securechat_room_may(act, &ask), BANNED);
    }
}


static void
test_may_join(void **state)
{
    (void) state;

    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_JOIN, PUBLIC, NONE, NONE),
                     OK);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_JOIN, PRIVATE, NONE, NONE),
                     NOT_ALLOWED);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_JOIN, DIRECT, NONE, NONE),
                     NOT_ALLOWED);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_JOIN, PUBLIC, MEMBER,
                           NONE), ALREADY);
}


static void
test_may_read_post(void **state)
{
    int                             kind;
    ngx_http_securechat_room_ask_t  ask;

    (void) state;

    for (kind = PUBLIC; kind <= DIRECT; kind++) {
        assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_READ, kind, NONE,
                               NONE), NOT_MEMBER);
        assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_POST, kind, NONE,
                               NONE), NOT_MEMBER);
        assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_POST, kind, MEMBER,
                               NONE), OK);

        ask = t_ask(kind, MODERATOR, NONE);
        ask.actor_muted = 1;
        assert_int_equal(ngx_http_securechat_room_may(
                             NGX_HTTP_SECURECHAT_ACT_POST, &ask), MUTED);
        assert_int_equal(ngx_http_securechat_room_may(
                             NGX_HTTP_SECURECHAT_ACT_READ, &ask), OK);
    }
}


static void
test_may_leave(void **state)
{
    (void) state;

    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_LEAVE, PUBLIC, MEMBER,
                           NONE), OK);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_LEAVE, PRIVATE, MODERATOR,
                           NONE), OK);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_LEAVE, PUBLIC, OWNER,
                           NONE), NOT_ALLOWED);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_LEAVE, PUBLIC, NONE,
                           NONE), NOT_MEMBER);
}


static void
test_may_invite(void **state)
{
    ngx_http_securechat_room_ask_t  ask;

    (void) state;

    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_INVITE, PUBLIC, MEMBER,
                           NONE), OK);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_INVITE, PRIVATE, MEMBER,
                           NONE), NOT_ALLOWED);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_INVITE, PRIVATE,
                           MODERATOR, NONE), OK);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_INVITE, PRIVATE, OWNER,
                           MEMBER), ALREADY);

    ask = t_ask(PRIVATE, OWNER, NONE);
    ask.target_banned = 1;
    assert_int_equal(ngx_http_securechat_room_may(
                         NGX_HTTP_SECURECHAT_ACT_INVITE, &ask), BANNED);
}


static void
test_may_moderate(void **state)
{
    int                             i;
    ngx_http_securechat_room_ask_t  ask;

    static const ngx_http_securechat_room_act_e  acts[] = {
        NGX_HTTP_SECURECHAT_ACT_REMOVE, NGX_HTTP_SECURECHAT_ACT_BAN,
        NGX_HTTP_SECURECHAT_ACT_MUTE
    };

    (void) state;

    for (i = 0; i < 3; i++) {
        assert_int_equal(t_may(acts[i], PUBLIC, MEMBER, MEMBER), NOT_ALLOWED);
        assert_int_equal(t_may(acts[i], PUBLIC, MODERATOR, MEMBER), OK);
        assert_int_equal(t_may(acts[i], PRIVATE, MODERATOR, MODERATOR),
                         NOT_ALLOWED);
        assert_int_equal(t_may(acts[i], PRIVATE, MODERATOR, OWNER),
                         NOT_ALLOWED);
        assert_int_equal(t_may(acts[i], PRIVATE, OWNER, MODERATOR), OK);

        ask = t_ask(PUBLIC, OWNER, OWNER);
        ask.self = 1;
        assert_int_equal(ngx_http_securechat_room_may(acts[i], &ask),
                         NOT_ALLOWED);
    }

    /* a ban may keep a non-member out; a kick or a mute needs a member */

    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_BAN, PUBLIC, MODERATOR,
                           NONE), OK);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_REMOVE, PUBLIC, MODERATOR,
                           NONE), NOT_MEMBER);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_MUTE, PUBLIC, OWNER, NONE),
                     NOT_MEMBER);
}


static void
test_may_own(void **state)
{
    ngx_http_securechat_room_ask_t  ask;

    (void) state;

    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_RENAME, PUBLIC, MODERATOR,
                           NONE), NOT_ALLOWED);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_RENAME, PUBLIC, OWNER,
                           NONE), OK);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_DELETE, PRIVATE, OWNER,
                           NONE), OK);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_DELETE, PRIVATE,
                           MODERATOR, NONE), NOT_ALLOWED);

    ask = t_ask(PUBLIC, OWNER, NONE);
    ask.general = 1;
    assert_int_equal(ngx_http_securechat_room_may(
                         NGX_HTTP_SECURECHAT_ACT_DELETE, &ask), NOT_ALLOWED);

    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_SET_ROLE, PUBLIC, OWNER,
                           MEMBER), OK);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_SET_ROLE, PUBLIC,
                           MODERATOR, MEMBER), NOT_ALLOWED);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_SET_ROLE, PUBLIC, OWNER,
                           NONE), NOT_MEMBER);

    ask = t_ask(PUBLIC, OWNER, MODERATOR);
    ask.new_role = OWNER;
    assert_int_equal(ngx_http_securechat_room_may(
                         NGX_HTTP_SECURECHAT_ACT_SET_ROLE, &ask),
                     NOT_ALLOWED);
    ask.new_role = MEMBER;
    assert_int_equal(ngx_http_securechat_room_may(
                         NGX_HTTP_SECURECHAT_ACT_SET_ROLE, &ask), OK);

    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_TRANSFER, PRIVATE, OWNER,
                           MEMBER), OK);
    assert_int_equal(t_may(NGX_HTTP_SECURECHAT_ACT_TRANSFER, PRIVATE,
                           MODERATOR, MEMBER), NOT_ALLOWED);

    ask = t_ask(PRIVATE, OWNER, OWNER);
    ask.self = 1;
    assert_int_equal(ngx_http_securechat_room_may(
                         NGX_HTTP_SECURECHAT_ACT_TRANSFER, &ask),
                     NOT_ALLOWED);
}


static void
test_may_direct(void **state)
{
    int  act;

    (void) state;

    /* two members, no moderation: read and post, nothing else */

    for (act = 0; act < NGX_HTTP_SECURECHAT_ACT_COUNT; act++) {
        if (act == NGX_HTTP_SECURECHAT_ACT_JOIN) {
            continue;   /* test_may_join */
        }

        if (act == NGX_HTTP_SECURECHAT_ACT_READ
            || act == NGX_HTTP_SECURECHAT_ACT_POST)
        {
            assert_int_equal(t_may(act, DIRECT, MEMBER, NONE), OK);
            continue;
        }

        assert_int_equal(t_may(act, DIRECT, OWNER, MEMBER), NOT_ALLOWED);
    }
}


static void
test_rc_codes(void **state)
{
    (void) state;

    assert_string_equal(ngx_http_securechat_room_rc_code(NOT_MEMBER),
                        "not_member");
    assert_string_equal(ngx_http_securechat_room_rc_code(BANNED), "banned");
    assert_string_equal(ngx_http_securechat_room_rc_code(MUTED), "muted");
    assert_string_equal(ngx_http_securechat_room_rc_code(NOT_ALLOWED),
                        "not_allowed");
    assert_string_equal(ngx_http_securechat_room_rc_code(ALREADY),
                        "already_member");
    assert_string_equal(ngx_http_securechat_room_rc_code(
                            (ngx_http_securechat_room_rc_e) 99),
                        "not_allowed");
}


/* "name|action" of a split, "-" for none, or "refused" */

static const char *
t_split(const char *base, const char *uri)
{
    static char                      out[256];
    ngx_http_securechat_room_path_t  path;

    if (ngx_http_securechat_room_path_split(U(base), U(uri), &path) != 0) {
        return "refused";
    }

    snprintf(out, sizeof(out), "%.*s|%.*s",
             path.name ? (int) path.name_len : 1,
             path.name ? (const char *) path.name : "-",
             path.action ? (int) path.action_len : 1,
             path.action ? (const char *) path.action : "-");

    return out;
}


static void
test_path_split(void **state)
{
    (void) state;

    assert_string_equal(t_split("/api/rooms", "/api/rooms"), "-|-");
    assert_string_equal(t_split("/api/rooms", "/api/rooms/"), "-|-");
    assert_string_equal(t_split("/api/rooms/", "/api/rooms/"), "-|-");
    assert_string_equal(t_split("/api/rooms", "/api/rooms/ops"), "ops|-");
    assert_string_equal(t_split("/api/rooms/", "/api/rooms/ops"), "ops|-");
    assert_string_equal(t_split("/api/rooms", "/api/rooms/ops/join"),
                        "ops|join");
    assert_string_equal(t_split("/r", "/r/a.b/members"), "a.b|members");

    /* another location's path, or one that only begins like it */
    assert_string_equal(t_split("/api/rooms", "/api/roomsx"), "refused");
    assert_string_equal(t_split("/api/rooms", "/api/room"), "refused");
    assert_string_equal(t_split("/api/rooms", "/api/other/x"), "refused");
    assert_string_equal(t_split("~ ^/api/r", "/api/rooms"), "refused");

    /* empty segments and a third one */
    assert_string_equal(t_split("/api/rooms", "/api/rooms//join"), "refused");
    assert_string_equal(t_split("/api/rooms", "/api/rooms/ops/"), "refused");
    assert_string_equal(t_split("/api/rooms", "/api/rooms/a/b/c"), "refused");
    assert_string_equal(t_split("/api/rooms", "/api/rooms/a/b/"), "refused");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_ok),
        cmocka_unit_test(test_name_every_byte),
        cmocka_unit_test(test_name_creatable),
        cmocka_unit_test(test_direct_name_reference),
        cmocka_unit_test(test_direct_name_symmetric_and_distinct),
        cmocka_unit_test(test_direct_name_same_user),
        cmocka_unit_test(test_kind_and_role_words),
        cmocka_unit_test(test_may_banned),
        cmocka_unit_test(test_may_join),
        cmocka_unit_test(test_may_read_post),
        cmocka_unit_test(test_may_leave),
        cmocka_unit_test(test_may_invite),
        cmocka_unit_test(test_may_moderate),
        cmocka_unit_test(test_may_own),
        cmocka_unit_test(test_may_direct),
        cmocka_unit_test(test_rc_codes),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_resume_list),
        cmocka_unit_test(test_path_split),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
