/* The live state of one dependency and the thread that probes it.
 *
 * Each dependency has its own thread, so a slow or frozen backend delays nobody else. The
 * thread holds `mu` only to publish results, never across a probe, so a scrape (which copies
 * the view under `mu`) never waits on a backend. */
#ifndef XP_DEP_H
#define XP_DEP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "collector.h"
#include "config/config.h"
#include "model/snapshot.h"

typedef struct xp_dep {
    xp_dep_cfg cfg; /* owned: moved out of the xp_config it came from */
    pthread_mutex_t mu;
    xp_dep_view v;
    xp_window win; /* the outcomes behind v.br's rates; guarded by mu like v, never copied */

    pthread_t thread;
    int started;
    atomic_int stop;
    pthread_mutex_t wait_mu; /* guards the sleep, `exited` and `detached` */
    pthread_cond_t wake;
    int exited;
    int detached;
} xp_dep;

/* Takes over cfg's pointers (name, inst, fingerprint) and clears them in *cfg. */
xp_dep *xp_dep_create(xp_dep_cfg *cfg);
int xp_dep_start(xp_dep *d);
void xp_dep_view_copy(xp_dep *d, xp_dep_view *out);
/* Asks the thread to stop (it ends its probe early where the collector can). */
void xp_dep_signal_stop(xp_dep *d);
/* A dependency dropped or changed by a reload: its thread frees it once its probe ends. */
void xp_dep_retire(xp_dep *d);
/* Waits up to `seconds` for the thread to end; frees d and returns 0 if it did. */
int xp_dep_join(xp_dep *d, double seconds);
void xp_dep_free(xp_dep *d); /* only for a dependency whose thread never started or ended */

/* Called after every state change a scrape could see (probe result, rejected tick). */
extern void (*xp_dep_on_change)(void);

#endif
