#include <math.h>
#include <string.h>
#include <time.h>

#include "model/level.h"
#include "web/chart.h"
#include "web/pages.h"

static void html(xp_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            xp_buf_puts(b, "&lt;");
            break;
        case '>':
            xp_buf_puts(b, "&gt;");
            break;
        case '&':
            xp_buf_puts(b, "&amp;");
            break;
        case '"':
            xp_buf_puts(b, "&quot;");
            break;
        default:
            xp_buf_putc(b, *s);
        }
    }
}

static void ago(xp_buf *b, double now, double then)
{
    if (then <= 0) {
        xp_buf_puts(b, "never");
        return;
    }
    double d = now - then;
    if (d < 0)
        d = 0;
    if (d < 120)
        xp_buf_printf(b, "%.0fs ago", d);
    else if (d < 7200)
        xp_buf_printf(b, "%.0fm ago", d / 60);
    else
        xp_buf_printf(b, "%.1fh ago", d / 3600);
}

static const char *const css =
    "body{font:15px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.3em;margin:0 0 .6em}"
    ".banner{padding:.8em 1em;border-radius:6px;font-size:1.2em;margin-bottom:1em;color:#fff}"
    ".lvl-0{background:#2e7d32}.lvl-1{background:#f9a825;color:#222}.lvl-2{background:#ef6c00}"
    ".lvl-3{background:#c62828}.lvl-4{background:#6a1b9a}"
    "table{border-collapse:collapse;margin-bottom:1.2em}"
    "th,td{padding:.35em .7em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}"
    "tr.state-closed td.state{color:#2e7d32;font-weight:bold}"
    "tr.state-open{background:#ffebee}tr.state-open td.state{color:#c62828;font-weight:bold}"
    "tr.state-half_open{background:#fff8e1}tr.state-half_open td.state{color:#ef6c00;font-weight:bold}"
    ".err{color:#b71c1c;max-width:40em;word-break:break-word}"
    ".reason{font:bold .8em monospace;padding:.1em .35em;border:1px solid #ef9a9a;border-radius:3px}"
    ".mode{font:bold .8em monospace;padding:.1em .35em;border:1px solid #90caf9;border-radius:3px;"
    "color:#0d47a1;background:#e3f2fd}"
    "#features{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4em;max-width:70em}"
    "#features li{padding:.25em .6em;border-radius:4px;border:1px solid}"
    "li.on{color:#2e7d32;border-color:#a5d6a7;background:#f1f8e9}"
    "li.off{color:#c62828;border-color:#ef9a9a;background:#ffebee;font-weight:bold}small{color:#666}"
    "#events td.when{color:#666;white-space:nowrap}#events td.kind{font:.85em monospace}"
    "#events tr.bad td.what{color:#b71c1c}#events tr.good td.what{color:#2e7d32}";

/* One row of the events table: when, kind, what happened. */
static void event_row(xp_buf *b, const xp_event *e, double now)
{
    int bad = (e->type == XP_EV_TRANSITION && strcmp(e->to, "open") == 0) ||
              (e->type == XP_EV_LEVEL && xp_level_parse(e->to) > xp_level_parse(e->from)) ||
              (e->type == XP_EV_RELOAD && !e->success);
    int good = (e->type == XP_EV_TRANSITION && strcmp(e->to, "closed") == 0) ||
               (e->type == XP_EV_LEVEL && xp_level_parse(e->to) < xp_level_parse(e->from));
    xp_buf_printf(b, "<tr class=\"%s\"><td class=\"when\">", bad ? "bad" : good ? "good" : "");
    ago(b, now, e->timestamp);
    xp_buf_printf(b, "</td><td class=\"kind\">%s</td><td class=\"what\">",
                  xp_event_type_name(e->type));
    switch (e->type) {
    case XP_EV_TRANSITION:
        html(b, e->dependency);
        xp_buf_printf(b, ": %s &rarr; %s", e->from, e->to);
        if (e->error[0]) {
            xp_buf_puts(b, " <span class=\"reason\">");
            html(b, e->reason[0] ? e->reason : "error");
            xp_buf_puts(b, "</span> ");
            html(b, e->error);
        }
        break;
    case XP_EV_LEVEL:
        xp_buf_printf(b, "level %s &rarr; %s", e->from, e->to);
        break;
    case XP_EV_MODE:
        html(b, e->dependency);
        xp_buf_printf(b, ": mode %s &rarr; %s", e->from, e->to);
        if (e->client[0]) {
            xp_buf_puts(b, " (asked by ");
            html(b, e->client);
            xp_buf_puts(b, ")");
        } else {
            xp_buf_puts(b, " (its time ran out)");
        }
        break;
    case XP_EV_RELOAD:
        if (e->success) {
            xp_buf_puts(b, "config reloaded");
        } else {
            xp_buf_puts(b, "reload failed: ");
            html(b, e->error);
        }
        break;
    }
    xp_buf_puts(b, "</td></tr>\n");
}

/* A mode other than auto, and how long a run-time one has left: an operator's override must
 * not go unnoticed. */
static void mode_badge(xp_buf *b, const xp_dep_view *v, double now)
{
    if (v->br.mode == XP_MODE_AUTO)
        return;
    xp_buf_printf(b, " <span class=\"mode\" title=\"breaker mode\">%s", xp_mode_name(v->br.mode));
    double left = v->mode_override.active ? v->mode_override.until - now : INFINITY;
    if (isfinite(left)) {
        if (left < 0)
            left = 0;
        if (left < 120)
            xp_buf_printf(b, ", %.0fs left", ceil(left));
        else if (left < 7200)
            xp_buf_printf(b, ", %.0fm left", ceil(left / 60));
        else
            xp_buf_printf(b, ", %.1fh left", left / 3600);
    }
    xp_buf_puts(b, "</span>");
}

int xp_render_status_page(const xp_snapshot *s, const char *telemetry_path,
                          const xp_status_extra *x, xp_buf *b)
{
    static const char *const state_text[] = {"CLOSED", "OPEN", "HALF_OPEN"};
    int level = s->health.level;
    xp_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta http-equiv=\"refresh\" content=\"5\">"
                   "<title>resilience_exporter: ");
    xp_buf_puts(b, xp_level_name(level));
    xp_buf_puts(b, "</title><style>");
    xp_buf_puts(b, css);
    xp_buf_puts(b, xp_chart_css);
    xp_buf_puts(b, "</style></head><body>\n<h1>resilience_exporter</h1>\n");
    xp_buf_printf(b,
                  "<div class=\"banner lvl-%d\" id=\"level\">Level <b>%s</b> (%d) &middot; "
                  "system health score <b id=\"score\">%.1f</b> &middot; %zu of %zu breakers "
                  "not closed</div>\n",
                  level, xp_level_name(level), level, s->health.system_score, s->health.not_closed,
                  s->n_deps);

    xp_buf_puts(b, "<h2>Dependencies</h2>\n<table id=\"dependencies\"><tr><th>dependency</th>"
                   "<th>collector</th><th>breaker</th><th>score</th><th>failures</th>"
                   "<th>last probe</th><th>recovery in</th><th>error</th></tr>\n");
    for (size_t i = 0; i < s->n_deps; i++) {
        const xp_dep_view *v = &s->views[i];
        xp_buf_printf(b, "<tr class=\"state-%s\" data-dependency=\"",
                      xp_breaker_state_name(v->br.state));
        html(b, s->deps[i]->name);
        xp_buf_puts(b, "\"><td>");
        html(b, s->deps[i]->name);
        xp_buf_puts(b, "</td><td>");
        html(b, s->deps[i]->collector->name);
        xp_buf_printf(b, "</td><td class=\"state\">%s", state_text[v->br.state]);
        mode_badge(b, v, s->now_mono);
        xp_buf_printf(b, "</td><td>%.1f</td><td>%u</td><td>", s->scores[i],
                      v->br.consecutive_failures);
        if (v->probed) {
            xp_buf_puts(b, v->last_success ? "ok" : "failed");
            xp_buf_printf(b, " in %.1f ms, ", v->last_duration * 1000);
            ago(b, s->now_wall, v->last_timestamp);
        } else {
            xp_buf_puts(b, "pending");
        }
        xp_buf_puts(b, "</td><td>");
        if (v->br.state == XP_OPEN)
            xp_buf_printf(b, "%.0fs", ceil(xp_breaker_recovery_seconds(&v->br, s->now_mono)));
        else
            xp_buf_puts(b, "&ndash;");
        xp_buf_puts(b, "</td><td class=\"err\">");
        if (v->failure_timestamp > 0) {
            xp_buf_printf(b, "<span class=\"reason\">%s</span> ",
                          xp_reason_name(v->failure_reason));
            html(b, v->failure_error);
            xp_buf_puts(b, " <small>(");
            ago(b, s->now_wall, v->failure_timestamp);
            xp_buf_puts(b, ")</small>");
        }
        xp_buf_puts(b, "</td></tr>\n");
    }
    size_t n_on = 0;
    for (size_t j = 0; j < s->cfg->n_features; j++)
        n_on += s->feature_on[j] != 0;
    xp_buf_printf(b, "</table>\n<h2>Features: %zu on, %zu off</h2>\n<ul id=\"features\">\n", n_on,
                  s->cfg->n_features - n_on);
    /* Off first: that is what a person opening this page is looking for. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < s->cfg->n_features; j++) {
            if ((s->feature_on[j] != 0) != pass)
                continue;
            xp_buf_puts(b, pass ? "<li class=\"on\">&#10003; " : "<li class=\"off\">&#10007; ");
            html(b, s->cfg->features[j].name);
            xp_buf_puts(b, "</li>\n");
        }
    xp_buf_puts(b, "</ul>\n<h2>History</h2>\n");
    xp_render_chart(b, x, s->health.system_score, level, &s->cfg->degradation);
    xp_buf_puts(b, "<h2>Recent events</h2>\n");
    if (x->n_events == 0) {
        xp_buf_puts(b, "<p id=\"no-events\"><small>nothing happened yet</small></p>\n");
    } else {
        xp_buf_puts(b, "<table id=\"events\">\n");
        for (size_t i = 0; i < x->n_events; i++)
            event_row(b, &x->events[i], s->now_wall);
        xp_buf_puts(b, "</table>\n");
    }
    xp_buf_puts(b, "<p><a href=\"");
    html(b, telemetry_path);
    xp_buf_puts(b, "\">Metrics</a> &middot; <a href=\"/health\">/health (JSON)</a> &middot; "
                   "<a href=\"/events\">/events (JSON)</a> &middot; "
                   "<small>refreshes every 5 s &middot; resilience_exporter " XP_VERSION
                   "</small></p>\n</body></html>\n");
    return xp_buf_failed(b) ? -1 : 0;
}
