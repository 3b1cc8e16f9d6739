/* The OpenFeature Remote Evaluation Protocol (OFREP, openfeature.dev appendix C; the
 * protocol's service/openapi.yaml) over the features: each feature is a boolean flag, true
 * while it is available.
 *
 * Reasons and variants. value true is variant "on", false "off". The reason is
 * TARGETING_MATCH ("the result of a dynamic evaluation, such as a rule") for a feature whose
 * availability follows the live state, and STATIC for one nothing can turn off (min_level
 * emergency, no dependency required), which a provider may cache for good. DISABLED is
 * deliberately not used: in OpenFeature it means the flag itself is switched off in the
 * management system, and providers may answer the caller's default then, which would turn a
 * feature the exporter switched off back on in an application whose default is true.
 * Metadata (primitives only: the SDKs drop anything else) says why: degradation_level
 * (0-4), status (the level's name) and blocked_by ("redis,level": the required dependencies
 * that do not count as CLOSED, then "level" when the level is worse than the feature's
 * min_level; "" when available).
 *
 * The evaluation context is read and checked (a JSON object whose `context`, when present,
 * is an object) but changes nothing: the answer is the same for every caller. */
#ifndef XP_OFREP_H
#define XP_OFREP_H

#include <stddef.h>

#include <microhttpd.h>

#include "web/reqctx.h"

/* POST /ofrep/v1/evaluate/flags/KEY: 200, 404 FLAG_NOT_FOUND, 400 PARSE_ERROR or
 * INVALID_CONTEXT, 413 for a body past the limit. body: the request's kept body (NULL: none). */
enum MHD_Result xp_ofrep_flag(struct MHD_Connection *c, const char *key, const xp_reqctx *body);
/* POST /ofrep/v1/evaluate/flags: every flag, with the state tag as ETag; 304 when
 * If-None-Match names it. */
enum MHD_Result xp_ofrep_bulk(struct MHD_Connection *c, const xp_reqctx *body);
/* GET /ofrep/v1/configuration: the provider's name and its polling floor (the shortest
 * probe interval: polling faster learns nothing new). */
enum MHD_Result xp_ofrep_configuration(struct MHD_Connection *c);

#endif
