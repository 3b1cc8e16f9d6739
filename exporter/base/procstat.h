/* The standard process_* metrics, read from /proc/self. */
#ifndef XP_PROCSTAT_H
#define XP_PROCSTAT_H

typedef struct xp_procstat {
    double cpu_seconds;
    double resident_bytes;
    double virtual_bytes;
    double open_fds;    /* < 0 if unknown */
    double max_fds;     /* < 0 if unknown */
    double start_time;  /* wall seconds since the epoch */
} xp_procstat;

/* 0 = ok; fields it could not read are left negative. */
int xp_procstat_read(xp_procstat *p);

#endif
