
/*
 * ngx_nitro_attest_files.c: the files a protocol block loads (policies,
 * trusted roots, token keys) and the built-in AWS root: each loaded once
 * per block and configuration cycle however many servers name it, and
 * freed with the cycle; a policy's lint warnings at nginx -t.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_nitro_attest.h"


/* a policy's lint warnings at nginx -t, naming file and set */
typedef struct {
    ngx_conf_t                    *cf;
    ngx_str_t                     *path;
} ngx_nitro_attest_lint_t;


static void *ngx_nitro_attest_load(ngx_conf_t *cf, ngx_array_t *files,
    ngx_str_t *path, ngx_uint_t kind);
static void ngx_nitro_attest_lint(void *data, const char *set,
    const char *text);
static void ngx_nitro_attest_free_policy(void *data);
static void ngx_nitro_attest_free_root(void *data);
static void ngx_nitro_attest_free_token_key(void *data);


/* the kind of file a directive loads (its command's post) */
ngx_uint_t  ngx_nitro_attest_policy_file = 0;
ngx_uint_t  ngx_nitro_attest_root_file = 1;
ngx_uint_t  ngx_nitro_attest_token_key_file = 2;


/*
 * nitro_attest_policy FILE;, nitro_attest_trusted_root FILE; and
 * nitro_attest_token_key FILE;: the field at cmd->offset, the kind of file
 * in cmd->post; the file is loaded once per protocol block (nam) however
 * many servers name it.
 */

char *
ngx_nitro_attest_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf,
    ngx_nitro_attest_main_t *nam)
{
    char  *p = conf;

    void                              **field;
    ngx_str_t                          *value, path;
    ngx_uint_t                         *kind;
    ngx_array_t                        *files;

    field = (void **) (p + cmd->offset);
    kind = cmd->post;

    if (*field != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    files = *kind == ngx_nitro_attest_root_file ? &nam->roots
            : *kind == ngx_nitro_attest_token_key_file ? &nam->token_keys
            : &nam->policies;

    *field = ngx_nitro_attest_load(cf, files, &path, *kind);
    if (*field == NULL) {
        return NGX_CONF_ERROR;
    }

    /* a token key outside an attesting server is an error of its own */
    if (*kind == ngx_nitro_attest_token_key_file) {
        return NGX_CONF_OK;
    }

    return ngx_nitro_attest_written(cf, conf);
}


/* one load per distinct file and configuration cycle, freed with the cycle */

static void *
ngx_nitro_attest_load(ngx_conf_t *cf, ngx_array_t *files,
    ngx_str_t *path, ngx_uint_t kind)
{
    char                      err[NGX_NITRO_ATTEST_ERR_LEN];
    void                     *object;
    ngx_str_t                *name;
    ngx_uint_t                i;
    ngx_pool_cleanup_t       *cln;
    ngx_nitro_attest_file_t  *file;

    name = cf->args->elts;
    file = files->elts;

    for (i = 0; i < files->nelts; i++) {
        if (file[i].path.len == path->len
            && ngx_strncmp(file[i].path.data, path->data, path->len) == 0)
        {
            return file[i].object;
        }
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    err[0] = '\0';

    if (kind == ngx_nitro_attest_root_file) {
        object = nitro_attest_root_load((char *) path->data, err, sizeof(err));
        cln->handler = ngx_nitro_attest_free_root;

        if (object != NULL && !nitro_attest_root_is_aws(object)) {
            ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                               "\"%V\" pins \"%V\", a root other than "
                               "the AWS Nitro Enclaves root (a test PKI?): "
                               "no real enclave's document verifies under it",
                               &name[0], path);
        }

    } else if (kind == ngx_nitro_attest_token_key_file) {
        object = nitro_attest_token_key_load((char *) path->data, err,
                                             sizeof(err));
        cln->handler = ngx_nitro_attest_free_token_key;

    } else {
        object = nitro_attest_policy_load((char *) path->data, err,
                                          sizeof(err));
        cln->handler = ngx_nitro_attest_free_policy;

        if (object != NULL) {
            ngx_nitro_attest_lint_t  lint = { cf, path };

            nitro_attest_policy_lint(object, ngx_nitro_attest_lint,
                                     &lint);
        }
    }

    if (object == NULL) {
        cln->handler = NULL;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" directive: %s",
                           &name[0], err[0] ? err : "cannot load the file");
        return NULL;
    }

    cln->data = object;

    file = ngx_array_push(files);
    if (file == NULL) {
        return NULL;
    }

    file->path = *path;
    file->object = object;

    return object;
}


static void
ngx_nitro_attest_lint(void *data, const char *set, const char *text)
{
    ngx_nitro_attest_lint_t  *lint = data;

    ngx_conf_log_error(NGX_LOG_WARN, lint->cf, 0, "policy \"%V\": %s: %s",
                       lint->path, set, text);
}


/*
 * A server without "nitro_attest_trusted_root" verifies under the AWS
 * Nitro Enclaves root built into the core, made once per block.
 */

nitro_attest_root_t *
ngx_nitro_attest_default_root(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam)
{
    char                 err[NGX_NITRO_ATTEST_ERR_LEN];
    ngx_pool_cleanup_t  *cln;

    if (nam->default_root != NULL) {
        return nam->default_root;
    }

    nam->default_root = nitro_attest_root_default(err, sizeof(err));
    if (nam->default_root == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "nitro_attest: built-in AWS root: %s", err);
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        nitro_attest_root_free(nam->default_root);
        nam->default_root = NULL;
        return NULL;
    }

    cln->handler = ngx_nitro_attest_free_root;
    cln->data = nam->default_root;

    return nam->default_root;
}


static void
ngx_nitro_attest_free_policy(void *data)
{
    nitro_attest_policy_free(data);
}


static void
ngx_nitro_attest_free_root(void *data)
{
    nitro_attest_root_free(data);
}


static void
ngx_nitro_attest_free_token_key(void *data)
{
    nitro_attest_token_key_free(data);
}
