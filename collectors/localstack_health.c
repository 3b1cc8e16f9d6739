#include "localstack_health.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

int xp_localstack_s3_state(const char *body, size_t len, char *state, size_t statelen)
{
    json_error_t jerr;
    /* INT_AS_REAL: a huge integer in a field we never read must not fail the parse. */
    json_t *root = json_loadb(body, len, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root) {
        snprintf(state, statelen, "invalid JSON at line %d column %d", jerr.line, jerr.column);
        return -1;
    }
    int ret = -1;
    json_t *services = json_object_get(root, "services");
    if (!json_is_object(services)) {
        snprintf(state, statelen, "no \"services\" object");
        goto out;
    }
    json_t *s3 = json_object_get(services, "s3");
    if (!s3) {
        snprintf(state, statelen, "not listed");
        ret = 0;
        goto out;
    }
    if (!json_is_string(s3)) {
        snprintf(state, statelen, "not a string");
        goto out;
    }
    const char *v = json_string_value(s3);
    ret = strcmp(v, "running") == 0 || strcmp(v, "available") == 0;
    /* %.40s: the value comes from the network; keep the error text short. */
    snprintf(state, statelen, "\"%.40s\"", v);
out:
    json_decref(root);
    return ret;
}
