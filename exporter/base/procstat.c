#include "base/procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Boot time and the clock tick do not change while we run: read them once. */
static double boot_time = -1;
static long ticks;
static long page_size;

static void read_constants(void)
{
    if (boot_time >= 0)
        return;
    ticks = sysconf(_SC_CLK_TCK);
    page_size = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        unsigned long long bt;
        if (sscanf(line, "btime %llu", &bt) == 1) {
            boot_time = (double)bt;
            break;
        }
    }
    fclose(f);
}

static double count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

int xp_procstat_read(xp_procstat *p)
{
    read_constants();
    p->cpu_seconds = p->resident_bytes = p->virtual_bytes = p->start_time = -1;
    p->open_fds = count_fds();
    struct rlimit rl;
    p->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (double)rl.rlim_cur : -1;

    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields start after the last ')'. */
    char *s = strrchr(buf, ')');
    if (!s)
        return -1;
    unsigned long utime, stime, vsize;
    unsigned long long start;
    long rss;
    if (sscanf(s + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d "
               "%llu %lu %ld",
               &utime, &stime, &start, &vsize, &rss) != 5)
        return -1;
    if (ticks > 0) {
        p->cpu_seconds = (double)(utime + stime) / (double)ticks;
        if (boot_time >= 0)
            p->start_time = boot_time + (double)start / (double)ticks;
    }
    p->virtual_bytes = (double)vsize;
    p->resident_bytes = (double)rss * (double)page_size;
    return 0;
}
