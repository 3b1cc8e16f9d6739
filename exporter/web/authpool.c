#include "web/authpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

/* Seconds xp_authpool_stop waits for a hash in progress before leaving its thread to finish
 * alone (a cost-18 hash takes seconds; SIGTERM must end the process within 2 s). */
#define STOP_WAIT 0.2

struct xp_authjob {
    xp_gate_ctx ctx; /* first: the request's context */
    struct MHD_Connection *conn;
    xp_cred cred;
    /* Guarded by mu: */
    int refs;         /* the connection's and the pool's */
    int resumed;      /* the connection was resumed: its verdict is final */
    int looked;       /* the handler has read the verdict */
    xp_authjob *next; /* in the queue, or in the list of running jobs */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
/* Guarded by mu: the jobs waiting (FIFO), the jobs being hashed, the slots taken (queued,
 * or reserved by a submit that is suspending its connection), the stop request, and the
 * threads still running. */
static xp_authjob *head, *tail, *running;
static unsigned taken;
static int stopping, alive;
static pthread_t threads[XP_AUTHPOOL_THREADS];
static int started;

/* With mu held: drops one reference; frees the job on the last. */
static void unref_locked(xp_authjob *j)
{
    if (--j->refs == 0) {
        xp_cred_wipe(&j->cred);
        free(j);
    }
}

static void list_remove(xp_authjob **list, xp_authjob *j)
{
    for (xp_authjob **p = list; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            return;
        }
}

/* With mu held: decides j once. Returns 1 when the caller must resume its connection (after
 * unlocking: libmicrohttpd takes its own locks there). */
static int decide_locked(xp_authjob *j, int verdict)
{
    if (j->resumed)
        return 0;
    j->ctx.verdict = verdict;
    j->ctx.retry_after = verdict == XP_GATE_BUSY ? 1 : 0;
    j->resumed = 1;
    return 1;
}

static void *thread_main(void *arg)
{
    /* Below the HTTP workers: on a busy machine a scrape goes first. Linux nice is per
     * thread; failure only costs the priority. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
        xp_log(XP_LOG_DEBUG, NULL, "cannot lower the bcrypt threads' priority", NULL);
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!head && !stopping)
            pthread_cond_wait(&cv, &mu);
        if (stopping)
            break;
        xp_authjob *j = head;
        head = j->next;
        if (!head)
            tail = NULL;
        taken--;
        j->next = running;
        running = j;
        pthread_mutex_unlock(&mu);
        int ok = xp_auth_verify(&j->cred);
        xp_cred_wipe(&j->cred);
        pthread_mutex_lock(&mu);
        list_remove(&running, j);
        int resume = decide_locked(j, ok ? XP_GATE_PASS : XP_GATE_REFUSED);
        struct MHD_Connection *c = j->conn;
        unref_locked(j);
        if (resume) {
            /* The connection stays suspended (and j alive, by its own reference) until this
             * call: nobody else resumes a job decided here. */
            pthread_mutex_unlock(&mu);
            MHD_resume_connection(c);
            pthread_mutex_lock(&mu);
        }
    }
    alive--;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

int xp_authpool_start(void)
{
    pthread_mutex_lock(&mu);
    stopping = 0;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < XP_AUTHPOOL_THREADS; i++) {
        if (pthread_create(&threads[i], NULL, thread_main, NULL) != 0) {
            xp_authpool_stop();
            return -1;
        }
        pthread_mutex_lock(&mu);
        alive++;
        started++;
        pthread_mutex_unlock(&mu);
    }
    return 0;
}

xp_authjob *xp_authpool_submit(struct MHD_Connection *c, const xp_cred *cred)
{
    xp_authjob *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    pthread_mutex_lock(&mu);
    int room = !stopping && alive > 0 && taken < XP_AUTHPOOL_QUEUE;
    taken += room;
    pthread_mutex_unlock(&mu);
    if (!room) {
        free(j);
        return NULL;
    }
    j->ctx = (xp_gate_ctx){XP_GATE_PENDING, 0, XP_GATE_CTX_JOB};
    j->conn = c;
    j->cred = *cred;
    j->refs = 2;
    /* Suspended before a thread can see the job, so no resume comes before the suspend. */
    MHD_suspend_connection(c);
    pthread_mutex_lock(&mu);
    int resume = 0;
    if (stopping) { /* stopped meanwhile: decided here, and resumed by us */
        taken--;
        resume = decide_locked(j, XP_GATE_BUSY);
        xp_cred_wipe(&j->cred);
        unref_locked(j);
    } else {
        if (tail)
            tail->next = j;
        else
            head = j;
        tail = j;
        pthread_cond_signal(&cv);
    }
    pthread_mutex_unlock(&mu);
    if (resume)
        MHD_resume_connection(c);
    return j;
}

xp_gate_verdict xp_authjob_verdict(xp_authjob *j, int *first_look)
{
    pthread_mutex_lock(&mu);
    xp_gate_verdict v = j->resumed ? (xp_gate_verdict)j->ctx.verdict : XP_GATE_PENDING;
    *first_look = j->resumed && !j->looked;
    j->looked |= j->resumed;
    pthread_mutex_unlock(&mu);
    return v;
}

void xp_authjob_release(xp_authjob *j)
{
    pthread_mutex_lock(&mu);
    unref_locked(j);
    pthread_mutex_unlock(&mu);
}

void xp_authpool_stop(void)
{
    struct MHD_Connection *resume[XP_AUTHPOOL_QUEUE + XP_AUTHPOOL_THREADS];
    size_t n = 0;
    pthread_mutex_lock(&mu);
    stopping = 1;
    /* Queued jobs: answered 503 and dropped. Running ones: answered 503 now; their thread
     * finds them decided and only lets go of them. */
    while (head) {
        xp_authjob *j = head;
        head = j->next;
        taken--;
        if (decide_locked(j, XP_GATE_BUSY))
            resume[n++] = j->conn;
        xp_cred_wipe(&j->cred);
        unref_locked(j);
    }
    tail = NULL;
    for (xp_authjob *j = running; j; j = j->next)
        if (decide_locked(j, XP_GATE_BUSY))
            resume[n++] = j->conn;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (size_t i = 0; i < n; i++)
        MHD_resume_connection(resume[i]);

    /* Wait a moment for the threads; one still hashing finishes alone (detached). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)(STOP_WAIT * 1e9);
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&mu);
    while (alive > 0 && pthread_cond_timedwait(&cv, &mu, &until) == 0)
        ;
    int n_started = started;
    started = 0;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n_started; i++)
        pthread_detach(threads[i]);
}
