
/*
 * Unit tests for src/ngx_http_securechat_utf8.c: Markus Kuhn's UTF-8
 * decoder stress test (the cases Autobahn|Testsuite 6.* is built from),
 * code point boundaries, and the fail-fast position, each checked whole,
 * split in two at every byte, and fed one byte at a time.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_securechat_utf8.h"


/* bad: index of the first impossible byte, T_VALID, or T_TRUNC (at finish) */
#define T_VALID  -1
#define T_TRUNC  -2

#define T_CASE(name, s, bad)  { name, (const unsigned char *) s,             \
                                sizeof(s) - 1, bad }


typedef struct {
    const char           *name;
    const unsigned char  *s;
    size_t                len;
    int                   bad;
} t_case_t;


static long t_run_split(const unsigned char *s, size_t len, size_t split,
    int bytewise);
static void t_check(const t_case_t *c);
static void t_check_table(const t_case_t *cases, size_t n);
static size_t t_encode(uint32_t cp, unsigned char *out);

static void test_kuhn_valid(void **state);
static void test_text_check(void **state);
static void test_kuhn_boundaries(void **state);
static void test_kuhn_continuations(void **state);
static void test_kuhn_lonely_starts(void **state);
static void test_kuhn_missing_last(void **state);
static void test_kuhn_impossible(void **state);
static void test_kuhn_overlong(void **state);
static void test_kuhn_surrogates(void **state);
static void test_kuhn_noncharacters(void **state);
static void test_every_code_point(void **state);
static void test_every_two_bytes(void **state);
static void test_sticky_and_finish(void **state);


static size_t  t_cases;


static const t_case_t  t_valid[] = {
    T_CASE("empty", "", T_VALID),
    T_CASE("ascii", "Hello-World", T_VALID),
    T_CASE("kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", T_VALID),
    T_CASE("Hello-µ@ßöäüàá-UTF-8!!",
           "\x48\x65\x6c\x6c\x6f\x2d\xc2\xb5\x40\xc3\x9f\xc3\xb6\xc3\xa4"
           "\xc3\xbc\xc3\xa0\xc3\xa1\x2d\x55\x54\x46\x2d\x38\x21\x21",
           T_VALID),
    T_CASE("U+0000", "\x00", T_VALID),
    T_CASE("U+0080", "\xc2\x80", T_VALID),
    T_CASE("U+0800", "\xe0\xa0\x80", T_VALID),
    T_CASE("U+10000", "\xf0\x90\x80\x80", T_VALID),
    T_CASE("U+007F", "\x7f", T_VALID),
    T_CASE("U+07FF", "\xdf\xbf", T_VALID),
    T_CASE("U+FFFF", "\xef\xbf\xbf", T_VALID),
    T_CASE("U+10FFFF", "\xf4\x8f\xbf\xbf", T_VALID),
};

static const t_case_t  t_boundaries[] = {
    T_CASE("U+D7FF", "\xed\x9f\xbf", T_VALID),
    T_CASE("U+E000", "\xee\x80\x80", T_VALID),
    T_CASE("U+FFFD", "\xef\xbf\xbd", T_VALID),
    T_CASE("U+110000", "\xf4\x90\x80\x80", 1),
    T_CASE("0x1FFFFF (4 bytes)", "\xf7\xbf\xbf\xbf", 0),
    T_CASE("first 5-byte", "\xf8\x88\x80\x80\x80", 0),
    T_CASE("first 6-byte", "\xfc\x84\x80\x80\x80\x80", 0),
    T_CASE("last 5-byte", "\xfb\xbf\xbf\xbf\xbf", 0),
    T_CASE("last 6-byte", "\xfd\xbf\xbf\xbf\xbf\xbf", 0),
    T_CASE("F5 lead", "\xf5\x80\x80\x80", 0),
    T_CASE("valid then F5", "ab\xce\xba\xf5", 4),
    T_CASE("kosme then U+110000 midway",
           "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80"
           "edited", 12),
};

static const t_case_t  t_lonely[] = {
    T_CASE("C0 space", "\xc0\x20", 0),
    T_CASE("C2 space", "\xc2\x20", 1),
    T_CASE("DF space", "\xdf\x20", 1),
    T_CASE("E0 space", "\xe0\x20", 1),
    T_CASE("EF space", "\xef\x20", 1),
    T_CASE("F0 space", "\xf0\x20", 1),
    T_CASE("F4 space", "\xf4\x20", 1),
    T_CASE("F8 space", "\xf8\x20", 0),
    T_CASE("FC space", "\xfc\x20", 0),
    T_CASE("E1 80 space", "\xe1\x80\x20", 2),
    T_CASE("F1 80 80 space", "\xf1\x80\x80\x20", 3),
};

static const t_case_t  t_missing[] = {
    T_CASE("2-byte, last missing", "\xc2", T_TRUNC),
    T_CASE("3-byte, last missing", "\xe0\xa0", T_TRUNC),
    T_CASE("4-byte, last missing", "\xf0\x90\x80", T_TRUNC),
    T_CASE("U+07FF, last missing", "\xdf", T_TRUNC),
    T_CASE("U+FFFF, last missing", "\xef\xbf", T_TRUNC),
    T_CASE("U+10FFFF, last missing", "\xf4\x8f\xbf", T_TRUNC),
    T_CASE("5-byte, last missing", "\xf8\x88\x80\x80", 0),
    T_CASE("6-byte, last missing", "\xfc\x84\x80\x80\x80", 0),
    T_CASE("concatenation of the above", "\xc2\xe0\xa0\xf0\x90\x80\xdf"
           "\xef\xbf\xf4\x8f\xbf", 1),
    T_CASE("kosme, last byte missing",
           "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce", T_TRUNC),
};

static const t_case_t  t_impossible[] = {
    T_CASE("FE", "\xfe", 0),
    T_CASE("FF", "\xff", 0),
    T_CASE("FE FE FF FF", "\xfe\xfe\xff\xff", 0),
    T_CASE("text then FF", "abc\xff", 3),
};

static const t_case_t  t_overlong[] = {
    T_CASE("/ as 2 bytes", "\xc0\xaf", 0),
    T_CASE("/ as 3 bytes", "\xe0\x80\xaf", 1),
    T_CASE("/ as 4 bytes", "\xf0\x80\x80\xaf", 1),
    T_CASE("/ as 5 bytes", "\xf8\x80\x80\x80\xaf", 0),
    T_CASE("/ as 6 bytes", "\xfc\x80\x80\x80\x80\xaf", 0),
    T_CASE("max overlong 2", "\xc1\xbf", 0),
    T_CASE("max overlong 3", "\xe0\x9f\xbf", 1),
    T_CASE("max overlong 4", "\xf0\x8f\xbf\xbf", 1),
    T_CASE("max overlong 5", "\xf8\x87\xbf\xbf\xbf", 0),
    T_CASE("max overlong 6", "\xfc\x83\xbf\xbf\xbf\xbf", 0),
    T_CASE("NUL as 2 bytes", "\xc0\x80", 0),
    T_CASE("NUL as 3 bytes", "\xe0\x80\x80", 1),
    T_CASE("NUL as 4 bytes", "\xf0\x80\x80\x80", 1),
    T_CASE("NUL as 5 bytes", "\xf8\x80\x80\x80\x80", 0),
    T_CASE("NUL as 6 bytes", "\xfc\x80\x80\x80\x80\x80", 0),
};

static const t_case_t  t_surrogates[] = {
    T_CASE("U+D800", "\xed\xa0\x80", 1),
    T_CASE("U+DB7F", "\xed\xad\xbf", 1),
    T_CASE("U+DB80", "\xed\xae\x80", 1),
    T_CASE("U+DBFF", "\xed\xaf\xbf", 1),
    T_CASE("U+DC00", "\xed\xb0\x80", 1),
    T_CASE("U+DF80", "\xed\xbe\x80", 1),
    T_CASE("U+DFFF", "\xed\xbf\xbf", 1),
    T_CASE("U+D800 U+DC00", "\xed\xa0\x80\xed\xb0\x80", 1),
    T_CASE("U+DB7F U+DFFF", "\xed\xad\xbf\xed\xbf\xbf", 1),
    T_CASE("U+DBFF U+DFFF", "\xed\xaf\xbf\xed\xbf\xbf", 1),
    T_CASE("text, U+DFFF", "ok \xed\xbf\xbf", 4),
    T_CASE("CESU-8 of U+10000", "\xed\xa0\x80\xed\xb0\x80", 1),
};

static const t_case_t  t_nonchars[] = {
    T_CASE("U+FFFE", "\xef\xbf\xbe", T_VALID),
    T_CASE("U+FFFF", "\xef\xbf\xbf", T_VALID),
    T_CASE("U+FDD0", "\xef\xb7\x90", T_VALID),
    T_CASE("U+FDEF", "\xef\xb7\xaf", T_VALID),
    T_CASE("U+1FFFE", "\xf0\x9f\xbf\xbe", T_VALID),
    T_CASE("U+10FFFE", "\xf4\x8f\xbf\xbe", T_VALID),
};


/*
 * Feeds s in two pieces split at `split` (or a byte at a time); returns the
 * absolute index of the bad byte, T_TRUNC, or T_VALID.
 */

static long
t_run_split(const unsigned char *s, size_t len, size_t split, int bytewise)
{
    size_t                      off, n, bad;
    ngx_http_securechat_utf8_t  u;

    ngx_http_securechat_utf8_init(&u);

    for (off = 0; off < len; off += n) {
        n = bytewise ? 1 : (off < split ? split - off : len - off);

        if (ngx_http_securechat_utf8_feed(&u, s + off, n, &bad)
            != NGX_HTTP_SECURECHAT_UTF8_OK)
        {
            return (long) (off + bad);
        }
    }

    if (ngx_http_securechat_utf8_finish(&u) != NGX_HTTP_SECURECHAT_UTF8_OK) {
        return T_TRUNC;
    }

    return T_VALID;
}


static void
t_check(const t_case_t *c)
{
    long    got;
    size_t  split;
    int     want_valid;

    t_cases++;

    for (split = 0; split <= c->len; split++) {
        got = t_run_split(c->s, c->len, split, 0);

        if (got != c->bad) {
            fail_msg("%s: split at %zu: got %ld, want %d", c->name, split,
                     got, c->bad);
        }
    }

    got = t_run_split(c->s, c->len, 0, 1);

    if (got != c->bad) {
        fail_msg("%s: byte by byte: got %ld, want %d", c->name, got, c->bad);
    }

    want_valid = (c->bad == T_VALID);

    assert_int_equal(ngx_http_securechat_utf8_valid(c->s, c->len)
                     == NGX_HTTP_SECURECHAT_UTF8_OK, want_valid);
}


static void
t_check_table(const t_case_t *cases, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        t_check(&cases[i]);
    }
}


/* a plain encoder, deliberately unchecked, to produce every sequence */

static size_t
t_encode(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char) cp;
        return 1;
    }

    if (cp < 0x800) {
        out[0] = (unsigned char) (0xc0 | cp >> 6);
        out[1] = (unsigned char) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        out[0] = (unsigned char) (0xe0 | cp >> 12);
        out[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char) (0x80 | (cp & 0x3f));
        return 3;
    }

    out[0] = (unsigned char) (0xf0 | cp >> 18);
    out[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char) (0x80 | (cp & 0x3f));
    return 4;
}


static void
test_kuhn_valid(void **state)
{
    t_check_table(t_valid, sizeof(t_valid) / sizeof(t_valid[0]));
}


static void
test_kuhn_boundaries(void **state)
{
    t_check_table(t_boundaries, sizeof(t_boundaries) / sizeof(t_boundaries[0]));
}


static void
test_kuhn_continuations(void **state)
{
    unsigned char  b[64];
    size_t         i;
    t_case_t       c;

    /* each continuation byte alone, and 2..7 of them in a row */

    for (i = 0; i < 64; i++) {
        b[0] = (unsigned char) (0x80 + i);

        c.name = "lone continuation";
        c.s = b;
        c.len = 1;
        c.bad = 0;
        t_check(&c);
    }

    for (i = 0; i < 64; i++) {
        b[i] = (unsigned char) (0x80 + i);
    }

    c.name = "all 64 continuations";
    c.s = b;
    c.len = 64;
    c.bad = 0;
    t_check(&c);

    /* a valid 2-byte character then one continuation too many */

    c.name = "extra continuation";
    c.s = (const unsigned char *) "\xc2\x80\x80";
    c.len = 3;
    c.bad = 2;
    t_check(&c);
}


static void
test_kuhn_lonely_starts(void **state)
{
    unsigned char  b[2];
    unsigned int   lead;
    t_case_t       c;

    t_check_table(t_lonely, sizeof(t_lonely) / sizeof(t_lonely[0]));

    /* every lead byte followed by a space: fails at the lead or the space */

    for (lead = 0xc0; lead <= 0xff; lead++) {
        b[0] = (unsigned char) lead;
        b[1] = ' ';

        c.name = "lead + space";
        c.s = b;
        c.len = 2;
        c.bad = (lead >= 0xc2 && lead <= 0xf4) ? 1 : 0;
        t_check(&c);
    }
}


static void
test_kuhn_missing_last(void **state)
{
    t_check_table(t_missing, sizeof(t_missing) / sizeof(t_missing[0]));
}


static void
test_kuhn_impossible(void **state)
{
    t_check_table(t_impossible, sizeof(t_impossible) / sizeof(t_impossible[0]));
}


static void
test_kuhn_overlong(void **state)
{
    t_check_table(t_overlong, sizeof(t_overlong) / sizeof(t_overlong[0]));
}


static void
test_kuhn_surrogates(void **state)
{
    t_check_table(t_surrogates, sizeof(t_surrogates) / sizeof(t_surrogates[0]));
}


static void
test_kuhn_noncharacters(void **state)
{
    t_check_table(t_nonchars, sizeof(t_nonchars) / sizeof(t_nonchars[0]));
}


/* every scalar value is accepted and every surrogate refused at byte 1 */

static void
test_every_code_point(void **state)
{
    size_t                      n, bad;
    uint32_t                    cp;
    unsigned char               b[4];
    ngx_http_securechat_utf8_t  u;

    for (cp = 0; cp <= 0x10ffff; cp++) {
        n = t_encode(cp, b);

        ngx_http_securechat_utf8_init(&u);

        if (cp >= 0xd800 && cp <= 0xdfff) {
            assert_int_equal(ngx_http_securechat_utf8_feed(&u, b, n, &bad),
                             NGX_HTTP_SECURECHAT_UTF8_INVALID);
            assert_int_equal(bad, 1);
            continue;
        }

        if (ngx_http_securechat_utf8_feed(&u, b, n, &bad)
            != NGX_HTTP_SECURECHAT_UTF8_OK
            || ngx_http_securechat_utf8_finish(&u)
               != NGX_HTTP_SECURECHAT_UTF8_OK)
        {
            fail_msg("U+%04X refused", (unsigned int) cp);
        }
    }

    t_cases++;
}


/*
 * Every two-byte input against a reference: valid iff both ASCII or a
 * well-formed 2-byte character (RFC 3629 table: C2-DF 80-BF).
 */

static void
test_every_two_bytes(void **state)
{
    int            want, got;
    unsigned int   a, b;
    unsigned char  s[2];

    for (a = 0; a < 256; a++) {
        for (b = 0; b < 256; b++) {
            s[0] = (unsigned char) a;
            s[1] = (unsigned char) b;

            want = (a < 0x80 && b < 0x80)
                   || (a >= 0xc2 && a <= 0xdf && b >= 0x80 && b <= 0xbf);
            got = ngx_http_securechat_utf8_valid(s, 2)
                  == NGX_HTTP_SECURECHAT_UTF8_OK;

            if (want != got) {
                fail_msg("%02x %02x: got %d, want %d", a, b, got, want);
            }
        }
    }

    t_cases++;
}


static void
test_sticky_and_finish(void **state)
{
    size_t                      bad;
    ngx_http_securechat_utf8_t  u;

    ngx_http_securechat_utf8_init(&u);

    assert_int_equal(ngx_http_securechat_utf8_feed(&u,
                         (const unsigned char *) "\xff", 1, &bad),
                     NGX_HTTP_SECURECHAT_UTF8_INVALID);

    /* valid bytes after an error do not revive the state */

    bad = 7;
    assert_int_equal(ngx_http_securechat_utf8_feed(&u,
                         (const unsigned char *) "abc", 3, &bad),
                     NGX_HTTP_SECURECHAT_UTF8_INVALID);
    assert_int_equal(bad, 0);
    assert_int_equal(ngx_http_securechat_utf8_finish(&u),
                     NGX_HTTP_SECURECHAT_UTF8_INVALID);

    /* a NULL bad pointer and empty feeds are fine */

    ngx_http_securechat_utf8_init(&u);
    assert_int_equal(ngx_http_securechat_utf8_feed(&u, NULL, 0, NULL),
                     NGX_HTTP_SECURECHAT_UTF8_OK);
    assert_int_equal(ngx_http_securechat_utf8_feed(&u,
                         (const unsigned char *) "\xe2", 1, NULL),
                     NGX_HTTP_SECURECHAT_UTF8_OK);
    assert_int_equal(ngx_http_securechat_utf8_finish(&u),
                     NGX_HTTP_SECURECHAT_UTF8_INVALID);
    assert_int_equal(ngx_http_securechat_utf8_feed(&u,
                         (const unsigned char *) "\x82\xac", 2, NULL),
                     NGX_HTTP_SECURECHAT_UTF8_OK);
    assert_int_equal(ngx_http_securechat_utf8_finish(&u),
                     NGX_HTTP_SECURECHAT_UTF8_OK);

    t_cases++;
}


/* the chat message rule shared by POST /api/chat and WebSocket frames */

static void
test_text_check(void **state)
{
    size_t  i;
    static const struct {
        const char  *text;
        size_t       len;
        int          want;
    } cases[] = {
        { "hello", 5, NGX_HTTP_SECURECHAT_TEXT_OK },
        { "h\xc3\xa9llo\tand\nmore", 15, NGX_HTTP_SECURECHAT_TEXT_OK },
        { "", 0, NGX_HTTP_SECURECHAT_TEXT_BLANK },
        { " \t\n ", 4, NGX_HTTP_SECURECHAT_TEXT_BLANK },
        { "a\rb", 3, NGX_HTTP_SECURECHAT_TEXT_CONTROL },
        { "a\x00b", 3, NGX_HTTP_SECURECHAT_TEXT_CONTROL },
        { "a\x7f", 2, NGX_HTTP_SECURECHAT_TEXT_CONTROL },
        { "\x1b[31m", 5, NGX_HTTP_SECURECHAT_TEXT_CONTROL },
        { "a\xc3", 2, NGX_HTTP_SECURECHAT_TEXT_BAD_UTF8 },
        { "\xed\xa0\x80", 3, NGX_HTTP_SECURECHAT_TEXT_BAD_UTF8 },
        { "\xc0\xaf", 2, NGX_HTTP_SECURECHAT_TEXT_BAD_UTF8 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(ngx_http_securechat_text_check(
                             (const unsigned char *) cases[i].text,
                             cases[i].len),
                         cases[i].want);
    }
}


int
main(void)
{
    int  rc;

    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_kuhn_valid),
        cmocka_unit_test(test_kuhn_boundaries),
        cmocka_unit_test(test_kuhn_continuations),
        cmocka_unit_test(test_kuhn_lonely_starts),
        cmocka_unit_test(test_kuhn_missing_last),
        cmocka_unit_test(test_kuhn_impossible),
        cmocka_unit_test(test_kuhn_overlong),
        cmocka_unit_test(test_kuhn_surrogates),
        cmocka_unit_test(test_kuhn_noncharacters),
        cmocka_unit_test(test_every_code_point),
        cmocka_unit_test(test_every_two_bytes),
        cmocka_unit_test(test_sticky_and_finish),
        cmocka_unit_test(test_text_check),
    };

    rc = cmocka_run_group_tests(tests, NULL, NULL);

    printf("utf8: %zu cases, each whole, split at every byte and bytewise\n",
           t_cases);

    return rc;
}
