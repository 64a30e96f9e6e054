
/*
 * Unit tests for src/ngx_http_securechat_token.c: base64url, tokens, the
 * HMAC derivations (against reference values computed outside this code)
 * and Cookie header parsing.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_securechat_token.h"


#define T_ALPHABET                                                           \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

#define T_NTOKENS  2000


static void t_b64_ok(const char *raw, size_t raw_len, const char *enc);
static int t_decode_str(const char *s);
static int t_cookie(const char *header, const char *name, const char *want);
static int t_cmp_token(const void *a, const void *b);
static void t_hex(const char *hex, unsigned char *out, size_t len);

static void test_b64_encoded_len(void **state);
static void test_b64_rfc4648_vectors(void **state);
static void test_b64_round_trip(void **state);
static void test_b64_refuse_padding(void **state);
static void test_b64_refuse_bad_chars(void **state);
static void test_b64_refuse_len_mod4_1(void **state);
static void test_b64_refuse_trailing_bits(void **state);
static void test_b64_every_byte(void **state);
static void test_token_generate(void **state);
static void test_token_syntax(void **state);
static void test_token_hash_kat(void **state);
static void test_csrf_derive_kat(void **state);
static void test_hmac_separation(void **state);
static void test_token_equal(void **state);
static void test_cookie_basic(void **state);
static void test_cookie_whitespace(void **state);
static void test_cookie_duplicates(void **state);
static void test_cookie_prefix_names(void **state);
static void test_cookie_empty_and_odd(void **state);


static void
t_b64_ok(const char *raw, size_t raw_len, const char *enc)
{
    size_t          enc_len, n;
    unsigned char   buf[256];

    enc_len = strlen(enc);

    assert_int_equal(ngx_http_securechat_base64url_encoded_len(raw_len),
                     enc_len);

    memset(buf, 0xaa, sizeof(buf));
    n = ngx_http_securechat_base64url_encode(buf, (const unsigned char *) raw,
                                             raw_len);
    assert_int_equal(n, enc_len);
    assert_memory_equal(buf, enc, enc_len);

    /* nothing written past the encoded length */
    assert_int_equal(buf[enc_len], 0xaa);

    memset(buf, 0xaa, sizeof(buf));
    assert_int_equal(ngx_http_securechat_base64url_decode(buf, &n,
                         (const unsigned char *) enc, enc_len), 0);
    assert_int_equal(n, raw_len);
    assert_memory_equal(buf, raw, raw_len);
}


/* 0 if s decodes, -1 if refused */

static int
t_decode_str(const char *s)
{
    size_t          n;
    unsigned char   buf[256];

    return ngx_http_securechat_base64url_decode(buf, &n,
                                                (const unsigned char *) s,
                                                strlen(s));
}


/*
 * Returns cookie_find's count, and checks that the value found is want
 * (NULL: none found).
 */

static int
t_cookie(const char *header, const char *name, const char *want)
{
    int                   n;
    size_t                vlen;
    const unsigned char  *v;

    v = (const unsigned char *) "poison";
    vlen = 99;

    n = ngx_http_securechat_cookie_find((const unsigned char *) header,
                                        strlen(header), name, &v, &vlen);

    if (want == NULL) {
        assert_int_equal(n, 0);
        assert_null(v);
        assert_int_equal(vlen, 0);

    } else {
        assert_true(n >= 1);
        assert_non_null(v);

        if (vlen != strlen(want) || memcmp(v, want, vlen) != 0) {
            print_error("header \"%s\" name \"%s\": got \"%.*s\", "
                        "want \"%s\"\n", header, name, (int) vlen,
                        (const char *) v, want);
            fail();
        }

        /* the value points into the header, not into a copy */
        assert_true(v >= (const unsigned char *) header
                    && v + vlen <= (const unsigned char *) header
                                   + strlen(header));
    }

    return n;
}


static int
t_cmp_token(const void *a, const void *b)
{
    return memcmp(a, b, NGX_HTTP_SECURECHAT_TOKEN_LEN);
}


static void
t_hex(const char *hex, unsigned char *out, size_t len)
{
    size_t        i;
    unsigned int  v;

    assert_int_equal(strlen(hex), len * 2);

    for (i = 0; i < len; i++) {
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char) v;
    }
}


static void
test_b64_encoded_len(void **state)
{
    assert_int_equal(ngx_http_securechat_base64url_encoded_len(0), 0);
    assert_int_equal(ngx_http_securechat_base64url_encoded_len(1), 2);
    assert_int_equal(ngx_http_securechat_base64url_encoded_len(2), 3);
    assert_int_equal(ngx_http_securechat_base64url_encoded_len(3), 4);
    assert_int_equal(ngx_http_securechat_base64url_encoded_len(4), 6);
    assert_int_equal(ngx_http_securechat_base64url_encoded_len(12), 16);
    assert_int_equal(ngx_http_securechat_base64url_encoded_len(16), 22);
    assert_int_equal(ngx_http_securechat_base64url_encoded_len(32),
                     NGX_HTTP_SECURECHAT_TOKEN_LEN);
    assert_int_equal(ngx_http_securechat_base64url_encoded_len(
                         NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN),
                     NGX_HTTP_SECURECHAT_CSRF_LEN);
}


static void
test_b64_rfc4648_vectors(void **state)
{
    /* RFC 4648 section 10, with the padding removed */
    t_b64_ok("", 0, "");
    t_b64_ok("f", 1, "Zg");
    t_b64_ok("fo", 2, "Zm8");
    t_b64_ok("foo", 3, "Zm9v");
    t_b64_ok("foob", 4, "Zm9vYg");
    t_b64_ok("fooba", 5, "Zm9vYmE");
    t_b64_ok("foobar", 6, "Zm9vYmFy");

    /*
     * The two characters that differ from standard base64; values from
     * python3 base64.urlsafe_b64encode(...).rstrip(b"=")
     */
    t_b64_ok("\xfb\xff", 2, "-_8");
    t_b64_ok("\xfb\xff\xbf", 3, "-_-_");
    t_b64_ok("\xff\xff\xff", 3, "____");
    t_b64_ok("\x00\x00\x00", 3, "AAAA");
    t_b64_ok("\x00", 1, "AA");
}


static void
test_b64_round_trip(void **state)
{
    size_t          len, n, i, enc_len;
    unsigned char   raw[96], enc[128], dec[96];

    for (len = 0; len <= sizeof(raw); len++) {

        for (i = 0; i < len; i++) {
            raw[i] = (unsigned char) (i * 97 + len * 31 + 7);
        }

        enc_len = ngx_http_securechat_base64url_encode(enc, raw, len);
        assert_int_equal(enc_len,
                         ngx_http_securechat_base64url_encoded_len(len));
        assert_int_not_equal(enc_len % 4, 1);

        for (i = 0; i < enc_len; i++) {
            assert_non_null(memchr(T_ALPHABET, enc[i], 64));
        }

        assert_int_equal(ngx_http_securechat_base64url_decode(dec, &n, enc,
                                                              enc_len), 0);
        assert_int_equal(n, len);
        assert_memory_equal(dec, raw, len);
    }
}


static void
test_b64_refuse_padding(void **state)
{
    assert_int_equal(t_decode_str("Zg=="), -1);
    assert_int_equal(t_decode_str("Zg="), -1);
    assert_int_equal(t_decode_str("Zm8="), -1);
    assert_int_equal(t_decode_str("===="), -1);
    assert_int_equal(t_decode_str("Zm9v===="), -1);

    /* the unpadded forms are fine */
    assert_int_equal(t_decode_str("Zg"), 0);
    assert_int_equal(t_decode_str("Zm8"), 0);
}


static void
test_b64_refuse_bad_chars(void **state)
{
    size_t          n;
    unsigned char   buf[16];

    /* standard base64's '+' and '/' */
    assert_int_equal(t_decode_str("ab+c"), -1);
    assert_int_equal(t_decode_str("ab/c"), -1);

    /* whitespace anywhere */
    assert_int_equal(t_decode_str("Zm9v Yg"), -1);
    assert_int_equal(t_decode_str(" Zm9v"), -1);
    assert_int_equal(t_decode_str("Zm9v\n"), -1);
    assert_int_equal(t_decode_str("Zm9v\r\nYg"), -1);
    assert_int_equal(t_decode_str("Zm\t9v"), -1);

    /* other punctuation and high bytes */
    assert_int_equal(t_decode_str("Zm9."), -1);
    assert_int_equal(t_decode_str("Zm9v!A"), -1);
    assert_int_equal(t_decode_str("Zm9\x80"), -1);
    assert_int_equal(t_decode_str("\xffm9v"), -1);

    /* a NUL inside */
    assert_int_equal(ngx_http_securechat_base64url_decode(buf, &n,
                         (const unsigned char *) "Zm\0v", 4), -1);

    /* a bad character in the first group, the rest fine */
    assert_int_equal(t_decode_str("*m9vZm9vZm9v"), -1);
}


static void
test_b64_refuse_len_mod4_1(void **state)
{
    assert_int_equal(t_decode_str("Z"), -1);
    assert_int_equal(t_decode_str("A"), -1);
    assert_int_equal(t_decode_str("Zm9vY"), -1);
    assert_int_equal(t_decode_str("Zm9vZm9vA"), -1);

    /* the empty string is the encoding of nothing */
    assert_int_equal(t_decode_str(""), 0);
}


static void
test_b64_refuse_trailing_bits(void **state)
{
    /* 2 characters: the low 4 bits of the second must be zero */
    assert_int_equal(t_decode_str("Zg"), 0);
    assert_int_equal(t_decode_str("Zh"), -1);
    assert_int_equal(t_decode_str("Zv"), -1);
    assert_int_equal(t_decode_str("AB"), -1);
    assert_int_equal(t_decode_str("AQ"), 0);
    assert_int_equal(t_decode_str("A_"), -1);

    /* 3 characters: the low 2 bits of the third must be zero */
    assert_int_equal(t_decode_str("Zm8"), 0);
    assert_int_equal(t_decode_str("Zm9"), -1);
    assert_int_equal(t_decode_str("Zm-"), -1);
    assert_int_equal(t_decode_str("AAB"), -1);
    assert_int_equal(t_decode_str("AAE"), 0);

    /* after full groups as well */
    assert_int_equal(t_decode_str("Zm9vZh"), -1);
    assert_int_equal(t_decode_str("Zm9vZm9"), -1);
}


static void
test_b64_every_byte(void **state)
{
    int             ok;
    size_t          n;
    unsigned int    c;
    unsigned char   in[4], buf[4];

    /* each byte value in the last position of a full group */

    for (c = 0; c < 256; c++) {
        in[0] = 'A';
        in[1] = 'B';
        in[2] = 'C';
        in[3] = (unsigned char) c;

        ok = (c != 0 && memchr(T_ALPHABET, (int) c, 64) != NULL);

        assert_int_equal(ngx_http_securechat_base64url_decode(buf, &n, in, 4),
                         ok ? 0 : -1);

        if (ok) {
            assert_int_equal(n, 3);

            /* and the value is the character's index in the alphabet */
            assert_int_equal(buf[2] & 0x3f,
                             (const char *) memchr(T_ALPHABET, (int) c, 64)
                             - T_ALPHABET);
        }
    }
}


static void
test_token_generate(void **state)
{
    size_t          i, j, n;
    unsigned char  *tokens, *t, raw[NGX_HTTP_SECURECHAT_TOKEN_BYTES + 2];

    tokens = malloc((size_t) T_NTOKENS * NGX_HTTP_SECURECHAT_TOKEN_LEN);
    assert_non_null(tokens);

    for (i = 0; i < T_NTOKENS; i++) {
        t = tokens + i * NGX_HTTP_SECURECHAT_TOKEN_LEN;

        assert_int_equal(ngx_http_securechat_token_generate(t), 0);
        assert_true(ngx_http_securechat_token_syntax_ok(t,
                        NGX_HTTP_SECURECHAT_TOKEN_LEN));

        for (j = 0; j < NGX_HTTP_SECURECHAT_TOKEN_LEN; j++) {
            assert_non_null(memchr(T_ALPHABET, t[j], 64));
        }

        /* 32 bytes of entropy behind it */
        assert_int_equal(ngx_http_securechat_base64url_decode(raw, &n, t,
                             NGX_HTTP_SECURECHAT_TOKEN_LEN), 0);
        assert_int_equal(n, NGX_HTTP_SECURECHAT_TOKEN_BYTES);
    }

    /* no two alike */

    qsort(tokens, T_NTOKENS, NGX_HTTP_SECURECHAT_TOKEN_LEN, t_cmp_token);

    for (i = 1; i < T_NTOKENS; i++) {
        assert_int_not_equal(t_cmp_token(
                                 tokens + (i - 1)
                                 * NGX_HTTP_SECURECHAT_TOKEN_LEN,
                                 tokens + i * NGX_HTTP_SECURECHAT_TOKEN_LEN),
                             0);
    }

    free(tokens);
}


static void
test_token_syntax(void **state)
{
    unsigned char  t[NGX_HTTP_SECURECHAT_TOKEN_LEN + 1];

    memcpy(t, "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8", 44);
    assert_true(ngx_http_securechat_token_syntax_ok(t, 43));

    /* wrong lengths */
    assert_false(ngx_http_securechat_token_syntax_ok(t, 42));
    assert_false(ngx_http_securechat_token_syntax_ok(t, 0));
    t[43] = 'A';
    assert_false(ngx_http_securechat_token_syntax_ok(t, 44));

    /* a foreign character */
    t[10] = '+';
    assert_false(ngx_http_securechat_token_syntax_ok(t, 43));
    t[10] = '=';
    assert_false(ngx_http_securechat_token_syntax_ok(t, 43));
    t[10] = '\0';
    assert_false(ngx_http_securechat_token_syntax_ok(t, 43));
    t[10] = 'q';
    assert_true(ngx_http_securechat_token_syntax_ok(t, 43));

    /*
     * 43 characters carry 258 bits for 256: the last must have its low
     * 2 bits clear, or the token is a second spelling of another one
     */
    t[42] = '8';
    assert_true(ngx_http_securechat_token_syntax_ok(t, 43));
    t[42] = '9';
    assert_false(ngx_http_securechat_token_syntax_ok(t, 43));
    t[42] = '_';
    assert_false(ngx_http_securechat_token_syntax_ok(t, 43));
    t[42] = '4';
    assert_true(ngx_http_securechat_token_syntax_ok(t, 43));
}


/*
 * Reference values, produced outside this code with:
 *
 *   TOK=$(python3 -c "import base64; print(base64.urlsafe_b64encode(
 *         bytes(range(0xa0, 0xc0))).rstrip(b'=').decode())")
 *   KEY=000102...1f                 (bytes 0x00..0x1f in hex)
 *
 *   printf 'securechat session v1%s' "$TOK" \
 *       | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY
 *   printf 'securechat session v1%s' "$TOK" \
 *       | openssl dgst -sha256 -mac HMAC -macopt key:secret
 *
 *   printf 'securechat csrf v1%s' "$TOK" \
 *       | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY -binary \
 *       | python3 -c "import sys, base64; print(base64.urlsafe_b64encode(
 *                     sys.stdin.buffer.read()).rstrip(b'=').decode())"
 *   (and the same with -macopt key:secret)
 */

#define T_KAT_TOKEN     "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8"
#define T_KAT_KEY_HEX                                                        \
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define T_KAT_HASH_HEX                                                       \
    "e1f52b91d5f2602db15fb9a25cfab278251298be0d65a26121a4a44c7c919aef"
#define T_KAT_HASH2_HEX                                                      \
    "84246aac936d696922581a6dbab6a9fae85905c43dee348c6589035cf44cc331"
#define T_KAT_CSRF      "UN_JvXLI-Rvz0FAN5gU4D5WbQrR0N0sSQcm1tngAaJs"
#define T_KAT_CSRF2     "q2tEivCBkDn6rHfwG-_U1Btf5Qat0V07fLhWu2SbT6E"


static void
test_token_hash_kat(void **state)
{
    unsigned char  key[32], want[32], out[NGX_HTTP_SECURECHAT_TOKEN_HASH_LEN];

    t_hex(T_KAT_KEY_HEX, key, sizeof(key));

    t_hex(T_KAT_HASH_HEX, want, sizeof(want));
    assert_int_equal(ngx_http_securechat_token_hash(key, sizeof(key),
                         (const unsigned char *) T_KAT_TOKEN, 43, out), 0);
    assert_memory_equal(out, want, 32);

    t_hex(T_KAT_HASH2_HEX, want, sizeof(want));
    assert_int_equal(ngx_http_securechat_token_hash(
                         (const unsigned char *) "secret", 6,
                         (const unsigned char *) T_KAT_TOKEN, 43, out), 0);
    assert_memory_equal(out, want, 32);

    /* an empty secret is refused */
    assert_int_equal(ngx_http_securechat_token_hash(key, 0,
                         (const unsigned char *) T_KAT_TOKEN, 43, out), -1);
}


static void
test_csrf_derive_kat(void **state)
{
    unsigned char  key[32], out[NGX_HTTP_SECURECHAT_CSRF_LEN + 1];

    t_hex(T_KAT_KEY_HEX, key, sizeof(key));

    out[NGX_HTTP_SECURECHAT_CSRF_LEN] = 0xaa;
    assert_int_equal(ngx_http_securechat_csrf_derive(key, sizeof(key),
                         (const unsigned char *) T_KAT_TOKEN, 43, out), 0);
    assert_memory_equal(out, T_KAT_CSRF, NGX_HTTP_SECURECHAT_CSRF_LEN);

    /* exactly CSRF_LEN bytes written, no terminator */
    assert_int_equal(out[NGX_HTTP_SECURECHAT_CSRF_LEN], 0xaa);

    assert_int_equal(ngx_http_securechat_csrf_derive(
                         (const unsigned char *) "secret", 6,
                         (const unsigned char *) T_KAT_TOKEN, 43, out), 0);
    assert_memory_equal(out, T_KAT_CSRF2, NGX_HTTP_SECURECHAT_CSRF_LEN);

    assert_int_equal(ngx_http_securechat_csrf_derive(key, 0,
                         (const unsigned char *) T_KAT_TOKEN, 43, out), -1);
}


static void
test_hmac_separation(void **state)
{
    unsigned char  h1[32], h2[32], c1[43], c2[43], tok[43];

    memcpy(tok, T_KAT_TOKEN, 43);

    /* deterministic */
    assert_int_equal(ngx_http_securechat_token_hash(
                         (const unsigned char *) "k", 1, tok, 43, h1), 0);
    assert_int_equal(ngx_http_securechat_token_hash(
                         (const unsigned char *) "k", 1, tok, 43, h2), 0);
    assert_memory_equal(h1, h2, 32);

    /* one token character, or the key, changes everything */
    tok[42] = 'A';
    assert_int_equal(ngx_http_securechat_token_hash(
                         (const unsigned char *) "k", 1, tok, 43, h2), 0);
    assert_memory_not_equal(h1, h2, 32);

    assert_int_equal(ngx_http_securechat_token_hash(
                         (const unsigned char *) "K", 1, tok, 43, h1), 0);
    assert_memory_not_equal(h1, h2, 32);

    /* the CSRF token is not the base64url of the session key */
    assert_int_equal(ngx_http_securechat_csrf_derive(
                         (const unsigned char *) "k", 1, tok, 43, c1), 0);
    assert_int_equal(ngx_http_securechat_token_hash(
                         (const unsigned char *) "k", 1, tok, 43, h1), 0);
    ngx_http_securechat_base64url_encode(c2, h1, 32);
    assert_memory_not_equal(c1, c2, 43);
}


static void
test_token_equal(void **state)
{
    const unsigned char  *a, *b;

    a = (const unsigned char *) T_KAT_TOKEN;
    b = (const unsigned char *) "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8";

    assert_true(ngx_http_securechat_token_equal(a, 43, b, 43));
    assert_false(ngx_http_securechat_token_equal(a, 43, b, 42));
    assert_false(ngx_http_securechat_token_equal(a, 42, b, 43));
    assert_true(ngx_http_securechat_token_equal(a, 42, b, 42));
    assert_true(ngx_http_securechat_token_equal(a, 0, b, 0));

    b = (const unsigned char *) "pKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8";
    assert_false(ngx_http_securechat_token_equal(a, 43, b, 43));

    b = (const unsigned char *) "oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr4";
    assert_false(ngx_http_securechat_token_equal(a, 43, b, 43));

    b = (const unsigned char *) "oKGio6SlpqeoqaqrrK2ur7DxsrO0tba3uLm6u7y9vr8";
    assert_false(ngx_http_securechat_token_equal(a, 43, b, 43));
}


static void
test_cookie_basic(void **state)
{
    assert_int_equal(t_cookie("sc_session=abc", "sc_session", "abc"), 1);
    assert_int_equal(t_cookie("a=1; sc_session=abc; b=2", "sc_session",
                              "abc"), 1);
    assert_int_equal(t_cookie("a=1; b=2; sc_session=abc", "sc_session",
                              "abc"), 1);
    assert_int_equal(t_cookie("a=1; b=2", "sc_session", NULL), 0);
    assert_int_equal(t_cookie("", "sc_session", NULL), 0);
    assert_int_equal(t_cookie("a=1; b=2", "a", "1"), 1);
    assert_int_equal(t_cookie("a=1; b=2", "b", "2"), 1);

    /* values keep '=' after the first one, e.g. base64 padding */
    assert_int_equal(t_cookie("x=a=b==; y=2", "x", "a=b=="), 1);

    /* names are case-sensitive */
    assert_int_equal(t_cookie("SC_SESSION=abc", "sc_session", NULL), 0);

    /* an empty name matches nothing, not even "=v" */
    assert_int_equal(t_cookie("=v; a=1", "", NULL), 0);
}


static void
test_cookie_whitespace(void **state)
{
    assert_int_equal(t_cookie("a=1;sc_session=abc;b=2", "sc_session", "abc"),
                     1);
    assert_int_equal(t_cookie("a=1;   sc_session=abc   ;b=2", "sc_session",
                              "abc"), 1);
    assert_int_equal(t_cookie("  sc_session = abc  ", "sc_session", "abc"),
                     1);
    assert_int_equal(t_cookie("\tsc_session\t=\tabc\t;", "sc_session",
                              "abc"), 1);

    /* whitespace inside a value is kept: it is the caller's to refuse */
    assert_int_equal(t_cookie("sc_session=a b", "sc_session", "a b"), 1);

    /* a name with inner whitespace is another name */
    assert_int_equal(t_cookie("sc _session=abc", "sc_session", NULL), 0);
}


static void
test_cookie_duplicates(void **state)
{
    /* all occurrences counted, first value returned */
    assert_int_equal(t_cookie("sc_session=one; sc_session=two",
                              "sc_session", "one"), 2);
    assert_int_equal(t_cookie("sc_session=one; a=1; sc_session=two; "
                              "sc_session=three", "sc_session", "one"), 3);
    assert_int_equal(t_cookie("sc_session=; sc_session=x", "sc_session", ""),
                     2);
    assert_int_equal(t_cookie("sc_session=x;sc_session=x", "sc_session",
                              "x"), 2);
}


static void
test_cookie_prefix_names(void **state)
{
    assert_int_equal(t_cookie("xsc_session=evil", "sc_session", NULL), 0);
    assert_int_equal(t_cookie("sc_session_x=evil", "sc_session", NULL), 0);
    assert_int_equal(t_cookie("sc_sessio=evil", "sc_session", NULL), 0);
    assert_int_equal(t_cookie("xsc_session=evil; sc_session=good; "
                              "sc_sessionx=evil", "sc_session", "good"), 1);
    assert_int_equal(t_cookie("__Host-sc_session=a", "sc_session", NULL), 0);

    /* and a value that looks like a pair does not count */
    assert_int_equal(t_cookie("a=sc_session=evil", "sc_session", NULL), 0);
}


static void
test_cookie_empty_and_odd(void **state)
{
    /* an empty value is a value */
    assert_int_equal(t_cookie("sc_session=", "sc_session", ""), 1);
    assert_int_equal(t_cookie("sc_session=;a=1", "sc_session", ""), 1);
    assert_int_equal(t_cookie("sc_session = ; a=1", "sc_session", ""), 1);

    /* a pair without '=' is skipped, whatever it is called */
    assert_int_equal(t_cookie("sc_session", "sc_session", NULL), 0);
    assert_int_equal(t_cookie("sc_session; a=1", "sc_session", NULL), 0);
    assert_int_equal(t_cookie("sc_session; sc_session=v", "sc_session", "v"),
                     1);

    /* empty pairs, stray separators */
    assert_int_equal(t_cookie(";;; ;sc_session=v;;", "sc_session", "v"), 1);
    assert_int_equal(t_cookie(";", "sc_session", NULL), 0);
    assert_int_equal(t_cookie("   ", "sc_session", NULL), 0);
    assert_int_equal(t_cookie("=", "sc_session", NULL), 0);

    /* quotes are not stripped: the token syntax check refuses them */
    assert_int_equal(t_cookie("sc_session=\"v\"", "sc_session", "\"v\""), 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_b64_encoded_len),
        cmocka_unit_test(test_b64_rfc4648_vectors),
        cmocka_unit_test(test_b64_round_trip),
        cmocka_unit_test(test_b64_refuse_padding),
        cmocka_unit_test(test_b64_refuse_bad_chars),
        cmocka_unit_test(test_b64_refuse_len_mod4_1),
        cmocka_unit_test(test_b64_refuse_trailing_bits),
        cmocka_unit_test(test_b64_every_byte),
        cmocka_unit_test(test_token_generate),
        cmocka_unit_test(test_token_syntax),
        cmocka_unit_test(test_token_hash_kat),
        cmocka_unit_test(test_csrf_derive_kat),
        cmocka_unit_test(test_hmac_separation),
        cmocka_unit_test(test_token_equal),
        cmocka_unit_test(test_cookie_basic),
        cmocka_unit_test(test_cookie_whitespace),
        cmocka_unit_test(test_cookie_duplicates),
        cmocka_unit_test(test_cookie_prefix_names),
        cmocka_unit_test(test_cookie_empty_and_odd),
    };

    return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
