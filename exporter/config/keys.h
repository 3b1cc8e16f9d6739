/* Declarative collector keys, in the manner of nginx's conf slots: a collector lists its keys
 * with the field each one fills, and one generic setter parses them. */
#ifndef XP_KEYS_H
#define XP_KEYS_H

#include <stddef.h>

#include "collector.h"

typedef enum {
    XP_KEY_STRING, /* char * field, malloc'd copy */
    XP_KEY_BOOL,   /* int field: true/false/yes/no/on/off/1/0 */
    XP_KEY_UINT    /* unsigned field, decimal */
} xp_key_kind;

typedef struct xp_key_def {
    const char *name;
    xp_key_kind kind;
    size_t offset;
    int secret; /* never quote the value in an error */
} xp_key_def;

#define XP_KEY(type, field, kind) #field, kind, offsetof(type, field), 0
#define XP_SECRET_KEY(type, field) #field, XP_KEY_STRING, offsetof(type, field), 1

/* defs ends with an entry whose name is NULL. */
xp_set_result xp_keys_set(const xp_key_def *defs, void *inst, const char *key, const char *value,
                          char *err, size_t errlen);
/* Frees every XP_KEY_STRING field. */
void xp_keys_free(const xp_key_def *defs, void *inst);
int xp_parse_bool(const char *s, int *out);

#endif
