#include "config/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int xp_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

xp_set_result xp_keys_set(const xp_key_def *defs, void *inst, const char *key, const char *value,
                          char *err, size_t errlen)
{
    for (const xp_key_def *d = defs; d->name; d++) {
        if (strcmp(d->name, key) != 0)
            continue;
        void *field = (char *)inst + d->offset;
        switch (d->kind) {
        case XP_KEY_STRING: {
            char *copy = strdup(value);
            if (!copy) {
                snprintf(err, errlen, "%s: out of memory", key);
                return XP_SET_INVALID;
            }
            free(*(char **)field);
            *(char **)field = copy;
            return XP_SET_OK;
        }
        case XP_KEY_BOOL:
            if (xp_parse_bool(value, (int *)field) != 0) {
                snprintf(err, errlen, "%s must be true or false, not \"%s\"", key, value);
                return XP_SET_INVALID;
            }
            return XP_SET_OK;
        case XP_KEY_UINT: {
            char *end;
            errno = 0;
            unsigned long v = strtoul(value, &end, 10);
            if (errno || end == value || *end || value[0] == '-' || v > 0xFFFFFFFFul) {
                snprintf(err, errlen, "%s must be a whole number, not \"%s\"", key, value);
                return XP_SET_INVALID;
            }
            *(unsigned *)field = (unsigned)v;
            return XP_SET_OK;
        }
        }
    }
    return XP_SET_UNKNOWN;
}

void xp_keys_free(const xp_key_def *defs, void *inst)
{
    for (const xp_key_def *d = defs; d->name; d++) {
        if (d->kind == XP_KEY_STRING) {
            char **field = (char **)((char *)inst + d->offset);
            free(*field);
            *field = NULL;
        }
    }
}
