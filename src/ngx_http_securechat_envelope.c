
/*
 * The message envelope of docs/PROTOCOL.md.  Pure: OpenSSL and jansson
 * only, no nginx types, so the unit tests, the fuzzers and the test-vector
 * tool call it directly.
 *
 * What is signed and what is authenticated are the byte strings the
 * protocol defines (length-prefixed fields), built here field by field;
 * the JSON frames only carry them, and are never what a signature covers.
 */

#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_room.h"
#include "ngx_http_securechat_token.h"


/* the context strings that open each signed or authenticated byte string */
#define NGX_HTTP_SECURECHAT_CTX_HELLO    "securechat v2 hello"
#define NGX_HTTP_SECURECHAT_CTX_MESSAGE  "securechat v2 message"
#define NGX_HTTP_SECURECHAT_CTX_CHAT     "securechat v2 chat"
#define NGX_HTTP_SECURECHAT_CTX_EVENT    "securechat v2 event"
#define NGX_HTTP_SECURECHAT_CTX_PRESENCE "securechat v2 presence"

/*
 * HKDF "info" of the two per-connection keys: unchanged by version 2,
 * whose hello signature already tells a version 1 client off
 */
#define NGX_HTTP_SECURECHAT_INFO_WRAP    "securechat v1 wrap key"
#define NGX_HTTP_SECURECHAT_INFO_CHAT    "securechat v1 chat key"

/* longest signature algorithm name, "RSA-PSS-SHA256" */
#define NGX_HTTP_SECURECHAT_SIG_ALG_MAX  14

/* the header: version, id, ts, epoch and six fields */
#define NGX_HTTP_SECURECHAT_HEADER_MAX                                      \
    (1 + 8 + 8 + 8 + 6 * 4 + NGX_HTTP_SECURECHAT_ROOM_NAME_MAX              \
     + NGX_HTTP_SECURECHAT_SENDER_MAX                                       \
     + NGX_HTTP_SECURECHAT_KEY_ID_LEN + sizeof(NGX_HTTP_SECURECHAT_ALG_ENC) \
     + sizeof(NGX_HTTP_SECURECHAT_ALG_KW) + NGX_HTTP_SECURECHAT_SIG_ALG_MAX)

#define NGX_HTTP_SECURECHAT_HELLO_TBS_MAX                                   \
    (8 * 4 + sizeof(NGX_HTTP_SECURECHAT_CTX_HELLO)                          \
     + NGX_HTTP_SECURECHAT_CONN_ID_MAX + 8 + 8                              \
     + 2 * NGX_HTTP_SECURECHAT_KEY_ID_LEN + NGX_HTTP_SECURECHAT_SIG_ALG_MAX \
     + sizeof(NGX_HTTP_SECURECHAT_ALG_WRAP)                                 \
     + NGX_HTTP_SECURECHAT_WRAPPED_SK_MAX)

#define NGX_HTTP_SECURECHAT_CHAT_AAD_MAX                                    \
    (4 + sizeof(NGX_HTTP_SECURECHAT_CTX_CHAT) + 4                           \
     + NGX_HTTP_SECURECHAT_CONN_ID_MAX + 4                                  \
     + NGX_HTTP_SECURECHAT_ROOM_NAME_MAX + 8)

/* texts are bounded by the module's limits long before this */
#define NGX_HTTP_SECURECHAT_TEXT_MAX     (16 * 1024 * 1024)

/* literal JSON text and digits of a frame, generously */
#define NGX_HTTP_SECURECHAT_JSON_SLACK   160


struct ngx_http_securechat_wrap_ctx_s {
    EVP_CIPHER           *cipher;
    EVP_CIPHER_CTX       *ctx;
};


/* appends to a caller buffer; an overflow is remembered, not written */
typedef struct {
    unsigned char        *pos;
    unsigned char        *end;
    unsigned              overflow:1;
} ngx_http_securechat_put_t;


static void ngx_http_securechat_put_init(ngx_http_securechat_put_t *w,
    unsigned char *buf, size_t size);
static void ngx_http_securechat_put_bytes(ngx_http_securechat_put_t *w,
    const void *data, size_t len);
static void ngx_http_securechat_put_str(ngx_http_securechat_put_t *w,
    const char *s);
static void ngx_http_securechat_put_u32(ngx_http_securechat_put_t *w,
    uint32_t v);
static void ngx_http_securechat_put_u64(ngx_http_securechat_put_t *w,
    uint64_t v);
static void ngx_http_securechat_put_field(ngx_http_securechat_put_t *w,
    const void *data, size_t len);
static void ngx_http_securechat_put_dec(ngx_http_securechat_put_t *w,
    uint64_t v);
static void ngx_http_securechat_put_b64(ngx_http_securechat_put_t *w,
    const unsigned char *data, size_t len);
static int ngx_http_securechat_put_done(ngx_http_securechat_put_t *w,
    unsigned char *buf, size_t *len);

static int ngx_http_securechat_rand(unsigned char *buf, size_t len);
static const char *ngx_http_securechat_sig_alg(EVP_PKEY *pkey);
static int ngx_http_securechat_conn_id_ok(const unsigned char *s,
    size_t len);
static int ngx_http_securechat_sender_ok(const unsigned char *s, size_t len);
static int ngx_http_securechat_hkdf(EVP_KDF *kdf, const unsigned char *sk,
    const char *info, unsigned char *out);
static int ngx_http_securechat_signed_frame(EVP_PKEY *key,
    const unsigned char *tbs, size_t tbs_len, json_t *doc, unsigned char *out,
    size_t size, size_t *out_len);
static int ngx_http_securechat_oaep_wrap(const unsigned char *der,
    size_t der_len, const unsigned char *sk, unsigned char *out,
    size_t *out_len);
static int ngx_http_securechat_hello_make(
    const ngx_http_securechat_hello_in_t *in, const unsigned char *sk,
    const unsigned char *wrapped_sk, size_t wrapped_sk_len,
    ngx_http_securechat_channel_t *session, unsigned char *out, size_t size,
    size_t *out_len);
static int ngx_http_securechat_gcm(int enc, const unsigned char *key,
    const unsigned char *iv, const unsigned char *aad, size_t aad_len,
    const unsigned char *in, size_t len, unsigned char *out,
    unsigned char *tag);
static size_t ngx_http_securechat_chat_aad(const unsigned char *conn_id,
    size_t conn_id_len, const unsigned char *room, size_t room_len,
    uint64_t counter, unsigned char *out);
static ngx_http_securechat_chat_rc_e ngx_http_securechat_chat_b64(
    json_t *val, unsigned char *out, size_t out_size, size_t *out_len);


static int  (*ngx_http_securechat_rand_bytes)(unsigned char *buf, int num)
    = RAND_bytes;


static void
ngx_http_securechat_put_init(ngx_http_securechat_put_t *w, unsigned char *buf,
    size_t size)
{
    w->pos = buf;
    w->end = buf + size;
    w->overflow = 0;
}


static void
ngx_http_securechat_put_bytes(ngx_http_securechat_put_t *w, const void *data,
    size_t len)
{
    if (w->overflow || len > (size_t) (w->end - w->pos)) {
        w->overflow = 1;
        return;
    }

    if (len != 0) {
        memcpy(w->pos, data, len);
        w->pos += len;
    }
}


static void
ngx_http_securechat_put_str(ngx_http_securechat_put_t *w, const char *s)
{
    ngx_http_securechat_put_bytes(w, s, strlen(s));
}


static void
ngx_http_securechat_put_u32(ngx_http_securechat_put_t *w, uint32_t v)
{
    unsigned char  b[4];

    b[0] = (unsigned char) (v >> 24);
    b[1] = (unsigned char) (v >> 16);
    b[2] = (unsigned char) (v >> 8);
    b[3] = (unsigned char) v;

    ngx_http_securechat_put_bytes(w, b, 4);
}


static void
ngx_http_securechat_put_u64(ngx_http_securechat_put_t *w, uint64_t v)
{
    ngx_http_securechat_put_u32(w, (uint32_t) (v >> 32));
    ngx_http_securechat_put_u32(w, (uint32_t) v);
}


/* the protocol's F(x): a 32-bit big-endian length, then the bytes */

static void
ngx_http_securechat_put_field(ngx_http_securechat_put_t *w, const void *data,
    size_t len)
{
    ngx_http_securechat_put_u32(w, (uint32_t) len);
    ngx_http_securechat_put_bytes(w, data, len);
}


static void
ngx_http_securechat_put_dec(ngx_http_securechat_put_t *w, uint64_t v)
{
    unsigned char  b[20], *p;

    p = b + sizeof(b);

    do {
        *--p = (unsigned char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);

    ngx_http_securechat_put_bytes(w, p, b + sizeof(b) - p);
}


static void
ngx_http_securechat_put_b64(ngx_http_securechat_put_t *w,
    const unsigned char *data, size_t len)
{
    size_t  n;

    n = ngx_http_securechat_base64url_encoded_len(len);

    if (w->overflow || n > (size_t) (w->end - w->pos)) {
        w->overflow = 1;
        return;
    }

    w->pos += ngx_http_securechat_base64url_encode(w->pos, data, len);
}


static int
ngx_http_securechat_put_done(ngx_http_securechat_put_t *w, unsigned char *buf,
    size_t *len)
{
    if (w->overflow) {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    *len = w->pos - buf;

    return NGX_HTTP_SECURECHAT_ENV_OK;
}


/* the CSPRNG or nothing: a failure is reported, never papered over */

static int
ngx_http_securechat_rand(unsigned char *buf, size_t len)
{
    if (ngx_http_securechat_rand_bytes(buf, (int) len) != 1) {
        ERR_clear_error();
        return NGX_HTTP_SECURECHAT_ENV_RAND;
    }

    return NGX_HTTP_SECURECHAT_ENV_OK;
}


#ifdef NGX_HTTP_SECURECHAT_TEST_HOOKS

void
ngx_http_securechat_envelope_set_rand(int (*rand)(unsigned char *buf,
    int num))
{
    ngx_http_securechat_rand_bytes = rand ? rand : RAND_bytes;
}

#endif


/* NULL for a key that may not sign envelopes */

static const char *
ngx_http_securechat_sig_alg(EVP_PKEY *pkey)
{
    if (pkey == NULL) {
        return NULL;
    }

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_ED25519:
    case EVP_PKEY_RSA:
        return ngx_http_securechat_crypto_key_alg(pkey);

    default:
        return NULL;
    }
}


/* URL-safe, JSON-safe without escaping, usable in /api/disconnect */

static int
ngx_http_securechat_conn_id_ok(const unsigned char *s, size_t len)
{
    size_t  i;

    if (s == NULL || len == 0 || len > NGX_HTTP_SECURECHAT_CONN_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_'
              || s[i] == '~' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* the user name rule of the users file */

static int
ngx_http_securechat_sender_ok(const unsigned char *s, size_t len)
{
    size_t  i;

    if (s == NULL || len == 0 || len > NGX_HTTP_SECURECHAT_SENDER_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_'
              || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* HKDF-SHA-256(salt = none, i.e. 32 zero bytes; ikm = sk; info), 32 bytes */

static int
ngx_http_securechat_hkdf(EVP_KDF *kdf, const unsigned char *sk,
    const char *info, unsigned char *out)
{
    int            rc;
    OSSL_PARAM     params[4];
    EVP_KDF_CTX   *kctx;

    kctx = EVP_KDF_CTX_new(kdf);
    if (kctx == NULL) {
        return -1;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  (void *) sk,
                                                  NGX_HTTP_SECURECHAT_SK_LEN);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                  (void *) info,
                                                  strlen(info));
    params[3] = OSSL_PARAM_construct_end();

    rc = EVP_KDF_derive(kctx, out, 32, params);

    EVP_KDF_CTX_free(kctx);

    return rc == 1 ? 0 : -1;
}


int
ngx_http_securechat_session_derive(const unsigned char *sk,
    ngx_http_securechat_channel_t *session)
{
    int       rc;
    EVP_KDF  *kdf;

    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) {
        ERR_clear_error();
        return NGX_HTTP_SECURECHAT_ENV_ERROR;
    }

    rc = NGX_HTTP_SECURECHAT_ENV_OK;

    if (ngx_http_securechat_hkdf(kdf, sk, NGX_HTTP_SECURECHAT_INFO_WRAP,
                                 session->wrap_key)
        != 0
        || ngx_http_securechat_hkdf(kdf, sk, NGX_HTTP_SECURECHAT_INFO_CHAT,
                                    session->chat_key)
           != 0)
    {
        OPENSSL_cleanse(session, sizeof(ngx_http_securechat_channel_t));
        ERR_clear_error();
        rc = NGX_HTTP_SECURECHAT_ENV_ERROR;
    }

    session->last_counter = 0;

    EVP_KDF_free(kdf);

    return rc;
}


/*
 * RSA-OAEP with SHA-256 for the hash and for MGF1, no label: what
 * WebCrypto's {name: "RSA-OAEP"} on a key imported with hash "SHA-256"
 * does.  OpenSSL's own default would be SHA-1, hence the explicit params.
 */

static int
ngx_http_securechat_oaep_wrap(const unsigned char *der, size_t der_len,
    const unsigned char *sk, unsigned char *out, size_t *out_len)
{
    int                   rc;
    size_t                n;
    EVP_PKEY             *pkey;
    OSSL_PARAM            params[4];
    EVP_PKEY_CTX         *ctx;
    const unsigned char  *p;

    p = der;
    pkey = d2i_PUBKEY(NULL, &p, (long) der_len);

    if (pkey == NULL) {
        ERR_clear_error();
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    ctx = NULL;
    rc = NGX_HTTP_SECURECHAT_ENV_INVALID;

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA
        || EVP_PKEY_get_size(pkey) > NGX_HTTP_SECURECHAT_WRAPPED_SK_MAX)
    {
        goto done;
    }

    rc = NGX_HTTP_SECURECHAT_ENV_ERROR;

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL) {
        goto done;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(
                    OSSL_ASYM_CIPHER_PARAM_PAD_MODE,
                    (char *) OSSL_PKEY_RSA_PAD_MODE_OAEP, 0);
    params[1] = OSSL_PARAM_construct_utf8_string(
                    OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *) "SHA256", 0);
    params[2] = OSSL_PARAM_construct_utf8_string(
                    OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, (char *) "SHA256", 0);
    params[3] = OSSL_PARAM_construct_end();

    if (EVP_PKEY_encrypt_init_ex(ctx, params) != 1) {
        goto done;
    }

    n = NGX_HTTP_SECURECHAT_WRAPPED_SK_MAX;

    if (EVP_PKEY_encrypt(ctx, out, &n, sk, NGX_HTTP_SECURECHAT_SK_LEN) != 1) {
        goto done;
    }

    *out_len = n;
    rc = NGX_HTTP_SECURECHAT_ENV_OK;

done:

    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);

    return rc;
}


/*
 * A string in JSON, not a number: 64 bits do not fit JavaScript's 2^53;
 * the signed bytes carry the same value as a u64.
 */

void
ngx_http_securechat_epoch_hex(uint64_t epoch, unsigned char *out)
{
    int                         i;
    static const unsigned char  hex[] = "0123456789abcdef";

    for (i = NGX_HTTP_SECURECHAT_EPOCH_LEN - 1; i >= 0; i--) {
        out[i] = hex[epoch & 0xf];
        epoch >>= 4;
    }
}


int
ngx_http_securechat_hello_signed_bytes(
    const ngx_http_securechat_hello_in_t *in, const char *sig_alg,
    const unsigned char *wrapped_sk, size_t wrapped_sk_len,
    unsigned char *out, size_t size, size_t *out_len)
{
    ngx_http_securechat_put_t  w;

    if (!ngx_http_securechat_conn_id_ok(in->conn_id, in->conn_id_len)
        || in->server_key_id == NULL || in->client_key_id == NULL
        || sig_alg == NULL
        || wrapped_sk_len > NGX_HTTP_SECURECHAT_WRAPPED_SK_MAX)
    {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    ngx_http_securechat_put_init(&w, out, size);

    ngx_http_securechat_put_field(&w, NGX_HTTP_SECURECHAT_CTX_HELLO,
                                  sizeof(NGX_HTTP_SECURECHAT_CTX_HELLO) - 1);
    ngx_http_securechat_put_field(&w, in->conn_id, in->conn_id_len);
    ngx_http_securechat_put_u64(&w, in->ts);
    ngx_http_securechat_put_u64(&w, in->epoch);
    ngx_http_securechat_put_field(&w, in->server_key_id,
                                  NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    ngx_http_securechat_put_field(&w, in->client_key_id,
                                  NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    ngx_http_securechat_put_field(&w, sig_alg, strlen(sig_alg));
    ngx_http_securechat_put_field(&w, NGX_HTTP_SECURECHAT_ALG_WRAP,
                                  sizeof(NGX_HTTP_SECURECHAT_ALG_WRAP) - 1);
    ngx_http_securechat_put_field(&w, wrapped_sk, wrapped_sk_len);

    return ngx_http_securechat_put_done(&w, out, out_len);
}


static int
ngx_http_securechat_hello_make(const ngx_http_securechat_hello_in_t *in,
    const unsigned char *sk, const unsigned char *wrapped_sk,
    size_t wrapped_sk_len, ngx_http_securechat_channel_t *session,
    unsigned char *out, size_t size, size_t *out_len)
{
    int                         rc;
    size_t                      tbs_len, sig_len;
    const char                 *sig_alg;
    ngx_http_securechat_put_t   w;
    unsigned char               epoch[NGX_HTTP_SECURECHAT_EPOCH_LEN];
    unsigned char               tbs[NGX_HTTP_SECURECHAT_HELLO_TBS_MAX];
    unsigned char               sig[NGX_HTTP_SECURECHAT_SIG_MAX];

    sig_alg = ngx_http_securechat_sig_alg(in->server_key);

    if (sig_alg == NULL || in->ts > NGX_HTTP_SECURECHAT_JSON_INT_MAX) {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    rc = ngx_http_securechat_hello_signed_bytes(in, sig_alg, wrapped_sk,
                                                wrapped_sk_len, tbs,
                                                sizeof(tbs), &tbs_len);
    if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
        return rc;
    }

    if (ngx_http_securechat_crypto_sign(in->server_key, tbs, tbs_len, sig,
                                        &sig_len)
        != 0)
    {
        return NGX_HTTP_SECURECHAT_ENV_ERROR;
    }

    ngx_http_securechat_put_init(&w, out, size);

    ngx_http_securechat_put_str(&w, "{\"type\":\"hello\",\"v\":2,\"conn\":\"");
    ngx_http_securechat_put_bytes(&w, in->conn_id, in->conn_id_len);
    ngx_http_securechat_put_str(&w, "\",\"ts\":");
    ngx_http_securechat_put_dec(&w, in->ts);
    ngx_http_securechat_put_str(&w, ",\"epoch\":\"");
    ngx_http_securechat_epoch_hex(in->epoch, epoch);
    ngx_http_securechat_put_bytes(&w, epoch, NGX_HTTP_SECURECHAT_EPOCH_LEN);
    ngx_http_securechat_put_str(&w, "\",\"server_key_id\":\"");
    ngx_http_securechat_put_bytes(&w, in->server_key_id,
                                  NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    ngx_http_securechat_put_str(&w, "\",\"client_key_id\":\"");
    ngx_http_securechat_put_bytes(&w, in->client_key_id,
                                  NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    ngx_http_securechat_put_str(&w, "\",\"sig_alg\":\"");
    ngx_http_securechat_put_str(&w, sig_alg);
    ngx_http_securechat_put_str(&w, "\",\"wrap_alg\":\""
                                NGX_HTTP_SECURECHAT_ALG_WRAP
                                "\",\"wrapped_sk\":\"");
    ngx_http_securechat_put_b64(&w, wrapped_sk, wrapped_sk_len);
    ngx_http_securechat_put_str(&w, "\",\"sig\":\"");
    ngx_http_securechat_put_b64(&w, sig, sig_len);
    ngx_http_securechat_put_str(&w, "\"}");

    rc = ngx_http_securechat_put_done(&w, out, out_len);
    if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
        return rc;
    }

    return ngx_http_securechat_session_derive(sk, session);
}


int
ngx_http_securechat_hello_build(const ngx_http_securechat_hello_in_t *in,
    ngx_http_securechat_channel_t *session, unsigned char *out, size_t size,
    size_t *out_len)
{
    int            rc;
    unsigned char  sk[NGX_HTTP_SECURECHAT_SK_LEN];

    rc = ngx_http_securechat_rand(sk, sizeof(sk));

    if (rc == NGX_HTTP_SECURECHAT_ENV_OK) {
        rc = ngx_http_securechat_hello_build_fixed(in, sk, NULL, 0, session,
                                                   out, size, out_len);
    }

    OPENSSL_cleanse(sk, sizeof(sk));

    return rc;
}


int
ngx_http_securechat_hello_build_fixed(
    const ngx_http_securechat_hello_in_t *in, const unsigned char *sk,
    const unsigned char *wrapped_sk, size_t wrapped_sk_len,
    ngx_http_securechat_channel_t *session, unsigned char *out, size_t size,
    size_t *out_len)
{
    int            rc;
    size_t         n;
    unsigned char  wrapped[NGX_HTTP_SECURECHAT_WRAPPED_SK_MAX];

    if (wrapped_sk == NULL) {
        if (in->client_der == NULL) {
            return NGX_HTTP_SECURECHAT_ENV_INVALID;
        }

        rc = ngx_http_securechat_oaep_wrap(in->client_der,
                                           in->client_der_len, sk, wrapped,
                                           &n);
        if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
            return rc;
        }

        wrapped_sk = wrapped;
        wrapped_sk_len = n;
    }

    return ngx_http_securechat_hello_make(in, sk, wrapped_sk, wrapped_sk_len,
                                          session, out, size, out_len);
}


/*
 * AES-256-GCM, 96-bit IV, full 128-bit tag.  Decryption (enc == 0) takes
 * the tag and returns 1 for a tag mismatch; in and out may be the same.
 */

static int
ngx_http_securechat_gcm(int enc, const unsigned char *key,
    const unsigned char *iv, const unsigned char *aad, size_t aad_len,
    const unsigned char *in, size_t len, unsigned char *out,
    unsigned char *tag)
{
    int              n, rc;
    OSSL_PARAM       params[2];
    EVP_CIPHER_CTX  *ctx;

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    rc = -1;

    if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, iv, enc, NULL) != 1
        || EVP_CIPHER_CTX_get_iv_length(ctx) != NGX_HTTP_SECURECHAT_IV_LEN)
    {
        goto done;
    }

    if (EVP_CipherUpdate(ctx, NULL, &n, aad, (int) aad_len) != 1) {
        goto done;
    }

    if (len != 0 && EVP_CipherUpdate(ctx, out, &n, in, (int) len) != 1) {
        goto done;
    }

    if (!enc) {
        params[0] = OSSL_PARAM_construct_octet_string(
                        OSSL_CIPHER_PARAM_AEAD_TAG, tag,
                        NGX_HTTP_SECURECHAT_TAG_LEN);
        params[1] = OSSL_PARAM_construct_end();

        if (EVP_CIPHER_CTX_set_params(ctx, params) != 1) {
            goto done;
        }

        rc = EVP_CipherFinal_ex(ctx, out + len, &n) == 1 ? 0 : 1;
        goto done;
    }

    if (EVP_CipherFinal_ex(ctx, out + len, &n) != 1) {
        goto done;
    }

    params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
                                                  tag,
                                                  NGX_HTTP_SECURECHAT_TAG_LEN);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_CIPHER_CTX_get_params(ctx, params) != 1) {
        goto done;
    }

    rc = 0;

done:

    ERR_clear_error();
    EVP_CIPHER_CTX_free(ctx);

    return rc;
}


int
ngx_http_securechat_envelope_header(
    const ngx_http_securechat_message_in_t *in, const char *sig_alg,
    unsigned char *out, size_t size, size_t *out_len)
{
    unsigned char              v;
    ngx_http_securechat_put_t  w;

    if (in->room == NULL
        || !ngx_http_securechat_room_name_ok(in->room, in->room_len)
        || !ngx_http_securechat_sender_ok(in->sender, in->sender_len)
        || in->server_key_id == NULL || sig_alg == NULL
        || strlen(sig_alg) > NGX_HTTP_SECURECHAT_SIG_ALG_MAX)
    {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    v = NGX_HTTP_SECURECHAT_ENVELOPE_VERSION;

    ngx_http_securechat_put_init(&w, out, size);

    ngx_http_securechat_put_bytes(&w, &v, 1);
    ngx_http_securechat_put_u64(&w, in->id);
    ngx_http_securechat_put_u64(&w, in->ts);
    ngx_http_securechat_put_u64(&w, in->epoch);
    ngx_http_securechat_put_field(&w, in->room, in->room_len);
    ngx_http_securechat_put_field(&w, in->sender, in->sender_len);
    ngx_http_securechat_put_field(&w, in->server_key_id,
                                  NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    ngx_http_securechat_put_field(&w, NGX_HTTP_SECURECHAT_ALG_ENC,
                                  sizeof(NGX_HTTP_SECURECHAT_ALG_ENC) - 1);
    ngx_http_securechat_put_field(&w, NGX_HTTP_SECURECHAT_ALG_KW,
                                  sizeof(NGX_HTTP_SECURECHAT_ALG_KW) - 1);
    ngx_http_securechat_put_field(&w, sig_alg, strlen(sig_alg));

    return ngx_http_securechat_put_done(&w, out, out_len);
}


size_t
ngx_http_securechat_envelope_size(size_t room_len, size_t sender_len,
    size_t text_len)
{
    /* the room twice: in the header and in the frame's "room" */

    return NGX_HTTP_SECURECHAT_JSON_SLACK + room_len
           + NGX_HTTP_SECURECHAT_EPOCH_LEN
           + ngx_http_securechat_base64url_encoded_len(
                 NGX_HTTP_SECURECHAT_HEADER_MAX
                 - NGX_HTTP_SECURECHAT_ROOM_NAME_MAX + room_len
                 - NGX_HTTP_SECURECHAT_SENDER_MAX + sender_len)
           + ngx_http_securechat_base64url_encoded_len(
                 NGX_HTTP_SECURECHAT_IV_LEN)
           + ngx_http_securechat_base64url_encoded_len(text_len)
           + ngx_http_securechat_base64url_encoded_len(
                 NGX_HTTP_SECURECHAT_TAG_LEN)
           + ngx_http_securechat_base64url_encoded_len(
                 NGX_HTTP_SECURECHAT_SIG_MAX);
}


int
ngx_http_securechat_envelope_seal(const ngx_http_securechat_message_in_t *in,
    ngx_http_securechat_envelope_t *env, unsigned char *buf, size_t size)
{
    int            rc;
    unsigned char  key[NGX_HTTP_SECURECHAT_CEK_LEN];
    unsigned char  iv[NGX_HTTP_SECURECHAT_IV_LEN];

    rc = ngx_http_securechat_rand(key, sizeof(key));

    if (rc == NGX_HTTP_SECURECHAT_ENV_OK) {
        rc = ngx_http_securechat_rand(iv, sizeof(iv));
    }

    if (rc == NGX_HTTP_SECURECHAT_ENV_OK) {
        rc = ngx_http_securechat_envelope_seal_fixed(in, key, iv, env, buf,
                                                     size);
    }

    OPENSSL_cleanse(key, sizeof(key));

    return rc;
}


int
ngx_http_securechat_envelope_seal_fixed(
    const ngx_http_securechat_message_in_t *in, const unsigned char *cek,
    const unsigned char *iv, ngx_http_securechat_envelope_t *env,
    unsigned char *buf, size_t size)
{
    int                         rc;
    size_t                      hdr_len, tbs_len, tbs_size, sig_len;
    const char                 *sig_alg;
    unsigned char              *tbs, *ct;
    ngx_http_securechat_put_t   w;
    unsigned char               tag[NGX_HTTP_SECURECHAT_TAG_LEN];
    unsigned char               epoch[NGX_HTTP_SECURECHAT_EPOCH_LEN];
    unsigned char               hdr[NGX_HTTP_SECURECHAT_HEADER_MAX];
    unsigned char               sig[NGX_HTTP_SECURECHAT_SIG_MAX];

    sig_alg = ngx_http_securechat_sig_alg(in->server_key);

    if (sig_alg == NULL
        || in->id > NGX_HTTP_SECURECHAT_JSON_INT_MAX
        || in->ts > NGX_HTTP_SECURECHAT_JSON_INT_MAX
        || in->text_len > NGX_HTTP_SECURECHAT_TEXT_MAX
        || (in->text == NULL && in->text_len != 0))
    {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    rc = ngx_http_securechat_envelope_header(in, sig_alg, hdr, sizeof(hdr),
                                             &hdr_len);
    if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
        return rc;
    }

    /* one allocation: the ciphertext, then the bytes to sign */

    tbs_size = 5 * 4 + sizeof(NGX_HTTP_SECURECHAT_CTX_MESSAGE) - 1 + hdr_len
               + NGX_HTTP_SECURECHAT_IV_LEN + in->text_len
               + NGX_HTTP_SECURECHAT_TAG_LEN;

    ct = OPENSSL_malloc(in->text_len + tbs_size);
    if (ct == NULL) {
        return NGX_HTTP_SECURECHAT_ENV_ERROR;
    }

    tbs = ct + in->text_len;
    rc = NGX_HTTP_SECURECHAT_ENV_ERROR;

    if (ngx_http_securechat_gcm(1, cek, iv, hdr, hdr_len, in->text,
                                in->text_len, ct, tag)
        != 0)
    {
        goto done;
    }

    if (ngx_http_securechat_envelope_signed_bytes(hdr, hdr_len, iv, ct,
                                                  in->text_len, tag, tbs,
                                                  tbs_size, &tbs_len)
        != NGX_HTTP_SECURECHAT_ENV_OK)
    {
        goto done;
    }

    /* encrypt, then sign: the signature covers what travels */

    if (ngx_http_securechat_crypto_sign(in->server_key, tbs, tbs_len, sig,
                                        &sig_len)
        != 0)
    {
        goto done;
    }

    ngx_http_securechat_put_init(&w, buf, size);

    ngx_http_securechat_put_str(&w, "{\"type\":\"message\",\"v\":2,\"id\":");
    ngx_http_securechat_put_dec(&w, in->id);

    /* copies of the header's, for convenience: the header is what counts */

    ngx_http_securechat_put_str(&w, ",\"room\":\"");
    env->room_at = w.pos - buf;
    ngx_http_securechat_put_bytes(&w, in->room, in->room_len);
    ngx_http_securechat_put_str(&w, "\",\"epoch\":\"");
    ngx_http_securechat_epoch_hex(in->epoch, epoch);
    ngx_http_securechat_put_bytes(&w, epoch, NGX_HTTP_SECURECHAT_EPOCH_LEN);
    ngx_http_securechat_put_str(&w, "\",\"hdr\":\"");
    ngx_http_securechat_put_b64(&w, hdr, hdr_len);
    ngx_http_securechat_put_str(&w, "\",\"iv\":\"");
    ngx_http_securechat_put_b64(&w, iv, NGX_HTTP_SECURECHAT_IV_LEN);
    ngx_http_securechat_put_str(&w, "\",\"ct\":\"");
    ngx_http_securechat_put_b64(&w, ct, in->text_len);
    ngx_http_securechat_put_str(&w, "\",\"tag\":\"");
    ngx_http_securechat_put_b64(&w, tag, NGX_HTTP_SECURECHAT_TAG_LEN);
    ngx_http_securechat_put_str(&w, "\",\"sig\":\"");
    ngx_http_securechat_put_b64(&w, sig, sig_len);
    ngx_http_securechat_put_str(&w, "\",\"wk\":\"");

    rc = ngx_http_securechat_put_done(&w, buf, &env->prefix_len);
    if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
        goto done;
    }

    env->frame = buf;
    memcpy(env->cek, cek, NGX_HTTP_SECURECHAT_CEK_LEN);

done:

    OPENSSL_free(ct);

    return rc;
}


int
ngx_http_securechat_envelope_signed_bytes(const unsigned char *hdr,
    size_t hdr_len, const unsigned char *iv, const unsigned char *ct,
    size_t ct_len, const unsigned char *tag, unsigned char *out, size_t size,
    size_t *out_len)
{
    ngx_http_securechat_put_t  w;

    ngx_http_securechat_put_init(&w, out, size);

    ngx_http_securechat_put_field(&w, NGX_HTTP_SECURECHAT_CTX_MESSAGE,
                                  sizeof(NGX_HTTP_SECURECHAT_CTX_MESSAGE) - 1);
    ngx_http_securechat_put_field(&w, hdr, hdr_len);
    ngx_http_securechat_put_field(&w, iv, NGX_HTTP_SECURECHAT_IV_LEN);
    ngx_http_securechat_put_field(&w, ct, ct_len);
    ngx_http_securechat_put_field(&w, tag, NGX_HTTP_SECURECHAT_TAG_LEN);

    return ngx_http_securechat_put_done(&w, out, out_len);
}


int
ngx_http_securechat_event_signed_bytes(
    const ngx_http_securechat_event_in_t *in, unsigned char *out, size_t size,
    size_t *out_len)
{
    ngx_http_securechat_put_t  w;

    if (in->id > NGX_HTTP_SECURECHAT_JSON_INT_MAX
        || in->ts > NGX_HTTP_SECURECHAT_JSON_INT_MAX
        || in->server_key_id == NULL || in->event == NULL
        || strlen(in->event) > 32
        || in->detail_len > NGX_HTTP_SECURECHAT_EVENT_DETAIL_MAX
        || !ngx_http_securechat_room_name_ok(in->room, in->room_len)
        || !ngx_http_securechat_sender_ok(in->user, in->user_len)
        || !ngx_http_securechat_sender_ok(in->by, in->by_len))
    {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    ngx_http_securechat_put_init(&w, out, size);

    ngx_http_securechat_put_field(&w, NGX_HTTP_SECURECHAT_CTX_EVENT,
                                  sizeof(NGX_HTTP_SECURECHAT_CTX_EVENT) - 1);
    ngx_http_securechat_put_field(&w, in->server_key_id,
                                  NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    ngx_http_securechat_put_u64(&w, in->id);
    ngx_http_securechat_put_u64(&w, in->ts);
    ngx_http_securechat_put_u64(&w, in->epoch);
    ngx_http_securechat_put_field(&w, in->room, in->room_len);
    ngx_http_securechat_put_field(&w, in->event, strlen(in->event));
    ngx_http_securechat_put_field(&w, in->user, in->user_len);
    ngx_http_securechat_put_field(&w, in->by, in->by_len);
    ngx_http_securechat_put_field(&w, in->detail, in->detail_len);

    return ngx_http_securechat_put_done(&w, out, out_len);
}


/* the frame by jansson: a title may hold anything JSON escapes */

int
ngx_http_securechat_event_seal(const ngx_http_securechat_event_in_t *in,
    unsigned char *out, size_t size, size_t *out_len)
{
    int            rc;
    size_t         tbs_len;
    json_t        *doc;
    unsigned char  epoch[NGX_HTTP_SECURECHAT_EPOCH_LEN];
    unsigned char  tbs[NGX_HTTP_SECURECHAT_EVENT_SIGNED_MAX];

    rc = ngx_http_securechat_event_signed_bytes(in, tbs, sizeof(tbs),
                                                &tbs_len);
    if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
        return rc;
    }

    ngx_http_securechat_epoch_hex(in->epoch, epoch);

    doc = json_pack("{s:s, s:i, s:I, s:I, s:s#, s:s, s:s#, s:s#, s:s#}",
                    "type", "event", "v", 2,
                    "id", (json_int_t) in->id, "ts", (json_int_t) in->ts,
                    "epoch", epoch, (int) sizeof(epoch),
                    "event", in->event,
                    "room", in->room, (int) in->room_len,
                    "user", in->user, (int) in->user_len,
                    "by", in->by, (int) in->by_len);

    if (doc != NULL && in->detail_name != NULL
        && json_object_set_new(doc, in->detail_name,
                               json_stringn((const char *) in->detail,
                                            in->detail_len))
           != 0)
    {
        json_decref(doc);
        doc = NULL;
    }

    return ngx_http_securechat_signed_frame(in->server_key, tbs, tbs_len, doc,
                                            out, size, out_len);
}


/*
 * Signs tbs, adds the signature to doc as its last member "sig" and
 * writes doc out; takes doc (NULL: jansson ran out of memory).
 */

static int
ngx_http_securechat_signed_frame(EVP_PKEY *key, const unsigned char *tbs,
    size_t tbs_len, json_t *doc, unsigned char *out, size_t size,
    size_t *out_len)
{
    size_t         sig_len, len;
    unsigned char  sig[NGX_HTTP_SECURECHAT_SIG_MAX];
    unsigned char  sig64[NGX_HTTP_SECURECHAT_SIG_MAX * 2];

    if (doc == NULL) {
        return NGX_HTTP_SECURECHAT_ENV_ERROR;
    }

    if (ngx_http_securechat_crypto_sign(key, tbs, tbs_len, sig, &sig_len)
        != 0)
    {
        json_decref(doc);
        return NGX_HTTP_SECURECHAT_ENV_ERROR;
    }

    len = ngx_http_securechat_base64url_encode(sig64, sig, sig_len);

    if (json_object_set_new(doc, "sig",
                            json_stringn((const char *) sig64, len))
        != 0)
    {
        json_decref(doc);
        return NGX_HTTP_SECURECHAT_ENV_ERROR;
    }

    len = json_dumpb(doc, (char *) out, size, JSON_COMPACT);
    json_decref(doc);

    if (len == 0 || len > size) {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    *out_len = len;

    return NGX_HTTP_SECURECHAT_ENV_OK;
}


int
ngx_http_securechat_presence_signed_bytes(
    const ngx_http_securechat_presence_in_t *in, unsigned char *out,
    size_t size, size_t *out_len)
{
    unsigned char              online;
    ngx_http_securechat_put_t  w;

    if (in->ts > NGX_HTTP_SECURECHAT_JSON_INT_MAX
        || in->server_key_id == NULL
        || !ngx_http_securechat_sender_ok(in->user, in->user_len))
    {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    online = in->online ? 1 : 0;

    ngx_http_securechat_put_init(&w, out, size);

    ngx_http_securechat_put_field(&w, NGX_HTTP_SECURECHAT_CTX_PRESENCE,
                                  sizeof(NGX_HTTP_SECURECHAT_CTX_PRESENCE)
                                  - 1);
    ngx_http_securechat_put_field(&w, in->server_key_id,
                                  NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    ngx_http_securechat_put_u64(&w, in->ts);
    ngx_http_securechat_put_u64(&w, in->epoch);
    ngx_http_securechat_put_field(&w, in->user, in->user_len);
    ngx_http_securechat_put_bytes(&w, &online, 1);

    return ngx_http_securechat_put_done(&w, out, out_len);
}


int
ngx_http_securechat_presence_seal(const ngx_http_securechat_presence_in_t *in,
    unsigned char *out, size_t size, size_t *out_len)
{
    int            rc;
    size_t         tbs_len;
    json_t        *doc;
    unsigned char  epoch[NGX_HTTP_SECURECHAT_EPOCH_LEN];
    unsigned char  tbs[NGX_HTTP_SECURECHAT_EVENT_SIGNED_MAX];

    rc = ngx_http_securechat_presence_signed_bytes(in, tbs, sizeof(tbs),
                                                   &tbs_len);
    if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
        return rc;
    }

    ngx_http_securechat_epoch_hex(in->epoch, epoch);

    doc = json_pack("{s:s, s:i, s:I, s:s#, s:s#, s:b}",
                    "type", "presence", "v", 2, "ts", (json_int_t) in->ts,
                    "epoch", epoch, (int) sizeof(epoch),
                    "user", in->user, (int) in->user_len,
                    "online", (int) in->online);

    return ngx_http_securechat_signed_frame(in->server_key, tbs, tbs_len, doc,
                                            out, size, out_len);
}


ngx_http_securechat_wrap_ctx_t *
ngx_http_securechat_wrap_ctx_create(void)
{
    ngx_http_securechat_wrap_ctx_t  *wctx;

    wctx = OPENSSL_zalloc(sizeof(ngx_http_securechat_wrap_ctx_t));
    if (wctx == NULL) {
        return NULL;
    }

    /*
     * RFC 3394 is written here over AES-256-ECB: OpenSSL 3.0's own
     * AES-256-WRAP runs each block through a generic, table-based AES,
     * about ten times slower than ECB's AES-NI path, and key wrap is the
     * whole per-recipient cost of a broadcast.
     */

    wctx->cipher = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
    wctx->ctx = EVP_CIPHER_CTX_new();

    if (wctx->cipher == NULL || wctx->ctx == NULL) {
        goto failed;
    }

    /*
     * Binding the cipher now creates the provider's context once; each
     * recipient then only sets a key (EVP_EncryptInit_ex2() with a NULL
     * cipher), which allocates nothing.
     */

    if (EVP_EncryptInit_ex2(wctx->ctx, wctx->cipher, NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_set_padding(wctx->ctx, 0) != 1)
    {
        goto failed;
    }

    return wctx;

failed:

    ERR_clear_error();
    ngx_http_securechat_wrap_ctx_free(wctx);

    return NULL;
}


void
ngx_http_securechat_wrap_ctx_free(ngx_http_securechat_wrap_ctx_t *wctx)
{
    if (wctx == NULL) {
        return;
    }

    EVP_CIPHER_CTX_free(wctx->ctx);
    EVP_CIPHER_free(wctx->cipher);
    OPENSSL_free(wctx);
}


int
ngx_http_securechat_envelope_recipient(
    const ngx_http_securechat_envelope_t *env,
    ngx_http_securechat_wrap_ctx_t *wctx, const unsigned char *wrap_key,
    unsigned char *tail)
{
    int            n, i, j, k;
    uint64_t       t;
    unsigned char  b[16], wk[NGX_HTTP_SECURECHAT_WRAPPED_CEK_LEN];

    /* RFC 3394 section 2.2.1, n = 4 blocks: A in wk[0..8), R[i] after it */

    if (EVP_EncryptInit_ex2(wctx->ctx, NULL, wrap_key, NULL, NULL) != 1) {
        ERR_clear_error();
        return NGX_HTTP_SECURECHAT_ENV_ERROR;
    }

    memset(wk, 0xa6, 8);
    memcpy(wk + 8, env->cek, NGX_HTTP_SECURECHAT_CEK_LEN);

    for (j = 0; j < 6; j++) {
        for (i = 1; i <= 4; i++) {
            memcpy(b, wk, 8);
            memcpy(b + 8, wk + 8 * i, 8);

            if (EVP_EncryptUpdate(wctx->ctx, b, &n, b, 16) != 1 || n != 16) {
                ERR_clear_error();
                OPENSSL_cleanse(wk, sizeof(wk));
                return NGX_HTTP_SECURECHAT_ENV_ERROR;
            }

            t = (uint64_t) (4 * j + i);

            for (k = 7; k >= 0; k--) {
                wk[k] = b[k] ^ (unsigned char) t;
                t >>= 8;
            }

            memcpy(wk + 8 * i, b + 8, 8);
        }
    }

    OPENSSL_cleanse(b, sizeof(b));

    n = ngx_http_securechat_base64url_encode(tail, wk,
                                        NGX_HTTP_SECURECHAT_WRAPPED_CEK_LEN);
    tail[n++] = '"';
    tail[n] = '}';

    return NGX_HTTP_SECURECHAT_ENV_OK;
}


int
ngx_http_securechat_envelope_frame(const ngx_http_securechat_envelope_t *env,
    ngx_http_securechat_wrap_ctx_t *wctx, const unsigned char *wrap_key,
    unsigned char *out, size_t size, size_t *out_len)
{
    int  rc;

    if (size < env->prefix_len + NGX_HTTP_SECURECHAT_ENVELOPE_TAIL_LEN) {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    rc = ngx_http_securechat_envelope_recipient(env, wctx, wrap_key,
                                                out + env->prefix_len);
    if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
        return rc;
    }

    if (out != env->frame) {
        memmove(out, env->frame, env->prefix_len);
    }

    *out_len = env->prefix_len + NGX_HTTP_SECURECHAT_ENVELOPE_TAIL_LEN;

    return NGX_HTTP_SECURECHAT_ENV_OK;
}


int
ngx_http_securechat_envelope_frame_oaep(
    const ngx_http_securechat_envelope_t *env, const unsigned char *der,
    size_t der_len, unsigned char *out, size_t size, size_t *out_len)
{
    int                        rc;
    size_t                     n;
    unsigned char              ek[NGX_HTTP_SECURECHAT_WRAPPED_SK_MAX];
    ngx_http_securechat_put_t  w;

    /* the prefix ends with the recipient's member: `"wk":"` */

    if (env->prefix_len < 6
        || memcmp(env->frame + env->prefix_len - 6, "\"wk\":\"", 6) != 0)
    {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    rc = ngx_http_securechat_oaep_wrap(der, der_len, env->cek, ek, &n);
    if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
        return rc;
    }

    ngx_http_securechat_put_init(&w, out, size);

    ngx_http_securechat_put_bytes(&w, env->frame, env->prefix_len - 6);
    ngx_http_securechat_put_str(&w, "\"ek\":\"");
    ngx_http_securechat_put_b64(&w, ek, n);
    ngx_http_securechat_put_str(&w, "\"}");

    return ngx_http_securechat_put_done(&w, out, out_len);
}


void
ngx_http_securechat_envelope_clear(ngx_http_securechat_envelope_t *env)
{
    OPENSSL_cleanse(env->cek, sizeof(env->cek));
}


/* F("securechat v2 chat") F(conn_id) F(room) u64(counter) */

static size_t
ngx_http_securechat_chat_aad(const unsigned char *conn_id,
    size_t conn_id_len, const unsigned char *room, size_t room_len,
    uint64_t counter, unsigned char *out)
{
    ngx_http_securechat_put_t  w;

    /* conn_id and room were checked: the buffer always suffices */

    ngx_http_securechat_put_init(&w, out, NGX_HTTP_SECURECHAT_CHAT_AAD_MAX);

    ngx_http_securechat_put_field(&w, NGX_HTTP_SECURECHAT_CTX_CHAT,
                                  sizeof(NGX_HTTP_SECURECHAT_CTX_CHAT) - 1);
    ngx_http_securechat_put_field(&w, conn_id, conn_id_len);
    ngx_http_securechat_put_field(&w, room, room_len);
    ngx_http_securechat_put_u64(&w, counter);

    return w.pos - out;
}


int
ngx_http_securechat_client_frame_aad(const unsigned char *conn_id,
    size_t conn_id_len, const unsigned char *room, size_t room_len,
    uint64_t counter, unsigned char *out, size_t size, size_t *out_len)
{
    if (!ngx_http_securechat_conn_id_ok(conn_id, conn_id_len)
        || room == NULL || !ngx_http_securechat_room_name_ok(room, room_len)
        || size < NGX_HTTP_SECURECHAT_CHAT_AAD_MAX)
    {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    *out_len = ngx_http_securechat_chat_aad(conn_id, conn_id_len, room,
                                            room_len, counter, out);

    return NGX_HTTP_SECURECHAT_ENV_OK;
}


size_t
ngx_http_securechat_client_frame_size(size_t text_len)
{
    return NGX_HTTP_SECURECHAT_JSON_SLACK + NGX_HTTP_SECURECHAT_ROOM_NAME_MAX
           + ngx_http_securechat_base64url_encoded_len(
                 NGX_HTTP_SECURECHAT_IV_LEN)
           + ngx_http_securechat_base64url_encoded_len(text_len)
           + ngx_http_securechat_base64url_encoded_len(
                 NGX_HTTP_SECURECHAT_TAG_LEN);
}


int
ngx_http_securechat_client_frame_seal(const unsigned char *chat_key,
    const unsigned char *conn_id, size_t conn_id_len,
    const unsigned char *room, size_t room_len, uint64_t counter,
    const unsigned char *iv, const unsigned char *text, size_t text_len,
    unsigned char *out, size_t size, size_t *out_len)
{
    int                         rc;
    size_t                      aad_len;
    unsigned char              *ct;
    ngx_http_securechat_put_t   w;
    unsigned char               fresh[NGX_HTTP_SECURECHAT_IV_LEN];
    unsigned char               tag[NGX_HTTP_SECURECHAT_TAG_LEN];
    unsigned char               aad[NGX_HTTP_SECURECHAT_CHAT_AAD_MAX];

    if (!ngx_http_securechat_conn_id_ok(conn_id, conn_id_len)
        || room == NULL || !ngx_http_securechat_room_name_ok(room, room_len)
        || counter == 0 || counter > NGX_HTTP_SECURECHAT_JSON_INT_MAX
        || text_len > NGX_HTTP_SECURECHAT_TEXT_MAX
        || (text == NULL && text_len != 0))
    {
        return NGX_HTTP_SECURECHAT_ENV_INVALID;
    }

    if (iv == NULL) {
        rc = ngx_http_securechat_rand(fresh, sizeof(fresh));
        if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
            return rc;
        }

        iv = fresh;
    }

    ct = OPENSSL_malloc(text_len + 1);
    if (ct == NULL) {
        return NGX_HTTP_SECURECHAT_ENV_ERROR;
    }

    aad_len = ngx_http_securechat_chat_aad(conn_id, conn_id_len, room,
                                           room_len, counter, aad);

    if (ngx_http_securechat_gcm(1, chat_key, iv, aad, aad_len, text,
                                text_len, ct, tag)
        != 0)
    {
        OPENSSL_free(ct);
        return NGX_HTTP_SECURECHAT_ENV_ERROR;
    }

    ngx_http_securechat_put_init(&w, out, size);

    ngx_http_securechat_put_str(&w, "{\"type\":\"chat\",\"room\":\"");
    ngx_http_securechat_put_bytes(&w, room, room_len);
    ngx_http_securechat_put_str(&w, "\",\"n\":");
    ngx_http_securechat_put_dec(&w, counter);
    ngx_http_securechat_put_str(&w, ",\"iv\":\"");
    ngx_http_securechat_put_b64(&w, iv, NGX_HTTP_SECURECHAT_IV_LEN);
    ngx_http_securechat_put_str(&w, "\",\"ct\":\"");
    ngx_http_securechat_put_b64(&w, ct, text_len);
    ngx_http_securechat_put_str(&w, "\",\"tag\":\"");
    ngx_http_securechat_put_b64(&w, tag, NGX_HTTP_SECURECHAT_TAG_LEN);
    ngx_http_securechat_put_str(&w, "\"}");

    OPENSSL_free(ct);

    return ngx_http_securechat_put_done(&w, out, out_len);
}


/* a base64url member into out (at most out_size bytes once decoded) */

static ngx_http_securechat_chat_rc_e
ngx_http_securechat_chat_b64(json_t *val, unsigned char *out,
    size_t out_size, size_t *out_len)
{
    size_t                len;
    const unsigned char  *s;

    s = (const unsigned char *) json_string_value(val);
    len = json_string_length(val);

    /* longer than any encoding of out_size bytes: no need to look closer */

    if (len > ngx_http_securechat_base64url_encoded_len(out_size)) {
        return NGX_HTTP_SECURECHAT_CHAT_BAD_LENGTH;
    }

    if (ngx_http_securechat_base64url_decode(out, out_len, s, len) != 0) {
        return NGX_HTTP_SECURECHAT_CHAT_BAD_BASE64;
    }

    return NGX_HTTP_SECURECHAT_CHAT_OK;
}


ngx_http_securechat_chat_rc_e
ngx_http_securechat_client_frame_open(ngx_http_securechat_channel_t *session,
    const unsigned char *conn_id, size_t conn_id_len,
    const unsigned char *frame, size_t len, unsigned char *room,
    size_t *room_len, unsigned char *text, size_t text_size, size_t *text_len)
{
    int                              r;
    size_t                           iv_len, tag_len, ct_len, aad_len, rlen;
    json_t                          *doc, *val, *type, *rm, *n, *iv, *ct,
                                    *tag;
    uint64_t                         counter;
    const char                      *key;
    json_error_t                     err;
    const unsigned char             *rname;
    ngx_http_securechat_chat_rc_e    rc;
    unsigned char                    ivb[NGX_HTTP_SECURECHAT_IV_LEN + 3];
    unsigned char                    tagb[NGX_HTTP_SECURECHAT_TAG_LEN + 3];
    unsigned char                    aad[NGX_HTTP_SECURECHAT_CHAT_AAD_MAX];

    if (!ngx_http_securechat_conn_id_ok(conn_id, conn_id_len)) {
        return NGX_HTTP_SECURECHAT_CHAT_ERROR;
    }

    doc = json_loadb((const char *) frame, len, JSON_REJECT_DUPLICATES, &err);

    if (doc == NULL) {
        return NGX_HTTP_SECURECHAT_CHAT_BAD_JSON;
    }

    if (!json_is_object(doc)) {
        rc = NGX_HTTP_SECURECHAT_CHAT_BAD_JSON;
        goto done;
    }

    rc = NGX_HTTP_SECURECHAT_CHAT_BAD_FIELD;

    type = rm = n = iv = ct = tag = NULL;

    json_object_foreach(doc, key, val) {
        if (strcmp(key, "type") == 0) {
            type = val;

        } else if (strcmp(key, "room") == 0) {
            rm = val;

        } else if (strcmp(key, "n") == 0) {
            n = val;

        } else if (strcmp(key, "iv") == 0) {
            iv = val;

        } else if (strcmp(key, "ct") == 0) {
            ct = val;

        } else if (strcmp(key, "tag") == 0) {
            tag = val;

        } else {
            goto done;
        }
    }

    if (!json_is_string(type) || !json_is_string(rm) || !json_is_integer(n)
        || !json_is_string(iv) || !json_is_string(ct) || !json_is_string(tag))
    {
        goto done;
    }

    if (json_string_length(type) != 4
        || memcmp(json_string_value(type), "chat", 4) != 0)
    {
        goto done;
    }

    if (json_integer_value(n) < 1
        || (uint64_t) json_integer_value(n)
           > NGX_HTTP_SECURECHAT_JSON_INT_MAX)
    {
        goto done;
    }

    /* a name that could be no room's is a malformed frame */

    rname = (const unsigned char *) json_string_value(rm);
    rlen = json_string_length(rm);

    if (!ngx_http_securechat_room_name_ok(rname, rlen)) {
        goto done;
    }

    counter = (uint64_t) json_integer_value(n);

    rc = ngx_http_securechat_chat_b64(iv, ivb, NGX_HTTP_SECURECHAT_IV_LEN,
                                       &iv_len);
    if (rc != NGX_HTTP_SECURECHAT_CHAT_OK) {
        goto done;
    }

    rc = ngx_http_securechat_chat_b64(tag, tagb, NGX_HTTP_SECURECHAT_TAG_LEN,
                                       &tag_len);
    if (rc != NGX_HTTP_SECURECHAT_CHAT_OK) {
        goto done;
    }

    /* decoded straight into text, then decrypted in place */

    rc = ngx_http_securechat_chat_b64(ct, text, text_size, &ct_len);
    if (rc == NGX_HTTP_SECURECHAT_CHAT_BAD_LENGTH) {
        rc = NGX_HTTP_SECURECHAT_CHAT_TOO_LONG;
    }

    if (rc != NGX_HTTP_SECURECHAT_CHAT_OK) {
        goto done;
    }

    if (ct_len > text_size) {
        rc = NGX_HTTP_SECURECHAT_CHAT_TOO_LONG;
        goto done;
    }

    if (iv_len != NGX_HTTP_SECURECHAT_IV_LEN
        || tag_len != NGX_HTTP_SECURECHAT_TAG_LEN)
    {
        rc = NGX_HTTP_SECURECHAT_CHAT_BAD_LENGTH;
        goto done;
    }

    /* a replay or a reordering; checked first, the AAD pins it anyway */

    if (counter != session->last_counter + 1) {
        rc = NGX_HTTP_SECURECHAT_CHAT_BAD_COUNTER;
        goto done;
    }

    aad_len = ngx_http_securechat_chat_aad(conn_id, conn_id_len, rname, rlen,
                                           counter, aad);

    r = ngx_http_securechat_gcm(0, session->chat_key, ivb, aad, aad_len, text,
                                ct_len, text, tagb);

    if (r != 0) {
        OPENSSL_cleanse(text, ct_len);
        rc = (r == 1) ? NGX_HTTP_SECURECHAT_CHAT_BAD_TAG
                      : NGX_HTTP_SECURECHAT_CHAT_ERROR;
        goto done;
    }

    session->last_counter = counter;
    memcpy(room, rname, rlen);
    *room_len = rlen;
    *text_len = ct_len;
    rc = NGX_HTTP_SECURECHAT_CHAT_OK;

done:

    json_decref(doc);

    return rc;
}


const char *
ngx_http_securechat_chat_rc_code(ngx_http_securechat_chat_rc_e rc)
{
    switch (rc) {

    case NGX_HTTP_SECURECHAT_CHAT_OK:
        return "ok";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_JSON:
        return "bad_json";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_FIELD:
        return "bad_field";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_BASE64:
        return "bad_base64";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_LENGTH:
        return "bad_length";

    case NGX_HTTP_SECURECHAT_CHAT_TOO_LONG:
        return "too_long";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_COUNTER:
        return "bad_counter";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_TAG:
        return "bad_tag";

    default:
        return "internal_error";
    }
}


const char *
ngx_http_securechat_chat_rc_text(ngx_http_securechat_chat_rc_e rc)
{
    switch (rc) {

    case NGX_HTTP_SECURECHAT_CHAT_OK:
        return "ok";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_JSON:
        return "the frame is not one JSON object";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_FIELD:
        return "the frame must have exactly \"type\": \"chat\", \"room\","
               " \"n\", \"iv\", \"ct\" and \"tag\"";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_BASE64:
        return "a binary member is not base64url without padding";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_LENGTH:
        return "\"iv\" must be 12 bytes and \"tag\" 16 bytes";

    case NGX_HTTP_SECURECHAT_CHAT_TOO_LONG:
        return "the message is too long";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_COUNTER:
        return "\"n\" must be exactly one more than the previous frame's";

    case NGX_HTTP_SECURECHAT_CHAT_BAD_TAG:
        return "the frame does not authenticate under this connection's key";

    default:
        return "internal error";
    }
}
