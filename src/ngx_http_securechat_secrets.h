
/*
 * Configuration-time loading of the files that hold secrets: the signing
 * key, the session secret and the users file.  They are read once, by the
 * master, when the configuration is parsed; nothing is prompted for.
 */

#ifndef _NGX_HTTP_SECURECHAT_SECRETS_H_INCLUDED_
#define _NGX_HTTP_SECURECHAT_SECRETS_H_INCLUDED_


#include "ngx_http_securechat_module.h"


#define NGX_HTTP_SECURECHAT_SECRET_MIN   32     /* session secret bytes */


char *ngx_http_securechat_load_signing_key(ngx_conf_t *cf,
    ngx_http_securechat_main_conf_t *smcf);
char *ngx_http_securechat_load_session_secret(ngx_conf_t *cf,
    ngx_http_securechat_main_conf_t *smcf);
char *ngx_http_securechat_load_users(ngx_conf_t *cf,
    ngx_http_securechat_main_conf_t *smcf);

/* looks a user up by name; NULL when unknown */
ngx_http_securechat_user_t *ngx_http_securechat_find_user(
    ngx_http_securechat_main_conf_t *smcf, ngx_str_t *name);


#endif /* _NGX_HTTP_SECURECHAT_SECRETS_H_INCLUDED_ */
