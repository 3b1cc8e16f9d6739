#include "web/chart.h"

#include <math.h>

#include "model/level.h"

/* The drawing area in SVG units: the plot, then the level strip under it. */
#define W 760
#define LEFT 34
#define RIGHT 750
#define TOP 8
#define BOTTOM 128 /* score 0 */
#define STRIP_Y 136
#define STRIP_H 12
#define AXIS_Y 164

const char xp_chart_css[] =
    "#chart{max-width:100%;height:auto;margin-bottom:1em}"
    "#chart .grid{stroke:#ddd;stroke-width:1}#chart .thr{stroke:#bbb;stroke-dasharray:4 3}"
    "#chart .score{fill:none;stroke:#1565c0;stroke-width:2}"
    "#chart text{font:11px system-ui,sans-serif;fill:#666}"
    "#chart .lv0{fill:#2e7d32}#chart .lv1{fill:#f9a825}#chart .lv2{fill:#ef6c00}"
    "#chart .lv3{fill:#c62828}#chart .lv4{fill:#6a1b9a}#chart .none{fill:#eee}";

/* The span drawn: the last hour, or less while the process is younger (rounded up to five
 * minutes, at least five), so a fresh exporter's first minutes are not a sliver. */
static double span_of(const xp_status_extra *x)
{
    double age = x->n_history ? x->now - x->history[0].start : 0;
    double span = 300 * ceil(age / 300);
    if (span < 300)
        span = 300;
    return span < x->span ? span : x->span;
}

static double x_of(const xp_status_extra *x, double span, double t)
{
    double from = x->now - span;
    if (t < from)
        t = from;
    if (t > x->now)
        t = x->now;
    return LEFT + (RIGHT - LEFT) * (t - from) / span;
}

static double y_of(double score)
{
    if (score < 0)
        score = 0;
    if (score > 100)
        score = 100;
    return BOTTOM - (BOTTOM - TOP) * score / 100;
}

static int level_class(int level)
{
    return level >= 0 && level < XP_LEVEL_COUNT ? level : XP_LEVEL_EMERGENCY;
}

void xp_render_chart(xp_buf *b, const xp_status_extra *x, double now_score, int now_level,
                     const xp_degradation_cfg *deg)
{
    xp_buf_printf(b,
                  "<svg id=\"chart\" data-buckets=\"%zu\" width=\"%d\" height=\"%d\" "
                  "viewBox=\"0 0 %d %d\" role=\"img\" "
                  "aria-label=\"System health score and degradation level, last hour\">"
                  "<title>System health score (line) and degradation level (strip), last hour"
                  "</title>\n",
                  x->n_history, W, AXIS_Y + 22, W, AXIS_Y + 22);
    /* Axes: scores 0, 50, 100 and the level thresholds. */
    for (int s = 0; s <= 100; s += 50)
        xp_buf_printf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                         "<text x=\"2\" y=\"%.1f\">%d</text>\n",
                      LEFT, y_of(s), RIGHT, y_of(s), y_of(s) + 4, s);
    for (int i = 0; i < 4; i++)
        xp_buf_printf(b, "<line class=\"thr\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\">"
                         "<title>%s from %g</title></line>\n",
                      LEFT, y_of(deg->threshold[i]), RIGHT, y_of(deg->threshold[i]),
                      xp_level_name(i), deg->threshold[i]);
    double span = span_of(x);
    for (int q = 4; q >= 0; q--) {
        double ago = span * q / 4;
        if (q)
            xp_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">-%gm</text>",
                          x_of(x, span, x->now - ago), AXIS_Y, ago / 60);
        else
            xp_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">now</text>", RIGHT, AXIS_Y);
    }
    xp_buf_printf(b, "<text x=\"%d\" y=\"%d\">line: system health score &#183; strip: degradation "
                     "level (the worst of each %.0f s)</text>\n",
                  LEFT, AXIS_Y + 16, x->period);

    /* The level strip: one rectangle per stored bucket, until the next one (or now); grey
     * where nothing was recorded yet. */
    double first = x->n_history ? x->history[0].start : x->now;
    if (x_of(x, span, first) > LEFT)
        xp_buf_printf(b, "<rect class=\"none\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>",
                      LEFT, STRIP_Y, x_of(x, span, first) - LEFT, STRIP_H);
    for (size_t i = 0; i < x->n_history;) {
        /* Buckets of the same level in a row make one rectangle: an hour at one level is
         * one element, not 360. */
        size_t j = i + 1;
        while (j < x->n_history && x->history[j].level_max == x->history[i].level_max)
            j++;
        double a = x_of(x, span, x->history[i].start);
        double e = x_of(x, span, j < x->n_history ? x->history[j].start : x->now);
        if (e > a)
            xp_buf_printf(b, "<rect class=\"lv%d\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>",
                          level_class(x->history[i].level_max), a, STRIP_Y, e - a, STRIP_H);
        i = j;
    }
    xp_buf_puts(b, "\n");

    /* The score: a step line through each bucket's lowest score, closed by the score now. */
    if (x->n_history) {
        xp_buf_printf(b, "<path class=\"score\" d=\"M%.1f %.1f", x_of(x, span, x->history[0].start),
                      y_of(x->history[0].score_min));
        for (size_t i = 1; i < x->n_history; i++)
            xp_buf_printf(b, "H%.1fV%.1f", x_of(x, span, x->history[i].start),
                          y_of(x->history[i].score_min));
        xp_buf_printf(b, "H%.1fV%.1f\"/>\n", x_of(x, span, x->now), y_of(now_score));
    }
    xp_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">level now: %s</text>",
                  RIGHT, STRIP_Y - 2, xp_level_name(now_level));
    xp_buf_puts(b, "</svg>\n");
}
