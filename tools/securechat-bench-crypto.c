
/*
 * securechat-bench-crypto: what the envelope costs on this machine, one
 * thread.  Per message: the shared part (CEK and IV from the CSPRNG,
 * AES-256-GCM, the signature); per recipient: the CEK wrapped under the
 * recipient's key and its frame tail; per connection: the hello; per
 * client frame: parsing and decrypting.  For RSA-2048 and Ed25519 server
 * keys.  Not a test: the numbers depend on the machine.
 *
 *   securechat-bench-crypto [TEXT_BYTES]      (default 200)
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_envelope.h"


#define SB_SESSIONS  1024


static double sb_now(void);
static void sb_die(const char *what);
static void sb_run(const char *name, EVP_PKEY *server, size_t text_len,
    EVP_PKEY *client);


static double
sb_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static void
sb_die(const char *what)
{
    fprintf(stderr, "securechat-bench-crypto: %s failed\n", what);
    exit(1);
}


static void
sb_run(const char *name, EVP_PKEY *server, size_t text_len, EVP_PKEY *client)
{
    int                                i, n_msg, n_rcpt, n_hello, n_frame;
    size_t                             len, text_out, room_len;
    double                             t0, msg, rcpt, hello, frame;
    unsigned char                     *buf, *text, *cframe;
    unsigned char                     *der, *p;
    unsigned char                      tail[56], sk[32], room[64];
    unsigned char                      id[NGX_HTTP_SECURECHAT_KEY_ID_LEN];
    unsigned char                      hello_buf[NGX_HTTP_SECURECHAT_HELLO_MAX];
    ngx_http_securechat_channel_t     *s;
    ngx_http_securechat_envelope_t     env;
    ngx_http_securechat_wrap_ctx_t    *wctx;
    ngx_http_securechat_hello_in_t     hin;
    ngx_http_securechat_message_in_t   in;

    buf = malloc(ngx_http_securechat_envelope_size(7, 5, text_len));
    text = malloc(text_len + 1);
    cframe = malloc(ngx_http_securechat_client_frame_size(text_len));
    s = malloc(SB_SESSIONS * sizeof(ngx_http_securechat_channel_t));
    wctx = ngx_http_securechat_wrap_ctx_create();

    if (buf == NULL || text == NULL || cframe == NULL || s == NULL
        || wctx == NULL)
    {
        sb_die("allocation");
    }

    memset(text, 'x', text_len);

    for (i = 0; i < SB_SESSIONS; i++) {
        if (RAND_bytes(sk, sizeof(sk)) != 1
            || ngx_http_securechat_session_derive(sk, &s[i]) != 0)
        {
            sb_die("session");
        }
    }

    if (ngx_http_securechat_crypto_key_id(server, id) != 0) {
        sb_die("key id");
    }

    memset(&in, 0, sizeof(in));
    in.server_key = server;
    in.server_key_id = id;
    in.ts = 1700000000000ULL;
    in.epoch = 0x0123456789abcdefULL;
    in.room = (const unsigned char *) "general";
    in.room_len = 7;
    in.sender = (const unsigned char *) "alice";
    in.sender_len = 5;
    in.text = text;
    in.text_len = text_len;

    /* per message: everything shared, signature included */

    n_msg = (EVP_PKEY_get_base_id(server) == EVP_PKEY_RSA) ? 1000 : 10000;

    t0 = sb_now();

    for (i = 0; i < n_msg; i++) {
        in.id = i + 1;

        if (ngx_http_securechat_envelope_seal(&in, &env, buf,
                ngx_http_securechat_envelope_size(7, 5, text_len))
            != NGX_HTTP_SECURECHAT_ENV_OK)
        {
            sb_die("seal");
        }
    }

    msg = (sb_now() - t0) / n_msg;

    /* per recipient: wrap and tail, the caller's context reused */

    n_rcpt = 1000000;

    t0 = sb_now();

    for (i = 0; i < n_rcpt; i++) {
        if (ngx_http_securechat_envelope_recipient(&env, wctx,
                s[i % SB_SESSIONS].wrap_key, tail)
            != NGX_HTTP_SECURECHAT_ENV_OK)
        {
            sb_die("recipient");
        }
    }

    rcpt = (sb_now() - t0) / n_rcpt;

    ngx_http_securechat_envelope_clear(&env);

    /* per connection: the hello */

    der = NULL;
    len = i2d_PUBKEY(client, &der);
    p = der;

    memset(&hin, 0, sizeof(hin));
    hin.server_key = server;
    hin.server_key_id = id;
    hin.client_der = p;
    hin.client_der_len = len;
    hin.client_key_id = id;
    hin.conn_id = (const unsigned char *) "bench";
    hin.conn_id_len = 5;

    n_hello = n_msg / 2;

    t0 = sb_now();

    for (i = 0; i < n_hello; i++) {
        if (ngx_http_securechat_hello_build(&hin, &s[0], hello_buf,
                                            sizeof(hello_buf), &len)
            != NGX_HTTP_SECURECHAT_ENV_OK)
        {
            sb_die("hello");
        }
    }

    hello = (sb_now() - t0) / n_hello;
    OPENSSL_free(der);

    /* per client frame: parse, check, decrypt */

    n_frame = 100000;

    t0 = sb_now();

    for (i = 0; i < n_frame; i++) {
        if (ngx_http_securechat_client_frame_seal(s[0].chat_key,
                (const unsigned char *) "bench", 5,
                (const unsigned char *) "general", 7, s[0].last_counter + 1,
                NULL, text, text_len, cframe,
                ngx_http_securechat_client_frame_size(text_len), &len)
            != NGX_HTTP_SECURECHAT_ENV_OK)
        {
            sb_die("client seal");
        }

        if (ngx_http_securechat_client_frame_open(&s[0],
                (const unsigned char *) "bench", 5, cframe, len, room,
                &room_len, text, text_len, &text_out)
            != NGX_HTTP_SECURECHAT_CHAT_OK)
        {
            sb_die("client open");
        }
    }

    frame = (sb_now() - t0) / n_frame;

    printf("%-9s %6zu B  %10.1f  %10.3f  %10.1f  %14.2f\n", name, text_len,
           msg, rcpt, hello, frame);

    ngx_http_securechat_wrap_ctx_free(wctx);
    free(buf);
    free(text);
    free(cframe);
    free(s);
}


int
main(int argc, char **argv)
{
    size_t     text_len;
    EVP_PKEY  *rsa, *ed, *client;

    text_len = (argc > 1) ? (size_t) strtoul(argv[1], NULL, 10) : 200;

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    client = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);

    if (rsa == NULL || ed == NULL || client == NULL) {
        sb_die("key generation");
    }

    printf("microseconds, one thread; client keys RSA-2048\n");
    printf("%-9s %8s  %10s  %10s  %10s  %14s\n", "server", "text",
           "message", "recipient", "hello", "client frame*");

    sb_run("RSA-2048", rsa, text_len, client);
    sb_run("Ed25519", ed, text_len, client);

    printf("message: CEK, IV, AES-256-GCM, signature (once per message)\n"
           "recipient: AES-256-KW of the CEK and the frame tail"
           " (once per recipient)\n"
           "hello: SK, RSA-OAEP, signature, HKDF (once per connection)\n"
           "* client frame: a client's seal plus the server's open\n");

    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(client);

    return 0;
}
