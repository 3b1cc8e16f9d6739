/* The status page's chart: the system score (a line) and the degradation level (a coloured
 * strip) over the last hour, as inline SVG. No script and no external asset: it draws under
 * the page's Content-Security-Policy (colours come from the page's inline style sheet, by
 * class). */
#ifndef XP_CHART_H
#define XP_CHART_H

#include "base/buf.h"
#include "model/health.h"
#include "web/pages.h"

/* CSS rules the chart's classes need; part of the page's style sheet. */
extern const char xp_chart_css[];

/* Appends the <svg> element. The history comes from x; now_score and now_level (the
 * snapshot's) close the line at "now"; deg gives the threshold lines. */
void xp_render_chart(xp_buf *b, const xp_status_extra *x, double now_score, int now_level,
                     const xp_degradation_cfg *deg);

#endif
