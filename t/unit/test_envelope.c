
/*
 * Unit tests for src/ngx_http_securechat_envelope.c and the signing helpers
 * of src/ngx_http_securechat_crypto.c.  Frames are taken apart with
 * jansson and checked against byte strings rebuilt here from the layout in
 * docs/PROTOCOL.md, and decrypted with plain EVP calls the way a client
 * would; the independent check in another implementation is
 * t/envelope/verify.pl (CryptX).
 *
 * OpenSSL's allocator is counted (CRYPTO_set_mem_functions), to prove the
 * per-recipient step allocates nothing.
 */


#define _GNU_SOURCE                 /* memmem() */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_room.h"
#include "ngx_http_securechat_token.h"


#define T_BUF      (64 * 1024)
#define T_CONN     "c-1.x~Y_9"
#define T_SENDER   "alice"
#define T_TEXT     "h\xc3\xa9llo, world"
#define T_ROOM     "general"
#define T_EPOCH    0x0123456789abcdefULL

/* the room arguments of the client frame calls, to keep them readable */
#define T_ROOM_IN  (const unsigned char *) T_ROOM, sizeof(T_ROOM) - 1
#define T_ROOM_OUT t_room, &t_room_len

/* a chat frame's start, for the frames written out by hand */
#define T_CHAT     "{\"type\":\"chat\",\"room\":\"general\","

/* one character more than a room name may have */
#define T_ROOM65                                                            \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


/* where the client frame calls write the room they open */
static unsigned char  t_room[NGX_HTTP_SECURECHAT_ROOM_NAME_MAX];
static size_t         t_room_len;


typedef struct {
    EVP_PKEY       *rsa;        /* server, RSA-2048 */
    EVP_PKEY       *ed;         /* server, Ed25519 */
    EVP_PKEY       *client[2];  /* clients, RSA-2048 */
    unsigned char   rsa_id[NGX_HTTP_SECURECHAT_KEY_ID_LEN];
    unsigned char   ed_id[NGX_HTTP_SECURECHAT_KEY_ID_LEN];
    unsigned char   client_id[2][NGX_HTTP_SECURECHAT_KEY_ID_LEN];
    unsigned char   client_der[2][NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX];
    size_t          client_der_len[2];
} t_keys_t;


typedef struct {
    unsigned char  *p;
    size_t          len;
} t_bin_t;


static void *t_malloc(size_t n, const char *file, int line);
static void *t_realloc(void *p, size_t n, const char *file, int line);
static void t_free(void *p, const char *file, int line);
static int t_rand_fail(unsigned char *buf, int num);

static void t_put_field(unsigned char **p, const void *data, size_t len);
static void t_put_u64(unsigned char **p, uint64_t v);
static json_t *t_parse(const unsigned char *frame, size_t len);
static t_bin_t t_b64(json_t *doc, const char *name);
static void t_bin_free(t_bin_t *b);
static int t_oaep_decrypt(EVP_PKEY *pkey, const char *md,
    const unsigned char *in, size_t len, unsigned char *out);
static void t_hkdf(const unsigned char *sk, const char *info,
    unsigned char *out);
static int t_unwrap(const unsigned char *kek, const unsigned char *in,
    unsigned char *cek);
static int t_gcm_open(const unsigned char *key, const unsigned char *iv,
    const unsigned char *aad, size_t aad_len, const unsigned char *ct,
    size_t len, const unsigned char *tag, unsigned char *out);
static void t_hello(t_keys_t *k, EVP_PKEY *server, const unsigned char *sid,
    int who, ngx_http_securechat_channel_t *s, unsigned char *sk);
static size_t t_seal(t_keys_t *k, EVP_PKEY *server, const unsigned char *sid,
    ngx_http_securechat_envelope_t *env, unsigned char *buf);
static int t_open(EVP_PKEY *server, const unsigned char *frame, size_t len,
    const unsigned char *wrap_key, unsigned char *text, size_t *text_len);
static void t_epoch_hex(const unsigned char *p, char *out);
static void t_message_in(ngx_http_securechat_message_in_t *in,
    EVP_PKEY *server, const unsigned char *sid);
static ngx_http_securechat_chat_rc_e t_chat_open(
    ngx_http_securechat_channel_t *s, const char *frame);

static int t_setup(void **state);
static int t_teardown(void **state);

static void test_sign_verify(void **state);
static void test_pss_parameters(void **state);
static void test_session_derive(void **state);
static void test_hello(void **state);
static void test_hello_refusals(void **state);
static void test_envelope_round_trip(void **state);
static void test_envelope_layout(void **state);
static void test_envelope_other_recipient(void **state);
static void test_envelope_bit_flips(void **state);
static void test_envelope_fresh_keys(void **state);
static void test_envelope_deterministic(void **state);
static void test_envelope_no_alloc_per_recipient(void **state);
static void test_envelope_refusals(void **state);
static void test_rand_failure(void **state);
static void test_chat_round_trip(void **state);
static void test_chat_counter(void **state);
static void test_chat_bad_tag(void **state);
static void test_chat_bad_json(void **state);
static void test_chat_bad_field(void **state);
static void test_chat_bad_base64(void **state);
static void test_chat_bad_length(void **state);
static void test_chat_too_long(void **state);
static void test_chat_codes(void **state);


static long  t_allocs;


static void *
t_malloc(size_t n, const char *file, int line)
{
    t_allocs++;
    return malloc(n);
}


static void *
t_realloc(void *p, size_t n, const char *file, int line)
{
    t_allocs++;
    return realloc(p, n);
}


static void
t_free(void *p, const char *file, int line)
{
    free(p);
}


static int
t_rand_fail(unsigned char *buf, int num)
{
    return 0;
}


static void
t_put_field(unsigned char **p, const void *data, size_t len)
{
    (*p)[0] = (unsigned char) (len >> 24);
    (*p)[1] = (unsigned char) (len >> 16);
    (*p)[2] = (unsigned char) (len >> 8);
    (*p)[3] = (unsigned char) len;
    memcpy(*p + 4, data, len);
    *p += 4 + len;
}


static void
t_put_u64(unsigned char **p, uint64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        *(*p)++ = (unsigned char) (v >> (8 * i));
    }
}


static json_t *
t_parse(const unsigned char *frame, size_t len)
{
    json_t        *doc;
    json_error_t   err;

    doc = json_loadb((const char *) frame, len, JSON_REJECT_DUPLICATES, &err);

    if (doc == NULL) {
        fail_msg("frame is not JSON: %s: %.*s", err.text, (int) len, frame);
    }

    return doc;
}


static t_bin_t
t_b64(json_t *doc, const char *name)
{
    t_bin_t      b;
    json_t      *v;
    const char  *s;
    size_t       len;

    v = json_object_get(doc, name);
    assert_true(json_is_string(v));
    s = json_string_value(v);
    len = json_string_length(v);

    b.p = malloc(len + 1);
    assert_non_null(b.p);
    assert_int_equal(ngx_http_securechat_base64url_decode(b.p, &b.len,
                         (const unsigned char *) s, len), 0);

    return b;
}


static void
t_bin_free(t_bin_t *b)
{
    free(b->p);
    b->p = NULL;
}


/* what the client does with its private key; -1 when it does not decrypt */

static int
t_oaep_decrypt(EVP_PKEY *pkey, const char *md, const unsigned char *in,
    size_t len, unsigned char *out)
{
    int            rc;
    size_t         n;
    OSSL_PARAM     params[4];
    EVP_PKEY_CTX  *ctx;

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    assert_non_null(ctx);

    params[0] = OSSL_PARAM_construct_utf8_string(
                    OSSL_ASYM_CIPHER_PARAM_PAD_MODE, (char *) "oaep", 0);
    params[1] = OSSL_PARAM_construct_utf8_string(
                    OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *) md, 0);
    params[2] = OSSL_PARAM_construct_utf8_string(
                    OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, (char *) md, 0);
    params[3] = OSSL_PARAM_construct_end();

    assert_int_equal(EVP_PKEY_decrypt_init_ex(ctx, params), 1);

    n = 512;
    rc = EVP_PKEY_decrypt(ctx, out, &n, in, len);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();

    if (rc != 1) {
        return -1;
    }

    assert_int_equal(n, NGX_HTTP_SECURECHAT_SK_LEN);

    return 0;
}


/* RFC 5869 by hand with HMAC: PRK = HMAC(0^32, sk), OKM = HMAC(PRK, info|1) */

static void
t_hkdf(const unsigned char *sk, const char *info, unsigned char *out)
{
    size_t          n;
    unsigned char   zero[32], prk[32], msg[64];

    memset(zero, 0, sizeof(zero));

    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, zero, 32,
                              sk, 32, prk, sizeof(prk), &n));
    assert_int_equal(n, 32);

    n = strlen(info);
    memcpy(msg, info, n);
    msg[n] = 1;

    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, prk, 32,
                              msg, n + 1, out, 32, &n));
}


static int
t_unwrap(const unsigned char *kek, const unsigned char *in,
    unsigned char *cek)
{
    int              n, m, rc;
    EVP_CIPHER_CTX  *ctx;
    unsigned char    out[64];

    ctx = EVP_CIPHER_CTX_new();
    assert_non_null(ctx);
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);

    rc = -1;

    if (EVP_DecryptInit_ex2(ctx, EVP_aes_256_wrap(), kek, NULL, NULL) == 1
        && EVP_DecryptUpdate(ctx, out, &n,
                             in, NGX_HTTP_SECURECHAT_WRAPPED_CEK_LEN) == 1
        && EVP_DecryptFinal_ex(ctx, out + n, &m) == 1
        && n + m == NGX_HTTP_SECURECHAT_CEK_LEN)
    {
        memcpy(cek, out, NGX_HTTP_SECURECHAT_CEK_LEN);
        rc = 0;
    }

    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();

    return rc;
}


static int
t_gcm_open(const unsigned char *key, const unsigned char *iv,
    const unsigned char *aad, size_t aad_len, const unsigned char *ct,
    size_t len, const unsigned char *tag, unsigned char *out)
{
    int              n, rc;
    EVP_CIPHER_CTX  *ctx;

    ctx = EVP_CIPHER_CTX_new();
    assert_non_null(ctx);

    rc = -1;

    if (EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, iv, NULL) == 1
        && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int) aad_len) == 1
        && EVP_DecryptUpdate(ctx, out, &n, ct, (int) len) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16,
                               (void *) tag) == 1
        && EVP_DecryptFinal_ex(ctx, out + n, &n) == 1)
    {
        rc = 0;
    }

    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();

    return rc;
}


/*
 * A hello for client `who`, checked the way a client checks it; sk gets
 * the unwrapped session key.
 */

static void
t_hello(t_keys_t *k, EVP_PKEY *server, const unsigned char *sid, int who,
    ngx_http_securechat_channel_t *s, unsigned char *sk)
{
    json_t                          *doc;
    size_t                           len;
    t_bin_t                          wrapped, sig;
    const char                      *alg;
    unsigned char                   *p;
    unsigned char                    frame[NGX_HTTP_SECURECHAT_HELLO_MAX];
    unsigned char                    tbs[2048], key[32];
    ngx_http_securechat_hello_in_t   in;

    memset(&in, 0, sizeof(in));
    in.server_key = server;
    in.server_key_id = sid;
    in.client_der = k->client_der[who];
    in.client_der_len = k->client_der_len[who];
    in.client_key_id = k->client_id[who];
    in.conn_id = (const unsigned char *) T_CONN;
    in.conn_id_len = sizeof(T_CONN) - 1;
    in.ts = 1700000000123ULL;
    in.epoch = 0xfedcba9876543210ULL;

    assert_int_equal(ngx_http_securechat_hello_build(&in, s, frame,
                                                     sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_OK);

    doc = t_parse(frame, len);
    assert_string_equal(json_string_value(json_object_get(doc, "type")),
                        "hello");
    assert_int_equal(json_integer_value(json_object_get(doc, "v")), 2);
    assert_string_equal(json_string_value(json_object_get(doc, "conn")),
                        T_CONN);
    assert_true(json_integer_value(json_object_get(doc, "ts"))
                == 1700000000123LL);
    assert_memory_equal(json_string_value(json_object_get(doc,
                                                          "server_key_id")),
                        sid, NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    assert_memory_equal(json_string_value(json_object_get(doc,
                                                          "client_key_id")),
                        k->client_id[who], NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    assert_string_equal(json_string_value(json_object_get(doc, "wrap_alg")),
                        "RSA-OAEP-SHA256");
    alg = json_string_value(json_object_get(doc, "sig_alg"));
    assert_string_equal(alg, ngx_http_securechat_crypto_key_alg(server));
    assert_string_equal(json_string_value(json_object_get(doc, "epoch")),
                        "fedcba9876543210");
    assert_int_equal(json_object_size(doc), 11);

    wrapped = t_b64(doc, "wrapped_sk");
    sig = t_b64(doc, "sig");

    /* the signed bytes, rebuilt from the layout in PROTOCOL.md */
    p = tbs;
    t_put_field(&p, "securechat v2 hello", 19);
    t_put_field(&p, T_CONN, sizeof(T_CONN) - 1);
    t_put_u64(&p, 1700000000123ULL);
    t_put_u64(&p, 0xfedcba9876543210ULL);
    t_put_field(&p, sid, NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    t_put_field(&p, k->client_id[who], NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    t_put_field(&p, alg, strlen(alg));
    t_put_field(&p, "RSA-OAEP-SHA256", 15);
    t_put_field(&p, wrapped.p, wrapped.len);

    assert_int_equal(ngx_http_securechat_crypto_verify(server, tbs, p - tbs,
                                                       sig.p, sig.len), 0);

    /* the same bytes through the exported helper */
    assert_int_equal(ngx_http_securechat_hello_signed_bytes(&in, alg,
                         wrapped.p, wrapped.len, frame, sizeof(frame), &len),
                     0);
    assert_int_equal(len, (size_t) (p - tbs));
    assert_memory_equal(frame, tbs, len);

    /* OAEP with SHA-256: the other client's key and SHA-1 both fail */
    assert_int_equal(t_oaep_decrypt(k->client[1 - who], "SHA256", wrapped.p,
                                    wrapped.len, sk), -1);
    assert_int_equal(t_oaep_decrypt(k->client[who], "SHA1", wrapped.p,
                                    wrapped.len, sk), -1);
    assert_int_equal(t_oaep_decrypt(k->client[who], "SHA256", wrapped.p,
                                    wrapped.len, sk), 0);

    /* the connection's keys are HKDF of SK */
    t_hkdf(sk, "securechat v1 wrap key", key);
    assert_memory_equal(s->wrap_key, key, 32);
    t_hkdf(sk, "securechat v1 chat key", key);
    assert_memory_equal(s->chat_key, key, 32);
    assert_true(s->last_counter == 0);

    t_bin_free(&wrapped);
    t_bin_free(&sig);
    json_decref(doc);
}


static void
t_message_in(ngx_http_securechat_message_in_t *in, EVP_PKEY *server,
    const unsigned char *sid)
{
    memset(in, 0, sizeof(ngx_http_securechat_message_in_t));
    in->server_key = server;
    in->server_key_id = sid;
    in->id = 42;
    in->ts = 1700000000456ULL;
    in->epoch = T_EPOCH;
    in->room = (const unsigned char *) T_ROOM;
    in->room_len = sizeof(T_ROOM) - 1;
    in->sender = (const unsigned char *) T_SENDER;
    in->sender_len = sizeof(T_SENDER) - 1;
    in->text = (const unsigned char *) T_TEXT;
    in->text_len = sizeof(T_TEXT) - 1;
}


static size_t
t_seal(t_keys_t *k, EVP_PKEY *server, const unsigned char *sid,
    ngx_http_securechat_envelope_t *env, unsigned char *buf)
{
    ngx_http_securechat_message_in_t  in;

    t_message_in(&in, server, sid);

    assert_true(ngx_http_securechat_envelope_size(in.room_len, in.sender_len,
                                              in.text_len)
                < T_BUF);
    assert_int_equal(ngx_http_securechat_envelope_seal(&in, env, buf, T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_OK);
    assert_ptr_equal(env->frame, buf);

    return env->prefix_len;
}


/*
 * A client's checks, in the documented order: the signature over bytes
 * rebuilt from the frame, then the unwrap, then the decryption.  Returns
 * 0, or 1, 2, 3 for the step that failed; 4 if it is not even parseable.
 */

static int
t_open(EVP_PKEY *server, const unsigned char *frame, size_t len,
    const unsigned char *wrap_key, unsigned char *text, size_t *text_len)
{
    int             rc;
    json_t         *doc;
    t_bin_t         hdr, iv, ct, tag, sig, wk;
    json_error_t    err;
    char            epoch[17];
    unsigned char  *p, *tbs, cek[32];

    doc = json_loadb((const char *) frame, len, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL) {
        return 4;
    }

    hdr = t_b64(doc, "hdr");
    iv = t_b64(doc, "iv");
    ct = t_b64(doc, "ct");
    tag = t_b64(doc, "tag");
    sig = t_b64(doc, "sig");
    wk = t_b64(doc, "wk");

    tbs = malloc(hdr.len + iv.len + ct.len + tag.len + 64);
    assert_non_null(tbs);

    p = tbs;
    t_put_field(&p, "securechat v2 message", 21);
    t_put_field(&p, hdr.p, hdr.len);
    t_put_field(&p, iv.p, iv.len);
    t_put_field(&p, ct.p, ct.len);
    t_put_field(&p, tag.p, tag.len);

    rc = 1;

    if (ngx_http_securechat_crypto_verify(server, tbs, p - tbs, sig.p,
                                          sig.len)
        != 0)
    {
        goto done;
    }

    rc = 2;

    if (wk.len != NGX_HTTP_SECURECHAT_WRAPPED_CEK_LEN
        || t_unwrap(wrap_key, wk.p, cek) != 0)
    {
        goto done;
    }

    rc = 3;

    if (iv.len != 12 || tag.len != 16
        || t_gcm_open(cek, iv.p, hdr.p, hdr.len, ct.p, ct.len, tag.p, text)
           != 0)
    {
        goto done;
    }

    /* the JSON copy of the id agrees with the signed header */
    assert_true(json_integer_value(json_object_get(doc, "id"))
                == ((json_int_t) hdr.p[5] << 24 | hdr.p[6] << 16
                    | hdr.p[7] << 8 | hdr.p[8]));

    /* and so do those of the epoch and the room */
    t_epoch_hex(hdr.p + 17, epoch);
    assert_string_equal(json_string_value(json_object_get(doc, "epoch")),
                        epoch);
    assert_true(hdr.p[25] == 0 && hdr.p[26] == 0 && hdr.p[27] == 0);
    assert_int_equal(json_string_length(json_object_get(doc, "room")),
                     hdr.p[28]);
    assert_memory_equal(json_string_value(json_object_get(doc, "room")),
                        hdr.p + 29, hdr.p[28]);

    *text_len = ct.len;
    rc = 0;

done:

    free(tbs);
    t_bin_free(&hdr);
    t_bin_free(&iv);
    t_bin_free(&ct);
    t_bin_free(&tag);
    t_bin_free(&sig);
    t_bin_free(&wk);
    json_decref(doc);

    return rc;
}


/* eight bytes of a header as the frame's "epoch" copy writes them */

static void
t_epoch_hex(const unsigned char *p, char *out)
{
    int  i;

    for (i = 0; i < 8; i++) {
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    }
}


static ngx_http_securechat_chat_rc_e
t_chat_open(ngx_http_securechat_channel_t *s, const char *frame)
{
    size_t         n;
    unsigned char  text[256];

    return ngx_http_securechat_client_frame_open(s,
               (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
               (const unsigned char *) frame, strlen(frame), T_ROOM_OUT, text,
               sizeof(text), &n);
}


static int
t_setup(void **state)
{
    int             i;
    BIO            *bio;
    t_keys_t       *k;
    const char     *why;
    char            pem[2048];
    int             n;

    k = calloc(1, sizeof(t_keys_t));
    assert_non_null(k);

    k->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    k->ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k->rsa);
    assert_non_null(k->ed);
    assert_int_equal(ngx_http_securechat_crypto_key_id(k->rsa, k->rsa_id), 0);
    assert_int_equal(ngx_http_securechat_crypto_key_id(k->ed, k->ed_id), 0);

    /* clients go through the same intake as at login */

    for (i = 0; i < 2; i++) {
        k->client[i] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
        assert_non_null(k->client[i]);

        bio = BIO_new(BIO_s_mem());
        assert_non_null(bio);
        assert_int_equal(PEM_write_bio_PUBKEY(bio, k->client[i]), 1);
        n = BIO_read(bio, pem, sizeof(pem));
        assert_true(n > 0);
        BIO_free(bio);

        assert_int_equal(ngx_http_securechat_client_key_import(
                             (const unsigned char *) pem, n,
                             k->client_der[i], &k->client_der_len[i],
                             k->client_id[i], &why), 0);
    }

    *state = k;

    return 0;
}


static int
t_teardown(void **state)
{
    t_keys_t  *k;

    k = *state;

    EVP_PKEY_free(k->rsa);
    EVP_PKEY_free(k->ed);
    EVP_PKEY_free(k->client[0]);
    EVP_PKEY_free(k->client[1]);
    free(k);

    return 0;
}


static void
test_sign_verify(void **state)
{
    int             i;
    size_t          len;
    t_keys_t       *k;
    EVP_PKEY       *key;
    unsigned char   sig[NGX_HTTP_SECURECHAT_SIG_MAX];
    unsigned char   data[] = "signed bytes";

    k = *state;

    for (i = 0; i < 2; i++) {
        key = i ? k->ed : k->rsa;

        assert_int_equal(ngx_http_securechat_crypto_sign(key, data,
                                                         sizeof(data), sig,
                                                         &len), 0);
        assert_int_equal(len, i ? 64 : 256);
        assert_int_equal(ngx_http_securechat_crypto_verify(key, data,
                                                           sizeof(data), sig,
                                                           len), 0);

        data[0] ^= 1;
        assert_int_equal(ngx_http_securechat_crypto_verify(key, data,
                                                           sizeof(data), sig,
                                                           len), -1);
        data[0] ^= 1;

        sig[len - 1] ^= 0x80;
        assert_int_equal(ngx_http_securechat_crypto_verify(key, data,
                                                           sizeof(data), sig,
                                                           len), -1);
    }

    /* a key of another kind signs nothing */
    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(key);
    assert_int_equal(ngx_http_securechat_crypto_sign(key, data, sizeof(data),
                                                     sig, &len), -1);
    assert_int_equal(ngx_http_securechat_crypto_verify(key, data,
                                                       sizeof(data), sig,
                                                       64), -1);
    EVP_PKEY_free(key);
}


/*
 * The RSA-PSS signature verifies with salt length 32 and MGF1-SHA-256
 * stated explicitly, and fails when a verifier insists on another salt
 * length: the parameters are really the documented ones.
 */

static void
test_pss_parameters(void **state)
{
    int              salt;
    size_t           len;
    t_keys_t        *k;
    EVP_MD_CTX      *md;
    OSSL_PARAM       params[4];
    unsigned char    sig[NGX_HTTP_SECURECHAT_SIG_MAX];
    unsigned char    data[] = "pss";
    int              salts[] = { 32, 20, 222 };
    int              want[] = { 1, 0, 0 };
    int              i;

    k = *state;

    assert_int_equal(ngx_http_securechat_crypto_sign(k->rsa, data,
                                                     sizeof(data), sig, &len),
                     0);

    for (i = 0; i < 3; i++) {
        salt = salts[i];

        params[0] = OSSL_PARAM_construct_utf8_string(
                        OSSL_SIGNATURE_PARAM_PAD_MODE, (char *) "pss", 0);
        params[1] = OSSL_PARAM_construct_utf8_string(
                        OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *) "SHA256",
                        0);
        params[2] = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN,
                                             &salt);
        params[3] = OSSL_PARAM_construct_end();

        md = EVP_MD_CTX_new();
        assert_non_null(md);
        assert_int_equal(EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL,
                                                 NULL, k->rsa, params), 1);
        assert_int_equal(EVP_DigestVerify(md, sig, len, data, sizeof(data)),
                         want[i]);
        EVP_MD_CTX_free(md);
        ERR_clear_error();
    }
}


static void
test_session_derive(void **state)
{
    unsigned char                  sk[32], key[32];
    ngx_http_securechat_channel_t  s;

    assert_int_equal(RAND_bytes(sk, sizeof(sk)), 1);

    s.last_counter = 99;
    assert_int_equal(ngx_http_securechat_session_derive(sk, &s), 0);
    assert_true(s.last_counter == 0);

    t_hkdf(sk, "securechat v1 wrap key", key);
    assert_memory_equal(s.wrap_key, key, 32);
    t_hkdf(sk, "securechat v1 chat key", key);
    assert_memory_equal(s.chat_key, key, 32);

    assert_memory_not_equal(s.wrap_key, s.chat_key, 32);
    assert_memory_not_equal(s.wrap_key, sk, 32);
}


static void
test_hello(void **state)
{
    t_keys_t                       *k;
    unsigned char                   sk0[32], sk1[32];
    ngx_http_securechat_channel_t   s0, s1;

    k = *state;

    t_hello(k, k->rsa, k->rsa_id, 0, &s0, sk0);
    t_hello(k, k->ed, k->ed_id, 1, &s1, sk1);
    assert_memory_not_equal(sk0, sk1, 32);

    /* every hello draws a new SK */
    t_hello(k, k->ed, k->ed_id, 0, &s1, sk1);
    assert_memory_not_equal(sk0, sk1, 32);
}


/* an event: a title JSON must escape; every bad member refused */

static void
test_event_seal(void **state)
{
    size_t                          len;
    t_keys_t                       *k;
    json_t                         *doc;
    unsigned char                   frame[2048];
    unsigned char                   title[NGX_HTTP_SECURECHAT_EVENT_DETAIL_MAX
                                          + 1];
    ngx_http_securechat_event_in_t  in, bad;

    k = *state;

    memset(&in, 0, sizeof(in));
    in.server_key = k->ed;
    in.server_key_id = k->ed_id;
    in.id = 5;
    in.ts = 1700000000000ULL;
    in.epoch = 1;
    in.room = (const unsigned char *) "team";
    in.room_len = 4;
    in.event = "title";
    in.user = (const unsigned char *) "alice";
    in.user_len = 5;
    in.by = in.user;
    in.by_len = in.user_len;
    in.detail_name = "title";
    in.detail = (const unsigned char *) "say \"hi\" \\ \xc3\xa9";
    in.detail_len = strlen((const char *) in.detail);

    assert_int_equal(ngx_http_securechat_event_seal(&in, frame, sizeof(frame),
                                                    &len), 0);

    doc = json_loadb((const char *) frame, len, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "title")),
                        (const char *) in.detail);
    assert_string_equal(json_string_value(json_object_get(doc, "epoch")),
                        "0000000000000001");
    assert_int_equal(json_integer_value(json_object_get(doc, "id")), 5);
    assert_non_null(json_object_get(doc, "sig"));
    json_decref(doc);

    /* too small a buffer */
    assert_int_equal(ngx_http_securechat_event_seal(&in, frame, len - 1,
                                                    &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    bad = in;
    bad.room = (const unsigned char *) "Team";
    assert_int_equal(ngx_http_securechat_event_seal(&bad, frame,
                                                    sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    bad = in;
    bad.by = (const unsigned char *) "a\"b";
    bad.by_len = 3;
    assert_int_equal(ngx_http_securechat_event_seal(&bad, frame,
                                                    sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    memset(title, 'x', sizeof(title));
    bad = in;
    bad.detail = title;
    bad.detail_len = sizeof(title);
    assert_int_equal(ngx_http_securechat_event_seal(&bad, frame,
                                                    sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    bad = in;
    bad.id = NGX_HTTP_SECURECHAT_JSON_INT_MAX + 1;
    assert_int_equal(ngx_http_securechat_event_seal(&bad, frame,
                                                    sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);
}


static void
test_hello_refusals(void **state)
{
    size_t                           len;
    t_keys_t                        *k;
    EVP_PKEY                        *ec;
    unsigned char                    der[256], *p;
    unsigned char                    frame[NGX_HTTP_SECURECHAT_HELLO_MAX];
    ngx_http_securechat_channel_t    s;
    ngx_http_securechat_hello_in_t   in, bad;

    k = *state;

    memset(&in, 0, sizeof(in));
    in.server_key = k->ed;
    in.server_key_id = k->ed_id;
    in.client_der = k->client_der[0];
    in.client_der_len = k->client_der_len[0];
    in.client_key_id = k->client_id[0];
    in.conn_id = (const unsigned char *) T_CONN;
    in.conn_id_len = sizeof(T_CONN) - 1;
    in.ts = 1;

    assert_int_equal(ngx_http_securechat_hello_build(&in, &s, frame,
                                                     sizeof(frame), &len), 0);

    /* too small a buffer */
    assert_int_equal(ngx_http_securechat_hello_build(&in, &s, frame, len - 1,
                                                     &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    bad = in;
    bad.conn_id = (const unsigned char *) "a\"b";
    bad.conn_id_len = 3;
    assert_int_equal(ngx_http_securechat_hello_build(&bad, &s, frame,
                                                     sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    bad.conn_id_len = 0;
    assert_int_equal(ngx_http_securechat_hello_build(&bad, &s, frame,
                                                     sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    bad = in;
    bad.ts = NGX_HTTP_SECURECHAT_JSON_INT_MAX + 1;
    assert_int_equal(ngx_http_securechat_hello_build(&bad, &s, frame,
                                                     sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    /* a client key that is not RSA never gets an SK */
    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    p = der;
    bad = in;
    bad.client_der = der;
    bad.client_der_len = i2d_PUBKEY(ec, &p);
    EVP_PKEY_free(ec);
    assert_int_equal(ngx_http_securechat_hello_build(&bad, &s, frame,
                                                     sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    bad.client_der_len = 3;
    assert_int_equal(ngx_http_securechat_hello_build(&bad, &s, frame,
                                                     sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    /* nor does a server key that may not sign */
    bad = in;
    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    bad.server_key = ec;
    assert_int_equal(ngx_http_securechat_hello_build(&bad, &s, frame,
                                                     sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);
    EVP_PKEY_free(ec);

    assert_int_equal(ERR_peek_error(), 0);
}


static void
test_envelope_round_trip(void **state)
{
    int                              i, j;
    size_t                           len, text_len;
    t_keys_t                        *k;
    EVP_PKEY                        *server;
    unsigned char                   *buf, *out, text[256], sk[32];
    const unsigned char             *sid;
    ngx_http_securechat_channel_t    s[2];
    ngx_http_securechat_envelope_t   env;
    ngx_http_securechat_wrap_ctx_t  *wctx;

    k = *state;
    buf = malloc(T_BUF);
    out = malloc(T_BUF);
    assert_true(buf != NULL && out != NULL);

    wctx = ngx_http_securechat_wrap_ctx_create();
    assert_non_null(wctx);

    for (i = 0; i < 2; i++) {
        server = i ? k->ed : k->rsa;
        sid = i ? k->ed_id : k->rsa_id;

        t_hello(k, server, sid, 0, &s[0], sk);
        t_hello(k, server, sid, 1, &s[1], sk);

        t_seal(k, server, sid, &env, buf);

        for (j = 0; j < 2; j++) {
            assert_int_equal(ngx_http_securechat_envelope_frame(&env, wctx,
                                 s[j].wrap_key, out, T_BUF, &len), 0);
            assert_int_equal(len, env.prefix_len
                                  + NGX_HTTP_SECURECHAT_ENVELOPE_TAIL_LEN);
            assert_memory_equal(out, buf, env.prefix_len);

            assert_int_equal(t_open(server, out, len, s[j].wrap_key, text,
                                    &text_len), 0);
            assert_int_equal(text_len, sizeof(T_TEXT) - 1);
            assert_memory_equal(text, T_TEXT, text_len);
        }

        /* the flat frame may also be built in the envelope's own buffer */
        assert_int_equal(ngx_http_securechat_envelope_frame(&env, wctx,
                             s[0].wrap_key, buf, T_BUF, &len), 0);
        assert_int_equal(t_open(server, buf, len, s[0].wrap_key, text,
                                &text_len), 0);

        ngx_http_securechat_envelope_clear(&env);
    }

    ngx_http_securechat_wrap_ctx_free(wctx);
    free(buf);
    free(out);
}


/* the header and the frame exactly as PROTOCOL.md lays them out */

static void
test_envelope_layout(void **state)
{
    size_t                            len;
    t_keys_t                         *k;
    json_t                           *doc;
    t_bin_t                           hdr, iv, tag;
    const char                       *key;
    json_t                           *val;
    unsigned char                    *buf, want[512], *p;
    ngx_http_securechat_envelope_t    env;
    ngx_http_securechat_message_in_t  in;

    static const char  *order[] = { "type", "v", "id", "room", "epoch",
                                    "hdr", "iv", "ct", "tag", "sig", "wk" };
    int                  i;

    k = *state;
    buf = malloc(T_BUF);
    assert_non_null(buf);

    len = t_seal(k, k->rsa, k->rsa_id, &env, buf);
    assert_memory_equal(buf, "{\"type\":\"message\",\"v\":2,\"id\":42,"
                        "\"room\":\"general\",\"epoch\":\"0123456789abcdef\","
                        "\"hdr\":\"", 83);
    assert_memory_equal(buf + len - 7, ",\"wk\":\"", 7);

    /* close it with a dummy tail to parse it */
    memcpy(buf + len, "AAAA\"}", 6);
    doc = t_parse(buf, len + 6);

    i = 0;
    json_object_foreach(doc, key, val) {
        assert_string_equal(key, order[i]);
        i++;
    }
    assert_int_equal(i, 11);

    hdr = t_b64(doc, "hdr");
    iv = t_b64(doc, "iv");
    tag = t_b64(doc, "tag");
    assert_int_equal(iv.len, 12);
    assert_int_equal(tag.len, 16);

    p = want;
    *p++ = 2;
    t_put_u64(&p, 42);
    t_put_u64(&p, 1700000000456ULL);
    t_put_u64(&p, T_EPOCH);
    t_put_field(&p, T_ROOM, sizeof(T_ROOM) - 1);
    t_put_field(&p, T_SENDER, sizeof(T_SENDER) - 1);
    t_put_field(&p, k->rsa_id, NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    t_put_field(&p, "AES-256-GCM", 11);
    t_put_field(&p, "AES-256-KW", 10);
    t_put_field(&p, "RSA-PSS-SHA256", 14);

    assert_int_equal(hdr.len, (size_t) (p - want));
    assert_memory_equal(hdr.p, want, hdr.len);

    t_message_in(&in, k->rsa, k->rsa_id);
    assert_int_equal(ngx_http_securechat_envelope_header(&in,
                         "RSA-PSS-SHA256", buf, T_BUF, &len), 0);
    assert_int_equal(len, hdr.len);
    assert_memory_equal(buf, want, len);

    t_bin_free(&hdr);
    t_bin_free(&iv);
    t_bin_free(&tag);
    json_decref(doc);
    ngx_http_securechat_envelope_clear(&env);
    free(buf);
}


static void
test_envelope_other_recipient(void **state)
{
    size_t                           len, text_len;
    t_keys_t                        *k;
    unsigned char                   *buf, sk[32], text[256];
    ngx_http_securechat_channel_t    s[2];
    ngx_http_securechat_envelope_t   env;
    ngx_http_securechat_wrap_ctx_t  *wctx;

    k = *state;
    buf = malloc(T_BUF);
    assert_non_null(buf);
    wctx = ngx_http_securechat_wrap_ctx_create();
    assert_non_null(wctx);

    t_hello(k, k->ed, k->ed_id, 0, &s[0], sk);
    t_hello(k, k->ed, k->ed_id, 1, &s[1], sk);

    t_seal(k, k->ed, k->ed_id, &env, buf);

    assert_int_equal(ngx_http_securechat_envelope_frame(&env, wctx,
                         s[0].wrap_key, buf, T_BUF, &len), 0);

    /* the signature holds for anyone, the CEK only for its recipient */
    assert_int_equal(t_open(k->ed, buf, len, s[1].wrap_key, text, &text_len),
                     2);
    assert_int_equal(t_open(k->ed, buf, len, s[1].chat_key, text, &text_len),
                     2);
    assert_int_equal(t_open(k->ed, buf, len, s[0].chat_key, text, &text_len),
                     2);
    assert_int_equal(t_open(k->ed, buf, len, s[0].wrap_key, text, &text_len),
                     0);

    /* and the other server key does not verify it */
    assert_int_equal(t_open(k->rsa, buf, len, s[0].wrap_key, text,
                            &text_len), 1);

    ngx_http_securechat_envelope_clear(&env);
    ngx_http_securechat_wrap_ctx_free(wctx);
    free(buf);
}


/*
 * Every bit of every binary member flipped in turn: the frame must fail
 * at the signature (header, iv, ct, tag, sig) or at the unwrap (wk).
 */

static void
test_envelope_bit_flips(void **state)
{
    int                              i, r, step;
    size_t                           len, text_len, n, bit, blen;
    t_keys_t                        *k;
    json_t                          *doc, *v;
    t_bin_t                          b;
    EVP_PKEY                        *server;
    unsigned char                   *buf, *frame, sk[32], text[256], *enc;
    const unsigned char             *sid;
    ngx_http_securechat_channel_t    s;
    ngx_http_securechat_envelope_t   env;
    ngx_http_securechat_wrap_ctx_t  *wctx;

    static const char  *names[] = { "hdr", "iv", "ct", "tag", "sig", "wk" };

    k = *state;
    buf = malloc(T_BUF);
    frame = malloc(T_BUF);
    enc = malloc(T_BUF);
    assert_true(buf != NULL && frame != NULL && enc != NULL);
    wctx = ngx_http_securechat_wrap_ctx_create();
    assert_non_null(wctx);

    for (r = 0; r < 2; r++) {
        server = r ? k->ed : k->rsa;
        sid = r ? k->ed_id : k->rsa_id;

        t_hello(k, server, sid, 0, &s, sk);
        t_seal(k, server, sid, &env, buf);
        assert_int_equal(ngx_http_securechat_envelope_frame(&env, wctx,
                             s.wrap_key, buf, T_BUF, &len), 0);
        ngx_http_securechat_envelope_clear(&env);

        for (i = 0; i < 6; i++) {
            doc = t_parse(buf, len);
            b = t_b64(doc, names[i]);
            blen = b.len;
            t_bin_free(&b);
            json_decref(doc);

            /* RSA signatures are long: every 7th bit is enough there */
            step = (r == 0 && i == 4) ? 7 : 1;

            for (bit = 0; bit < 8 * blen; bit += step) {
                doc = t_parse(buf, len);
                b = t_b64(doc, names[i]);
                b.p[bit / 8] ^= (unsigned char) (1 << (bit % 8));
                n = ngx_http_securechat_base64url_encode(enc, b.p, b.len);
                v = json_stringn((const char *) enc, n);
                assert_non_null(v);
                assert_int_equal(json_object_set_new(doc, names[i], v), 0);
                t_bin_free(&b);

                n = json_dumpb(doc, (char *) frame, T_BUF,
                               JSON_COMPACT | JSON_PRESERVE_ORDER);
                assert_true(n > 0 && n < T_BUF);
                json_decref(doc);

                assert_int_equal(t_open(server, frame, n, s.wrap_key, text,
                                        &text_len),
                                 i == 5 ? 2 : 1);
            }
        }

        assert_int_equal(t_open(server, buf, len, s.wrap_key, text,
                                &text_len), 0);
    }

    ngx_http_securechat_wrap_ctx_free(wctx);
    free(buf);
    free(frame);
    free(enc);
}


static void
test_envelope_fresh_keys(void **state)
{
    int                              i, j;
    size_t                           len;
    t_keys_t                        *k;
    json_t                          *doc;
    t_bin_t                          iv[32];
    unsigned char                   *buf, sk[32], cek[32][32];
    ngx_http_securechat_channel_t    s;
    ngx_http_securechat_envelope_t   env;
    ngx_http_securechat_wrap_ctx_t  *wctx;

    k = *state;
    buf = malloc(T_BUF);
    assert_non_null(buf);
    wctx = ngx_http_securechat_wrap_ctx_create();
    assert_non_null(wctx);

    t_hello(k, k->ed, k->ed_id, 0, &s, sk);

    for (i = 0; i < 32; i++) {
        t_seal(k, k->ed, k->ed_id, &env, buf);
        memcpy(cek[i], env.cek, 32);
        assert_int_equal(ngx_http_securechat_envelope_frame(&env, wctx,
                             s.wrap_key, buf, T_BUF, &len), 0);
        ngx_http_securechat_envelope_clear(&env);

        doc = t_parse(buf, len);
        iv[i] = t_b64(doc, "iv");
        json_decref(doc);

        for (j = 0; j < i; j++) {
            assert_memory_not_equal(cek[i], cek[j], 32);
            assert_memory_not_equal(iv[i].p, iv[j].p, 12);
        }
    }

    for (i = 0; i < 32; i++) {
        t_bin_free(&iv[i]);
    }

    /* cleared means wiped */
    for (i = 0; i < 32; i++) {
        assert_int_equal(env.cek[i], 0);
    }

    ngx_http_securechat_wrap_ctx_free(wctx);
    free(buf);
}


/* Ed25519 and fixed CEK and IV: the same bytes every time */

static void
test_envelope_deterministic(void **state)
{
    size_t                            len1, len2;
    t_keys_t                         *k;
    unsigned char                    *b1, *b2, cek[32], iv[12];
    ngx_http_securechat_envelope_t    e1, e2;
    ngx_http_securechat_message_in_t  in;

    k = *state;
    b1 = malloc(T_BUF);
    b2 = malloc(T_BUF);
    assert_true(b1 != NULL && b2 != NULL);

    memset(cek, 7, sizeof(cek));
    memset(iv, 9, sizeof(iv));

    t_message_in(&in, k->ed, k->ed_id);

    assert_int_equal(ngx_http_securechat_envelope_seal_fixed(&in, cek, iv,
                                                             &e1, b1, T_BUF),
                     0);
    assert_int_equal(ngx_http_securechat_envelope_seal_fixed(&in, cek, iv,
                                                             &e2, b2, T_BUF),
                     0);
    len1 = e1.prefix_len;
    len2 = e2.prefix_len;
    assert_int_equal(len1, len2);
    assert_memory_equal(b1, b2, len1);

    /* an empty text is a valid message too */
    in.text = NULL;
    in.text_len = 0;
    assert_int_equal(ngx_http_securechat_envelope_seal_fixed(&in, cek, iv,
                                                             &e1, b1, T_BUF),
                     0);
    assert_non_null(memmem(b1, e1.prefix_len, "\"ct\":\"\"", 7));

    free(b1);
    free(b2);
}


static void
test_envelope_no_alloc_per_recipient(void **state)
{
    int                              i;
    long                             before;
    t_keys_t                        *k;
    unsigned char                   *buf, sk[32];
    unsigned char                    tail[56], first[56];
    ngx_http_securechat_channel_t    s[2];
    ngx_http_securechat_envelope_t   env;
    ngx_http_securechat_wrap_ctx_t  *wctx;

    k = *state;
    buf = malloc(T_BUF);
    assert_non_null(buf);

    t_hello(k, k->ed, k->ed_id, 0, &s[0], sk);
    t_hello(k, k->ed, k->ed_id, 1, &s[1], sk);
    t_seal(k, k->ed, k->ed_id, &env, buf);

    wctx = ngx_http_securechat_wrap_ctx_create();
    assert_non_null(wctx);

    before = t_allocs;

    for (i = 0; i < 1000; i++) {
        assert_int_equal(ngx_http_securechat_envelope_recipient(&env, wctx,
                             s[i % 2].wrap_key, tail), 0);

        if (i == 0) {
            memcpy(first, tail, sizeof(tail));

        } else if (i % 2 == 0) {
            /* RFC 3394 is deterministic: same key, same CEK, same tail */
            assert_memory_equal(first, tail, sizeof(tail));

        } else {
            assert_memory_not_equal(first, tail, sizeof(tail));
        }
    }

    assert_int_equal(t_allocs - before, 0);
    assert_int_equal(sizeof(tail), NGX_HTTP_SECURECHAT_ENVELOPE_TAIL_LEN);
    assert_int_equal(tail[54], '"');
    assert_int_equal(tail[55], '}');

    ngx_http_securechat_envelope_clear(&env);
    ngx_http_securechat_wrap_ctx_free(wctx);
    free(buf);
}


static void
test_envelope_refusals(void **state)
{
    size_t                            len;
    t_keys_t                         *k;
    EVP_PKEY                         *ec;
    unsigned char                    *buf;
    ngx_http_securechat_envelope_t    env;
    ngx_http_securechat_message_in_t  in, bad;
    ngx_http_securechat_wrap_ctx_t   *wctx;

    k = *state;
    buf = malloc(T_BUF);
    assert_non_null(buf);
    wctx = ngx_http_securechat_wrap_ctx_create();
    assert_non_null(wctx);

    t_message_in(&in, k->ed, k->ed_id);

    len = ngx_http_securechat_envelope_size(in.room_len, in.sender_len,
                                              in.text_len);
    assert_int_equal(ngx_http_securechat_envelope_seal(&in, &env, buf, len),
                     0);

    /* RSA-4096 would need more: the size covers the largest signature */
    assert_true(env.prefix_len + 683 - 86 <= len);

    assert_int_equal(ngx_http_securechat_envelope_seal(&in, &env, buf,
                                                       env.prefix_len - 1),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    assert_int_equal(ngx_http_securechat_envelope_seal(&in, &env, buf, T_BUF),
                     0);
    assert_int_equal(ngx_http_securechat_envelope_frame(&env, wctx,
                         env.cek, buf, env.prefix_len + 55, &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    bad = in;
    bad.sender = (const unsigned char *) "al ice";
    bad.sender_len = 6;
    assert_int_equal(ngx_http_securechat_envelope_seal(&bad, &env, buf,
                                                       T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    bad.sender_len = 0;
    assert_int_equal(ngx_http_securechat_envelope_seal(&bad, &env, buf,
                                                       T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    bad = in;
    bad.sender = (const unsigned char *)
        "a123456789b123456789c123456789d123456789e123456789f123456789g1234";
    bad.sender_len = 65;
    assert_int_equal(ngx_http_securechat_envelope_seal(&bad, &env, buf,
                                                       T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);
    bad.sender_len = 64;
    assert_int_equal(ngx_http_securechat_envelope_seal(&bad, &env, buf,
                                                       T_BUF), 0);

    /* a room that could be no room's, or none */
    bad = in;
    bad.room = (const unsigned char *) "General";
    assert_int_equal(ngx_http_securechat_envelope_seal(&bad, &env, buf,
                                                       T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);
    bad.room = (const unsigned char *) "..";
    bad.room_len = 2;
    assert_int_equal(ngx_http_securechat_envelope_seal(&bad, &env, buf,
                                                       T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);
    bad.room = NULL;
    assert_int_equal(ngx_http_securechat_envelope_seal(&bad, &env, buf,
                                                       T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    /* the longest room and sender fit the size given for them */
    bad = in;
    bad.room = (const unsigned char *) T_ROOM65;
    bad.room_len = 64;
    bad.sender = (const unsigned char *) T_ROOM65;
    bad.sender_len = 64;
    len = ngx_http_securechat_envelope_size(64, 64, in.text_len);
    assert_int_equal(ngx_http_securechat_envelope_seal(&bad, &env, buf, len),
                     0);
    ngx_http_securechat_envelope_clear(&env);

    bad = in;
    bad.id = NGX_HTTP_SECURECHAT_JSON_INT_MAX + 1;
    assert_int_equal(ngx_http_securechat_envelope_seal(&bad, &env, buf,
                                                       T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    bad = in;
    bad.ts = UINT64_MAX;
    assert_int_equal(ngx_http_securechat_envelope_seal(&bad, &env, buf,
                                                       T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    bad = in;
    bad.server_key = ec;
    assert_int_equal(ngx_http_securechat_envelope_seal(&bad, &env, buf,
                                                       T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);
    EVP_PKEY_free(ec);

    ngx_http_securechat_envelope_clear(&env);
    ngx_http_securechat_wrap_ctx_free(wctx);
    free(buf);
}


static void
test_rand_failure(void **state)
{
    size_t                            len;
    t_keys_t                         *k;
    unsigned char                    *buf, key[32];
    ngx_http_securechat_channel_t     s;
    ngx_http_securechat_envelope_t    env;
    ngx_http_securechat_hello_in_t    hin;
    ngx_http_securechat_message_in_t  in;

    k = *state;
    buf = malloc(T_BUF);
    assert_non_null(buf);
    memset(key, 1, sizeof(key));

    memset(&hin, 0, sizeof(hin));
    hin.server_key = k->ed;
    hin.server_key_id = k->ed_id;
    hin.client_der = k->client_der[0];
    hin.client_der_len = k->client_der_len[0];
    hin.client_key_id = k->client_id[0];
    hin.conn_id = (const unsigned char *) T_CONN;
    hin.conn_id_len = sizeof(T_CONN) - 1;

    t_message_in(&in, k->ed, k->ed_id);

    ngx_http_securechat_envelope_set_rand(t_rand_fail);

    assert_int_equal(ngx_http_securechat_hello_build(&hin, &s, buf, T_BUF,
                                                     &len),
                     NGX_HTTP_SECURECHAT_ENV_RAND);
    assert_int_equal(ngx_http_securechat_envelope_seal(&in, &env, buf, T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_RAND);
    assert_int_equal(ngx_http_securechat_client_frame_seal(key,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         T_ROOM_IN,
                         1, NULL, (const unsigned char *) "x", 1, buf, T_BUF,
                         &len),
                     NGX_HTTP_SECURECHAT_ENV_RAND);

    ngx_http_securechat_envelope_set_rand(NULL);

    assert_int_equal(ngx_http_securechat_envelope_seal(&in, &env, buf, T_BUF),
                     NGX_HTTP_SECURECHAT_ENV_OK);
    ngx_http_securechat_envelope_clear(&env);

    free(buf);
}


static void
test_chat_round_trip(void **state)
{
    int                            i;
    json_t                        *doc;
    t_bin_t                        iv, ct, tag;
    size_t                         len, n;
    unsigned char                  key[32], sk[32], aad[128], *p;
    unsigned char                  frame[1024], text[256], plain[256];
    ngx_http_securechat_channel_t  s;

    assert_int_equal(RAND_bytes(sk, sizeof(sk)), 1);
    assert_int_equal(ngx_http_securechat_session_derive(sk, &s), 0);
    memcpy(key, s.chat_key, 32);

    for (i = 1; i <= 3; i++) {
        assert_int_equal(ngx_http_securechat_client_frame_seal(s.chat_key,
                             (const unsigned char *) T_CONN,
                             sizeof(T_CONN) - 1, T_ROOM_IN, i, NULL,
                             (const unsigned char *) T_TEXT,
                             sizeof(T_TEXT) - 1, frame, sizeof(frame), &len),
                         0);
        assert_true(len <= ngx_http_securechat_client_frame_size(
                               sizeof(T_TEXT) - 1));

        /* the layout a client author follows, decrypted independently */
        doc = t_parse(frame, len);
        assert_string_equal(json_string_value(json_object_get(doc, "type")),
                            "chat");
        assert_string_equal(json_string_value(json_object_get(doc, "room")),
                            T_ROOM);
        assert_int_equal(json_integer_value(json_object_get(doc, "n")), i);
        iv = t_b64(doc, "iv");
        ct = t_b64(doc, "ct");
        tag = t_b64(doc, "tag");
        p = aad;
        t_put_field(&p, "securechat v2 chat", 18);
        t_put_field(&p, T_CONN, sizeof(T_CONN) - 1);
        t_put_field(&p, T_ROOM, sizeof(T_ROOM) - 1);
        t_put_u64(&p, i);
        assert_int_equal(t_gcm_open(key, iv.p, aad, p - aad, ct.p, ct.len,
                                    tag.p, plain), 0);
        assert_memory_equal(plain, T_TEXT, ct.len);
        t_bin_free(&iv);
        t_bin_free(&ct);
        t_bin_free(&tag);
        json_decref(doc);

        assert_int_equal(ngx_http_securechat_client_frame_open(&s,
                             (const unsigned char *) T_CONN,
                             sizeof(T_CONN) - 1, frame, len, T_ROOM_OUT, text,
                             sizeof(text), &n),
                         NGX_HTTP_SECURECHAT_CHAT_OK);
        assert_int_equal(n, sizeof(T_TEXT) - 1);
        assert_memory_equal(text, T_TEXT, n);
        assert_int_equal(t_room_len, sizeof(T_ROOM) - 1);
        assert_memory_equal(t_room, T_ROOM, t_room_len);
        assert_true(s.last_counter == (uint64_t) i);
    }

    /* empty text, and a text exactly as long as the buffer */
    assert_int_equal(ngx_http_securechat_client_frame_seal(s.chat_key,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         T_ROOM_IN,
                         4, NULL, NULL, 0, frame, sizeof(frame), &len), 0);
    assert_int_equal(ngx_http_securechat_client_frame_open(&s,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         frame, len, T_ROOM_OUT, text, sizeof(text), &n), 0);
    assert_int_equal(n, 0);

    memset(plain, 'x', sizeof(plain));
    assert_int_equal(ngx_http_securechat_client_frame_seal(s.chat_key,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         T_ROOM_IN,
                         5, NULL, plain, 256, frame, sizeof(frame), &len), 0);
    assert_int_equal(ngx_http_securechat_client_frame_open(&s,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         frame, len, T_ROOM_OUT, text, 256, &n), 0);
    assert_int_equal(n, 256);

    /* the seal refuses what the protocol cannot carry */
    assert_int_equal(ngx_http_securechat_client_frame_seal(s.chat_key,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         T_ROOM_IN,
                         0, NULL, plain, 1, frame, sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);
    assert_int_equal(ngx_http_securechat_client_frame_seal(s.chat_key,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         T_ROOM_IN, 6, NULL, plain, 1, frame, 20, &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);
    assert_int_equal(ngx_http_securechat_client_frame_seal(s.chat_key,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         (const unsigned char *) "General", 7, 6, NULL,
                         plain, 1, frame, sizeof(frame), &len),
                     NGX_HTTP_SECURECHAT_ENV_INVALID);

    /* any valid room opens: whether it exists is the caller's question */
    assert_int_equal(ngx_http_securechat_client_frame_seal(s.chat_key,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         (const unsigned char *) "no.such_room-1", 14, 6,
                         NULL, plain, 1, frame, sizeof(frame), &len), 0);
    assert_int_equal(ngx_http_securechat_client_frame_open(&s,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         frame, len, T_ROOM_OUT, text, 256, &n), 0);
    assert_int_equal(t_room_len, 14);
    assert_memory_equal(t_room, "no.such_room-1", 14);
}


static void
test_chat_counter(void **state)
{
    size_t                         len[5], n;
    int                            i;
    unsigned char                  sk[32], text[64];
    unsigned char                  frame[5][512];
    ngx_http_securechat_channel_t  s;

    assert_int_equal(RAND_bytes(sk, sizeof(sk)), 1);
    assert_int_equal(ngx_http_securechat_session_derive(sk, &s), 0);

    for (i = 1; i <= 4; i++) {
        assert_int_equal(ngx_http_securechat_client_frame_seal(s.chat_key,
                             (const unsigned char *) T_CONN,
                             sizeof(T_CONN) - 1, T_ROOM_IN, i, NULL,
                             (const unsigned char *) "hi", 2, frame[i],
                             sizeof(frame[i]), &len[i]), 0);
    }

#define T_OPEN(i)                                                            \
    ngx_http_securechat_client_frame_open(&s, (const unsigned char *) T_CONN,\
        sizeof(T_CONN) - 1, frame[i], len[i], T_ROOM_OUT, text,             \
        sizeof(text), &n)

    /* out of order: 2 before 1 */
    assert_int_equal(T_OPEN(2), NGX_HTTP_SECURECHAT_CHAT_BAD_COUNTER);
    assert_true(s.last_counter == 0);

    assert_int_equal(T_OPEN(1), NGX_HTTP_SECURECHAT_CHAT_OK);

    /* a replay */
    assert_int_equal(T_OPEN(1), NGX_HTTP_SECURECHAT_CHAT_BAD_COUNTER);
    assert_true(s.last_counter == 1);

    /* a gap */
    assert_int_equal(T_OPEN(3), NGX_HTTP_SECURECHAT_CHAT_BAD_COUNTER);

    assert_int_equal(T_OPEN(2), NGX_HTTP_SECURECHAT_CHAT_OK);
    assert_int_equal(T_OPEN(3), NGX_HTTP_SECURECHAT_CHAT_OK);
    assert_int_equal(T_OPEN(2), NGX_HTTP_SECURECHAT_CHAT_BAD_COUNTER);
    assert_int_equal(T_OPEN(4), NGX_HTTP_SECURECHAT_CHAT_OK);
    assert_true(s.last_counter == 4);

#undef T_OPEN

    /* a counter rewritten in the JSON: the AAD pins the real one */
    s.last_counter = 0;
    memcpy(strstr((char *) frame[2], "\"n\":2"), "\"n\":1", 5);
    assert_int_equal(ngx_http_securechat_client_frame_open(&s,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         frame[2], len[2], T_ROOM_OUT, text, sizeof(text), &n),
                     NGX_HTTP_SECURECHAT_CHAT_BAD_TAG);
    assert_true(s.last_counter == 0);
}


static void
test_chat_bad_tag(void **state)
{
    char                           *p;
    size_t                          len, n, i;
    const char                     *key;
    unsigned char                   sk[32], text[64], frame[512], copy[512];
    ngx_http_securechat_channel_t   s, other;

    assert_int_equal(RAND_bytes(sk, sizeof(sk)), 1);
    assert_int_equal(ngx_http_securechat_session_derive(sk, &s), 0);
    assert_int_equal(RAND_bytes(sk, sizeof(sk)), 1);
    assert_int_equal(ngx_http_securechat_session_derive(sk, &other), 0);

    assert_int_equal(ngx_http_securechat_client_frame_seal(s.chat_key,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         T_ROOM_IN,
                         1, NULL, (const unsigned char *) "hello", 5, frame,
                         sizeof(frame), &len), 0);

    /* another connection's key, another connection's id */
    assert_int_equal(ngx_http_securechat_client_frame_open(&other,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         frame, len, T_ROOM_OUT, text, sizeof(text), &n),
                     NGX_HTTP_SECURECHAT_CHAT_BAD_TAG);
    assert_int_equal(ngx_http_securechat_client_frame_open(&s,
                         (const unsigned char *) "c-2", 3, frame, len,
                         T_ROOM_OUT, text, sizeof(text), &n),
                     NGX_HTTP_SECURECHAT_CHAT_BAD_TAG);

    /* another room written into the JSON: the AAD pins the real one */
    memcpy(copy, frame, len);
    p = strstr((char *) copy, "\"room\":\"general\"");
    assert_non_null(p);
    memcpy(p + 8, "genera1", 7);
    assert_int_equal(ngx_http_securechat_client_frame_open(&s,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         copy, len, T_ROOM_OUT, text, sizeof(text), &n),
                     NGX_HTTP_SECURECHAT_CHAT_BAD_TAG);
    assert_true(s.last_counter == 0);

    /* one character changed in iv, ct or tag (first char: all 6 bits) */
    for (i = 0; i < 3; i++) {
        memcpy(copy, frame, len);
        key = (i == 0) ? "\"iv\":\""
              : (i == 1) ? "\"ct\":\"" : "\"tag\":\"";
        p = strstr((char *) copy, key) + strlen(key);
        *p = (*p == 'A') ? 'B' : 'A';
        assert_int_equal(ngx_http_securechat_client_frame_open(&s,
                             (const unsigned char *) T_CONN,
                             sizeof(T_CONN) - 1, copy, len, T_ROOM_OUT, text,
                             sizeof(text), &n),
                         NGX_HTTP_SECURECHAT_CHAT_BAD_TAG);
        assert_true(s.last_counter == 0);
    }

    assert_int_equal(ngx_http_securechat_client_frame_open(&s,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         frame, len, T_ROOM_OUT, text, sizeof(text), &n),
                     NGX_HTTP_SECURECHAT_CHAT_OK);
}


#define T_IV   "AAAAAAAAAAAAAAAA"
#define T_TAG  "AAAAAAAAAAAAAAAAAAAAAA"


static void
test_chat_bad_json(void **state)
{
    size_t                          i;
    ngx_http_securechat_channel_t   s;

    static const char  *frames[] = {
        "",
        " ",
        "{",
        "[]",
        "\"chat\"",
        "1",
        "null",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"} x",
        T_CHAT "\"type\":\"chat\",\"n\":1,\"iv\":\"" T_IV "\","
            "\"ct\":\"\",\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\\u0000\","
            "\"tag\":\"" T_TAG "\"}",
        "{\"type\":\"ch\xff\",\"n\":1}",
        T_CHAT "\"n\":1e400}",
    };

    memset(&s, 0, sizeof(s));

    for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        if (t_chat_open(&s, frames[i]) != NGX_HTTP_SECURECHAT_CHAT_BAD_JSON) {
            fail_msg("not bad_json: %s", frames[i]);
        }
    }
}


static void
test_chat_bad_field(void **state)
{
    size_t                          i;
    ngx_http_securechat_channel_t   s;

    static const char  *frames[] = {
        "{}",
        "{\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\",\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"iv\":\"" T_IV "\",\"ct\":\"\",\"tag\":\""
            T_TAG "\"}",
        /* the room: missing, not a string, not a valid name */
        "{\"type\":\"chat\",\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        "{\"type\":\"chat\",\"room\":1,\"n\":1,\"iv\":\"" T_IV "\","
            "\"ct\":\"\",\"tag\":\"" T_TAG "\"}",
        "{\"type\":\"chat\",\"room\":\"\",\"n\":1,\"iv\":\"" T_IV "\","
            "\"ct\":\"\",\"tag\":\"" T_TAG "\"}",
        "{\"type\":\"chat\",\"room\":\"General\",\"n\":1,\"iv\":\"" T_IV
            "\",\"ct\":\"\",\"tag\":\"" T_TAG "\"}",
        "{\"type\":\"chat\",\"room\":\"..\",\"n\":1,\"iv\":\"" T_IV "\","
            "\"ct\":\"\",\"tag\":\"" T_TAG "\"}",
        "{\"type\":\"chat\",\"room\":\"" T_ROOM65 "\",\"n\":1,\"iv\":\""
            T_IV "\",\"ct\":\"\",\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"ct\":\"\",\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"tag\":\"" T_TAG
            "\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\",\"x\":1}",
        "{\"type\":\"Chat\",\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        "{\"type\":\"chat \",\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        "{\"type\":1,\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":\"1\",\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1.0,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":0,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":-1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":9007199254740992,\"iv\":\"" T_IV "\","
            "\"ct\":\"\",\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":true,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":null,\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":[],"
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":{}}",
    };

    memset(&s, 0, sizeof(s));

    for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        if (t_chat_open(&s, frames[i]) != NGX_HTTP_SECURECHAT_CHAT_BAD_FIELD)
        {
            fail_msg("not bad_field: %s", frames[i]);
        }
    }
}


static void
test_chat_bad_base64(void **state)
{
    size_t                          i;
    ngx_http_securechat_channel_t   s;

    static const char  *frames[] = {
        /* padding, the standard alphabet, whitespace, bad trailing bits */
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"QQ==\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"AAAAAAAAAAAAAA+/\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"QU E\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"QR\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"QUFBQ\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"AAAAAAAAAAAAAAAAAAAAA=\"}",
    };

    memset(&s, 0, sizeof(s));

    for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        if (t_chat_open(&s, frames[i])
            != NGX_HTTP_SECURECHAT_CHAT_BAD_BASE64)
        {
            fail_msg("not bad_base64: %s", frames[i]);
        }
    }
}


static void
test_chat_bad_length(void **state)
{
    size_t                          i;
    ngx_http_securechat_channel_t   s;

    static const char  *frames[] = {
        /* 11-byte and 13-byte iv, 15-byte and 17-byte tag, empty ones */
        T_CHAT "\"n\":1,\"iv\":\"AAAAAAAAAAAAAAA\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"AAAAAAAAAAAAAAAAAA\","
            "\"ct\":\"\",\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"AAAAAAAAAAAAAAAAAAAA\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"AAAAAAAAAAAAAAAAAAAAAAA\"}",
        T_CHAT "\"n\":1,\"iv\":\"\",\"ct\":\"\","
            "\"tag\":\"" T_TAG "\"}",
        T_CHAT "\"n\":1,\"iv\":\"" T_IV "\",\"ct\":\"\","
            "\"tag\":\"\"}",
    };

    memset(&s, 0, sizeof(s));

    for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        if (t_chat_open(&s, frames[i])
            != NGX_HTTP_SECURECHAT_CHAT_BAD_LENGTH)
        {
            fail_msg("not bad_length: %s", frames[i]);
        }
    }
}


static void
test_chat_too_long(void **state)
{
    size_t                          len, n;
    unsigned char                   sk[32], text[300], frame[1024];
    ngx_http_securechat_channel_t   s;

    assert_int_equal(RAND_bytes(sk, sizeof(sk)), 1);
    assert_int_equal(ngx_http_securechat_session_derive(sk, &s), 0);
    memset(text, 'y', sizeof(text));

    assert_int_equal(ngx_http_securechat_client_frame_seal(s.chat_key,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         T_ROOM_IN,
                         1, NULL, text, 257, frame, sizeof(frame), &len), 0);

    assert_int_equal(ngx_http_securechat_client_frame_open(&s,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         frame, len, T_ROOM_OUT, text, 256, &n),
                     NGX_HTTP_SECURECHAT_CHAT_TOO_LONG);
    assert_int_equal(ngx_http_securechat_client_frame_open(&s,
                         (const unsigned char *) T_CONN, sizeof(T_CONN) - 1,
                         frame, len, T_ROOM_OUT, text, 257, &n),
                     NGX_HTTP_SECURECHAT_CHAT_OK);
}


static void
test_chat_codes(void **state)
{
    int          i, j;
    const char  *a, *b;

    for (i = NGX_HTTP_SECURECHAT_CHAT_OK;
         i <= NGX_HTTP_SECURECHAT_CHAT_ERROR; i++)
    {
        a = ngx_http_securechat_chat_rc_code(i);
        assert_non_null(a);
        assert_non_null(ngx_http_securechat_chat_rc_text(i));

        for (j = NGX_HTTP_SECURECHAT_CHAT_OK; j < i; j++) {
            b = ngx_http_securechat_chat_rc_code(j);
            assert_string_not_equal(a, b);
        }
    }

    assert_string_equal(ngx_http_securechat_chat_rc_code(
                            NGX_HTTP_SECURECHAT_CHAT_BAD_COUNTER),
                        "bad_counter");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_pss_parameters),
        cmocka_unit_test(test_session_derive),
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_hello_refusals),
        cmocka_unit_test(test_envelope_round_trip),
        cmocka_unit_test(test_envelope_layout),
        cmocka_unit_test(test_envelope_other_recipient),
        cmocka_unit_test(test_envelope_bit_flips),
        cmocka_unit_test(test_envelope_fresh_keys),
        cmocka_unit_test(test_envelope_deterministic),
        cmocka_unit_test(test_envelope_no_alloc_per_recipient),
        cmocka_unit_test(test_envelope_refusals),
        cmocka_unit_test(test_rand_failure),
        cmocka_unit_test(test_chat_round_trip),
        cmocka_unit_test(test_chat_counter),
        cmocka_unit_test(test_chat_bad_tag),
        cmocka_unit_test(test_chat_bad_json),
        cmocka_unit_test(test_chat_bad_field),
        cmocka_unit_test(test_chat_bad_base64),
        cmocka_unit_test(test_chat_bad_length),
        cmocka_unit_test(test_chat_too_long),
        cmocka_unit_test(test_chat_codes),
        cmocka_unit_test(test_event_seal),
    };

    /* before OpenSSL allocates anything, so every allocation is counted */
    if (CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free) != 1) {
        fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
        return 1;
    }

    return cmocka_run_group_tests_name("envelope", tests, t_setup,
                                       t_teardown);
}
