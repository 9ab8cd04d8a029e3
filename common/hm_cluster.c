/* hm_cluster.c - cluster identity, CA and node certificates.
 *
 * The decision that shaped it: a data directory is initialised by steps
 * that can each be repeated, and cluster.pb is written last.  A crash
 * half-way leaves files that the next init keeps (the CA is never re-minted
 * once present: every certificate in the cluster chains to it) and a missing
 * cluster.pb that makes the directory read as "not initialised".  Every file
 * is written with hm_env_write_file_atomic, so none is ever half there.
 *
 * Keys are EC P-256, certificates X.509 v3 signed with ECDSA-SHA256, through
 * OpenSSL 3's EVP interfaces only (deprecated APIs are compiled out below).
 * CA and node certificates are valid for ten years; rotation (`hamster-ctl
 * rotate`) is what will shorten node certificates, not this file.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include "hm_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"

#define CLUSTER_PATH_BYTES_MAX 4096
#define CLUSTER_PB_BYTES_MAX (64u << 10)
#define CLUSTER_PEM_BYTES_MAX (64u << 10)
#define CLUSTER_NODE_NAME_BYTES_MAX 63u /* one DNS label, fits a CN */
#define CLUSTER_FINGERPRINT_BYTES 32u   /* HMAC-SHA256 */
#define CLUSTER_ID_MSG_BYTES_MAX 512u   /* cluster id, 0x00, access key id */
#define CLUSTER_CERT_VALID_S (10ll * 365 * 24 * 3600)

/* ---- helpers ----------------------------------------------------------- */

static void cluster_log_ssl(const char *what)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        hm_warn("pki", NULL, "%s: %s", what, buf);
    }
}

/* Node names go into a CN and a SAN dNSName (and the SAN through OpenSSL's
 * config syntax, where ',' and ':' are special): letters, digits, '-', '.'
 * and '_' only. */
static bool cluster_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > CLUSTER_NODE_NAME_BYTES_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
        if (!ok) return false;
    }
    return true;
}

static int cluster_path(char *out, const char *dir, const char *rel)
{
    int n = snprintf(out, CLUSTER_PATH_BYTES_MAX, "%s/%s", dir, rel);
    return n < 0 || n >= CLUSTER_PATH_BYTES_MAX ? HM_EINVAL : 0;
}

/* Write a PEM produced by fn into path, atomically and with mode 0600 (the
 * posix env creates every file 0600). */
static int cluster_write_pem(const char *path, int (*fn)(BIO *, const void *),
                             const void *obj)
{
    hm_env *env = NULL;
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem == NULL) return HM_ENOMEM;
    int rc = HM_ETLS;
    if (fn(mem, obj) != 1) goto out;
    char *data;
    long len = BIO_get_mem_data(mem, &data);
    if (len <= 0) goto out;
    rc = hm_env_posix_new(&env);
    if (rc != 0) goto out;
    rc = hm_env_write_file_atomic(env, path, data, (size_t)len);
    hm_env_posix_free(env);
out:
    BIO_free(mem);
    return rc;
}

static int cluster_pem_key(BIO *b, const void *k)
{
    return PEM_write_bio_PrivateKey(b, (EVP_PKEY *)k, NULL, NULL, 0, NULL, NULL);
}

static int cluster_pem_cert(BIO *b, const void *x)
{
    return PEM_write_bio_X509(b, (X509 *)x);
}

static int cluster_add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    if (ext == NULL) return HM_ETLS;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : HM_ETLS;
}

/* A certificate for key with subject CN=cn, a random positive 128-bit
 * serial and the given validity, not yet signed or extended. */
static int cluster_cert_new(EVP_PKEY *key, const char *cn, int64_t not_before_s,
                            int64_t not_after_s, X509 **out)
{
    unsigned char serial[16];
    X509 *x = X509_new();
    BIGNUM *bn = NULL;
    if (x == NULL) return HM_ENOMEM;
    if (RAND_bytes(serial, sizeof(serial)) != 1) goto err;
    serial[0] &= 0x7f; /* positive */
    serial[0] |= 0x40; /* and never zero, always 16 bytes */
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL) goto err;
    if (X509_set_version(x, X509_VERSION_3) != 1) goto err;
    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) goto err;
    if (X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &(time_t){(time_t)not_before_s}) == NULL)
        goto err;
    if (X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &(time_t){(time_t)not_after_s}) == NULL)
        goto err;
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                   (const unsigned char *)"Hamster", -1, -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)cn, -1, -1, 0) != 1)
        goto err;
    if (X509_set_pubkey(x, key) != 1) goto err;
    BN_free(bn);
    *out = x;
    return 0;
err:
    BN_free(bn);
    X509_free(x);
    return HM_ETLS;
}

static int cluster_load_cert(const char *path, X509 **out)
{
    BIO *b = BIO_new_file(path, "r");
    if (b == NULL) return HM_ENOENT;
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (x == NULL) return HM_ETLS;
    *out = x;
    return 0;
}

static int cluster_load_key(const char *path, EVP_PKEY **out)
{
    BIO *b = BIO_new_file(path, "r");
    if (b == NULL) return HM_ENOENT;
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (k == NULL) return HM_ETLS;
    *out = k;
    return 0;
}

/* ---- public: PKI ------------------------------------------------------- */

/* See hm_cluster.h.  Key first, certificate second: a crash in between
 * leaves a key with no certificate, which the caller's "only if absent"
 * check (on the certificate) simply replaces.  HM_EINVAL for a bad name or
 * an empty validity, HM_ETLS when OpenSSL refuses, HM_E* from the writes. */
int hm_pki_make_ca(const char *ca_cert_path, const char *ca_key_path,
                   const char *common_name, int64_t not_before_s, int64_t not_after_s)
{
    if (not_after_s <= not_before_s || common_name == NULL || common_name[0] == '\0' ||
        strlen(common_name) > 64)
        return HM_EINVAL;
    ERR_clear_error();
    int rc = HM_ETLS;
    X509 *x = NULL;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (key == NULL) goto out;
    rc = cluster_cert_new(key, common_name, not_before_s, not_after_s, &x);
    if (rc != 0) goto out;
    rc = HM_ETLS;
    if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) goto out;
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if (cluster_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") != 0 ||
        cluster_add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
        cluster_add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0)
        goto out;
    if (X509_sign(x, key, EVP_sha256()) <= 0) goto out;
    rc = cluster_write_pem(ca_key_path, cluster_pem_key, key);
    if (rc != 0) goto out;
    rc = cluster_write_pem(ca_cert_path, cluster_pem_cert, x);
out:
    if (rc == HM_ETLS) cluster_log_ssl("make CA");
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

/* See hm_cluster.h.  The CA's key must match its certificate (HM_ETLS
 * otherwise); HM_ENOENT when the CA files are missing. */
int hm_pki_make_node_cert(const char *ca_cert_path, const char *ca_key_path,
                          const char *node_name, int64_t not_before_s,
                          int64_t not_after_s, const char *cert_path,
                          const char *key_path)
{
    char san[16 + CLUSTER_NODE_NAME_BYTES_MAX];
    X509 *ca = NULL, *x = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    int rc;

    if (not_after_s <= not_before_s || node_name == NULL || !cluster_name_ok(node_name))
        return HM_EINVAL;
    ERR_clear_error();
    rc = cluster_load_cert(ca_cert_path, &ca);
    if (rc != 0) goto out;
    rc = cluster_load_key(ca_key_path, &ca_key);
    if (rc != 0) goto out;
    rc = HM_ETLS;
    if (X509_check_private_key(ca, ca_key) != 1) goto out;
    key = EVP_EC_gen("P-256");
    if (key == NULL) goto out;
    rc = cluster_cert_new(key, node_name, not_before_s, not_after_s, &x);
    if (rc != 0) goto out;
    rc = HM_ETLS;
    if (X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1) goto out;
    (void)snprintf(san, sizeof(san), "DNS:%s", node_name);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    if (cluster_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        cluster_add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") != 0 ||
        cluster_add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") != 0 ||
        cluster_add_ext(x, &ctx, NID_subject_alt_name, san) != 0 ||
        cluster_add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
        cluster_add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0)
        goto out;
    if (X509_sign(x, ca_key, EVP_sha256()) <= 0) goto out;
    rc = cluster_write_pem(key_path, cluster_pem_key, key);
    if (rc != 0) goto out;
    rc = cluster_write_pem(cert_path, cluster_pem_cert, x);
out:
    if (rc == HM_ETLS) cluster_log_ssl("make node certificate");
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    X509_free(ca);
    return rc;
}

/* ---- public: identity -------------------------------------------------- */

/* HMAC-SHA256(key = secret, msg = cluster id) into out; with an access key
 * id, msg = cluster id 0x00 access key id (the 0x00 keeps the two messages
 * apart: no cluster id contains one). */
static int cluster_fingerprint(const char *secret, const char *cluster_id,
                               const char *access_key_id,
                               uint8_t out[CLUSTER_FINGERPRINT_BYTES])
{
    unsigned char msg[CLUSTER_ID_MSG_BYTES_MAX];
    size_t cl = strlen(cluster_id);
    size_t al = access_key_id != NULL ? strlen(access_key_id) : 0;
    size_t n = cl;
    if (cl > CLUSTER_ID_MSG_BYTES_MAX || al > CLUSTER_ID_MSG_BYTES_MAX - cl - 1)
        return HM_EINVAL;
    memcpy(msg, cluster_id, cl);
    if (access_key_id != NULL) {
        msg[n++] = 0;
        memcpy(msg + n, access_key_id, al);
        n += al;
    }
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n, out, &len) == NULL ||
        len != CLUSTER_FINGERPRINT_BYTES) {
        ERR_clear_error();
        return HM_ETLS;
    }
    return 0;
}

/* Pack id and write it to path atomically. */
static int cluster_write_identity(hm_env *env, const char *path, const Hm__ClusterIdentity *id)
{
    size_t len = hm__cluster_identity__get_packed_size(id);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) return HM_ENOMEM;
    (void)hm__cluster_identity__pack(id, buf);
    int rc = hm_env_write_file_atomic(env, path, buf, len);
    free(buf);
    return rc;
}

/* See hm_cluster.h.  The secret is checked first in both versions; the
 * comparisons are constant-time. */
int hm_cluster_check(hm_env *env, const char *data_dir, const char *root_access_key_id,
                     const char *root_secret, Hm__ClusterIdentity **out)
{
    char path[CLUSTER_PATH_BYTES_MAX];
    void *buf = NULL;
    size_t len = 0;
    uint8_t fp[CLUSTER_FINGERPRINT_BYTES];
    uint8_t kfp[CLUSTER_FINGERPRINT_BYTES];
    Hm__ClusterIdentity *id = NULL;
    int rc;

    if (root_secret == NULL || root_secret[0] == '\0' || root_access_key_id == NULL ||
        root_access_key_id[0] == '\0')
        return HM_EINVAL;
    rc = cluster_path(path, data_dir, "cluster.pb");
    if (rc != 0) return rc;
    rc = hm_env_read_file(env, path, CLUSTER_PB_BYTES_MAX, &buf, &len);
    if (rc != 0) return rc;
    id = hm__cluster_identity__unpack(NULL, len, buf);
    free(buf);
    if (id == NULL) return HM_ECORRUPT;
    if (!id->has_format_version || id->format_version < HM_CLUSTER_FORMAT_VERSION_MIN ||
        id->format_version > HM_CLUSTER_FORMAT_VERSION) {
        rc = HM_EVERSION;
        goto err;
    }
    if (id->cluster_id == NULL || !id->has_root_key_fingerprint ||
        id->root_key_fingerprint.len != CLUSTER_FINGERPRINT_BYTES ||
        (id->format_version >= 2 &&
         (!id->has_root_key_id_fingerprint ||
          id->root_key_id_fingerprint.len != CLUSTER_FINGERPRINT_BYTES))) {
        rc = HM_ECORRUPT;
        goto err;
    }
    rc = cluster_fingerprint(root_secret, id->cluster_id, NULL, fp);
    if (rc == 0) rc = cluster_fingerprint(root_secret, id->cluster_id, root_access_key_id, kfp);
    if (rc != 0) goto err;
    if (CRYPTO_memcmp(fp, id->root_key_fingerprint.data, sizeof(fp)) != 0) {
        rc = HM_EPERM;
        goto err;
    }
    if (id->format_version >= 2) {
        if (CRYPTO_memcmp(kfp, id->root_key_id_fingerprint.data, sizeof(kfp)) != 0) {
            rc = HM_EPERM;
            goto err;
        }
    } else {
        /* Version 1 recorded only the secret: the id it runs with now is
         * the one it keeps.  Unknown fields survive the repack. */
        id->format_version = HM_CLUSTER_FORMAT_VERSION;
        id->has_root_key_id_fingerprint = 1;
        id->root_key_id_fingerprint.data = kfp;
        id->root_key_id_fingerprint.len = sizeof(kfp);
        rc = cluster_write_identity(env, path, id);
        /* kfp is on our stack: never let free_unpacked see it. */
        id->has_root_key_id_fingerprint = 0;
        id->root_key_id_fingerprint.data = NULL;
        id->root_key_id_fingerprint.len = 0;
        if (rc != 0) goto err;
        hm_info("cluster", NULL,
                "%s: cluster identity upgraded to format 2 (the root access key id is "
                "now checked too)", data_dir);
        if (out != NULL) {
            /* Hand the caller what is on disk now. */
            hm__cluster_identity__free_unpacked(id, NULL);
            return hm_cluster_check(env, data_dir, root_access_key_id, root_secret, out);
        }
    }
    if (out != NULL) *out = id;
    else hm__cluster_identity__free_unpacked(id, NULL);
    return 0;
err:
    hm__cluster_identity__free_unpacked(id, NULL);
    return rc;
}

/* mkdir that accepts an existing directory; the parent is synced so the
 * new entry survives a crash. */
static int cluster_mkdir(hm_env *env, const char *dir, const char *rel)
{
    char path[CLUSTER_PATH_BYTES_MAX];
    int rc = rel != NULL ? cluster_path(path, dir, rel) : 0;
    if (rc != 0) return rc;
    const char *p = rel != NULL ? path : dir;
    rc = env->ops->mkdir(env, p);
    if (rc == HM_EEXIST) return 0;
    if (rc != 0) return rc;
    if (rel == NULL) return 0; /* the caller's parent is not ours to sync */
    char parent[CLUSTER_PATH_BYTES_MAX];
    memcpy(parent, path, strlen(path) + 1);
    char *slash = strrchr(parent, '/');
    *slash = '\0'; /* cluster_path always put one in */
    return env->ops->sync_dir(env, parent);
}

static bool cluster_exists(hm_env *env, const char *path)
{
    bool is_dir;
    return env->ops->exists(env, path, &is_dir) == 0;
}

/* See hm_cluster.h.  Order: directories, CA (if absent), node certificate
 * (if absent), cluster.pb last.  On an initialised directory the node name
 * must match the stored one (HM_EINVAL otherwise); listen is not compared,
 * a node may move. */
int hm_cluster_init(hm_env *env, const char *data_dir, const char *node_name,
                    const char *listen, const char *root_access_key_id,
                    const char *root_secret, bool *created)
{
    char ca_crt[CLUSTER_PATH_BYTES_MAX], ca_key[CLUSTER_PATH_BYTES_MAX];
    char node_crt[CLUSTER_PATH_BYTES_MAX], node_key[CLUSTER_PATH_BYTES_MAX];
    char pb_path[CLUSTER_PATH_BYTES_MAX];
    uint8_t raw_id[16];
    char cluster_id[33];
    uint8_t fp[CLUSTER_FINGERPRINT_BYTES];
    uint8_t kfp[CLUSTER_FINGERPRINT_BYTES];
    int rc;

    if (node_name == NULL || !cluster_name_ok(node_name) || listen == NULL ||
        root_secret == NULL || root_secret[0] == '\0' || root_access_key_id == NULL ||
        root_access_key_id[0] == '\0')
        return HM_EINVAL;
    *created = false;

    /* An initialised directory: the secret must match before anything is
     * touched. */
    Hm__ClusterIdentity *id = NULL;
    rc = hm_cluster_check(env, data_dir, root_access_key_id, root_secret, &id);
    if (rc == 0) {
        bool same = id->node_name != NULL && strcmp(id->node_name, node_name) == 0;
        hm__cluster_identity__free_unpacked(id, NULL);
        return same ? 0 : HM_EINVAL;
    }
    if (rc != HM_ENOENT) return rc;

    if ((rc = cluster_mkdir(env, data_dir, NULL)) != 0 ||
        (rc = cluster_mkdir(env, data_dir, "tls")) != 0 ||
        (rc = cluster_mkdir(env, data_dir, "meta")) != 0 ||
        (rc = cluster_mkdir(env, data_dir, "disks")) != 0 ||
        (rc = cluster_mkdir(env, data_dir, "disks/disk0")) != 0)
        return rc;
    if ((rc = cluster_path(ca_crt, data_dir, "tls/ca.crt")) != 0 ||
        (rc = cluster_path(ca_key, data_dir, "tls/ca.key")) != 0 ||
        (rc = cluster_path(node_crt, data_dir, "tls/node.crt")) != 0 ||
        (rc = cluster_path(node_key, data_dir, "tls/node.key")) != 0 ||
        (rc = cluster_path(pb_path, data_dir, "cluster.pb")) != 0)
        return rc;

    int64_t now_s = hm_wall_ms(env) / 1000;
    /* A minute of slack for peers whose clocks run a little behind. */
    int64_t nb = now_s - 60;
    if (!cluster_exists(env, ca_crt)) {
        /* The certificate is written after the key: a present certificate
         * means a complete CA, which is never minted again. */
        rc = hm_pki_make_ca(ca_crt, ca_key, "Hamster cluster CA", nb,
                            now_s + CLUSTER_CERT_VALID_S);
        if (rc != 0) return rc;
    }
    if (!cluster_exists(env, node_crt)) {
        rc = hm_pki_make_node_cert(ca_crt, ca_key, node_name, nb,
                                   now_s + CLUSTER_CERT_VALID_S, node_crt, node_key);
        if (rc != 0) return rc;
    }

    static const char hex[] = "0123456789abcdef";
    hm_random(env, raw_id, sizeof(raw_id));
    for (size_t i = 0; i < sizeof(raw_id); i++) {
        cluster_id[2 * i] = hex[raw_id[i] >> 4];
        cluster_id[2 * i + 1] = hex[raw_id[i] & 15];
    }
    cluster_id[32] = '\0';
    rc = cluster_fingerprint(root_secret, cluster_id, NULL, fp);
    if (rc == 0) rc = cluster_fingerprint(root_secret, cluster_id, root_access_key_id, kfp);
    if (rc != 0) return rc;

    Hm__ClusterIdentity ci = HM__CLUSTER_IDENTITY__INIT;
    ci.has_format_version = 1;
    ci.format_version = HM_CLUSTER_FORMAT_VERSION;
    ci.cluster_id = cluster_id;
    ci.node_name = (char *)node_name;
    ci.listen = (char *)listen;
    ci.has_root_key_fingerprint = 1;
    ci.root_key_fingerprint.data = fp;
    ci.root_key_fingerprint.len = sizeof(fp);
    ci.has_created_ms = 1;
    ci.created_ms = hm_wall_ms(env);
    ci.has_epoch = 1;
    ci.epoch = 1;
    ci.has_root_key_id_fingerprint = 1;
    ci.root_key_id_fingerprint.data = kfp;
    ci.root_key_id_fingerprint.len = sizeof(kfp);
    rc = cluster_write_identity(env, pb_path, &ci);
    if (rc != 0) return rc;
    *created = true;
    return 0;
}
