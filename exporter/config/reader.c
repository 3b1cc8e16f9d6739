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
    int err_line;
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

    r->err_line = r->lineno;
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
    if (r->cb->line &&
        r->cb->line(r->user, r->lineno, start, content, &r->err_line, r->err, r->errlen) != 0) {
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
    r->err_line = r->lineno;
    r->detect_line = r->lineno;
    if (r->cb->pair &&
        r->cb->pair(r->user, r->lineno, name, value, &r->err_line, r->err, r->errlen) != 0) {
        r->failed = 1;
        return 0;
    }
    return 1;
}

/* The text of line `lineno` (1-based), for explaining inih's own syntax errors. */
static const char *line_reader_line_at(const char *text, size_t len, int lineno, size_t *out_len) {
    const char *p = text, *end = text + len;
    for (int i = 1; i < lineno && p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *out_len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    return p;
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
        size_t n;
        const char *line = line_reader_line_at(text, len, rc, &n);
        while (n && (*line == ' ' || *line == '\t')) {
            line++;
            n--;
        }
        *err_line = rc;
        if (n && *line == '[')
            snprintf(err, errlen, "section header without a closing ]");
        else
            snprintf(err, errlen, "expected [section] or key = value");
        return -2;
    }
    if (r.failed) {
        *err_line = r.err_line;
        return r.failed == 2 ? -2 : -1;
    }
    return 0;
}
