/* The tag of what an application reacts to (SPEC section 7, "ETag"): every breaker's state and
 * mode, the degradation level, each feature's availability and the rules behind it. Timestamps,
 * scores and countdowns are left out on purpose, so the tag moves when an application has
 * something to do, not at every probe.
 *
 * It is a weak entity tag (W/"..."): two /health bodies with the same tag may differ in their
 * scores and timestamps, but not in anything above. The same state gives the same tag, in this
 * process and the next, so a client that reconnects after a restart keeps its tag if nothing
 * changed. */
#ifndef XP_STATETAG_H
#define XP_STATETAG_H

#include "model/snapshot.h"

/* W/"" and 16 hex digits, NUL included. */
#define XP_STATETAG_MAX 24

/* Writes the tag of s (its hdeps, health and feature_on as xp_runtime_snapshot left them). */
void xp_statetag(const xp_snapshot *s, char out[XP_STATETAG_MAX]);

/* 1 when the If-None-Match header value `header` names `tag` (weak comparison, RFC 9110
 * section 13.1.2): a list of tags, W/ prefixes ignored, or "*". NULL or empty: 0. */
int xp_statetag_matches(const char *header, const char *tag);

#endif
