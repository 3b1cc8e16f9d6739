/* GET /health?wait=D with If-None-Match: the connection is suspended (libmicrohttpd's
 * suspend/resume) until the state tag differs from the client's, or the wait ends, or the
 * exporter stops. A waiting request holds no thread and no lock: it is an entry in a list
 * and a suspended connection (which counts against the connection limit, as any other).
 *
 * One thread of its own resumes waiters: woken by the change tracker (engine/watch.h) when
 * the tag moves, by a new waiter, or at the earliest deadline. The list and every suspend
 * and resume happen under one lock, so a waiter is resumed exactly once. */
#ifndef XP_LONGPOLL_H
#define XP_LONGPOLL_H

#include <stddef.h>

#include <microhttpd.h>

#include "model/statetag.h"

/* The longest wait a client may ask for, in seconds. */
#define XP_LONGPOLL_MAX_WAIT 60.0

typedef struct xp_waiter {
    struct MHD_Connection *c;
    char if_none_match[128]; /* the client's tags */
    unsigned long gen;       /* the tracker's generation when it began to wait */
    double deadline;         /* monotonic seconds */
    int listed;
    struct xp_waiter *prev, *next;
} xp_waiter;

/* Before the daemon starts: at most max_waiters at once. 0 = ok. */
int xp_longpoll_start(size_t max_waiters);
/* Resumes every waiter (each then answers) and refuses new ones; joins the thread. Call it
 * before libmicrohttpd stops: a suspended connection must not outlive the daemon. */
void xp_longpoll_stop(void);

/* From the access handler, on the request's last call: suspends c until the tag moves past
 * generation gen and no longer matches if_none_match, or until deadline (monotonic). 0 =
 * suspended (return MHD_YES and queue nothing; the handler is called again once resumed);
 * -1 = refused (too many waiters, stopping, or the header too long): answer at once. */
int xp_longpoll_suspend(xp_waiter *w, struct MHD_Connection *c, const char *if_none_match,
                        unsigned long gen, double deadline);
/* When the request ends: takes w off the list if it is still there. */
void xp_longpoll_forget(xp_waiter *w);
/* Waiting now (tests and measurements). */
size_t xp_longpoll_waiting(void);
/* 1 once xp_longpoll_stop began. */
int xp_longpoll_stopping(void);

/* Parses the `wait` query value: a duration as in the config ("30s", "500ms", "1m", a bare
 * number of seconds) or 0, at most XP_LONGPOLL_MAX_WAIT. 0 = ok with *seconds set; -1 with
 * err set. */
int xp_longpoll_parse_wait(const char *s, double *seconds, char *err, size_t errlen);

#endif
