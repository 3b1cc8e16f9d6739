/* A collector that exists only in the test tree. Each probe reads a script file whose first
 * word says what to do, so tests drive the core (breakers, deadlines, scores) exactly:
 *   ok [MS [VALUE]]  succeed after MS milliseconds; VALUE becomes dependency_fake_value
 *   fail [reason=R] [MESSAGE]  fail with MESSAGE, of reason R (default check)
 *   hang             wait for the deadline (or cancellation), then fail: a frozen backend
 *   hold             like hang, but as soon as the script says something else, do that: a
 *                    probe that stays in flight until the test lets it go
 *   stuck MS         ignore the deadline, sleep MS, succeed: a collector that overruns
 * A missing file fails the probe. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "collector.h"
#include "config/keys.h"

typedef struct fake_inst {
    char *script;
    char *secret; /* never shown: for tests that hunt for leaked secrets */
} fake_inst;

static const xp_key fake_keys[] = {
    XP_KEY(fake_inst, script, XP_K_STRING, .flags = XP_KEY_REQUIRED),
    XP_KEY(fake_inst, secret, XP_K_STRING, .flags = XP_KEY_SECRET),
    XP_KEY_END,
};
static const xp_detail_def fake_details[] = {
    {"dependency_fake_value", "A value the fake collector's script reports.", XP_METRIC_GAUGE},
};

static void *fake_create(void)
{
    return calloc(1, sizeof(fake_inst));
}

static void fake_target(const void *inst, char *buf, size_t len)
{
    snprintf(buf, len, "file://%s", ((const fake_inst *)inst)->script);
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The script's first line into line (without its newline); -1 when the file is missing. */
static int read_script(const fake_inst *f, char *line, size_t len)
{
    FILE *fp = fopen(f->script, "r");
    if (!fp)
        return -1;
    if (!fgets(line, (int)len, fp))
        line[0] = '\0';
    fclose(fp);
    line[strcspn(line, "\n")] = '\0';
    return 0;
}

static int fake_probe(void *inst, xp_probe *p)
{
    fake_inst *f = inst;
    char line[512] = "";
    if (read_script(f, line, sizeof(line)) != 0)
        return xp_probe_fail(p, XP_REASON_CONNECT, "script missing");
    /* Tests replace scripts by rename, so a read sees the old script or the new one. */
    while (strncmp(line, "hold", 4) == 0) {
        if (xp_clock_mono() >= p->deadline || atomic_load(p->cancel))
            return xp_probe_fail(p, XP_REASON_TIMEOUT, "timed out");
        sleep_s(0.01);
        if (read_script(f, line, sizeof(line)) != 0)
            return xp_probe_fail(p, XP_REASON_CONNECT, "script missing");
    }

    double ms = 0, value = NAN;
    if (strncmp(line, "ok", 2) == 0) {
        sscanf(line + 2, "%lf %lf", &ms, &value);
        sleep_s(ms / 1000);
        p->detail[0] = value;
        return 0;
    }
    if (strncmp(line, "fail", 4) == 0) {
        const char *msg = line[4] ? line + 5 : "";
        xp_reason reason = XP_REASON_CHECK;
        if (strncmp(msg, "reason=", 7) == 0) {
            size_t n = strcspn(msg + 7, " ");
            for (int r = XP_REASON_NONE + 1; r < XP_REASON_COUNT; r++)
                if (strlen(xp_reason_name((xp_reason)r)) == n &&
                    strncmp(msg + 7, xp_reason_name((xp_reason)r), n) == 0)
                    reason = (xp_reason)r;
            msg += 7 + n;
            msg += *msg == ' ';
        }
        /* The message is cut to what err holds. */
        return xp_probe_fail(p, reason, "%.200s", *msg ? msg : "scripted failure");
    }
    if (strncmp(line, "hang", 4) == 0) {
        while (xp_clock_mono() < p->deadline && !atomic_load(p->cancel))
            sleep_s(0.01);
        return xp_probe_fail(p, XP_REASON_TIMEOUT, "timed out");
    }
    if (strncmp(line, "stuck", 5) == 0) {
        sscanf(line + 5, "%lf", &ms);
        sleep_s(ms / 1000);
        return 0;
    }
    return xp_probe_fail(p, XP_REASON_PROTOCOL, "bad script");
}

static void fake_destroy(void *inst)
{
    if (!inst)
        return;
    xp_keys_free(fake_keys, inst);
    free(inst);
}

const xp_collector xp_collector_fake = {
    .name = "fake",
    .details = fake_details,
    .n_details = 1,
    .keys = fake_keys,
    .create = fake_create,
    .validate = NULL,
    .target = fake_target,
    .probe = fake_probe,
    .destroy = fake_destroy,
};
