
/*
 * Configuration-time loading of secret files.  Every failure is an [emerg]
 * naming the directive and the file, so `nginx -t` catches it.
 */

#include "ngx_http_securechat_module.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ngx_http_securechat_secrets.h"
#include "ngx_http_securechat_crypto.h"
#include "ngx_http_securechat_token.h"


#define NGX_HTTP_SECURECHAT_SECRET_FILE_MAX  (1024 * 1024)
#define NGX_HTTP_SECURECHAT_PEM_MAX          4096


static char *ngx_http_securechat_read_secret_file(ngx_conf_t *cf,
    const char *directive, ngx_str_t *path, ngx_str_t *out);
static void ngx_http_securechat_pkey_cleanup(void *data);
static void ngx_http_securechat_cleanse_cleanup(void *data);


/*
 * Reads a whole file that must be private to its owner: a key readable by
 * group or others is a key already half given away.  The buffer is wiped
 * when the configuration's pool goes.
 */

static char *
ngx_http_securechat_read_secret_file(ngx_conf_t *cf, const char *directive,
    ngx_str_t *path, ngx_str_t *out)
{
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_file_t           file;
    ngx_file_info_t      fi;
    ngx_pool_cleanup_t  *cln;

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%s \"%V\": cannot open the file", directive,
                           path);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%s \"%V\": cannot stat the file", directive,
                           path);
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s \"%V\" is not a regular file", directive,
                           path);
        goto failed;
    }

    if (ngx_file_access(&fi) & 0077) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s \"%V\" is accessible by group or others "
                           "(mode 0%d%d%d); make it private: chmod 600",
                           directive, path,
                           (int) (ngx_file_access(&fi) >> 6) & 7,
                           (int) (ngx_file_access(&fi) >> 3) & 7,
                           (int) ngx_file_access(&fi) & 7);
        goto failed;
    }

    if (ngx_file_size(&fi) == 0
        || ngx_file_size(&fi) > NGX_HTTP_SECURECHAT_SECRET_FILE_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s \"%V\" is empty or larger than 1 MiB",
                           directive, path);
        goto failed;
    }

    out->len = (size_t) ngx_file_size(&fi);
    out->data = ngx_pnalloc(cf->pool, out->len);
    if (out->data == NULL) {
        goto failed;
    }

    /* out may live on the caller's stack: the cleanup keeps its own copy */

    cln = ngx_pool_cleanup_add(cf->pool, sizeof(ngx_str_t));
    if (cln == NULL) {
        goto failed;
    }

    cln->handler = ngx_http_securechat_cleanse_cleanup;
    *(ngx_str_t *) cln->data = *out;

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *path;
    file.log = cf->log;

    n = ngx_read_file(&file, out->data, out->len, 0);

    if (n != (ssize_t) out->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%s \"%V\": short read", directive, path);
        goto failed;
    }

    ngx_close_file(fd);

    return NGX_CONF_OK;

failed:

    ngx_close_file(fd);

    return NGX_CONF_ERROR;
}


static void
ngx_http_securechat_cleanse_cleanup(void *data)
{
    ngx_str_t  *s = data;

    if (s->data != NULL) {
        OPENSSL_cleanse(s->data, s->len);
    }
}


static void
ngx_http_securechat_pkey_cleanup(void *data)
{
    EVP_PKEY  *pkey = data;

    EVP_PKEY_free(pkey);
}


char *
ngx_http_securechat_load_signing_key(ngx_conf_t *cf,
    ngx_http_securechat_main_conf_t *smcf)
{
    int                  n;
    u_char              *p;
    ngx_str_t            pem;
    EVP_PKEY            *pkey;
    const char          *why;
    ngx_pool_cleanup_t  *cln;

    if (ngx_http_securechat_read_secret_file(cf, "securechat_signing_key",
                                             &smcf->signing_key_file, &pem)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    pkey = ngx_http_securechat_crypto_read_private_key(pem.data, pem.len,
                                                       &why);
    if (pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "securechat_signing_key \"%V\": %s",
                           &smcf->signing_key_file, why);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_securechat_pkey_cleanup;
    cln->data = pkey;

    if (ngx_http_securechat_crypto_check_signing_key(pkey, &why) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "securechat_signing_key \"%V\": %s",
                           &smcf->signing_key_file, why);
        return NGX_CONF_ERROR;
    }

    smcf->signing_key = pkey;
    smcf->key_alg.data = (u_char *) ngx_http_securechat_crypto_key_alg(pkey);
    smcf->key_alg.len = ngx_strlen(smcf->key_alg.data);

    p = ngx_pnalloc(cf->pool, NGX_HTTP_SECURECHAT_PEM_MAX);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    n = ngx_http_securechat_crypto_public_pem(pkey, p,
                                              NGX_HTTP_SECURECHAT_PEM_MAX);
    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "securechat_signing_key \"%V\": cannot export "
                           "the public key", &smcf->signing_key_file);
        return NGX_CONF_ERROR;
    }

    smcf->public_key_pem.data = p;
    smcf->public_key_pem.len = n;

    p = ngx_pnalloc(cf->pool, NGX_HTTP_SECURECHAT_KEY_ID_LEN);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_securechat_crypto_key_id(pkey, p) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "securechat_signing_key \"%V\": cannot compute "
                           "the key id", &smcf->signing_key_file);
        return NGX_CONF_ERROR;
    }

    smcf->key_id.data = p;
    smcf->key_id.len = NGX_HTTP_SECURECHAT_KEY_ID_LEN;

    return NGX_CONF_OK;
}


char *
ngx_http_securechat_load_session_secret(ngx_conf_t *cf,
    ngx_http_securechat_main_conf_t *smcf)
{
    ngx_str_t  *s;

    s = &smcf->session_secret;

    if (ngx_http_securechat_read_secret_file(cf, "securechat_session_secret",
                                             &smcf->session_secret_file, s)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* a trailing newline from an editor or `openssl rand` is not key */

    while (s->len && (s->data[s->len - 1] == LF || s->data[s->len - 1] == CR))
    {
        s->len--;
    }

    if (s->len < NGX_HTTP_SECURECHAT_SECRET_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "securechat_session_secret \"%V\" holds %uz bytes, "
                           "at least %d are needed "
                           "(e.g. openssl rand -hex 32)",
                           &smcf->session_secret_file, s->len,
                           NGX_HTTP_SECURECHAT_SECRET_MIN);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_securechat_load_users(ngx_conf_t *cf,
    ngx_http_securechat_main_conf_t *smcf)
{
    u_char                      *p, *last, *eol, *line;
    size_t                       len, name_len;
    ngx_str_t                    text;
    ngx_uint_t                   lineno;
    const u_char                *name;
    ngx_http_securechat_user_t  *u;

    if (ngx_http_securechat_read_secret_file(cf, "securechat_users",
                                             &smcf->users_file, &text)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    smcf->users = ngx_array_create(cf->pool, 8,
                                   sizeof(ngx_http_securechat_user_t));
    if (smcf->users == NULL) {
        return NGX_CONF_ERROR;
    }

    p = text.data;
    last = text.data + text.len;
    lineno = 0;

    while (p < last) {
        lineno++;

        eol = ngx_strlchr(p, last, LF);
        if (eol == NULL) {
            eol = last;
        }

        line = p;
        len = eol - p;
        p = eol + 1;

        if (len && line[len - 1] == CR) {
            len--;
        }

        if (len == 0 || line[0] == '#') {
            continue;
        }

        u = ngx_array_push(smcf->users);
        if (u == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_securechat_passwd_parse_line(line, len, &name, &name_len,
                                                  &u->hash)
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "securechat_users \"%V\": line %ui is not "
                               "\"name:$scrypt$ln=..,r=..,p=..$salt$hash\" "
                               "(see tools/securechat-passwd)",
                               &smcf->users_file, lineno);
            return NGX_CONF_ERROR;
        }

        u->name.len = name_len;
        u->name.data = (u_char *) name;

        if (ngx_http_securechat_find_user(smcf, &u->name) != u) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "securechat_users \"%V\": line %ui repeats "
                               "user \"%V\"",
                               &smcf->users_file, lineno, &u->name);
            return NGX_CONF_ERROR;
        }
    }

    if (smcf->users->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "securechat_users \"%V\" has no users",
                           &smcf->users_file);
        return NGX_CONF_ERROR;
    }

    /*
     * The dummy an unknown name is checked against costs what a real user's
     * hash costs, and can never match: its derived key is random.
     */

    u = smcf->users->elts;
    smcf->dummy_hash = u[0].hash;

    if (RAND_bytes(smcf->dummy_hash.salt, sizeof(smcf->dummy_hash.salt)) != 1
        || RAND_bytes(smcf->dummy_hash.dk, sizeof(smcf->dummy_hash.dk)) != 1)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "securechat_users: the random generator failed");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_http_securechat_user_t *
ngx_http_securechat_find_user(ngx_http_securechat_main_conf_t *smcf,
    ngx_str_t *name)
{
    ngx_uint_t                   i;
    ngx_http_securechat_user_t  *u;

    if (smcf->users == NULL) {
        return NULL;
    }

    u = smcf->users->elts;

    for (i = 0; i < smcf->users->nelts; i++) {
        if (u[i].name.len == name->len
            && ngx_strncmp(u[i].name.data, name->data, name->len) == 0)
        {
            return &u[i];
        }
    }

    return NULL;
}
