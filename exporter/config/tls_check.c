#include "config/tls_check.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>

#include "base/file.h"

#define SWAPPED(what) "; it holds a " what ": are tls_cert_file and tls_key_file swapped?"

/* The file at path into d; names the key (tls_cert_file) and the reason when it cannot. */
static int tls_read(const char *key, const char *path, gnutls_datum_t *d, char *err, size_t len)
{
    char *buf, why[128];
    size_t n;
    if (xp_file_read(path, 1u << 20, &buf, &n, why, sizeof(why)) != 0) {
        snprintf(err, len, "%s: cannot read %s: %s", key, path, why);
        return -1;
    }
    *d = (gnutls_datum_t){(unsigned char *)buf, (unsigned)n};
    return 0;
}

int xp_tls_check_pair(const char *cert_file, const char *key_file, int *bad, char *err,
                      size_t errlen)
{
    gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
    gnutls_x509_crt_t *crts = NULL;
    unsigned ncrts = 0;
    gnutls_x509_privkey_t pk = NULL;
    gnutls_certificate_credentials_t cred = NULL;
    int rc = -1, e;
    *bad = XP_TLS_BAD_CERT;
    if (tls_read("tls_cert_file", cert_file, &cert, err, errlen) != 0)
        goto out;
    if ((e = gnutls_x509_crt_list_import2(&crts, &ncrts, &cert, GNUTLS_X509_FMT_PEM, 0)) < 0) {
        snprintf(err, errlen, "tls_cert_file: %s holds no PEM certificate (%s)%s", cert_file,
                 gnutls_strerror(e),
                 strstr((char *)cert.data, "PRIVATE KEY") ? SWAPPED("private key") : "");
        goto out;
    }
    *bad = XP_TLS_BAD_KEY;
    if (tls_read("tls_key_file", key_file, &key, err, errlen) != 0)
        goto out;
    if ((e = gnutls_x509_privkey_init(&pk)) < 0 ||
        (e = gnutls_x509_privkey_import2(pk, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        snprintf(err, errlen, "tls_key_file: %s holds no unencrypted PEM private key (%s)%s",
                 key_file, gnutls_strerror(e),
                 strstr((char *)key.data, "CERTIFICATE") ? SWAPPED("certificate") : "");
        goto out;
    }
    /* As libmicrohttpd will use the pair: GnuTLS checks that the key is the certificate's. */
    if ((e = gnutls_certificate_allocate_credentials(&cred)) < 0 ||
        (e = gnutls_certificate_set_x509_key(cred, crts, (int)ncrts, pk)) < 0)
        snprintf(err, errlen,
                 "tls_key_file: the key in %s does not go with the certificate in %s (%s)",
                 key_file, cert_file, gnutls_strerror(e));
    else
        rc = 0;
out:
    if (cred)
        gnutls_certificate_free_credentials(cred);
    if (pk)
        gnutls_x509_privkey_deinit(pk);
    for (unsigned i = 0; i < ncrts; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    xp_file_free((char *)cert.data, cert.size);
    xp_file_free((char *)key.data, key.size);
    return rc;
}
