/* The floor of the HTTP library this project uses: a bare libmicrohttpd server that answers
 * every request with one persistent response built once from a file (a static copy of the
 * exporter's /metrics body), keeping connections alive. The same daemon flags as
 * exporter/web/http.c on a 2-core machine: internal polling thread with epoll,
 * MHD_USE_TURBO, MHD_USE_ITC, a pool of 2 threads. Nothing is
 * rendered per request, so no exporter on libmicrohttpd can be faster than this. (Without
 * MHD_USE_TURBO this "floor" would be handicapped against the exporter, which sets it.)
 *
 * Build: gcc -O2 -o mhd_floor mhd_floor.c -lmicrohttpd
 * Usage: mhd_floor PORT BODY_FILE   (listens on 127.0.0.1:PORT until SIGTERM/SIGINT) */
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

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT BODY_FILE\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    static char body[4 << 20];
    size_t len = fread(body, 1, sizeof body, f);
    fclose(f);

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

    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ITC, 0, NULL,
        NULL, answer, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, 2u,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "cannot listen on 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(response);
    return 0;
}
