/* What `--config.check --assume=...` and `--config.check --matrix` print: the what-if of
 * model/whatif.h over a config file, before any probe (every other breaker CLOSED with
 * nothing counted). Plain text for a person at a terminal (one line per scenario in the
 * matrix), or JSON for scripts. */
#ifndef XP_WHATIF_REPORT_H
#define XP_WHATIF_REPORT_H

#include "base/buf.h"
#include "config/config.h"
#include "model/whatif.h"

/* The level, system score, each dependency's state and score, and the features on and off
 * (each off one with what blocks it) as if `w` held. 0, or -1 when memory ran out. */
int xp_whatif_report(const xp_config *cfg, const xp_whatif *w, int json, xp_buf *out);
/* Nothing opened, then every single dependency, then every pair, opened: the level, the
 * system score and the features switched off. 0, or -1 when memory ran out. */
int xp_matrix_report(const xp_config *cfg, int json, xp_buf *out);

#endif
