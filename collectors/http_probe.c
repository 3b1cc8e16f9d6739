#include "http_probe.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/clock.h"
#include "reasons.h"

struct xp_http {
    CURL *curl;
    xp_buf body;
    xp_buf headers; /* the raw header block of the last response */
    int body_overflow;
    int headers_overflow;
    const atomic_int *cancel;
    char errbuf[CURL_ERROR_SIZE];
};

xp_http *xp_http_new(void)
{
    xp_http *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        return NULL;
    }
    xp_buf_init(&h->body);
    xp_buf_init(&h->headers);
    return h;
}

void xp_http_free(xp_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    xp_buf_free(&h->body);
    xp_buf_free(&h->headers);
    free(h);
}

static size_t http_on_body(char *data, size_t size, size_t n, void *userdata)
{
    xp_http *h = userdata;
    size_t len = size * n;
    if (len > XP_HTTP_BODY_MAX - h->body.len) {
        h->body_overflow = 1;
        return 0; /* anything but len aborts the transfer with CURLE_WRITE_ERROR */
    }
    xp_buf_append(&h->body, data, len);
    return xp_buf_failed(&h->body) ? 0 : len;
}

static size_t http_on_header(char *data, size_t size, size_t n, void *userdata)
{
    xp_http *h = userdata;
    size_t len = size * n;
    /* A new status line starts a new response (after "100 Continue", say): keep only the
     * headers of the final one. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        xp_buf_reset(&h->headers);
    if (len > XP_HTTP_HEADERS_MAX - h->headers.len) {
        h->headers_overflow = 1;
        return 0;
    }
    xp_buf_append(&h->headers, data, len);
    return xp_buf_failed(&h->headers) ? 0 : len;
}

static int http_on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                            curl_off_t ultotal, curl_off_t ulnow)
{
    const xp_http *h = userdata;
    return h->cancel && atomic_load(h->cancel) ? 1 : 0;
}

/* "host:port" of url for error texts; the URL holds no credentials by then. */
static void http_host_port(const char *url, char *out, size_t outlen)
{
    snprintf(out, outlen, "?");
    CURLU *u = curl_url();
    if (!u)
        return;
    char *host = NULL, *port = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        snprintf(out, outlen, "%s:%s", host, port);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

/* Turns a failed transfer into a sentence naming what went wrong. */
static void http_transport_error(xp_http *h, CURLcode rc, const char *url, double elapsed,
                                 char *err, size_t errlen)
{
    char where[160];
    http_host_port(url, where, sizeof(where));
    const char *detail = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
    long ms = (long)(elapsed * 1000 + 0.5);

    if (h->body_overflow || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, errlen, "response body larger than %u KiB from %s (aborted)",
                 XP_HTTP_BODY_MAX / 1024, where);
        return;
    }
    if (h->headers_overflow) {
        snprintf(err, errlen, "response headers larger than %u KiB from %s (aborted)",
                 XP_HTTP_HEADERS_MAX / 1024, where);
        return;
    }
    if (xp_buf_failed(&h->body) || xp_buf_failed(&h->headers) || rc == CURLE_OUT_OF_MEMORY) {
        snprintf(err, errlen, "out of memory reading the response from %s", where);
        return;
    }
    switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
        snprintf(err, errlen, "cancelled: the exporter is stopping");
        return;
    case CURLE_OPERATION_TIMEDOUT: {
        curl_off_t connect_us = 0;
        curl_easy_getinfo(h->curl, CURLINFO_CONNECT_TIME_T, &connect_us);
        snprintf(err, errlen, "timed out after %ld ms %.100s %.100s", ms,
                 connect_us > 0 ? "waiting for a response from" : "connecting to", where);
        return;
    }
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(err, errlen, "could not resolve host %.100s", where);
        return;
    case CURLE_COULDNT_CONNECT: {
        long os_errno = 0;
        curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == ECONNREFUSED) {
            snprintf(err, errlen, "connection refused by %.100s", where);
        } else if (os_errno) {
            char ebuf[128];
            snprintf(err, errlen, "could not connect to %.100s: %.100s", where,
                     strerror_r((int)os_errno, ebuf, sizeof(ebuf)));
        } else {
            snprintf(err, errlen, "could not connect to %.100s: %.100s", where, detail);
        }
        return;
    }
    case CURLE_GOT_NOTHING:
        snprintf(err, errlen, "%.100s closed the connection without answering", where);
        return;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        snprintf(err, errlen, "connection to %.100s lost: %.100s", where, detail);
        return;
    case CURLE_WEIRD_SERVER_REPLY:
        snprintf(err, errlen, "not an HTTP answer from %.100s: %.100s", where, detail);
        return;
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(err, errlen, "unsupported protocol (only http and https are allowed)");
        return;
    default:
        break;
    }
    if (xp_reason_curl(rc) == XP_REASON_TLS)
        snprintf(err, errlen, "TLS error with %.100s: %.100s", where, detail);
    else
        snprintf(err, errlen, "request to %.100s failed: %.100s", where, detail);
}

static int http_setup(xp_http *h, const xp_http_req *req, long timeout_ms)
{
    CURL *c = h->curl;
    /* reset drops every option of the previous request but keeps the connection and DNS
     * caches, which is the point of reusing the handle. */
    curl_easy_reset(c);
    int bad = 0;
    bad |= curl_easy_setopt(c, CURLOPT_URL, req->url) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK; /* probes run on threads */
    bad |= curl_easy_setopt(c, CURLOPT_VERBOSE, 0L) != CURLE_OK;  /* would print the key */
    bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) != CURLE_OK;
    /* At the deadline, leave a name lookup still running on curl's resolver thread to finish
     * (and free itself) on its own: without this, curl 7.87+ waits for it, and a DNS server
     * that never answers holds the probe for the resolver's own timeouts (10 s). */
    bad |= curl_easy_setopt(c, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)XP_HTTP_BODY_MAX) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "resilience_exporter/" XP_VERSION) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_body) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, h) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_header) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HEADERDATA, h) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_on_progress) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_XFERINFODATA, h) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
    if (req->head)
        bad |= curl_easy_setopt(c, CURLOPT_NOBODY, 1L) != CURLE_OK;
    else
        bad |= curl_easy_setopt(c, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    /* "" asks for every encoding curl can decode; the body cap applies after decoding. */
    bad |= curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
    if (req->headers)
        bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, req->headers) != CURLE_OK;
    if (req->aws_sigv4) {
        bad |= curl_easy_setopt(c, CURLOPT_AWS_SIGV4, req->aws_sigv4) != CURLE_OK;
        bad |= curl_easy_setopt(c, CURLOPT_USERNAME, req->user ? req->user : "") != CURLE_OK;
        bad |=
            curl_easy_setopt(c, CURLOPT_PASSWORD, req->password ? req->password : "") != CURLE_OK;
    }
    return bad ? -1 : 0;
}

int xp_http_do(xp_http *h, const xp_http_req *req, xp_probe *p, long *status)
{
    *status = 0;
    xp_buf_reset(&h->body);
    xp_buf_reset(&h->headers);
    h->body_overflow = h->headers_overflow = 0;
    h->errbuf[0] = '\0';
    h->cancel = p->cancel;

    if (p->cancel && atomic_load(p->cancel))
        return xp_probe_fail(p, XP_REASON_TIMEOUT, "cancelled: the exporter is stopping");
    double start = xp_clock_mono();
    double left = p->deadline - start;
    if (left < 0.001)
        return xp_probe_fail(p, XP_REASON_TIMEOUT, "timed out: no time left before the request");
    /* The request could not be made at all: closest to a connection that never happened. */
    if (http_setup(h, req, (long)(left * 1000)) != 0)
        return xp_probe_fail(p, XP_REASON_CONNECT,
                             "libcurl rejected an option (out of memory or too old)");
    CURLcode rc = curl_easy_perform(h->curl);
    /* The Authorization header list and the credentials belong to the caller: drop curl's
     * pointers to them now so nothing dangles once the caller frees them. */
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    if (rc != CURLE_OK) {
        http_transport_error(h, rc, req->url, xp_clock_mono() - start, p->err, sizeof(p->err));
        /* The caps abort with a write error, which must read as the oversized answer it is. */
        p->reason = h->body_overflow || h->headers_overflow ? XP_REASON_PROTOCOL
                                                            : xp_reason_curl(rc);
        return -1;
    }
    if (xp_buf_failed(&h->body) || xp_buf_failed(&h->headers))
        return xp_probe_fail(p, XP_REASON_PROTOCOL, "out of memory reading the response");
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

const char *xp_http_body(const xp_http *h, size_t *len)
{
    *len = h->body.len;
    return h->body.data ? h->body.data : "";
}

int xp_http_header(const xp_http *h, const char *name, char *out, size_t outlen)
{
    if (!h->headers.data)
        return -1;
    return xp_http_header_find(h->headers.data, h->headers.len, name, out, outlen);
}

static int http_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int xp_http_header_find(const char *block, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *found = NULL;
    size_t found_len = 0;
    const char *p = block, *end = block + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        if ((size_t)(line_end - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1, *ve = line_end;
            while (v < ve && http_is_space(*v))
                v++;
            while (ve > v && http_is_space(ve[-1]))
                ve--;
            found = v; /* the last one wins, as a proxy's rewrite would come last */
            found_len = (size_t)(ve - v);
        }
        p = eol ? eol + 1 : end;
    }
    if (!found || outlen == 0 || found_len >= outlen)
        return -1;
    memcpy(out, found, found_len);
    out[found_len] = '\0';
    return 0;
}

void xp_http_status_error(char *err, size_t errlen, long status, const char *what)
{
    if (!what) {
        if (status >= 300 && status < 400)
            what = "redirect (not followed)";
        else if (status >= 400 && status < 500)
            what = "client error";
        else if (status >= 500 && status < 600)
            what = "server error";
        else
            what = "unexpected status";
    }
    snprintf(err, errlen, "HTTP %ld %s", status, what);
}

int xp_http_fail_status(xp_probe *p, long status, const char *what)
{
    xp_http_status_error(p->err, sizeof(p->err), status, what);
    p->reason = xp_reason_http_status(status);
    return -1;
}

int xp_http_url(const char *url, const char *append, int keep_query, char *out, size_t outlen,
                char *err, size_t errlen)
{
    int ret = -1;
    char *scheme = NULL, *path = NULL, *full = NULL, *joined = NULL;
    CURLU *u = curl_url();
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        snprintf(err, errlen, "not a valid URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "URL scheme must be http or https");
        goto out;
    }
    if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
        (!keep_query && curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (append) {
        if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        size_t plen = strlen(path);
        while (plen > 0 && path[plen - 1] == '/')
            plen--;
        while (*append == '/')
            append++;
        if (asprintf(&joined, "%.*s/%s", (int)plen, path, append) < 0) {
            joined = NULL;
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        if (curl_url_set(u, CURLUPART_PATH, joined, 0) != CURLUE_OK) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
        snprintf(err, errlen, "not a valid URL");
        goto out;
    }
    /* "http://host:9000" comes back as "http://host:9000/": show it as the user wrote it. */
    size_t flen = strlen(full);
    if (!append && !keep_query && flen > 0 && full[flen - 1] == '/')
        full[--flen] = '\0';
    if (flen >= outlen) {
        snprintf(err, errlen, "URL longer than %zu bytes", outlen - 1);
        goto out;
    }
    memcpy(out, full, flen + 1);
    ret = 0;
out:
    free(joined);
    curl_free(scheme);
    curl_free(path);
    curl_free(full);
    curl_url_cleanup(u);
    return ret;
}
