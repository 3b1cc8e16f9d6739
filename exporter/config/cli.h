/* Command-line flags (SPEC section 3). Flags override the config file. */
#ifndef XP_CLI_H
#define XP_CLI_H

#include <stddef.h>

typedef struct xp_cli {
    const char *config_file; /* NULL: the default path, or the built-in defaults */
    const char *listen_address;
    const char *telemetry_path;
    const char *web_config_file;
    int log_level;  /* -1 when not given */
    int log_format; /* -1 when not given */
    int enable_lifecycle; /* --web.enable-lifecycle: the HTTP lifecycle endpoints answer */
    int config_check;
    const char *assume; /* --assume=NAME:STATE,...: with --config.check, print the what-if */
    int matrix;         /* --matrix: with --config.check, print every single and pair opened */
    int format_json;    /* --format=json (default text): how --assume and --matrix print */
    int version;
    int help;
} xp_cli;

/* Accepts --flag=value and --flag value. 0 = ok; -1 with err set on an unknown flag, a
 * missing value or a bad value. */
int xp_cli_parse(int argc, char *const *argv, xp_cli *out, char *err, size_t errlen);
extern const char xp_cli_usage[];

#endif
