/* --web.config.file: the Prometheus exporter-toolkit web configuration (YAML, read with
 * libyaml), as node_exporter and postgres_exporter read it. Supported: tls_server_config
 * (cert_file, key_file, client_auth_type, client_ca_file, min_version, max_version),
 * http_server_config.headers (the toolkit's five header names) and basic_auth_users. Every
 * other key is an error naming it and its line: a toolkit key this exporter does not
 * support says so (and why), any other key is unknown. Nothing is ever ignored. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/file.h"
#include "config/engine.h"
#include "config/tls_check.h"

#define WEB_FILE_MAX (1u << 20)

/* The TLS settings as written, with the node of each for error lines. */
typedef struct tls_seen {
    const char *cert, *key, *ca, *auth, *min, *max;
    yaml_node_t *cert_n, *key_n, *ca_n, *auth_n, *min_n, *max_n;
    yaml_node_t *section, *section_key; /* the mapping, and its key "tls_server_config" */
} tls_seen;

typedef struct wctx {
    const char *path;
    char *dir;        /* relative files are read from here, as the toolkit does */
    xp_web_cfg w;     /* what the file sets, built aside */
    tls_seen tls;     /* tls_server_config as written */
    yaml_node_t *key; /* the key whose value is being applied */
    char *err;        /* the first error, without FILE:LINE */
    int err_line;     /* 0: none applies */
} wctx;

/* One key a section may hold. apply NULL: a toolkit key this exporter does not support;
 * `why` then says what to do instead. */
typedef struct field {
    const char *name;
    int (*apply)(wctx *c, const char *name, yaml_document_t *doc, yaml_node_t *v);
    const char *why;
} field;

__attribute__((format(printf, 3, 4))) static int fail(wctx *c, const yaml_node_t *at,
                                                      const char *fmt, ...)
{
    if (c->err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&c->err, fmt, ap) < 0)
        c->err = NULL;
    va_end(ap);
    c->err_line = at ? (int)at->start_mark.line + 1 : 0;
    return -1;
}

static int is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (strcmp((const char *)n->data.scalar.value, nulls[i]) == 0)
            return 1;
    return 0;
}

/* The text of a scalar ("" for null); NULL with the error recorded otherwise. */
static const char *scalar(wctx *c, const char *name, const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE) {
        fail(c, n, "%s must be a single value, not a %s", name,
             n->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return NULL;
    }
    if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
        fail(c, n, "%s holds a NUL character", name);
        return NULL;
    }
    return is_null(n) ? "" : (const char *)n->data.scalar.value;
}

/* Checks that every key of mapping m (of section `where`, NULL at the top) is one of fields,
 * refusing unknown, unsupported and repeated keys, and applies each. A null m is an empty
 * mapping. */
static int section(wctx *c, const char *where, yaml_document_t *doc, yaml_node_t *m,
                   const field *fields)
{
    if (is_null(m))
        return 0;
    if (m->type != YAML_MAPPING_NODE)
        return fail(c, m, "%s must be a mapping of keys", where ? where : "the web config");
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key),
                    *v = yaml_document_get_node(doc, p->value);
        const char *name = scalar(c, "a key", k);
        if (!name)
            return -1;
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = yaml_document_get_node(doc, q->key);
            if (k2->type == YAML_SCALAR_NODE &&
                strcmp((const char *)k2->data.scalar.value, name) == 0)
                return fail(c, k, "duplicate key \"%.64s\" (first on line %zu)", name,
                            k2->start_mark.line + 1);
        }
        const field *f = fields;
        while (f->name && strcmp(f->name, name) != 0)
            f++;
        if (!f->name) {
            char known[256] = "";
            size_t o = 0;
            for (f = fields; f->name && o < sizeof(known); f++)
                if (f->apply)
                    o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s", o ? ", " : "",
                                          f->name);
            return fail(c, k, "unknown key \"%.64s\" %s%s (supported: %s)", name,
                        where ? "in " : "at the top level", where ? where : "", known);
        }
        if (!f->apply)
            return fail(c, k,
                        "%s%s%s is an exporter-toolkit key this exporter does not support: %s",
                        where ? where : "", where ? "." : "", name, f->why);
        c->key = k;
        if (f->apply(c, name, doc, v) != 0)
            return -1;
    }
    return 0;
}

static int tls_field(wctx *c, const char *name, yaml_document_t *doc, yaml_node_t *v)
{
    static const char *const names[] = {"cert_file",        "key_file",    "client_ca_file",
                                        "client_auth_type", "min_version", "max_version"};
    tls_seen *t = &c->tls;
    const char **slot[] = {&t->cert, &t->key, &t->ca, &t->auth, &t->min, &t->max};
    yaml_node_t **node[] = {&t->cert_n, &t->key_n, &t->ca_n, &t->auth_n, &t->min_n, &t->max_n};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            *slot[i] = scalar(c, name, v);
            *node[i] = v;
            return *slot[i] ? 0 : -1;
        }
    }
    return fail(c, v, "%s: not handled", name);
}

static const field tls_fields[] = {
    {"cert_file", tls_field, NULL},
    {"key_file", tls_field, NULL},
    {"client_auth_type", tls_field, NULL},
    {"client_ca_file", tls_field, NULL},
    {"min_version", tls_field, NULL},
    {"max_version", tls_field, NULL},
    {"cert", NULL, "give the certificate as a file, cert_file"},
    {"key", NULL, "give the key as a file, key_file"},
    {"client_ca", NULL, "give the client CA as a file, client_ca_file"},
    {"cipher_suites", NULL, "GnuTLS's default suites of TLS 1.2 and 1.3 are used; remove it"},
    {"curve_preferences", NULL, "GnuTLS's default groups are used; remove it"},
    {"prefer_server_cipher_suites", NULL, "remove it"},
    {"client_allowed_sans", NULL,
     "trust only the client CA that signs the allowed clients (client_ca_file); remove it"},
    {NULL, NULL, NULL},
};

static int tls_section(wctx *c, const char *name, yaml_document_t *doc, yaml_node_t *v)
{
    c->tls.section = v;
    c->tls.section_key = c->key;
    return section(c, name, doc, v, tls_fields);
}

/* The toolkit's names and values (exporter-toolkit web/handler.go, extraHTTPHeaders). */
static const struct {
    const char *name;
    const char *values; /* "a|b": the only values allowed; NULL: any */
} toolkit_headers[] = {
    {"Strict-Transport-Security", NULL},    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "deny|sameorigin"}, {"X-XSS-Protection", NULL},
    {"Content-Security-Policy", NULL},
};
#define N_TOOLKIT_HEADERS (sizeof(toolkit_headers) / sizeof(toolkit_headers[0]))

static int header_value_ok(const char *values, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = values; p; p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL)
        if (strncmp(p, v, n) == 0 && (p[n] == '|' || p[n] == '\0'))
            return 1;
    return values == NULL;
}

static int headers_field(wctx *c, const char *name, yaml_document_t *doc, yaml_node_t *m)
{
    if (is_null(m))
        return 0;
    if (m->type != YAML_MAPPING_NODE)
        return fail(c, m, "http_server_config.headers must be a mapping of header: value");
    size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    if (!(c->w.headers = calloc(n ? n : 1, sizeof(*c->w.headers))))
        return fail(c, m, "out of memory");
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key),
                    *v = yaml_document_get_node(doc, p->value);
        const char *hn = scalar(c, "a header name", k), *hv = hn ? scalar(c, hn, v) : NULL;
        if (!hv)
            return -1;
        size_t i = 0;
        while (i < N_TOOLKIT_HEADERS && strcmp(toolkit_headers[i].name, hn) != 0)
            i++;
        if (i == N_TOOLKIT_HEADERS)
            return fail(c, k,
                        "http_server_config.headers: header \"%.64s\" cannot be configured "
                        "(allowed, as in the exporter-toolkit: Strict-Transport-Security, "
                        "X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, "
                        "Content-Security-Policy)",
                        hn);
        for (size_t j = 0; j < c->w.n_headers; j++)
            if (strcmp(c->w.headers[j].name, hn) == 0)
                return fail(c, k, "duplicate header \"%s\" in http_server_config.headers", hn);
        if (!header_value_ok(toolkit_headers[i].values, hv))
            return fail(c, v, "http_server_config.headers: %s must be %s, not \"%.64s\"", hn,
                        strcmp(hn, "X-Frame-Options") == 0 ? "deny or sameorigin" : "nosniff", hv);
        for (const char *q = hv; *q; q++)
            if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
                return fail(c, v, "http_server_config.headers: %s has a control character", hn);
        xp_web_header *h = &c->w.headers[c->w.n_headers++];
        if (!(h->name = strdup(hn)) || !(h->value = strdup(hv)))
            return fail(c, v, "out of memory");
    }
    return 0;
}

static const field http_fields[] = {
    {"headers", headers_field, NULL},
    {"http2", NULL, "it serves HTTP/1.1 only; remove it"},
    {NULL, NULL, NULL},
};

static int http_section(wctx *c, const char *name, yaml_document_t *doc, yaml_node_t *v)
{
    return section(c, name, doc, v, http_fields);
}

static int users_section(wctx *c, const char *name, yaml_document_t *doc, yaml_node_t *m)
{
    char why[256];
    if (is_null(m))
        return 0;
    if (m->type != YAML_MAPPING_NODE)
        return fail(c, m, "basic_auth_users must be a mapping of user: bcrypt hash");
    size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    if (!(c->w.users = calloc(n ? n : 1, sizeof(*c->w.users))))
        return fail(c, m, "out of memory");
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key),
                    *v = yaml_document_get_node(doc, p->value);
        const char *user = scalar(c, "a user name", k);
        if (!user)
            return -1;
        if (xp_cfg_check_user(user, why, sizeof(why)) != 0)
            return fail(c, k, "basic_auth_users: a user name must be %s", why);
        for (size_t j = 0; j < c->w.n_users; j++)
            if (strcmp(c->w.users[j].name, user) == 0)
                return fail(c, k, "duplicate user \"%.64s\" in basic_auth_users", user);
        /* The hash is never quoted: scalar()'s messages name the user, not the value. */
        const char *hash = v->type == YAML_SCALAR_NODE ? scalar(c, "a hash", v) : NULL;
        if (!hash || xp_cfg_check_bcrypt(hash, why, sizeof(why)) != 0)
            return fail(c, v, "basic_auth_users: the password hash of \"%.64s\" must be %s", user,
                        hash ? why : "a single value: a bcrypt hash");
        xp_web_user *u = &c->w.users[c->w.n_users++];
        if (!(u->name = strdup(user)) || !(u->hash = strdup(hash)))
            return fail(c, v, "out of memory");
    }
    return 0;
}

static const field top_fields[] = {
    {"tls_server_config", tls_section, NULL},
    {"http_server_config", http_section, NULL},
    {"basic_auth_users", users_section, NULL},
    {"rate_limit", NULL, "set rate_limit = N/PERIOD in [web] of the main config instead"},
    {NULL, NULL, NULL},
};

/* A file named in the web config, resolved next to it. NULL on allocation failure. */
static char *resolve(const wctx *c, const char *file)
{
    char *p;
    if (file[0] == '/' || strcmp(c->dir, ".") == 0)
        return strdup(file);
    return asprintf(&p, "%s/%s", c->dir, file) < 0 ? NULL : p;
}

static int word_index(const char *const *words, const char *v)
{
    for (int i = 0; words[i]; i++)
        if (strcmp(words[i], v) == 0)
            return i;
    return -1;
}

/* The TLS settings seen: the rules across keys, then the files loaded as the server will. */
static int tls_finish(wctx *c)
{
    static const char *const auths[] = {"NoClientCert",
                                        "RequestClientCert",
                                        "RequireAnyClientCert",
                                        "VerifyClientCertIfGiven",
                                        "RequireAndVerifyClientCert",
                                        NULL};
    static const char *const versions[] = {"TLS10", "TLS11", "TLS12", "TLS13", NULL};
    static const char *const pair_names[2] = {"cert_file", "key_file"};
    char why[XP_CONFIG_ERR_MAX];
    xp_web_cfg *w = &c->w;
    const tls_seen tls = c->tls;
    int bad;
    if (!tls.section || is_null(tls.section))
        return 0;
    if (!tls.cert || !*tls.cert || !tls.key || !*tls.key) {
        const char *missing = !tls.cert || !*tls.cert ? "cert_file" : "key_file";
        yaml_node_t *at = !tls.cert    ? tls.section_key
                          : !*tls.cert ? tls.cert_n
                          : !tls.key   ? tls.section_key
                                       : tls.key_n;
        return fail(c, at, "tls_server_config needs %s%s", missing,
                    at == tls.section_key ? "" : " (it is empty)");
    }
    w->tls_client_auth = XP_CLIENT_AUTH_NONE;
    if (tls.auth && *tls.auth) {
        /* "RequireClientCert": the toolkit's old name, still accepted there. */
        int a = strcmp(tls.auth, "RequireClientCert") == 0 ? XP_CLIENT_AUTH_REQUIRE_ANY
                                                           : word_index(auths, tls.auth);
        if (a < 0)
            return fail(c, tls.auth_n,
                        "client_auth_type must be NoClientCert, RequestClientCert, "
                        "RequireAnyClientCert, VerifyClientCertIfGiven or "
                        "RequireAndVerifyClientCert, not \"%.64s\"",
                        tls.auth);
        w->tls_client_auth = a;
    }
    const char *v[2] = {tls.min, tls.max};
    yaml_node_t *vn[2] = {tls.min_n, tls.max_n};
    int *vf[2] = {&w->tls_min_version, &w->tls_max_version};
    for (int i = 0; i < 2; i++)
        if (v[i] && *v[i] && (*vf[i] = word_index(versions, v[i])) < 0)
            return fail(c, vn[i], "%s must be TLS10, TLS11, TLS12 or TLS13, not \"%.64s\"",
                        i ? "max_version" : "min_version", v[i]);
    if (w->tls_min_version > w->tls_max_version)
        return fail(c, tls.min_n ? tls.min_n : tls.max_n,
                    "min_version (%s) is above max_version (%s)", versions[w->tls_min_version],
                    versions[w->tls_max_version]);
    if (tls.ca && *tls.ca && w->tls_client_auth == XP_CLIENT_AUTH_NONE)
        return fail(c, tls.ca_n,
                    "client_ca_file is set but client_auth_type is NoClientCert: set "
                    "client_auth_type (RequireAndVerifyClientCert to require client "
                    "certificates signed by this CA)");
    if (!(w->tls_cert_file = resolve(c, tls.cert)) || !(w->tls_key_file = resolve(c, tls.key)) ||
        (tls.ca && *tls.ca && !(w->tls_client_ca_file = resolve(c, tls.ca))))
        return fail(c, tls.section, "out of memory");
    xp_tls_pair pair;
    if (xp_tls_pair_load(w->tls_cert_file, w->tls_key_file, pair_names, &pair, &bad, why,
                         sizeof(why)) != 0)
        return fail(c, bad == XP_TLS_BAD_CERT ? tls.cert_n : tls.key_n, "%s", why);
    xp_tls_pair_free(&pair);
    if (w->tls_client_auth >= XP_CLIENT_AUTH_VERIFY_IF_GIVEN) {
        gnutls_x509_trust_list_t tl;
        if (xp_tls_ca_load(w->tls_client_ca_file, "client_ca_file", &tl, why, sizeof(why)) != 0)
            return fail(c, tls.ca_n ? tls.ca_n : tls.auth_n, "%s", why);
        gnutls_x509_trust_list_deinit(tl, 1);
    }
    return 0;
}

/* Parses the file's text into c->w. 0 = ok. */
static int web_parse(wctx *c, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    int rc = -1;
    if (!yaml_parser_initialize(&parser))
        return fail(c, NULL, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        c->err_line = (int)parser.problem_mark.line + 1;
        if (asprintf(&c->err, "not valid YAML: %s%s%s", parser.problem ? parser.problem : "error",
                     parser.context ? " " : "", parser.context ? parser.context : "") < 0)
            c->err = NULL;
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!yaml_parser_load(&parser, &extra)) {
        c->err_line = (int)parser.problem_mark.line + 1;
        if (asprintf(&c->err, "not valid YAML: %s", parser.problem ? parser.problem : "error") < 0)
            c->err = NULL;
    } else {
        yaml_node_t *second = yaml_document_get_root_node(&extra);
        if (second)
            fail(c, second, "a second YAML document: the web config is one document");
        else if (!root || (rc = section(c, NULL, &doc, root, top_fields)) == 0)
            rc = tls_finish(c);
        yaml_document_delete(&extra);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return c->err ? -1 : rc;
}

int xp_config_load_web(xp_config *cfg, const char *path, char *err, size_t errlen)
{
    wctx c = {.path = path};
    char *text = NULL, why[128];
    size_t len = 0;
    if (xp_file_read(path, WEB_FILE_MAX, &text, &len, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: cannot read the web config file: %s", path, why);
        return -1;
    }
    const char *slash = strrchr(path, '/');
    c.dir = !slash          ? strdup(".")
            : slash == path ? strdup("/")
                            : strndup(path, (size_t)(slash - path));
    c.w.tls_min_version = XP_TLS12;
    c.w.tls_max_version = XP_TLS13;
    int rc = c.dir ? web_parse(&c, text, len) : fail(&c, NULL, "out of memory");
    if (rc == 0 && !(c.w.web_config_file = strdup(path)))
        rc = fail(&c, NULL, "out of memory");
    xp_file_free(text, len); /* it holds password hashes */
    if (rc != 0) {
        const char *msg = c.err ? c.err : "out of memory";
        if (c.err_line > 0)
            snprintf(err, errlen, "%s:%d: %s", path, c.err_line, msg);
        else
            snprintf(err, errlen, "%s: %s", path, msg);
    } else {
        /* The file's TLS, users and headers replace [web]'s; the rest of [web] stays. */
        xp_web_cfg *w = &cfg->web;
        c.w.max_connections = w->max_connections;
        c.w.api_key_hash = w->api_key_hash;
        c.w.rate_limit = w->rate_limit;
        w->api_key_hash = NULL;
        xp_cfg_web_free(w);
        *w = c.w;
        memset(&c.w, 0, sizeof(c.w));
    }
    xp_cfg_web_free(&c.w);
    free(c.err);
    free(c.dir);
    return rc;
}
