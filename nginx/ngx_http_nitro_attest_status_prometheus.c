
/*
 * ngx_http_nitro_attest_status_prometheus.c: the status endpoint in the
 * Prometheus text format 0.0.4: the shared counters, the allow sets of
 * the running configuration and the inventory, when the http block has
 * one.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


static u_char *ngx_http_nitro_attest_enclaves_prometheus(u_char *p,
    ngx_array_t *enclaves);
static u_char *ngx_http_nitro_attest_label(u_char *p, ngx_str_t *value);
static u_char *ngx_http_nitro_attest_label_value(u_char *p, u_char *value,
    size_t len);


u_char *
ngx_http_nitro_attest_status_prometheus(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_array_t *sets, ngx_array_t *enclaves,
    int64_t now, ngx_http_nitro_attest_recent_t *recent)
{
    ngx_uint_t                    i;
    ngx_atomic_uint_t             last;
    ngx_nitro_attest_set_t      **set;
    ngx_nitro_attest_service_t  **service;

    set = sets->elts;

    p = ngx_sprintf(p,
        "# HELP nitro_attest_handshakes_total Full TLS handshakes whose "
        "client attestation was verified or failed.\n"
        "# TYPE nitro_attest_handshakes_total counter\n"
        "nitro_attest_handshakes_total{result=\"verified\"} %uA\n"
        "nitro_attest_handshakes_total{result=\"failed\"} %uA\n"
        "# HELP nitro_attest_protocol_handshakes_total Full TLS handshakes "
        "by protocol (http, stream) and result.\n"
        "# TYPE nitro_attest_protocol_handshakes_total counter\n"
        "nitro_attest_protocol_handshakes_total"
        "{protocol=\"http\",result=\"verified\"} %uA\n"
        "nitro_attest_protocol_handshakes_total"
        "{protocol=\"http\",result=\"failed\"} %uA\n"
        "nitro_attest_protocol_handshakes_total"
        "{protocol=\"stream\",result=\"verified\"} %uA\n"
        "nitro_attest_protocol_handshakes_total"
        "{protocol=\"stream\",result=\"failed\"} %uA\n"
        "# HELP nitro_attest_failures_total Failed attestations by reason "
        "code.\n"
        "# TYPE nitro_attest_failures_total counter\n",
        sh->verified, sh->failed,
        sh->protocols[NGX_NITRO_ATTEST_HTTP][0],
        sh->protocols[NGX_NITRO_ATTEST_HTTP][1],
        sh->protocols[NGX_NITRO_ATTEST_STREAM][0],
        sh->protocols[NGX_NITRO_ATTEST_STREAM][1]);

    for (i = NITRO_ATTEST_NO_CERTIFICATE;
         i < NITRO_ATTEST_HANDSHAKE_REASONS;
         i++)
    {
        p = ngx_sprintf(p, "nitro_attest_failures_total{reason=\"%s\"} %uA\n",
                        nitro_attest_reason_name(i), sh->failures[i]);
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_proxy_handshakes_total Full TLS handshakes "
        "with upstreams whose attestation was verified or failed.\n"
        "# TYPE nitro_attest_proxy_handshakes_total counter\n"
        "nitro_attest_proxy_handshakes_total{result=\"verified\"} %uA\n"
        "nitro_attest_proxy_handshakes_total{result=\"failed\"} %uA\n"
        "# HELP nitro_attest_proxy_failures_total Failed upstream "
        "attestations by reason code.\n"
        "# TYPE nitro_attest_proxy_failures_total counter\n",
        sh->proxy[0], sh->proxy[1]);

    for (i = NITRO_ATTEST_NO_CERTIFICATE;
         i < NITRO_ATTEST_HANDSHAKE_REASONS;
         i++)
    {
        p = ngx_sprintf(p,
                        "nitro_attest_proxy_failures_total{reason=\"%s\"} "
                        "%uA\n",
                        nitro_attest_reason_name(i), sh->proxy_failures[i]);
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_cache_total Verdict cache lookups of full "
        "handshakes.\n"
        "# TYPE nitro_attest_cache_total counter\n"
        "nitro_attest_cache_total{result=\"hit\"} %uA\n"
        "nitro_attest_cache_total{result=\"miss\"} %uA\n"
        "# HELP nitro_attest_policy_matches_total Verified attestations by "
        "the allow set that matched.\n"
        "# TYPE nitro_attest_policy_matches_total counter\n",
        sh->cache_hit, sh->cache_miss);

    for (i = 0; i < sets->nelts; i++) {
        p = ngx_cpymem(p, "nitro_attest_policy_matches_total",
                       sizeof("nitro_attest_policy_matches_total") - 1);
        p = ngx_http_nitro_attest_label(p, &set[i]->name);
        p = ngx_sprintf(p, " %uA\n", set[i]->node->matches);
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_policy_last_success_seconds Unix time of the "
        "last verified attestation of the allow set (absent: none yet).\n"
        "# TYPE nitro_attest_policy_last_success_seconds gauge\n");

    for (i = 0; i < sets->nelts; i++) {
        last = set[i]->node->last_success;

        if (last) {
            p = ngx_cpymem(p, "nitro_attest_policy_last_success_seconds",
                    sizeof("nitro_attest_policy_last_success_seconds") - 1);
            p = ngx_http_nitro_attest_label(p, &set[i]->name);
            p = ngx_sprintf(p, " %uA\n", last / 1000);
        }
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_policy_silent 1 when the allow set has "
        "expect_every and no client attested with it for that long.\n"
        "# TYPE nitro_attest_policy_silent gauge\n");

    for (i = 0; i < sets->nelts; i++) {
        p = ngx_cpymem(p, "nitro_attest_policy_silent",
                       sizeof("nitro_attest_policy_silent") - 1);
        p = ngx_http_nitro_attest_label(p, &set[i]->name);
        p = ngx_sprintf(p, " %ui\n",
                        ngx_nitro_attest_silent(set[i], now));
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_policy_expect_every_seconds The expect_every "
        "of the allow set.\n"
        "# TYPE nitro_attest_policy_expect_every_seconds gauge\n");

    for (i = 0; i < sets->nelts; i++) {
        if (set[i]->expect_every) {
            p = ngx_cpymem(p, "nitro_attest_policy_expect_every_seconds",
                    sizeof("nitro_attest_policy_expect_every_seconds") - 1);
            p = ngx_http_nitro_attest_label(p, &set[i]->name);
            p = ngx_sprintf(p, " %L.%03L\n", set[i]->expect_every / 1000,
                            set[i]->expect_every % 1000);
        }
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_rollbacks_total Proven successes, and refused "
        "handshakes, of a lower version of a service than its instance "
        "proved before.\n"
        "# TYPE nitro_attest_rollbacks_total counter\n");

    service = recent->services->elts;

    for (i = 0; i < recent->services->nelts; i++) {
        p = ngx_cpymem(p, "nitro_attest_rollbacks_total{service=\"",
                       sizeof("nitro_attest_rollbacks_total{service=\"") - 1);
        p = ngx_http_nitro_attest_label_value(p, service[i]->name.data,
                                              service[i]->name.len);
        p = ngx_sprintf(p, "\"} %uA\n", service[i]->node->rollbacks);
    }

    if (enclaves) {
        p = ngx_http_nitro_attest_enclaves_prometheus(p, enclaves);
    }

    return p;
}


static u_char *
ngx_http_nitro_attest_enclaves_prometheus(u_char *p, ngx_array_t *enclaves)
{
    size_t                        n;
    ngx_uint_t                    i;
    ngx_nitro_attest_enclave_t  **en;

    en = enclaves->elts;

    p = ngx_sprintf(p,
        "# HELP nitro_attest_enclave_last_seen_seconds Unix time of the last "
        "full handshake of the enclave (or NitroTPM instance) of the "
        "inventory.\n"
        "# TYPE nitro_attest_enclave_last_seen_seconds gauge\n");

    for (i = 0; i < enclaves->nelts; i++) {
        n = nitro_attest_instance_id_len((char *) en[i]->data,
                                         en[i]->module_id_len);

        p = ngx_cpymem(p, "nitro_attest_enclave_last_seen_seconds"
                          "{module_id=\"",
                sizeof("nitro_attest_enclave_last_seen_seconds"
                       "{module_id=\"") - 1);
        p = ngx_http_nitro_attest_label_value(p, en[i]->data,
                                              en[i]->module_id_len);
        p = ngx_cpymem(p, "\",instance_id=\"",
                       sizeof("\",instance_id=\"") - 1);
        p = ngx_http_nitro_attest_label_value(p, en[i]->data, n);
        p = ngx_cpymem(p, "\",policy=\"", sizeof("\",policy=\"") - 1);
        p = ngx_http_nitro_attest_label_value(p,
                                          en[i]->data + en[i]->module_id_len,
                                          en[i]->policy_len);
        p = ngx_sprintf(p, "\"} %L\n", en[i]->last_seen);
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_enclave_attestations_total Full handshakes of "
        "the enclave of the inventory, by result.\n"
        "# TYPE nitro_attest_enclave_attestations_total counter\n");

    for (i = 0; i < enclaves->nelts; i++) {
        for (n = 0; n < 2; n++) {
            p = ngx_cpymem(p, "nitro_attest_enclave_attestations_total"
                              "{module_id=\"",
                    sizeof("nitro_attest_enclave_attestations_total"
                           "{module_id=\"") - 1);
            p = ngx_http_nitro_attest_label_value(p, en[i]->data,
                                                  en[i]->module_id_len);
            p = ngx_sprintf(p, "\",result=\"%s\"} %uL\n",
                            n ? "failed" : "verified",
                            n ? en[i]->failed : en[i]->verified);
        }
    }

    /*
     * Only an enclave that proved its key: anyone can present a genuine
     * document of another, and this is joined with what its parent
     * instance reports it runs.
     */
    p = ngx_sprintf(p,
        "# HELP nitro_attest_enclave_pcr0_info The PCR0 of the last verified "
        "handshake with its key proven of the enclave of the inventory.\n"
        "# TYPE nitro_attest_enclave_pcr0_info gauge\n");

    for (i = 0; i < enclaves->nelts; i++) {
        if (!en[i]->proven) {
            continue;
        }

        p = ngx_cpymem(p, "nitro_attest_enclave_pcr0_info{module_id=\"",
                sizeof("nitro_attest_enclave_pcr0_info{module_id=\"") - 1);
        p = ngx_http_nitro_attest_label_value(p, en[i]->data,
                                              en[i]->module_id_len);
        p = ngx_cpymem(p, "\",pcr0=\"", sizeof("\",pcr0=\"") - 1);
        p = (u_char *) nitro_attest_hex((char *) p, en[i]->proven_pcr0,
                                        en[i]->proven_pcr0_len);
        p = ngx_cpymem(p, "\"} 1\n", sizeof("\"} 1\n") - 1);
    }

    return p;
}


/* {policy="<name>"} */

static u_char *
ngx_http_nitro_attest_label(u_char *p, ngx_str_t *value)
{
    p = ngx_cpymem(p, "{policy=\"", sizeof("{policy=\"") - 1);
    p = ngx_http_nitro_attest_label_value(p, value->data, value->len);

    *p++ = '"';
    *p++ = '}';

    return p;
}


/* the value of a label, escaped as the exposition format wants */

static u_char *
ngx_http_nitro_attest_label_value(u_char *p, u_char *value, size_t len)
{
    return (u_char *) nitro_attest_prometheus_escape((char *) p, value, len);
}
