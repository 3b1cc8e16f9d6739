/* Pure parsers for the OpenAI collector: the model list of GET /models and the
 * x-ratelimit-remaining-* header values. */
#ifndef XP_OPENAI_MODELS_H
#define XP_OPENAI_MODELS_H

#include <stddef.h>

/* Checks an OpenAI model list ({"object":"list","data":[{"id":"gpt-4o",...},...]}).
 * With model non-NULL: 1 when an entry has that id, 0 when none does. With model NULL: 1 for
 * any well-formed list. -1 when the body is not a model list (why says what is wrong). */
int xp_openai_models_has(const char *body, size_t len, const char *model, char *why, size_t whylen);

/* A header value such as "59" or "149984" as a non-negative finite number. 0 = ok. */
int xp_openai_ratelimit_parse(const char *value, double *out);

#endif
