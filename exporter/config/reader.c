#include "config/reader.h"

#include <ini.h>
#include <stdio.h>
#include <string.h>

typedef struct line_reader {
    const char *text;
    size_t len;
    size_t pos;
    int lineno;
    const xp_ini_callbacks *cb;
    void *user;
    /* Set once; every later read returns NULL so inih stops at the first error. */
    int failed;
    int detect_line; /* the line being read when the error was found */
    char *err;
    size_t errlen;
} line_reader;

static char *line_reader_next(char *str, int num, void *stream) {
    line_reader *r = stream;
    if (r->failed || r->pos >= r->len)
        return NULL;
    const char *start = r->text + r->pos;
    size_t rest = r->len - r->pos;
    const char *nl = memchr(start, '\n', rest);
    size_t linelen = nl ? (size_t)(nl - start) : rest;
    r->pos += linelen + (nl ? 1 : 0);
    r->lineno++;

    /* inih skips a UTF-8 byte order mark on line 1; do it here so our view matches. */
    if (r->lineno == 1 && linelen >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
        start += 3;
        linelen -= 3;
    }
    size_t content = linelen;
    if (content && start[content - 1] == '\r')
        content--;

    r->detect_line = r->lineno;
    if (memchr(start, '\0', content)) {
        snprintf(r->err, r->errlen, "line contains a NUL byte");
        r->failed = 2; /* the reader's own */
        return NULL;
    }
    /* inih needs room for the line, "\n" and the terminating NUL; it would cut anything
     * longer without telling anyone, so refuse it whole. */
    if (num < 3 || content > (size_t)num - 3) {
        snprintf(r->err, r->errlen, "line too long: %zu characters, at most %d fit", content,
                 num < 3 ? 0 : num - 3);
        r->failed = 2;
        return NULL;
    }
    if (r->cb->line && r->cb->line(r->user, r->lineno, start, content) != 0) {
        r->failed = 1;
        return NULL;
    }
    memcpy(str, start, content);
    str[content] = '\n';
    str[content + 1] = '\0';
    return str;
}

static int line_reader_pair(void *user, const char *section, const char *name, const char *value) {
    line_reader *r = user;
    (void)section; /* inih cuts section names at 49 bytes; the line callback tracks them whole */
    if (r->failed)
        return 0;
    r->detect_line = r->lineno;
    if (r->cb->pair && r->cb->pair(r->user, r->lineno, name, value) != 0) {
        r->failed = 1;
        return 0;
    }
    return 1;
}

int xp_ini_parse(const char *text, size_t len, const xp_ini_callbacks *cb, void *user,
                 int *err_line, char *err, size_t errlen) {
    line_reader r = {
        .text = text, .len = len, .cb = cb, .user = user, .err = err, .errlen = errlen};
    if (errlen)
        err[0] = '\0';
    int rc = ini_parse_stream(line_reader_next, &r, line_reader_pair, &r);
    if (rc < 0) {
        *err_line = 0;
        snprintf(err, errlen, "out of memory reading the file");
        return -2;
    }
    /* inih reports its own syntax errors (a line with no '=' or no closing ']') only through
     * its return value, and keeps going after them: the earlier problem wins. */
    if (rc > 0 && (!r.failed || rc < r.detect_line)) {
        *err_line = rc; /* a line without '=' (the line callback judged every '[' already) */
        snprintf(err, errlen, "expected [section] or key = value");
        return -2;
    }
    *err_line = r.detect_line;
    return r.failed == 2 ? -2 : -r.failed;
}
