/* The running set of dependencies and the config they came from, swapped whole by a reload.
 *
 * Readers (rendering /metrics, /health, /) take a snapshot under `xp_runtime_lock`, which
 * only reloads and snapshotting hold, and only for memory work: never across I/O. */
#ifndef XP_RUNTIME_H
#define XP_RUNTIME_H

#include <stddef.h>

#include "config/config.h"
#include "engine/dep.h"
#include "model/snapshot.h"

typedef struct xp_runtime xp_runtime;

/* Takes ownership of cfg and starts a thread per dependency. 0 = ok. */
int xp_runtime_start(xp_config *cfg, char *err, size_t errlen);
/* Replaces the config: dependencies whose settings are unchanged keep their thread, breaker
 * and counters; the rest start afresh. Takes ownership of cfg. */
void xp_runtime_swap(xp_config *cfg);
/* Records the outcome of a reload attempt for resilience_exporter_config_last_reload_*. */
void xp_runtime_reload_result(int ok);
/* Stops every probe thread, waiting at most `seconds` in all. */
void xp_runtime_stop(double seconds);

/* Fills s (growing its arrays as needed; xp_snapshot_free releases them). Callers must hold
 * xp_runtime_lock() from here until they are done reading s->cfg and s->deps. */
int xp_runtime_snapshot(xp_snapshot *s);
void xp_snapshot_free(xp_snapshot *s);
void xp_runtime_lock(void);
void xp_runtime_unlock(void);

/* Bumped on every change a scrape could see; a cached body is valid while it holds. */
unsigned long xp_runtime_version(void);

#endif
