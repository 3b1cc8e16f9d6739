/* The TLS certificate and key, loaded and matched the way the HTTP server will (GnuTLS, which
 * libmicrohttpd uses), so that --config.check and a reload refuse a pair the server would
 * refuse at start, and say which file and why. Reusable for certificate rotation. */
#ifndef XP_TLS_CHECK_H
#define XP_TLS_CHECK_H

#include <stddef.h>

enum { XP_TLS_BAD_CERT = 1, XP_TLS_BAD_KEY = 2 };

/* 0 when cert_file holds PEM certificates and key_file the PEM private key of the first;
 * else -1, *bad = XP_TLS_BAD_CERT or XP_TLS_BAD_KEY and err names the file and the reason,
 * never key material. Neither file may block (base/file.h). */
int xp_tls_check_pair(const char *cert_file, const char *key_file, int *bad, char *err,
                      size_t errlen);

#endif
