#include "web/longpoll.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "config/config.h"
#include "engine/watch.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by mu: the waiters, their number and limit, the thread's state. Every
 * MHD_suspend_connection and MHD_resume_connection of a waiter happens under mu too
 * (libmicrohttpd never calls back into us while holding its own lock, so the order
 * mu -> its lock is safe). */
static pthread_cond_t wake;
static xp_waiter *head;
static size_t waiting, limit;
static int stopping, kicked;
static pthread_t thread;
static int running;

static void kick_locked(void)
{
    kicked = 1;
    pthread_cond_signal(&wake);
}

/* The tracker's listener: the tag moved. */
static void on_change(void)
{
    pthread_mutex_lock(&mu);
    kick_locked();
    pthread_mutex_unlock(&mu);
}

static void unlink_locked(xp_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->listed = 0;
    waiting--;
}

/* Resumes the waiters that are due; returns the earliest deadline of those left (0: none). */
static double sweep_locked(double now)
{
    char tag[XP_STATETAG_MAX];
    unsigned long gen = xp_watch_tag(tag);
    double next = 0;
    xp_waiter *w = head;
    while (w) {
        xp_waiter *after = w->next;
        int due = stopping || now >= w->deadline ||
                  (gen != w->gen && tag[0] && !xp_statetag_matches(w->if_none_match, tag));
        if (due) {
            unlink_locked(w);
            MHD_resume_connection(w->c);
        } else if (next == 0 || w->deadline < next) {
            next = w->deadline;
        }
        w = after;
    }
    return next;
}

static void *run(void *arg)
{
    pthread_mutex_lock(&mu);
    for (;;) {
        double next = sweep_locked(xp_clock_mono());
        if (stopping)
            break;
        kicked = 0;
        if (next == 0) {
            while (!kicked && !stopping)
                pthread_cond_wait(&wake, &mu);
        } else {
            /* The condition variable runs on the monotonic clock, as the deadlines do. */
            struct timespec ts = {(time_t)next, (long)((next - (double)(time_t)next) * 1e9)};
            while (!kicked && !stopping && xp_clock_mono() < next)
                if (pthread_cond_timedwait(&wake, &mu, &ts) != 0)
                    break;
        }
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static pthread_once_t cond_once = PTHREAD_ONCE_INIT;
static int cond_ok;

/* Made once and never destroyed: the tracker may still be calling on_change while a stop
 * finishes. */
static void init_cond(void)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return;
    cond_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(&wake, &ca) == 0;
    pthread_condattr_destroy(&ca);
}

int xp_longpoll_start(size_t max_waiters)
{
    pthread_once(&cond_once, init_cond);
    if (!cond_ok)
        return -1;
    pthread_mutex_lock(&mu);
    limit = max_waiters;
    stopping = 0;
    kicked = 0;
    pthread_mutex_unlock(&mu);
    if (pthread_create(&thread, NULL, run, NULL) != 0)
        return -1;
    pthread_mutex_lock(&mu);
    running = 1;
    pthread_mutex_unlock(&mu);
    xp_watch_set_listener(on_change);
    return 0;
}

void xp_longpoll_stop(void)
{
    pthread_mutex_lock(&mu);
    int was = running;
    if (was) {
        stopping = 1; /* the thread resumes everyone on its way out */
        kick_locked();
    }
    pthread_mutex_unlock(&mu);
    if (!was)
        return;
    xp_watch_set_listener(NULL);
    pthread_join(thread, NULL);
    pthread_mutex_lock(&mu);
    running = 0;
    pthread_mutex_unlock(&mu);
}

int xp_longpoll_suspend(xp_waiter *w, struct MHD_Connection *c, const char *if_none_match,
                        unsigned long gen, double deadline)
{
    if (strlen(if_none_match) >= sizeof(w->if_none_match))
        return -1;
    pthread_mutex_lock(&mu);
    if (!running || stopping || waiting >= limit || w->listed) {
        pthread_mutex_unlock(&mu);
        return -1;
    }
    /* Suspended before it is listed: the thread never resumes a connection that is not. */
    MHD_suspend_connection(c);
    w->c = c;
    snprintf(w->if_none_match, sizeof(w->if_none_match), "%s", if_none_match);
    w->gen = gen;
    w->deadline = deadline;
    w->listed = 1;
    w->prev = NULL;
    w->next = head;
    if (head)
        head->prev = w;
    head = w;
    waiting++;
    kick_locked(); /* its deadline may be the earliest, or the tag moved meanwhile */
    pthread_mutex_unlock(&mu);
    return 0;
}

void xp_longpoll_forget(xp_waiter *w)
{
    pthread_mutex_lock(&mu);
    if (w->listed)
        unlink_locked(w);
    pthread_mutex_unlock(&mu);
}

size_t xp_longpoll_waiting(void)
{
    pthread_mutex_lock(&mu);
    size_t n = waiting;
    pthread_mutex_unlock(&mu);
    return n;
}

int xp_longpoll_stopping(void)
{
    pthread_mutex_lock(&mu);
    int s = stopping;
    pthread_mutex_unlock(&mu);
    return s;
}

int xp_longpoll_parse_wait(const char *s, double *seconds, char *err, size_t errlen)
{
    if (strcmp(s, "0") == 0 || strcmp(s, "0s") == 0 || strcmp(s, "0ms") == 0) {
        *seconds = 0;
        return 0;
    }
    double d;
    if (xp_duration_parse(s, &d) != 0) {
        snprintf(err, errlen, "wait: \"%.32s\" is not a duration (e.g. 30s, 500ms, 1m)", s);
        return -1;
    }
    if (d > XP_LONGPOLL_MAX_WAIT) {
        snprintf(err, errlen, "wait: %.32s is longer than the %.0fs allowed", s, XP_LONGPOLL_MAX_WAIT);
        return -1;
    }
    *seconds = d;
    return 0;
}
