/* What a page shows of the running exporter: the state of each dependency as its probes
 * left it (xp_dep_view) and a consistent picture of all of them taken at one instant
 * (xp_snapshot). The engine fills these; the exposition and the pages only read them. */
#ifndef XP_SNAPSHOT_H
#define XP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "collector.h"
#include "config/config.h"
#include "model/breaker.h"
#include "model/health.h"

#define XP_BUCKET_COUNT 13
extern const double xp_probe_buckets[XP_BUCKET_COUNT];

/* What a scrape sees of a dependency: copied whole under the lock. */
typedef struct xp_dep_view {
    xp_breaker br;
    /* The run-time mode (POST /-/breakers/NAME), `until` monotonic; br.mode is the mode in
     * force, which this and the config's mode decide (xp_mode_in_force). */
    xp_mode_override mode_override;
    int probed;           /* a probe has run: the probe_* series exist */
    int last_success;     /* of the last probe that ran */
    double last_duration; /* seconds */
    double last_timestamp; /* wall seconds */
    char last_error[XP_ERR_MAX]; /* of the last probe; empty after a success */
    char failure_error[XP_ERR_MAX]; /* the latest failure reason, kept after successes */
    double failure_timestamp;       /* wall seconds; 0 if never failed */
    double last_success_latency;    /* seconds; < 0 before the first success */
    xp_reason last_reason;          /* of the last probe; XP_REASON_NONE after a success */
    xp_reason failure_reason;       /* of the latest failure, kept after successes */
    uint64_t failures[XP_REASON_COUNT]; /* failed probes by reason ([XP_REASON_NONE] unused) */
    uint64_t bucket[XP_BUCKET_COUNT]; /* per bucket, not cumulative */
    uint64_t count;
    double sum;
    double detail[XP_DETAIL_MAX];
} xp_dep_view;

/* A consistent picture of everything a page shows, taken at one instant. */
typedef struct xp_snapshot {
    const xp_config *cfg; /* degradation, features, exporter settings; NOT cfg->deps */
    size_t n_deps;
    const xp_dep_cfg **deps; /* settings of each dependency, in config order */
    xp_dep_view *views;
    double *scores;
    int *feature_on;
    xp_health_result health;
    double now_mono, now_wall;
    int ready; /* every dependency has finished its first probe */
    int reload_ok;
    double reload_timestamp;
    xp_health_dep *hdeps;          /* scratch for the health model */
    size_t cap_deps, cap_features; /* allocated sizes, reused between snapshots */
} xp_snapshot;

#endif
