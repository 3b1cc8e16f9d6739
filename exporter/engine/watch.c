#include "engine/watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "engine/events.h"
#include "engine/runtime.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by mu: the requests to evaluate and to stop, the count of evaluations asked for
 * and done (for xp_watch_flush), and what the last evaluation found. */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static unsigned long asked, done;
static int stopping;
/* The thread waits for a change (not in the gap after an evaluation): only then does a
 * change signal it. A signal in the gap would wake it for nothing, up to a thousand times a
 * second at 10,000 dependencies (measured: that doubled the tracker's CPU). */
static int idle;
static char tag[XP_STATETAG_MAX];
static unsigned long generation;
static xp_history history;
static int history_ready;

static pthread_t thread;
static int running; /* written only by start and stop, on the main thread */

/* Set by the web part before the daemon starts; read on the watch thread. */
static _Atomic(void (*)(void)) listener;

/* Only the watch thread touches these: its snapshot (kept, so evaluations allocate nothing
 * once grown) and the level of the previous evaluation (-1: none yet). */
static xp_snapshot snap;
static int last_level = -1;

void xp_watch_notify(void)
{
    pthread_mutex_lock(&mu);
    asked++;
    if (idle)
        pthread_cond_signal(&wake);
    pthread_mutex_unlock(&mu);
}

void xp_watch_set_listener(void (*fn)(void))
{
    atomic_store(&listener, fn);
}

unsigned long xp_watch_tag(char out[XP_STATETAG_MAX])
{
    pthread_mutex_lock(&mu);
    memcpy(out, tag, XP_STATETAG_MAX);
    unsigned long g = generation;
    pthread_mutex_unlock(&mu);
    return g;
}

size_t xp_watch_history(double span, xp_history_slot *out, size_t cap, double *now)
{
    *now = xp_clock_mono();
    pthread_mutex_lock(&mu);
    size_t n = history_ready ? xp_history_since(&history, *now - span, out, cap) : 0;
    pthread_mutex_unlock(&mu);
    return n;
}

/* One evaluation of the running state. The runtime lock is held for the copy and the pure
 * computation only (as for a scrape). */
static void evaluate(void)
{
    char t[XP_STATETAG_MAX];
    xp_runtime_lock();
    int ok = xp_runtime_snapshot_health(&snap) == 0;
    if (ok)
        xp_statetag(&snap, t);
    xp_runtime_unlock();
    if (!ok)
        return; /* not started yet, stopped, or out of memory: the next change retries */
    int level = snap.health.level;
    double score = snap.health.system_score;

    if (last_level >= 0 && level != last_level)
        xp_events_level(last_level, level);
    last_level = level;

    pthread_mutex_lock(&mu);
    int moved = strcmp(t, tag) != 0;
    if (moved) {
        memcpy(tag, t, sizeof(tag));
        generation++;
    }
    if (!history_ready) {
        xp_history_init(&history, XP_WATCH_HISTORY_PERIOD);
        history_ready = 1;
    }
    xp_history_add(&history, xp_clock_mono(), score, level);
    pthread_mutex_unlock(&mu);

    void (*fn)(void) = atomic_load(&listener);
    if (moved && fn)
        fn();
}

/* An evaluation reads every dependency, and every probe is a change: at 10,000 dependencies
 * (1,000 probes a second) evaluating after each burst took 0.9 ms a time, 370 times a second,
 * four times the CPU of the probes themselves. So evaluations are spaced out to keep the
 * tracker near 1/WATCH_DUTY of a core: after one that took t of CPU, the next starts no
 * sooner than t x (WATCH_DUTY - 1) later, and never more than WATCH_GAP_MAX later. A small
 * config (an evaluation of a few microseconds) still answers a long-poll within a
 * millisecond or two; 10,000 dependencies within WATCH_GAP_MAX. Measured with perf at
 * 10,000 (issue 13; an evaluation took 1-2.5 ms on the loaded test machine): at 1/100 of
 * a core and a 0.25 s cap the tracker was 13 us of the 58 us each probe cost; 1/250 and a
 * 0.5 s cap bring it to a few us. CPU time, not wall time: a thread preempted on a loaded
 * machine must not stretch the gap. */
#define WATCH_DUTY 250.0
#define WATCH_GAP_MAX 0.5

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    double not_before = 0; /* CLOCK_MONOTONIC: the earliest start of the next evaluation */
    pthread_mutex_lock(&mu);
    for (;;) {
        idle = 1;
        while (!stopping && done == asked)
            pthread_cond_wait(&wake, &mu);
        idle = 0;
        /* Changes that come meanwhile are covered by the evaluation at the end of the gap. */
        while (!stopping && clock_s(CLOCK_MONOTONIC) < not_before) {
            struct timespec ts = xp_clock_timespec(not_before);
            (void)pthread_cond_clockwait(&wake, &mu, CLOCK_MONOTONIC, &ts);
        }
        if (stopping)
            break;
        unsigned long target = asked; /* every change up to here is covered by this one */
        pthread_mutex_unlock(&mu);
        double cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);
        evaluate();
        double gap = (clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu) * (WATCH_DUTY - 1);
        not_before = clock_s(CLOCK_MONOTONIC) + (gap < WATCH_GAP_MAX ? gap : WATCH_GAP_MAX);
        pthread_mutex_lock(&mu);
        done = target;
        pthread_cond_broadcast(&done_cv);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int xp_watch_start(void)
{
    if (running)
        return 0;
    pthread_mutex_lock(&mu);
    stopping = 0;
    asked++; /* the state at start is the first one to evaluate */
    pthread_mutex_unlock(&mu);
    if (pthread_create(&thread, NULL, run, NULL) != 0)
        return -1;
    running = 1;
    return 0;
}

void xp_watch_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_broadcast(&wake);
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    running = 0;
    xp_snapshot_free(&snap);
    last_level = -1;
}

int xp_watch_flush(double seconds)
{
    double until = xp_clock_wall() + seconds;
    struct timespec ts = {(time_t)until, (long)((until - (double)(time_t)until) * 1e9)};
    pthread_mutex_lock(&mu);
    unsigned long target = asked;
    int rc = 0;
    while (done < target && !stopping && rc == 0)
        rc = pthread_cond_timedwait(&done_cv, &mu, &ts);
    int ok = done >= target;
    pthread_mutex_unlock(&mu);
    return ok ? 0 : -1;
}
