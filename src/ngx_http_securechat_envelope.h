
/*
 * The message envelope of docs/PROTOCOL.md: the per-connection hello, the
 * signed and encrypted message frame built once per message plus a small
 * per-recipient tail, and the client's encrypted chat frames.  Pure:
 * OpenSSL and jansson only, no nginx types; everything writes into caller
 * buffers and returns a code, so unit tests and fuzzers call it directly.
 */

#ifndef _NGX_HTTP_SECURECHAT_ENVELOPE_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_ENVELOPE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>


#define NGX_HTTP_SECURECHAT_ENVELOPE_VERSION  2

#define NGX_HTTP_SECURECHAT_SK_LEN           32   /* session key */
#define NGX_HTTP_SECURECHAT_CEK_LEN          32   /* content key */
#define NGX_HTTP_SECURECHAT_IV_LEN           12
#define NGX_HTTP_SECURECHAT_TAG_LEN          16
#define NGX_HTTP_SECURECHAT_WRAPPED_CEK_LEN  40   /* RFC 3394 of 32 bytes */
#define NGX_HTTP_SECURECHAT_WRAPPED_SK_MAX   512  /* RSA-4096 */
#define NGX_HTTP_SECURECHAT_CONN_ID_MAX      64
#define NGX_HTTP_SECURECHAT_SENDER_MAX       64
#define NGX_HTTP_SECURECHAT_EPOCH_LEN        16   /* hex digits of a u64 */

/* JSON numbers above 2^53 - 1 lose precision in JavaScript */
#define NGX_HTTP_SECURECHAT_JSON_INT_MAX     9007199254740991ULL

/* a hello frame always fits */
#define NGX_HTTP_SECURECHAT_HELLO_MAX        2048

/* base64url of the wrapped CEK (54 characters) and the closing `"}` */
#define NGX_HTTP_SECURECHAT_ENVELOPE_TAIL_LEN  56

#define NGX_HTTP_SECURECHAT_ALG_ENC   "AES-256-GCM"
#define NGX_HTTP_SECURECHAT_ALG_KW    "AES-256-KW"
#define NGX_HTTP_SECURECHAT_ALG_WRAP  "RSA-OAEP-SHA256"


/* return codes of the builders */
#define NGX_HTTP_SECURECHAT_ENV_OK        0
#define NGX_HTTP_SECURECHAT_ENV_ERROR    -1   /* OpenSSL failed: answer 500 */
#define NGX_HTTP_SECURECHAT_ENV_RAND     -2   /* CSPRNG failed: answer 500 */
#define NGX_HTTP_SECURECHAT_ENV_INVALID  -3   /* bad argument: caller's bug */


/* what the parser of client chat frames says; see chat_rc_code() */
typedef enum {
    NGX_HTTP_SECURECHAT_CHAT_OK = 0,
    NGX_HTTP_SECURECHAT_CHAT_BAD_JSON,     /* not one JSON object */
    NGX_HTTP_SECURECHAT_CHAT_BAD_FIELD,    /* member missing/unknown/type */
    NGX_HTTP_SECURECHAT_CHAT_BAD_BASE64,   /* not canonical base64url */
    NGX_HTTP_SECURECHAT_CHAT_BAD_LENGTH,   /* iv or tag of a wrong size */
    NGX_HTTP_SECURECHAT_CHAT_TOO_LONG,     /* text longer than allowed */
    NGX_HTTP_SECURECHAT_CHAT_BAD_COUNTER,  /* not exactly last + 1 */
    NGX_HTTP_SECURECHAT_CHAT_BAD_TAG,      /* authentication failed */
    NGX_HTTP_SECURECHAT_CHAT_ERROR         /* OpenSSL failed */
} ngx_http_securechat_chat_rc_e;


/*
 * A connection's keys, derived from its SK with HKDF-SHA-256 so that the
 * key-wrap key and the chat key are never the same AES key.  The
 * connection keeps this (not SK) and wipes it with OPENSSL_cleanse().
 */
typedef struct {
    unsigned char         wrap_key[32];  /* AES-256-KW: CEKs to the client */
    unsigned char         chat_key[32];  /* AES-256-GCM: the client's frames */
    uint64_t              last_counter;  /* last accepted client frame */
} ngx_http_securechat_channel_t;


typedef struct {
    EVP_PKEY             *server_key;     /* private */
    const unsigned char  *server_key_id;  /* KEY_ID_LEN characters */
    const unsigned char  *client_der;     /* SPKI from client_key_import() */
    size_t                client_der_len;
    const unsigned char  *client_key_id;  /* KEY_ID_LEN characters */
    const unsigned char  *conn_id;        /* 1..64 of [A-Za-z0-9._~-] */
    size_t                conn_id_len;
    uint64_t              ts;             /* ms since the epoch, <= 2^53-1 */
    uint64_t              epoch;          /* the history's, any value */
} ngx_http_securechat_hello_in_t;


typedef struct {
    EVP_PKEY             *server_key;     /* private */
    const unsigned char  *server_key_id;  /* KEY_ID_LEN characters */
    uint64_t              id;             /* message id, <= 2^53-1 */
    uint64_t              ts;             /* ms since the epoch, <= 2^53-1 */
    uint64_t              epoch;          /* the history id counts in */
    const unsigned char  *room;           /* a valid room name */
    size_t                room_len;
    const unsigned char  *sender;         /* 1..64 of [A-Za-z0-9._-] */
    size_t                sender_len;
    const unsigned char  *text;           /* UTF-8, validated by the caller */
    size_t                text_len;
} ngx_http_securechat_message_in_t;


/*
 * A room's event (docs/PROTOCOL.md, section 9a), signed like a message:
 * detail is the new role ("role") or title ("title"), else empty.
 */
typedef struct {
    EVP_PKEY             *server_key;     /* private */
    const unsigned char  *server_key_id;  /* KEY_ID_LEN characters */
    uint64_t              id;             /* in the room, <= 2^53-1 */
    uint64_t              ts;             /* ms since the epoch, <= 2^53-1 */
    uint64_t              epoch;
    const unsigned char  *room;           /* a valid room name */
    size_t                room_len;
    const char           *event;          /* "join", "removed", ... */
    const unsigned char  *user;           /* whom it is about */
    size_t                user_len;
    const unsigned char  *by;             /* who did it */
    size_t                by_len;
    const char           *detail_name;    /* "role", "title" or NULL */
    const unsigned char  *detail;         /* UTF-8, checked by the caller */
    size_t                detail_len;
} ngx_http_securechat_event_in_t;


/*
 * One message, sealed: frame[0..prefix_len) is the frame every recipient
 * gets, up to and including `"wk":"`; a recipient's frame is that prefix
 * followed by its own TAIL_LEN-byte tail.  cek is secret until
 * envelope_clear().
 */
typedef struct {
    unsigned char        *frame;
    size_t                prefix_len;
    size_t                room_at;   /* the frame's copy of the room name */
    unsigned char         cek[NGX_HTTP_SECURECHAT_CEK_LEN];
} ngx_http_securechat_envelope_t;


/*
 * One message's frame for a client without a connection (the scroll-back
 * route): the prefix with its recipient member `"wk":"` made `"ek":"`,
 * the CEK wrapped with RSA-OAEP (SHA-256) under the client's key (SPKI
 * DER), and `"}`.  One RSA public operation.  ENV_* code.
 */
int ngx_http_securechat_envelope_frame_oaep(
    const ngx_http_securechat_envelope_t *env, const unsigned char *der,
    size_t der_len, unsigned char *out, size_t size, size_t *out_len);


/* a reusable AES key-wrap context: one per thread, never shared */
typedef struct ngx_http_securechat_wrap_ctx_s  ngx_http_securechat_wrap_ctx_t;


/*
 * Hello.  Draws SK from the CSPRNG, wraps it with RSA-OAEP (SHA-256 for
 * OAEP and MGF1, no label) under the client's SPKI, signs the bytes that
 * PROTOCOL.md defines, writes the hello frame (JSON text) into out and the
 * keys derived from SK into *session (last_counter 0).  out should hold
 * NGX_HTTP_SECURECHAT_HELLO_MAX bytes.  One RSA public operation and one
 * signature: run it where a millisecond does not stall the event loop.
 */
int ngx_http_securechat_hello_build(const ngx_http_securechat_hello_in_t *in,
    ngx_http_securechat_channel_t *session, unsigned char *out, size_t size,
    size_t *out_len);

/*
 * The same with a given SK, and a given wrapped SK when wrapped_sk is not
 * NULL (OAEP is randomized): for test vectors only.
 */
int ngx_http_securechat_hello_build_fixed(
    const ngx_http_securechat_hello_in_t *in, const unsigned char *sk,
    const unsigned char *wrapped_sk, size_t wrapped_sk_len,
    ngx_http_securechat_channel_t *session, unsigned char *out, size_t size,
    size_t *out_len);

/* a history epoch as the hello writes it: EPOCH_LEN lowercase hex digits */
void ngx_http_securechat_epoch_hex(uint64_t epoch, unsigned char *out);

/* the exact bytes the hello signature covers, into out; ENV_* code */
int ngx_http_securechat_hello_signed_bytes(
    const ngx_http_securechat_hello_in_t *in, const char *sig_alg,
    const unsigned char *wrapped_sk, size_t wrapped_sk_len,
    unsigned char *out, size_t size, size_t *out_len);

/* the keys of a connection from its SK (HKDF-SHA-256); ENV_* code */
int ngx_http_securechat_session_derive(const unsigned char *sk,
    ngx_http_securechat_channel_t *session);


/* bytes a buffer for envelope_seal() needs for such a message */
size_t ngx_http_securechat_envelope_size(size_t room_len, size_t sender_len,
    size_t text_len);

/*
 * Seals one message once for all recipients: fresh CEK and IV from the
 * CSPRNG, AES-256-GCM over the text with the authenticated header as AAD,
 * then the server's signature over the context string, header, IV,
 * ciphertext and tag.  buf (size bytes, see envelope_size()) receives the
 * shared frame prefix; env points into it.  One signature per message: an
 * RSA key makes this a millisecond, so run it off the event loop.
 */
int ngx_http_securechat_envelope_seal(
    const ngx_http_securechat_message_in_t *in,
    ngx_http_securechat_envelope_t *env, unsigned char *buf, size_t size);

/* the same with a given CEK and IV: for test vectors only */
int ngx_http_securechat_envelope_seal_fixed(
    const ngx_http_securechat_message_in_t *in, const unsigned char *cek,
    const unsigned char *iv, ngx_http_securechat_envelope_t *env,
    unsigned char *buf, size_t size);

/* the authenticated header (the AAD) of a message, into out; ENV_* code */
int ngx_http_securechat_envelope_header(
    const ngx_http_securechat_message_in_t *in, const char *sig_alg,
    unsigned char *out, size_t size, size_t *out_len);

/*
 * A user's presence (section 9b): the first of its sockets opened, or the
 * last closed.  Signed: F(context) F(server_key_id) u64(ts) u64(epoch)
 * F(user) u8(online).
 */
typedef struct {
    EVP_PKEY             *server_key;     /* private */
    const unsigned char  *server_key_id;  /* KEY_ID_LEN characters */
    uint64_t              ts;
    uint64_t              epoch;
    const unsigned char  *user;
    size_t                user_len;
    unsigned              online:1;
} ngx_http_securechat_presence_in_t;

int ngx_http_securechat_presence_seal(
    const ngx_http_securechat_presence_in_t *in, unsigned char *out,
    size_t size, size_t *out_len);
int ngx_http_securechat_presence_signed_bytes(
    const ngx_http_securechat_presence_in_t *in, unsigned char *out,
    size_t size, size_t *out_len);


/* the signed bytes of an event: its names and detail, and a few u64s */
#define NGX_HTTP_SECURECHAT_EVENT_SIGNED_MAX                                  \
    (4 * 10 + 32 + NGX_HTTP_SECURECHAT_KEY_ID_LEN + 3 * 8                   \
     + NGX_HTTP_SECURECHAT_ROOM_NAME_MAX + 2 * NGX_HTTP_SECURECHAT_SENDER_MAX \
     + NGX_HTTP_SECURECHAT_EVENT_DETAIL_MAX)

/* the longest detail: a title */
#define NGX_HTTP_SECURECHAT_EVENT_DETAIL_MAX  128

/*
 * A room's event as its frame (JSON text, signed), into out[size]: ENV_*
 * code.  The signed bytes: F(context) F(server_key_id) u64(id) u64(ts)
 * u64(epoch) F(room) F(event) F(user) F(by) F(detail).
 */
int ngx_http_securechat_event_seal(const ngx_http_securechat_event_in_t *in,
    unsigned char *out, size_t size, size_t *out_len);
int ngx_http_securechat_event_signed_bytes(
    const ngx_http_securechat_event_in_t *in, unsigned char *out, size_t size,
    size_t *out_len);

/*
 * The bytes a message signature covers: F(context) F(hdr) F(iv) F(ct)
 * F(tag); ENV_* code
 */
int ngx_http_securechat_envelope_signed_bytes(const unsigned char *hdr,
    size_t hdr_len, const unsigned char *iv, const unsigned char *ct,
    size_t ct_len, const unsigned char *tag, unsigned char *out, size_t size,
    size_t *out_len);

/*
 * Per recipient: wraps the CEK under the recipient's wrap_key (RFC 3394)
 * and writes the frame's tail, exactly TAIL_LEN bytes, into tail.  Uses
 * the caller's wrap context and allocates nothing, so fanning a message
 * out costs one AES key schedule and twelve AES blocks per recipient.
 */
int ngx_http_securechat_envelope_recipient(
    const ngx_http_securechat_envelope_t *env,
    ngx_http_securechat_wrap_ctx_t *wctx, const unsigned char *wrap_key,
    unsigned char *tail);

/* prefix and tail in one buffer, for callers that want a flat frame */
int ngx_http_securechat_envelope_frame(
    const ngx_http_securechat_envelope_t *env,
    ngx_http_securechat_wrap_ctx_t *wctx, const unsigned char *wrap_key,
    unsigned char *out, size_t size, size_t *out_len);

/* wipes the CEK once every recipient has its tail */
void ngx_http_securechat_envelope_clear(ngx_http_securechat_envelope_t *env);

ngx_http_securechat_wrap_ctx_t *ngx_http_securechat_wrap_ctx_create(void);
void ngx_http_securechat_wrap_ctx_free(ngx_http_securechat_wrap_ctx_t *wctx);


/*
 * Opens a client chat frame (JSON text) of the connection conn_id: checks
 * its shape, its room name, its lengths, that its counter is exactly
 * session->last_counter + 1, and its tag; then writes the room it names
 * into room (NGX_HTTP_SECURECHAT_ROOM_NAME_MAX bytes), the plaintext into
 * text (at most text_size bytes, else TOO_LONG) and advances
 * last_counter.  Any code but OK leaves the session unchanged.  Whether
 * the room exists, and the plaintext's UTF-8, are the caller's to check.
 */
ngx_http_securechat_chat_rc_e ngx_http_securechat_client_frame_open(
    ngx_http_securechat_channel_t *session, const unsigned char *conn_id,
    size_t conn_id_len, const unsigned char *frame, size_t len,
    unsigned char *room, size_t *room_len, unsigned char *text,
    size_t text_size, size_t *text_len);

/*
 * What a client does: seals text for room as chat frame number `counter`
 * under chat_key; a NULL iv draws a fresh one.  For tests, fuzzers, test
 * vectors and load generators.  ENV_* code.
 */
int ngx_http_securechat_client_frame_seal(const unsigned char *chat_key,
    const unsigned char *conn_id, size_t conn_id_len,
    const unsigned char *room, size_t room_len, uint64_t counter,
    const unsigned char *iv, const unsigned char *text, size_t text_len,
    unsigned char *out, size_t size, size_t *out_len);

/* the AAD of client chat frame `counter`, into out (256 bytes do); ENV_* */
int ngx_http_securechat_client_frame_aad(const unsigned char *conn_id,
    size_t conn_id_len, const unsigned char *room, size_t room_len,
    uint64_t counter, unsigned char *out, size_t size, size_t *out_len);

/* bytes a buffer for client_frame_seal() needs */
size_t ngx_http_securechat_client_frame_size(size_t text_len);

/* "bad_json", "bad_counter", ...: the code of the error frame */
const char *ngx_http_securechat_chat_rc_code(
    ngx_http_securechat_chat_rc_e rc);

/* a sentence for the error frame's "message" */
const char *ngx_http_securechat_chat_rc_text(
    ngx_http_securechat_chat_rc_e rc);


#ifdef NGX_HTTP_SECURECHAT_TEST_HOOKS
/* replaces RAND_bytes() (NULL restores it), to test CSPRNG failures */
void ngx_http_securechat_envelope_set_rand(int (*rand)(unsigned char *buf,
    int num));
#endif


#endif /* _NGX_HTTP_SECURECHAT_ENVELOPE_H_INCLUDED_ */
