/* How many threads serve HTTP: the web part starts that many, and the config refuses a
 * max_connections below it (SPEC section 4: libmicrohttpd cannot stop a pool whose workers
 * share fewer connections than there are workers). */
#ifndef XP_WORKERS_H
#define XP_WORKERS_H

/* One per online CPU, from 1 to 4. */
unsigned xp_http_workers(void);

#endif
