/* The bcrypt threads: uncached credential checks run here, never on libmicrohttpd's workers.
 *
 * A worker that meets a credential not in the cache suspends its connection and queues a
 * job; a bcrypt thread runs xp_auth_verify, writes the verdict into the job and resumes the
 * connection, which a worker then answers. The queue is bounded: past it a request is told to
 * come back (503), so a flood of wrong passwords holds at most the queue's memory and the
 * bcrypt threads' CPU, and the threads run at a lower priority (nice 10) than the HTTP workers:
 * a scrape whose credentials are cached is served between two hashes of the flood. */
#ifndef XP_AUTHPOOL_H
#define XP_AUTHPOOL_H

#include <microhttpd.h>

#include "web/auth.h"
#include "web/gate.h"

#define XP_AUTHPOOL_THREADS 2
#define XP_AUTHPOOL_QUEUE 64 /* jobs waiting for a thread, at most */

typedef struct xp_authjob xp_authjob;

int xp_authpool_start(void);
/* Suspends c and queues the check of cred (copied). The job begins with an xp_gate_ctx
 * (owned = XP_GATE_CTX_JOB, verdict PENDING until c is resumed), so it serves as the request's
 * context. NULL, c untouched, when the queue is full or the pool stopped. */
xp_authjob *xp_authpool_submit(struct MHD_Connection *c, const xp_cred *cred);
/* The verdict (PASS, REFUSED or BUSY once decided); *first_look is 1 on the first read after
 * the decision: the handler's repeated first call. */
xp_gate_verdict xp_authjob_verdict(xp_authjob *j, int *first_look);
/* The connection is done with the job. */
void xp_authjob_release(xp_authjob *j);
/* Resumes every connection still waiting (verdict BUSY), stops the threads (a hash in
 * progress is not waited for past a moment: its thread finishes alone). */
void xp_authpool_stop(void);

#endif
