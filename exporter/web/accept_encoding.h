/* Accept-Encoding (RFC 9110 section 12.5.3), parsed for the one question /metrics asks:
 * send gzip or not. Pure: no I/O, no allocation. */
#ifndef XP_ACCEPT_ENCODING_H
#define XP_ACCEPT_ENCODING_H

/* 1 when the header value (NULL: no header) accepts gzip and does not prefer identity.
 *
 * Codings and parameter names are case-insensitive; "x-gzip" is gzip; "*" stands for every
 * coding not listed by name. A weight is "q=" with 0 to 1 and at most three decimals
 * ("1.000", "0.5", "0"); q=0 refuses. Other parameters are ignored. An element with a
 * malformed weight or syntax counts as absent, so it never turns gzip on. A coding listed
 * twice takes its highest weight. Without the header, identity (the client said nothing). */
int xp_accept_gzip(const char *value);

#endif
