
/*
 * $securechat_user and $securechat_room, read from the request's context
 * when the log asks (nothing is computed for requests no log names them
 * in).  The values are the module's own, checked before they were kept:
 * a user from the users file, a room name of a-z 0-9 . _ -.
 */

#include "ngx_http_securechat_module.h"
#include "ngx_http_securechat_http.h"
#include "ngx_http_securechat_variables.h"


static ngx_int_t ngx_http_securechat_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_securechat_vars[] = {

    { ngx_string("securechat_user"), NULL, ngx_http_securechat_variable,
      offsetof(ngx_http_securechat_ctx_t, session.user),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("securechat_room"), NULL, ngx_http_securechat_variable,
      offsetof(ngx_http_securechat_ctx_t, room),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_securechat_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_securechat_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* data: where in the context the ngx_str_t is */

static ngx_int_t
ngx_http_securechat_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                  *s;
    ngx_http_securechat_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_securechat_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}
