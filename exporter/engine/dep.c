#include "engine/dep.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/secret.h"
#include "engine/events.h"

const double xp_probe_buckets[XP_BUCKET_COUNT] = {.001, .0025, .005, .01, .025, .05, .1,
                                                  .25,  .5,    1,    2.5, 5,   10};

void (*xp_dep_on_change)(void);

static void changed(void)
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
    if (pthread_mutex_init(&d->wait_mu, NULL) != 0)
        goto fail_wait_mu;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        goto fail_cond;
    /* Sleeps are measured on the monotonic clock so a wall-clock jump cannot skip probes. */
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&d->wake, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto fail_cond;
    }
    pthread_condattr_destroy(&ca);

    xp_breaker_cfg bc = {.failure_threshold = cfg->failure_threshold,
                         .recovery_timeout = cfg->recovery_timeout,
                         .half_open_requests = cfg->half_open_requests,
                         .slow_call_duration = cfg->latency_budget};
    if (xp_breaker_init(&d->v.br, &d->win, &bc) != 0)
        goto fail_breaker;
    /* Breakers that open together must not draw the same jitter. */
    xp_breaker_seed(&d->v.br, (uint64_t)(uintptr_t)d ^ (uint64_t)(xp_clock_wall() * 1e6));
    d->cfg = *cfg;
    cfg->name = NULL;
    cfg->inst = NULL;
    cfg->fingerprint = NULL;
    d->v.last_success_latency = -1;
    for (size_t i = 0; i < XP_DETAIL_MAX; i++)
        d->v.detail[i] = NAN;
    return d;

fail_breaker:
    pthread_cond_destroy(&d->wake);
fail_cond:
    pthread_mutex_destroy(&d->wait_mu);
fail_wait_mu:
    pthread_mutex_destroy(&d->mu);
fail_mu:
    free(d);
    return NULL;
}

void xp_dep_free(xp_dep *d)
{
    if (!d)
        return;
    if (d->cfg.collector)
        d->cfg.collector->destroy(d->cfg.inst);
    free(d->cfg.name);
    free(d->cfg.fingerprint);
    xp_window_free(&d->win);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->wait_mu);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

void xp_dep_view_copy(xp_dep *d, xp_dep_view *out)
{
    pthread_mutex_lock(&d->mu);
    *out = d->v;
    pthread_mutex_unlock(&d->mu);
}

/* A transition caused by a failed probe names its reason and error. */
static void log_transition(const xp_dep *d, xp_transition t, const char *error,
                           const char *reason)
{
    static const char *const msgs[XP_T_COUNT] = {"breaker opened", "breaker half-open, trying",
                                                 "breaker closed", "breaker reopened"};
    if (t == XP_T_NONE)
        return;
    xp_events_transition(d->cfg.name, t, reason, error); /* GET /events */
    const char *from, *to;
    xp_transition_names(t, &from, &to);
    int level = (t == XP_T_CLOSED_OPEN || t == XP_T_HALF_OPEN_OPEN) ? XP_LOG_WARN : XP_LOG_INFO;
    if (reason && error && *error)
        xp_log(level, d->cfg.name, msgs[t], "from", from, "to", to, "reason", reason, "error",
               error, NULL);
    else if (error && *error)
        xp_log(level, d->cfg.name, msgs[t], "from", from, "to", to, "error", error, NULL);
    else
        xp_log(level, d->cfg.name, msgs[t], "from", from, "to", to, NULL);
}

/* Sleeps until the monotonic time `until` or a stop request. Returns 1 when asked to stop. */
static int sleep_until(xp_dep *d, double until)
{
    struct timespec ts;
    ts.tv_sec = (time_t)until;
    ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&d->wait_mu);
    while (!atomic_load(&d->stop)) {
        int rc = pthread_cond_timedwait(&d->wake, &d->wait_mu, &ts);
        if (rc == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&d->wait_mu);
    return atomic_load(&d->stop);
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

static void run_probe(xp_dep *d, double start)
{
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
    const char *why = xp_reason_name(p.reason);
    p.err[sizeof(p.err) - 1] = '\0';
    clean_text(p.err);
    /* Whatever a backend or library echoed, no secret of this dependency leaves the process. */
    xp_secret_scrub_all(p.err, sizeof(p.err), d->cfg.secrets, d->cfg.n_secrets);
    if (atomic_load(&d->stop))
        return; /* cut short by shutdown or reload: not the backend's fault */

    double wall = xp_clock_wall();
    xp_transition t;
    int was_ok;
    pthread_mutex_lock(&d->mu);
    xp_dep_view *v = &d->v;
    was_ok = !v->probed || v->last_success;
    xp_breaker_record(&v->br, &d->win, rc == 0 ? XP_CALL_SUCCESS : XP_CALL_FAILURE, duration, end,
                      &t);
    v->probed = 1;
    v->last_success = rc == 0;
    v->last_duration = duration;
    v->last_timestamp = wall;
    v->last_reason = p.reason;
    if (rc == 0) {
        v->last_error[0] = '\0';
        v->last_success_latency = duration;
    } else {
        snprintf(v->last_error, sizeof(v->last_error), "%s", p.err);
        snprintf(v->failure_error, sizeof(v->failure_error), "%s", p.err);
        v->failure_timestamp = wall;
        v->failure_reason = p.reason;
        v->failures[p.reason]++;
    }
    size_t b = 0;
    while (b < XP_BUCKET_COUNT && duration > xp_probe_buckets[b])
        b++;
    if (b < XP_BUCKET_COUNT)
        v->bucket[b]++;
    v->count++;
    v->sum += duration;
    memcpy(v->detail, p.detail, sizeof(v->detail));
    pthread_mutex_unlock(&d->mu);

    /* Log the first failure of a run and the recovery; repeats go to debug, as collectd's
     * c_complain does, so an outage does not flood the log. */
    if (rc != 0 && was_ok && t == XP_T_NONE)
        xp_log(XP_LOG_WARN, d->cfg.name, "probe failed", "reason", why, "error", p.err, NULL);
    else if (rc != 0)
        xp_log(XP_LOG_DEBUG, d->cfg.name, "probe failed", "reason", why, "error", p.err, NULL);
    else if (!was_ok && t == XP_T_NONE)
        xp_log(XP_LOG_INFO, d->cfg.name, "probe succeeded again", NULL);
    log_transition(d, t, rc != 0 ? p.err : NULL, rc != 0 ? why : NULL);
    /* After the transition's event, so a level change it causes is recorded after it. */
    changed();
}

static void *worker(void *arg)
{
    xp_dep *d = arg;
    double next = xp_clock_mono(); /* every dependency probes once at start */
    while (!atomic_load(&d->stop)) {
        pthread_mutex_lock(&d->mu);
        double recovery = xp_breaker_recovery_at(&d->v.br);
        pthread_mutex_unlock(&d->mu);
        /* While OPEN, wake for the trial at the end of recovery_timeout even between ticks. */
        double wake = (recovery > 0 && recovery < next) ? recovery : next;
        if (sleep_until(d, wake))
            break;
        double now = xp_clock_mono();
        int is_tick = now >= next;
        xp_transition t;
        pthread_mutex_lock(&d->mu);
        int allowed;
        if (!is_tick && (d->v.br.state != XP_OPEN || xp_breaker_recovery_at(&d->v.br) > now)) {
            allowed = -1; /* woke before the tick and not for a due trial: spurious */
        } else {
            allowed = xp_breaker_allow(&d->v.br, now, &t);
        }
        pthread_mutex_unlock(&d->mu);
        if (allowed < 0)
            continue;
        if (allowed) {
            log_transition(d, t, NULL, NULL);
            run_probe(d, now);
        } else {
            changed(); /* a rejected tick moves circuit_breaker_calls_total */
        }
        if (is_tick) {
            /* Keep the grid: a probe that overran skips the ticks it missed, no burst. */
            double after = xp_clock_mono();
            next += d->cfg.interval;
            if (next <= after)
                next += d->cfg.interval * ceil((after - next) / d->cfg.interval + 1e-9);
        }
    }

    pthread_mutex_lock(&d->wait_mu);
    int detached = d->detached;
    d->exited = 1;
    pthread_mutex_unlock(&d->wait_mu);
    if (detached)
        xp_dep_free(d);
    return NULL;
}

int xp_dep_start(xp_dep *d)
{
    int rc = pthread_create(&d->thread, NULL, worker, d);
    if (rc != 0)
        return -1;
    d->started = 1;
    return 0;
}

void xp_dep_signal_stop(xp_dep *d)
{
    pthread_mutex_lock(&d->wait_mu);
    atomic_store(&d->stop, 1);
    pthread_cond_broadcast(&d->wake);
    pthread_mutex_unlock(&d->wait_mu);
}

void xp_dep_retire(xp_dep *d)
{
    if (!d->started) {
        xp_dep_free(d);
        return;
    }
    xp_dep_signal_stop(d);
    pthread_mutex_lock(&d->wait_mu);
    int exited = d->exited;
    if (!exited) {
        d->detached = 1;
        pthread_detach(d->thread);
    }
    pthread_mutex_unlock(&d->wait_mu);
    if (exited) {
        pthread_join(d->thread, NULL);
        xp_dep_free(d);
    }
}

int xp_dep_join(xp_dep *d, double seconds)
{
    if (!d->started) {
        xp_dep_free(d);
        return 0;
    }
    xp_dep_signal_stop(d);
    double until = xp_clock_wall() + seconds;
    struct timespec ts = {(time_t)until, (long)((until - (double)(time_t)until) * 1e9)};
    if (pthread_timedjoin_np(d->thread, NULL, &ts) != 0)
        return -1;
    xp_dep_free(d);
    return 0;
}
