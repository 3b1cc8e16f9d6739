/* The TLS side of the HTTP server: the certificate served, the client certificate policy
 * (client_auth_type, client_ca_file) and the TLS versions, all swappable while it runs.
 *
 * libmicrohttpd 0.9.75 loads a certificate once, at start. Here it is given none: it asks
 * xp_certs_retrieve (MHD_OPTION_HTTPS_CERT_CALLBACK, GnuTLS's retrieve function) during each
 * handshake, and every new connection is set up by xp_certs_notify
 * (MHD_OPTION_NOTIFY_CONNECTION) from the settings in force when it was accepted: TLS
 * versions, whether a client certificate is requested or required, and the check of it.
 *
 * The settings live in one reference-counted state, replaced whole: at reload
 * (xp_certs_prepare, xp_certs_commit) and when the certificate, key or client CA files change on disk (a
 * check every second). A new state is built from the files before it replaces the old one;
 * when that fails the old one stays and the reason is logged. A connection keeps the state it
 * started with until it closes, so a swap never changes a handshake in progress. */
#ifndef XP_CERTS_H
#define XP_CERTS_H

#include <stddef.h>

#include <gnutls/abstract.h>
#include <microhttpd.h>

#include "config/config.h"

/* Loads the TLS files of w and starts watching them. *priorities gets the GnuTLS priority
 * string of w's versions for the daemon (each connection sets its own). 0 = ok. */
int xp_certs_start(const xp_web_cfg *w, const char **priorities, char *err, size_t errlen);
/* At reload, in two steps (the reload is all or nothing): prepare loads and checks the files
 * and settings of w (NULL with err set; nothing changes), commit puts them in place of the
 * running ones and cannot fail, discard drops them. */
typedef struct xp_certs_state xp_certs_state;
xp_certs_state *xp_certs_prepare(const xp_web_cfg *w, char *err, size_t errlen);
void xp_certs_commit(xp_certs_state *s);
void xp_certs_discard(xp_certs_state *s);
/* Stops watching and frees the state. After the daemon stopped. */
void xp_certs_stop(void);
/* Checks the files now instead of within the second (for tests). */
void xp_certs_check_files(void);

/* libmicrohttpd's connection notifier and GnuTLS's certificate retrieve function. */
void xp_certs_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);
int xp_certs_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                      const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                      gnutls_pcert_st **pcert, unsigned int *pcert_length,
                      gnutls_privkey_t *privkey);

#endif
