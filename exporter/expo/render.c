#include "expo/render.h"

#include <math.h>
#include <string.h>

#include "expo/expo.h"
#include "model/level.h"

#define FROM_PROBES " Values come from background probes; a scrape never waits on a backend."

/* name{dependency="dep"[,k="v"]} value */
static void open_sample(xp_buf *b, const char *name, const char *dep)
{
    xp_buf_puts(b, name);
    xp_buf_puts(b, "{dependency=\"");
    xp_expo_label_value(b, dep);
    xp_buf_putc(b, '"');
}

static void close_sample(xp_buf *b, double v)
{
    xp_buf_puts(b, "} ");
    xp_expo_double(b, v);
    xp_buf_putc(b, '\n');
}

static void dep_sample(xp_buf *b, const char *name, const char *dep, double v)
{
    open_sample(b, name, dep);
    close_sample(b, v);
}

static void dep_sample_label(xp_buf *b, const char *name, const char *dep, const char *k,
                             const char *lv, double v)
{
    open_sample(b, name, dep);
    xp_buf_putc(b, ',');
    xp_buf_puts(b, k);
    xp_buf_puts(b, "=\"");
    xp_expo_label_value(b, lv);
    xp_buf_putc(b, '"');
    close_sample(b, v);
}

static void plain_sample(xp_buf *b, const char *name, double v)
{
    xp_buf_puts(b, name);
    xp_buf_putc(b, ' ');
    xp_expo_double(b, v);
    xp_buf_putc(b, '\n');
}

static void render_breakers(const xp_snapshot *s, xp_buf *b)
{
    static const char *const states[] = {"closed", "open", "half_open"};
    static const char *const results[XP_CALL_COUNT] = {"success", "failure", "rejected",
                                                       "ignored"};

    xp_expo_header(b, "circuit_breaker_state", "gauge",
                   "Circuit breaker state: 1 for the current state, 0 for the others." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        for (int st = 0; st < 3; st++) {
            open_sample(b, "circuit_breaker_state", s->deps[i]->name);
            xp_buf_puts(b, ",state=\"");
            xp_buf_puts(b, states[st]);
            xp_buf_putc(b, '"');
            close_sample(b, s->views[i].br.state == (xp_breaker_state)st);
        }

    xp_expo_header(b, "circuit_breaker_consecutive_failures", "gauge",
                   "Consecutive failed probes; back to 0 when the breaker closes." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        dep_sample(b, "circuit_breaker_consecutive_failures", s->deps[i]->name,
                   s->views[i].br.consecutive_failures);

    xp_expo_header(b, "circuit_breaker_calls_total", "counter",
                   "Probe calls through the breaker by result; rejected: skipped while open; "
                   "ignored: failed for a reason in ignore_reasons." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        for (int r = 0; r < XP_CALL_COUNT; r++)
            dep_sample_label(b, "circuit_breaker_calls_total", s->deps[i]->name, "result",
                             results[r], (double)s->views[i].br.calls[r]);

    xp_expo_header(b, "circuit_breaker_transitions_total", "counter",
                   "Circuit breaker state transitions." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        for (int t = 0; t < XP_T_COUNT; t++) {
            const char *from, *to;
            xp_transition_names((xp_transition)t, &from, &to);
            open_sample(b, "circuit_breaker_transitions_total", s->deps[i]->name);
            xp_buf_puts(b, ",from=\"");
            xp_buf_puts(b, from);
            xp_buf_puts(b, "\",to=\"");
            xp_buf_puts(b, to);
            xp_buf_putc(b, '"');
            close_sample(b, (double)s->views[i].br.transitions[t]);
        }

    xp_expo_header(b, "circuit_breaker_recovery_seconds", "gauge",
                   "Seconds until the next trial probe while the breaker is open, else 0." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        dep_sample(b, "circuit_breaker_recovery_seconds", s->deps[i]->name,
                   ceil(xp_breaker_recovery_seconds(&s->views[i].br, s->now_mono)));

    xp_expo_header(b, "circuit_breaker_last_failure_timestamp_seconds", "gauge",
                   "Unix time of the last failed probe, 0 if none." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        dep_sample(b, "circuit_breaker_last_failure_timestamp_seconds", s->deps[i]->name,
                   floor(s->views[i].failure_timestamp * 1000) / 1000);
}

/* The window's rates and the operator mode (SPEC section 5, version 2). */
static void render_rates_and_modes(const xp_snapshot *s, xp_buf *b)
{
    xp_expo_header(b, "circuit_breaker_failure_rate", "gauge",
                   "Failed share of the probes in the breaker's window, 0-1; -1 while the window "
                   "holds fewer than minimum_calls." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        dep_sample(b, "circuit_breaker_failure_rate", s->deps[i]->name,
                   xp_breaker_failure_rate(&s->views[i].br));

    xp_expo_header(b, "circuit_breaker_slow_call_rate", "gauge",
                   "Share of the probes in the breaker's window that succeeded slower than "
                   "slow_call_duration, 0-1; -1 while the window holds fewer than "
                   "minimum_calls." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        dep_sample(b, "circuit_breaker_slow_call_rate", s->deps[i]->name,
                   xp_breaker_slow_call_rate(&s->views[i].br));

    xp_expo_header(b, "circuit_breaker_mode", "gauge",
                   "Operator mode of the breaker: 1 for the mode in force, 0 for the "
                   "others." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        for (int m = 0; m < XP_MODE_COUNT; m++)
            dep_sample_label(b, "circuit_breaker_mode", s->deps[i]->name, "mode",
                             xp_mode_name((xp_mode)m), s->views[i].br.mode == (xp_mode)m);
}

static void render_health(const xp_snapshot *s, xp_buf *b)
{
    xp_expo_header(b, "health_score", "gauge",
                   "Health score of the dependency, 0-100, from its breaker and latency." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        dep_sample(b, "health_score", s->deps[i]->name, s->scores[i]);

    xp_expo_header(b, "system_health_score", "gauge",
                   "Weighted mean of the dependency health scores, 0-100." FROM_PROBES);
    plain_sample(b, "system_health_score", s->health.system_score);

    xp_expo_header(b, "degradation_level", "gauge",
                   "Degradation level: 0 optimal, 1 degraded, 2 limited, 3 minimal, 4 emergency." FROM_PROBES);
    plain_sample(b, "degradation_level", s->health.level);

    if (s->cfg->n_features) {
        xp_expo_header(b, "feature_availability", "gauge",
                       "1 when the application feature is available at the current level." FROM_PROBES);
        for (size_t j = 0; j < s->cfg->n_features; j++) {
            xp_buf_puts(b, "feature_availability{feature=\"");
            xp_expo_label_value(b, s->cfg->features[j].name);
            xp_buf_puts(b, "\"} ");
            xp_buf_putc(b, s->feature_on[j] ? '1' : '0');
            xp_buf_putc(b, '\n');
        }
    }
}

static void render_probes(const xp_snapshot *s, xp_buf *b)
{
    int any = 0;
    for (size_t i = 0; i < s->n_deps; i++)
        any |= s->views[i].probed;
    if (!any)
        return; /* probe_* series appear after the first probe */

    xp_expo_header(b, "dependency_probe_success", "gauge",
                   "1 if the last probe that ran succeeded, else 0." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        if (s->views[i].probed)
            dep_sample(b, "dependency_probe_success", s->deps[i]->name, s->views[i].last_success);

    xp_expo_header(b, "dependency_probe_duration_seconds", "histogram",
                   "Duration of probes, connect included." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++) {
        const xp_dep_view *v = &s->views[i];
        if (!v->probed)
            continue;
        static const char *const le[XP_BUCKET_COUNT] = {"0.001", "0.0025", "0.005", "0.01", "0.025",
                                                        "0.05",  "0.1",    "0.25",  "0.5",  "1",
                                                        "2.5",   "5",      "10"};
        uint64_t cum = 0;
        for (int k = 0; k < XP_BUCKET_COUNT; k++) {
            cum += v->bucket[k];
            dep_sample_label(b, "dependency_probe_duration_seconds_bucket", s->deps[i]->name, "le", le[k],
                             (double)cum);
        }
        dep_sample_label(b, "dependency_probe_duration_seconds_bucket", s->deps[i]->name, "le", "+Inf",
                         (double)v->count);
        dep_sample(b, "dependency_probe_duration_seconds_sum", s->deps[i]->name, v->sum);
        dep_sample(b, "dependency_probe_duration_seconds_count", s->deps[i]->name, (double)v->count);
    }

    xp_expo_header(b, "dependency_probe_last_timestamp_seconds", "gauge",
                   "Unix time at which the last probe ended." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        if (s->views[i].probed)
            dep_sample(b, "dependency_probe_last_timestamp_seconds", s->deps[i]->name,
                       floor(s->views[i].last_timestamp * 1000) / 1000);
}

/* Present from start for every reason, so a rate over it never starts from a missing series. */
static void render_failures(const xp_snapshot *s, xp_buf *b)
{
    xp_expo_header(b, "dependency_probe_failures_total", "counter",
                   "Failed probes by reason: timeout, dns, tls, connect, auth, rate_limited, "
                   "server_error, client_error, protocol, check." FROM_PROBES);
    for (size_t i = 0; i < s->n_deps; i++)
        for (int r = XP_REASON_NONE + 1; r < XP_REASON_COUNT; r++)
            dep_sample_label(b, "dependency_probe_failures_total", s->deps[i]->name, "reason",
                             xp_reason_name((xp_reason)r), (double)s->views[i].failures[r]);
}

/* The configured schedule of each dependency: rules and dashboards read the interval (a
 * staleness alert that follows each dependency's own interval) instead of assuming one. */
static void render_schedule(const xp_snapshot *s, xp_buf *b)
{
    xp_expo_header(b, "dependency_probe_interval_seconds", "gauge",
                   "Configured seconds between two probes of the dependency (interval).");
    for (size_t i = 0; i < s->n_deps; i++)
        dep_sample(b, "dependency_probe_interval_seconds", s->deps[i]->name, s->deps[i]->interval);
    xp_expo_header(b, "dependency_probe_timeout_seconds", "gauge",
                   "Configured deadline of one probe of the dependency, connect included "
                   "(timeout).");
    for (size_t i = 0; i < s->n_deps; i++)
        dep_sample(b, "dependency_probe_timeout_seconds", s->deps[i]->name, s->deps[i]->timeout);
}

static void render_info(const xp_snapshot *s, xp_buf *b)
{
    xp_expo_header(b, "dependency_info", "gauge",
                   "Monitored dependency: its collector and target (no credentials). Always 1.");
    for (size_t i = 0; i < s->n_deps; i++) {
        open_sample(b, "dependency_info", s->deps[i]->name);
        xp_buf_puts(b, ",collector=\"");
        xp_expo_label_value(b, s->deps[i]->collector->name);
        xp_buf_puts(b, "\",target=\"");
        xp_expo_label_value(b, s->deps[i]->target);
        xp_buf_putc(b, '"');
        close_sample(b, 1);
    }
}

/* Backend detail families, grouped by family across every dependency of that collector. */
static void render_details(const xp_snapshot *s, xp_buf *b)
{
    for (const xp_collector *const *c = xp_collectors; *c; c++) {
        for (size_t k = 0; k < (*c)->n_details && k < XP_DETAIL_MAX; k++) {
            const xp_detail_def *def = &(*c)->details[k];
            int header = 0;
            for (size_t i = 0; i < s->n_deps; i++) {
                if (s->deps[i]->collector != *c || isnan(s->views[i].detail[k]))
                    continue;
                if (!header) {
                    xp_expo_header(b, def->name,
                                   def->type == XP_METRIC_COUNTER ? "counter" : "gauge", def->help);
                    header = 1;
                }
                dep_sample(b, def->name, s->deps[i]->name, s->views[i].detail[k]);
            }
        }
    }
}

static void render_self(const xp_snapshot *s, const xp_procstat *ps, xp_buf *b)
{
    xp_expo_header(b, "resilience_exporter_build_info", "gauge",
                   "Version and revision of resilience_exporter. Always 1.");
    xp_buf_puts(b, "resilience_exporter_build_info{version=\"" XP_VERSION "\",revision=\"" XP_REVISION
                   "\"} 1\n");
    xp_expo_header(b, "resilience_exporter_config_last_reload_successful", "gauge",
                   "1 if the last config reload succeeded, else 0.");
    plain_sample(b, "resilience_exporter_config_last_reload_successful", s->reload_ok);
    xp_expo_header(b, "resilience_exporter_config_last_reload_success_timestamp_seconds", "gauge",
                   "Unix time of the last successful config load.");
    plain_sample(b, "resilience_exporter_config_last_reload_success_timestamp_seconds",
                 floor(s->reload_timestamp));
    if (!ps)
        return;
    if (ps->cpu_seconds >= 0) {
        xp_expo_header(b, "process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds.");
        plain_sample(b, "process_cpu_seconds_total", ps->cpu_seconds);
    }
    if (ps->resident_bytes >= 0) {
        xp_expo_header(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        plain_sample(b, "process_resident_memory_bytes", ps->resident_bytes);
        xp_expo_header(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        plain_sample(b, "process_virtual_memory_bytes", ps->virtual_bytes);
    }
    if (ps->open_fds >= 0) {
        xp_expo_header(b, "process_open_fds", "gauge", "Number of open file descriptors.");
        plain_sample(b, "process_open_fds", ps->open_fds);
    }
    if (ps->max_fds >= 0) {
        xp_expo_header(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        plain_sample(b, "process_max_fds", ps->max_fds);
    }
    if (ps->start_time >= 0) {
        xp_expo_header(b, "process_start_time_seconds", "gauge",
                       "Start time of the process since unix epoch in seconds.");
        plain_sample(b, "process_start_time_seconds", ps->start_time);
    }
}

int xp_render_metrics(const xp_snapshot *s, const xp_procstat *ps, xp_buf *out)
{
    render_breakers(s, out);
    render_rates_and_modes(s, out);
    render_health(s, out);
    render_probes(s, out);
    render_failures(s, out);
    render_schedule(s, out);
    render_info(s, out);
    render_details(s, out);
    render_self(s, ps, out);
    return xp_buf_failed(out) ? -1 : 0;
}
