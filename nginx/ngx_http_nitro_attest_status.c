
/*
 * ngx_http_nitro_attest_status.c: "nitro_attest_status": the handler that
 * gathers the shared counters, the allow sets and the inventory, picks the
 * output the client asks for and sends it; each output is written by its
 * own file (ngx_http_nitro_attest_status_{json,prometheus,html}.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


#define NGX_HTTP_NITRO_ATTEST_JSON        0
#define NGX_HTTP_NITRO_ATTEST_PROMETHEUS  1
#define NGX_HTTP_NITRO_ATTEST_HTML        2


typedef u_char *(*ngx_http_nitro_attest_write_pt)(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_array_t *sets, ngx_array_t *enclaves,
    int64_t now, ngx_http_nitro_attest_recent_t *recent);

/* an output of the endpoint: its content type and its writer */
typedef struct {
    ngx_str_t                         type;
    ngx_http_nitro_attest_write_pt    write;
} ngx_http_nitro_attest_output_t;


static ngx_uint_t ngx_http_nitro_attest_status_format(ngx_http_request_t *r);
static ngx_array_t *ngx_http_nitro_attest_status_sets(ngx_http_request_t *r,
    ngx_nitro_attest_main_t *namcf);
static ngx_http_nitro_attest_recent_t *ngx_http_nitro_attest_status_recent(
    ngx_http_request_t *r, ngx_nitro_attest_main_t *namcf);
static size_t ngx_http_nitro_attest_status_size(ngx_array_t *sets,
    ngx_array_t *enclaves, ngx_http_nitro_attest_recent_t *recent);
static ngx_int_t ngx_http_nitro_attest_html_policy(ngx_http_request_t *r);


/* by format (NGX_HTTP_NITRO_ATTEST_JSON...) */
static ngx_http_nitro_attest_output_t  ngx_http_nitro_attest_outputs[] = {
    { ngx_string("application/json"),
      ngx_http_nitro_attest_status_json },
    { ngx_string("text/plain; version=0.0.4; charset=utf-8"),
      ngx_http_nitro_attest_status_prometheus },
    { ngx_string("text/html; charset=utf-8"),
      ngx_http_nitro_attest_status_html }
};


/*
 * nitro_attest_status: the counters as JSON; as Prometheus text 0.0.4 for
 * "?format=prometheus" or a client that accepts text/plain (and not
 * JSON); as the HTML dashboard for "?format=html" or a browser (one that
 * accepts text/html and not JSON).  Allow sets are those of the running
 * configuration, of both protocols; enclaves those of the inventory, when
 * the http block has one.
 */

ngx_int_t
ngx_http_nitro_attest_status_handler(ngx_http_request_t *r)
{
    u_char                             *p;
    size_t                              size;
    ngx_uint_t                          format;
    ngx_array_t                        *sets, *enclaves;
    ngx_nitro_attest_main_t            *namcf;
    ngx_http_complex_value_t            cv;
    ngx_http_nitro_attest_recent_t     *recent;
    ngx_http_nitro_attest_output_t     *output;
    ngx_http_nitro_attest_main_conf_t  *hmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_nitro_attest_module);
    namcf = &hmcf->na;

    if (namcf->sh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    format = ngx_http_nitro_attest_status_format(r);
    output = &ngx_http_nitro_attest_outputs[format];

    sets = ngx_http_nitro_attest_status_sets(r, namcf);
    if (sets == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    recent = ngx_http_nitro_attest_status_recent(r, namcf);
    if (recent == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    enclaves = NULL;

    if (namcf->inventory) {
        enclaves = ngx_nitro_attest_inventory_list(r->pool, namcf->inventory);
        if (enclaves == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    size = ngx_http_nitro_attest_status_size(sets, enclaves, recent);

    if (format == NGX_HTTP_NITRO_ATTEST_HTML) {
        size += ngx_http_nitro_attest_status_html_size;

        if (ngx_http_nitro_attest_html_policy(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));

    cv.value.data = p;
    cv.value.len = output->write(p, namcf->sh, sets, enclaves,
                                 ngx_nitro_attest_now(), recent)
                   - p;

    return ngx_http_send_response(r, NGX_HTTP_OK, &output->type, &cv);
}


/*
 * The services of the running configuration (of both protocols, each
 * once) and a copy of the recent past: the shared ring changes as other
 * workers write, the page is sized and written from the copy.
 */

static ngx_http_nitro_attest_recent_t *
ngx_http_nitro_attest_status_recent(ngx_http_request_t *r,
    ngx_nitro_attest_main_t *namcf)
{
    ngx_uint_t                       m, i, k;
    ngx_array_t                     *mains;
    ngx_nitro_attest_main_t        **nam;
    ngx_nitro_attest_service_t      *service, **seen, **p;
    ngx_http_nitro_attest_recent_t  *recent;

    recent = ngx_pcalloc(r->pool, sizeof(ngx_http_nitro_attest_recent_t));
    if (recent == NULL) {
        return NULL;
    }

    recent->services = ngx_array_create(r->pool, 4,
                                        sizeof(ngx_nitro_attest_service_t *));
    if (recent->services == NULL) {
        return NULL;
    }

    mains = namcf->shm_zone->data;
    nam = mains->elts;

    for (m = 0; m < mains->nelts; m++) {
        service = nam[m]->services.elts;

        for (i = 0; i < nam[m]->services.nelts; i++) {
            if (service[i].node == NULL) {
                continue;
            }

            seen = recent->services->elts;

            for (k = 0; k < recent->services->nelts; k++) {
                if (seen[k]->node == service[i].node) {
                    break;
                }
            }

            if (k < recent->services->nelts) {
                continue;
            }

            p = ngx_array_push(recent->services);
            if (p == NULL) {
                return NULL;
            }

            *p = &service[i];
        }
    }

    ngx_nitro_attest_recent_copy(namcf->shm_zone, recent->minutes,
                                 recent->refused, &recent->nrefused);

    return recent;
}


/*
 * Room for any output but the page's fixed part: every name appears
 * escaped (at most sixfold: JSON's \u00XX, HTML's &quot;) in six places at
 * most; a module id in two (itself and its instance id) of three lines or
 * cells, a set name in one; a service name twice; the refused handshakes'
 * texts once each, and the node's name.
 */

static size_t
ngx_http_nitro_attest_status_size(ngx_array_t *sets, ngx_array_t *enclaves,
    ngx_http_nitro_attest_recent_t *recent)
{
    size_t                        size;
    ngx_uint_t                    i;
    ngx_nitro_attest_set_t      **set;
    ngx_nitro_attest_service_t  **service;
    ngx_nitro_attest_enclave_t  **en;

    /* the fixed text, each reason in the client and upstream families */
    size = 8192 + 2 * NITRO_ATTEST_HANDSHAKE_REASONS * (256 + NGX_ATOMIC_T_LEN)
           + 6 * ngx_cycle->hostname.len
           + NGX_NITRO_ATTEST_REFUSED
             * (6 * 3 * NGX_NITRO_ATTEST_TEXT_KEPT + 512);

    service = recent->services->elts;

    for (i = 0; i < recent->services->nelts; i++) {
        size += 2 * 6 * service[i]->name.len + 256 + NGX_ATOMIC_T_LEN;
    }

    set = sets->elts;

    for (i = 0; i < sets->nelts; i++) {
        size += 6 * (2 * set[i]->name.len + 96 + NGX_INT64_LEN) + 256;
    }

    for (i = 0; enclaves && i < enclaves->nelts; i++) {
        en = enclaves->elts;
        size += 3 * (12 * en[i]->module_id_len + 6 * en[i]->policy_len)
                + 2 * NITRO_ATTEST_PCR_MAX_LEN + 1024;
    }

    return size;
}


/*
 * The dashboard runs no script and loads nothing: a policy that forbids
 * both keeps even a value that escaped the escaping inert.
 */

static ngx_int_t
ngx_http_nitro_attest_html_policy(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Content-Security-Policy");
    ngx_str_set(&h->value, "default-src 'none'; style-src 'unsafe-inline'");

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * The allow sets to report: those of every protocol block counting into
 * the zone, each counted name once (the same name in http and stream, or
 * in two policy files, is one set to the metrics).
 */

static ngx_array_t *
ngx_http_nitro_attest_status_sets(ngx_http_request_t *r,
    ngx_nitro_attest_main_t *namcf)
{
    ngx_uint_t                 m, i, k;
    ngx_array_t               *sets, *mains;
    ngx_nitro_attest_set_t    *set, **seen, **p;
    ngx_nitro_attest_main_t  **nam;

    sets = ngx_array_create(r->pool, 8, sizeof(ngx_nitro_attest_set_t *));
    if (sets == NULL) {
        return NULL;
    }

    mains = namcf->shm_zone->data;
    nam = mains->elts;

    for (m = 0; m < mains->nelts; m++) {
        set = nam[m]->sets.elts;

        for (i = 0; i < nam[m]->sets.nelts; i++) {
            if (set[i].node == NULL) {
                continue;
            }

            seen = sets->elts;

            for (k = 0; k < sets->nelts; k++) {
                if (seen[k]->node == set[i].node) {
                    break;
                }
            }

            if (k < sets->nelts) {
                continue;
            }

            p = ngx_array_push(sets);
            if (p == NULL) {
                return NULL;
            }

            *p = &set[i];
        }
    }

    return sets;
}


static ngx_uint_t
ngx_http_nitro_attest_status_format(ngx_http_request_t *r)
{
    u_char           *last;
    ngx_str_t         format;
    ngx_table_elt_t  *accept;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {

        if (format.len == 10
            && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            return NGX_HTTP_NITRO_ATTEST_PROMETHEUS;
        }

        if (format.len == 4 && ngx_strncmp(format.data, "html", 4) == 0) {
            return NGX_HTTP_NITRO_ATTEST_HTML;
        }

        return NGX_HTTP_NITRO_ATTEST_JSON;
    }

    accept = r->headers_in.accept;

    if (accept == NULL) {
        return NGX_HTTP_NITRO_ATTEST_JSON;
    }

    last = accept->value.data + accept->value.len;

    if (ngx_strlcasestrn(accept->value.data, last,
                         (u_char *) "application/json", 16 - 1)
        != NULL)
    {
        return NGX_HTTP_NITRO_ATTEST_JSON;
    }

    /* a browser's Accept names text/html; Prometheus's names text/plain */

    if (ngx_strlcasestrn(accept->value.data, last,
                         (u_char *) "text/html", 9 - 1)
        != NULL)
    {
        return NGX_HTTP_NITRO_ATTEST_HTML;
    }

    if (ngx_strlcasestrn(accept->value.data, last,
                         (u_char *) "text/plain", 10 - 1)
        != NULL)
    {
        return NGX_HTTP_NITRO_ATTEST_PROMETHEUS;
    }

    return NGX_HTTP_NITRO_ATTEST_JSON;
}
