#include "engine/dep.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/secret.h"
#include "engine/events.h"

const double xp_probe_buckets[XP_BUCKET_COUNT] = {.001, .0025, .005, .01, .025, .05, .1,
                                                  .25,  .5,    1,    2.5, 5,   10};

void (*xp_dep_on_change)(void);

void xp_dep_changed(void)
{
    if (xp_dep_on_change)
        xp_dep_on_change();
}

xp_dep *xp_dep_create(xp_dep_cfg *cfg)
{
    xp_dep *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    if (pthread_mutex_init(&d->mu, NULL) != 0)
        goto fail_mu;
    /* The loader filled cfg->breaker; the three version 1 fields are taken from where every
     * caller sets them, and a success is slow past the latency budget unless told otherwise. */
    xp_breaker_cfg bc = cfg->breaker;
    bc.failure_threshold = cfg->failure_threshold;
    bc.recovery_timeout = cfg->recovery_timeout;
    bc.half_open_requests = cfg->half_open_requests;
    if (!(bc.slow_call_duration > 0))
        bc.slow_call_duration = cfg->latency_budget;
    if (xp_breaker_init(&d->v.br, &d->win, &bc) != 0)
        goto fail_breaker;
    /* Breakers that open together must not draw the same jitter. */
    xp_breaker_seed(&d->v.br, (uint64_t)(uintptr_t)d ^ (uint64_t)(xp_clock_wall() * 1e6));
    d->cfg = *cfg;
    cfg->name = NULL;
    cfg->inst = NULL;
    cfg->fingerprint = NULL;
    cfg->ignore_reasons = NULL; /* freed by the loader already; never two owners */
    /* The secrets point into the fingerprint, which d owns now. */
    memset(cfg->secrets, 0, sizeof(cfg->secrets));
    cfg->n_secrets = 0;
    d->v.last_success_latency = -1;
    d->v.mode_override = (xp_mode_override){0, XP_MODE_AUTO, INFINITY};
    for (size_t i = 0; i < XP_DETAIL_MAX; i++)
        d->v.detail[i] = NAN;
    d->heap_index = SIZE_MAX;
    d->start_transition = XP_T_NONE;
    return d;

fail_breaker:
    pthread_mutex_destroy(&d->mu);
fail_mu:
    free(d);
    return NULL;
}

void xp_dep_free(xp_dep *d)
{
    if (!d)
        return;
    xp_dep_cfg_free(&d->cfg); /* destroys the instance, wipes the copies of the secrets */
    xp_window_free(&d->win);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

void xp_dep_view_copy(xp_dep *d, xp_dep_view *out)
{
    pthread_mutex_lock(&d->mu);
    *out = d->v;
    pthread_mutex_unlock(&d->mu);
}

void xp_dep_log_transition(const xp_dep *d, xp_transition t, const char *error,
                           const char *reason, const char *trip)
{
    static const char *const msgs[XP_T_COUNT] = {"breaker opened", "breaker half-open, trying",
                                                 "breaker closed", "breaker reopened"};
    if (t == XP_T_NONE)
        return;
    xp_events_transition(d->cfg.name, t, reason, error); /* GET /events */
    const char *from, *to;
    xp_transition_names(t, &from, &to);
    int level = (t == XP_T_CLOSED_OPEN || t == XP_T_HALF_OPEN_OPEN) ? XP_LOG_WARN : XP_LOG_INFO;
    /* The pairs that apply, packed: the first NULL ends the list xp_log reads. */
    const char *kv[10] = {"from", from, "to", to};
    size_t n = 4;
    if (reason && error && *error) {
        kv[n++] = "reason";
        kv[n++] = reason;
    }
    if (error && *error) {
        kv[n++] = "error";
        kv[n++] = error;
    }
    if (trip && *trip) {
        kv[n++] = "trip";
        kv[n++] = trip;
    }
    xp_log(level, d->cfg.name, msgs[t], kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], kv[6], kv[7],
           kv[8], kv[9], NULL);
}

/* An error text may quote bytes a hostile backend sent (libpq and hiredis do). Every page
 * shows it (JSON needs valid UTF-8: jansson refuses anything else and the key would vanish;
 * logs and HTML need no control characters), so anything but printable ASCII and
 * well-formed UTF-8 becomes '?'. */
static void clean_text(char *s)
{
    unsigned char *u = (unsigned char *)s;
    while (*u) {
        size_t n = *u < 0x80 ? 1 : (*u & 0xe0) == 0xc0 ? 2 : (*u & 0xf0) == 0xe0 ? 3 : (*u & 0xf8) == 0xf0 ? 4 : 0;
        size_t ok = n;
        for (size_t i = 1; i < n && ok; i++)
            if ((u[i] & 0xc0) != 0x80)
                ok = 0;
        /* Overlong forms and surrogates are invalid UTF-8 too. */
        if (ok == 2 && *u < 0xc2)
            ok = 0;
        if (ok == 3 && ((*u == 0xe0 && u[1] < 0xa0) || (*u == 0xed && u[1] >= 0xa0)))
            ok = 0;
        if (ok == 4 && ((*u == 0xf0 && u[1] < 0x90) || *u > 0xf4 || (*u == 0xf4 && u[1] >= 0x90)))
            ok = 0;
        if (ok == 1 && (*u < 0x20 || *u == 0x7f))
            ok = 0;
        if (!ok) {
            *u++ = '?';
            continue;
        }
        u += ok;
    }
}

/* Records the outcome of one probe in the view the pages read, and logs what changed. The
 * one place a probe's result enters the state. p->reason is XP_REASON_NONE for a success and
 * a valid reason for a failure. */
static void record_result(xp_dep *d, int rc, const xp_probe *p, double end, double duration)
{
    double wall = xp_clock_wall();
    const char *why = xp_reason_name(p->reason);
    xp_transition t;
    int was_ok;
    pthread_mutex_lock(&d->mu);
    xp_dep_view *v = &d->v;
    was_ok = !v->probed || v->last_success;
    /* A failure of a reason in ignore_reasons leaves the breaker alone; everything below
     * still records it as the failed probe it is. */
    int result = rc == 0                                   ? XP_CALL_SUCCESS
                 : d->cfg.ignore_mask & (1u << p->reason) ? XP_CALL_IGNORED
                                                           : XP_CALL_FAILURE;
    xp_breaker_record(&v->br, &d->win, result, duration, end, &t);
    xp_trip cause = v->br.last_trip;
    v->probed = 1;
    v->last_success = rc == 0;
    v->last_duration = duration;
    v->last_timestamp = wall;
    v->last_reason = p->reason;
    if (rc == 0) {
        v->last_error[0] = '\0';
        v->last_success_latency = duration;
    } else {
        snprintf(v->last_error, sizeof(v->last_error), "%s", p->err);
        snprintf(v->failure_error, sizeof(v->failure_error), "%s", p->err);
        v->failure_timestamp = wall;
        v->failure_reason = p->reason;
        v->failures[p->reason]++;
    }
    size_t b = 0;
    while (b < XP_BUCKET_COUNT && duration > xp_probe_buckets[b])
        b++;
    if (b < XP_BUCKET_COUNT)
        v->bucket[b]++;
    v->count++;
    v->sum += duration;
    memcpy(v->detail, p->detail, sizeof(v->detail));
    pthread_mutex_unlock(&d->mu);

    /* Log the first failure of a run and the recovery; repeats go to debug, as collectd's
     * c_complain does, so an outage does not flood the log. */
    if (rc != 0 && was_ok && t == XP_T_NONE)
        xp_log(XP_LOG_WARN, d->cfg.name, "probe failed", "reason", why, "error", p->err, NULL);
    else if (rc != 0)
        xp_log(XP_LOG_DEBUG, d->cfg.name, "probe failed", "reason", why, "error", p->err, NULL);
    else if (!was_ok && t == XP_T_NONE)
        xp_log(XP_LOG_INFO, d->cfg.name, "probe succeeded again", NULL);
    /* Why a move to OPEN happened (consecutive_failures, failure_rate, slow_call_rate, ...):
     * with rates, the failure that tipped it is only the last of many. */
    const char *trip = t == XP_T_CLOSED_OPEN || t == XP_T_HALF_OPEN_OPEN ? xp_trip_name(cause) : NULL;
    xp_dep_log_transition(d, t, rc != 0 ? p->err : NULL, rc != 0 ? why : NULL, trip);
    /* After the transition's event, so a level change it causes is recorded after it. */
    xp_dep_changed();
}

void xp_dep_probe(xp_dep *d)
{
    /* The deadline counts from when the probe really starts, so a probe that waited for a
     * worker still gets its whole timeout. */
    double start = xp_clock_mono();
    xp_probe p;
    memset(&p, 0, sizeof(p));
    p.deadline = start + d->cfg.timeout;
    p.cancel = &d->stop;
    for (size_t i = 0; i < XP_DETAIL_MAX; i++)
        p.detail[i] = NAN;

    int rc = d->cfg.collector->probe(d->cfg.inst, &p);
    double end = xp_clock_mono();
    double duration = end - start;
    /* A success that came back after the deadline is still a failure: the breaker must see
     * what the application would have seen. */
    if (rc == 0 && duration > d->cfg.timeout) {
        rc = -1;
        snprintf(p.err, sizeof(p.err), "timed out after %.3gs (timeout %.3gs)", duration,
                 d->cfg.timeout);
        p.reason = XP_REASON_TIMEOUT;
    }
    if (rc != 0 && p.err[0] == '\0')
        snprintf(p.err, sizeof(p.err), "probe failed");
    /* Every failure has exactly one reason; a collector that named none gets check. */
    if (rc == 0)
        p.reason = XP_REASON_NONE;
    else if (p.reason <= XP_REASON_NONE || p.reason >= XP_REASON_COUNT)
        p.reason = XP_REASON_CHECK;
    p.err[sizeof(p.err) - 1] = '\0';
    clean_text(p.err);
    /* Whatever a backend or library echoed, no secret of this dependency leaves the process. */
    xp_secret_scrub_all(p.err, sizeof(p.err), d->cfg.secrets, d->cfg.n_secrets);
    if (atomic_load(&d->stop))
        return; /* cut short by shutdown or reload: not the backend's fault */
    record_result(d, rc, &p, end, duration);
}
