/* --web.config.file (exporter/config/webconfig.c) against the Prometheus exporter-toolkit's own
 * examples: every file of its docs/web-config.yml and web/testdata/ (transcribed below, named
 * after the file; server.crt, server.key and client_selfsigned.pem are made here) is either
 * accepted with the settings it means, or refused naming the line and the key, as the toolkit
 * would, or as an unsupported toolkit key. Then the errors of bad input: the file, the line,
 * what is wrong, and never a hash or key material. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

#pragma GCC diagnostic ignored "-Wformat-nonliteral"

#define DEP "[dependency.db]\ncollector = postgres\ndsn = host=db\n"
/* The toolkit's test hashes (web/testdata/web_config_users.good.yml): alice123, bob123, ... */
#define ALICE "$2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby"
#define BOB "$2y$18$4VeFDzXIoPHKnKTU3O3GH.N.vZu06CVqczYZ8WvfzrddFU6tGqjR."
#define CAROL "$2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu"
#define DAVE "$2y$10$2UXri9cIDdgeKjBo4Rlpx.U3ZLDV8X1IxKmsfOvhcM5oXQt/mLmXq"
/* docs/web-config.yml's */
#define DOC_ALICE "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"
#define DOC_BOB "$2y$10$hLqFl9jSjoAAy95Z/zw8Ye8wkdMBM8c5Bn1ptYqP/AXyV0.oy0S8m"
#define TLS "tls_server_config:\n  cert_file: \"server.crt\"\n  key_file: \"server.key\"\n"

static char tmpdir[64], err[XP_CONFIG_ERR_MAX];

static const char *write_tmp(const char *name, const char *content)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    assert_int_equal(fclose(f), 0);
    return p;
}

/* The web file `text` over a main config; NULL and err set when refused. */
static xp_config *load(const char *text, const char **path)
{
    xp_config *cfg = xp_config_parse("t.ini", DEP, strlen(DEP), 0, err, sizeof(err));
    assert_non_null(cfg);
    *path = write_tmp("web.yml", text);
    if (xp_config_load_web(cfg, *path, err, sizeof(err)) == 0)
        return cfg;
    xp_config_free(cfg);
    return NULL;
}

typedef struct good {
    const char *file, *text;
    int tls, client_auth, min, max;
    size_t users, headers;
} good;

static const good goods[] = {
    {"docs/web-config.yml (before rate_limit)",
     "# TLS and basic authentication configuration example.\n#\n"
     "# Additionally, a certificate and a key file are needed.\n"
     "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\n"
     "# Usernames and passwords required to connect.\n"
     "basic_auth_users:\n  alice: " DOC_ALICE "\n  bob: " DOC_BOB "\n",
     1, XP_CLIENT_AUTH_NONE, XP_TLS12, XP_TLS13, 2, 0},
    {"web_config_empty.yml", "", 0, XP_CLIENT_AUTH_NONE, XP_TLS12, XP_TLS13, 0, 0},
    {"web_config_noAuth.good.yml", TLS "  client_auth_type: \"VerifyClientCertIfGiven\"\n", 1,
     XP_CLIENT_AUTH_VERIFY_IF_GIVEN, XP_TLS12, XP_TLS13, 0, 0},
    {"web_config_noAuth.good.blocking.yml", TLS "  client_auth_type: \"RequireAndVerifyClientCert\"\n",
     1, XP_CLIENT_AUTH_REQUIRE_AND_VERIFY, XP_TLS12, XP_TLS13, 0, 0},
    {"tls_config_noAuth.requireandverifyclientcert.good.yml",
     TLS "  client_auth_type: \"RequireAndVerifyClientCert\"\n"
         "  client_ca_file: \"client_selfsigned.pem\"\n",
     1, XP_CLIENT_AUTH_REQUIRE_AND_VERIFY, XP_TLS12, XP_TLS13, 0, 0},
    {"tls_config_noAuth.requireanyclientcert.good.yml",
     TLS "  client_auth_type: \"RequireAnyClientCert\"\n", 1, XP_CLIENT_AUTH_REQUIRE_ANY, XP_TLS12,
     XP_TLS13, 0, 0},
    {"(the toolkit's old name RequireClientCert)", TLS "  client_auth_type: RequireClientCert\n", 1,
     XP_CLIENT_AUTH_REQUIRE_ANY, XP_TLS12, XP_TLS13, 0, 0},
    {"(RequestClientCert, NoClientCert)", TLS "  client_auth_type: RequestClientCert\n", 1,
     XP_CLIENT_AUTH_REQUEST, XP_TLS12, XP_TLS13, 0, 0},
    {"(versions)", TLS "  client_auth_type: NoClientCert\n  min_version: TLS10\n  max_version: TLS12\n",
     1, XP_CLIENT_AUTH_NONE, XP_TLS10, XP_TLS12, 0, 0},
    {"web_config_headers.good.yml",
     "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
     "    Strict-Transport-Security: max-age=31536000; includeSubDomains\n"
     "    X-Content-Type-Options: nosniff\n    X-XSS-Protection: 1\n"
     "    Content-Security-Policy: \"default-src 'self' *.test.example.net\"\n",
     0, XP_CLIENT_AUTH_NONE, XP_TLS12, XP_TLS13, 0, 5},
    {"web_config_users.good.yml",
     TLS "basic_auth_users:\n  alice: " ALICE "\n  bob: " BOB "\n  carol: " CAROL "\n  dave: " DAVE "\n",
     1, XP_CLIENT_AUTH_NONE, XP_TLS12, XP_TLS13, 4, 0},
    {"web_config_users_noTLS.good.yml",
     "basic_auth_users:\n  alice: " ALICE "\n  bob: " BOB "\n  carol: " CAROL "\n  dave: " DAVE "\n", 0,
     XP_CLIENT_AUTH_NONE, XP_TLS12, XP_TLS13, 4, 0},
    {"(null sections)", "tls_server_config:\nhttp_server_config: ~\nbasic_auth_users: null\n", 0,
     XP_CLIENT_AUTH_NONE, XP_TLS12, XP_TLS13, 0, 0},
};

static void toolkit_good_files(void **state)
{
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        const good *g = &goods[i];
        const char *path;
        xp_config *cfg = load(g->text, &path);
        if (!cfg)
            fail_msg("%s: refused: %s", g->file, err);
        const xp_web_cfg *w = &cfg->web;
        char want[300];
        snprintf(want, sizeof(want), "%s/server.crt", tmpdir);
        if ((w->tls_cert_file != NULL) != g->tls || (g->tls && strcmp(w->tls_cert_file, want) != 0) ||
            w->tls_client_auth != g->client_auth || w->tls_min_version != g->min ||
            w->tls_max_version != g->max || w->n_users != g->users || w->n_headers != g->headers)
            fail_msg("%s: read as tls=%s auth=%d versions %d-%d users=%zu headers=%zu", g->file,
                     w->tls_cert_file ? w->tls_cert_file : "off", w->tls_client_auth,
                     w->tls_min_version, w->tls_max_version, w->n_users, w->n_headers);
        assert_string_equal(w->web_config_file, path);
        xp_config_free(cfg);
    }
}

static void users_and_headers_as_written(void **state)
{
    const char *path;
    xp_config *cfg = load(goods[10].text, &path);
    assert_non_null(cfg);
    const char *names[] = {"alice", "bob", "carol", "dave"}, *hashes[] = {ALICE, BOB, CAROL, DAVE};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(cfg->web.users[i].name, names[i]);
        assert_string_equal(cfg->web.users[i].hash, hashes[i]);
    }
    xp_config_free(cfg);
    cfg = load(goods[9].text, &path);
    assert_non_null(cfg);
    assert_string_equal(cfg->web.headers[1].name, "Strict-Transport-Security");
    assert_string_equal(cfg->web.headers[1].value, "max-age=31536000; includeSubDomains");
    assert_string_equal(cfg->web.headers[4].value, "default-src 'self' *.test.example.net");
    xp_config_free(cfg);
}

typedef struct bad {
    const char *file, *text;
    int line;
    const char *msg; /* %s: the temporary directory */
} bad;

#define UNSUPPORTED "is an exporter-toolkit key this exporter does not support"
static const bad bads[] = {
    {"docs/web-config.yml", TLS "basic_auth_users:\n  alice: " DOC_ALICE "\n"
     "# Rate limiting requests on the endpoint using a token bucket\n"
     "rate_limit:\n  interval: \"1s\"\n  burst: 20\n",
     7, "rate_limit " UNSUPPORTED ": set rate_limit = N/PERIOD in [web] of the main config"},
    {"web_config_rate_limiter_nonblocking.yaml", "rate_limit:\n  interval: 0\n  burst: 0\n", 1,
     "rate_limit " UNSUPPORTED},
    {"web_config_junk.yml", "hWkNKCp3fvIx3jKnsaBI\nTuEjdwNS8A2vYdFbiKqr\nay3RiOtykgt4m6m3KOol\n", 1,
     "the web config must be a mapping of keys"},
    {"web_config_junk_key.yml", "tls_server_config:\n  cert_filse: \"server.crt\"\n", 2,
     "unknown key \"cert_filse\" in tls_server_config (supported: cert_file, key_file, "
     "client_auth_type, client_ca_file, min_version, max_version)"},
    {"web_config_noAuth.bad.yml", TLS "  client_ca_file: \"/dev/null\"\n", 4,
     "client_ca_file is set but client_auth_type is NoClientCert"},
    {"web_config_auth_clientCAs_invalid.bad.yml", TLS "  client_ca_file: \"somefile\"\n", 4,
     "client_ca_file is set but client_auth_type is NoClientCert"},
    {"web_config_auth_client_san.good.yaml",
     TLS "  client_auth_type: \"RequireAndVerifyClientCert\"\n"
         "  client_ca_file: \"client_selfsigned.pem\"\n  client_allowed_sans:\n    - \"one\"\n",
     6, "tls_server_config.client_allowed_sans " UNSUPPORTED},
    {"web_config_auth_user_list_invalid.bad.yml", TLS "basic_auth_users:\n  john: doe\n", 5,
     "basic_auth_users: the password hash of \"john\" must be a bcrypt hash"},
    {"web_config_headers_content_type_options.bad.yml",
     "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n", 3,
     "X-Content-Type-Options must be nosniff, not \"sniff\""},
    {"web_config_headers_extra_header.bad.yml",
     "http_server_config:\n  headers:\n    Content-Type: foo\n", 3,
     "header \"Content-Type\" cannot be configured"},
    {"web_config_headers_frame_options.bad.yml",
     "http_server_config:\n  headers:\n    X-Frame-Options: foo\n", 3,
     "X-Frame-Options must be deny or sameorigin, not \"foo\""},
    {"web_config_noAuth_allCiphers.good.yml",
     TLS "  client_auth_type: \"VerifyClientCertIfGiven\"\n  cipher_suites:\n"
         "  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n",
     5, "tls_server_config.cipher_suites " UNSUPPORTED},
    {"web_config_noAuth_allCurves.good.yml",
     TLS "  client_auth_type: \"VerifyClientCertIfGiven\"\n  curve_preferences:\n    - CurveP256\n", 5,
     "tls_server_config.curve_preferences " UNSUPPORTED},
    {"web_config_noAuth_certPath_empty.bad.yml",
     "tls_server_config:\n  cert_file: \"\"\n  key_file: \"server.key\"\n", 2,
     "tls_server_config needs cert_file (it is empty)"},
    {"web_config_noAuth_certPath_invalid.bad.yml",
     "tls_server_config:\n  cert_file: \"somefile\"\n  key_file: \"server.key\"\n", 2,
     "cert_file: cannot read %s/somefile: No such file or directory"},
    {"web_config_noAuth_certPath_keyPath_empty.bad.yml",
     "tls_server_config:\n  cert_file: \"\"\n  key_file: \"\"\n  client_auth_type: \"x\"\n", 2,
     "tls_server_config needs cert_file"},
    {"web_config_noAuth_certPath_keyPath_invalid.bad.yml",
     "tls_server_config:\n  cert_file: \"somefile\"\n  key_file: \"somefile\"\n", 2,
     "cert_file: cannot read %s/somefile"},
    {"web_config_noAuth_cert_empty.bad.yml", "tls_server_config:\n  cert: \"\"\n  key_file: \"server.key\"\n",
     2, "tls_server_config.cert " UNSUPPORTED ": give the certificate as a file, cert_file"},
    {"web_config_noAuth_keyPath_empty.bad.yml",
     "tls_server_config:\n  cert_file: \"server.crt\"\n  key_file: \"\"\n", 3,
     "tls_server_config needs key_file (it is empty)"},
    {"web_config_noAuth_keyPath_invalid.bad.yml",
     "tls_server_config:\n  cert_file: \"server.cert\"\n  key_file: \"somefile\"\n", 2,
     "cert_file: cannot read %s/server.cert"},
    {"web_config_noAuth_key_empty.bad.yml", "tls_server_config:\n  cert_file: \"server.crt\"\n  key: \"\"\n",
     3, "tls_server_config.key " UNSUPPORTED},
    {"web_config_noAuth_noHTTP2.good.yml",
     TLS "  client_auth_type: \"VerifyClientCertIfGiven\"\n  max_version: TLS12\n"
         "http_server_config:\n  http2: false\n",
     7, "http_server_config.http2 " UNSUPPORTED ": it serves HTTP/1.1 only"},
    {"web_config_noAuth_someCiphers_noOrder.good.yml",
     TLS "  prefer_server_cipher_suites: false\n  min_version: TLS12\n", 4,
     "tls_server_config.prefer_server_cipher_suites " UNSUPPORTED},
    {"web_config_noAuth_tlsInline.good.yml",
     "tls_server_config:\n  cert: |\n    -----BEGIN CERTIFICATE-----\n    MIIFsDCC\n", 2,
     "tls_server_config.cert " UNSUPPORTED},
    {"web_config_noAuth_wrongTLSVersion.bad.yml",
     TLS "  client_auth_type: \"VerifyClientCertIfGiven\"\n  min_version: TLS111\n", 5,
     "min_version must be TLS10, TLS11, TLS12 or TLS13, not \"TLS111\""},
    /* Beyond the toolkit's files. */
    {"(malformed YAML)", "tls_server_config:\n  cert_file: [server.crt\n  key_file: x\n", 3,
     "not valid YAML: "},
    {"(tabs)", "tls_server_config:\n\tcert_file: server.crt\n", 2, "not valid YAML: "},
    {"(unknown top-level key)", "tls_config:\n  cert_file: x\n", 1,
     "unknown key \"tls_config\" at the top level (supported: tls_server_config, "
     "http_server_config, basic_auth_users)"},
    {"(a duplicate key)", TLS "  cert_file: server.crt\n", 4,
     "duplicate key \"cert_file\" (first on line 2)"},
    {"(a second document)", TLS "---\nbasic_auth_users: {}\n", 5, "a second YAML document"},
    {"(unknown client_auth_type)", TLS "  client_auth_type: RequireAndVerifyClientCerts\n", 4,
     "client_auth_type must be NoClientCert, RequestClientCert, RequireAnyClientCert, "
     "VerifyClientCertIfGiven or RequireAndVerifyClientCert, not \"RequireAndVerifyClientCerts\""},
    {"(min above max)", TLS "  min_version: TLS13\n  max_version: TLS12\n", 4,
     "min_version (TLS13) is above max_version (TLS12)"},
    {"(CA file not PEM)",
     TLS "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: junk.pem\n", 5,
     "client_ca_file: %s/junk.pem holds no PEM certificate"},
    {"(CA file unreadable)",
     TLS "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: nope.pem\n", 5,
     "client_ca_file: cannot read %s/nope.pem: No such file or directory"},
    {"(key and certificate swapped)", "tls_server_config:\n  cert_file: server.key\n  key_file: server.crt\n",
     2, "it holds a private key: are cert_file and key_file swapped?"},
    {"(a key of another certificate)",
     "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n", 3,
     "key_file: the key in %s/other.key does not go with the certificate in %s/server.crt"},
    {"(key_file without cert_file)", "tls_server_config:\n  key_file: server.key\n", 1,
     "tls_server_config needs cert_file"},
    {"(users as a list)", "basic_auth_users:\n  - alice\n", 2,
     "basic_auth_users must be a mapping of user: bcrypt hash"},
    {"(a user with ':')", "basic_auth_users:\n  \"a:b\": " ALICE "\n", 2,
     "basic_auth_users: a user name must be non-empty and without ':'"},
    {"(a hash as a list)", "basic_auth_users:\n  alice: [x]\n", 2,
     "the password hash of \"alice\" must be a single value"},
    {"(a header with a line break)",
     "http_server_config:\n  headers:\n    Content-Security-Policy: \"a\\r\\nX-Evil: 1\"\n", 3,
     "Content-Security-Policy has a control character"},
    {"(headers lower-cased)", "http_server_config:\n  headers:\n    x-frame-options: deny\n", 3,
     "header \"x-frame-options\" cannot be configured"},
    {"(X-Frame-Options in capitals)", "http_server_config:\n  headers:\n    X-Frame-Options: DENY\n",
     3, "X-Frame-Options must be deny or sameorigin"},
    {"(a NUL in a value)", "tls_server_config:\n  cert_file: \"server\\0.crt\"\n", 2,
     "cert_file holds a NUL character"},
    {"(a section as a value)", "tls_server_config: server.crt\n", 1,
     "tls_server_config must be a mapping of keys"},
};

static void toolkit_bad_files(void **state)
{
    write_tmp("junk.pem", "not a certificate\n");
    int failed = 0;
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const bad *b = &bads[i];
        const char *path;
        xp_config *cfg = load(b->text, &path);
        if (cfg) {
            xp_config_free(cfg);
            print_error("%s: accepted\n", b->file);
            failed++;
            continue;
        }
        char prefix[300], msg[600];
        snprintf(prefix, sizeof(prefix), "%s:%d: ", path, b->line);
        snprintf(msg, sizeof(msg), b->msg, tmpdir, tmpdir);
        if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, msg)) {
            print_error("%s:\n  want \"%s...%s\"\n  got  \"%s\"\n", b->file, prefix, msg, err);
            failed++;
        }
        /* No hash, no key material, in any message. */
        if (strstr(err, "$2y$1") || strstr(err, "BEGIN") || strstr(err, "MIIF")) {
            print_error("%s: a secret in \"%s\"\n", b->file, err);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

/* The file's TLS and users replace [web]'s; api_key_hash, rate_limit, max_connections stay. */
static void replaces_tls_and_users_only(void **state)
{
    const char *ini = "[web]\ntls_cert_file = server.crt\ntls_key_file = server.key\n"
                      "basic_auth_user = ini\nbasic_auth_password_hash = " CAROL "\n"
                      "api_key_hash = " DAVE "\nrate_limit = 100/60s\nmax_connections = 99\n" DEP;
    char path[300];
    snprintf(path, sizeof(path), "%s/main.ini", tmpdir);
    write_tmp("main.ini", ini);
    xp_config *cfg = xp_config_load(path, err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->web.n_users, 1);
    assert_non_null(cfg->web.tls_cert_file);
    const char *web = write_tmp("web.yml", "basic_auth_users:\n  alice: " ALICE "\n");
    assert_int_equal(xp_config_load_web(cfg, web, err, sizeof(err)), 0);
    assert_null(cfg->web.tls_cert_file); /* the file has no TLS: none */
    assert_null(cfg->web.tls_key_file);
    assert_null(cfg->web.basic_auth_user);
    assert_int_equal(cfg->web.n_users, 1);
    assert_string_equal(cfg->web.users[0].name, "alice");
    assert_string_equal(cfg->web.api_key_hash, DAVE);
    assert_int_equal(cfg->web.rate_limit.burst, 100);
    assert_true(cfg->web.rate_limit.period == 60);
    assert_int_equal(cfg->web.max_connections, 99);
    xp_config_free(cfg);
}

/* Not a regular file, or too big: refused at once, never read for ever. */
static void files_that_could_block(void **state)
{
    xp_config *cfg = xp_config_parse("t.ini", DEP, strlen(DEP), 0, err, sizeof(err));
    assert_non_null(cfg);
    assert_int_equal(xp_config_load_web(cfg, "/dev/zero", err, sizeof(err)), -1);
    assert_string_equal(err, "/dev/zero: cannot read the web config file: not a regular file (a "
                             "device)");
    assert_int_equal(xp_config_load_web(cfg, tmpdir, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file (a directory)"));
    const char *web = write_tmp("dev.yml", TLS "  client_auth_type: RequireAndVerifyClientCert\n"
                                               "  client_ca_file: /dev/zero\n");
    assert_int_equal(xp_config_load_web(cfg, web, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":5: client_ca_file: cannot read /dev/zero: not a regular file"));
    xp_config_free(cfg);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/xp-test-webconfig-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
             "-nodes -days 2 -subj /CN=localhost -keyout server.key -out server.crt 2>/dev/null && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
             "-subj /CN=client -keyout client_selfsigned.key -out client_selfsigned.pem 2>/dev/null && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out other.key "
             "2>/dev/null",
             tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(toolkit_good_files),
        cmocka_unit_test(users_and_headers_as_written),
        cmocka_unit_test(toolkit_bad_files),
        cmocka_unit_test(replaces_tls_and_users_only),
        cmocka_unit_test(files_that_could_block),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
