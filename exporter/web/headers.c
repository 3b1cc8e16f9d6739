#include "web/headers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The status page has inline CSS and nothing else: no script, no external source. Images
 * only from the page's own origin (the browser asks for /favicon.ico on its own: without
 * img-src 'self' that request is reported as a CSP violation). */
#define XP_CSP                                                                                 \
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "       \
    "form-action 'none'; frame-ancestors 'none'"
/* One year, the usual preload-grade value; no includeSubDomains: the exporter speaks for its
 * own port, not for every name under its host's domain. */
#define XP_HSTS "max-age=31536000"

typedef struct entry {
    char *name;
    char *value;
    unsigned scope;
} entry;

struct xp_header_set {
    entry *e;
    size_t n;
};

static const struct {
    const char *name, *value;
    unsigned scope;
} defaults[] = {
    {"X-Content-Type-Options", "nosniff", XP_HDR_ALL | XP_HDR_PAGE},
    {"X-Frame-Options", "DENY", XP_HDR_ALL | XP_HDR_PAGE},
    {"Referrer-Policy", "no-referrer", XP_HDR_ALL | XP_HDR_PAGE},
    {"Content-Security-Policy", XP_CSP, XP_HDR_PAGE},
};

/* RFC 9110 section 5.6.2: token = 1*tchar. */
static int is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!(*s >= '0' && *s <= '9') && !(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
            !strchr("!#$%&'*+-.^_`|~", *s))
            return 0;
    return 1;
}

/* Field values: visible characters, spaces and tabs; no CR, LF or other control bytes. */
static int is_field_value(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return 0;
    return 1;
}

static entry *find(xp_header_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcasecmp(set->e[i].name, name) == 0)
            return &set->e[i];
    return NULL;
}

/* Sets name to value on `scope`: replaces an entry of that name, else appends. An empty
 * value removes the entry (the exporter-toolkit's "unset if blank"). 0 = ok. */
static int put(xp_header_set *set, size_t cap, const char *name, const char *value,
               unsigned scope)
{
    entry *e = find(set, name);
    if (!*value) {
        if (e) {
            free(e->name);
            free(e->value);
            *e = set->e[--set->n];
        }
        return 0;
    }
    char *v = strdup(value);
    if (!v)
        return -1;
    if (e) {
        free(e->value);
        e->value = v;
        e->scope = scope;
        return 0;
    }
    if (set->n == cap || !(set->e[set->n].name = strdup(name))) {
        free(v);
        return -1;
    }
    set->e[set->n].value = v;
    set->e[set->n].scope = scope;
    set->n++;
    return 0;
}

/* name as it may appear in a message: at most 64 characters, control bytes as '?'. */
static void printable(const char *name, char *out, size_t outlen)
{
    size_t n = 0;
    for (; name && *name && n + 1 < outlen && n < 64; name++)
        out[n++] = (unsigned char)*name < 0x20 || *name == 0x7f ? '?' : *name;
    out[n] = '\0';
}

xp_header_set *xp_headers_build(int tls, const xp_header_kv *extra, size_t n_extra, char *err,
                                size_t errlen)
{
    for (size_t i = 0; i < n_extra; i++) {
        char shown[72];
        printable(extra[i].name, shown, sizeof(shown));
        if (!extra[i].name || !is_token(extra[i].name)) {
            snprintf(err, errlen, "header name \"%s\" is not a valid HTTP field name", shown);
            return NULL;
        }
        if (!extra[i].value || !is_field_value(extra[i].value)) {
            snprintf(err, errlen, "header %s: value has control characters", shown);
            return NULL;
        }
    }
    size_t n_def = sizeof(defaults) / sizeof(defaults[0]);
    size_t cap = n_def + 1 + n_extra;
    xp_header_set *set = calloc(1, sizeof(*set));
    if (!set || !(set->e = calloc(cap, sizeof(entry))))
        goto oom;
    for (size_t i = 0; i < n_def; i++)
        if (put(set, cap, defaults[i].name, defaults[i].value, defaults[i].scope) != 0)
            goto oom;
    if (tls && put(set, cap, "Strict-Transport-Security", XP_HSTS, XP_HDR_ALL | XP_HDR_PAGE) != 0)
        goto oom;
    for (size_t i = 0; i < n_extra; i++)
        if (put(set, cap, extra[i].name, extra[i].value, XP_HDR_ALL | XP_HDR_PAGE) != 0)
            goto oom;
    return set;
oom:
    xp_headers_free(set);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

void xp_headers_free(xp_header_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; set->e && i < set->n; i++) {
        free(set->e[i].name);
        free(set->e[i].value);
    }
    free(set->e);
    free(set);
}

const char *xp_headers_get(const xp_header_set *set, unsigned scope, const char *name)
{
    for (size_t i = 0; set && i < set->n; i++)
        if ((set->e[i].scope & scope) && strcasecmp(set->e[i].name, name) == 0)
            return set->e[i].value;
    return NULL;
}

int xp_headers_apply(const xp_header_set *set, struct MHD_Response *r, unsigned scope)
{
    for (size_t i = 0; set && i < set->n; i++)
        if ((set->e[i].scope & scope) &&
            MHD_add_response_header(r, set->e[i].name, set->e[i].value) != MHD_YES)
            return -1;
    return 0;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static xp_header_set *current;     /* guarded by mu */
static unsigned long generation;  /* guarded by mu; moves with every install */

void xp_headers_install(xp_header_set *set)
{
    pthread_mutex_lock(&mu);
    xp_header_set *old = current;
    current = set;
    generation++;
    pthread_mutex_unlock(&mu);
    xp_headers_free(old);
}

unsigned long xp_headers_generation(void)
{
    pthread_mutex_lock(&mu);
    unsigned long g = generation;
    pthread_mutex_unlock(&mu);
    return g;
}

int xp_headers_apply_current(struct MHD_Response *r, unsigned scope, unsigned long *gen)
{
    pthread_mutex_lock(&mu);
    int rc = xp_headers_apply(current, r, scope);
    if (gen)
        *gen = generation;
    pthread_mutex_unlock(&mu);
    return rc;
}
