/* The request handler of the HTTP server: authentication, routing and the answers, one
 * request at a time. http.c runs the daemon around it. */
#ifndef XP_HANDLER_H
#define XP_HANDLER_H

#include <microhttpd.h>

#include "web/http.h"

/* Before the daemon starts. 0 = ok. */
int xp_handler_init(xp_http_reload_fn reload, int enable_lifecycle);
/* After the daemon stopped: frees the fixed answers. */
void xp_handler_free(void);
int xp_handler_set_telemetry_path(const char *path);

/* libmicrohttpd's access handler and request-completed callback. */
enum MHD_Result xp_handler(void *cls, struct MHD_Connection *c, const char *url,
                           const char *method, const char *version, const char *upload,
                           size_t *upload_size, void **con_cls);
void xp_handler_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe);
/* Requests the handler has seen and libmicrohttpd has not finished: what a shutdown waits
 * for before it closes connections. */
int xp_handler_in_flight(void);

#endif
