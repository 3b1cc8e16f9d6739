/* Two clocks: monotonic seconds for deadlines and schedules (never jumps), wall seconds
 * since the epoch for timestamps shown to users. */
#ifndef XP_CLOCK_H
#define XP_CLOCK_H

double xp_clock_mono(void);
double xp_clock_wall(void);

/* Tests only: read both clocks from these functions instead (NULL = the real clock), so the
 * engine runs on a fake clock. Set before any thread reads a clock. */
void xp_clock_override(double (*mono)(void), double (*wall)(void));

#endif
