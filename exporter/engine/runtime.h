/* The running set of dependencies and the config they came from, swapped whole by a reload.
 *
 * Readers (rendering /metrics, /health, /) take a snapshot under `xp_runtime_lock`, which
 * only the switch to a new runtime and snapshotting hold, and only for memory work: never
 * across I/O.
 *
 * Start, reload and stop are serialized: each runs whole before the next begins, whatever
 * thread asks (SIGHUP on the main thread, POST /-/reload on an HTTP thread). A reload is
 * two steps so the caller can switch its own settings (auth, log, telemetry path) in the
 * same all-or-nothing move: xp_runtime_prepare() does everything that can fail and changes
 * nothing; xp_runtime_commit() switches and cannot fail; xp_runtime_discard() drops a
 * prepared reload. Between the two, other starts, reloads and stops wait. */
#ifndef XP_RUNTIME_H
#define XP_RUNTIME_H

#include <stddef.h>

#include "config/config.h"
#include "engine/dep.h"
#include "model/snapshot.h"

typedef struct xp_runtime_next xp_runtime_next;

/* Takes ownership of cfg (freed on failure too), starts the scheduler and probes every
 * dependency once at once. 0 = ok; a second start fails. */
int xp_runtime_start(xp_config *cfg, char *err, size_t errlen);

/* Builds the runtime a reload switches to: dependencies whose settings are unchanged will
 * keep their breaker, counters and schedule; the rest start afresh. Takes ownership of cfg
 * (freed on failure). Returns NULL with err set when it cannot (out of memory, not started,
 * stopping): then nothing changed. Every successful prepare must be followed, on the same
 * thread, by exactly one commit or discard. */
xp_runtime_next *xp_runtime_prepare(xp_config *cfg, char *err, size_t errlen);
void xp_runtime_commit(xp_runtime_next *next);
void xp_runtime_discard(xp_runtime_next *next);
/* prepare + commit. 0 = switched; -1 = nothing changed, err says why. */
int xp_runtime_swap(xp_config *cfg, char *err, size_t errlen);

/* POST /-/breakers/NAME: puts a run-time mode on the dependency `name` (engine/override.h;
 * XP_MODE_AUTO clears it) for `seconds` (<= 0: until changed), on behalf of `client` (its
 * address, for the log and GET /events). Serialized with reloads, so the dependency changed
 * is the one the running config has. 0 = done, *out says what is in force; -1 = no such
 * dependency (or not running). */
struct xp_mode_change;
int xp_runtime_set_mode(const char *name, int mode, double seconds, const char *client,
                        struct xp_mode_change *out);

/* Records the outcome of a reload attempt for resilience_exporter_config_last_reload_*. */
void xp_runtime_reload_result(int ok);
/* Stops every probe, waiting at most `seconds` in all for those running. */
void xp_runtime_stop(double seconds);

/* Fills s (growing its arrays as needed; xp_snapshot_free releases them). Callers must hold
 * xp_runtime_lock() from here until they are done reading s->cfg and s->deps. */
int xp_runtime_snapshot(xp_snapshot *s);
/* The same without the views (s->views is left unset): the health model's inputs and result,
 * the features and the readiness only, for the change tracker, which evaluates after every
 * change. Same locking. */
int xp_runtime_snapshot_health(xp_snapshot *s);
void xp_snapshot_free(xp_snapshot *s);
void xp_runtime_lock(void);
void xp_runtime_unlock(void);
/* 1 once every dependency has finished its first probe (GET /-/ready), without a snapshot. */
int xp_runtime_ready(void);

/* Bumped on every change a scrape could see; a cached body is valid while it holds. */
unsigned long xp_runtime_version(void);

/* Tests only (weak, 0 in the exporter): non-zero makes the next prepare fail as out of
 * memory. */
int xp_runtime_test_fail_prepare(void);

/* For tests and measurements: the engine's worker pool and scheduler counters. */
typedef struct xp_runtime_stats {
    size_t deps;
    size_t workers, workers_idle, workers_busy, workers_peak, queued;
    unsigned long workers_started, dispatched, rejected;
} xp_runtime_stats;
void xp_runtime_stats_get(xp_runtime_stats *out);

#endif
