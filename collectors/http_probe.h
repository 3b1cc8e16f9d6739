/* The libcurl part the HTTP-based collectors (s3, openai) share: one easy handle per
 * instance, reused between probes so keep-alive connections and the DNS cache survive, and
 * every request bounded by the probe's deadline, its cancel flag and a cap on what the
 * server may send back. Error texts name the transport failure or the HTTP status and never
 * quote a header or a credential. */
#ifndef XP_HTTP_PROBE_H
#define XP_HTTP_PROBE_H

#include <stddef.h>

#include <curl/curl.h>

#include "collector.h"

#define XP_HTTP_BODY_MAX (1024u * 1024u)  /* a bigger answer aborts the request */
#define XP_HTTP_HEADERS_MAX (64u * 1024u) /* likewise for the response headers */

typedef struct xp_http xp_http;

typedef struct xp_http_req {
    const char *url; /* without userinfo */
    int head;        /* 1: HEAD, 0: GET */
    /* Extra request headers; may hold a secret (Authorization), which is never logged. */
    const struct curl_slist *headers;
    /* SigV4 signing ("aws:amz:REGION:SERVICE") with user/password, or all NULL. */
    const char *aws_sigv4;
    const char *user;
    const char *password;
} xp_http_req;

xp_http *xp_http_new(void);    /* NULL on allocation failure */
void xp_http_free(xp_http *h); /* NULL-safe; wipes the received data */

/* Runs one request within p->deadline, honouring *p->cancel. Returns 0 with *status set when
 * a complete HTTP response arrived (of any status), or -1 with p->err naming the transport
 * failure and p->reason its class (timeout, dns, tls, connect, or protocol for an answer over
 * the caps). */
int xp_http_do(xp_http *h, const xp_http_req *req, xp_probe *p, long *status);

/* The body of the last response (NUL-terminated) and its length. */
const char *xp_http_body(const xp_http *h, size_t *len);

/* The value of the last response's header `name` (case-insensitive), trimmed, copied into
 * out. 0 when found, -1 when absent or longer than outlen - 1. */
int xp_http_header(const xp_http *h, const char *name, char *out, size_t outlen);

/* Pure: finds header `name` in a raw header block ("Name: value\r\n" lines). See above. */
int xp_http_header_find(const char *block, size_t len, const char *name, char *out, size_t outlen);

/* Writes "HTTP 503 server error"-style texts: `what` after the status, or a generic reason. */
void xp_http_status_error(char *err, size_t errlen, long status, const char *what);

/* Fails the probe for an unwanted status: p->err as above, p->reason from the status (401/403
 * auth, 429 rate_limited, 5xx server_error, other 4xx client_error). Returns -1. */
int xp_http_fail_status(xp_probe *p, long status, const char *what);

/* Parses url (http or https only) and writes it back without user, password and fragment,
 * and without the query unless keep_query (a query may carry a key: never in a label).
 * With `append` non-NULL, that segment is appended to the path with one '/'.
 * 0 = ok; -1 with err saying why (never quoting the URL, which may hold a password). */
int xp_http_url(const char *url, const char *append, int keep_query, char *out, size_t outlen,
                char *err, size_t errlen);

#endif
