#include "sockguard.h"

#include <fcntl.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received, which glibc's lacks */
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

/* How often the watchdog looks. What a fast server sends in one tick is what can arrive past
 * a cap: about 10 MB at loopback speed. */
#define GUARD_TICK_NS (5 * 1000 * 1000L)

/* guard_mu guards guard_list and, in every guard on it, fd, base, shut and fired. Held only to
 * scan, link and unlink: never across a probe's I/O. */
static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t guard_cv = PTHREAD_COND_INITIALIZER; /* the list became non-empty */
static xp_sock_guard *guard_list;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static int guard_running; /* written once, inside guard_once */

long long xp_sock_bytes_received(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
        return -1;
    return (long long)ti.tcpi_bytes_received;
}

static void *guard_main(void *arg)
{
    for (;;) {
        pthread_mutex_lock(&guard_mu);
        while (!guard_list)
            pthread_cond_wait(&guard_cv, &guard_mu);
        double now = xp_clock_mono();
        for (xp_sock_guard *g = guard_list; g; g = g->next) {
            if (g->shut)
                continue;
            int why = XP_GUARD_NONE;
            if (now >= g->deadline) {
                why = XP_GUARD_DEADLINE;
            } else if (g->base >= 0 && g->max_bytes >= 0) {
                long long got = xp_sock_bytes_received(g->fd);
                if (got >= 0 && got - g->base > g->max_bytes)
                    why = XP_GUARD_SIZE;
            }
            if (why != XP_GUARD_NONE) {
                /* Acts on the socket, not on a descriptor: the library's recv() loop reads
                 * end-of-file (or a reset) and returns. */
                shutdown(g->fd, SHUT_RDWR);
                g->shut = 1;
                g->fired = why;
            }
        }
        pthread_mutex_unlock(&guard_mu);
        struct timespec tick = {0, GUARD_TICK_NS};
        nanosleep(&tick, NULL);
    }
    return NULL;
}

static void guard_start(void)
{
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0)
        return;
    /* Lives as long as the process, asleep on the condition while no socket is watched. */
    if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
        pthread_create(&t, &attr, guard_main, NULL) == 0)
        guard_running = 1;
    pthread_attr_destroy(&attr);
}

void xp_sock_guard_init(xp_sock_guard *g, double deadline, long long max_bytes)
{
    memset(g, 0, sizeof(*g));
    g->deadline = deadline;
    g->max_bytes = max_bytes;
    g->fd = -1;
    g->base = -1;
}

static void guard_unlink(xp_sock_guard *g)
{
    pthread_mutex_lock(&guard_mu);
    for (xp_sock_guard **pp = &guard_list; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    pthread_mutex_unlock(&guard_mu);
    g->next = NULL;
    close(g->fd);
    g->fd = -1;
}

int xp_sock_guard_watch(xp_sock_guard *g, int fd)
{
    struct stat st;
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) != 0)
        return -1;
    if (g->fd >= 0 && g->ino == (unsigned long)st.st_ino)
        return 0; /* still the socket we watch */
    if (g->fd >= 0)
        guard_unlink(g); /* the library reconnected: watch the new socket instead */
    pthread_once(&guard_once, guard_start);
    if (!guard_running)
        return -1;
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0)
        return -1;
    g->fd = dup;
    g->ino = (unsigned long)st.st_ino;
    g->base = xp_sock_bytes_received(dup);
    g->shut = 0;
    pthread_mutex_lock(&guard_mu);
    g->next = guard_list;
    guard_list = g;
    pthread_cond_signal(&guard_cv);
    pthread_mutex_unlock(&guard_mu);
    return 0;
}

int xp_sock_guard_disarm(xp_sock_guard *g)
{
    if (!g)
        return XP_GUARD_NONE;
    if (g->fd >= 0)
        guard_unlink(g);
    return g->fired; /* unlinked: the watchdog no longer writes it */
}
