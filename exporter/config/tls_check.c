#include "config/tls_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

#define TLS_FILE_MAX (1u << 20)
#define SWAPPED(a, b, what) "; it holds a %s: are %s and %s swapped?", what, a, b

/* The file at path into d; names the key and the reason when it cannot. */
static int tls_read(const char *key, const char *path, gnutls_datum_t *d, char *err, size_t len)
{
    char *buf, why[128];
    size_t n;
    if (xp_file_read(path, TLS_FILE_MAX, &buf, &n, why, sizeof(why)) != 0) {
        snprintf(err, len, "%s: cannot read %s: %s", key, path, why);
        return -1;
    }
    *d = (gnutls_datum_t){(unsigned char *)buf, (unsigned)n};
    return 0;
}

static void certs_free(gnutls_x509_crt_t *crts, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
}

/* The PEM certificates of d; err says what is wrong, hinting at a swap when d holds a key. */
static int certs_import(const char *key, const char *path, const gnutls_datum_t *d,
                        gnutls_x509_crt_t **crts, unsigned *n, const char *other, char *err,
                        size_t len)
{
    int e = gnutls_x509_crt_list_import2(crts, n, d, GNUTLS_X509_FMT_PEM, 0);
    if (e >= 0 && *n > 0)
        return 0;
    if (e >= 0)
        certs_free(*crts, *n);
    *crts = NULL;
    *n = 0;
    int o = snprintf(err, len, "%s: %s holds no PEM certificate (%s)", key, path,
                     e < 0 ? gnutls_strerror(e) : "none found");
    if (other && strstr((const char *)d->data, "PRIVATE KEY") && o > 0 && (size_t)o < len)
        snprintf(err + o, len - (size_t)o, SWAPPED(key, other, "private key"));
    return -1;
}

/* 1 when pk is the private key of crt's public key. */
static int key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t pk)
{
    unsigned char a[64], b[64];
    size_t al = sizeof(a), bl = sizeof(b);
    return gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &al) == 0 &&
           gnutls_x509_privkey_get_key_id(pk, GNUTLS_KEYID_USE_SHA256, b, &bl) == 0 && al == bl &&
           memcmp(a, b, al) == 0;
}

int xp_tls_pair_load(const char *cert_file, const char *key_file, const char *const names[2],
                     xp_tls_pair *out, int *bad, char *err, size_t errlen)
{
    gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
    gnutls_x509_crt_t *crts = NULL;
    unsigned ncrts = 0;
    gnutls_x509_privkey_t pk = NULL;
    xp_tls_pair p = {NULL, 0, NULL};
    int rc = -1, e;
    *bad = XP_TLS_BAD_CERT;
    if (tls_read(names[0], cert_file, &cert, err, errlen) != 0 ||
        certs_import(names[0], cert_file, &cert, &crts, &ncrts, names[1], err, errlen) != 0)
        goto out;
    *bad = XP_TLS_BAD_KEY;
    if (tls_read(names[1], key_file, &key, err, errlen) != 0)
        goto out;
    if ((e = gnutls_x509_privkey_init(&pk)) < 0 ||
        (e = gnutls_x509_privkey_import2(pk, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        int o = snprintf(err, errlen, "%s: %s holds no unencrypted PEM private key (%s)", names[1],
                         key_file, gnutls_strerror(e));
        if (strstr((const char *)key.data, "CERTIFICATE") && o > 0 && (size_t)o < errlen)
            snprintf(err + o, errlen - (size_t)o, SWAPPED(names[0], names[1], "certificate"));
        goto out;
    }
    if (!key_matches(crts[0], pk)) {
        snprintf(err, errlen, "%s: the key in %s does not go with the certificate in %s", names[1],
                 key_file, cert_file);
        goto out;
    }
    /* The forms a handshake takes: a pcert list and an abstract key (which now owns pk). */
    p.certs = calloc(ncrts, sizeof(*p.certs));
    p.n_certs = ncrts;
    if (!p.certs || (e = gnutls_pcert_import_x509_list(p.certs, crts, &p.n_certs, 0)) < 0 ||
        (e = gnutls_privkey_init(&p.key)) < 0 ||
        (e = gnutls_privkey_import_x509(p.key, pk, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE)) < 0) {
        snprintf(err, errlen, "%s: cannot use %s: %s", names[0], cert_file,
                 p.certs ? gnutls_strerror(e) : "out of memory");
        if (!p.certs)
            p.n_certs = 0;
        goto out;
    }
    pk = NULL;
    *out = p;
    p = (xp_tls_pair){NULL, 0, NULL};
    *bad = 0;
    rc = 0;
out:
    xp_tls_pair_free(&p);
    if (pk)
        gnutls_x509_privkey_deinit(pk);
    certs_free(crts, ncrts);
    xp_file_free((char *)cert.data, cert.size);
    xp_file_free((char *)key.data, key.size);
    return rc;
}

void xp_tls_pair_free(xp_tls_pair *p)
{
    if (p->certs)
        for (unsigned i = 0; i < p->n_certs; i++)
            gnutls_pcert_deinit(&p->certs[i]);
    free(p->certs);
    if (p->key)
        gnutls_privkey_deinit(p->key);
    *p = (xp_tls_pair){NULL, 0, NULL};
}

int xp_tls_check_pair(const char *cert_file, const char *key_file, int *bad, char *err,
                      size_t errlen)
{
    static const char *const names[2] = {"tls_cert_file", "tls_key_file"};
    xp_tls_pair p;
    if (xp_tls_pair_load(cert_file, key_file, names, &p, bad, err, errlen) != 0)
        return -1;
    xp_tls_pair_free(&p);
    return 0;
}

int xp_tls_ca_load(const char *ca_file, const char *name, gnutls_x509_trust_list_t *out,
                   char *err, size_t errlen)
{
    gnutls_x509_trust_list_t tl = NULL;
    gnutls_datum_t d = {NULL, 0};
    gnutls_x509_crt_t *crts = NULL;
    unsigned n = 0;
    int rc = -1, e;
    if ((e = gnutls_x509_trust_list_init(&tl, 0)) < 0) {
        snprintf(err, errlen, "%s: %s", name, gnutls_strerror(e));
        return -1;
    }
    if (!ca_file) {
        if ((e = gnutls_x509_trust_list_add_system_trust(tl, 0, 0)) < 0)
            snprintf(err, errlen, "%s: cannot load the system's CAs: %s", name, gnutls_strerror(e));
        else
            rc = 0;
    } else if (tls_read(name, ca_file, &d, err, errlen) == 0 &&
               certs_import(name, ca_file, &d, &crts, &n, NULL, err, errlen) == 0) {
        /* The list takes the certificates; only the array is ours to free. */
        if ((e = gnutls_x509_trust_list_add_cas(tl, crts, n, 0)) < 0) {
            snprintf(err, errlen, "%s: cannot use %s: %s", name, ca_file, gnutls_strerror(e));
            certs_free(crts, n);
        } else {
            gnutls_free(crts);
            rc = 0;
        }
    }
    xp_file_free((char *)d.data, d.size);
    if (rc == 0)
        *out = tl;
    else
        gnutls_x509_trust_list_deinit(tl, 1);
    return rc;
}
