
/*
 * ngx_nitro_attest_conf.c: the per-server attestation configuration of
 * both protocols: the directives' values (mode, policy and root files,
 * binding, extension, verdict cache, chain cache, event log), the files
 * they load and free, and the merge that checks and completes it.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_nitro_attest.h"


/* a policy's lint warnings (CONTRACT 16) at nginx -t, naming file and set */
typedef struct {
    ngx_conf_t                    *cf;
    ngx_str_t                     *path;
} ngx_nitro_attest_lint_t;


static void *ngx_nitro_attest_load(ngx_conf_t *cf, ngx_array_t *files,
    ngx_str_t *path, ngx_uint_t kind);
static void ngx_nitro_attest_lint(void *data, const char *set,
    const char *text);
static void ngx_nitro_attest_warn_unused(ngx_conf_t *cf,
    ngx_array_t *written, u_char *why);
static void ngx_nitro_attest_free_policy(void *data);
static void ngx_nitro_attest_free_root(void *data);
static void ngx_nitro_attest_free_token_key(void *data);
static void ngx_nitro_attest_free_extension(void *data);


/* the kind of file a directive loads (its command's post) */
ngx_uint_t  ngx_nitro_attest_policy_file = 0;
ngx_uint_t  ngx_nitro_attest_root_file = 1;
ngx_uint_t  ngx_nitro_attest_token_key_file = 2;


ngx_conf_enum_t  ngx_nitro_attest_modes[] = {
    { ngx_string("off"), NGX_NITRO_ATTEST_OFF },
    { ngx_string("on"), NGX_NITRO_ATTEST_ON },
    { ngx_string("optional"), NGX_NITRO_ATTEST_OPTIONAL },
    { ngx_null_string, 0 }
};


char *
ngx_nitro_attest_set_mode(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    char  *rv;

    rv = ngx_conf_set_enum_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        nascf->file = cf->conf_file->file.name.data;
        nascf->line = cf->conf_file->line;
    }

    return rv;
}


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


static void
ngx_nitro_attest_free_extension(void *data)
{
    nitro_attest_extension_free(data);
}


char *
ngx_nitro_attest_binding(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    ngx_str_t               *value;
    nitro_attest_binding_e   binding;

    if (nascf->binding != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (nitro_attest_binding_parse((char *) value[1].data, &binding) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"public_key\", \"user_data_spki\", "
                           "\"user_data_sha256\" or \"user_data_sha384\"",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    nascf->binding = binding;

    return ngx_nitro_attest_written(cf, nascf);
}


char *
ngx_nitro_attest_extension(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    char                   err[NGX_NITRO_ATTEST_ERR_LEN];
    ngx_str_t             *value;
    ngx_pool_cleanup_t    *cln;
    nitro_attest_format_e  format;

    if (nascf->extension != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    format = NITRO_ATTEST_FORMAT_CMW;

    if (cf->args->nelts == 3
        && nitro_attest_format_parse((char *) value[2].data, &format) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"cmw\" or \"raw\"",
                           &value[2], &value[0]);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    err[0] = '\0';

    nascf->extension = nitro_attest_extension_new((char *) value[1].data,
                                                  format, err, sizeof(err));
    if (nascf->extension == NULL) {
        if (err[0] == '\0') {
            ngx_cpystrn((u_char *) err, (u_char *) "not a dotted OID",
                        sizeof(err));
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" directive: %s",
                           &value[0], err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_nitro_attest_free_extension;
    cln->data = nascf->extension;

    return ngx_nitro_attest_written(cf, nascf);
}


/* nitro_attest_cache zone=NAME:SIZE | off; */

char *
ngx_nitro_attest_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    ssize_t     size;
    ngx_str_t  *value, name;

    if (nascf->cache != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        nascf->cache = NULL;
        return ngx_nitro_attest_written(cf, nascf);
    }

    if (ngx_nitro_attest_zone_value(cf, &name, &size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    nascf->cache = ngx_nitro_attest_cache_zone(cf, &name, size);
    if (nascf->cache == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_nitro_attest_written(cf, nascf);
}


/*
 * "zone=NAME:SIZE" of nitro_attest_cache and nitro_attest_inventory (the
 * second argument; "off" is the caller's): a name that is not the counters
 * zone's and a size of at least 8 pages, as nginx's own zones want.
 */

ngx_int_t
ngx_nitro_attest_zone_value(ngx_conf_t *cf, ngx_str_t *name, ssize_t *size)
{
    u_char     *p;
    ngx_str_t  *value, s;

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        goto invalid;
    }

    name->data = value[1].data + 5;
    p = (u_char *) ngx_strchr(name->data, ':');

    if (p == NULL) {
        goto invalid;
    }

    name->len = p - name->data;
    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;
    *size = ngx_parse_size(&s);

    if (name->len == 0 || *size == NGX_ERROR) {
        goto invalid;
    }

    if (name->len == sizeof(NGX_NITRO_ATTEST_COUNTERS) - 1
        && ngx_strncmp(name->data, NGX_NITRO_ATTEST_COUNTERS, name->len)
           == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone name \"%V\" of \"%V\" is reserved for the "
                           "counters of \"nitro_attest_status\", choose "
                           "another", name, &value[0]);
        return NGX_ERROR;
    }

    if (*size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" of \"%V\" is too small, it must "
                           "be at least %uzk", name, &value[0],
                           8 * ngx_pagesize / 1024);
        return NGX_ERROR;
    }

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must "
                       "be \"zone=NAME:SIZE\" or \"off\"",
                       &value[1], &value[0]);
    return NGX_ERROR;
}


/* nitro_attest_chain_cache NUMBER | off; (CA bundles per worker) */

char *
ngx_nitro_attest_chain_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_nitro_attest_main_t *namcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (namcf->chain_cache != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        namcf->chain_cache = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n == 0 || n > 65536) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, it must "
                           "be a number of bundles (1..65536) or \"off\"",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    namcf->chain_cache = n;

    return NGX_CONF_OK;
}


char *
ngx_nitro_attest_event_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    ngx_str_t                    *value;
    ngx_nitro_attest_log_t  *log;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (nascf->event_log != NGX_CONF_UNSET_PTR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V off\" must be the only \"%V\" "
                               "directive of its block", &value[0],
                               &value[0]);
            return NGX_CONF_ERROR;
        }

        nascf->event_log = NULL;
        return NGX_CONF_OK;
    }

    if (nascf->event_log == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V off\" must be the only \"%V\" "
                           "directive of its block", &value[0], &value[0]);
        return NGX_CONF_ERROR;
    }

    if (nascf->event_log == NGX_CONF_UNSET_PTR) {
        nascf->event_log = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_nitro_attest_log_t));
        if (nascf->event_log == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    log = ngx_array_push(nascf->event_log);
    if (log == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(log, sizeof(ngx_nitro_attest_log_t));

    if (ngx_strncmp(value[1].data, "syslog:", 7) == 0) {
        log->syslog = ngx_pcalloc(cf->pool, sizeof(ngx_syslog_peer_t));
        if (log->syslog == NULL) {
            return NGX_CONF_ERROR;
        }

        /* reads its parameters from cf->args itself */

        if (ngx_syslog_process_conf(cf, log->syslog) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (value[1].len == 0 || ngx_strlchr(value[1].data,
                                          value[1].data + value[1].len, '$'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be a file name without variables, "
                           "\"syslog:...\" or \"off\"",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    log->file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (log->file == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a protocol's main state, zeroed by its module's ngx_pcalloc() */

ngx_int_t
ngx_nitro_attest_init_main(ngx_conf_t *cf, ngx_nitro_attest_main_t *namcf,
    ngx_uint_t protocol)
{
    namcf->protocol = protocol;
    namcf->block = protocol == NGX_NITRO_ATTEST_HTTP ? "http" : "stream";
    namcf->chain_cache = NGX_CONF_UNSET_UINT;
    namcf->inventory = NGX_CONF_UNSET_PTR;

    if (ngx_array_init(&namcf->policies, cf->pool, 2,
                       sizeof(ngx_nitro_attest_file_t))
        != NGX_OK
        || ngx_array_init(&namcf->roots, cf->pool, 1,
                          sizeof(ngx_nitro_attest_file_t))
           != NGX_OK
        || ngx_array_init(&namcf->token_keys, cf->pool, 1,
                          sizeof(ngx_nitro_attest_file_t))
           != NGX_OK
        || ngx_array_init(&namcf->servers, cf->pool, 4,
                          sizeof(ngx_nitro_attest_srv_conf_t *))
           != NGX_OK
        || ngx_array_init(&namcf->tagged, cf->pool, 4,
                          sizeof(ngx_nitro_attest_srv_conf_t *))
           != NGX_OK
        || ngx_array_init(&namcf->sets, cf->pool, 4,
                          sizeof(ngx_nitro_attest_set_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A server's configuration, zeroed by its module's ngx_pcalloc().  Its
 * main state is set by the face's merge: when the configuration of the
 * block itself is made, the block's own context does not exist yet.
 */

void
ngx_nitro_attest_init_srv(ngx_nitro_attest_srv_conf_t *nascf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     nascf->core = { 0 };
     *     nascf->tag = { 0 };
     *     nascf->file = NULL;
     *     nascf->line = 0;
     *     nascf->written = NULL;
     */

    nascf->enable = NGX_CONF_UNSET_UINT;
    nascf->policy = NGX_CONF_UNSET_PTR;
    nascf->root = NGX_CONF_UNSET_PTR;
    nascf->max_age = NGX_CONF_UNSET_MSEC;
    nascf->clock_skew = NGX_CONF_UNSET_MSEC;
    nascf->binding = NGX_CONF_UNSET_UINT;
    nascf->extension = NGX_CONF_UNSET_PTR;
    nascf->event_log = NGX_CONF_UNSET_PTR;
    nascf->cache = NGX_CONF_UNSET_PTR;
    nascf->reattest = NGX_CONF_UNSET_MSEC;

    ngx_nitro_attest_token_init(&nascf->token);
}


/* the merge of a server's configuration, for both protocols */

char *
ngx_nitro_attest_merge_srv(ngx_conf_t *cf, ngx_nitro_attest_srv_conf_t *prev,
    ngx_nitro_attest_srv_conf_t *conf)
{
    char                      err[NGX_NITRO_ATTEST_ERR_LEN];
    ngx_pool_cleanup_t       *cln;
    ngx_nitro_attest_main_t  *namcf;

    namcf = conf->main;

    ngx_conf_merge_uint_value(conf->enable, prev->enable,
                              NGX_NITRO_ATTEST_OFF);

    if (conf->file == NULL) {
        conf->file = prev->file;
        conf->line = prev->line;
    }

    ngx_conf_merge_ptr_value(conf->policy, prev->policy, NULL);
    ngx_conf_merge_ptr_value(conf->root, prev->root, NULL);
    ngx_conf_merge_msec_value(conf->max_age, prev->max_age,
                              NITRO_ATTEST_DEFAULT_MAX_AGE_MS);
    ngx_conf_merge_msec_value(conf->clock_skew, prev->clock_skew,
                              NITRO_ATTEST_DEFAULT_CLOCK_SKEW_MS);
    ngx_conf_merge_uint_value(conf->binding, prev->binding,
                              NITRO_ATTEST_BINDING_PUBLIC_KEY);
    ngx_conf_merge_ptr_value(conf->extension, prev->extension, NULL);
    ngx_conf_merge_ptr_value(conf->event_log, prev->event_log, NULL);
    ngx_conf_merge_ptr_value(conf->cache, prev->cache, NULL);
    ngx_conf_merge_msec_value(conf->reattest, prev->reattest, 0);

    if (ngx_nitro_attest_token_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /* every server's sessions name it, attesting or not */
    if (RAND_bytes(conf->tag, NGX_NITRO_ATTEST_TAG_LEN) != 1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0, "RAND_bytes() failed");
        return NGX_CONF_ERROR;
    }

    if (conf->enable == NGX_NITRO_ATTEST_OFF) {
        ngx_nitro_attest_warn_unused(cf, conf->written,
                                     (u_char *) "\"nitro_attest\" is off "
                                     "in this server");
        return NGX_CONF_OK;
    }

    namcf->attesting = 1;

    if (conf->policy == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"nitro_attest %s\" requires \"nitro_attest_policy\" "
                      "in the same server or %s block, in %s:%ui",
                      conf->enable == NGX_NITRO_ATTEST_ON
                      ? "on" : "optional",
                      namcf->block, conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    if (conf->root == NULL) {

        if (namcf->default_root == NULL) {
            namcf->default_root = nitro_attest_root_default(err, sizeof(err));
            if (namcf->default_root == NULL) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "nitro_attest: built-in AWS root: %s", err);
                return NGX_CONF_ERROR;
            }

            cln = ngx_pool_cleanup_add(cf->pool, 0);
            if (cln == NULL) {
                nitro_attest_root_free(namcf->default_root);
                namcf->default_root = NULL;
                return NGX_CONF_ERROR;
            }

            cln->handler = ngx_nitro_attest_free_root;
            cln->data = namcf->default_root;
        }

        conf->root = namcf->default_root;
    }

    nitro_attest_config_init(&conf->core);

    conf->core.root = conf->root;
    conf->core.policy = conf->policy;
    conf->core.extension = conf->extension;
    conf->core.max_age_ms = conf->max_age;
    conf->core.clock_skew_ms = conf->clock_skew;
    conf->core.binding = conf->binding;

    /* a cached verdict is found only under the same configuration */
    if (nitro_attest_config_digest(&conf->core, conf->digest) != 0) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "nitro_attest: configuration digest failed");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* nitro_attest_reattest TIME | off; */

char *
ngx_nitro_attest_reattest(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    ngx_str_t  *value;

    if (nascf->reattest != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        nascf->reattest = 0;
        return ngx_nitro_attest_written(cf, nascf);
    }

    nascf->reattest = ngx_parse_time(&value[1], 0);

    if (nascf->reattest == (ngx_msec_t) NGX_ERROR || nascf->reattest == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, it "
                           "must be a time above 0 or \"off\"",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    return ngx_nitro_attest_written(cf, nascf);
}


/* nitro_attest_max_age, _clock_skew, _token_lifetime TIME; */

char *
ngx_nitro_attest_msec(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *rv;

    rv = ngx_conf_set_msec_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_nitro_attest_written(cf, conf);
}


/* nitro_attest_token_issuer TEXT; */

char *
ngx_nitro_attest_str(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *rv;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_nitro_attest_written(cf, conf);
}


/*
 * Notes where the directive being read is written, for a directive that
 * only an attesting server uses: nginx -t warns about it where nothing is
 * verified.  "nitro_attest_event_log" is not noted: it names where events
 * go, not how a client is verified.
 */

char *
ngx_nitro_attest_written(ngx_conf_t *cf, ngx_nitro_attest_srv_conf_t *nascf)
{
    ngx_str_t                 *value;
    ngx_nitro_attest_where_t  *w;

    if (nascf->written == NULL) {
        nascf->written = ngx_array_create(cf->pool, 2,
                                          sizeof(ngx_nitro_attest_where_t));
        if (nascf->written == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    w = ngx_array_push(nascf->written);
    if (w == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    w->name = value[0];
    w->file = cf->conf_file->file.name.data;
    w->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/*
 * The directives written at the level of the protocol block: shared
 * settings, which mean something as long as one server attests.  Those
 * of a server block are checked against its own "nitro_attest" by the
 * merge, so that a block-wide setting inherited by servers that do not
 * attest warns nobody.
 */

void
ngx_nitro_attest_unused(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam,
    ngx_nitro_attest_srv_conf_t *nascf)
{
    u_char  why[80];

    if (nam->attesting) {
        return;
    }

    *ngx_snprintf(why, sizeof(why) - 1, "no server of the %s block has "
                  "\"nitro_attest on\" or \"optional\"", nam->block) = '\0';

    ngx_nitro_attest_warn_unused(cf, nascf->written, why);
}


static void
ngx_nitro_attest_warn_unused(ngx_conf_t *cf, ngx_array_t *written,
    u_char *why)
{
    ngx_uint_t                 i;
    ngx_nitro_attest_where_t  *w;

    if (written == NULL) {
        return;
    }

    w = written->elts;

    for (i = 0; i < written->nelts; i++) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"%V\" in %s:%ui has no effect: %s, nothing is "
                      "verified there", &w[i].name, w[i].file, w[i].line,
                      why);
    }
}
