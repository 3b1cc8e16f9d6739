/* Answers made for one request (JSON documents, their errors, 304), with the header set in
 * force, counted in resilience_exporter_http_requests_total. The endpoints of the
 * application side (web/app_api.c, web/ofrep.c, the long-poll) answer through these. */
#ifndef XP_ANSWER_H
#define XP_ANSWER_H

#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "base/buf.h"
#include "web/reqstats.h"

/* Queues body (copied) as application/json with `status`; etag (may be NULL) goes in ETag. */
enum MHD_Result xp_answer_json(struct MHD_Connection *c, xp_route route, unsigned status,
                               const char *body, size_t len, const char *etag);
/* {"error": message} with `status`. */
enum MHD_Result xp_answer_error(struct MHD_Connection *c, xp_route route, unsigned status,
                                const char *message);
/* Appends root (compact, one line and a newline) to out. 0, or -1 (out left as it was) when
 * memory ran out. */
int xp_json_dump(const json_t *root, xp_buf *out);
/* Queues root as the JSON body and drops the reference; a NULL root (its building ran out of
 * memory) or a failed dump answers 500. */
enum MHD_Result xp_answer_doc(struct MHD_Connection *c, xp_route route, unsigned status,
                              json_t *root, const char *etag);
/* 405 with Allow and {"error": "method not allowed: use ALLOW"}. */
enum MHD_Result xp_answer_method(struct MHD_Connection *c, xp_route route, const char *allow);
/* 304 Not Modified, no body, with the ETag. */
enum MHD_Result xp_answer_not_modified(struct MHD_Connection *c, xp_route route,
                                       const char *etag);

#endif
