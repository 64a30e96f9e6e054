
/*
 * Unit tests for src/ngx_http_securechat_passwd.c: user names, the hash
 * string format, scrypt known answers and create/verify.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_securechat_passwd.h"


/*
 * A hash string built outside this code:
 *
 *   python3 -c "import hashlib, base64
 *   b = lambda x: base64.urlsafe_b64encode(x).rstrip(b'=').decode()
 *   s = bytes(range(16))
 *   dk = hashlib.scrypt(b'correct horse battery staple', salt=s,
 *                       n=1024, r=8, p=1, dklen=32)
 *   print('\$scrypt\$ln=10,r=8,p=1\$' + b(s) + '\$' + b(dk))"
 */

#define T_KAT_PASSWORD  "correct horse battery staple"
#define T_KAT_HASH                                                           \
    "$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw"                           \
    "$mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S_AXJlRU"

/* salt bytes 0x10..0x1f, dk bytes 0x40..0x5f, encoded the same way */
#define T_FMT_HASH                                                           \
    "$scrypt$ln=15,r=8,p=1$EBESExQVFhcYGRobHB0eHw"                           \
    "$QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8"

#define T_SALT   "AAECAwQFBgcICQoLDA0ODw"
#define T_DK     "mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S_AXJlRU"


static int t_parse(const char *s, ngx_http_securechat_passwd_hash_t *h);
static void t_refuse(const char *s);
static void t_hex(const char *hex, unsigned char *out, size_t len);

static void test_username_ok(void **state);
static void test_format_known(void **state);
static void test_parse_known(void **state);
static void test_parse_format_round_trip(void **state);
static void test_parse_param_limits(void **state);
static void test_parse_refuse_params(void **state);
static void test_parse_refuse_b64(void **state);
static void test_parse_refuse_structure(void **state);
static void test_parse_line(void **state);
static void test_format_limits(void **state);
static void test_scrypt_rfc7914(void **state);
static void test_scrypt_refuse(void **state);
static void test_verify_known_hash(void **state);
static void test_create_verify(void **state);
static void test_create_verify_ln15(void **state);
static void test_create_refuse(void **state);
static void test_verify_tampered(void **state);


static int
t_parse(const char *s, ngx_http_securechat_passwd_hash_t *h)
{
    return ngx_http_securechat_passwd_parse((const unsigned char *) s,
                                            strlen(s), h);
}


static void
t_refuse(const char *s)
{
    ngx_http_securechat_passwd_hash_t  h;

    if (t_parse(s, &h) != -1) {
        print_error("accepted: \"%s\"\n", s);
        fail();
    }
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
test_username_ok(void **state)
{
    char  name[NGX_HTTP_SECURECHAT_USER_MAX + 2];

#define T_NAME(s)  ngx_http_securechat_username_ok((const unsigned char *) s, \
                                                   sizeof(s) - 1)

    assert_true(T_NAME("alice"));
    assert_true(T_NAME("a"));
    assert_true(T_NAME("A.b_c-9"));
    assert_true(T_NAME("0"));
    assert_true(T_NAME("..."));

    assert_false(T_NAME(""));
    assert_false(T_NAME("a b"));
    assert_false(T_NAME("a:b"));
    assert_false(T_NAME("a/b"));
    assert_false(T_NAME("a\0b"));
    assert_false(T_NAME("caf\xc3\xa9"));
    assert_false(T_NAME("a\n"));
    assert_false(T_NAME("#a"));
    assert_false(T_NAME("a$"));
    assert_false(T_NAME("a+b"));
    assert_false(T_NAME("a@b"));

#undef T_NAME

    memset(name, 'n', sizeof(name));
    assert_true(ngx_http_securechat_username_ok((unsigned char *) name, 64));
    assert_false(ngx_http_securechat_username_ok((unsigned char *) name, 65));
}


static void
test_format_known(void **state)
{
    int                                n;
    char                               out[NGX_HTTP_SECURECHAT_HASH_STR_MAX];
    size_t                             i;
    ngx_http_securechat_passwd_hash_t  h;

    h.ln = 15;
    h.r = 8;
    h.p = 1;

    for (i = 0; i < sizeof(h.salt); i++) {
        h.salt[i] = (unsigned char) (0x10 + i);
    }

    for (i = 0; i < sizeof(h.dk); i++) {
        h.dk[i] = (unsigned char) (0x40 + i);
    }

    n = ngx_http_securechat_passwd_format(&h, out, sizeof(out));
    assert_int_equal(n, strlen(T_FMT_HASH));
    assert_string_equal(out, T_FMT_HASH);
}


static void
test_parse_known(void **state)
{
    size_t                             i;
    ngx_http_securechat_passwd_hash_t  h;

    assert_int_equal(t_parse(T_FMT_HASH, &h), 0);
    assert_int_equal(h.ln, 15);
    assert_int_equal(h.r, 8);
    assert_int_equal(h.p, 1);

    for (i = 0; i < sizeof(h.salt); i++) {
        assert_int_equal(h.salt[i], 0x10 + i);
    }

    for (i = 0; i < sizeof(h.dk); i++) {
        assert_int_equal(h.dk[i], 0x40 + i);
    }
}


static void
test_parse_format_round_trip(void **state)
{
    int                                 n, k;
    char                                out[NGX_HTTP_SECURECHAT_HASH_STR_MAX];
    size_t                              i;
    ngx_http_securechat_passwd_hash_t   h, h2;
    static const char                  *good[] = {
        T_KAT_HASH,
        T_FMT_HASH,
        "$scrypt$ln=22,r=8,p=16$" T_SALT "$" T_DK,
        "$scrypt$ln=20,r=32,p=16$" T_SALT "$" T_DK,
        "$scrypt$ln=10,r=1,p=1$" T_SALT "$" T_DK,
        "$scrypt$ln=12,r=16,p=3$" T_SALT "$" T_DK,
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(t_parse(good[i], &h), 0);

        n = ngx_http_securechat_passwd_format(&h, out, sizeof(out));
        assert_true(n > 0);
        assert_string_equal(out, good[i]);

        assert_int_equal(t_parse(out, &h2), 0);
        assert_memory_equal(&h, &h2, sizeof(h));
    }

    /* random salts and keys, all parameters */

    for (k = 0; k < 200; k++) {
        memset(&h, 0, sizeof(h));
        h.ln = 10 + (unsigned int) k % 13;
        h.r = 1 + (unsigned int) k % 8;
        h.p = 1 + (unsigned int) k % 16;

        for (i = 0; i < sizeof(h.salt); i++) {
            h.salt[i] = (unsigned char) rand();
        }

        for (i = 0; i < sizeof(h.dk); i++) {
            h.dk[i] = (unsigned char) rand();
        }

        n = ngx_http_securechat_passwd_format(&h, out, sizeof(out));
        assert_true(n > 0);
        assert_int_equal(strlen(out), n);

        assert_int_equal(t_parse(out, &h2), 0);
        assert_memory_equal(&h, &h2, sizeof(h));
    }
}


static void
test_parse_param_limits(void **state)
{
    ngx_http_securechat_passwd_hash_t  h;

    assert_int_equal(t_parse("$scrypt$ln=10,r=8,p=1$" T_SALT "$" T_DK, &h),
                     0);
    assert_int_equal(t_parse("$scrypt$ln=22,r=8,p=1$" T_SALT "$" T_DK, &h),
                     0);
    assert_int_equal(h.ln, 22);
    assert_int_equal(t_parse("$scrypt$ln=10,r=32,p=16$" T_SALT "$" T_DK, &h),
                     0);
    assert_int_equal(h.r, 32);
    assert_int_equal(h.p, 16);

    /* the memory cap: ln 22 fits only with r up to 8 */
    assert_int_equal(t_parse("$scrypt$ln=22,r=9,p=1$" T_SALT "$" T_DK, &h),
                     -1);
    assert_int_equal(t_parse("$scrypt$ln=21,r=16,p=1$" T_SALT "$" T_DK, &h),
                     0);
    assert_int_equal(t_parse("$scrypt$ln=21,r=17,p=1$" T_SALT "$" T_DK, &h),
                     -1);
    assert_int_equal(t_parse("$scrypt$ln=22,r=32,p=16$" T_SALT "$" T_DK, &h),
                     -1);
}


static void
test_parse_refuse_params(void **state)
{
    /* out of range */
    t_refuse("$scrypt$ln=9,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=0,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=1,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=23,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=64,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15,r=0,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15,r=33,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15,r=8,p=0$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15,r=8,p=17$" T_SALT "$" T_DK);

    /* spelling: one way only */
    t_refuse("$scrypt$ln=015,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15,r=08,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15,r=8,p=01$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=+15,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=-15,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln= 15,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15 ,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15, r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=0x0f,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=99999999999999999999,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=4294967311,r=8,p=1$" T_SALT "$" T_DK);

    /* order, missing and extra parameters */
    t_refuse("$scrypt$r=8,ln=15,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15,p=1,r=8$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15,r=8$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15,r=8,p=1,x=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$ln=15,r=8,p=$" T_SALT "$" T_DK);
    t_refuse("$scrypt$LN=15,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$scrypt$n=32768,r=8,p=1$" T_SALT "$" T_DK);
}


static void
test_parse_refuse_b64(void **state)
{
    /* salt: 22 characters, unpadded, canonical */
    t_refuse("$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$" T_DK);
    t_refuse("$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0OD$" T_DK);
    t_refuse("$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODwA$" T_DK);
    t_refuse("$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0ODx$" T_DK);
    t_refuse("$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0OD+$" T_DK);
    t_refuse("$scrypt$ln=10,r=8,p=1$AAECAwQFBgcICQoLDA0O/w$" T_DK);
    t_refuse("$scrypt$ln=10,r=8,p=1$AAECAwQFBgcIC QoLDA0ODw$" T_DK);
    t_refuse("$scrypt$ln=10,r=8,p=1$$" T_DK);

    /* dk: 43 characters likewise */
    t_refuse("$scrypt$ln=10,r=8,p=1$" T_SALT
             "$mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S_AXJlRU=");
    t_refuse("$scrypt$ln=10,r=8,p=1$" T_SALT
             "$mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S_AXJlR");
    t_refuse("$scrypt$ln=10,r=8,p=1$" T_SALT
             "$mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S_AXJlRUA");
    t_refuse("$scrypt$ln=10,r=8,p=1$" T_SALT
             "$mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S_AXJlRV");
    t_refuse("$scrypt$ln=10,r=8,p=1$" T_SALT
             "$mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU");
    t_refuse("$scrypt$ln=10,r=8,p=1$" T_SALT
             "$mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S_AXJl\xc3\xa9");
    t_refuse("$scrypt$ln=10,r=8,p=1$" T_SALT "$");
}


static void
test_parse_refuse_structure(void **state)
{
    ngx_http_securechat_passwd_hash_t  h;

    t_refuse("");
    t_refuse("$");
    t_refuse("$scrypt$");
    t_refuse("$scrypt");
    t_refuse("scrypt$ln=10,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$SCRYPT$ln=10,r=8,p=1$" T_SALT "$" T_DK);
    t_refuse("$2y$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234");
    t_refuse("$7$CU..../....abc$def");
    t_refuse(" $scrypt$ln=10,r=8,p=1$" T_SALT "$" T_DK);

    /* missing fields */
    t_refuse("$scrypt$ln=10,r=8,p=1");
    t_refuse("$scrypt$ln=10,r=8,p=1$");
    t_refuse("$scrypt$ln=10,r=8,p=1$" T_SALT);
    t_refuse("$scrypt$ln=10,r=8,p=1$" T_DK);
    t_refuse("$scrypt$ln=10,r=8,p=1$$" T_SALT "$" T_DK);
    t_refuse("$scrypt$$" T_SALT "$" T_DK);

    /* trailing bytes */
    t_refuse(T_KAT_HASH "$");
    t_refuse(T_KAT_HASH "\n");
    t_refuse(T_KAT_HASH "\r");
    t_refuse(T_KAT_HASH " ");
    t_refuse(T_KAT_HASH "$x");
    assert_int_equal(ngx_http_securechat_passwd_parse(
                         (const unsigned char *) T_KAT_HASH "\0",
                         sizeof(T_KAT_HASH), &h), -1);

    /* and the length given, not the NUL, ends the string */
    assert_int_equal(ngx_http_securechat_passwd_parse(
                         (const unsigned char *) T_KAT_HASH,
                         sizeof(T_KAT_HASH) - 2, &h), -1);
    assert_int_equal(ngx_http_securechat_passwd_parse(
                         (const unsigned char *) T_KAT_HASH,
                         sizeof(T_KAT_HASH) - 1, &h), 0);
}


static void
test_parse_line(void **state)
{
    char                                buf[256];
    size_t                              nlen;
    const char                         *line;
    const unsigned char                *name;
    ngx_http_securechat_passwd_hash_t   h, h2;

#define T_LINE(s)  ngx_http_securechat_passwd_parse_line(                    \
                       (const unsigned char *) (s), strlen(s), &name, &nlen,  \
                       &h)

    line = "alice:" T_KAT_HASH;
    assert_int_equal(T_LINE(line), 0);
    assert_ptr_equal(name, line);
    assert_int_equal(nlen, 5);
    assert_int_equal(t_parse(T_KAT_HASH, &h2), 0);
    assert_memory_equal(&h, &h2, sizeof(h));

    line = "A.b_c-9:" T_FMT_HASH;
    assert_int_equal(T_LINE(line), 0);
    assert_int_equal(nlen, 7);
    assert_memory_equal(name, "A.b_c-9", 7);
    assert_int_equal(h.ln, 15);

    /* 64-byte name fits, 65 does not */
    memset(buf, 'n', 65);
    memcpy(buf + 64, ":" T_KAT_HASH, sizeof(":" T_KAT_HASH));
    assert_int_equal(T_LINE(buf), 0);
    assert_int_equal(nlen, 64);
    memset(buf, 'n', 65);
    memcpy(buf + 65, ":" T_KAT_HASH, sizeof(":" T_KAT_HASH));
    assert_int_equal(T_LINE(buf), -1);

    /* refusals */
    assert_int_equal(T_LINE(""), -1);
    assert_int_equal(T_LINE(":"), -1);
    assert_int_equal(T_LINE("alice"), -1);
    assert_int_equal(T_LINE("alice:"), -1);
    assert_int_equal(T_LINE(":" T_KAT_HASH), -1);
    assert_int_equal(T_LINE("al ice:" T_KAT_HASH), -1);
    assert_int_equal(T_LINE(" alice:" T_KAT_HASH), -1);
    assert_int_equal(T_LINE("alice :" T_KAT_HASH), -1);
    assert_int_equal(T_LINE("alice: " T_KAT_HASH), -1);
    assert_int_equal(T_LINE("#alice:" T_KAT_HASH), -1);
    assert_int_equal(T_LINE("alice:" T_KAT_HASH "\r"), -1);
    assert_int_equal(T_LINE("alice:" T_KAT_HASH ":x"), -1);
    assert_int_equal(T_LINE("a:b:" T_KAT_HASH), -1);
    assert_int_equal(T_LINE("alice:{PLAIN}secret"), -1);

#undef T_LINE
}


static void
test_format_limits(void **state)
{
    int                                n;
    char                               out[NGX_HTTP_SECURECHAT_HASH_STR_MAX];
    ngx_http_securechat_passwd_hash_t  h;

    assert_int_equal(t_parse("$scrypt$ln=20,r=32,p=16$" T_SALT "$" T_DK, &h),
                     0);

    /* the longest string fits HASH_STR_MAX easily */
    n = ngx_http_securechat_passwd_format(&h, out, sizeof(out));
    assert_int_equal(n, strlen("$scrypt$ln=20,r=32,p=16$" T_SALT "$" T_DK));
    assert_true(n < NGX_HTTP_SECURECHAT_HASH_STR_MAX);

    /* exactly big enough, then one short */
    assert_int_equal(ngx_http_securechat_passwd_format(&h, out,
                                                       (size_t) n + 1), n);
    assert_int_equal(ngx_http_securechat_passwd_format(&h, out, (size_t) n),
                     -1);
    assert_int_equal(ngx_http_securechat_passwd_format(&h, out, 10), -1);
    assert_int_equal(ngx_http_securechat_passwd_format(&h, NULL, 0), -1);

    /* parameters parse would refuse are not written either */
    h.ln = 9;
    assert_int_equal(ngx_http_securechat_passwd_format(&h, out, sizeof(out)),
                     -1);
    h.ln = 23;
    assert_int_equal(ngx_http_securechat_passwd_format(&h, out, sizeof(out)),
                     -1);
    h.ln = 15;
    h.r = 0;
    assert_int_equal(ngx_http_securechat_passwd_format(&h, out, sizeof(out)),
                     -1);
    h.r = 8;
    h.p = 17;
    assert_int_equal(ngx_http_securechat_passwd_format(&h, out, sizeof(out)),
                     -1);
    h.ln = 22;
    h.r = 32;
    h.p = 1;
    assert_int_equal(ngx_http_securechat_passwd_format(&h, out, sizeof(out)),
                     -1);
}


/*
 * RFC 7914 section 12.  The full 64-byte outputs were also recomputed with
 * python3 hashlib.scrypt(P, salt=S, n=N, r=r, p=p, dklen=64).hex().
 */

static void
test_scrypt_rfc7914(void **state)
{
    unsigned char  dk[64], want[64];

    t_hex("77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
          "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906",
          want, 64);
    assert_int_equal(ngx_http_securechat_passwd_scrypt(
                         (const unsigned char *) "", 0,
                         (const unsigned char *) "", 0,
                         4, 1, 1, dk, 64), 0);
    assert_memory_equal(dk, want, 64);

    t_hex("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
          "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
          want, 64);
    assert_int_equal(ngx_http_securechat_passwd_scrypt(
                         (const unsigned char *) "password", 8,
                         (const unsigned char *) "NaCl", 4,
                         10, 8, 16, dk, 64), 0);
    assert_memory_equal(dk, want, 64);

    /* a 32-byte output is the first half (PBKDF2's first block) */
    memset(dk, 0, sizeof(dk));
    assert_int_equal(ngx_http_securechat_passwd_scrypt(
                         (const unsigned char *) "password", 8,
                         (const unsigned char *) "NaCl", 4,
                         10, 8, 16, dk, 32), 0);
    assert_memory_equal(dk, want, 32);

    t_hex("7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
          "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887",
          want, 64);
    assert_int_equal(ngx_http_securechat_passwd_scrypt(
                         (const unsigned char *) "pleaseletmein", 13,
                         (const unsigned char *) "SodiumChloride", 14,
                         14, 8, 1, dk, 64), 0);
    assert_memory_equal(dk, want, 64);
}


static void
test_scrypt_refuse(void **state)
{
    unsigned char  dk[32];

#define T_KDF(ln, r, p)                                                      \
    ngx_http_securechat_passwd_scrypt((const unsigned char *) "pw", 2,       \
                                      (const unsigned char *) "salt", 4,     \
                                      ln, r, p, dk, sizeof(dk))

    assert_int_equal(T_KDF(0, 8, 1), -1);
    assert_int_equal(T_KDF(23, 8, 1), -1);
    assert_int_equal(T_KDF(63, 8, 1), -1);
    assert_int_equal(T_KDF(10, 0, 1), -1);
    assert_int_equal(T_KDF(10, 33, 1), -1);
    assert_int_equal(T_KDF(10, 8, 0), -1);
    assert_int_equal(T_KDF(10, 8, 17), -1);

    /* over the memory cap, refused before any allocation */
    assert_int_equal(T_KDF(22, 32, 1), -1);
    assert_int_equal(T_KDF(22, 9, 1), -1);

#undef T_KDF
}


static void
test_verify_known_hash(void **state)
{
    ngx_http_securechat_passwd_hash_t  h;

    assert_int_equal(t_parse(T_KAT_HASH, &h), 0);

    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) T_KAT_PASSWORD,
                         strlen(T_KAT_PASSWORD), &h), 1);
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) T_KAT_PASSWORD,
                         strlen(T_KAT_PASSWORD) - 1, &h), 0);
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "Correct horse battery staple",
                         strlen(T_KAT_PASSWORD), &h), 0);
}


static void
test_create_verify(void **state)
{
    char                               s1[NGX_HTTP_SECURECHAT_HASH_STR_MAX];
    char                               s2[NGX_HTTP_SECURECHAT_HASH_STR_MAX];
    unsigned char                      bin[] = "a\x01" "b\xff";
    unsigned char                      dk[32];
    ngx_http_securechat_passwd_hash_t  h, h2, hb;

#define T_PW(s)  (const unsigned char *) (s), strlen(s)

    assert_int_equal(ngx_http_securechat_passwd_create(T_PW("hunter2"), 10,
                                                       &h), 0);
    assert_int_equal(h.ln, 10);
    assert_int_equal(h.r, NGX_HTTP_SECURECHAT_SCRYPT_R);
    assert_int_equal(h.p, NGX_HTTP_SECURECHAT_SCRYPT_P);

    assert_int_equal(ngx_http_securechat_passwd_verify(T_PW("hunter2"), &h),
                     1);
    assert_int_equal(ngx_http_securechat_passwd_verify(T_PW("hunter3"), &h),
                     0);
    assert_int_equal(ngx_http_securechat_passwd_verify(T_PW("hunter"), &h),
                     0);
    assert_int_equal(ngx_http_securechat_passwd_verify(T_PW("hunter22"), &h),
                     0);
    assert_int_equal(ngx_http_securechat_passwd_verify(T_PW("Hunter2"), &h),
                     0);
    assert_int_equal(ngx_http_securechat_passwd_verify(T_PW(""), &h), 0);

    /* through the file format and back */
    assert_true(ngx_http_securechat_passwd_format(&h, s1, sizeof(s1)) > 0);
    assert_int_equal(t_parse(s1, &h2), 0);
    assert_int_equal(ngx_http_securechat_passwd_verify(T_PW("hunter2"), &h2),
                     1);

    /* the same password again: a fresh salt, so a different string */
    assert_int_equal(ngx_http_securechat_passwd_create(T_PW("hunter2"), 10,
                                                       &h2), 0);
    assert_true(ngx_http_securechat_passwd_format(&h2, s2, sizeof(s2)) > 0);
    assert_string_not_equal(s1, s2);
    assert_memory_not_equal(h.salt, h2.salt, sizeof(h.salt));
    assert_int_equal(ngx_http_securechat_passwd_verify(T_PW("hunter2"), &h2),
                     1);

    /* passwords are bytes: controls and non-UTF-8 included */
    assert_int_equal(ngx_http_securechat_passwd_create(bin, 4, 10, &hb), 0);
    assert_int_equal(ngx_http_securechat_passwd_verify(bin, 4, &hb), 1);
    assert_int_equal(ngx_http_securechat_passwd_verify(bin, 3, &hb), 0);

    /*
     * but not NUL: HMAC zero-pads its key, so scrypt itself cannot tell
     * "a\1b\377" from "a\1b\377\0"; the unit refuses NUL instead
     */
    assert_int_equal(ngx_http_securechat_passwd_scrypt(bin, 4,
                         hb.salt, sizeof(hb.salt), 10, 8, 1, dk, 32), 0);
    assert_memory_equal(dk, hb.dk, 32);
    assert_int_equal(ngx_http_securechat_passwd_scrypt(bin, 5,
                         hb.salt, sizeof(hb.salt), 10, 8, 1, dk, 32), 0);
    assert_memory_equal(dk, hb.dk, 32);

    assert_int_equal(ngx_http_securechat_passwd_verify(bin, 5, &hb), 0);
    assert_int_equal(ngx_http_securechat_passwd_create(bin, 5, 10, &h2), -1);
    assert_int_equal(ngx_http_securechat_passwd_create(
                         (const unsigned char *) "\0", 1, 10, &h2), -1);

#undef T_PW
}


static void
test_create_verify_ln15(void **state)
{
    ngx_http_securechat_passwd_hash_t  h;

    assert_int_equal(ngx_http_securechat_passwd_create(
                         (const unsigned char *) "default cost", 12,
                         NGX_HTTP_SECURECHAT_SCRYPT_LN, &h), 0);
    assert_int_equal(h.ln, 15);
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "default cost", 12, &h), 1);
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "default cosT", 12, &h), 0);
}


static void
test_create_refuse(void **state)
{
    unsigned char                      *big;
    ngx_http_securechat_passwd_hash_t   h;

    assert_int_equal(ngx_http_securechat_passwd_create(
                         (const unsigned char *) "pw", 2, 9, &h), -1);
    assert_int_equal(ngx_http_securechat_passwd_create(
                         (const unsigned char *) "pw", 2, 23, &h), -1);
    assert_int_equal(ngx_http_securechat_passwd_create(
                         (const unsigned char *) "", 0, 10, &h), -1);

    /* PASSWORD_MAX bytes are fine, one more is not */
    big = malloc(NGX_HTTP_SECURECHAT_PASSWORD_MAX + 1);
    assert_non_null(big);
    memset(big, 'x', NGX_HTTP_SECURECHAT_PASSWORD_MAX + 1);

    assert_int_equal(ngx_http_securechat_passwd_create(big,
                         NGX_HTTP_SECURECHAT_PASSWORD_MAX + 1, 10, &h), -1);
    assert_int_equal(ngx_http_securechat_passwd_create(big,
                         NGX_HTTP_SECURECHAT_PASSWORD_MAX, 10, &h), 0);
    assert_int_equal(ngx_http_securechat_passwd_verify(big,
                         NGX_HTTP_SECURECHAT_PASSWORD_MAX, &h), 1);

    /* an over-long attempt is a mismatch, not an error */
    assert_int_equal(ngx_http_securechat_passwd_verify(big,
                         NGX_HTTP_SECURECHAT_PASSWORD_MAX + 1, &h), 0);

    free(big);
}


static void
test_verify_tampered(void **state)
{
    ngx_http_securechat_passwd_hash_t  h, t;

    assert_int_equal(ngx_http_securechat_passwd_create(
                         (const unsigned char *) "pw", 2, 10, &h), 0);

    t = h;
    t.dk[31] ^= 1;
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "pw", 2, &t), 0);

    t = h;
    t.dk[0] ^= 0x80;
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "pw", 2, &t), 0);

    t = h;
    t.salt[5] ^= 1;
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "pw", 2, &t), 0);

    /* other cost parameters derive another key */
    t = h;
    t.ln = 11;
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "pw", 2, &t), 0);

    t = h;
    t.r = 7;
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "pw", 2, &t), 0);

    /* parameters outside the limits: an error, nothing derived */
    t = h;
    t.ln = 9;
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "pw", 2, &t), -1);

    t = h;
    t.ln = 40;
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "pw", 2, &t), -1);

    t = h;
    t.ln = 22;
    t.r = 32;
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "pw", 2, &t), -1);

    t = h;
    t.p = 0;
    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "pw", 2, &t), -1);

    assert_int_equal(ngx_http_securechat_passwd_verify(
                         (const unsigned char *) "pw", 2, &h), 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_username_ok),
        cmocka_unit_test(test_format_known),
        cmocka_unit_test(test_parse_known),
        cmocka_unit_test(test_parse_format_round_trip),
        cmocka_unit_test(test_parse_param_limits),
        cmocka_unit_test(test_parse_refuse_params),
        cmocka_unit_test(test_parse_refuse_b64),
        cmocka_unit_test(test_parse_refuse_structure),
        cmocka_unit_test(test_parse_line),
        cmocka_unit_test(test_format_limits),
        cmocka_unit_test(test_scrypt_rfc7914),
        cmocka_unit_test(test_scrypt_refuse),
        cmocka_unit_test(test_verify_known_hash),
        cmocka_unit_test(test_create_verify),
        cmocka_unit_test(test_create_verify_ln15),
        cmocka_unit_test(test_create_refuse),
        cmocka_unit_test(test_verify_tampered),
    };

    return cmocka_run_group_tests_name("passwd", tests, NULL, NULL);
}
