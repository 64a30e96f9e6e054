
/*
 * Unit tests for src/ngx_http_securechat_json.c: every return code, the
 * inputs jansson must refuse for us, length limits and control characters.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_securechat_json.h"


#define T_USER      0
#define T_PASS      1
#define T_NOTE      2
#define T_NFIELDS   3


typedef struct {
    ngx_http_securechat_json_field_t  f[T_NFIELDS];
    json_t                           *doc;
    const char                       *bad;
} t_ctx_t;


static void t_fields_init(t_ctx_t *t);
static ngx_http_securechat_json_rc_e t_parse_n(t_ctx_t *t, const char *s,
    size_t len);
static ngx_http_securechat_json_rc_e t_parse(t_ctx_t *t, const char *s);
static void t_expect(const char *s, ngx_http_securechat_json_rc_e want,
    const char *want_bad);
static void t_expect_n(const char *s, size_t len,
    ngx_http_securechat_json_rc_e want);
static char *t_repeat(const char *prefix, const char *unit, size_t n,
    const char *suffix);

static void test_ok(void **state);
static void test_ok_optional_absent(void **state);
static void test_ok_surrounding_whitespace(void **state);
static void test_empty(void **state);
static void test_not_object(void **state);
static void test_malformed_syntax(void **state);
static void test_trailing_garbage(void **state);
static void test_raw_nul_byte(void **state);
static void test_raw_control_byte(void **state);
static void test_invalid_utf8(void **state);
static void test_surrogates(void **state);
static void test_escaped_nul(void **state);
static void test_deep_nesting(void **state);
static void test_huge_numbers(void **state);
static void test_duplicates(void **state);
static void test_unknown_field(void **state);
static void test_missing_field(void **state);
static void test_wrong_type(void **state);
static void test_length_limits(void **state);
static void test_length_counts_bytes(void **state);
static void test_control_chars(void **state);
static void test_no_fields(void **state);
static void test_bad_field_optional(void **state);
static void test_values_cleared_on_failure(void **state);
static void test_rc_strings(void **state);


static void
t_fields_init(t_ctx_t *t)
{
    memset(t, 0, sizeof(*t));

    t->f[T_USER].name = "username";
    t->f[T_USER].min_len = 1;
    t->f[T_USER].max_len = 64;
    t->f[T_USER].required = 1;
    t->f[T_USER].no_control = 1;

    /* passwords may hold anything; only the login name is restricted */
    t->f[T_PASS].name = "password";
    t->f[T_PASS].min_len = 1;
    t->f[T_PASS].max_len = 1024;
    t->f[T_PASS].required = 1;
    t->f[T_PASS].no_control = 0;

    t->f[T_NOTE].name = "note";
    t->f[T_NOTE].min_len = 0;
    t->f[T_NOTE].max_len = 8;
    t->f[T_NOTE].required = 0;
    t->f[T_NOTE].no_control = 1;
}


static ngx_http_securechat_json_rc_e
t_parse_n(t_ctx_t *t, const char *s, size_t len)
{
    ngx_http_securechat_json_rc_e  rc;

    t_fields_init(t);

    /* poison the outputs so the test sees that they are set */
    t->doc = (json_t *) 1;
    t->bad = "poison";

    rc = ngx_http_securechat_json_parse_fields((const unsigned char *) s, len,
                                               t->f, T_NFIELDS, &t->doc,
                                               &t->bad);

    if (rc == NGX_HTTP_SECURECHAT_JSON_OK) {
        assert_non_null(t->doc);
        assert_null(t->bad);

    } else {
        assert_null(t->doc);
    }

    return rc;
}


static ngx_http_securechat_json_rc_e
t_parse(t_ctx_t *t, const char *s)
{
    return t_parse_n(t, s, strlen(s));
}


static void
t_expect(const char *s, ngx_http_securechat_json_rc_e want,
    const char *want_bad)
{
    t_ctx_t                        t;
    ngx_http_securechat_json_rc_e  rc;

    rc = t_parse(&t, s);

    if (rc != want) {
        print_error("input: %s\n", s);
    }

    assert_int_equal(rc, want);

    if (want_bad == NULL) {
        assert_null(t.bad);

    } else {
        assert_non_null(t.bad);
        assert_string_equal(t.bad, want_bad);
    }

    json_decref(t.doc);
}


static void
t_expect_n(const char *s, size_t len, ngx_http_securechat_json_rc_e want)
{
    t_ctx_t                        t;
    ngx_http_securechat_json_rc_e  rc;

    rc = t_parse_n(&t, s, len);
    assert_int_equal(rc, want);

    json_decref(t.doc);
}


/* prefix, n copies of unit, suffix, NUL-terminated; the caller frees */

static char *
t_repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
    char    *s, *p;
    size_t   plen, ulen, slen, i;

    plen = strlen(prefix);
    ulen = strlen(unit);
    slen = strlen(suffix);

    s = malloc(plen + ulen * n + slen + 1);
    assert_non_null(s);

    p = s;
    memcpy(p, prefix, plen);
    p += plen;

    for (i = 0; i < n; i++) {
        memcpy(p, unit, ulen);
        p += ulen;
    }

    memcpy(p, suffix, slen + 1);

    return s;
}


static void
test_ok(void **state)
{
    t_ctx_t  t;

    assert_int_equal(t_parse(&t, "{\"username\":\"alice\","
                                 "\"password\":\"s3cret pw\","
                                 "\"note\":\"hi\"}"),
                     NGX_HTTP_SECURECHAT_JSON_OK);

    assert_int_equal(t.f[T_USER].len, 5);
    assert_memory_equal(t.f[T_USER].value, "alice", 5);
    assert_int_equal(t.f[T_PASS].len, 9);
    assert_memory_equal(t.f[T_PASS].value, "s3cret pw", 9);
    assert_int_equal(t.f[T_NOTE].len, 2);
    assert_memory_equal(t.f[T_NOTE].value, "hi", 2);

    /* member order does not matter */
    json_decref(t.doc);
    assert_int_equal(t_parse(&t, "{\"password\":\"p\",\"username\":\"u\"}"),
                     NGX_HTTP_SECURECHAT_JSON_OK);
    assert_memory_equal(t.f[T_USER].value, "u", 1);
    assert_memory_equal(t.f[T_PASS].value, "p", 1);

    json_decref(t.doc);
}


static void
test_ok_optional_absent(void **state)
{
    t_ctx_t  t;

    assert_int_equal(t_parse(&t, "{\"username\":\"a\",\"password\":\"b\"}"),
                     NGX_HTTP_SECURECHAT_JSON_OK);
    assert_null(t.f[T_NOTE].value);
    assert_int_equal(t.f[T_NOTE].len, 0);

    json_decref(t.doc);

    /* an optional field with min_len 0 may be empty */
    assert_int_equal(t_parse(&t, "{\"username\":\"a\",\"password\":\"b\","
                                 "\"note\":\"\"}"),
                     NGX_HTTP_SECURECHAT_JSON_OK);
    assert_non_null(t.f[T_NOTE].value);
    assert_int_equal(t.f[T_NOTE].len, 0);

    json_decref(t.doc);
}


static void
test_ok_surrounding_whitespace(void **state)
{
    t_expect(" \t\r\n{ \"username\" : \"a\" ,\n\"password\":\"b\" } \r\n",
             NGX_HTTP_SECURECHAT_JSON_OK, NULL);
}


static void
test_empty(void **state)
{
    t_ctx_t                         t;
    const char                     *bad;
    json_t                         *doc;
    ngx_http_securechat_json_rc_e   rc;

    t_expect("", NGX_HTTP_SECURECHAT_JSON_EMPTY, NULL);
    t_expect(" ", NGX_HTTP_SECURECHAT_JSON_EMPTY, NULL);
    t_expect(" \t\r\n \n", NGX_HTTP_SECURECHAT_JSON_EMPTY, NULL);

    /* no body at all: a NULL buffer */
    t_fields_init(&t);
    rc = ngx_http_securechat_json_parse_fields(NULL, 0, t.f, T_NFIELDS, &doc,
                                               &bad);
    assert_int_equal(rc, NGX_HTTP_SECURECHAT_JSON_EMPTY);
    assert_null(doc);
    assert_null(bad);

    /* only RFC 8259 whitespace counts as empty */
    t_expect("\v", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("\f", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect_n("\0", 1, NGX_HTTP_SECURECHAT_JSON_MALFORMED);
}


static void
test_not_object(void **state)
{
    t_expect("[]", NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT, NULL);
    t_expect(" [1, \"a\", {}] ", NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT, NULL);
    t_expect("[{\"username\":\"a\",\"password\":\"b\"}]",
             NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT, NULL);
    t_expect("\"string\"", NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT, NULL);
    t_expect("42", NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT, NULL);
    t_expect("-1.5", NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT, NULL);
    t_expect("true", NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT, NULL);
    t_expect("false", NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT, NULL);
    t_expect(" null", NGX_HTTP_SECURECHAT_JSON_NOT_OBJECT, NULL);

    /* a broken array is malformed, not "not an object" */
    t_expect("[1,", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("[1]x", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
}


static void
test_malformed_syntax(void **state)
{
    t_expect("{", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("}", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("hello", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":}", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\" \"a\"}", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{'username':'a'}", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{username:\"a\"}", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"a\",}", NGX_HTTP_SECURECHAT_JSON_MALFORMED,
             NULL);
    t_expect("{\"username\":\"a\\x41\"}", NGX_HTTP_SECURECHAT_JSON_MALFORMED,
             NULL);
    t_expect("{\"username\":\"unterminated}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"a\" /* c */}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);

    /* a UTF-8 byte order mark is not whitespace */
    t_expect("\xef\xbb\xbf{\"username\":\"a\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
}


static void
test_trailing_garbage(void **state)
{
    t_expect("{\"username\":\"a\",\"password\":\"b\"} x",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"a\",\"password\":\"b\"}{}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"a\",\"password\":\"b\"},",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{} 1", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
}


static void
test_raw_nul_byte(void **state)
{
    static const char  after[] = "{\"username\":\"a\",\"password\":\"b\"}\0";
    static const char  inside[] = "{\"username\":\"a\0b\",\"password\":\"b\"}";
    static const char  key[] = "{\"user\0name\":\"a\",\"password\":\"b\"}";
    static const char  between[] = "{\"username\":\"a\",\0\"password\":\"b\"}";

    /* sizeof - 1: the literal's own terminator is not part of the body */
    t_expect_n(after, sizeof(after) - 1, NGX_HTTP_SECURECHAT_JSON_MALFORMED);
    t_expect_n(inside, sizeof(inside) - 1,
               NGX_HTTP_SECURECHAT_JSON_MALFORMED);
    t_expect_n(key, sizeof(key) - 1, NGX_HTTP_SECURECHAT_JSON_MALFORMED);
    t_expect_n(between, sizeof(between) - 1,
               NGX_HTTP_SECURECHAT_JSON_MALFORMED);

    /* and the same body without the NUL is fine */
    t_expect_n(after, sizeof(after) - 2, NGX_HTTP_SECURECHAT_JSON_OK);
}


static void
test_raw_control_byte(void **state)
{
    /* unescaped controls inside strings are invalid JSON */
    t_expect("{\"username\":\"a\x01\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"a\",\"password\":\"b\nc\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"a\",\"password\":\"b\x1f\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
}


static void
test_invalid_utf8(void **state)
{
    /* a lone continuation byte, a stray 0xff */
    t_expect("{\"username\":\"a\x80\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"\xff\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);

    /* overlong encodings of '/' and of NUL */
    t_expect("{\"username\":\"\xc0\xaf\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"\xc0\x80\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"\xe0\x80\xaf\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);

    /* a UTF-16 surrogate encoded directly as UTF-8 (CESU) */
    t_expect("{\"username\":\"\xed\xa0\x80\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);

    /* truncated sequence, and one past U+10FFFF */
    t_expect("{\"username\":\"\xe2\x82\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"\xf4\x90\x80\x80\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);

    /* in a key too, and outside strings */
    t_expect("{\"user\xffname\":\"a\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\xc3\xa9}", NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);

    /* valid multi-byte UTF-8 passes */
    t_expect("{\"username\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
             "\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_OK, NULL);
}


static void
test_surrogates(void **state)
{
    t_ctx_t  t;

    t_expect("{\"username\":\"\\ud800\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"\\udc00\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"\\ud800x\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"\\ud800\\u0041\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"\\udc00\\ud800\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);

    /* a proper pair decodes to the 4-byte UTF-8 of U+1F600 */
    assert_int_equal(t_parse(&t, "{\"username\":\"\\ud83d\\ude00\","
                                 "\"password\":\"b\"}"),
                     NGX_HTTP_SECURECHAT_JSON_OK);
    assert_int_equal(t.f[T_USER].len, 4);
    assert_memory_equal(t.f[T_USER].value, "\xf0\x9f\x98\x80", 4);

    json_decref(t.doc);
}


static void
test_escaped_nul(void **state)
{
    /* no JSON_ALLOW_NUL: \u0000 is refused in values and keys */
    t_expect("{\"username\":\"a\\u0000b\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":\"a\",\"password\":\"\\u0000\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\\u0000\":\"a\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
}


static void
test_deep_nesting(void **state)
{
    char    *s;
    size_t   i, depth;

    /* jansson stops at its depth limit instead of recursing 100k deep */

    s = t_repeat("", "[", 100000, "");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    free(s);

    s = t_repeat("{\"username\":", "{\"a\":", 100000, "");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    free(s);

    s = t_repeat("{\"username\":", "[", 100000, "");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    free(s);

    /* balanced too: the limit, not a missing bracket, refuses it */

    depth = 100000;

    s = malloc(2 * depth + sizeof("{\"username\":}"));
    assert_non_null(s);

    memcpy(s, "{\"username\":", 12);

    for (i = 0; i < depth; i++) {
        s[12 + i] = '[';
        s[12 + depth + i] = ']';
    }

    memcpy(s + 12 + 2 * depth, "}", 2);

    t_expect(s, NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    free(s);

    /* shallow nesting is valid JSON, and a wrong type for a field */
    t_expect("{\"username\":[[[{\"a\":[1]}]]],\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "username");
}


static void
test_huge_numbers(void **state)
{
    char  *s;

    /* out of range for json_int_t or double: jansson refuses outright */
    t_expect("{\"username\":123456789012345678901234567890,"
             "\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":-123456789012345678901234567890,"
             "\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":1e400,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":-1e400,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);

    s = t_repeat("{\"username\":", "9", 100000, ",\"password\":\"b\"}");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    free(s);

    /* in range, but still not a string */
    t_expect("{\"username\":9223372036854775807,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "username");
    t_expect("{\"username\":1e300,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "username");

    /* underflow rounds to zero rather than failing: still not a string */
    t_expect("{\"username\":1e-400,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "username");

    /* and not valid JSON numbers at all */
    t_expect("{\"username\":NaN,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
    t_expect("{\"username\":01,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
}


static void
test_duplicates(void **state)
{
    t_expect("{\"username\":\"a\",\"username\":\"b\",\"password\":\"c\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);

    /* the same key spelled with an escape is still a duplicate */
    t_expect("{\"username\":\"a\",\"\\u0075sername\":\"b\","
             "\"password\":\"c\"}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);

    /* duplicates in nested objects too, even inside unknown members */
    t_expect("{\"x\":{\"a\":1,\"a\":2}}",
             NGX_HTTP_SECURECHAT_JSON_MALFORMED, NULL);
}


static void
test_unknown_field(void **state)
{
    t_expect("{\"username\":\"a\",\"password\":\"b\",\"admin\":\"1\"}",
             NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD, NULL);
    t_expect("{\"admin\":true}", NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD,
             NULL);

    /* names are case-sensitive and exact */
    t_expect("{\"Username\":\"a\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD, NULL);
    t_expect("{\"username \":\"a\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD, NULL);
    t_expect("{\"\":\"a\",\"username\":\"a\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD, NULL);

    /* an unknown member wins over other faults */
    t_expect("{\"username\":1,\"x\":\"1\"}",
             NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD, NULL);
}


static void
test_missing_field(void **state)
{
    t_expect("{}", NGX_HTTP_SECURECHAT_JSON_MISSING_FIELD, "username");
    t_expect("{\"username\":\"a\"}", NGX_HTTP_SECURECHAT_JSON_MISSING_FIELD,
             "password");
    t_expect("{\"password\":\"a\"}", NGX_HTTP_SECURECHAT_JSON_MISSING_FIELD,
             "username");
    t_expect("{\"note\":\"a\"}", NGX_HTTP_SECURECHAT_JSON_MISSING_FIELD,
             "username");
}


static void
test_wrong_type(void **state)
{
    t_expect("{\"username\":1,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "username");
    t_expect("{\"username\":1.5,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "username");
    t_expect("{\"username\":null,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "username");
    t_expect("{\"username\":true,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "username");
    t_expect("{\"username\":false,\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "username");
    t_expect("{\"username\":\"a\",\"password\":{}}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "password");
    t_expect("{\"username\":\"a\",\"password\":[\"b\"]}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "password");
    t_expect("{\"username\":\"a\",\"password\":\"b\",\"note\":0}",
             NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE, "note");
}


static void
test_length_limits(void **state)
{
    char  *s;

    /* username: 1..64 bytes */
    t_expect("{\"username\":\"\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_TOO_SHORT, "username");

    s = t_repeat("{\"username\":\"", "u", 64, "\",\"password\":\"b\"}");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_OK, NULL);
    free(s);

    s = t_repeat("{\"username\":\"", "u", 65, "\",\"password\":\"b\"}");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_TOO_LONG, "username");
    free(s);

    /* password: 1..1024 bytes */
    t_expect("{\"username\":\"a\",\"password\":\"\"}",
             NGX_HTTP_SECURECHAT_JSON_TOO_SHORT, "password");

    s = t_repeat("{\"username\":\"a\",\"password\":\"", "p", 1024, "\"}");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_OK, NULL);
    free(s);

    s = t_repeat("{\"username\":\"a\",\"password\":\"", "p", 1025, "\"}");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_TOO_LONG, "password");
    free(s);

    s = t_repeat("{\"username\":\"a\",\"password\":\"", "p", 1000000, "\"}");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_TOO_LONG, "password");
    free(s);

    /* note: 0..8 */
    t_expect("{\"username\":\"a\",\"password\":\"b\",\"note\":\"12345678\"}",
             NGX_HTTP_SECURECHAT_JSON_OK, NULL);
    t_expect("{\"username\":\"a\",\"password\":\"b\",\"note\":\"123456789\"}",
             NGX_HTTP_SECURECHAT_JSON_TOO_LONG, "note");
}


static void
test_length_counts_bytes(void **state)
{
    char     *s;
    t_ctx_t   t;

    /* 32 two-byte characters are 64 bytes: fits */
    s = t_repeat("{\"username\":\"", "\xc3\xa9", 32, "\",\"password\":\"b\"}");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_OK, NULL);
    free(s);

    /* 33 are 66 bytes, though only 33 characters */
    s = t_repeat("{\"username\":\"", "\xc3\xa9", 33, "\",\"password\":\"b\"}");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_TOO_LONG, "username");
    free(s);

    /* escapes count as the bytes they decode to, not as written */
    s = t_repeat("{\"username\":\"", "\\u00e9", 32, "\",\"password\":\"b\"}");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_OK, NULL);
    free(s);

    s = t_repeat("{\"username\":\"", "\\u20ac", 22, "\",\"password\":\"b\"}");
    t_expect(s, NGX_HTTP_SECURECHAT_JSON_TOO_LONG, "username");
    free(s);

    assert_int_equal(t_parse(&t, "{\"username\":\"\\u20ac\\\"\","
                                 "\"password\":\"b\"}"),
                     NGX_HTTP_SECURECHAT_JSON_OK);
    assert_int_equal(t.f[T_USER].len, 4);
    assert_memory_equal(t.f[T_USER].value, "\xe2\x82\xac\"", 4);

    json_decref(t.doc);
}


static void
test_control_chars(void **state)
{
    t_ctx_t  t;

    /* escaped C0 controls and DEL in a no_control field */
    t_expect("{\"username\":\"a\\nb\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_BAD_CHARS, "username");
    t_expect("{\"username\":\"\\t\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_BAD_CHARS, "username");
    t_expect("{\"username\":\"a\\r\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_BAD_CHARS, "username");
    t_expect("{\"username\":\"\\u0001\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_BAD_CHARS, "username");
    t_expect("{\"username\":\"\\u001f\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_BAD_CHARS, "username");
    t_expect("{\"username\":\"a\\u007f\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_BAD_CHARS, "username");
    t_expect("{\"username\":\"a\x7f\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_BAD_CHARS, "username");
    t_expect("{\"username\":\"a\",\"password\":\"b\",\"note\":\"\\b\"}",
             NGX_HTTP_SECURECHAT_JSON_BAD_CHARS, "note");

    /* the boundaries: space and '~' are fine */
    t_expect("{\"username\":\" ~\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_OK, NULL);

    /* C1 controls (U+0080..U+009F) are not covered by no_control */
    t_expect("{\"username\":\"\\u0085\",\"password\":\"b\"}",
             NGX_HTTP_SECURECHAT_JSON_OK, NULL);

    /* the password field allows controls */
    assert_int_equal(t_parse(&t, "{\"username\":\"a\","
                                 "\"password\":\"\\t\\n\\u0001\\u007f\"}"),
                     NGX_HTTP_SECURECHAT_JSON_OK);
    assert_int_equal(t.f[T_PASS].len, 4);
    assert_memory_equal(t.f[T_PASS].value, "\t\n\x01\x7f", 4);

    json_decref(t.doc);
}


static void
test_no_fields(void **state)
{
    json_t                         *doc;
    const char                     *bad;
    ngx_http_securechat_json_rc_e   rc;

    rc = ngx_http_securechat_json_parse_fields((const unsigned char *) "{}", 2,
                                               NULL, 0, &doc, &bad);
    assert_int_equal(rc, NGX_HTTP_SECURECHAT_JSON_OK);
    assert_non_null(doc);
    assert_true(json_is_object(doc));
    json_decref(doc);

    rc = ngx_http_securechat_json_parse_fields(
             (const unsigned char *) "{\"a\":\"b\"}", 9, NULL, 0, &doc, &bad);
    assert_int_equal(rc, NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD);
    assert_null(doc);
}


static void
test_bad_field_optional(void **state)
{
    json_t                            *doc;
    ngx_http_securechat_json_rc_e      rc;
    ngx_http_securechat_json_field_t   f[1];

    memset(f, 0, sizeof(f));
    f[0].name = "k";
    f[0].max_len = 1;
    f[0].required = 1;

    /* bad_field may be NULL */
    rc = ngx_http_securechat_json_parse_fields((const unsigned char *) "{}", 2,
                                               f, 1, &doc, NULL);
    assert_int_equal(rc, NGX_HTTP_SECURECHAT_JSON_MISSING_FIELD);
    assert_null(doc);

    rc = ngx_http_securechat_json_parse_fields(
             (const unsigned char *) "{\"k\":\"v\"}", 9, f, 1, &doc, NULL);
    assert_int_equal(rc, NGX_HTTP_SECURECHAT_JSON_OK);
    assert_int_equal(f[0].len, 1);
    assert_memory_equal(f[0].value, "v", 1);
    json_decref(doc);
}


static void
test_values_cleared_on_failure(void **state)
{
    t_ctx_t  t;

    /*
     * username is valid and checked before password fails; its value must
     * not be left pointing into the freed document
     */

    assert_int_equal(t_parse(&t, "{\"username\":\"a\",\"password\":7}"),
                     NGX_HTTP_SECURECHAT_JSON_WRONG_TYPE);
    assert_null(t.f[T_USER].value);
    assert_int_equal(t.f[T_USER].len, 0);
    assert_null(t.f[T_PASS].value);

    /* stale values from a caller's earlier use are cleared too */
    t_fields_init(&t);
    t.f[T_NOTE].value = "stale";
    t.f[T_NOTE].len = 5;
    assert_int_equal(ngx_http_securechat_json_parse_fields(
                         (const unsigned char *) "", 0, t.f, T_NFIELDS,
                         &t.doc, &t.bad),
                     NGX_HTTP_SECURECHAT_JSON_EMPTY);
    assert_null(t.f[T_NOTE].value);
    assert_int_equal(t.f[T_NOTE].len, 0);
}


static void
test_rc_strings(void **state)
{
    int          i, j;
    const char  *code[NGX_HTTP_SECURECHAT_JSON_BAD_CHARS + 1];
    const char  *text;

    for (i = NGX_HTTP_SECURECHAT_JSON_OK;
         i <= NGX_HTTP_SECURECHAT_JSON_BAD_CHARS;
         i++)
    {
        code[i] = ngx_http_securechat_json_rc_code(
                      (ngx_http_securechat_json_rc_e) i);
        text = ngx_http_securechat_json_rc_text(
                   (ngx_http_securechat_json_rc_e) i);

        assert_non_null(code[i]);
        assert_non_null(text);
        assert_true(strlen(code[i]) > 0);
        assert_true(strlen(text) > 0);

        /* machine codes: lower case and '_' only */
        assert_int_equal(strspn(code[i], "abcdefghijklmnopqrstuvwxyz_"),
                         strlen(code[i]));

        for (j = 0; j < i; j++) {
            assert_string_not_equal(code[i], code[j]);
        }
    }

    assert_string_equal(ngx_http_securechat_json_rc_code(
                            NGX_HTTP_SECURECHAT_JSON_MALFORMED),
                        "malformed_json");
    assert_string_equal(ngx_http_securechat_json_rc_code(
                            NGX_HTTP_SECURECHAT_JSON_UNKNOWN_FIELD),
                        "unknown_field");

    /* an out-of-range value still gets a string, never NULL */
    assert_non_null(ngx_http_securechat_json_rc_code(
                        (ngx_http_securechat_json_rc_e) 1000));
    assert_non_null(ngx_http_securechat_json_rc_text(
                        (ngx_http_securechat_json_rc_e) 1000));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_ok_optional_absent),
        cmocka_unit_test(test_ok_surrounding_whitespace),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_malformed_syntax),
        cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_raw_nul_byte),
        cmocka_unit_test(test_raw_control_byte),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_surrogates),
        cmocka_unit_test(test_escaped_nul),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_missing_field),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_length_counts_bytes),
        cmocka_unit_test(test_control_chars),
        cmocka_unit_test(test_no_fields),
        cmocka_unit_test(test_bad_field_optional),
        cmocka_unit_test(test_values_cleared_on_failure),
        cmocka_unit_test(test_rc_strings),
    };

    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
