/* The live state of one dependency, and one probe of it from start to recorded result.
 *
 * A dependency owns no thread: the scheduler (engine/scheduler.c) decides when it probes and
 * hands the probe to a worker of the pool (engine/pool.c). The worker holds `mu` only to
 * publish the result, never across the probe, so a scrape (which copies the view under
 * `mu`) never waits on a backend. */
#ifndef XP_DEP_H
#define XP_DEP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "collector.h"
#include "config/config.h"
#include "engine/pool.h"
#include "engine/schedule.h"
#include "model/snapshot.h"

typedef struct xp_dep {
    xp_dep_cfg cfg; /* owned: moved out of the xp_config it came from; read-only after */
    pthread_mutex_t mu; /* guards v; held only for memory work, never across I/O */
    xp_dep_view v;
    xp_window win; /* the outcomes behind v.br's rates; guarded by mu like v, never copied */

    /* The probe's cancel flag: set when the dependency is retired by a reload or the
     * exporter stops; a probe cut short this way records nothing. */
    atomic_int stop;

    /* Scheduling: guarded by the scheduler's lock (engine/scheduler.c), never by mu. */
    xp_sched sched;
    double due;        /* heap key: xp_sched_wake() when last armed */
    size_t heap_index; /* SIZE_MAX when not in the heap */
    int busy;          /* a probe of it is queued or running in the pool */
    int retired;       /* dropped by a reload: freed as soon as it is not busy */
    xp_transition start_transition; /* OPEN -> HALF_OPEN taken at dispatch, logged by the worker */
    int mode_expiry; /* the job dispatched ends its run-time mode (engine/override.h), no probe */
    xp_pool_job job;
} xp_dep;

/* Takes over cfg's pointers (name, inst, fingerprint and the secrets inside it) and clears
 * them in *cfg. */
xp_dep *xp_dep_create(xp_dep_cfg *cfg);
void xp_dep_free(xp_dep *d);
void xp_dep_view_copy(xp_dep *d, xp_dep_view *out);

/* Runs one probe now (on the calling worker) and records its result. */
void xp_dep_probe(xp_dep *d);

/* Logs a breaker transition of d and records it for GET /events. A transition caused by a
 * failed probe names its error and reason; the others pass NULL for both. trip (may be NULL)
 * says why a move to OPEN happened, as xp_trip_name() names it (the log line's `trip=`). */
void xp_dep_log_transition(const xp_dep *d, xp_transition t, const char *error,
                           const char *reason, const char *trip);

/* Called after every state change a scrape could see (probe result, rejected tick). */
extern void (*xp_dep_on_change)(void);
void xp_dep_changed(void);

#endif
