
/*
 * ngx_http_nitro_attest_status_html.c: the status endpoint as one HTML
 * page for a browser, the dashboard: the node it is of, totals, failures
 * by severity (now: the last 5 minutes and the last hour, and since
 * start) and by reason, the last refused handshakes, rollbacks, allow
 * sets and the inventory.  Self-contained (inline CSS, no script, nothing
 * fetched) and refreshed by the browser; every set name and module id is
 * HTML-escaped, as policies and documents are not ours.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


/* a literal's bytes, without its NUL */
#define ngx_http_nitro_attest_cpy(p, text)                                    \
    ngx_cpymem(p, text, sizeof(text) - 1)


static u_char *ngx_http_nitro_attest_html(u_char *p, u_char *text,
    size_t len);
static u_char *ngx_http_nitro_attest_html_time(u_char *p, int64_t seconds,
    int64_t now);
static u_char *ngx_http_nitro_attest_html_ago(u_char *p, int64_t seconds,
    int64_t now);
static u_char *ngx_http_nitro_attest_html_severity(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_http_nitro_attest_recent_t *recent,
    int64_t now);
static u_char *ngx_http_nitro_attest_html_refused(u_char *p,
    ngx_http_nitro_attest_recent_t *recent);
static u_char *ngx_http_nitro_attest_html_rollbacks(u_char *p,
    ngx_http_nitro_attest_recent_t *recent);
static u_char *ngx_http_nitro_attest_html_sets(u_char *p,
    ngx_array_t *sets, int64_t now);
static u_char *ngx_http_nitro_attest_html_enclaves(u_char *p,
    ngx_array_t *enclaves, int64_t now);


static const char  ngx_http_nitro_attest_html_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"refresh\" content=\"5\">\n"
    "<meta name=\"viewport\" content=\"width=device-width\">\n"
    "<title>nitro_attest status</title>\n"
    "<style>\n"
    "body{font:13px/1.45 system-ui,sans-serif;margin:1.2em 1.6em;"
    "color:#1d2330;background:#f4f6f9}\n"
    "h1{font-size:1.35em;margin:0}h2{font-size:1.05em;margin:1.3em 0 .4em}\n"
    "p.meta{color:#6b7280;margin:.2em 0 0}\n"
    "table{border-collapse:collapse;background:#fff;"
    "box-shadow:0 1px 3px #0002;font-variant-numeric:tabular-nums}\n"
    "th,td{padding:.25em .6em;border-bottom:1px solid #e6e9ef;"
    "text-align:left;white-space:nowrap}\n"
    "th{background:#2f3e55;color:#fff;font-weight:600}\n"
    "td.n{text-align:right}td.id{font-family:monospace}\n"
    ".ok{color:#137333;font-weight:600}.bad{color:#c5221f;font-weight:600}"
    ".dim{color:#8a93a3}\n"
    ".tiles{display:flex;gap:.8em;flex-wrap:wrap}\n"
    ".tile{background:#fff;box-shadow:0 1px 3px #0002;padding:.5em 1em;"
    "min-width:8em}\n"
    ".tile b{display:block;font-size:1.7em}\n"
    ".bar{display:inline-block;height:.7em;background:#c5221f;"
    "vertical-align:middle}\n"
    "th.inst{background:#e8ecf2;color:#1d2330;font-family:monospace}\n"
    ".cols{display:flex;gap:2.5em;flex-wrap:wrap;align-items:flex-start}\n"
    "</style></head><body>\n"
    "<h1>nitro_attest on <span id=\"node\">";

static const char  ngx_http_nitro_attest_html_tail[] = "</body></html>\n";


/* what the page takes besides its sets and enclaves (the handler sizes it) */
const size_t  ngx_http_nitro_attest_status_html_size =
    sizeof(ngx_http_nitro_attest_html_head)
    + sizeof(ngx_http_nitro_attest_html_tail) + 8192;


u_char *
ngx_http_nitro_attest_status_html(u_char *p, ngx_nitro_attest_shctx_t *sh,
    ngx_array_t *sets, ngx_array_t *enclaves, int64_t now,
    ngx_http_nitro_attest_recent_t *recent)
{
    ngx_uint_t         i, width;
    ngx_atomic_uint_t  most;

    /* the node: one nginx of several behind a balancer */

    p = ngx_http_nitro_attest_cpy(p, ngx_http_nitro_attest_html_head);
    p = ngx_http_nitro_attest_html(p, ngx_cycle->hostname.data,
                                   ngx_cycle->hostname.len);
    p = ngx_http_nitro_attest_cpy(p, "</span></h1>\n");

    p = ngx_http_nitro_attest_cpy(p, "<p class=\"meta\">");
    p = ngx_http_nitro_attest_html_time(p, now / 1000, 0);
    p = ngx_http_nitro_attest_cpy(p, " UTC");
    p = ngx_http_nitro_attest_cpy(p,
        ", refreshed every 5 s; also as <a href=\"?format=json\">JSON"
        "</a> and <a href=\"?format=prometheus\">Prometheus"
        "</a></p>\n");

    /* totals, then per protocol */

    p = ngx_sprintf(p,
        "<div class=\"cols\"><div>"
        "<h2>Handshakes</h2>\n<div class=\"tiles\">"
        "<div class=\"tile\" id=\"verified\"><b class=\"ok\">%uA</b>"
        "verified</div>"
        "<div class=\"tile\" id=\"failed\"><b class=\"%s\">%uA</b>"
        "failed</div>"
        "<div class=\"tile\" id=\"cache\"><b>%uA / %uA</b>"
        "cache hits / misses</div></div>\n"
        "<h2>By protocol</h2>\n<table id=\"protocols\">"
        "<tr><th>protocol</th><th>verified</th><th>failed</th></tr>\n"
        "<tr><td>http</td><td class=\"n\">%uA</td><td class=\"n\">%uA</td>"
        "</tr>\n"
        "<tr><td>stream</td><td class=\"n\">%uA</td><td class=\"n\">%uA</td>"
        "</tr></table></div>\n",
        sh->verified, sh->failed ? "bad" : "dim", sh->failed,
        sh->cache_hit, sh->cache_miss,
        sh->protocols[NGX_NITRO_ATTEST_HTTP][0],
        sh->protocols[NGX_NITRO_ATTEST_HTTP][1],
        sh->protocols[NGX_NITRO_ATTEST_STREAM][0],
        sh->protocols[NGX_NITRO_ATTEST_STREAM][1]);

    /* the reasons that occurred, each with a bar against the most common */

    most = 0;

    for (i = NITRO_ATTEST_NO_CERTIFICATE;
         i < NITRO_ATTEST_HANDSHAKE_REASONS;
         i++)
    {
        most = ngx_max(most, sh->failures[i]);
    }

    p = ngx_http_nitro_attest_cpy(p,
        "<div><h2>Failures by reason</h2>\n"
        "<table id=\"failures\"><tr><th>reason</th>"
        "<th colspan=\"2\">failures</th></tr>\n");

    for (i = NITRO_ATTEST_NO_CERTIFICATE;
         i < NITRO_ATTEST_HANDSHAKE_REASONS;
         i++)
    {
        if (sh->failures[i] == 0) {
            continue;
        }

        width = 1 + (ngx_uint_t) (sh->failures[i] * 200 / most);

        p = ngx_sprintf(p, "<tr class=\"reason\" data-reason=\"%s\">"
                           "<td>%s</td><td class=\"n\">%uA</td><td>"
                           "<span class=\"bar\" style=\"width:%uipx\">"
                           "</span></td></tr>\n",
                        nitro_attest_reason_name(i),
                        nitro_attest_reason_name(i), sh->failures[i], width);
    }

    if (most == 0) {
        p = ngx_http_nitro_attest_cpy(p,
            "<tr><td class=\"dim\" colspan=\"3\">none"
            "</td></tr>\n");
    }

    p = ngx_http_nitro_attest_cpy(p, "</table></div></div>\n");

    p = ngx_http_nitro_attest_html_severity(p, sh, recent, now);
    p = ngx_http_nitro_attest_html_refused(p, recent);
    p = ngx_http_nitro_attest_html_rollbacks(p, recent);
    p = ngx_http_nitro_attest_html_sets(p, sets, now);
    p = ngx_http_nitro_attest_html_enclaves(p, enclaves, now);

    return ngx_http_nitro_attest_cpy(p, ngx_http_nitro_attest_html_tail);
}


/*
 * Failed handshakes by severity: in the last 5 minutes and the last hour
 * (the minutes of the ring that fall in them, the current one included),
 * and since start (the reasons' counters).
 */

static u_char *
ngx_http_nitro_attest_html_severity(u_char *p, ngx_nitro_attest_shctx_t *sh,
    ngx_http_nitro_attest_recent_t *recent, int64_t now)
{
    int64_t                     minute;
    uint64_t                    recent5[2], hour[2], total[2];
    ngx_uint_t                  i, s;
    ngx_nitro_attest_minute_t  *m;

    static const char  *names[] = { "CRITICAL", "WARNING" };

    minute = now / 60000;

    for (s = 0; s < 2; s++) {
        recent5[s] = 0;
        hour[s] = 0;
        total[s] = 0;
    }

    for (i = 0; i < NGX_NITRO_ATTEST_MINUTES; i++) {
        m = &recent->minutes[i];

        if (m->minute > minute || m->minute <= minute - 60) {
            continue;
        }

        for (s = 0; s < 2; s++) {
            hour[s] += m->failed[s];

            if (m->minute > minute - 5) {
                recent5[s] += m->failed[s];
            }
        }
    }

    for (i = NITRO_ATTEST_NO_CERTIFICATE;
         i < NITRO_ATTEST_HANDSHAKE_REASONS;
         i++)
    {
        s = ngx_strcmp(nitro_attest_reason_severity(i), "CRITICAL") == 0
            ? 0 : 1;
        total[s] += sh->failures[i];
    }

    p = ngx_http_nitro_attest_cpy(p,
        "<h2>Failures by severity</h2>\n"
        "<table id=\"severity\"><tr><th>severity</th><th>last 5 min</th>"
        "<th>last hour</th><th>since start</th></tr>\n");

    for (s = 0; s < 2; s++) {
        p = ngx_sprintf(p, "<tr class=\"severity\" data-severity=\"%s\">"
                           "<td class=\"%s\">%s</td>"
                           "<td class=\"n\">%uL</td><td class=\"n\">%uL</td>"
                           "<td class=\"n\">%uL</td></tr>\n",
                        names[s], s == 0 && hour[0] ? "bad" : "", names[s],
                        recent5[s], hour[s], total[s]);
    }

    return ngx_http_nitro_attest_cpy(p, "</table>\n");
}


/* the last refused handshakes, the newest first */

static u_char *
ngx_http_nitro_attest_html_refused(u_char *p,
    ngx_http_nitro_attest_recent_t *recent)
{
    ngx_uint_t                   i, n;
    ngx_nitro_attest_refusal_t  *r;

    p = ngx_sprintf(p,
        "<h2>Last %d refused handshakes</h2>\n"
        "<table id=\"refused\"><tr><th>time (UTC)</th><th>client</th>"
        "<th>server name</th><th>reason</th><th>module id</th></tr>\n",
        NGX_NITRO_ATTEST_REFUSED);

    n = ngx_min(recent->nrefused, NGX_NITRO_ATTEST_REFUSED);

    for (i = 1; i <= n; i++) {
        r = &recent->refused[(recent->nrefused - i)
                             % NGX_NITRO_ATTEST_REFUSED];

        p = ngx_http_nitro_attest_cpy(p, "<tr class=\"refusal\"><td>");
        p = ngx_http_nitro_attest_html_time(p, r->time / 1000, 0);
        p = ngx_http_nitro_attest_cpy(p, "</td><td class=\"id\">");
        p = ngx_http_nitro_attest_html(p, r->addr, r->addr_len);
        p = ngx_http_nitro_attest_cpy(p, "</td><td>");
        p = ngx_http_nitro_attest_html(p, r->server, r->server_len);
        p = ngx_sprintf(p, "</td><td class=\"%s\">%s</td><td class=\"id\">",
                        ngx_strcmp(nitro_attest_reason_severity(r->reason),
                                   "CRITICAL") == 0 ? "bad" : "",
                        nitro_attest_reason_name(r->reason));

        if (r->module_id_len) {
            p = ngx_http_nitro_attest_html(p, r->module_id,
                                           r->module_id_len);

        } else {
            p = ngx_http_nitro_attest_cpy(p, "<span class=\"dim\">-</span>");
        }

        p = ngx_http_nitro_attest_cpy(p, "</td></tr>\n");
    }

    if (n == 0) {
        p = ngx_http_nitro_attest_cpy(p,
            "<tr><td class=\"dim\" colspan=\"5\">none</td></tr>\n");
    }

    return ngx_http_nitro_attest_cpy(p, "</table>\n");
}


/* each service of the loaded policies, and its rollbacks */

static u_char *
ngx_http_nitro_attest_html_rollbacks(u_char *p,
    ngx_http_nitro_attest_recent_t *recent)
{
    ngx_uint_t                    i;
    ngx_atomic_uint_t             n;
    ngx_nitro_attest_service_t  **service;

    p = ngx_http_nitro_attest_cpy(p,
        "<h2>Rollbacks</h2>\n"
        "<table id=\"rollbacks\"><tr><th>service</th><th>rollbacks</th>"
        "</tr>\n");

    service = recent->services->elts;

    for (i = 0; i < recent->services->nelts; i++) {
        n = service[i]->node->rollbacks;

        p = ngx_http_nitro_attest_cpy(p,
            "<tr class=\"service\" data-service=\"");
        p = ngx_http_nitro_attest_html(p, service[i]->name.data,
                                       service[i]->name.len);
        p = ngx_http_nitro_attest_cpy(p, "\"><td>");
        p = ngx_http_nitro_attest_html(p, service[i]->name.data,
                                       service[i]->name.len);
        p = ngx_sprintf(p, "</td><td class=\"n %s\">%uA</td></tr>\n",
                        n ? "bad" : "", n);
    }

    if (recent->services->nelts == 0) {
        p = ngx_http_nitro_attest_cpy(p,
            "<tr><td class=\"dim\" colspan=\"2\">no allow set names a "
            "service</td></tr>\n");
    }

    return ngx_http_nitro_attest_cpy(p, "</table>\n");
}


/* every allow set: matches, last success, and whether it went silent */

static u_char *
ngx_http_nitro_attest_html_sets(u_char *p, ngx_array_t *sets, int64_t now)
{
    ngx_uint_t                silent;
    ngx_uint_t                i;
    ngx_atomic_uint_t         last;
    ngx_nitro_attest_set_t  **set;

    p = ngx_http_nitro_attest_cpy(p,
        "<h2>Allow sets</h2>\n"
        "<table id=\"sets\"><tr><th>set</th><th>matches"
        "</th><th>last success (UTC)</th><th>expect every"
        "</th><th>state</th></tr>\n");

    set = sets->elts;

    for (i = 0; i < sets->nelts; i++) {
        last = set[i]->node->last_success;
        silent = ngx_nitro_attest_silent(set[i], now);

        p = ngx_http_nitro_attest_cpy(p, "<tr class=\"set\" data-name=\"");
        p = ngx_http_nitro_attest_html(p, set[i]->name.data,
                                       set[i]->name.len);
        p = ngx_http_nitro_attest_cpy(p, "\"><td>");
        p = ngx_http_nitro_attest_html(p, set[i]->name.data,
                                       set[i]->name.len);
        p = ngx_sprintf(p, "</td><td class=\"n\">%uA</td><td>",
                        set[i]->node->matches);

        if (last) {
            p = ngx_http_nitro_attest_html_time(p, (int64_t) last / 1000,
                                                now / 1000);

        } else {
            p = ngx_http_nitro_attest_cpy(p,
                "<span class=\"dim\">never</span>");
        }

        if (set[i]->expect_every) {
            p = ngx_sprintf(p, "</td><td class=\"n\">%L s</td>",
                            set[i]->expect_every / 1000);

        } else {
            p = ngx_http_nitro_attest_cpy(p, "</td><td class=\"dim\">-</td>");
        }

        if (silent) {
            p = ngx_http_nitro_attest_cpy(p,
                "<td class=\"state bad\">silent</td></tr>\n");

        } else if (set[i]->expect_every) {
            p = ngx_http_nitro_attest_cpy(p,
                "<td class=\"state ok\">attesting</td>"
                "</tr>\n");

        } else {
            p = ngx_http_nitro_attest_cpy(p,
                "<td class=\"state dim\">not watched</td>"
                "</tr>\n");
        }
    }

    if (sets->nelts == 0) {
        p = ngx_http_nitro_attest_cpy(p,
            "<tr><td class=\"dim\" colspan=\"5\">none"
            "</td></tr>\n");
    }

    return ngx_http_nitro_attest_cpy(p, "</table>\n");
}


/* the inventory, an instance's enclaves next to each other */

static u_char *
ngx_http_nitro_attest_html_enclaves(u_char *p, ngx_array_t *enclaves,
    int64_t now)
{
    size_t                        n, k, prev;
    ngx_uint_t                    i, j, ok;
    ngx_nitro_attest_enclave_t  **en;
    u_char                        hex[2 * NITRO_ATTEST_PCR_MAX_LEN];

    p = ngx_http_nitro_attest_cpy(p, "<h2>Inventory</h2>\n");

    if (enclaves == NULL) {
        return ngx_http_nitro_attest_cpy(p,
            "<p class=\"dim\" id=\"enclaves\">off (see nitro_attest_inventory"
            ")</p>\n");
    }

    p = ngx_http_nitro_attest_cpy(p,
        "<table id=\"enclaves\"><tr><th>module id</th><th>kind</th>"
        "<th>policy</th><th>PCR0</th><th>first seen (UTC)</th>"
        "<th>last seen</th><th>last status</th><th>verified</th>"
        "<th>failed</th></tr>\n");

    en = enclaves->elts;
    prev = 0;

    for (i = 0; i < enclaves->nelts; i++) {
        n = nitro_attest_instance_id_len((char *) en[i]->data,
                                         en[i]->module_id_len);
        ok = en[i]->status == NITRO_ATTEST_STATUS_SUCCESS;

        /* a heading row per instance (the list keeps them together) */

        if (i == 0 || n != prev
            || ngx_memcmp(en[i]->data, en[i - 1]->data, n) != 0)
        {
            for (j = i + 1, k = 1; j < enclaves->nelts; j++, k++) {
                if (nitro_attest_instance_id_len((char *) en[j]->data,
                                                 en[j]->module_id_len)
                    != n
                    || ngx_memcmp(en[j]->data, en[i]->data, n) != 0)
                {
                    break;
                }
            }

            p = ngx_http_nitro_attest_cpy(p,
                "<tr class=\"instance\" data-instance-id=\"");
            p = ngx_http_nitro_attest_html(p, en[i]->data, n);
            p = ngx_http_nitro_attest_cpy(p,
                "\"><th colspan=\"9\" class=\"inst\">instance ");
            p = ngx_http_nitro_attest_html(p, en[i]->data, n);
            p = ngx_sprintf(p, " <span class=\"dim\">(%uz)</span></th>"
                               "</tr>\n", k);
            prev = n;
        }

        p = ngx_http_nitro_attest_cpy(p,
            "<tr class=\"enclave\" data-module-id=\"");
        p = ngx_http_nitro_attest_html(p, en[i]->data, en[i]->module_id_len);
        p = ngx_http_nitro_attest_cpy(p, "\"><td class=\"id\">");
        p = ngx_http_nitro_attest_html(p, en[i]->data, en[i]->module_id_len);
        p = ngx_sprintf(p, "</td><td>%s</td><td>",
                        nitro_attest_kind_name(en[i]->kind));

        if (en[i]->policy_len) {
            p = ngx_http_nitro_attest_html(p,
                                           en[i]->data + en[i]->module_id_len,
                                           en[i]->policy_len);

        } else {
            p = ngx_http_nitro_attest_cpy(p, "<span class=\"dim\">-</span>");
        }

        /* the whole PCR0 on hover, its first 12 digits in the cell */

        (void) nitro_attest_hex((char *) hex, en[i]->pcr0, en[i]->pcr0_len);

        p = ngx_sprintf(p, "</td><td class=\"id\" title=\"%*s\">%*s%s</td>"
                           "<td>",
                        (size_t) 2 * en[i]->pcr0_len, hex,
                        ngx_min((size_t) 2 * en[i]->pcr0_len, 12), hex,
                        en[i]->pcr0_len > 6 ? "&hellip;" : "");
        p = ngx_http_nitro_attest_html_time(p, en[i]->first_seen, 0);
        p = ngx_http_nitro_attest_cpy(p, "</td><td title=\"");
        p = ngx_http_nitro_attest_html_time(p, en[i]->last_seen, 0);
        p = ngx_http_nitro_attest_cpy(p, " UTC\">");
        p = ngx_http_nitro_attest_html_ago(p, en[i]->last_seen, now / 1000);

        p = ngx_sprintf(p, "</td><td class=\"%s\">%s%s%s</td>"
                           "<td class=\"n\">%uL</td><td class=\"n\">%uL</td>"
                           "</tr>\n",
                        ok ? "ok" : "bad", ok ? "SUCCESS" : "FAILED",
                        ok ? "" : ": ",
                        ok ? "" : nitro_attest_reason_name(en[i]->reason),
                        en[i]->verified, en[i]->failed);
    }

    if (enclaves->nelts == 0) {
        p = ngx_http_nitro_attest_cpy(p,
            "<tr><td class=\"dim\" colspan=\"9\">none yet"
            "</td></tr>\n");
    }

    return ngx_http_nitro_attest_cpy(p, "</table>\n");
}


/* text from a policy or a document, safe in an element and an attribute */

static u_char *
ngx_http_nitro_attest_html(u_char *p, u_char *text, size_t len)
{
    return (u_char *) ngx_escape_html(p, text, len);
}


/* "2026-01-03 20:41:07" (UTC), and how long ago when now is given */

static u_char *
ngx_http_nitro_attest_html_time(u_char *p, int64_t seconds, int64_t now)
{
    ngx_tm_t  tm;

    ngx_gmtime((time_t) seconds, &tm);

    p = ngx_sprintf(p, "%4d-%02d-%02d %02d:%02d:%02d",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    if (now) {
        p = ngx_http_nitro_attest_cpy(p, " <span class=\"dim\">(");
        p = ngx_http_nitro_attest_html_ago(p, seconds, now);
        p = ngx_http_nitro_attest_cpy(p, ")</span>");
    }

    return p;
}


/* "12 s ago", "5 min ago", "3 h ago", "2 d ago" */

static u_char *
ngx_http_nitro_attest_html_ago(u_char *p, int64_t seconds, int64_t now)
{
    int64_t  ago;

    ago = ngx_max(now - seconds, 0);

    if (ago < 120) {
        return ngx_sprintf(p, "%L s ago", ago);
    }

    if (ago < 120 * 60) {
        return ngx_sprintf(p, "%L min ago", ago / 60);
    }

    if (ago < 48 * 3600) {
        return ngx_sprintf(p, "%L h ago", ago / 3600);
    }

    return ngx_sprintf(p, "%L d ago", ago / 86400);
}
