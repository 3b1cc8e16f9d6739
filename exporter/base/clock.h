/* Two clocks: monotonic seconds for deadlines and schedules (never jumps), wall seconds
 * since the epoch for timestamps shown to users. */
#ifndef XP_CLOCK_H
#define XP_CLOCK_H

double xp_clock_mono(void);
double xp_clock_wall(void);

#endif
