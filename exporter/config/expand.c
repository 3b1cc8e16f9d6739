/* ${VAR}, ${VAR:-default} and $$ in config values. A '$' followed by anything else stays
 * literal, so bcrypt hashes ($2y$10$...) need no escaping. Error texts name the variable but
 * never quote the value around it: the value may be a secret. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/engine.h"

#define ENV_MAX_DEPTH 8

static int env_is_name_char(char c) {
    return isalnum((unsigned char)c) || c == '_';
}

/* Index of the '}' closing a ${ whose body starts at `from`, or len if there is none. */
static size_t env_find_close(const char *s, size_t len, size_t from) {
    int depth = 0;
    for (size_t k = from; k < len; k++) {
        if (s[k] == '$' && k + 1 < len && (s[k + 1] == '$' || s[k + 1] == '{')) {
            if (s[k + 1] == '{')
                depth++;
            k++;
        } else if (s[k] == '}') {
            if (depth == 0)
                return k;
            depth--;
        }
    }
    return len;
}

static int env_expand_into(xp_buf *out, const char *s, size_t len, int unset_vars_empty, int depth,
                           char *err, size_t errlen) {
    if (depth > ENV_MAX_DEPTH)
        return xp_cfg_why(err, errlen, "${...} nested more than %d deep", ENV_MAX_DEPTH);
    size_t i = 0;
    while (i < len) {
        if (s[i] != '$' || i + 1 >= len || (s[i + 1] != '$' && s[i + 1] != '{')) {
            xp_buf_putc(out, s[i++]);
            continue;
        }
        if (s[i + 1] == '$') {
            xp_buf_putc(out, '$');
            i += 2;
            continue;
        }
        size_t name = i + 2, j = name;
        while (j < len && env_is_name_char(s[j]))
            j++;
        if (j >= len || env_find_close(s, len, name) >= len)
            return xp_cfg_why(err, errlen, "unterminated ${ (write $$ for a literal $)");
        int name_len = (int)(j - name);
        if (name_len == 0 || isdigit((unsigned char)s[name]))
            return xp_cfg_why(err, errlen, "${ must be followed by a variable name of letters, "
                                           "digits and _ (write $$ for a literal $)");
        char var[256];
        if ((size_t)name_len >= sizeof(var))
            return xp_cfg_why(err, errlen, "variable name longer than %zu characters",
                              sizeof(var) - 1);
        memcpy(var, s + name, (size_t)name_len);
        var[name_len] = '\0';
        const char *val = getenv(var);
        if (s[j] == '}') {
            if (!val && !unset_vars_empty)
                return xp_cfg_why(err, errlen, "environment variable %s is not set (use "
                                               "${%s:-default} for a fallback)", var, var);
            if (val)
                xp_buf_puts(out, val);
            i = j + 1;
        } else if (s[j] == ':' && j + 1 < len && s[j + 1] == '-') {
            size_t close = env_find_close(s, len, j + 2);
            /* As in the shell: the default applies to an unset or empty variable. */
            if (val && *val)
                xp_buf_puts(out, val);
            else if (env_expand_into(out, s + j + 2, close - (j + 2), unset_vars_empty, depth + 1,
                                     err, errlen) != 0)
                return -1;
            i = close + 1;
        } else {
            return xp_cfg_why(err, errlen, "unsupported form after ${%s: only ${%s} and "
                                           "${%s:-default} are understood", var, var, var);
        }
    }
    return 0;
}

char *xp_env_expand(const char *in, int unset_vars_empty, char *err, size_t errlen) {
    xp_buf out;
    xp_buf_init(&out);
    if (xp_buf_reserve(&out, strlen(in)) != 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (env_expand_into(&out, in, strlen(in), unset_vars_empty, 0, err, errlen) != 0) {
        xp_buf_free(&out);
        return NULL;
    }
    /* xp_buf_reserve does not terminate, so an empty result needs this to be a string. */
    xp_buf_append(&out, "", 0);
    char *s = xp_buf_steal(&out, NULL);
    if (!s)
        snprintf(err, errlen, "out of memory");
    return s;
}
