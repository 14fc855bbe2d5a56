
/*
 * ngx_nitro_attest_token.c: the signed attestation token, a JWT that an
 * upstream verifies with the block's public keys: its per-server
 * configuration ("nitro_attest_token_key") and checks, the JWK Set of a
 * block's keys, and the token a connection keeps, signed at most once per
 * verdict and lifetime.  The claims and the signature are the core's
 * (src/na_token.c).  Speaks ngx_connection_t and SSL only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_nitro_attest.h"


/*
 * The token of a connection, in its pool: the TLS connection's, which the
 * requests of an HTTP/2 connection share.  It is replaced in place when it
 * expires, so readers copy it.
 */
typedef struct {
    ngx_nitro_attest_srv_conf_t    *nascf;     /* whose key signed it */
    int64_t                         expires;   /* ms: its exp */
    ngx_str_t                       value;
    size_t                          size;      /* of value.data */
} ngx_nitro_attest_token_t;


static const char *ngx_nitro_attest_token_path(ngx_nitro_attest_main_t *nam,
    nitro_attest_token_key_t *key);


/* a connection's token (ngx_nitro_attest_token_t) on its SSL object */
static int  ngx_nitro_attest_token_index = -1;


/* nitro_attest_token_key FILE;: loaded once per block, where it is named */

char *
ngx_nitro_attest_token_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf,
    ngx_nitro_attest_main_t *nam)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    char  *rv;

    rv = ngx_nitro_attest_file(cf, cmd, conf, nam);

    if (rv == NGX_CONF_OK) {
        nascf->token.file = cf->conf_file->file.name.data;
        nascf->token.line = cf->conf_file->line;
    }

    return rv;
}


void
ngx_nitro_attest_token_init_conf(ngx_nitro_attest_token_conf_t *tcf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     tcf->issuer = { 0, NULL };
     *     tcf->file = NULL;
     *     tcf->line = 0;
     */

    tcf->key = NGX_CONF_UNSET_PTR;
    tcf->lifetime = NGX_CONF_UNSET_MSEC;
}


/*
 * A key named in a server that does not attest could never sign: that is
 * a mistake to report, not to ignore.  One named for a whole block serves
 * its attesting servers (ngx_nitro_attest_token_init() sees that one
 * does).
 */

char *
ngx_nitro_attest_token_merge(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *prev, ngx_nitro_attest_srv_conf_t *conf)
{
    ngx_nitro_attest_token_conf_t  *tcf;

    tcf = &conf->token;

    if (tcf->key != NGX_CONF_UNSET_PTR
        && conf->enable == NGX_NITRO_ATTEST_OFF)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"nitro_attest_token_key\" in %s:%ui is in a server "
                      "without \"nitro_attest on\" or \"optional\": its "
                      "key \"%s\" would sign no token", tcf->file, tcf->line,
                      ngx_nitro_attest_token_path(conf->main, tcf->key));
        return NGX_CONF_ERROR;
    }

    if (tcf->file == NULL) {
        tcf->file = prev->token.file;
        tcf->line = prev->token.line;
    }

    ngx_conf_merge_ptr_value(tcf->key, prev->token.key, NULL);
    ngx_conf_merge_str_value(tcf->issuer, prev->token.issuer,
                             NITRO_ATTEST_TOKEN_ISSUER);
    ngx_conf_merge_msec_value(tcf->lifetime, prev->token.lifetime,
                              NITRO_ATTEST_TOKEN_LIFETIME_MS);

    /* JWT times are whole seconds */
    if (tcf->lifetime < 1000) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"nitro_attest_token_lifetime\" must be at least 1s");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the file a loaded key came from, for messages */

static const char *
ngx_nitro_attest_token_path(ngx_nitro_attest_main_t *nam,
    nitro_attest_token_key_t *key)
{
    ngx_uint_t                i;
    ngx_nitro_attest_file_t  *file;

    file = nam->token_keys.elts;

    for (i = 0; i < nam->token_keys.nelts; i++) {
        if (file[i].object == key) {
            return (const char *) file[i].path.data;
        }
    }

    return "?";
}


/*
 * The SSL index of a connection's token, once per process; every key a
 * block loads signs for some attesting server of it.
 */

ngx_int_t
ngx_nitro_attest_token_init(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam)
{
    ngx_uint_t                     i, k;
    ngx_nitro_attest_file_t       *file;
    ngx_nitro_attest_srv_conf_t  **server;

    if (ngx_nitro_attest_ssl_index(cf, &ngx_nitro_attest_token_index)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    file = nam->token_keys.elts;
    server = nam->servers.elts;

    for (i = 0; i < nam->token_keys.nelts; i++) {
        for (k = 0; k < nam->servers.nelts; k++) {
            if (server[k]->token.key == file[i].object) {
                break;
            }
        }

        if (k == nam->servers.nelts) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "nitro_attest: token key \"%V\" is used by no "
                          "server with ssl and \"nitro_attest on\" or "
                          "\"optional\" in the %s block", &file[i].path,
                          nam->block);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the public keys of every token key of the block, once each */

ngx_int_t
ngx_nitro_attest_jwks(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam,
    ngx_str_t *jwks)
{
    char                       *text;
    ngx_uint_t                  i;
    ngx_nitro_attest_file_t    *file;
    nitro_attest_token_key_t  **keys;

    keys = ngx_palloc(cf->pool, (nam->token_keys.nelts + 1) * sizeof(*keys));
    if (keys == NULL) {
        return NGX_ERROR;
    }

    file = nam->token_keys.elts;

    for (i = 0; i < nam->token_keys.nelts; i++) {
        keys[i] = file[i].object;
    }

    text = nitro_attest_token_jwks((const nitro_attest_token_key_t *const *)
                                   keys, nam->token_keys.nelts);
    if (text == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "nitro_attest: cannot make the JWK Set");
        return NGX_ERROR;
    }

    jwks->len = ngx_strlen(text);
    jwks->data = ngx_pnalloc(cf->pool, jwks->len);

    if (jwks->data != NULL) {
        ngx_memcpy(jwks->data, text, jwks->len);
    }

    free(text);

    return jwks->data != NULL ? NGX_OK : NGX_ERROR;
}


/*
 * The token for the connection's verdict as this server sees it: empty
 * unless the verdict is a SUCCESS for this server that has not expired.
 * It is signed when the connection first needs one (a resumed session
 * too: the session keeps the verdict, not the token) and again once it
 * expires; until then every request gets the same one.  *token points
 * into the connection's memory, valid until the next call.
 */

ngx_int_t
ngx_nitro_attest_token(ngx_nitro_attest_srv_conf_t *nascf,
    ngx_connection_t *c, ngx_str_t *token)
{
    char                         *jws;
    u_char                       *p;
    size_t                        len;
    int64_t                       now, expires;
    nitro_attest_verdict_t       *v;
    ngx_nitro_attest_token_t     *t;
    nitro_attest_token_claims_t   claims;

    ngx_str_null(token);

    if (nascf->token.key == NULL || c == NULL || c->ssl == NULL) {
        return NGX_OK;
    }

    v = ngx_nitro_attest_verdict(nascf, c);

    if (v->status != NITRO_ATTEST_STATUS_SUCCESS) {
        return NGX_OK;
    }

    now = ngx_nitro_attest_now();
    expires = ngx_nitro_attest_expiry(nascf, v);

    t = SSL_get_ex_data(c->ssl->connection, ngx_nitro_attest_token_index);

    if (t != NULL && t->nascf == nascf && now < t->expires) {
        *token = t->value;
        return NGX_OK;
    }

    if (t == NULL) {
        t = ngx_pcalloc(c->pool, sizeof(ngx_nitro_attest_token_t));
        if (t == NULL) {
            return NGX_ERROR;
        }

        if (SSL_set_ex_data(c->ssl->connection, ngx_nitro_attest_token_index,
                            t)
            == 0)
        {
            ngx_ssl_error(NGX_LOG_ALERT, c->log, 0,
                          "SSL_set_ex_data() failed");
            return NGX_ERROR;
        }
    }

    if (nitro_attest_token_claims_init(&claims,
                                       (const char *) nascf->token.issuer.data,
                                       now, (int64_t) nascf->token.lifetime,
                                       expires)
        != 0)
    {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0,
                      "nitro_attest: RAND_bytes() failed for a token");
        return NGX_ERROR;
    }

    /* the verdict ends within this second: a token would be born expired */
    if (claims.exp <= claims.iat) {
        return NGX_OK;
    }

    jws = nitro_attest_token_sign(nascf->token.key, v, &claims);
    if (jws == NULL) {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0,
                      "nitro_attest: signing the token failed");
        return NGX_ERROR;
    }

    len = ngx_strlen(jws);

    /* a token of the same verdict has about the same length: reused */
    if (len > t->size) {
        p = ngx_pnalloc(c->pool, len);
        if (p == NULL) {
            free(jws);
            return NGX_ERROR;
        }

        t->value.data = p;
        t->size = len;
    }

    ngx_memcpy(t->value.data, jws, len);
    free(jws);

    t->value.len = len;
    t->nascf = nascf;
    t->expires = claims.exp * 1000;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "nitro_attest: token signed, exp %L", claims.exp);

    *token = t->value;

    return NGX_OK;
}
