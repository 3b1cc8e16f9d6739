/* The TLS certificate, key and client CA files, loaded and matched with GnuTLS (which
 * libmicrohttpd uses) exactly as the HTTP server will use them: --config.check and a reload
 * refuse what the server would refuse, and say which file and why; the server loads its
 * certificates through the same functions at start, at reload and when the files change. */
#ifndef XP_TLS_CHECK_H
#define XP_TLS_CHECK_H

#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

enum { XP_TLS_BAD_CERT = 1, XP_TLS_BAD_KEY = 2 };

/* A certificate chain and its private key, ready for a handshake. */
typedef struct xp_tls_pair {
    gnutls_pcert_st *certs;
    unsigned n_certs;
    gnutls_privkey_t key;
} xp_tls_pair;

/* Loads cert_file (PEM certificates, the server's first) and key_file (its unencrypted PEM
 * private key) and checks that the key is the first certificate's. `names` are the keys the
 * files were given with, for messages: {"tls_cert_file", "tls_key_file"} or {"cert_file",
 * "key_file"}. 0 = ok; else -1, *bad = XP_TLS_BAD_CERT or XP_TLS_BAD_KEY and err names the
 * key, the file and the reason, never key material. Neither file may block (base/file.h). */
int xp_tls_pair_load(const char *cert_file, const char *key_file, const char *const names[2],
                     xp_tls_pair *out, int *bad, char *err, size_t errlen);
void xp_tls_pair_free(xp_tls_pair *p);
/* xp_tls_pair_load with [web]'s key names, keeping nothing. */
int xp_tls_check_pair(const char *cert_file, const char *key_file, int *bad, char *err,
                      size_t errlen);

/* The CA certificates of ca_file (PEM, at least one) as a trust list for client certificates;
 * with ca_file NULL, the system's trusted CAs (what Go's crypto/tls uses without ClientCAs).
 * 0 = ok; else err names `name`, the file and the reason. */
int xp_tls_ca_load(const char *ca_file, const char *name, gnutls_x509_trust_list_t *out,
                   char *err, size_t errlen);

#endif
