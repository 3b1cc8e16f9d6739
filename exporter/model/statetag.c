#include "model/statetag.h"

#include <stdint.h>
#include <string.h>

/* FNV-1a, 64 bits: stable across runs and machines, which a process-local counter is not. */
static void mix(uint64_t *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        *h ^= p[i];
        *h *= 0x100000001b3ULL;
    }
}

static void mix_int(uint64_t *h, long v)
{
    mix(h, &v, sizeof(v));
}

static void mix_str(uint64_t *h, const char *s)
{
    mix(h, s, strlen(s) + 1); /* the NUL keeps "ab","c" apart from "a","bc" */
}

void xp_statetag(const xp_snapshot *s, char out[XP_STATETAG_MAX])
{
    uint64_t h = 0xcbf29ce484222325ULL;
    mix_int(&h, (long)s->n_deps);
    for (size_t i = 0; i < s->n_deps; i++) {
        mix_str(&h, s->deps[i]->name);
        mix_int(&h, s->hdeps[i].state);
        mix_int(&h, s->hdeps[i].mode);
    }
    mix_int(&h, s->health.level);
    mix_int(&h, (long)s->cfg->n_features);
    for (size_t j = 0; j < s->cfg->n_features; j++) {
        const xp_feature_cfg *f = &s->cfg->features[j];
        /* The rule too: a reload that changes it changes what OFREP says (reason, blockers). */
        mix_str(&h, f->name);
        mix_int(&h, f->min_level);
        for (size_t k = 0; k < f->n_requires; k++)
            mix_int(&h, (long)f->requires[k]);
        mix_int(&h, s->feature_on[j] != 0);
    }
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "W/\"", 3);
    for (int i = 0; i < 16; i++)
        out[3 + i] = hex[(h >> (60 - 4 * i)) & 0xf];
    out[19] = '"';
    out[20] = '\0';
}

/* The opaque part of a tag: what lies between the quotes, W/ dropped. */
static const char *opaque(const char *t, size_t len, size_t *olen)
{
    if (len >= 2 && t[0] == 'W' && t[1] == '/') {
        t += 2;
        len -= 2;
    }
    if (len >= 2 && t[0] == '"' && t[len - 1] == '"') {
        t++;
        len -= 2;
    }
    *olen = len;
    return t;
}

int xp_statetag_matches(const char *header, const char *tag)
{
    if (!header || !tag || !*tag)
        return 0;
    size_t tlen;
    const char *t = opaque(tag, strlen(tag), &tlen);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        /* A tag ends at the comma after its closing quote (a quoted tag may hold commas). */
        int quoted = 0;
        while (*p && (quoted || *p != ',')) {
            if (*p == '"')
                quoted = !quoted;
            p++;
        }
        size_t len = (size_t)(p - start);
        while (len && (start[len - 1] == ' ' || start[len - 1] == '\t'))
            len--;
        if (len == 1 && *start == '*')
            return 1;
        size_t olen;
        const char *o = opaque(start, len, &olen);
        if (len && olen == tlen && memcmp(o, t, tlen) == 0)
            return 1;
    }
    return 0;
}
