
/*
 * securechat-vectors: test vectors and live envelopes from the module's own
 * envelope code (src/ngx_http_securechat_envelope.c), for docs/vectors.json
 * and for t/envelope/verify.pl, which checks them with CryptX.
 *
 *   securechat-vectors vectors KEYDIR
 *       the deterministic vectors (fixed keys from KEYDIR, fixed SK, CEK,
 *       IV and texts), JSON on stdout; docs/vectors.json is this output
 *   securechat-vectors oaep KEYDIR
 *       writes KEYDIR/wrapped-sk-{a,b}: fresh RSA-OAEP wraps of the fixed
 *       SKs (OAEP is randomized, so the vectors keep one sample)
 *   securechat-vectors live SERVER_KEY CLIENT_A_PUB CLIENT_B_PUB COUNT
 *       what the server would send: a hello to each client and COUNT
 *       messages to both, all keys and nonces fresh from the CSPRNG; also
 *       a chat frame sealed under client a's session.  JSON on stdout.
 *   securechat-vectors chat-open SK CONN LAST FRAME
 *       what the server makes of a client chat frame (SK base64url, LAST
 *       the last accepted counter): "ok ROOM TEXT-base64url" or the error
 *       code
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_envelope.h"
#include "ngx_http_securechat_room.h"
#include "ngx_http_securechat_token.h"


#define SV_FILE_MAX    16384
#define SV_BUF         65536
#define SV_TS_HELLO    1700000000000ULL
#define SV_EPOCH       0x0123456789abcdefULL
#define SV_TS_MESSAGE  1700000001000ULL
#define SV_EVENT_ID    8
#define SV_MESSAGE_ID  7
#define SV_SENDER      "alice"
#define SV_ROOM        "general"
#define SV_TEXT        "h\xc3\xa9llo, w\xc3\xb6rld \xf0\x9f\x91\x8b"
#define SV_CHAT_TEXT   "hi from a"


typedef struct {
    const char     *name;          /* "a" or "b" */
    EVP_PKEY       *pkey;          /* private in vectors mode, else NULL */
    char            pem[SV_FILE_MAX];
    size_t          pem_len;
    unsigned char   der[NGX_HTTP_SECURECHAT_CLIENT_KEY_DER_MAX];
    size_t          der_len;
    unsigned char   id[NGX_HTTP_SECURECHAT_KEY_ID_LEN];
    char            conn[8];
    unsigned char   sk[NGX_HTTP_SECURECHAT_SK_LEN];
    unsigned char   wrapped[NGX_HTTP_SECURECHAT_WRAPPED_SK_MAX];
    size_t          wrapped_len;
    ngx_http_securechat_channel_t  session;
} sv_client_t;


typedef struct {
    const char     *name;          /* "server_ed25519" or "server_rsa" */
    EVP_PKEY       *pkey;
    unsigned char   id[NGX_HTTP_SECURECHAT_KEY_ID_LEN];
} sv_server_t;


static void sv_die(const char *what) __attribute__((noreturn));
static size_t sv_read(const char *dir, const char *name, char *buf,
    size_t size);
static void sv_fill(unsigned char *p, size_t len, unsigned start);
static json_t *sv_b64(const unsigned char *p, size_t len);
static json_t *sv_str(const void *p, size_t len);
static void sv_server_load(sv_server_t *s, const char *dir,
    const char *file, const char *name);
static void sv_client_load(sv_client_t *c, const char *dir,
    const char *file, const char *name, int private);
static json_t *sv_key_json(EVP_PKEY *pkey, const char *private_pem,
    size_t private_len, const unsigned char *id);
static json_t *sv_hello(sv_server_t *s, sv_client_t *c, int fixed,
    int deterministic);
static json_t *sv_message(sv_server_t *s, sv_client_t *c, int n,
    const unsigned char *cek, const unsigned char *iv, uint64_t id,
    int deterministic);
static void sv_signed(json_t *o, json_t *frame, const unsigned char *hdr,
    size_t hdr_len, const unsigned char *iv);
static json_t *sv_chat(sv_client_t *c, const unsigned char *iv);
static json_t *sv_event(sv_server_t *s, int deterministic);
static void sv_print(json_t *doc);
static int sv_vectors(const char *dir);
static int sv_oaep(const char *dir);
static int sv_live(char **argv);
static int sv_chat_open(char **argv);


static void
sv_die(const char *what)
{
    fprintf(stderr, "securechat-vectors: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}


static size_t
sv_read(const char *dir, const char *name, char *buf, size_t size)
{
    FILE    *f;
    size_t   n;
    char     path[4096];

    if (dir != NULL) {
        snprintf(path, sizeof(path), "%s/%s", dir, name);

    } else {
        snprintf(path, sizeof(path), "%s", name);
    }

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "securechat-vectors: cannot open %s\n", path);
        exit(2);
    }

    n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';

    return n;
}


/* fixed inputs are easy to recognise in a hex dump: start, start+1, ... */

static void
sv_fill(unsigned char *p, size_t len, unsigned start)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        p[i] = (unsigned char) (start + i);
    }
}


static json_t *
sv_b64(const unsigned char *p, size_t len)
{
    json_t         *v;
    unsigned char  *enc;
    size_t          n;

    enc = malloc(ngx_http_securechat_base64url_encoded_len(len) + 1);
    if (enc == NULL) {
        sv_die("out of memory");
    }

    n = ngx_http_securechat_base64url_encode(enc, p, len);
    v = json_stringn((const char *) enc, n);
    free(enc);

    return v;
}


static json_t *
sv_str(const void *p, size_t len)
{
    return json_stringn((const char *) p, len);
}


static void
sv_server_load(sv_server_t *s, const char *dir, const char *file,
    const char *name)
{
    size_t       n;
    const char  *why;
    char         pem[SV_FILE_MAX];

    n = sv_read(dir, file, pem, sizeof(pem));

    s->name = name;
    s->pkey = ngx_http_securechat_crypto_read_private_key(
                  (const unsigned char *) pem, n, &why);

    if (s->pkey == NULL
        || ngx_http_securechat_crypto_check_signing_key(s->pkey, &why) != 0)
    {
        sv_die(why);
    }

    if (ngx_http_securechat_crypto_key_id(s->pkey, s->id) != 0) {
        sv_die("key id");
    }
}


/* the client's public key goes through the login intake, as in the module */

static void
sv_client_load(sv_client_t *c, const char *dir, const char *file,
    const char *name, int private)
{
    int          n;
    const char  *why;
    char         priv[SV_FILE_MAX];

    c->name = name;
    c->pkey = NULL;
    snprintf(c->conn, sizeof(c->conn), "conn-%s", name);

    if (private) {
        n = (int) sv_read(dir, file, priv, sizeof(priv));
        c->pkey = ngx_http_securechat_crypto_read_private_key(
                      (const unsigned char *) priv, n, &why);
        if (c->pkey == NULL) {
            sv_die(why);
        }

        n = ngx_http_securechat_crypto_public_pem(c->pkey,
                                                  (unsigned char *) c->pem,
                                                  sizeof(c->pem));
        if (n <= 0) {
            sv_die("public pem");
        }

        c->pem_len = n;

    } else {
        c->pem_len = sv_read(dir, file, c->pem, sizeof(c->pem));
    }

    if (ngx_http_securechat_client_key_import((const unsigned char *) c->pem,
                                              c->pem_len, c->der,
                                              &c->der_len, c->id, &why)
        != 0)
    {
        sv_die(why);
    }
}


static json_t *
sv_key_json(EVP_PKEY *pkey, const char *private_pem, size_t private_len,
    const unsigned char *id)
{
    int             n;
    json_t         *o;
    unsigned char   pem[SV_FILE_MAX];

    n = ngx_http_securechat_crypto_public_pem(pkey, pem, sizeof(pem));
    if (n <= 0) {
        sv_die("public pem");
    }

    o = json_object();
    json_object_set_new(o, "private_pem", sv_str(private_pem, private_len));
    json_object_set_new(o, "public_pem", sv_str(pem, n));
    json_object_set_new(o, "key_id",
                        sv_str(id, NGX_HTTP_SECURECHAT_KEY_ID_LEN));

    return o;
}


/*
 * A hello.  fixed: SK and wrapped SK from c (vectors); else fresh.
 * deterministic: leave out what an RSA-PSS signature makes random.
 */

static json_t *
sv_hello(sv_server_t *s, sv_client_t *c, int fixed, int deterministic)
{
    int                              rc;
    size_t                           len, tbs_len;
    json_t                          *o;
    const char                      *alg;
    unsigned char                    frame[NGX_HTTP_SECURECHAT_HELLO_MAX];
    unsigned char                    tbs[2048];
    ngx_http_securechat_hello_in_t   in;

    memset(&in, 0, sizeof(in));
    in.server_key = s->pkey;
    in.server_key_id = s->id;
    in.client_der = c->der;
    in.client_der_len = c->der_len;
    in.client_key_id = c->id;
    in.conn_id = (const unsigned char *) c->conn;
    in.conn_id_len = strlen(c->conn);
    in.ts = SV_TS_HELLO;
    in.epoch = SV_EPOCH;

    if (fixed) {
        rc = ngx_http_securechat_hello_build_fixed(&in, c->sk, c->wrapped,
                                                   c->wrapped_len,
                                                   &c->session, frame,
                                                   sizeof(frame), &len);
    } else {
        rc = ngx_http_securechat_hello_build(&in, &c->session, frame,
                                             sizeof(frame), &len);
    }

    if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
        sv_die("hello");
    }

    o = json_object();
    json_object_set_new(o, "server", json_string(s->name));
    json_object_set_new(o, "client", json_string(c->name));

    if (fixed) {
        alg = ngx_http_securechat_crypto_key_alg(s->pkey);
        json_object_set_new(o, "conn", json_string(c->conn));
        json_object_set_new(o, "ts", json_integer(SV_TS_HELLO));
        json_object_set_new(o, "epoch", json_string("0123456789abcdef"));

        if (ngx_http_securechat_hello_signed_bytes(&in, alg, c->wrapped,
                                                   c->wrapped_len, tbs,
                                                   sizeof(tbs), &tbs_len)
            != NGX_HTTP_SECURECHAT_ENV_OK)
        {
            sv_die("hello signed bytes");
        }

        json_object_set_new(o, "signed", sv_b64(tbs, tbs_len));
    }

    if (!deterministic) {
        json_object_set_new(o, "frame", sv_str(frame, len));
    }

    return o;
}


/* one message to every client in c[0..n) */

static json_t *
sv_message(sv_server_t *s, sv_client_t *c, int n, const unsigned char *cek,
    const unsigned char *iv, uint64_t id, int deterministic)
{
    int                               i, rc;
    size_t                            len, hdr_len;
    json_t                           *o, *r, *list, *doc;
    unsigned char                    *buf, *out, hdr[512];
    ngx_http_securechat_envelope_t    env;
    ngx_http_securechat_wrap_ctx_t   *wctx;
    ngx_http_securechat_message_in_t  in;

    memset(&in, 0, sizeof(in));
    in.server_key = s->pkey;
    in.server_key_id = s->id;
    in.id = id;
    in.ts = SV_TS_MESSAGE;
    in.epoch = SV_EPOCH;
    in.room = (const unsigned char *) SV_ROOM;
    in.room_len = sizeof(SV_ROOM) - 1;
    in.sender = (const unsigned char *) SV_SENDER;
    in.sender_len = sizeof(SV_SENDER) - 1;
    in.text = (const unsigned char *) SV_TEXT;
    in.text_len = sizeof(SV_TEXT) - 1;

    buf = malloc(SV_BUF);
    out = malloc(SV_BUF);
    wctx = ngx_http_securechat_wrap_ctx_create();

    if (buf == NULL || out == NULL || wctx == NULL) {
        sv_die("out of memory");
    }

    if (cek != NULL) {
        rc = ngx_http_securechat_envelope_seal_fixed(&in, cek, iv, &env, buf,
                                                     SV_BUF);
    } else {
        rc = ngx_http_securechat_envelope_seal(&in, &env, buf, SV_BUF);
    }

    if (rc != NGX_HTTP_SECURECHAT_ENV_OK) {
        sv_die("seal");
    }

    o = json_object();
    json_object_set_new(o, "server", json_string(s->name));

    if (cek != NULL) {
        json_object_set_new(o, "id", json_integer((json_int_t) id));
        json_object_set_new(o, "ts", json_integer(SV_TS_MESSAGE));
        json_object_set_new(o, "epoch", json_string("0123456789abcdef"));
        json_object_set_new(o, "room", json_string(SV_ROOM));
        json_object_set_new(o, "sender", json_string(SV_SENDER));
        json_object_set_new(o, "text", json_string(SV_TEXT));
        json_object_set_new(o, "cek", sv_b64(cek, 32));
        json_object_set_new(o, "iv", sv_b64(iv, 12));

        if (ngx_http_securechat_envelope_header(&in,
                ngx_http_securechat_crypto_key_alg(s->pkey), hdr,
                sizeof(hdr), &hdr_len)
            != NGX_HTTP_SECURECHAT_ENV_OK)
        {
            sv_die("header");
        }

        json_object_set_new(o, "hdr", sv_b64(hdr, hdr_len));
    }

    list = json_array();

    for (i = 0; i < n; i++) {
        if (ngx_http_securechat_envelope_frame(&env, wctx,
                                               c[i].session.wrap_key, out,
                                               SV_BUF, &len)
            != NGX_HTTP_SECURECHAT_ENV_OK)
        {
            sv_die("recipient");
        }

        r = json_object();
        json_object_set_new(r, "client", json_string(c[i].name));

        if (cek != NULL) {
            /* the frame's members, and the bytes its signature covers */
            doc = json_loadb((const char *) out, len, 0, NULL);
            if (doc == NULL) {
                sv_die("frame is not JSON");
            }

            if (i == 0) {
                sv_signed(o, doc, hdr, hdr_len, iv);
            }

            json_object_set(r, "wk", json_object_get(doc, "wk"));
            json_decref(doc);
        }

        if (!deterministic) {
            json_object_set_new(r, "frame", sv_str(out, len));
        }

        json_array_append_new(list, r);
    }

    json_object_set_new(o, "recipients", list);

    ngx_http_securechat_envelope_clear(&env);
    ngx_http_securechat_wrap_ctx_free(wctx);
    free(buf);
    free(out);

    return o;
}


/*
 * A room's event with fixed members: its signed bytes, and (Ed25519, or
 * live) the whole frame with its signature.
 */

static json_t *
sv_event(sv_server_t *s, int deterministic)
{
    size_t                          len;
    json_t                         *o;
    unsigned char                   out[4096];
    ngx_http_securechat_event_in_t  in;

    memset(&in, 0, sizeof(in));
    in.server_key = s->pkey;
    in.server_key_id = s->id;
    in.id = SV_EVENT_ID;
    in.ts = SV_TS_MESSAGE + 1;
    in.epoch = SV_EPOCH;
    in.room = (const unsigned char *) SV_ROOM;
    in.room_len = sizeof(SV_ROOM) - 1;
    in.event = "role";
    in.user = (const unsigned char *) "bob";
    in.user_len = 3;
    in.by = (const unsigned char *) SV_SENDER;
    in.by_len = sizeof(SV_SENDER) - 1;
    in.detail_name = "role";
    in.detail = (const unsigned char *) "moderator";
    in.detail_len = 9;

    o = json_object();
    json_object_set_new(o, "server", json_string(s->name));
    json_object_set_new(o, "id", json_integer((json_int_t) in.id));
    json_object_set_new(o, "ts", json_integer((json_int_t) in.ts));
    json_object_set_new(o, "epoch", json_string("0123456789abcdef"));
    json_object_set_new(o, "room", json_string(SV_ROOM));
    json_object_set_new(o, "event", json_string(in.event));
    json_object_set_new(o, "user", json_string("bob"));
    json_object_set_new(o, "by", json_string(SV_SENDER));
    json_object_set_new(o, "role", json_string("moderator"));

    if (ngx_http_securechat_event_signed_bytes(&in, out, sizeof(out), &len)
        != NGX_HTTP_SECURECHAT_ENV_OK)
    {
        sv_die("event signed bytes");
    }

    json_object_set_new(o, "signed", sv_b64(out, len));

    if (!deterministic) {
        if (ngx_http_securechat_event_seal(&in, out, sizeof(out), &len)
            != NGX_HTTP_SECURECHAT_ENV_OK)
        {
            sv_die("event seal");
        }

        json_object_set_new(o, "frame", sv_str(out, len));
    }

    return o;
}


/* ct, tag and the signed bytes of a message, into o */

static void
sv_signed(json_t *o, json_t *frame, const unsigned char *hdr, size_t hdr_len,
    const unsigned char *iv)
{
    size_t               ct_len, tag_len, tbs_len, n;
    json_t              *v;
    unsigned char       *ct, *tbs, tag[32];
    const unsigned char *s;

    v = json_object_get(frame, "ct");
    s = (const unsigned char *) json_string_value(v);
    n = json_string_length(v);
    ct = malloc(n + 1);
    tbs = malloc(n + 1024);

    if (ct == NULL || tbs == NULL
        || ngx_http_securechat_base64url_decode(ct, &ct_len, s, n) != 0)
    {
        sv_die("ct");
    }

    v = json_object_get(frame, "tag");
    s = (const unsigned char *) json_string_value(v);
    n = json_string_length(v);

    if (n > 24 || ngx_http_securechat_base64url_decode(tag, &tag_len, s, n)
                  != 0)
    {
        sv_die("tag");
    }

    if (ngx_http_securechat_envelope_signed_bytes(hdr, hdr_len, iv, ct,
                                                  ct_len, tag, tbs,
                                                  ct_len + 1024, &tbs_len)
        != NGX_HTTP_SECURECHAT_ENV_OK)
    {
        sv_die("signed bytes");
    }

    json_object_set(o, "ct", json_object_get(frame, "ct"));
    json_object_set(o, "tag", json_object_get(frame, "tag"));
    json_object_set_new(o, "signed", sv_b64(tbs, tbs_len));

    free(ct);
    free(tbs);
}


static json_t *
sv_chat(sv_client_t *c, const unsigned char *iv)
{
    size_t          len, aad_len;
    json_t         *o;
    unsigned char   frame[1024], aad[256];

    if (ngx_http_securechat_client_frame_seal(c->session.chat_key,
            (const unsigned char *) c->conn, strlen(c->conn),
            (const unsigned char *) SV_ROOM, sizeof(SV_ROOM) - 1, 1, iv,
            (const unsigned char *) SV_CHAT_TEXT, sizeof(SV_CHAT_TEXT) - 1,
            frame, sizeof(frame), &len)
        != NGX_HTTP_SECURECHAT_ENV_OK
        || ngx_http_securechat_client_frame_aad(
               (const unsigned char *) c->conn, strlen(c->conn),
               (const unsigned char *) SV_ROOM, sizeof(SV_ROOM) - 1, 1, aad,
               sizeof(aad), &aad_len)
           != NGX_HTTP_SECURECHAT_ENV_OK)
    {
        sv_die("chat frame");
    }

    o = json_object();
    json_object_set_new(o, "client", json_string(c->name));
    json_object_set_new(o, "conn", json_string(c->conn));
    json_object_set_new(o, "room", json_string(SV_ROOM));
    json_object_set_new(o, "n", json_integer(1));
    json_object_set_new(o, "text", json_string(SV_CHAT_TEXT));

    if (iv != NULL) {
        json_object_set_new(o, "iv", sv_b64(iv, 12));
    }

    json_object_set_new(o, "aad", sv_b64(aad, aad_len));
    json_object_set_new(o, "frame", sv_str(frame, len));

    return o;
}


static void
sv_print(json_t *doc)
{
    if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        sv_die("cannot write");
    }

    putchar('\n');
    json_decref(doc);
}


static int
sv_vectors(const char *dir)
{
    int            i, j;
    char           b64[1024], pem[SV_FILE_MAX];
    json_t        *doc, *keys, *sessions, *o, *hellos, *messages, *chats;
    json_t        *events;
    size_t         n;
    sv_client_t    c[2];
    sv_server_t    s[2];
    unsigned char  cek[32], iv[12], chat_iv[12];

    static const char  *server_files[] = { "server-ed25519.pem",
                                           "server-rsa.pem" };
    static const char  *server_names[] = { "server_ed25519", "server_rsa" };
    static const char  *client_files[] = { "client-a.pem", "client-b.pem" };
    static const char  *wrapped_files[] = { "wrapped-sk-a", "wrapped-sk-b" };
    static const char  *client_names[] = { "a", "b" };

    doc = json_object();
    json_object_set_new(doc, "about", json_string(
        "securechat v2 test vectors, generated by tools/securechat-vectors"
        " from the module's code; see docs/PROTOCOL.md.  Binary values are"
        " base64url without padding.  The keys are public test keys."
        " RSA-PSS signatures are randomized, so entries for server_rsa give"
        " the signed bytes and no signature; Ed25519 entries give the"
        " signature and the whole frame."));

    keys = json_object();

    for (i = 0; i < 2; i++) {
        sv_server_load(&s[i], dir, server_files[i], server_names[i]);
        n = sv_read(dir, server_files[i], pem, sizeof(pem));
        o = sv_key_json(s[i].pkey, pem, n, s[i].id);
        json_object_set_new(o, "alg", json_string(
                                ngx_http_securechat_crypto_key_alg(
                                    s[i].pkey)));
        json_object_set_new(keys, server_names[i], o);
    }

    sessions = json_array();

    for (i = 0; i < 2; i++) {
        sv_client_load(&c[i], dir, client_files[i], client_names[i], 1);
        n = sv_read(dir, client_files[i], pem, sizeof(pem));
        json_object_set_new(keys, i ? "client_b" : "client_a",
                            sv_key_json(c[i].pkey, pem, n, c[i].id));

        sv_fill(c[i].sk, 32, i ? 0x20 : 0x00);

        n = sv_read(dir, wrapped_files[i], b64, sizeof(b64));
        while (n > 0 && (b64[n - 1] == '\n' || b64[n - 1] == '\r')) {
            n--;
        }

        if (n > ngx_http_securechat_base64url_encoded_len(
                    NGX_HTTP_SECURECHAT_WRAPPED_SK_MAX)
            || ngx_http_securechat_base64url_decode(c[i].wrapped,
                   &c[i].wrapped_len, (const unsigned char *) b64, n)
               != 0)
        {
            sv_die("bad wrapped-sk file");
        }

        if (ngx_http_securechat_session_derive(c[i].sk, &c[i].session)
            != NGX_HTTP_SECURECHAT_ENV_OK)
        {
            sv_die("derive");
        }

        o = json_object();
        json_object_set_new(o, "client", json_string(client_names[i]));
        json_object_set_new(o, "conn", json_string(c[i].conn));
        json_object_set_new(o, "sk", sv_b64(c[i].sk, 32));
        json_object_set_new(o, "wrapped_sk",
                            sv_b64(c[i].wrapped, c[i].wrapped_len));
        json_object_set_new(o, "wrap_key", sv_b64(c[i].session.wrap_key, 32));
        json_object_set_new(o, "chat_key", sv_b64(c[i].session.chat_key, 32));
        json_array_append_new(sessions, o);
    }

    json_object_set_new(doc, "keys", keys);
    json_object_set_new(doc, "sessions", sessions);

    hellos = json_array();

    for (i = 0; i < 2; i++) {
        for (j = 0; j < 2; j++) {
            json_array_append_new(hellos, sv_hello(&s[i], &c[j], 1, i == 1));
        }
    }

    json_object_set_new(doc, "hello", hellos);

    sv_fill(cek, sizeof(cek), 0x40);
    sv_fill(iv, sizeof(iv), 0x60);

    messages = json_array();

    for (i = 0; i < 2; i++) {
        o = sv_message(&s[i], c, 2, cek, iv, SV_MESSAGE_ID, i == 1);
        json_array_append_new(messages, o);
    }

    json_object_set_new(doc, "message", messages);

    events = json_array();

    for (i = 0; i < 2; i++) {
        json_array_append_new(events, sv_event(&s[i], i == 1));
    }

    json_object_set_new(doc, "event", events);

    sv_fill(chat_iv, sizeof(chat_iv), 0x70);
    chats = json_array();
    json_array_append_new(chats, sv_chat(&c[0], chat_iv));
    json_object_set_new(doc, "chat", chats);

    sv_print(doc);

    for (i = 0; i < 2; i++) {
        EVP_PKEY_free(s[i].pkey);
        EVP_PKEY_free(c[i].pkey);
    }

    return 0;
}


static int
sv_oaep(const char *dir)
{
    int                              i;
    FILE                            *f;
    size_t                           len;
    char                             path[4096];
    sv_client_t                      c;
    unsigned char                    frame[NGX_HTTP_SECURECHAT_HELLO_MAX];
    sv_server_t                      s;
    json_t                          *doc;
    ngx_http_securechat_hello_in_t   in;

    /* a hello with the fixed SK, for its wrapped_sk; the server is a prop */
    sv_server_load(&s, dir, "server-ed25519.pem", "server_ed25519");

    for (i = 0; i < 2; i++) {
        sv_client_load(&c, dir, i ? "client-b.pem" : "client-a.pem",
                       i ? "b" : "a", 1);
        sv_fill(c.sk, 32, i ? 0x20 : 0x00);

        memset(&in, 0, sizeof(in));
        in.server_key = s.pkey;
        in.server_key_id = s.id;
        in.client_der = c.der;
        in.client_der_len = c.der_len;
        in.client_key_id = c.id;
        in.conn_id = (const unsigned char *) c.conn;
        in.conn_id_len = strlen(c.conn);

        if (ngx_http_securechat_hello_build_fixed(&in, c.sk, NULL, 0,
                                                  &c.session, frame,
                                                  sizeof(frame), &len)
            != NGX_HTTP_SECURECHAT_ENV_OK)
        {
            sv_die("hello");
        }

        doc = json_loadb((const char *) frame, len, 0, NULL);
        if (doc == NULL) {
            sv_die("hello is not JSON");
        }

        snprintf(path, sizeof(path), "%s/wrapped-sk-%s", dir, c.name);
        f = fopen(path, "w");
        if (f == NULL) {
            sv_die(path);
        }

        fprintf(f, "%s\n",
                json_string_value(json_object_get(doc, "wrapped_sk")));
        fclose(f);
        json_decref(doc);
        EVP_PKEY_free(c.pkey);
    }

    EVP_PKEY_free(s.pkey);

    return 0;
}


static int
sv_live(char **argv)
{
    int            i, count;
    json_t        *doc, *hellos, *messages;
    sv_client_t   *c;
    sv_server_t    s;

    count = atoi(argv[5]);
    if (count < 1 || count > 1000) {
        sv_die("COUNT must be 1..1000");
    }

    c = calloc(2, sizeof(sv_client_t));
    if (c == NULL) {
        sv_die("out of memory");
    }

    sv_server_load(&s, NULL, argv[2], "server");
    sv_client_load(&c[0], NULL, argv[3], "a", 0);
    sv_client_load(&c[1], NULL, argv[4], "b", 0);

    doc = json_object();
    json_object_set_new(doc, "server_key_id",
                        sv_str(s.id, NGX_HTTP_SECURECHAT_KEY_ID_LEN));
    json_object_set_new(doc, "sig_alg", json_string(
                            ngx_http_securechat_crypto_key_alg(s.pkey)));

    hellos = json_array();

    for (i = 0; i < 2; i++) {
        json_array_append_new(hellos, sv_hello(&s, &c[i], 0, 0));
    }

    json_object_set_new(doc, "hello", hellos);

    messages = json_array();

    for (i = 0; i < count; i++) {
        json_array_append_new(messages,
                              sv_message(&s, c, 2, NULL, NULL, i + 1, 0));
    }

    json_object_set_new(doc, "message", messages);
    json_object_set_new(doc, "chat", sv_chat(&c[0], NULL));
    json_object_set_new(doc, "event", json_pack("[o]", sv_event(&s, 0)));

    sv_print(doc);

    EVP_PKEY_free(s.pkey);
    free(c);

    return 0;
}


static int
sv_chat_open(char **argv)
{
    size_t                           sk_len, len, n, room_len;
    unsigned char                    sk[64], text[4096];
    unsigned char                    room[NGX_HTTP_SECURECHAT_ROOM_NAME_MAX];
    unsigned char                    enc[4096 / 3 * 4 + 8];
    ngx_http_securechat_channel_t    session;
    ngx_http_securechat_chat_rc_e    rc;

    len = strlen(argv[2]);

    if (len > 64
        || ngx_http_securechat_base64url_decode(sk, &sk_len,
               (const unsigned char *) argv[2], len) != 0
        || sk_len != NGX_HTTP_SECURECHAT_SK_LEN)
    {
        sv_die("SK must be 32 bytes, base64url");
    }

    if (ngx_http_securechat_session_derive(sk, &session) != 0) {
        sv_die("derive");
    }

    session.last_counter = strtoull(argv[4], NULL, 10);

    rc = ngx_http_securechat_client_frame_open(&session,
             (const unsigned char *) argv[3], strlen(argv[3]),
             (const unsigned char *) argv[5], strlen(argv[5]), room,
             &room_len, text, sizeof(text), &n);

    if (rc != NGX_HTTP_SECURECHAT_CHAT_OK) {
        printf("%s\n", ngx_http_securechat_chat_rc_code(rc));
        return 0;
    }

    n = ngx_http_securechat_base64url_encode(enc, text, n);
    printf("ok %.*s %.*s\n", (int) room_len, room, (int) n, enc);

    return 0;
}


int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "vectors") == 0) {
        return sv_vectors(argv[2]);
    }

    if (argc == 3 && strcmp(argv[1], "oaep") == 0) {
        return sv_oaep(argv[2]);
    }

    if (argc == 6 && strcmp(argv[1], "live") == 0) {
        return sv_live(argv);
    }

    if (argc == 6 && strcmp(argv[1], "chat-open") == 0) {
        return sv_chat_open(argv);
    }

    fprintf(stderr,
            "usage: securechat-vectors vectors KEYDIR\n"
            "       securechat-vectors oaep KEYDIR\n"
            "       securechat-vectors live SERVER_KEY CLIENT_A_PUB"
            " CLIENT_B_PUB COUNT\n"
            "       securechat-vectors chat-open SK CONN LAST FRAME\n");

    return 2;
}
