/* resilience_exporter: probes each dependency behind a circuit breaker and serves the
 * breakers, health scores, degradation level and feature availability to Prometheus. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "web/auth.h"
#include "config/cli.h"
#include "config/config.h"
#include "web/http.h"
#include "base/buf.h"
#include "base/log.h"
#include "engine/events.h"
#include "engine/runtime.h"
#include "engine/watch.h"
#include "expo/whatif_report.h"
#include "model/whatif.h"

static xp_cli cli;
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;
static char listen_address[256]; /* to notice a reload that changes what needs a restart */

/* Loads the config the way the flags say: the named file, else the default path, else the
 * built-in defaults; then applies --web.config.file and the flag overrides. */
static xp_config *load_config(char *err, size_t errlen)
{
    xp_config *cfg;
    if (cli.config_file)
        cfg = xp_config_load(cli.config_file, err, errlen);
    else if (access(XP_DEFAULT_CONFIG_PATH, F_OK) == 0)
        cfg = xp_config_load(XP_DEFAULT_CONFIG_PATH, err, errlen);
    else
        cfg = xp_config_load_builtin(err, errlen);
    if (!cfg)
        return NULL;
    if (cli.web_config_file) {
        int replaced = cfg->web.tls_cert_file || cfg->web.basic_auth_user;
        if (xp_config_load_web(cfg, cli.web_config_file, err, errlen) != 0) {
            xp_config_free(cfg);
            return NULL;
        }
        if (replaced)
            xp_log(XP_LOG_WARN, NULL,
                   "--web.config.file replaces the TLS and basic auth keys of [web]", "config",
                   cfg->path, "web_config", cli.web_config_file, NULL);
    }
    char *over[2] = {NULL, NULL};
    if (cli.listen_address && !(over[0] = strdup(cli.listen_address)))
        goto oom;
    if (cli.telemetry_path && !(over[1] = strdup(cli.telemetry_path)))
        goto oom;
    if (over[0]) {
        free(cfg->listen_address);
        cfg->listen_address = over[0];
    }
    if (over[1]) {
        free(cfg->telemetry_path);
        cfg->telemetry_path = over[1];
    }
    if (cfg->telemetry_path[0] != '/') {
        snprintf(err, errlen, "telemetry path must start with /");
        xp_config_free(cfg);
        return NULL;
    }
    if (strlen(cfg->telemetry_path) >= XP_TELEMETRY_PATH_MAX) {
        snprintf(err, errlen, "telemetry path longer than %d characters",
                 XP_TELEMETRY_PATH_MAX - 1);
        xp_config_free(cfg);
        return NULL;
    }
    if (cli.log_level >= 0)
        cfg->log_level = cli.log_level;
    if (cli.log_format >= 0)
        cfg->log_format = cli.log_format;
    return cfg;
oom:
    free(over[0]);
    snprintf(err, errlen, "out of memory");
    xp_config_free(cfg);
    return NULL;
}

/* SIGHUP and POST /-/reload: all or nothing. Everything that can fail comes first: the
 * config, the web side's settings (TLS files, headers, copies of the credentials: checked and
 * loaded by xp_http_prepare, in force only at xp_http_commit) and the new runtime. Only then
 * do logging, the telemetry path, the web settings and the dependencies switch, none of
 * which can fail any more. A reload that fails keeps everything as it was and says why. */
static int reload(char *err, size_t errlen)
{
    pthread_mutex_lock(&reload_mu);
    xp_config *cfg = load_config(err, errlen);
    if (!cfg)
        goto fail;
    xp_http_next *web = xp_http_prepare(&cfg->web, err, errlen);
    if (!web) {
        xp_config_free(cfg);
        goto fail;
    }
    /* Read before the runtime takes cfg: after commit it may be freed by the next reload. */
    int level = cfg->log_level, format = cfg->log_format;
    char path[XP_TELEMETRY_PATH_MAX];
    snprintf(path, sizeof(path), "%s", cfg->telemetry_path); /* length checked by load_config */
    int restart_needed = strcmp(cfg->listen_address, listen_address) != 0;
    xp_runtime_next *next = xp_runtime_prepare(cfg, err, errlen);
    if (!next) {
        xp_http_discard(web);
        goto fail;
    }
    xp_log_setup(level, format);
    (void)xp_http_set_telemetry_path(path); /* fits: checked by load_config */
    xp_http_commit(web);
    xp_runtime_commit(next);
    if (restart_needed)
        xp_log(XP_LOG_WARN, NULL, "the listen address takes effect only at restart", NULL);
    xp_runtime_reload_result(1);
    pthread_mutex_unlock(&reload_mu);
    return 0;

fail:
    xp_log(XP_LOG_ERROR, NULL, "reload failed, keeping the running config", "error", err, NULL);
    xp_runtime_reload_result(0);
    pthread_mutex_unlock(&reload_mu);
    return -1;
}

/* Each dependency may keep a connection open, so thousands of them need more descriptors
 * than the usual soft limit of 1024: take what the hard limit allows, as Go programs do. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl); /* best effort: the old limit still works */
}

/* The reload with its event for GET /events (the error is the loader's, already free of
 * secrets). */
static int reload_and_record(char *err, size_t errlen)
{
    int rc = reload(err, errlen);
    xp_events_reload(rc == 0, rc == 0 ? NULL : err);
    return rc;
}

/* --config.check --assume=... / --matrix: the what-if over the loaded config. Exit status as
 * --config.check: 0, or 2 on a bad --assume. */
static int print_whatif(const xp_config *cfg)
{
    xp_buf out;
    xp_buf_init(&out);
    int rc;
    if (cli.matrix) {
        rc = xp_matrix_report(cfg, cli.format_json, &out);
    } else {
        xp_whatif w;
        char err[512];
        if (xp_whatif_parse(cli.assume, xp_whatif_config_name, cfg, cfg->n_deps, &w, err,
                            sizeof(err)) != 0) {
            fprintf(stderr, "resilience_exporter: error: %s\n", err);
            xp_buf_free(&out);
            return 2;
        }
        rc = xp_whatif_report(cfg, &w, cli.format_json, &out);
    }
    if (rc != 0 || !out.data) {
        fprintf(stderr, "resilience_exporter: error: out of memory\n");
        xp_buf_free(&out);
        return 1;
    }
    fputs(out.data, stdout);
    xp_buf_free(&out);
    return 0;
}

int main(int argc, char **argv)
{
    /* A SIGHUP that comes while the exporter starts is a reload for when it has started
     * (SPEC section 3), not the end of the process: blocked from the first instruction, it
     * waits for the sigwait loop. (SIGTERM stays deliverable until then, so a start-up that
     * hangs can still be stopped.) */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, NULL);
    char err[XP_CONFIG_ERR_MAX];
    if (xp_cli_parse(argc, argv, &cli, err, sizeof(err)) != 0) {
        fprintf(stderr, "resilience_exporter: error: %s\n%s", err, xp_cli_usage);
        return 2;
    }
    if (cli.help) {
        fputs(xp_cli_usage, stdout);
        return 0;
    }
    if (cli.version) {
        printf("resilience_exporter, version %s (revision: %s)\n", XP_VERSION, XP_REVISION);
        return 0;
    }
    xp_config *cfg = load_config(err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (cli.config_check && (cli.assume || cli.matrix)) {
        int rc = print_whatif(cfg);
        xp_config_free(cfg);
        return rc;
    }
    if (cli.config_check) {
        char summary[1024];
        xp_config_summary(cfg, summary, sizeof(summary));
        printf("%s\n", summary);
        xp_config_free(cfg);
        return 0;
    }
    xp_log_setup(cfg->log_level, cfg->log_format);
    if (cfg->builtin)
        xp_log(XP_LOG_WARN, NULL,
               "no config file found, running on built-in defaults", "path", XP_DEFAULT_CONFIG_PATH,
               NULL);

    /* Signals go to the main thread's sigwait only: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    raise_fd_limit();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        xp_log(XP_LOG_ERROR, NULL, "cannot initialise libcurl", NULL);
        xp_config_free(cfg);
        return 1;
    }
    snprintf(listen_address, sizeof(listen_address), "%s", cfg->listen_address);
    char ndeps[24], nusers[24];
    snprintf(ndeps, sizeof(ndeps), "%zu", cfg->n_deps);
    snprintf(nusers, sizeof(nusers), "%zu", cfg->web.n_users);
    xp_log(XP_LOG_INFO, NULL, "starting resilience_exporter", "version", XP_VERSION, "revision",
           XP_REVISION, "config", cfg->path, "listen_address", listen_address, "tls",
           cfg->web.tls_cert_file ? "on" : "off", "basic_auth_users", nusers, "api_key",
           cfg->web.api_key_hash ? "on" : "off", "dependencies", ndeps, NULL);
    /* The runtime exists before anything can ask for a reload: the HTTP server (POST
     * /-/reload) starts after it, and SIGHUP waits, blocked, for the loop below. So cfg,
     * which the runtime owns from here, stays as it is until xp_http_start has read it. */
    xp_http_opts ho = {.listen_address = listen_address,
                       .telemetry_path = cfg->telemetry_path,
                       .enable_lifecycle = cli.enable_lifecycle,
                       .web = &cfg->web};
    if (xp_runtime_start(cfg, err, sizeof(err)) != 0) {
        xp_log(XP_LOG_ERROR, NULL, "cannot start probes", "error", err, NULL);
        curl_global_cleanup();
        return 1;
    }
    /* Before the HTTP server, so the first request already finds the state evaluated. */
    if (xp_watch_start() != 0)
        xp_log(XP_LOG_ERROR, NULL, "cannot start the change tracker: no ETag changes, long-polls "
               "answer at the end of their wait, no level events", NULL);
    if (xp_http_start(&ho, reload_and_record, err, sizeof(err)) != 0) {
        xp_log(XP_LOG_ERROR, NULL, "cannot start HTTP server", "error", err, NULL);
        xp_http_stop();
        xp_watch_stop();
        xp_runtime_stop(1.2);
        curl_global_cleanup();
        return 1;
    }

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload_and_record(err, sizeof(err));
            continue;
        }
        xp_log(XP_LOG_INFO, NULL, "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               NULL);
        break;
    }
    /* Stop accepting and finish in-flight requests first (at most 0.5 s, then every
     * connection is closed, idle keep-alive ones included), then the probes (at most 1.2 s):
     * within the 2 s of SPEC section 3 whatever clients and backends do. */
    xp_http_stop();
    xp_watch_stop();
    xp_runtime_stop(1.2);
    xp_auth_free();
    curl_global_cleanup();
    xp_log(XP_LOG_INFO, NULL, "stopped", NULL);
    return 0;
}
