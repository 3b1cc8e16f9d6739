#include "openai_models.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int xp_openai_models_has(const char *body, size_t len, const char *model, char *why,
                         size_t whylen)
{
    json_error_t jerr;
    /* INT_AS_REAL: a huge integer in a field we never read must not fail the parse. */
    json_t *root = json_loadb(body, len, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root) {
        snprintf(why, whylen, "invalid JSON at line %d column %d", jerr.line, jerr.column);
        return -1;
    }
    int ret = -1;
    json_t *data = json_object_get(root, "data");
    if (!json_is_array(data)) {
        snprintf(why, whylen, "no \"data\" array");
        goto out;
    }
    ret = model ? 0 : 1;
    size_t i;
    json_t *entry;
    json_array_foreach(data, i, entry) {
        const char *id = json_string_value(json_object_get(entry, "id"));
        if (!id) {
            snprintf(why, whylen, "entry %zu has no string \"id\"", i);
            ret = -1;
            goto out;
        }
        if (model && strcmp(id, model) == 0)
            ret = 1;
    }
out:
    json_decref(root);
    return ret;
}

int xp_openai_ratelimit_parse(const char *value, double *out)
{
    /* Digits and at most one dot only: strtod alone would take "inf", "nan", "0x10", " -3"
     * and "1e999", none of which a remaining count can be. */
    size_t dots = 0, digits = 0;
    for (const char *c = value; *c; c++) {
        if (*c == '.')
            dots++;
        else if (*c >= '0' && *c <= '9')
            digits++;
        else
            return -1;
    }
    if (digits == 0 || dots > 1)
        return -1;
    errno = 0;
    char *end;
    double v = strtod(value, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}
