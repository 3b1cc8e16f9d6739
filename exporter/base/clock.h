/* Two clocks: monotonic seconds for deadlines and schedules (never jumps), wall seconds
 * since the epoch for timestamps shown to users. */
#ifndef XP_CLOCK_H
#define XP_CLOCK_H

#include <time.h>

double xp_clock_mono(void);
double xp_clock_wall(void);

/* Tests only: read both clocks from these functions instead (NULL = the real clock), so the
 * engine runs on a fake clock. Set before any thread reads a clock. */
/* t (seconds on either clock) as a timespec for pthread_cond_timedwait and friends: never a
 * negative or out-of-range tv_nsec, which would make the wait fail with EINVAL at once. */
struct timespec xp_clock_timespec(double t);

void xp_clock_override(double (*mono)(void), double (*wall)(void));

#endif
