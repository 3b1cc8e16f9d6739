/* The parsed, validated configuration. Everything here is immutable once loaded; a reload
 * builds a new xp_config and the runtime swaps to it. */
#ifndef XP_CONFIG_H
#define XP_CONFIG_H

#include <stddef.h>

#include "collector.h"
#include "model/health.h"

#define XP_DEFAULT_CONFIG_PATH "/etc/resilience_exporter/resilience_exporter.ini"
#define XP_CONFIG_ERR_MAX 1024 /* room for an unknown key's list of every known one */
#define XP_DEP_SECRETS_MAX 16

typedef struct xp_dep_cfg {
    char *name; /* the dependency label */
    const xp_collector *collector;
    void *inst; /* the collector's instance, owned */
    double weight;
    double interval;       /* seconds */
    double timeout;        /* seconds, < interval */
    double latency_budget; /* seconds; default timeout / 4 */
    double recovery_timeout;
    unsigned failure_threshold;
    unsigned half_open_requests;
    int open_level;
    /* Everything the breaker reads (model/breaker.h): the three fields above copied in, plus
     * the window, rate, backoff, jitter and mode keys of SPEC section 4, defaults resolved
     * (slow_call_duration = latency_budget, max_recovery_timeout = 10 x recovery_timeout;
     * 0 = unset for the rate thresholds, window_time and recovery_jitter). */
    xp_breaker_cfg breaker;
    /* ignore_reasons as a set: bit r for xp_reason r. The key's text ("a,b", in reason order)
     * lives only while the section is read, for the fingerprint; NULL afterwards. */
    unsigned ignore_mask;
    char *ignore_reasons;
    char target[XP_TARGET_MAX]; /* from collector->target(), credential-free */
    /* The parsed settings in canonical form, generated from the key tables: "key=value\0"
     * for every key of the section's tables, in table order, defaults filled in, durations in
     * seconds, KEY_file read as KEY. xp_dep_cfg_same compares these fingerprint_len bytes, so
     * a rewritten duration or reordered keys are no change and a rotated secret is one. After
     * them, in the same allocation (owned), copies of the secrets below. Never print it. */
    char *fingerprint;
    size_t fingerprint_len;
    /* Every secret value of the dependency (secret keys, passwords inside a dsn or URL),
     * pointing into fingerprint: scrubbed from every probe error. Never print them. */
    const char *secrets[XP_DEP_SECRETS_MAX];
    size_t n_secrets;
} xp_dep_cfg;

/* client_auth_type of the exporter-toolkit's web config, in the order of Go's tls.ClientAuthType. */
typedef enum {
    XP_CLIENT_AUTH_NONE,               /* NoClientCert (the default) */
    XP_CLIENT_AUTH_REQUEST,            /* RequestClientCert: asked for, neither needed nor checked */
    XP_CLIENT_AUTH_REQUIRE_ANY,        /* RequireAnyClientCert: needed, not checked */
    XP_CLIENT_AUTH_VERIFY_IF_GIVEN,    /* VerifyClientCertIfGiven: checked when sent */
    XP_CLIENT_AUTH_REQUIRE_AND_VERIFY, /* RequireAndVerifyClientCert: needed and checked */
} xp_client_auth;

enum { XP_TLS10, XP_TLS11, XP_TLS12, XP_TLS13 }; /* min_version, max_version */

typedef struct xp_web_user {
    char *name;
    char *hash; /* bcrypt; secret */
} xp_web_user;

typedef struct xp_web_header {
    char *name;
    char *value; /* "": the header is left out (the toolkit's "unset if blank") */
} xp_web_header;

typedef struct xp_rate_limit {
    unsigned burst; /* requests per period per client address; 0: no limit */
    double period;  /* seconds */
} xp_rate_limit;

typedef struct xp_web_cfg {
    /* [web] of the main config. --web.config.file replaces the TLS and basic auth keys. */
    char *tls_cert_file; /* NULL when unset */
    char *tls_key_file;
    char *basic_auth_user;
    char *basic_auth_password_hash; /* secret */
    unsigned max_connections;       /* default 512 */
    char *api_key_hash;             /* bcrypt of the API key; secret; NULL when unset */
    xp_rate_limit rate_limit;       /* rate_limit = N/PERIOD */
    /* Only a --web.config.file sets these; [web] leaves the defaults. */
    char *tls_client_ca_file;
    int tls_client_auth;                 /* xp_client_auth */
    int tls_min_version, tls_max_version; /* XP_TLS12 and XP_TLS13 by default */
    /* Every basic auth user: [web]'s one, or the web config file's basic_auth_users. */
    xp_web_user *users;
    size_t n_users;
    xp_web_header *headers; /* http_server_config.headers */
    size_t n_headers;
    char *web_config_file; /* the file the TLS and auth settings came from; NULL: [web] */
} xp_web_cfg;

typedef struct xp_config {
    char *path;  /* the file it came from, or "(built-in defaults)" */
    int builtin; /* 1 when running on the compiled-in defaults */
    char *listen_address;  /* default ":9866" */
    char *telemetry_path;  /* default "/metrics" */
    int log_level;         /* XP_LOG_* */
    int log_format;
    xp_web_cfg web;
    xp_degradation_cfg degradation;
    xp_dep_cfg *deps;
    size_t n_deps;
    xp_feature_cfg *features;
    size_t n_features;
} xp_config;

/* Each loader returns NULL on error and writes "FILE:LINE: message" (or "FILE: message"
 * when no line applies) into err; the message never quotes a secret, a *_file's contents or a
 * password inside a URL or DSN. Relative paths in *_file keys and tls_*_file are read from the
 * config file's directory; none of them, nor the config file, may be a FIFO or a device.
 * Lines longer than inih's buffer (197 characters) are refused, never cut; so are indented
 * continuation lines, repeated keys and repeated sections. */
xp_config *xp_config_load(const char *path, char *err, size_t errlen);
/* The shipped etc/resilience_exporter.ini compiled in; unset ${VAR} read as empty. */
xp_config *xp_config_load_builtin(char *err, size_t errlen);
/* Parses text as if it were the file `name`. unset_vars_empty: see load_builtin. */
xp_config *xp_config_parse(const char *name, const char *text, size_t len, int unset_vars_empty,
                           char *err, size_t errlen);
/* --web.config.file: the exporter-toolkit web configuration (YAML). Its TLS, basic auth and
 * header settings replace those of cfg->web (api_key_hash, rate_limit and max_connections
 * stay). The certificate, key and client CA it names are loaded and checked. 0 = ok; else err
 * holds "FILE:LINE: message" (never a hash, a key or a certificate) and cfg is unchanged. */
int xp_config_load_web(xp_config *cfg, const char *path, char *err, size_t errlen);
void xp_config_free(xp_config *cfg);
/* One line for --config.check, e.g. "FILE: ok, 4 dependencies (...), 16 features". */
void xp_config_summary(const xp_config *cfg, char *buf, size_t len);
int xp_config_dep_index(const xp_config *cfg, const char *name); /* -1 if none */
/* 1 when a and b are the same dependency with the same meaning (name, collector, every
 * parsed setting, secrets included), however each was written. */
int xp_dep_cfg_same(const xp_dep_cfg *a, const xp_dep_cfg *b);
/* Frees what d owns (name, the collector's instance, the fingerprint with the copies of the
 * secrets, wiped) and zeroes d. For whoever took d over from its xp_config. */
void xp_dep_cfg_free(xp_dep_cfg *d);

/* "500ms", "10s", "1m", "1h", or a bare number of seconds. 0 = ok; must be > 0 and at most
 * 30 days. */
int xp_duration_parse(const char *s, double *seconds);
/* ${VAR}, ${VAR:-default}, $$. Returns malloc'd string or NULL with err naming VAR. */
char *xp_env_expand(const char *in, int unset_vars_empty, char *err, size_t errlen);

/* The compiled-in shipped config, generated by the build from etc/resilience_exporter.ini. */
extern const char xp_builtin_config[];
extern const size_t xp_builtin_config_len;

#endif
