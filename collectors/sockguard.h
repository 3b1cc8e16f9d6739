/* A watchdog for a socket that a client library reads in loops of its own.
 *
 * libpq reads a protocol message whole before it hands any of it over, after making room for
 * the length the message announces (up to 1 GB), and PQconsumeInput keeps calling recv() for
 * as long as data of such a message keeps arriving: a hostile server that announces a huge row
 * and streams it holds the probe inside one library call, past its deadline and every cap the
 * probe checks between calls (measured: 2 GB resident, 1 GB read, before this guard). No hook
 * reaches into that loop, so a thread outside it watches the socket and shuts it down once it
 * has received more than its cap or its deadline has passed; the loop then reads end-of-file
 * and returns.
 *
 * The guard works on its own duplicate of the descriptor, so whatever the library does with
 * its own (libpq closes it when the connection drops) the watchdog never touches a number
 * that another thread may have been handed since. */
#ifndef XP_SOCKGUARD_H
#define XP_SOCKGUARD_H

enum { XP_GUARD_NONE = 0, XP_GUARD_DEADLINE = 1, XP_GUARD_SIZE = 2 };

typedef struct xp_sock_guard {
    /* Set by xp_sock_guard_init, read by the watchdog. */
    double deadline;      /* xp_clock_mono() time after which the socket is shut down */
    long long max_bytes;  /* bytes received after arming past which it is shut down */
    /* Private: guarded by the watchdog's lock while armed. */
    int fd;               /* our duplicate, -1 when not armed */
    unsigned long ino;    /* the socket's identity, to notice the library's reconnects */
    long long base;       /* bytes received when armed; -1 where unknown (no cap then) */
    int shut;             /* the watchdog has shut this socket down */
    int fired;            /* XP_GUARD_* : why the watchdog shut a socket down */
    struct xp_sock_guard *next;
} xp_sock_guard;

/* Prepares g (not armed). deadline: when the watchdog steps in; set it a little after the
 * probe's own deadline, which the caller's waits already honour. */
void xp_sock_guard_init(xp_sock_guard *g, double deadline, long long max_bytes);

/* Watches fd (the library's current socket): arms on first use, re-arms when the library has
 * moved to another socket, does nothing otherwise. Call it before each library call that may
 * read. Returns 0, or -1 when the guard could not be set up (the socket is then unguarded). */
int xp_sock_guard_watch(xp_sock_guard *g, int fd);

/* Stops watching; after it returns the watchdog no longer touches the socket. Returns what the
 * watchdog did (XP_GUARD_*), sticky across re-arms since init. Call before the library closes
 * the connection, and at the end of the probe. NULL-safe and idempotent. */
int xp_sock_guard_disarm(xp_sock_guard *g);

/* Bytes the kernel has received on a TCP socket since it opened, or -1 where not known (a
 * unix socket). */
long long xp_sock_bytes_received(int fd);

#endif
