#include "config/cli.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "config/engine.h"

const char xp_cli_usage[] =
    "usage: resilience_exporter [--config.file=PATH] [--web.listen-address=HOST:PORT]\n"
    "                           [--web.telemetry-path=/metrics] [--web.config.file=PATH]\n"
    "                           [--log.level=debug|info|warn|error] [--log.format=logfmt|json]\n"
    "                           [--web.enable-lifecycle] [--config.check] [--version] [--help]\n"
    "       resilience_exporter --config.check [--assume=NAME:STATE,...] [--matrix]\n"
    "                           [--format=text|json] [--config.file=PATH]\n"
    "\n"
    "  --web.enable-lifecycle  allow POST /-/reload (without it: 403); SIGHUP always reloads\n"
    "  --assume=redis:open,s3:open  with --config.check: the level, scores and features as if\n"
    "                          those breakers were in that state (open, half_open, closed)\n"
    "  --matrix                with --config.check: the level and the features switched off\n"
    "                          for every single dependency and every pair opened\n"
    "  --format=text|json      how --assume and --matrix print (default text)\n";

enum { F_STRING, F_LEVEL, F_FORMAT, F_BOOL, F_OUTPUT };

typedef struct flag {
    const char *name;
    int kind;
    size_t offset;
} flag;

#define OFF(f) offsetof(xp_cli, f)
static const flag flags[] = {
    {"config.file", F_STRING, OFF(config_file)},
    {"web.listen-address", F_STRING, OFF(listen_address)},
    {"web.telemetry-path", F_STRING, OFF(telemetry_path)},
    {"web.config.file", F_STRING, OFF(web_config_file)},
    {"log.level", F_LEVEL, OFF(log_level)},
    {"log.format", F_FORMAT, OFF(log_format)},
    {"web.enable-lifecycle", F_BOOL, OFF(enable_lifecycle)},
    {"config.check", F_BOOL, OFF(config_check)},
    {"assume", F_STRING, OFF(assume)},
    {"matrix", F_BOOL, OFF(matrix)},
    {"format", F_OUTPUT, OFF(format_json)},
    {"version", F_BOOL, OFF(version)},
    {"help", F_BOOL, OFF(help)},
};

int xp_cli_parse(int argc, char *const *argv, xp_cli *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->log_level = out->log_format = -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0) {
            out->help = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\"", arg);
            return -1;
        }
        arg += 2;
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        const flag *f = NULL;
        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
            if (strlen(flags[k].name) == nlen && strncmp(flags[k].name, arg, nlen) == 0)
                f = &flags[k];
        if (!f) {
            snprintf(err, errlen, "unknown flag --%.*s", (int)(nlen > 64 ? 64 : nlen), arg);
            return -1;
        }
        void *field = (char *)out + f->offset;
        if (f->kind == F_BOOL) {
            if (eq && strcmp(eq + 1, "true") != 0 && strcmp(eq + 1, "false") != 0) {
                snprintf(err, errlen, "flag --%s takes no value", f->name);
                return -1;
            }
            *(int *)field = !eq || strcmp(eq + 1, "true") == 0;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            snprintf(err, errlen, "flag --%s needs a value", f->name);
            return -1;
        }
        char why[256];
        if (f->kind == F_STRING) {
            if (!*value) {
                snprintf(err, errlen, "flag --%s needs a value", f->name);
                return -1;
            }
            /* The same rule as telemetry_path in the file: no other endpoint may be hidden. */
            if (f->offset == OFF(telemetry_path) &&
                xp_cfg_check_telemetry_path(value, why, sizeof(why)) != 0) {
                snprintf(err, errlen, "flag --%s must be %s", f->name, why);
                return -1;
            }
            *(const char **)field = value;
        } else if (f->kind == F_OUTPUT) {
            if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0) {
                snprintf(err, errlen, "flag --%s: bad value \"%.64s\" (text or json)", f->name, value);
                return -1;
            }
            *(int *)field = strcmp(value, "json") == 0;
        } else {
            int v = f->kind == F_LEVEL ? xp_log_level_parse(value) : xp_log_format_parse(value);
            if (v < 0) {
                snprintf(err, errlen, "flag --%s: bad value \"%.64s\"", f->name, value);
                return -1;
            }
            *(int *)field = v;
        }
    }
    if ((out->assume || out->matrix) && !out->config_check) {
        snprintf(err, errlen, "--%s only goes with --config.check", out->assume ? "assume" : "matrix");
        return -1;
    }
    if (out->assume && out->matrix) {
        snprintf(err, errlen, "--assume and --matrix: one at a time");
        return -1;
    }
    return 0;
}
