/* The application side of SPEC section 7 that is not OFREP: /health/features/NAME,
 * /health/dependencies/NAME, /events and /health?assume=. Each answer is built from one
 * snapshot (web/page_render.h) and changes nothing. */
#ifndef XP_APP_API_H
#define XP_APP_API_H

#include <microhttpd.h>

/* 200 available, 503 not, 404 no such feature. */
enum MHD_Result xp_api_feature(struct MHD_Connection *c, const char *name);
/* 200 CLOSED (or counted as CLOSED by its mode), 503 otherwise, 404 no such dependency. */
enum MHD_Result xp_api_dependency(struct MHD_Connection *c, const char *name);
/* {"events": [...]}, newest first. */
enum MHD_Result xp_api_events(struct MHD_Connection *c);
/* /health as if the assumed breakers were in their state; 400 on a bad `assume`. */
enum MHD_Result xp_api_health_assume(struct MHD_Connection *c, const char *assume);

#endif
