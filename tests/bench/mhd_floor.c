/* The floor of the HTTP library this project uses: a bare libmicrohttpd server that answers
 * every request with one persistent response built once from a file (a static copy of the
 * exporter's /metrics body), keeping connections alive. The same daemon flags as
 * exporter/web/http.c on a 2-core machine: internal polling thread with epoll,
 * MHD_USE_TURBO, MHD_USE_ITC, a pool of 2 threads. Nothing is
 * rendered per request, so no exporter on libmicrohttpd can be faster than this. (Without
 * MHD_USE_TURBO this "floor" would be handicapped against the exporter, which sets it.)
 *
 * With CERT and KEY (PEM files) it serves HTTPS through libmicrohttpd's GnuTLS, as the
 * exporter does with tls_server_config in --web.config.file (and, like it, with poll()
 * instead of epoll): the TLS floor.
 *
 * Build: gcc -O2 -o mhd_floor mhd_floor.c -lmicrohttpd
 * Usage: mhd_floor PORT BODY_FILE [CERT KEY]   (listens on 127.0.0.1:PORT until SIGTERM/SIGINT) */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct MHD_Response *response;

/* Answers on the handler's second call, as libmicrohttpd expects: a response queued on the
 * first call (when only the request head is in) makes it stop reading the request and
 * close the connection after the answer ("Connection: close"), so every request would pay
 * a new TCP handshake. exporter/web/handler.c answers on the last call likewise. */
static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    static int seen;
    (void)cls, (void)url, (void)method, (void)version, (void)upload;
    if (*con_cls == NULL) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(c, MHD_HTTP_OK, response);
}

/* The whole file in memory (NUL-terminated), or NULL. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    char *data = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)n + 1)) != NULL && fread(data, 1, (size_t)n, f) == (size_t)n) {
        data[n] = '\0';
        *len = (size_t)n;
    } else {
        fprintf(stderr, "%s: cannot read\n", path);
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s PORT BODY_FILE [CERT KEY]\n", argv[0]);
        return 2;
    }
    size_t len = 0, cert_len = 0, key_len = 0;
    char *body = slurp(argv[2], &len);
    char *cert = argc == 5 ? slurp(argv[3], &cert_len) : NULL;
    char *key = argc == 5 ? slurp(argv[4], &key_len) : NULL;
    if (!body || (argc == 5 && (!cert || !key)))
        return 1;

    response = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    if (!response)
        return 1;
    MHD_add_response_header(response, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)atoi(argv[1]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* MHD's threads inherit the mask */

    /* As exporter/web/http.c: poll() with TLS (libmicrohttpd's epoll loop spins through
     * handshakes), epoll without. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TURBO | MHD_USE_ITC |
                     (argc == 5 ? MHD_USE_POLL : MHD_USE_EPOLL);
    struct MHD_Daemon *d =
        cert ? MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, answer, NULL,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                                MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_HTTPS_MEM_CERT, cert,
                                MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END)
             : MHD_start_daemon(flags, 0, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR,
                                (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, 2u,
                                MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT,
                                512u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "cannot listen on 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(response);
    free(body);
    free(cert);
    free(key);
    return 0;
}
