/* A collector that exists only in the test tree. Each probe reads a script file whose first
 * word says what to do, so tests drive the core (breakers, deadlines, scores) exactly:
 *   ok [MS [VALUE]]  succeed after MS milliseconds; VALUE becomes dependency_fake_value
 *   fail [MESSAGE]   fail with MESSAGE
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

static const xp_key_def fake_keys[] = {
    {XP_KEY(fake_inst, script, XP_KEY_STRING)},
    {XP_SECRET_KEY(fake_inst, secret)},
    {NULL, 0, 0, 0},
};
static const char *const fake_secrets[] = {"secret", NULL};
static const xp_detail_def fake_details[] = {
    {"dependency_fake_value", "A value the fake collector's script reports.", XP_METRIC_GAUGE},
};

static void *fake_create(void)
{
    return calloc(1, sizeof(fake_inst));
}

static xp_set_result fake_set(void *inst, const char *key, const char *value, char *err,
                              size_t errlen)
{
    return xp_keys_set(fake_keys, inst, key, value, err, errlen);
}

static int fake_validate(void *inst, char *err, size_t errlen)
{
    if (!((fake_inst *)inst)->script) {
        snprintf(err, errlen, "fake needs script");
        return -1;
    }
    return 0;
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
    if (read_script(f, line, sizeof(line)) != 0) {
        snprintf(p->err, sizeof(p->err), "script missing");
        return -1;
    }
    /* Tests replace scripts by rename, so a read sees the old script or the new one. */
    while (strncmp(line, "hold", 4) == 0) {
        if (xp_clock_mono() >= p->deadline || atomic_load(p->cancel)) {
            snprintf(p->err, sizeof(p->err), "timed out");
            return -1;
        }
        sleep_s(0.01);
        if (read_script(f, line, sizeof(line)) != 0) {
            snprintf(p->err, sizeof(p->err), "script missing");
            return -1;
        }
    }

    double ms = 0, value = NAN;
    if (strncmp(line, "ok", 2) == 0) {
        sscanf(line + 2, "%lf %lf", &ms, &value);
        sleep_s(ms / 1000);
        p->detail[0] = value;
        return 0;
    }
    if (strncmp(line, "fail", 4) == 0) {
        /* The message is cut to what err holds. */
        snprintf(p->err, sizeof(p->err), "%.200s", line[4] ? line + 5 : "scripted failure");
        return -1;
    }
    if (strncmp(line, "hang", 4) == 0) {
        while (xp_clock_mono() < p->deadline && !atomic_load(p->cancel))
            sleep_s(0.01);
        snprintf(p->err, sizeof(p->err), "timed out");
        return -1;
    }
    if (strncmp(line, "stuck", 5) == 0) {
        sscanf(line + 5, "%lf", &ms);
        sleep_s(ms / 1000);
        return 0;
    }
    snprintf(p->err, sizeof(p->err), "bad script");
    return -1;
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
    .secret_keys = fake_secrets,
    .create = fake_create,
    .set = fake_set,
    .validate = fake_validate,
    .target = fake_target,
    .probe = fake_probe,
    .destroy = fake_destroy,
};
